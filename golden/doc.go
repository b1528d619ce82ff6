// Package golden holds capnpc-go-ipc's golden tests.
//
// Layout:
//
//	testdata/feature/feature.capnp      test schema exercising every convention
//	testdata/feature/feature.capnp.bin  its CodeGeneratorRequest
//	testdata/bad/bad.capnp[.bin]        a schema the generator must reject, and its request
//	feature/feature.ipc.go              capnpc-go-ipc's output for the test schema (compiled with the module)
//	feature/featurecapnp/               capnpc-go's wire package for the test schema
//	requests/<set>.bin                  requests of the real schema sets; their output is gen/<set>
//
// Every file above but the two schemas is generated: `go generate ./gen/`
// (internal/cmd/generate) writes them, and that command's test fails when
// a committed one is stale. The tests here read only committed files, so
// they need no capnp binary.
package golden
