// Package doccheck holds the test that keeps the Go in the documentation
// (README.md, docs/*.md and the other Markdown files at the top of the
// module) true to the code: every ```go block either appears verbatim,
// modulo indentation, in an example_test.go, where it is compiled and run,
// or is a declaration listing, opened by a "// package <dir>" line, whose
// every declaration matches the package in that directory. It has no
// non-test code.
package doccheck
