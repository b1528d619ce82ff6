// Package golden holds capnpc-go-ipc's golden tests.
//
// Layout:
//
//	testdata/feature/feature.capnp      test schema exercising every convention
//	testdata/feature/feature.capnp.bin  its CodeGeneratorRequest (capnp compile -o-)
//	testdata/bad/bad.capnp[.bin]        a schema the generator must reject
//	feature/feature.ipc.go              expected capnpc-go-ipc output (compiled with the module)
//	feature/featurecapnp/               capnpc-go's wire package for the test schema
//	requests/<set>.bin                  requests of the real schema sets (written by internal/cmd/generate);
//	                                    their expected output is the committed gen/<set>/*.ipc.go
//
// The tests read only committed files, so they need no capnp binary.
// `go test ./golden/... -update` rewrites the expected outputs. To refresh
// the request binaries and featurecapnp after editing feature.capnp, run
// (from golden/testdata/feature, with G = go-capnp's std directory):
//
//	capnp compile -I. -I../../../schemas/mp/master -I$G -I../../../schemas/include -o- feature.capnp > feature.capnp.bin
//	capnp compile -I. -I../../../schemas/mp/master -I$G -I../../../schemas/include -o/tmp/capnpc-go:../../feature/featurecapnp feature.capnp
package golden
