package chain

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// TestRejections produces every rejection reason. Each case gets a fresh
// chain (fixed clock) and returns the block to submit; the reason must come
// back from SubmitBlock and (unless checkReason says otherwise) CheckBlock,
// and the tip must not move.
func TestRejections(t *testing.T) {
	tests := []struct {
		name string
		// build returns the block and the expected SubmitBlock result.
		build func(t *testing.T, c *Chain) (*wire.MsgBlock, result)
		// checkReason is CheckBlock's expected reason when it differs.
		checkReason string
	}{
		{"high-hash", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			for CheckProofOfWork(b.BlockHash(), b.Header.Bits) {
				b.Header.Nonce++
			}
			return b, result{"high-hash", "proof of work failed"}
		}, ""},
		{"bad-txnmrklroot", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			b.Header.MerkleRoot[0] ^= 1
			resolve(t, b)
			return b, result{"bad-txnmrklroot", "hashMerkleRoot mismatch"}
		}, ""},
		{"bad-txns-duplicate", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			addTxs(t, c, 2)
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			b.Transactions = append(b.Transactions, b.Transactions[2])
			finish(t, b)
			return b, result{"bad-txns-duplicate", "duplicate transaction"}
		}, ""},
		{"bad-blk-length empty", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			b.Transactions = nil
			finish(t, b)
			return b, result{"bad-blk-length", "size limits failed"}
		}, ""},
		{"bad-blk-length oversize", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			big := NewDummyTx(7, false)
			big.AddTxOut(wire.NewTxOut(0, append([]byte{txscript.OP_RETURN}, make([]byte, 1_000_001)...)))
			b.Transactions = append(b.Transactions, big)
			finish(t, b)
			return b, result{"bad-blk-length", "size limits failed"}
		}, ""},
		{"bad-cb-missing", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			b.Transactions[0] = NewDummyTx(9, false)
			finish(t, b)
			return b, result{"bad-cb-missing", "first tx is not coinbase"}
		}, ""},
		{"bad-cb-multiple", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			second := b.Transactions[0].Copy()
			second.TxIn[0].SignatureScript = append(second.TxIn[0].SignatureScript, 0x01)
			b.Transactions = append(b.Transactions, second)
			finish(t, b)
			return b, result{"bad-cb-multiple", "more than one coinbase"}
		}, ""},
		{"bad-cb-length short", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			// Height 1: the prefix alone (OP_1) is one byte.
			return withCoinbase(t, c, func(cb *wire.MsgTx) {
				cb.TxIn[0].SignatureScript = cb.TxIn[0].SignatureScript[:1]
			}, func(b *wire.MsgBlock) result {
				return result{"bad-cb-length", txCheckDebug(b.Transactions[0])}
			})
		}, ""},
		{"bad-cb-length long", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			return withCoinbase(t, c, func(cb *wire.MsgTx) {
				cb.TxIn[0].SignatureScript = append([]byte{0x51}, make([]byte, 100)...)
			}, func(b *wire.MsgBlock) result {
				return result{"bad-cb-length", txCheckDebug(b.Transactions[0])}
			})
		}, ""},
		{"bad-txns-vout-negative", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			tx := NewDummyTx(3, false)
			tx.TxOut[0].Value = -1
			b.Transactions = append(b.Transactions, tx)
			finish(t, b)
			return b, result{"bad-txns-vout-negative", txCheckDebug(tx)}
		}, ""},
		{"bad-blk-sigops", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			tx := NewDummyTx(3, false)
			tx.TxOut[0].PkScript = bytes.Repeat([]byte{txscript.OP_CHECKSIG}, MaxBlockSigopsCost/4+1)
			b.Transactions = append(b.Transactions, tx)
			finish(t, b)
			return b, result{"bad-blk-sigops", "out-of-bounds SigOpCount"}
		}, ""},
		{"bad-diffbits", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			b.Header.Bits = 0x207ffffe
			resolve(t, b)
			return b, result{"bad-diffbits", "incorrect proof of work"}
		}, ""},
		{"time-too-old", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			b.Header.Timestamp = c.MedianTimePast()
			resolve(t, b)
			return b, result{"time-too-old", "block's timestamp is too early"}
		}, ""},
		{"time-too-new", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			b.Header.Timestamp = testNow.Add(2*time.Hour + time.Second)
			resolve(t, b)
			return b, result{"time-too-new", "block timestamp too far in the future"}
		}, ""},
		{"bad-version", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			b.Header.Version = 3
			resolve(t, b)
			return b, result{"bad-version(0x00000003)", "rejected nVersion=0x00000003 block"}
		}, ""},
		{"bad-version zero", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			b.Header.Version = 0
			resolve(t, b)
			return b, result{"bad-version(0x00000000)", "rejected nVersion=0x00000000 block"}
		}, ""},
		{"bad-txns-nonfinal", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			// Core's test: a coinbase with nLockTime 2^32-1 (its sequence
			// is non-final).
			return withCoinbase(t, c, func(cb *wire.MsgTx) { cb.LockTime = 0xffffffff },
				func(*wire.MsgBlock) result { return result{"bad-txns-nonfinal", "non-final transaction"} })
		}, ""},
		{"bad-cb-height", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			return withCoinbase(t, c, func(cb *wire.MsgTx) {
				cb.TxIn[0].SignatureScript = append(HeightScript(2), testExtraNonce...)
			}, func(*wire.MsgBlock) result {
				return result{"bad-cb-height", "block height mismatch in coinbase"}
			})
		}, ""},
		{"bad-witness-nonce-size", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			return withCoinbase(t, c, func(cb *wire.MsgTx) { cb.TxIn[0].Witness = nil },
				func(*wire.MsgBlock) result {
					return result{"bad-witness-nonce-size", "CheckWitnessMalleation : invalid witness reserved value size"}
				})
		}, ""},
		{"bad-witness-merkle-match", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			return withCoinbase(t, c, func(cb *wire.MsgTx) { cb.TxOut[1].PkScript[10] ^= 1 },
				func(*wire.MsgBlock) result {
					return result{"bad-witness-merkle-match", "CheckWitnessMalleation : witness merkle commitment mismatch"}
				})
		}, ""},
		{"unexpected-witness", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			return withCoinbase(t, c, func(cb *wire.MsgTx) { cb.TxOut = cb.TxOut[:1] },
				func(*wire.MsgBlock) result {
					return result{"unexpected-witness", "CheckWitnessMalleation : unexpected witness data found"}
				})
		}, ""},
		{"bad-blk-weight", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			// Stripped size under 1 MB, weight over 4M thanks to the witness.
			heavy := NewDummyTx(5, true)
			heavy.AddTxOut(wire.NewTxOut(0, append([]byte{txscript.OP_RETURN}, make([]byte, 900_000)...)))
			heavy.TxIn[0].Witness = append(heavy.TxIn[0].Witness, make([]byte, 500_000))
			b.Transactions = append(b.Transactions, heavy)
			recommit(t, b)
			return b, result{"bad-blk-weight", "ContextualCheckBlock : weight limit failed"}
		}, ""},
		{"bad-cb-amount", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			return withCoinbase(t, c, func(cb *wire.MsgTx) { cb.TxOut[0].Value++ },
				func(*wire.MsgBlock) result {
					return result{"bad-cb-amount", "coinbase pays too much (actual=5000000001 vs limit=5000000000)"}
				})
		}, ""},
		{"bad-cb-amount with fees", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			if err := c.AddTxWithFee(NewDummyTx(1, true), 5000, -1); err != nil {
				t.Fatal(err)
			}
			return withCoinbase(t, c, func(cb *wire.MsgTx) { cb.TxOut[0].Value++ },
				func(*wire.MsgBlock) result {
					return result{"bad-cb-amount", "coinbase pays too much (actual=5000005001 vs limit=5000005000)"}
				})
		}, ""},
		{"bad-txns-inputs-missingorspent", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			tx1 := NewDummyTx(5, false)
			tx2 := tx1.Copy()
			tx2.TxOut[0].Value--
			b.Transactions = append(b.Transactions, tx1, tx2)
			recommit(t, b)
			return b, result{"bad-txns-inputs-missingorspent",
				fmt.Sprintf("CheckTxInputs: inputs missing/spent in transaction %s", tx2.TxHash())}
		}, ""},
		{"prev-blk-not-found", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
			b.Header.PrevBlock = chainhash.DoubleHashH([]byte("unknown"))
			resolve(t, b)
			return b, result{"prev-blk-not-found", ""}
		}, "inconclusive-not-best-prevblk"},
		{"inconclusive (stale)", func(t *testing.T, c *Chain) (*wire.MsgBlock, result) {
			stale := mustTemplate(t, c, DefaultTemplateOptions())
			if _, err := c.GenerateToScript(1, nil); err != nil {
				t.Fatal(err)
			}
			return candidateBlock(t, stale), result{"inconclusive", ""}
		}, "inconclusive-not-best-prevblk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(fixedClock())
			b, want := tt.build(t, c)
			tipBefore, _ := c.Tip()
			checkWant := want.reason
			if tt.checkReason != "" {
				checkWant = tt.checkReason
			}
			if ok, reason, debug := c.CheckBlock(b, true, true); ok || reason != checkWant {
				t.Errorf("CheckBlock = %v %q %q, want %q", ok, reason, debug, checkWant)
			} else if tt.checkReason == "" && debug != want.debug {
				t.Errorf("CheckBlock debug %q, want %q", debug, want.debug)
			}
			ok, reason, debug := c.SubmitBlock(b)
			if ok || reason != want.reason || debug != want.debug {
				t.Errorf("SubmitBlock = %v %q %q, want %q %q", ok, reason, debug, want.reason, want.debug)
			}
			if tip, _ := c.Tip(); tip != tipBefore {
				t.Error("tip moved after a rejected block")
			}
		})
	}
}

// addTxs adds n dummy legacy transactions to the mempool.
func addTxs(t *testing.T, c *Chain, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := c.AddTx(NewDummyTx(uint64(1000+i), false)); err != nil {
			t.Fatal(err)
		}
	}
}

// withCoinbase builds a block from a fresh template, lets mod change the
// miner's coinbase, and finishes the block (merkle root and proof of work).
func withCoinbase(t *testing.T, c *Chain, mod func(*wire.MsgTx), want func(*wire.MsgBlock) result) (*wire.MsgBlock, result) {
	t.Helper()
	b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
	mod(b.Transactions[0])
	finish(t, b)
	return b, want(b)
}

type result = struct{ reason, debug string }

func txCheckDebug(tx *wire.MsgTx) string {
	return fmt.Sprintf("Transaction check failed (tx hash %s) ", tx.TxHash())
}

// TestCheckBlockOptions checks that CheckBlock can skip proof of work and
// the merkle root, as Core's BlockCheckOptions allow.
func TestCheckBlockOptions(t *testing.T) {
	c := New()
	b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
	for CheckProofOfWork(b.BlockHash(), b.Header.Bits) {
		b.Header.Nonce++
	}
	if ok, reason, _ := c.CheckBlock(b, true, true); ok || reason != "high-hash" {
		t.Fatalf("CheckBlock(pow) = %v %s", ok, reason)
	}
	if ok, reason, debug := c.CheckBlock(b, true, false); !ok {
		t.Fatalf("CheckBlock(no pow) = %s %s", reason, debug)
	}
	b.Header.MerkleRoot = chainhash.Hash{}
	if ok, reason, _ := c.CheckBlock(b, true, false); ok || reason != "bad-txnmrklroot" {
		t.Fatalf("CheckBlock(merkle) = %v %s", ok, reason)
	}
	if ok, reason, debug := c.CheckBlock(b, false, false); !ok {
		t.Fatalf("CheckBlock(no merkle, no pow) = %s %s", reason, debug)
	}
	// nil is Core's default block: not on the tip for checkBlock, no
	// proof of work for submitBlock.
	if ok, reason, debug := c.CheckBlock(nil, true, true); ok || reason != "inconclusive-not-best-prevblk" || debug != "" {
		t.Fatalf("CheckBlock(nil) = %v %q %q", ok, reason, debug)
	}
	if ok, reason, debug := c.SubmitBlock(nil); ok || reason != "high-hash" || debug != "proof of work failed" {
		t.Fatalf("SubmitBlock(nil) = %v %q %q", ok, reason, debug)
	}
}

// TestSubmitSolutionFlow mirrors Core's coinbase and submission test.
func TestSubmitSolutionFlow(t *testing.T) {
	c := New()
	if err := c.AddTxWithFee(NewDummyTx(1, true), 2000, -1); err != nil {
		t.Fatal(err)
	}
	tmpl := mustTemplate(t, c, DefaultTemplateOptions())
	if len(tmpl.Block().Transactions) != 2 {
		t.Fatal("template should include the mempool tx")
	}
	cb, hdr := solveTemplate(t, tmpl, testExtraNonce)

	if ok, reason, _ := c.SubmitSolution(tmpl, 0, 0, 0, nil); ok || reason == "" {
		t.Fatalf("nil coinbase accepted: %s", reason)
	}

	// Bad version, through CheckBlock and SubmitSolution.
	bad := tmpl.Block()
	bad.Transactions[0] = cb
	bad.Header = hdr
	bad.Header.Version = 0
	resolve(t, bad)
	if ok, reason, debug := c.CheckBlock(bad, true, true); ok || reason != "bad-version(0x00000000)" ||
		debug != "rejected nVersion=0x00000000 block" {
		t.Fatalf("CheckBlock = %v %q %q", ok, reason, debug)
	}
	if ok, reason, _ := tmpl.SubmitSolution(0, uint32(bad.Header.Timestamp.Unix()), bad.Header.Nonce, cb); ok ||
		reason != "bad-version(0x00000000)" {
		t.Fatalf("SubmitSolution(version 0) = %v %s", ok, reason)
	}

	// A valid block passes CheckBlock.
	good := tmpl.Block()
	good.Transactions[0] = cb
	good.Header = hdr
	if ok, reason, debug := c.CheckBlock(good, true, true); !ok {
		t.Fatalf("CheckBlock(valid) = %s %s", reason, debug)
	}

	// A coinbase without its witness is rejected, and even a rejected
	// SubmitSolution updates the template's block.
	before := tmpl.Block()
	noWitness := cb.Copy()
	noWitness.TxIn[0].Witness = nil
	if ok, reason, debug := tmpl.SubmitSolution(uint32(hdr.Version), uint32(hdr.Timestamp.Unix()), hdr.Nonce, noWitness); ok ||
		reason != "bad-witness-nonce-size" {
		t.Fatalf("SubmitSolution(no witness) = %v %s %s", ok, reason, debug)
	}
	after := tmpl.Block()
	if after.Transactions[0].WitnessHash() == before.Transactions[0].WitnessHash() || after.Header == before.Header {
		t.Fatal("rejected SubmitSolution did not update the template block")
	}

	// With the witness it is accepted; a second submission is a duplicate.
	if ok, reason, debug := tmpl.SubmitSolution(uint32(hdr.Version), uint32(hdr.Timestamp.Unix()), hdr.Nonce, cb); !ok {
		t.Fatalf("SubmitSolution = %s %s", reason, debug)
	}
	if hash, height := c.Tip(); hash != hdr.BlockHash() || height != 1 {
		t.Fatalf("tip %s/%d", hash, height)
	}
	if ok, reason, debug := tmpl.SubmitSolution(uint32(hdr.Version), uint32(hdr.Timestamp.Unix()), hdr.Nonce, cb); ok ||
		reason != "duplicate" || debug != "" {
		t.Fatalf("second SubmitSolution = %v %q %q, want false duplicate", ok, reason, debug)
	}
	if ok, reason, debug := c.SubmitBlock(good); ok || reason != "duplicate" || debug != "" {
		t.Fatalf("SubmitBlock(dup) = %v %q %q", ok, reason, debug)
	}
	if ok, reason, _ := c.CheckBlock(good, true, true); ok || reason != "inconclusive-not-best-prevblk" {
		t.Fatalf("CheckBlock(connected) = %v %q", ok, reason)
	}
	if n, _ := c.MempoolSize(); n != 0 {
		t.Fatal("mined tx still in mempool")
	}
	mined, _ := c.BlockByHash(hdr.BlockHash())
	if mined.Transactions[0].TxOut[0].Value != 50e8+2000 {
		t.Fatal("coinbase should claim subsidy + fees")
	}
}

func TestDuplicateInvalid(t *testing.T) {
	c := New()
	b, _ := withCoinbase(t, c, func(cb *wire.MsgTx) { cb.LockTime = 0xffffffff },
		func(*wire.MsgBlock) result { return result{} })
	if ok, reason, debug := c.SubmitBlock(b); ok || reason != "bad-txns-nonfinal" || debug != "non-final transaction" {
		t.Fatalf("first submit = %v %q %q", ok, reason, debug)
	}
	want := fmt.Sprintf("block %s was previously marked invalid", b.BlockHash())
	if ok, reason, debug := c.SubmitBlock(b); ok || reason != "duplicate-invalid" || debug != want {
		t.Fatalf("second submit = %v %q %q", ok, reason, debug)
	}

	// Mutated blocks (witness) and header failures are not remembered.
	m, _ := withCoinbase(t, c, func(cb *wire.MsgTx) { cb.TxIn[0].Witness = nil },
		func(*wire.MsgBlock) result { return result{} })
	h := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
	h.Header.Version = 1
	resolve(t, h)
	for i := 0; i < 2; i++ {
		if _, reason, _ := c.SubmitBlock(m); reason != "bad-witness-nonce-size" {
			t.Fatalf("mutated submit %d: %s", i, reason)
		}
		if _, reason, _ := c.SubmitBlock(h); reason != "bad-version(0x00000001)" {
			t.Fatalf("bad-version submit %d: %s", i, reason)
		}
	}
}

// TestStaleBlocks submits valid and invalid blocks on a parent that is no
// longer the tip.
func TestStaleBlocks(t *testing.T) {
	c := New()
	stale := mustTemplate(t, c, DefaultTemplateOptions())
	staleBad := mustTemplate(t, c, DefaultTemplateOptions())
	hashes, err := c.GenerateToScript(1, nil)
	if err != nil {
		t.Fatal(err)
	}

	cb, hdr := solveTemplate(t, stale, testExtraNonce)
	submit := func() (bool, string, string) {
		return stale.SubmitSolution(uint32(hdr.Version), uint32(hdr.Timestamp.Unix()), hdr.Nonce, cb)
	}
	if ok, reason, debug := submit(); ok || reason != "inconclusive" || debug != "" {
		t.Fatalf("stale SubmitSolution = %v %q %q, want false inconclusive", ok, reason, debug)
	}
	if tip, height := c.Tip(); tip != hashes[0] || height != 1 {
		t.Fatal("a stale block must not become the tip")
	}
	staleHash := hdr.BlockHash()
	staleBlock, found := c.BlockByHash(staleHash)
	if !found {
		t.Fatal("stale block not stored")
	}
	if ok, reason, debug := submit(); ok || reason != "duplicate" || debug != "" {
		t.Fatalf("stale resubmission = %v %q %q, want false duplicate", ok, reason, debug)
	}
	if ok, reason, _ := c.SubmitBlock(staleBlock); ok || reason != "duplicate" {
		t.Fatalf("stale SubmitBlock = %v %q", ok, reason)
	}

	// A child of the stale block would need a reorganisation.
	child := staleBlock.Copy()
	child.Header.PrevBlock = staleHash
	child.Transactions[0].TxIn[0].SignatureScript = append(HeightScript(2), testExtraNonce...)
	finish(t, child)
	if ok, reason, _ := c.SubmitBlock(child); ok || reason != "inconclusive" {
		t.Fatalf("child of stale block = %v %q", ok, reason)
	}

	// An invalid stale block is rejected and remembered.
	bad := candidateBlock(t, staleBad)
	bad.Transactions[0].TxIn[0].SignatureScript = append(HeightScript(5), testExtraNonce...)
	finish(t, bad)
	if ok, reason, _ := c.SubmitBlock(bad); ok || reason != "bad-cb-height" {
		t.Fatalf("invalid stale block = %v %q", ok, reason)
	}
	if ok, reason, _ := c.SubmitBlock(bad); ok || reason != "duplicate-invalid" {
		t.Fatalf("invalid stale block again = %v %q", ok, reason)
	}

	// The chain goes on from the real tip.
	if _, err := c.GenerateToScript(1, nil); err != nil {
		t.Fatal(err)
	}
}

// Serialized is the block's serialization, and follows the block when
// SubmitSolution changes it.
func TestTemplateSerialized(t *testing.T) {
	c := New()
	tmpl := mustTemplate(t, c, DefaultTemplateOptions())
	serialize := func(b *wire.MsgBlock) []byte {
		var buf bytes.Buffer
		if err := b.Serialize(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	serialized := func() []byte {
		b, err := tmpl.Serialized()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got, want := serialized(), serialize(tmpl.Block()); !bytes.Equal(got, want) {
		t.Fatalf("Serialized = %x, want %x", got, want)
	}
	cb, hdr := solveTemplate(t, tmpl, testExtraNonce)
	if ok, reason, _ := tmpl.SubmitSolution(uint32(hdr.Version), uint32(hdr.Timestamp.Unix()), hdr.Nonce, cb); !ok {
		t.Fatalf("SubmitSolution: %s", reason)
	}
	after := tmpl.Block()
	if after.Header.Nonce != hdr.Nonce || after.Transactions[0].TxHash() != cb.TxHash() {
		t.Fatal("the template's block does not carry the solution")
	}
	if got, want := serialized(), serialize(after); !bytes.Equal(got, want) {
		t.Fatal("Serialized after SubmitSolution is the block before it")
	}
}
