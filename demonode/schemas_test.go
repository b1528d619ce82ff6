package demonode_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	"github.com/bitcoin-ipc/bitcoin-ipc/demonode/chain"
	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	v30 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v30"
	v31 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v31"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// serveSchema serves a fresh demo node speaking schema on a unix socket
// and returns the node and a client connection to it.
func serveSchema(t *testing.T, schema probe.Version) (*demonode.Node, *rt.Conn) {
	t.Helper()
	n := demonode.New()
	t.Cleanup(n.Chain().Close)
	if err := n.SetSchema(schema); err != nil {
		t.Fatal(err)
	}
	if err := n.SeedMempool(3); err != nil {
		t.Fatal(err)
	}
	conn, _ := testutil.Connect(t, n.Bootstrap, nil)
	return n, conn
}

func TestSetSchemaRefusesUnknown(t *testing.T) {
	n := demonode.New()
	defer n.Chain().Close()
	if err := n.SetSchema(probe.Multiprocess); err == nil || !strings.HasPrefix(err.Error(), "demonode: ") {
		t.Fatalf("SetSchema(multiprocess) = %v; want a demonode: error", err)
	}
	if n.Schema() != probe.V32 {
		t.Fatalf("Schema after a refused SetSchema = %s; want the default v32", n.Schema())
	}
}

func TestSchemasProbe(t *testing.T) {
	for _, v := range demonode.Schemas {
		t.Run(string(v), func(t *testing.T) {
			_, conn := serveSchema(t, v)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			got, err := probe.Probe(ctx, conn)
			if err != nil || got != v {
				t.Fatalf("Probe = %q, %v; want %q", got, err, v)
			}
		})
	}
}

// solve completes a template's coinbase (scriptSig extended by one byte,
// as heights 1-16 need), recomputes the merkle root and grinds the nonce.
func solve(t *testing.T, h wire.BlockHeader, cb *wire.MsgTx, path []chainhash.Hash) (wire.BlockHeader, *wire.MsgTx) {
	t.Helper()
	cb = cb.Copy()
	cb.TxIn[0].SignatureScript = append(cb.TxIn[0].SignatureScript, 0x00)
	raw := make([][]byte, len(path))
	for i := range path {
		raw[i] = path[i][:]
	}
	h.MerkleRoot = chain.MerkleRootFromPath(cb.TxHash(), raw)
	if !chain.Solve(&h, 0) {
		t.Fatal("no nonce")
	}
	return h, cb
}

// A v30 node: makeMining at @2, the dummy coinbase with its commitment
// beside it, submitSolution at @9.
func TestSchemaV30(t *testing.T) {
	n, conn := serveSchema(t, probe.V30)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	init := v30.NewInitClient(conn)
	defer init.Release()
	m, err := init.MakeMining(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := m.CreateNewBlock(ctx, v30.BlockCreateOptions{UseMempool: true, BlockReservedWeight: 8000, CoinbaseOutputMaxAdditionalSigops: 400})
	if err != nil {
		t.Fatal(err)
	}
	defer tmpl.Destroy(ctx)
	cb, err := tmpl.GetCoinbaseTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := tmpl.GetCoinbaseCommitment(ctx)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := tmpl.GetWitnessCommitmentIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if idx < 0 || int(idx) >= len(cb.TxOut) || string(cb.TxOut[idx].PkScript) != string(commit) || len(commit) != 38 {
		t.Fatalf("commitment %x at index %d of %d outputs; want the dummy coinbase's commitment output", commit, idx, len(cb.TxOut))
	}
	fees, err := tmpl.GetTxFees(ctx)
	if err != nil || len(fees) != 3 {
		t.Fatalf("fees %v, %v; want the 3 mempool transactions", fees, err)
	}
	h, err := tmpl.GetBlockHeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path, err := tmpl.GetCoinbaseMerklePath(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, cb = solve(t, h, cb, path)
	ok, err := tmpl.SubmitSolution(ctx, uint32(h.Version), uint32(h.Timestamp.Unix()), h.Nonce, cb)
	if err != nil || !ok {
		t.Fatalf("submitSolution = %v, %v", ok, err)
	}
	if n.Chain().Height() != 1 {
		t.Fatalf("height %d after a v30 submitSolution; want 1", n.Chain().Height())
	}
}

// A v31 node: makeMining at @3 and Core's error at @2; submitSolution at @7.
func TestSchemaV31(t *testing.T) {
	n, conn := serveSchema(t, probe.V31)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	init := v31.NewInitClient(conn)
	defer init.Release()
	err := init.MakeMiningOld2(ctx)
	var e *exception.Error
	if !errors.As(err, &e) || e.Type != exception.Failed ||
		!strings.Contains(e.Description, "Old mining interface (@2) not supported. Please update your client!") {
		t.Fatalf("makeMiningOld2 = %v; want Core's FAILED error", err)
	}
	m, err := init.MakeMining(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := m.CreateNewBlock(ctx, v31.DefaultBlockCreateOptions(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer tmpl.Destroy(ctx)
	c, err := tmpl.GetCoinbaseTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cb := wire.NewMsgTx(int32(c.Version))
	cb.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Index: wire.MaxPrevOutIndex}, SignatureScript: c.ScriptSigPrefix, Sequence: c.Sequence, Witness: wire.TxWitness{c.Witness}})
	cb.AddTxOut(wire.NewTxOut(int64(c.BlockRewardRemaining), []byte{0x51}))
	cb.TxOut = append(cb.TxOut, c.RequiredOutputs...)
	cb.LockTime = c.LockTime
	h, err := tmpl.GetBlockHeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path, err := tmpl.GetCoinbaseMerklePath(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, cb = solve(t, h, cb, path)
	ok, err := tmpl.SubmitSolution(ctx, uint32(h.Version), uint32(h.Timestamp.Unix()), h.Nonce, cb)
	if err != nil || !ok {
		t.Fatalf("submitSolution = %v, %v", ok, err)
	}
	if n.Chain().Height() != 1 {
		t.Fatalf("height %d after a v31 submitSolution; want 1", n.Chain().Height())
	}
}

// A v32 node answers the v31 submitSolution ordinal (@7) with Core's error.
func TestSchemaV32Old7(t *testing.T) {
	_, conn := serveSchema(t, probe.V32)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	init := v32.NewInitClient(conn)
	defer init.Release()
	m, err := init.MakeMining(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := m.CreateNewBlock(ctx, v32.DefaultBlockCreateOptions(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer tmpl.Destroy(ctx)
	b, err := tmpl.GetBlock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.SubmitSolutionOld7(ctx, 0, 0, 0, b.Transactions[0])
	if err == nil || !strings.Contains(err.Error(), "Old submitSolution (@7) not supported") {
		t.Fatalf("submitSolutionOld7 = %v; want Core's error", err)
	}
}
