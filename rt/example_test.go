package rt_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
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

// stillNode serves v32's Init with a Mining whose tip never changes.
type stillNode struct {
	v32.UnimplementedInitServer
	v32.UnimplementedMiningServer
	tip v32.BlockRef
}

func (n *stillNode) MakeMining(context.Context) (v32.Mining, error) { return n, nil }

func (n *stillNode) GetTip(context.Context) (*v32.BlockRef, error) { return &n.tip, nil }

func (n *stillNode) WaitTipChanged(ctx context.Context, current chainhash.Hash, timeout time.Duration) (*v32.BlockRef, error) {
	select {
	case <-time.After(timeout):
	case <-ctx.Done():
	}
	return &n.tip, nil
}

// Pinning calls to a thread of the node: WithThread makes the calls under
// a context run on one Thread of the connection, here a waitTipChanged
// that returns the unchanged tip when its timeout ends.
func ExampleWithThread() {
	ours, theirs := net.Pipe()
	node := rt.Serve(theirs, func(*rt.Conn) *rt.Cap {
		return v32.InitServer(&stillNode{tip: v32.BlockRef{Height: 7}})
	}, v32.WithInitBootstrap())
	defer node.Close()

	ctx := context.Background()
	conn, err := rt.Connect(ctx, ours, v32.WithInitBootstrap())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	init := v32.NewInitClient(conn)
	defer init.Release()
	mining, err := init.MakeMining(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Release(mining)
	current, err := mining.GetTip(ctx)
	if err != nil || current == nil {
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
