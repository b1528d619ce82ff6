package main

import "github.com/bitcoin-ipc/bitcoin-ipc/internal/gen"

// generateIPC writes capnpc-go-ipc's companion files for one set, through
// the generator library (the same code the capnpc-go-ipc plugin runs).
func generateIPC(req []byte, outDir string) error {
	return gen.GenerateToDir(req, outDir)
}
