// Package upstream holds canary tests for known bugs in pinned
// dependencies. Each test asserts that the bug is still there; when an
// upgrade fixes it, the test fails and says what to re-enable.
package upstream
