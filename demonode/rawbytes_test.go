package demonode

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/domain"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
)

// TestRawBytes drives the typed API's raw-bytes methods against a demo
// node over a socket: bytes the node cannot deserialize get Core's error
// text, valid bytes are processed as the decoded values would be, an empty
// block differs from a nil one, and getBlock's bytes are the block's
// serialization.
func TestRawBytes(t *testing.T) {
	ctx := testCtx(t)
	c := startCoreNode(t, ctx, DefaultOptions())

	tmpl := newTemplate(t, ctx, c, v32.DefaultBlockCreateOptions())
	typed, err := tmpl.GetBlock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tmpl.GetBlockBytes(ctx)
	if err != nil || !bytes.Equal(raw, blockBytes(t, typed)) {
		t.Fatalf("getBlock as bytes = %x, %v; want the serialization of GetBlock's block, %x", raw, err, blockBytes(t, typed))
	}
	header, err := tmpl.GetBlockHeaderBytes(ctx)
	if err != nil || !bytes.Equal(header, raw[:wire.MaxBlockHeaderPayload]) {
		t.Fatalf("getBlockHeader as bytes = %x, %v; want the block's first 80 bytes", header, err)
	}

	// Undeserializable block and coinbase bytes get Core's texts. (At
	// heights up to 16 a coinbase needs extra scriptSig bytes.)
	extraNonce := []byte{0xaa, 0xbb, 0xcc, 0xdd}
	block := candidateBlock(t, ctx, tmpl, extraNonce)
	solve(t, block)
	data := blockBytes(t, block)
	for _, bad := range [][]byte{{}, {0}, data[:len(data)-1], data[:wire.MaxBlockHeaderPayload+1]} {
		_, _, _, err := c.mining.SubmitBlockBytes(ctx, bad)
		wantStdException(t, "submitBlock(undeserializable)", err, spanEndOfData)
		_, _, _, err = c.mining.CheckBlockBytes(ctx, bad, v32.DefaultBlockCheckOptions())
		wantStdException(t, "checkBlock(undeserializable)", err, spanEndOfData)
	}
	coinbase, err := domain.TxBytes(block.Transactions[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{{0}, coinbase[:len(coinbase)-1]} {
		_, _, _, err := tmpl.SubmitSolutionBytes(ctx, uint32(block.Header.Version), uint32(block.Header.Timestamp.Unix()), block.Header.Nonce, bad)
		wantStdException(t, "submitSolution(undeserializable coinbase)", err, spanEndOfData)
	}

	// A nil block goes out as a null pointer, which Core decodes as a
	// default block: refused as any invalid block is, not thrown.
	// submitBlock runs ProcessNewBlock, whose CheckBlock fails the null
	// nBits; checkBlock's TestBlockValidity first finds that the null
	// parent is not the tip.
	ok, reason, debug, err := c.mining.SubmitBlock(ctx, nil)
	want(t, "submitBlock(nil)", ok, reason, debug, err, submitResult{false, "high-hash", "proof of work failed"})
	ok, reason, debug, err = c.mining.SubmitBlockBytes(ctx, nil)
	want(t, "submitBlock(nil bytes)", ok, reason, debug, err, submitResult{false, "high-hash", "proof of work failed"})
	ok, reason, debug, err = c.mining.CheckBlock(ctx, nil, v32.DefaultBlockCheckOptions())
	want(t, "checkBlock(nil)", ok, reason, debug, err, submitResult{false, "inconclusive-not-best-prevblk", ""})
	ok, reason, debug, err = c.mining.CheckBlockBytes(ctx, nil, v32.DefaultBlockCheckOptions())
	want(t, "checkBlock(nil bytes)", ok, reason, debug, err, submitResult{false, "inconclusive-not-best-prevblk", ""})

	// Valid bytes are processed: check and submit the solved block.
	ok, reason, debug, err = c.mining.CheckBlockBytes(ctx, data, v32.DefaultBlockCheckOptions())
	want(t, "checkBlock(bytes)", ok, reason, debug, err, submitResult{true, "", ""})
	ok, reason, debug, err = c.mining.SubmitBlockBytes(ctx, data)
	want(t, "submitBlock(bytes)", ok, reason, debug, err, submitResult{true, "", ""})
	if tip, err := c.mining.GetTip(ctx); err != nil || tip == nil || tip.Hash != block.BlockHash() {
		t.Fatalf("tip after submitBlock(bytes) = %v, %v; want %s", tip.Hash, err, block.BlockHash())
	}

	// And a coinbase as bytes completes a template.
	tmpl2 := newTemplate(t, ctx, c, v32.DefaultBlockCreateOptions())
	block2 := candidateBlock(t, ctx, tmpl2, extraNonce)
	solve(t, block2)
	coinbase2, err := domain.TxBytes(block2.Transactions[0])
	if err != nil {
		t.Fatal(err)
	}
	ok, reason, debug, err = tmpl2.SubmitSolutionBytes(ctx, uint32(block2.Header.Version), uint32(block2.Header.Timestamp.Unix()), block2.Header.Nonce, coinbase2)
	want(t, "submitSolution(bytes)", ok, reason, debug, err, submitResult{true, "", ""})
	if tip, err := c.mining.GetTip(ctx); err != nil || tip == nil || tip.Hash != block2.BlockHash() {
		t.Fatalf("tip after submitSolution(bytes) = %v, %v; want %s", tip.Hash, err, block2.BlockHash())
	}
}
