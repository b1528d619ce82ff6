package demonode

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode/chain"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
)

// Ports of Bitcoin Core's test/functional/interface_ipc_mining.py (and the
// deprecated-method check of interface_ipc.py) to the demo node: each
// asserts the results and error texts Core's test asserts. Core's
// scenarios need three P2P-connected nodes; here "node 2" is a second demo
// node that gets node 0's blocks through getblock/submitblock, since demo
// nodes have no P2P.

const spanEndOfData = "SpanReader::read(): end of data: iostream error"

// TestCoreDeprecatedMethods: interface_ipc.py, "deprecated".
func TestCoreDeprecatedMethods(t *testing.T) {
	ctx := testCtx(t)
	c := startCoreNode(t, ctx, DefaultOptions())
	wantStdException(t, "makeMiningOld2", c.init.MakeMiningOld2(ctx),
		"Old mining interface (@2) not supported. Please update your client!")
	tmpl := newTemplate(t, ctx, c, v32.DefaultBlockCreateOptions())
	_, err := tmpl.SubmitSolutionOld7(ctx, 0, 0, 0, nil)
	wantStdException(t, "submitSolutionOld7", err, "Old submitSolution (@7) not supported. Please update your client!")
}

// TestCoreOptionOverride: run_ipc_option_override_test.
func TestCoreOptionOverride(t *testing.T) {
	ctx := testCtx(t)
	o := DefaultOptions()
	o.BlockReservedWeight = chain.MaxBlockWeight // -blockreservedweight=MAX_BLOCK_WEIGHT
	c := startCoreNode(t, ctx, o)
	w := newWallet(t, c)
	w.selfTransfer(t, c, 0, 10)

	opts := v32.DefaultBlockCreateOptions()
	if b, _ := newTemplate(t, ctx, c, opts).GetBlock(ctx); len(b.Transactions) != 2 {
		t.Fatalf("IPC reserved weight must take precedence: %d txs", len(b.Transactions))
	}
	opts.BlockReservedWeight = chain.MaxBlockWeight
	if b, _ := newTemplate(t, ctx, c, opts).GetBlock(ctx); len(b.Transactions) != 1 {
		t.Fatalf("absurd reserved weight: %d txs, want an empty template", len(b.Transactions))
	}
	for _, tc := range []struct {
		mod  func(*v32.BlockCreateOptions)
		what string
	}{
		{func(o *v32.BlockCreateOptions) { o.BlockReservedWeight = 0 },
			"block_reserved_weight (0) is lower than minimum safety value of (2000)"},
		{func(o *v32.BlockCreateOptions) { o.BlockReservedWeight = chain.MaxBlockWeight + 1 },
			"block_reserved_weight (4000001) exceeds consensus maximum block weight (4000000)"},
		{func(o *v32.BlockCreateOptions) { o.CoinbaseOutputMaxAdditionalSigops = chain.MaxBlockSigopsCost + 1 },
			"coinbase_output_max_additional_sigops (80001) exceeds consensus maximum block sigops cost (80000)"},
	} {
		o := v32.DefaultBlockCreateOptions()
		tc.mod(&o)
		tmpl, err := c.mining.CreateNewBlock(ctx, o, false)
		if tmpl != nil {
			t.Fatalf("%s: got a template", tc.what)
		}
		wantStdException(t, "createNewBlock", err, tc.what)
	}

	// -blockreservedweight does apply to blocks the node builds itself.
	var hashes []string
	c.rpcOK(t, &hashes, "generatetodescriptor", 1, "raw(51)")
	var blk struct {
		NTx int `json:"nTx"`
	}
	c.rpcOK(t, &blk, "getblock", hashes[0], 1)
	if blk.NTx != 1 {
		t.Fatalf("generated block has %d txs under -blockreservedweight=%d", blk.NTx, chain.MaxBlockWeight)
	}
}

// TestCoreCoinbaseAndSubmission: run_coinbase_and_submission_test.
func TestCoreCoinbaseAndSubmission(t *testing.T) {
	ctx := testCtx(t)
	node0 := startCoreNode(t, ctx, DefaultOptions())
	node2 := startCoreNode(t, ctx, DefaultOptions())
	w := newWallet(t, node0)
	node0.syncTo(t, node2)
	height := node0.n.Chain().Height()
	checkOpts := v32.DefaultBlockCheckOptions()
	w.selfTransfer(t, node0, 0, 10)

	tmpl := newTemplate(t, ctx, node0, v32.DefaultBlockCreateOptions())
	block := candidateBlock(t, ctx, tmpl, nil)
	coinbase := block.Transactions[0]
	if len(block.Transactions) < 2 {
		t.Fatal("the template should include the mempool transaction")
	}
	version := block.Header.Version

	// An empty coinbase is refused (Core: result false; its reason is not
	// asserted by Core's test).
	ok, _, _, err := tmpl.SubmitSolution(ctx, 0, 0, 0, nil)
	if err != nil || ok {
		t.Fatalf("submitSolution(empty coinbase) = %v, %v", ok, err)
	}
	_, _, _, err = tmpl.SubmitSolutionBytes(ctx, 0, 0, 0, []byte{0})
	wantStdException(t, "submitSolution(undecodable coinbase)", err, spanEndOfData)

	// Bad version, through all three paths.
	block.Header.Version = 0
	solve(t, block)
	badVersion := submitResult{false, "bad-version(0x00000000)", "rejected nVersion=0x00000000 block"}
	ok, reason, debug, err := node0.mining.CheckBlock(ctx, block, checkOpts)
	want(t, "checkBlock(bad version)", ok, reason, debug, err, badVersion)
	ok, reason, debug, err = tmpl.SubmitSolution(ctx, 0, uint32(block.Header.Timestamp.Unix()), block.Header.Nonce, coinbase)
	want(t, "submitSolution(bad version)", ok, reason, debug, err, badVersion)
	ok, reason, debug, err = node2.mining.SubmitBlock(ctx, block)
	want(t, "submitBlock(bad version)", ok, reason, debug, err, badVersion)

	block.Header.Version = version
	solve(t, block)
	ok, reason, debug, err = node0.mining.CheckBlock(ctx, block, checkOpts)
	want(t, "checkBlock(valid)", ok, reason, debug, err, submitResult{ok: true})

	// The coinbase must carry its witness.
	before, _ := tmpl.GetBlock(ctx)
	missing := block.Copy()
	missing.Transactions[0].TxIn[0].Witness = nil
	setMerkleRoot(missing)
	solve(t, missing)
	noWitness := submitResult{false, "bad-witness-nonce-size", "CheckWitnessMalleation : invalid witness reserved value size"}
	cbNoWitness := coinbase.Copy()
	cbNoWitness.TxIn[0].Witness = nil
	ok, reason, debug, err = tmpl.SubmitSolution(ctx, uint32(version), uint32(block.Header.Timestamp.Unix()), block.Header.Nonce, cbNoWitness)
	want(t, "submitSolution(no witness)", ok, reason, debug, err, noWitness)
	if after, _ := tmpl.GetBlock(ctx); after.Header == before.Header && after.Transactions[0].TxHash() == before.Transactions[0].TxHash() {
		t.Fatal("a rejected submitSolution must still update the template's block")
	}
	ok, reason, debug, err = node2.mining.SubmitBlock(ctx, missing)
	want(t, "submitBlock(no witness)", ok, reason, debug, err, noWitness)

	ok, reason, debug, err = tmpl.SubmitSolution(ctx, uint32(version), uint32(block.Header.Timestamp.Unix()), block.Header.Nonce, coinbase)
	want(t, "submitSolution(valid)", ok, reason, debug, err, submitResult{ok: true})
	ok, reason, debug, err = node2.mining.SubmitBlock(ctx, block)
	want(t, "submitBlock(valid, node 2)", ok, reason, debug, err, submitResult{ok: true})
	if h := node2.n.Chain().Height(); h != height+1 {
		t.Fatalf("node 2 height %d", h)
	}
	ok, reason, debug, err = node2.mining.SubmitBlock(ctx, block)
	want(t, "submitBlock(duplicate, node 2)", ok, reason, debug, err, submitResult{false, "duplicate", ""})
	if h := node0.n.Chain().Height(); h != height+1 {
		t.Fatalf("node 0 height %d", h)
	}
	ok, reason, debug, err = node0.mining.CheckBlock(ctx, block, checkOpts)
	want(t, "checkBlock(connected)", ok, reason, debug, err, submitResult{false, "inconclusive-not-best-prevblk", ""})
	ok, reason, debug, err = node0.mining.SubmitBlock(ctx, block)
	want(t, "submitBlock(duplicate, node 0)", ok, reason, debug, err, submitResult{false, "duplicate", ""})

	// submitSolution after the same block came in through submitBlock.
	tmpl2 := newTemplate(t, ctx, node2, v32.DefaultBlockCreateOptions())
	dup := candidateBlock(t, ctx, tmpl2, nil)
	solve(t, dup)
	ok, reason, debug, err = node2.mining.SubmitBlock(ctx, dup)
	want(t, "submitBlock(valid)", ok, reason, debug, err, submitResult{ok: true})
	ok, reason, debug, err = tmpl2.SubmitSolution(ctx, uint32(dup.Header.Version), uint32(dup.Header.Timestamp.Unix()), dup.Header.Nonce, dup.Transactions[0])
	want(t, "submitSolution(duplicate)", ok, reason, debug, err, submitResult{false, "duplicate", ""})
	node2.syncTo(t, node0)

	// Valid stale blocks are inconclusive, through both paths.
	active := newTemplate(t, ctx, node2, v32.DefaultBlockCreateOptions())
	solution := newTemplate(t, ctx, node2, v32.DefaultBlockCreateOptions())
	submit := newTemplate(t, ctx, node2, v32.DefaultBlockCreateOptions())
	activeBlock := candidateBlock(t, ctx, active, []byte{1})
	solutionBlock := candidateBlock(t, ctx, solution, []byte{2})
	submitBlock := candidateBlock(t, ctx, submit, []byte{3})
	for _, b := range []*wire.MsgBlock{activeBlock, solutionBlock, submitBlock} {
		solve(t, b)
	}
	ok, reason, debug, err = node2.mining.SubmitBlock(ctx, activeBlock)
	want(t, "submitBlock(active)", ok, reason, debug, err, submitResult{ok: true})
	ok, reason, debug, err = solution.SubmitSolution(ctx, uint32(solutionBlock.Header.Version), uint32(solutionBlock.Header.Timestamp.Unix()),
		solutionBlock.Header.Nonce, solutionBlock.Transactions[0])
	want(t, "submitSolution(stale)", ok, reason, debug, err, submitResult{false, "inconclusive", ""})
	ok, reason, debug, err = node2.mining.SubmitBlock(ctx, submitBlock)
	want(t, "submitBlock(stale)", ok, reason, debug, err, submitResult{false, "inconclusive", ""})

	// The same invalid block twice.
	tmpl3 := newTemplate(t, ctx, node2, v32.DefaultBlockCreateOptions())
	invalid := candidateBlock(t, ctx, tmpl3, nil)
	invalid.Transactions[0].LockTime = 0xffffffff
	setMerkleRoot(invalid)
	solve(t, invalid)
	ok, reason, debug, err = node2.mining.SubmitBlock(ctx, invalid)
	want(t, "submitBlock(non-final)", ok, reason, debug, err, submitResult{false, "bad-txns-nonfinal", "non-final transaction"})
	ok, reason, debug, err = node2.mining.SubmitBlock(ctx, invalid)
	want(t, "submitBlock(non-final again)", ok, reason, debug, err,
		submitResult{false, "duplicate-invalid", fmt.Sprintf("block %s was previously marked invalid", invalid.BlockHash())})

	// Malformed and empty block data throw, and the node keeps serving.
	data := blockBytes(t, block)
	_, _, _, err = node2.mining.SubmitBlockBytes(ctx, data[:len(data)-15])
	wantStdException(t, "submitBlock(truncated)", err, spanEndOfData)
	// (Not in Core's test: a non-canonical transaction count.)
	nonCanonical := append(data[:wire.MaxBlockHeaderPayload:wire.MaxBlockHeaderPayload], 0xfd, 0x01, 0x00)
	_, _, _, err = node2.mining.SubmitBlockBytes(ctx, nonCanonical)
	wantStdException(t, "submitBlock(non-canonical count)", err, "non-canonical ReadCompactSize(): iostream error")
	_, _, _, err = node2.mining.SubmitBlockBytes(ctx, []byte{})
	wantStdException(t, "submitBlock(empty)", err, spanEndOfData)
	_, _, _, err = node2.mining.CheckBlockBytes(ctx, []byte{}, checkOpts)
	wantStdException(t, "checkBlock(empty)", err, spanEndOfData)
	if _, err := node2.mining.GetTip(ctx); err != nil {
		t.Fatalf("node 2 after malformed blocks: %v", err)
	}
}

// TestCoreLowHeight: run_low_height_test, blocks 1 to 17 from genesis;
// heights up to 16 need extra scriptSig bytes.
func TestCoreLowHeight(t *testing.T) {
	ctx := testCtx(t)
	c := startCoreNode(t, ctx, DefaultOptions())
	for height := int32(1); height <= 17; height++ {
		tmpl := newTemplate(t, ctx, c, v32.DefaultBlockCreateOptions())
		var extra []byte
		if height <= 16 {
			extra = []byte{0xaa, 0xbb, 0xcc, 0xdd}
		}
		b := candidateBlock(t, ctx, tmpl, extra)
		solve(t, b)
		ok, reason, debug, err := tmpl.SubmitSolution(ctx, uint32(b.Header.Version), uint32(b.Header.Timestamp.Unix()), b.Header.Nonce, b.Transactions[0])
		want(t, fmt.Sprintf("submitSolution(height %d)", height), ok, reason, debug, err, submitResult{ok: true})
		var count int32
		c.rpcOK(t, &count, "getblockcount")
		if count != height {
			t.Fatalf("getblockcount %d, want %d", count, height)
		}
	}
}

// TestCoreTransactionLookup: run_transaction_lookup_test.
func TestCoreTransactionLookup(t *testing.T) {
	ctx := testCtx(t)
	c := startCoreNode(t, ctx, DefaultOptions())
	w := newWallet(t, c)
	tx1 := w.selfTransfer(t, c, 0, 10)
	tx2 := w.selfTransfer(t, c, 0, 10) // spends tx1's output
	byTxid, err := c.mining.GetTransactionsByTxID(ctx, []chainhash.Hash{tx1.TxHash(), tx2.TxHash(), {}})
	if err != nil || len(byTxid) != 3 || txHex(t, byTxid[0]) != txHex(t, tx1) || txHex(t, byTxid[1]) != txHex(t, tx2) || byTxid[2] != nil {
		t.Fatalf("getTransactionsByTxID = %v, %v", byTxid, err)
	}
	byWtxid, err := c.mining.GetTransactionsByWitnessID(ctx, []chainhash.Hash{tx1.WitnessHash(), tx2.WitnessHash(), {}})
	if err != nil || len(byWtxid) != 3 || txHex(t, byWtxid[0]) != txHex(t, tx1) || txHex(t, byWtxid[1]) != txHex(t, tx2) || byWtxid[2] != nil {
		t.Fatalf("getTransactionsByWitnessID = %v, %v", byWtxid, err)
	}
	c.generate(t, 1)
	if r, err := c.mining.GetTransactionsByTxID(ctx, []chainhash.Hash{tx1.TxHash()}); err != nil || r[0] != nil {
		t.Fatalf("mined tx by txid: %v, %v", r, err)
	}
	if r, err := c.mining.GetTransactionsByWitnessID(ctx, []chainhash.Hash{tx1.WitnessHash()}); err != nil || r[0] != nil {
		t.Fatalf("mined tx by wtxid: %v, %v", r, err)
	}
}

func txids(b *wire.MsgBlock) map[chainhash.Hash]bool {
	m := make(map[chainhash.Hash]bool)
	for _, tx := range b.Transactions[1:] {
		m[tx.TxHash()] = true
	}
	return m
}

// waitOptions are Core's default_block_wait_options: a timeout that is
// generous here (it only bounds a wait that must succeed) and fee
// threshold 1.
func waitOptions() v32.BlockWaitOptions {
	return v32.BlockWaitOptions{Timeout: time.Minute, FeeThreshold: 1}
}

func waitNext(t *testing.T, ctx context.Context, tmpl *v32.BlockTemplateClient, o v32.BlockWaitOptions) *v32.BlockTemplateClient {
	t.Helper()
	next, err := tmpl.WaitNext(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if next == nil {
		return nil
	}
	nt := next.(*v32.BlockTemplateClient)
	t.Cleanup(func() { nt.Destroy(context.Background()) })
	return nt
}

// TestCoreMiningPolicy: run_waitnext_mining_policy_test: createNewBlock
// and waitNext respect -blockmintxfee.
func TestCoreMiningPolicy(t *testing.T) {
	ctx := testCtx(t)
	fee, err := ParseBlockMinTxFee("0.00002000")
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.BlockMinTxFee = fee
	c := startCoreNode(t, ctx, o)
	w := newWallet(t, c)
	low := w.selfTransfer(t, c, 0, 1) // 1 sat/vB, below 2 sat/vB
	var pool []string
	c.rpcOK(t, &pool, "getrawmempool")
	if len(pool) != 1 || pool[0] != low.TxHash().String() {
		t.Fatalf("getrawmempool = %v", pool)
	}
	tmpl := newTemplate(t, ctx, c, v32.DefaultBlockCreateOptions())
	if b, _ := tmpl.GetBlock(ctx); len(b.Transactions) != 1 {
		t.Fatalf("createNewBlock must respect -blockmintxfee: %d txs", len(b.Transactions))
	}
	high := w.selfTransfer(t, c, 1, 3) // 3 sat/vB
	next := waitNext(t, ctx, tmpl, waitOptions())
	if next == nil {
		t.Fatal("waitNext returned no template for the new fees")
	}
	b, _ := next.GetBlock(ctx)
	if in := txids(b); !in[high.TxHash()] || in[low.TxHash()] {
		t.Fatalf("waitNext must keep -blockmintxfee: template has %v", in)
	}
}

// TestCoreBlockMaxWeight: run_block_max_weight_test: createNewBlock and
// waitNext respect -blockmaxweight.
func TestCoreBlockMaxWeight(t *testing.T) {
	ctx := testCtx(t)
	const smallCap = chain.DefaultBlockReservedWeight + 4000
	const numTxs = 20
	o := DefaultOptions()
	o.BlockMaxWeight = smallCap
	c := startCoreNode(t, ctx, o)
	w := newWallet(t, c)
	for i := 0; i < numTxs; i++ {
		w.selfTransfer(t, c, 0, 1)
	}
	var info struct {
		Size int `json:"size"`
	}
	c.rpcOK(t, &info, "getmempoolinfo")
	if info.Size != numTxs {
		t.Fatalf("getmempoolinfo size %d", info.Size)
	}
	tmpl := newTemplate(t, ctx, c, v32.DefaultBlockCreateOptions())
	b, _ := tmpl.GetBlock(ctx)
	if weight := blockWeight(b); weight > smallCap || len(b.Transactions)-1 >= numTxs {
		t.Fatalf("template weight %d with %d txs, want at most %d and truncated", weight, len(b.Transactions)-1, smallCap)
	}
	high := w.selfTransfer(t, c, 1, 10)
	next := waitNext(t, ctx, tmpl, waitOptions())
	if next == nil {
		t.Fatal("waitNext returned no template")
	}
	b, _ = next.GetBlock(ctx)
	if weight := blockWeight(b); weight > smallCap || !txids(b)[high.TxHash()] || len(b.Transactions)-1 >= numTxs+1 {
		t.Fatalf("waitNext template: weight %d, %d txs, high-fee tx included %v", weight, len(b.Transactions)-1, txids(b)[high.TxHash()])
	}
}

func blockWeight(b *wire.MsgBlock) int {
	return b.SerializeSizeStripped()*(chain.WitnessScaleFactor-1) + b.SerializeSize()
}

// TestCoreBlockTemplate: run_block_template_test from "Create a template"
// on. Its first part cannot be hosted: createNewBlock's cooldown while a
// header-only peer announces a better tip, its prompt wake-up when the
// block arrives, and Mining.interrupt aborting createNewBlock during the
// cooldown. The demo node has no P2P, stores no headers without blocks
// and is never in initial block download, so createNewBlock never has a
// cooldown to wait (or to interrupt).
func TestCoreBlockTemplate(t *testing.T) {
	ctx := testCtx(t)
	c := startCoreNode(t, ctx, DefaultOptions())
	w := newWallet(t, c)
	tmpl := newTemplate(t, ctx, c, v32.DefaultBlockCreateOptions())
	b, err := tmpl.GetBlock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var tip string
	c.rpcOK(t, &tip, "getbestblockhash")
	if b.Header.PrevBlock.String() != tip || len(b.Transactions) < 1 {
		t.Fatalf("template on %s, tip %s", b.Header.PrevBlock, tip)
	}
	if fees, err := tmpl.GetTxFees(ctx); err != nil || len(fees) != 0 {
		t.Fatalf("getTxFees = %v, %v", fees, err)
	}
	if sigops, err := tmpl.GetTxSigops(ctx); err != nil || len(sigops) != 0 {
		t.Fatalf("getTxSigops = %v, %v", sigops, err)
	}

	// A new tip, with fee increases ignored: the new template is empty,
	// since the block mined the transaction.
	wo := v32.BlockWaitOptions{Timeout: time.Minute, FeeThreshold: chain.MaxMoney}
	w.selfTransfer(t, c, 0, 10)
	c.generate(t, 1)
	tmpl2 := waitNext(t, ctx, tmpl, wo)
	if tmpl2 == nil {
		t.Fatal("waitNext: no template after a new tip")
	}
	if b, _ := tmpl2.GetBlock(ctx); len(b.Transactions) != 1 {
		t.Fatalf("template after the tip update has %d txs", len(b.Transactions))
	}

	// MAX_MONEY never triggers on fees: the wait times out.
	wo.Timeout = 100 * time.Millisecond
	w.selfTransfer(t, c, 0, 10)
	if tmpl3 := waitNext(t, ctx, tmpl2, wo); tmpl3 != nil {
		t.Fatal("waitNext with feeThreshold MAX_MONEY returned a template")
	}

	// The fees already in the mempool are enough for threshold 1.
	wo = waitOptions()
	tmpl4 := waitNext(t, ctx, tmpl2, wo)
	if b, _ := tmpl4.GetBlock(ctx); len(b.Transactions) != 2 {
		t.Fatalf("template for mempool fees has %d txs", len(b.Transactions))
	}
	wo.FeeThreshold = 0
	tmpl5 := waitNext(t, ctx, tmpl4, wo)
	if b, _ := tmpl5.GetBlock(ctx); len(b.Transactions) != 2 {
		t.Fatalf("threshold 0: %d txs", len(b.Transactions))
	}
	wo.FeeThreshold = 1
	w.selfTransfer(t, c, 1, 10)
	tmpl6 := waitNext(t, ctx, tmpl5, wo)
	if b, _ := tmpl6.GetBlock(ctx); len(b.Transactions) != 3 {
		t.Fatalf("template after a fee increase has %d txs", len(b.Transactions))
	}
	wo.Timeout = 100 * time.Millisecond
	if tmpl7 := waitNext(t, ctx, tmpl6, wo); tmpl7 != nil {
		t.Fatal("waitNext without new fees returned a template")
	}

	// interruptWait aborts a long wait.
	done := make(chan *v32.BlockTemplateClient, 1)
	go func() {
		next, err := tmpl6.WaitNext(ctx, v32.BlockWaitOptions{Timeout: time.Hour, FeeThreshold: 1})
		if err != nil {
			t.Error(err)
		}
		nt, _ := next.(*v32.BlockTemplateClient)
		done <- nt
	}()
	c.awaitWaits(t, ctx, "waitNext waiting", func(_, next int) bool { return next == 1 })
	if err := tmpl6.InterruptWait(ctx); err != nil {
		t.Fatal(err)
	}
	if nt := receive(t, ctx, "interrupted waitNext", done); nt != nil {
		t.Fatal("interrupted waitNext returned a template")
	}
}
