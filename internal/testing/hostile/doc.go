// Package hostile holds tests that play a hostile or careless peer against
// the servers capnpc-go-ipc generates (gen/v32 and the multiprocess
// Chain), over real rt connections: fuzzed parameters for every method,
// read limits, and what rt logs about a call. It has no non-test code.
package hostile
