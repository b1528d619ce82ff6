// Package demonode is bitcoin-ipc's demo node: a simulated regtest chain
// (package chain) served over IPC with Bitcoin Core's v32 schemas (Init,
// Echo, Mining, Rpc), or with v30's or v31's (see Node.SetSchema), on a
// unix socket as `bitcoin-node -ipcbind` does or on an inherited -ipcfd.
// It is real enough for mining software to be tested against it, and for
// Bitcoin Core's own `bitcoin-cli -ipcconnect`.
//
// # What a client sees, compared with bitcoin-node
//
// Every difference a client can observe is a bug, apart from those listed
// at the end. Results follow Core's SubmitBlock and TestBlockValidity
// paths: submitSolution and submitBlock answer true only for a block that
// became the new tip, and false with a reason otherwise ("duplicate" for a
// known block, "inconclusive" for a valid block on a parent that is no
// longer the tip, "duplicate-invalid" with "block <hash> was previously
// marked invalid", or the validation reason and debug message); checkBlock
// answers Core's TestBlockValidity result ("inconclusive-not-best-prevblk"
// for a block not on the tip).
//
// Errors: where Core's C++ server throws a std::exception, libmultiprocess
// sends a failed Cap'n Proto exception whose reason is "std::exception: "
// followed by what(), and a C++ client shows "remote exception:
// std::exception: <what>". The demo node returns [exception.Std] with
// Core's what() text in the same places, so that the wire carries the same
// reason and both C++ and Go clients see what they see with Core (a Go
// client's [exception.Error.What] gives the what() text). That covers the
// createNewBlock option checks ("block_reserved_weight (0) is lower than
// minimum safety value of (2000)", ...), the removed methods ("Old mining
// interface (@2) not supported. Please update your client!"), and block or
// transaction data that cannot be deserialized: empty block data for
// submitBlock or checkBlock and truncated data anywhere throw
// "SpanReader::read(): end of data: iostream error" (a null block, which
// the Go client sends for a nil *wire.MsgBlock, is Core's default block:
// submitBlock refuses it with "high-hash", "proof of work failed", and
// checkBlock with "inconclusive-not-best-prevblk"). Data that the
// generated code cannot decode is mapped by [CoreErrors], which
// ListenAndServe and ServeSpawned install with [rt.WithServerErrors]. An
// empty coinbase for submitSolution is no error: Core answers false, and
// so does the demo node (with reason "bad-cb-missing").
//
// Startup options are Core's mining policy knobs ([Options]:
// -blockmintxfee, -blockreservedweight, -blockmaxweight), checked with
// Core's startup errors. The JSON-RPC interface (Rpc.executeRpc) answers
// getblockcount, getbestblockhash, getblockchaininfo, getblockhash,
// getblockheader, getblock (verbosity 0 and 1), getrawmempool,
// getmempoolinfo, sendrawtransaction, submitblock, submitheader,
// generatetoaddress, generatetodescriptor, help and stop, with Core's
// result shapes and error codes and texts. sendrawtransaction spends
// outputs of the simulated chain (a coinbase after 100 blocks) and of the
// mempool, so fees are real: inputs minus outputs.
//
// With [Node.PublishZMQ] (the -zmqpub options of `bitcoin-ipc serve`) the
// node publishes Core's ZMQ notifications on the loopback, in Core's
// frames and with Core's sequence numbers: hashtx and rawtx for every
// transaction entering the mempool and every transaction of a connected
// block (the coinbase included), hashblock and rawblock for every new tip,
// and sequence's C (block connected), A (added to the mempool) and R
// (removed for another reason than a block: a conflict), the latter two
// with the mempool sequence number, which counts every addition and
// removal as Core's does. There are no reorganisations, so no D.
//
// Known differences: a block or transaction followed by extra bytes is
// refused (Core ignores the extra bytes), and data that is malformed in
// other ways than running short keeps the Go decoder's text; scripts and
// signatures are never checked, there is no minimum relay fee and no
// replacement (a conflicting transaction is refused with
// "txn-mempool-conflict"); submitheader checks a header but does not store
// it; getblock refuses verbosity 2 and 3; there are no reorganisations
// (see package chain). The node is never in initial block download and
// has no P2P, so createNewBlock's cooldown never waits (Core's fresh
// regtest node is in initial block download until a recent block, and
// waits while a peer's better headers lack their blocks). When a client
// disconnects during waitTipChanged or waitNext, the demo node ends the
// wait at once; Core lets it run until it returns and then drops the
// result. Several calls on one thread are queued and run one at a time,
// as Core does since it stopped refusing them with "thread busy".
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

// NewWithOptions makes a demo node with Core's startup options o, checked
// as Core checks them, on a fresh regtest chain; opts are applied after
// o's.
func NewWithOptions(o Options, opts ...chain.Option) (*Node, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return New(append(o.chainOptions(), opts...)...), nil
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
