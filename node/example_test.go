package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	"github.com/bitcoin-ipc/bitcoin-ipc/node"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
)

// startDemoNode serves the bundled demo node, speaking the schema of the
// given release, on <dir>/node.sock, as `bitcoin-node -regtest
// -ipcbind=unix` serves <datadir>/regtest/node.sock.
func startDemoNode(dir string, schema probe.Version) (stop func(), err error) {
	n := demonode.New()
	if err := n.SetSchema(schema); err != nil {
		n.Chain().Close()
		return nil, err
	}
	_, stopServe, err := n.ListenAndServe(dir, "unix", nil)
	if err != nil {
		n.Chain().Close()
		return nil, err
	}
	return func() { stopServe(); n.Chain().Close() }, nil
}

// quickStart is README.md's first example: connect to the node of
// datadir's regtest network, whichever release it runs, and ask for the
// tip and for a block template.
func quickStart(ctx context.Context, datadir string) error {
	n, err := node.Dial(ctx, datadir+"/regtest", "unix") // a v30, v31 or v32 node
	if err != nil {
		return err
	}
	defer n.Close()
	mining, err := n.Mining(ctx)
	if err != nil {
		return err
	}
	defer mining.Release()
	tip, err := mining.GetTip(ctx) // nil while the node has no chain; tip.Hash is a chainhash.Hash
	if err != nil || tip == nil {
		return fmt.Errorf("no tip: %v", err)
	}
	tmpl, err := mining.CreateNewBlock(ctx, node.DefaultBlockCreateOptions(), false)
	if err != nil {
		return err
	}
	defer tmpl.Destroy(ctx)
	block, err := tmpl.GetBlock(ctx) // a *wire.MsgBlock
	if err != nil {
		return err
	}
	fmt.Printf("%s: tip %d; the template builds on it: %v\n", n.Version(), tip.Height, block.Header.PrevBlock == tip.Hash)
	return nil
}

// The README's first example, against demo nodes of each release serving
// <datadir>/regtest/node.sock.
func Example_quickStart() {
	for _, schema := range demonode.Schemas {
		datadir, err := os.MkdirTemp("", "example")
		if err != nil {
			fmt.Println(err)
			return
		}
		defer os.RemoveAll(datadir)
		stop, err := startDemoNode(filepath.Join(datadir, "regtest"), schema)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer stop()
		if err := quickStart(context.Background(), datadir); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// v30: tip 0; the template builds on it: true
	// v31: tip 0; the template builds on it: true
	// v32: tip 0; the template builds on it: true
}
