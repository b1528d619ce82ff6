package rt_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/ipc"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// waitOnOwnThread is README.md's thread model example: a long wait on a
// thread of its own, so that it never holds up the connection's other
// calls.
func waitOnOwnThread(ctx context.Context, conn *rt.Conn, mining v32.Mining, current chainhash.Hash) (*v32.BlockRef, error) {
	th, err := conn.NewThread()
	if err != nil {
		return nil, err
	}
	defer th.Release()
	waitCtx := rt.WithThread(ctx, th) // calls under waitCtx run on th, one at a time
	tip, err := mining.WaitTipChanged(waitCtx, current, 10*time.Millisecond)
	if err != nil {
		return nil, err
	}
	return tip, nil
}

// Pinning calls to a thread of the node: WithThread makes the calls under
// a context run on one Thread of the connection, here a waitTipChanged
// that returns the unchanged tip when its timeout ends.
func ExampleWithThread() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	node := demonode.New()
	defer node.Chain().Close()
	_, stop, err := node.ListenAndServe(dir, "unix", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	ctx := context.Background()
	conn, _, err := ipc.New("example", "", nil).ConnectAddress(ctx, dir, "unix")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	init := v32.NewInitClientFromConn(ctx, conn)
	defer init.Release()
	mining, err := init.MakeMining(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	current, ok, err := mining.GetTip(ctx)
	if err != nil || !ok {
		fmt.Println("no tip:", err)
		return
	}
	tip, err := waitOnOwnThread(ctx, conn, mining, current.Hash)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("tip unchanged:", tip.Hash == current.Hash)
	// Output: tip unchanged: true
}
