// Package demonode is bitcoin-ipc's demo node: a simulated regtest chain
// (package chain) served over IPC with Bitcoin Core's v32 schemas (Init,
// Echo, Mining, Rpc), or with v30's or v31's (see Node.SetSchema), on a
// unix socket as `bitcoin-node -ipcbind` does or on an inherited -ipcfd.
// It is real enough for mining software to be tested against it, and for
// Bitcoin Core's own `bitcoin-cli -ipcconnect`.
package demonode

import (
	"sync"
	"sync/atomic"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode/chain"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
)

// Node is the demo node's state.
type Node struct {
	chain    *chain.Chain
	stopOnce sync.Once
	stopped  chan struct{}
	stop     func()
	schema   atomic.Pointer[probe.Version] // nil: v32
}

// New makes a demo node on a fresh regtest chain.
func New(opts ...chain.Option) *Node {
	n := &Node{chain: chain.New(opts...), stopped: make(chan struct{})}
	n.stop = func() { n.stopOnce.Do(func() { close(n.stopped) }) }
	return n
}

// Chain is the node's simulated chain.
func (n *Node) Chain() *chain.Chain { return n.chain }

// Stopped is closed when a client asked the node to stop (RPC "stop").
func (n *Node) Stopped() <-chan struct{} { return n.stopped }

// SeedMempool adds n fee-paying dummy transactions (alternately segwit and
// legacy) so that templates have something to show: fees, sigops, a
// merkle path and a witness commitment.
func (n *Node) SeedMempool(count int) error {
	for i := 0; i < count; i++ {
		tx := chain.NewDummyTx(uint64(1000+i), i%2 == 0)
		if err := n.chain.AddTxWithFee(tx, btcutil.Amount(1000*(i+1)), -1); err != nil {
			return err
		}
	}
	return nil
}
