// Command bitcoin-ipc drives Bitcoin Core's multiprocess IPC interfaces
// (bitcoin-node -ipcbind) from the command line, with bitcoin-cli's
// conventions, and runs the bundled demo node. See `bitcoin-ipc -help`.
package main

import (
	"context"
	"os"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/cli"
)

func main() {
	// Spawned as the demo node (`bitcoin-ipc -ipcfd N`)? Then serve.
	if handled, status := cli.ServeSpawned(os.Args, os.Stderr); handled {
		os.Exit(status)
	}
	os.Exit(cli.Run(context.Background(), os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr}))
}
