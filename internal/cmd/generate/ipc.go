package main

import "github.com/bitcoin-ipc/bitcoin-ipc/internal/generator"

// generateIPC writes capnpc-go-ipc's companion files for one set, through
// the generator library (the same code the capnpc-go-ipc plugin runs).
func generateIPC(req []byte, outDir string) error {
	return generator.GenerateToDir(req, outDir)
}
