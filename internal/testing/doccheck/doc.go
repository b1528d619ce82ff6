// Package doccheck holds the test that keeps the Go in the documentation
// (README.md, docs/*.md and the other Markdown files at the top of the
// module) true to the code: every ```go block either appears verbatim,
// modulo indentation, in an example_test.go, where it is compiled and run,
// or is a declaration listing, opened by a "// package <dir>" line, whose
// every declaration matches the package in that directory: signatures,
// struct fields, and every function body or variable value it shows, which
// must be the package's own code with "// ..." lines standing for what the
// listing leaves out (for gen/<set>, the generated code the golden tests
// hold the generator to). It has no non-test code.
package doccheck
