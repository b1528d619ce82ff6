// Command capnpc-go-ipc is a Cap'n Proto compiler plugin that writes Go
// proxy clients, server tables and domain glue for libmultiprocess
// interfaces (see docs/generated-code.md), next to capnpc-go's output:
//
//	capnp compile -I... -ogo-ipc:gen/v32 mining.capnp
//
// It reads the CodeGeneratorRequest on stdin and writes one <file>.ipc.go
// per requested schema file into the current directory (capnp sets it to
// the -o...:DIR directory), or into $CAPNPC_GO_IPC_OUT when set.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-version" || os.Args[1] == "--version") {
		fmt.Println("capnpc-go-ipc", generator.Version)
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "capnpc-go-ipc:", err)
		os.Exit(1)
	}
}

func run() error {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		return fmt.Errorf("reading request: %w", err)
	}
	files, err := generator.GenerateBytes(data, generator.Options{})
	if err != nil {
		return err
	}
	dir := os.Getenv("CAPNPC_GO_IPC_OUT")
	if dir == "" {
		dir = "."
	}
	return generator.WriteFiles(dir, files)
}
