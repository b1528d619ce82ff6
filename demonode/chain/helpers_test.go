package chain

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testNow is the fixed clock of tests that need one.
var testNow = time.Unix(1_700_000_000, 0)

func fixedClock() Option { return WithClock(func() time.Time { return testNow }) }

// testExtraNonce is what the tests append to the scriptSig prefix, like
// Core's interface_ipc_mining.py low-height test.
var testExtraNonce = []byte{0xaa, 0xbb, 0xcc, 0xdd}

func mustTemplate(t testing.TB, c *Chain, opts TemplateOptions) *Template {
	t.Helper()
	tmpl, err := c.CreateTemplate(opts)
	if err != nil {
		t.Fatalf("CreateTemplate: %v", err)
	}
	return tmpl
}

// solveTemplate does what a miner does with a template: build the coinbase
// from the constraints, compute the merkle root from the coinbase merkle
// path and grind the nonce.
func solveTemplate(t testing.TB, tmpl *Template, extraNonce []byte) (*wire.MsgTx, wire.BlockHeader) {
	t.Helper()
	cb := BuildCoinbase(tmpl.CoinbaseTx(), opTrue, extraNonce)
	hdr := tmpl.Header()
	hdr.MerkleRoot = MerkleRootFromPath(cb.TxHash(), tmpl.CoinbaseMerklePath())
	if !Solve(&hdr, 0) {
		t.Fatal("Solve failed")
	}
	return cb, hdr
}

// candidateBlock returns a complete, solved, valid block for tmpl.
func candidateBlock(t testing.TB, tmpl *Template) *wire.MsgBlock {
	t.Helper()
	cb, hdr := solveTemplate(t, tmpl, testExtraNonce)
	b := tmpl.Block()
	b.Transactions[0] = cb
	b.Header = hdr
	return b
}

// resolve grinds the nonce again from zero.
func resolve(t testing.TB, b *wire.MsgBlock) {
	t.Helper()
	b.Header.Nonce = 0
	if !Solve(&b.Header, 0) {
		t.Fatal("Solve failed")
	}
}

// finish recomputes the merkle root and solves.
func finish(t testing.TB, b *wire.MsgBlock) {
	t.Helper()
	b.Header.MerkleRoot, _ = merkleRoot(txids(b))
	resolve(t, b)
}

// recommit recomputes the witness commitment output (if any), then the
// merkle root, and solves.
func recommit(t testing.TB, b *wire.MsgBlock) {
	t.Helper()
	if pos := witnessCommitmentIndex(b); pos >= 0 {
		wtxids := make([]chainhash.Hash, len(b.Transactions))
		for i, tx := range b.Transactions {
			wtxids[i] = tx.WitnessHash()
		}
		reserved := make([]byte, 32)
		if w := b.Transactions[0].TxIn[0].Witness; len(w) == 1 {
			reserved = w[0]
		}
		b.Transactions[0].TxOut[pos].PkScript = witnessCommitmentScript(witnessCommitment(witnessRoot(wtxids), reserved))
	}
	finish(t, b)
}

// testWait bounds every wait in these tests. It only has to catch a hang:
// a loaded machine makes the tests slower, never makes them fail.
const testWait = 2 * time.Minute

// waitUntil waits until cond (evaluated under the chain lock) holds,
// checking it again at every change of the chain, the mempool or the
// pending waits.
func waitUntil(t testing.TB, c *Chain, cond func() bool) {
	t.Helper()
	guard := time.NewTimer(testWait)
	defer guard.Stop()
	for {
		c.mu.Lock()
		ok, changed := cond(), c.changed
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-guard.C:
			t.Fatal("condition not reached")
		}
	}
}
