// Package rttest is a verbatim copy of rt/internal/rttest's capnpc-go
// output (the rttest schema the C++ interop peer speaks), which Go's
// internal-package rule keeps out of reach of internal/benchreport. A
// test in internal/benchreport fails when the copy is stale; go generate
// refreshes it. Never link this package and rt/internal/rttest into one
// binary: both register the same schema IDs.
package rttest

//go:generate cp ../../../rt/internal/rttest/rttest.capnp.go .
