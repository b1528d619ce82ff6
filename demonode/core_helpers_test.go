package demonode

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode/chain"
	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/ipc"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// The helpers below host the scenarios of Bitcoin Core's
// interface_ipc_mining.py against demo nodes: a node served on a unix
// socket (as bitcoin-node -ipcbind), a v32 client connected to it, and a
// MiniWallet-like wallet that spends the OP_TRUE coinbase outputs of
// blocks it generated.

// testCtx is a generous deadline for a whole test; it never bounds a
// single step's speed.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

type coreNode struct {
	n      *Node
	dir    string // the node's data directory, holding its socket
	conn   *rt.Conn
	init   *v32.InitClient
	mining *v32.MiningClient
}

// startCoreNode serves a demo node with options o on a socket and
// connects a v32 client to it.
func startCoreNode(t *testing.T, ctx context.Context, o Options) *coreNode {
	t.Helper()
	n, err := NewWithOptions(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Chain().Close)
	dir, err := os.MkdirTemp("", "dn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	_, stop, err := n.ListenAndServe(dir, "unix", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return (&coreNode{n: n, dir: dir}).dial(t, ctx)
}

// dial connects another client to c's node: the result shares the node
// and has a connection (with its Init and Mining) of its own.
func (c *coreNode) dial(t *testing.T, ctx context.Context) *coreNode {
	t.Helper()
	conn, _, err := ipc.New("miner", "", nil).ConnectAddress(ctx, c.dir, "unix")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	init := v32.NewInitClient(conn)
	t.Cleanup(init.Release)
	m, err := init.MakeMining(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mining := m.(*v32.MiningClient)
	t.Cleanup(mining.Release)
	return &coreNode{n: c.n, dir: c.dir, conn: conn, init: init, mining: mining}
}

// awaitWaits blocks until cond holds for the node's pending
// waitTipChanged and waitNext calls (chain.Chain.Waits), checking it at
// every change: an ordering by events, with the test's deadline only as a
// hang guard.
func (c *coreNode) awaitWaits(t *testing.T, ctx context.Context, what string, cond func(tip, next int) bool) {
	t.Helper()
	for {
		tip, next, changed := c.n.Chain().Waits()
		if cond(tip, next) {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("%s: never happened (pending waits: %d waitTipChanged, %d waitNext)", what, tip, next)
		}
	}
}

// rpcCall runs one JSON-RPC call and returns its result, or its error.
func (c *coreNode) rpcCall(t *testing.T, method string, params ...any) (json.RawMessage, *rpcError) {
	t.Helper()
	req, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.n.ExecuteRPC(context.Background(), req, "/", "")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%s: reply %s: %v", method, out, err)
	}
	return r.Result, r.Error
}

// rpcOK runs a JSON-RPC call that must succeed and decodes its result.
func (c *coreNode) rpcOK(t *testing.T, out any, method string, params ...any) {
	t.Helper()
	res, rerr := c.rpcCall(t, method, params...)
	if rerr != nil {
		t.Fatalf("%s: %v", method, rerr)
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			t.Fatalf("%s: result %s: %v", method, res, err)
		}
	}
}

// generate mines n blocks to OP_TRUE through RPC and returns their hashes.
func (c *coreNode) generate(t *testing.T, n int) []string {
	t.Helper()
	var hashes []string
	c.rpcOK(t, &hashes, "generatetodescriptor", n, "raw(51)")
	return hashes
}

// blockHex returns a block in hex through getblock verbosity 0.
func (c *coreNode) blockHex(t *testing.T, hash string) string {
	t.Helper()
	var h string
	c.rpcOK(t, &h, "getblock", hash, 0)
	return h
}

// syncTo gives other the blocks of c it does not have, through
// getblock and submitblock (the demo nodes have no P2P).
func (c *coreNode) syncTo(t *testing.T, other *coreNode) {
	t.Helper()
	_, height := c.n.Chain().Tip()
	for h := other.n.Chain().Height() + 1; h <= height; h++ {
		hash, _ := c.n.Chain().HashAtHeight(h)
		var res any
		other.rpcOK(t, &res, "submitblock", c.blockHex(t, hash.String()))
		if res != nil {
			t.Fatalf("sync block %d: %v", h, res)
		}
	}
}

// wallet spends OP_TRUE outputs, as Core's MiniWallet in OP_TRUE mode.
type wallet struct {
	utxos []utxo
}

type utxo struct {
	op    wire.OutPoint
	value int64
}

// newWallet mines 101 blocks on c and keeps the two mature coinbase
// outputs (of blocks 1 and 2) as independent chains of spends.
func newWallet(t *testing.T, c *coreNode) *wallet {
	t.Helper()
	hashes := c.generate(t, 101)
	w := &wallet{}
	for _, h := range hashes[:2] {
		var b struct {
			Tx []string `json:"tx"`
		}
		c.rpcOK(t, &b, "getblock", h, 1)
		txid, err := chainhash.NewHashFromStr(b.Tx[0])
		if err != nil {
			t.Fatal(err)
		}
		w.utxos = append(w.utxos, utxo{op: wire.OutPoint{Hash: *txid}, value: chain.BlockSubsidy(1)})
	}
	return w
}

// selfTransfer spends the wallet's output i to OP_TRUE at feeRate
// satoshis per virtual byte, sends it through sendrawtransaction and
// keeps the change as output i.
func (w *wallet) selfTransfer(t *testing.T, c *coreNode, i int, feeRate int64) *wire.MsgTx {
	t.Helper()
	tx := w.spend(i, feeRate)
	var txid string
	c.rpcOK(t, &txid, "sendrawtransaction", txHex(t, tx))
	if txid != tx.TxHash().String() {
		t.Fatalf("sendrawtransaction answered %s for %s", txid, tx.TxHash())
	}
	return tx
}

// spend builds (without sending) the next self-transfer of output i.
func (w *wallet) spend(i int, feeRate int64) *wire.MsgTx {
	u := w.utxos[i]
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&u.op, nil, nil))
	tx.AddTxOut(wire.NewTxOut(0, []byte{0x51}))
	tx.TxOut[0].Value = u.value - feeRate*int64(tx.SerializeSize())
	w.utxos[i] = utxo{op: wire.OutPoint{Hash: tx.TxHash()}, value: tx.TxOut[0].Value}
	return tx
}

func txHex(t *testing.T, tx *wire.MsgTx) string {
	t.Helper()
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(buf.Bytes())
}

func blockBytes(t *testing.T, b *wire.MsgBlock) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// buildCoinbase builds the coinbase from getCoinbaseTx as Core's
// build_coinbase_test does: scriptSig = prefix || extraNonce, the witness
// reserved value, the payout (reduced to 1 BTC, as Core's test does) and
// the required outputs, and the lock time.
func buildCoinbase(t *testing.T, ctx context.Context, tmpl *v32.BlockTemplateClient, extraNonce []byte) *wire.MsgTx {
	t.Helper()
	cb, err := tmpl.GetCoinbaseTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx := wire.NewMsgTx(int32(cb.Version))
	in := wire.NewTxIn(&wire.OutPoint{Index: wire.MaxPrevOutIndex}, append(append([]byte(nil), cb.ScriptSigPrefix...), extraNonce...), nil)
	in.Sequence = cb.Sequence
	if cb.Witness != nil {
		in.Witness = wire.TxWitness{cb.Witness}
	}
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(1e8, []byte{0x51}))
	tx.TxOut = append(tx.TxOut, cb.RequiredOutputs...)
	tx.LockTime = cb.LockTime
	return tx
}

// candidateBlock is Core's build_candidate_block: the template's block
// with the coinbase from buildCoinbase and its merkle root.
func candidateBlock(t *testing.T, ctx context.Context, tmpl *v32.BlockTemplateClient, extraNonce []byte) *wire.MsgBlock {
	t.Helper()
	b, err := tmpl.GetBlock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.Transactions[0] = buildCoinbase(t, ctx, tmpl, extraNonce)
	setMerkleRoot(b)
	return b
}

func setMerkleRoot(b *wire.MsgBlock) {
	leaves := make([]chainhash.Hash, len(b.Transactions))
	for i, tx := range b.Transactions {
		leaves[i] = tx.TxHash()
	}
	for len(leaves) > 1 {
		if len(leaves)%2 == 1 {
			leaves = append(leaves, leaves[len(leaves)-1])
		}
		next := make([]chainhash.Hash, len(leaves)/2)
		for i := range next {
			next[i] = chainhash.DoubleHashH(append(leaves[2*i][:], leaves[2*i+1][:]...))
		}
		leaves = next
	}
	b.Header.MerkleRoot = leaves[0]
}

func solve(t *testing.T, b *wire.MsgBlock) {
	t.Helper()
	b.Header.Nonce = 0
	if !chain.Solve(&b.Header, 0) {
		t.Fatal("no proof of work")
	}
}

func newTemplate(t *testing.T, ctx context.Context, c *coreNode, o v32.BlockCreateOptions) *v32.BlockTemplateClient {
	t.Helper()
	bt, err := c.mining.CreateNewBlock(ctx, o, false)
	if err != nil || bt == nil {
		t.Fatalf("createNewBlock: %v %v", bt, err)
	}
	tmpl := bt.(*v32.BlockTemplateClient)
	t.Cleanup(func() { tmpl.Destroy(context.Background()) })
	return tmpl
}

// submitResult is a (result, reason, debug) answer.
type submitResult struct {
	ok            bool
	reason, debug string
}

func want(t *testing.T, what string, ok bool, reason, debug string, err error, w submitResult) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got := (submitResult{ok, reason, debug}); got != w {
		t.Fatalf("%s = %+v, want %+v", what, got, w)
	}
}

// wantStdException checks that err is the exception Core's C++ server
// sends for a thrown std::exception with what(): type failed, reason
// "std::exception: " + what.
func wantStdException(t *testing.T, what string, err error, wantWhat string) {
	t.Helper()
	var e *exception.Error
	if !errors.As(err, &e) || e.Type != exception.Failed || !e.Remote || e.Description != "std::exception: "+wantWhat {
		t.Fatalf("%s: error %#v (%v), want remote failed %q", what, e, err, "std::exception: "+wantWhat)
	}
	if e.What() != wantWhat {
		t.Fatalf("%s: What() = %q", what, e.What())
	}
}

func mustHash(t *testing.T, s string) chainhash.Hash {
	t.Helper()
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		t.Fatal(err)
	}
	return *h
}
