package chain

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

func TestGenesis(t *testing.T) {
	c := New()
	hash, height := c.Tip()
	const want = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
	if hash.String() != want || height != 0 {
		t.Fatalf("tip = %s/%d, want %s/0", hash, height, want)
	}
	if c.Height() != 0 || !c.IsTestChain() || c.IsInitialBlockDownload() {
		t.Fatal("unexpected Height/IsTestChain/IsInitialBlockDownload")
	}
	if h, ok := c.HashAtHeight(0); !ok || h != hash {
		t.Fatal("HashAtHeight(0)")
	}
	if _, ok := c.HashAtHeight(1); ok {
		t.Fatal("HashAtHeight(1) should not exist")
	}
	b, ok := c.BlockByHash(hash)
	if !ok || b.BlockHash() != hash || len(b.Transactions) != 1 {
		t.Fatal("BlockByHash(genesis)")
	}
	hdr, ok := c.HeaderByHash(hash)
	if !ok || hdr.BlockHash() != hash || hdr.Bits != RegtestBits {
		t.Fatal("HeaderByHash(genesis)")
	}
	info := c.BlockchainInfo()
	if info.Chain != "regtest" || info.Blocks != 0 || info.Headers != 0 || info.BestBlockHash != want {
		t.Fatalf("BlockchainInfo = %+v", info)
	}
	if info.Difficulty != 4.656542373906925e-10 || CalcDifficulty(RegtestBits) != 4.6565423739069247e-10 {
		t.Fatalf("difficulty = %v", info.Difficulty)
	}
	if js, _ := json.Marshal(info); !bytes.Contains(js, []byte(`"difficulty":4.656542373906925e-10,`)) {
		t.Fatalf("JSON %s", js)
	}
	if info.MedianTime != 1296688602 || info.Time != 1296688602 {
		t.Fatalf("times = %d/%d", info.MedianTime, info.Time)
	}
	if info.ChainWork != "0000000000000000000000000000000000000000000000000000000000000002" {
		t.Fatalf("chainwork = %s", info.ChainWork)
	}
}

func TestHeightScript(t *testing.T) {
	tests := []struct {
		height int32
		want   string
	}{
		{1, "51"}, {2, "52"}, {16, "60"}, {17, "0111"}, {127, "017f"}, {128, "028000"},
		{255, "02ff00"}, {256, "020001"}, {32767, "02ff7f"}, {32768, "03008000"}, {65536, "03000001"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(HeightScript(tt.height)); got != tt.want {
			t.Errorf("HeightScript(%d) = %s, want %s", tt.height, got, tt.want)
		}
	}
}

func TestBlockSubsidy(t *testing.T) {
	tests := []struct {
		height int32
		want   int64
	}{{0, 50e8}, {149, 50e8}, {150, 25e8}, {299, 25e8}, {300, 1_250_000_000}, {150 * 64, 0}}
	for _, tt := range tests {
		if got := BlockSubsidy(tt.height); got != tt.want {
			t.Errorf("BlockSubsidy(%d) = %d, want %d", tt.height, got, tt.want)
		}
	}
}

func TestTimeoutFromMillis(t *testing.T) {
	tests := []struct {
		ms   float64
		want time.Duration
	}{
		{math.MaxFloat64, 0}, {math.Inf(1), 0}, {math.NaN(), 0}, {0, time.Nanosecond},
		{-5, time.Nanosecond}, {1000, time.Second}, {1.5, 1500 * time.Microsecond},
	}
	for _, tt := range tests {
		if got := TimeoutFromMillis(tt.ms); got != tt.want {
			t.Errorf("TimeoutFromMillis(%v) = %v, want %v", tt.ms, got, tt.want)
		}
	}
}

func TestSolve(t *testing.T) {
	hdr := wire.BlockHeader{Version: BlockVersion, Bits: RegtestBits, Timestamp: testNow}
	if !Solve(&hdr, 0) || !CheckProofOfWork(hdr.BlockHash(), hdr.Bits) {
		t.Fatal("regtest header not solved")
	}
	hard := wire.BlockHeader{Bits: 0x1d00ffff, Timestamp: testNow}
	if Solve(&hard, 10) {
		t.Fatal("mainnet difficulty solved in 10 tries")
	}
	if hard.Nonce != 10 {
		t.Fatalf("nonce after 10 tries = %d", hard.Nonce)
	}
	above := wire.BlockHeader{Bits: 0x2100ffff}
	if Solve(&above, 5) {
		t.Fatal("bits above the pow limit must never solve")
	}
}

// TestMineLowHeights mirrors Core's low-height test: mine blocks 1 to 20
// from genesis through CreateTemplate, BuildCoinbase, Solve and
// SubmitSolution.
func TestMineLowHeights(t *testing.T) {
	c := New()
	for height := int32(1); height <= 20; height++ {
		tmpl := mustTemplate(t, c, DefaultTemplateOptions())
		if tmpl.Height() != height {
			t.Fatalf("template height %d, want %d", tmpl.Height(), height)
		}
		cbInfo := tmpl.CoinbaseTx()
		if !bytes.Equal(cbInfo.ScriptSigPrefix, HeightScript(height)) {
			t.Fatalf("height %d: prefix %x", height, cbInfo.ScriptSigPrefix)
		}
		if height <= 16 && len(cbInfo.ScriptSigPrefix) != 1 {
			t.Fatalf("height %d: prefix must be one opcode", height)
		}
		if cbInfo.Version != 2 || cbInfo.Sequence != 0xfffffffe || cbInfo.LockTime != uint32(height-1) ||
			cbInfo.BlockRewardRemaining != 50e8 || !bytes.Equal(cbInfo.Witness, make([]byte, 32)) ||
			len(cbInfo.RequiredOutputs) != 1 ||
			!bytes.HasPrefix(cbInfo.RequiredOutputs[0].PkScript, []byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}) ||
			len(cbInfo.RequiredOutputs[0].PkScript) != 38 {
			t.Fatalf("height %d: CoinbaseTx = %+v", height, cbInfo)
		}
		// The dummy coinbase pads heights <= 16 with OP_0.
		dummy := tmpl.Block().Transactions[0]
		wantSig := HeightScript(height)
		if height <= 16 {
			wantSig = append(wantSig, 0x00)
		}
		if !bytes.Equal(dummy.TxIn[0].SignatureScript, wantSig) {
			t.Fatalf("height %d: dummy scriptSig %x", height, dummy.TxIn[0].SignatureScript)
		}

		cb, hdr := solveTemplate(t, tmpl, testExtraNonce)
		if ok, reason, debug := c.SubmitSolution(tmpl, uint32(hdr.Version), uint32(hdr.Timestamp.Unix()), hdr.Nonce, cb); !ok {
			t.Fatalf("height %d: SubmitSolution: %s %s", height, reason, debug)
		}
		hash, tipHeight := c.Tip()
		if tipHeight != height || hash != hdr.BlockHash() {
			t.Fatalf("tip %s/%d after height %d", hash, tipHeight, height)
		}
		b, _ := c.BlockByHash(hash)
		if err := blockchain.CheckBlockSanity(btcutil.NewBlock(b), chaincfg.RegressionNetParams.PowLimit, blockchain.NewMedianTime()); err != nil {
			t.Fatalf("height %d: btcd CheckBlockSanity: %v", height, err)
		}
		if err := blockchain.ValidateWitnessCommitment(btcutil.NewBlock(b)); err != nil {
			t.Fatalf("height %d: btcd ValidateWitnessCommitment: %v", height, err)
		}
	}
}

func TestCoinbaseMerklePath(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17} {
		c := New()
		for i := 0; i < n; i++ {
			if err := c.AddTx(NewDummyTx(uint64(i), i%2 == 0)); err != nil {
				t.Fatal(err)
			}
		}
		tmpl := mustTemplate(t, c, DefaultTemplateOptions())
		block := tmpl.Block()
		if len(block.Transactions) != n+1 {
			t.Fatalf("n=%d: %d txs in template", n, len(block.Transactions))
		}
		path := tmpl.CoinbaseMerklePath()
		wantLen := 0
		for 1<<wantLen < n+1 {
			wantLen++
		}
		if len(path) != wantLen {
			t.Fatalf("n=%d: path length %d, want %d", n, len(path), wantLen)
		}
		root := MerkleRootFromPath(block.Transactions[0].TxHash(), path)
		btcdRoot := blockchain.CalcMerkleRoot(btcutil.NewBlock(block).Transactions(), false)
		if root != block.Header.MerkleRoot || root != btcdRoot {
			t.Fatalf("n=%d: path root %s, header %s, btcd %s", n, root, block.Header.MerkleRoot, btcdRoot)
		}
		// A miner's own coinbase: the path still gives the right root.
		cb := BuildCoinbase(tmpl.CoinbaseTx(), []byte{0x51}, []byte("miner"))
		block.Transactions[0] = cb
		want, _ := merkleRoot(txids(block))
		if got := MerkleRootFromPath(cb.TxHash(), path); got != want {
			t.Fatalf("n=%d: miner root %s, want %s", n, got, want)
		}
	}
}

func TestCreateTemplateOptionErrors(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*TemplateOptions)
		wantErr string
	}{
		{"defaults", func(*TemplateOptions) {}, ""},
		{"reserved zero", func(o *TemplateOptions) { o.BlockReservedWeight = 0 },
			"block_reserved_weight (0) is lower than minimum safety value of (2000)"},
		{"reserved 1999", func(o *TemplateOptions) { o.BlockReservedWeight = 1999 },
			"block_reserved_weight (1999) is lower than minimum safety value of (2000)"},
		{"reserved minimum", func(o *TemplateOptions) { o.BlockReservedWeight = 2000 }, ""},
		{"reserved maximum", func(o *TemplateOptions) { o.BlockReservedWeight = 4_000_000 }, ""},
		{"reserved too high", func(o *TemplateOptions) { o.BlockReservedWeight = 4_000_001 },
			"block_reserved_weight (4000001) exceeds consensus maximum block weight (4000000)"},
		{"sigops maximum", func(o *TemplateOptions) { o.CoinbaseOutputMaxAdditionalSigops = 80_000 }, ""},
		{"sigops too high", func(o *TemplateOptions) { o.CoinbaseOutputMaxAdditionalSigops = 80_001 },
			"coinbase_output_max_additional_sigops (80001) exceeds consensus maximum block sigops cost (80000)"},
		{"max weight too high", func(o *TemplateOptions) { o.MaxWeight = 4_000_001 },
			"Specified -blockmaxweight (4000001) exceeds consensus maximum block weight (4000000)"},
	}
	c := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultTemplateOptions()
			tt.mod(&opts)
			tmpl, err := c.CreateTemplate(opts)
			if tt.wantErr == "" {
				if err != nil || tmpl == nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestTemplateInspectors(t *testing.T) {
	c := New(fixedClock())
	tmpl := mustTemplate(t, c, DefaultTemplateOptions())
	genesis, _ := c.Tip()
	hdr := tmpl.Header()
	var buf bytes.Buffer
	if err := hdr.Serialize(&buf); err != nil || buf.Len() != 80 {
		t.Fatalf("header serialization: %v (%d bytes)", err, buf.Len())
	}
	if hdr.PrevBlock != genesis || hdr.Bits != RegtestBits || hdr.Version != BlockVersion ||
		hdr.Timestamp.Unix() != testNow.Unix() || tmpl.PrevHash() != genesis {
		t.Fatalf("header = %+v", hdr)
	}
	if len(tmpl.TxFees()) != 0 || len(tmpl.TxSigops()) != 0 || len(tmpl.Block().Transactions) != 1 {
		t.Fatal("empty mempool must give an empty template")
	}
	// Core checks templates with TestBlockValidity(check_pow=false).
	if ok, reason, debug := c.CheckBlock(tmpl.Block(), true, false); !ok {
		t.Fatalf("template fails CheckBlock: %s %s", reason, debug)
	}
	if err := blockchain.ValidateWitnessCommitment(btcutil.NewBlock(tmpl.Block())); err != nil {
		t.Fatal(err)
	}
}

// TestSegwitTemplate fills the mempool with segwit and legacy transactions
// and checks the template with btcd's own validation.
func TestSegwitTemplate(t *testing.T) {
	c := New()
	var ids, wids []chainhash.Hash
	for i := 0; i < 6; i++ {
		tx := NewDummyTx(uint64(100+i), i%2 == 0)
		if err := c.AddTxWithFee(tx, btcutil.Amount(1000*(i+1)), -1); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tx.TxHash())
		wids = append(wids, tx.WitnessHash())
		if (i%2 == 0) == (tx.TxHash() == tx.WitnessHash()) {
			t.Fatalf("tx %d: segwit=%v but txid==wtxid is %v", i, i%2 == 0, tx.TxHash() == tx.WitnessHash())
		}
	}
	for i := range ids {
		if c.TxByID(ids[i]) == nil || c.TxByWitnessID(wids[i]) == nil {
			t.Fatalf("tx %d not found in mempool", i)
		}
	}
	tmpl := mustTemplate(t, c, DefaultTemplateOptions())
	fees := tmpl.TxFees()
	if len(fees) != 6 || len(tmpl.TxSigops()) != 6 {
		t.Fatalf("fees %v", fees)
	}
	var total int64
	for _, f := range fees {
		total += f
	}
	if total != 21000 || tmpl.TotalFees() != total || tmpl.CoinbaseTx().BlockRewardRemaining != 50e8+total {
		t.Fatalf("total fees %d, reward %d", total, tmpl.CoinbaseTx().BlockRewardRemaining)
	}
	block := tmpl.Block()
	if err := blockchain.ValidateWitnessCommitment(btcutil.NewBlock(block)); err != nil {
		t.Fatalf("template witness commitment: %v", err)
	}
	full := candidateBlock(t, tmpl)
	if err := blockchain.ValidateWitnessCommitment(btcutil.NewBlock(full)); err != nil {
		t.Fatalf("mined witness commitment: %v", err)
	}
	if err := blockchain.CheckBlockSanity(btcutil.NewBlock(full), chaincfg.RegressionNetParams.PowLimit, blockchain.NewMedianTime()); err != nil {
		t.Fatalf("btcd CheckBlockSanity: %v", err)
	}
	if ok, reason, debug := c.SubmitBlock(full); !ok {
		t.Fatalf("SubmitBlock: %s %s", reason, debug)
	}
	if n, _ := c.MempoolSize(); n != 0 {
		t.Fatalf("%d txs left in mempool", n)
	}
	for i := range ids {
		if c.TxByID(ids[i]) != nil || c.TxByWitnessID(wids[i]) != nil {
			t.Fatalf("mined tx %d still returned", i)
		}
	}
	mined, _ := c.BlockByHash(full.BlockHash())
	if mined.Transactions[0].TxOut[0].Value != 50e8+21000 {
		t.Fatalf("coinbase value %d", mined.Transactions[0].TxOut[0].Value)
	}
}

func TestMempool(t *testing.T) {
	c := New()
	tx := NewDummyTx(1, false)
	if err := c.AddTx(tx); err != nil {
		t.Fatal(err)
	}
	conflict := tx.Copy()
	conflict.TxOut[0].Value--
	noOutputs := NewDummyTx(2, false)
	noOutputs.TxOut = nil
	coinbase := BuildCoinbase(mustTemplate(t, c, DefaultTemplateOptions()).CoinbaseTx(), opTrue, testExtraNonce)
	tests := []struct {
		name   string
		tx     *wire.MsgTx
		reason string
	}{
		{"duplicate", tx, "txn-already-in-mempool"},
		{"conflict", conflict, "txn-mempool-conflict"},
		{"coinbase", coinbase, "coinbase"},
		{"no outputs", noOutputs, "bad-txns-vout-empty"},
		{"nil", nil, "bad-txns-null"},
	}
	for _, tt := range tests {
		err := c.AddTx(tt.tx)
		rej, ok := err.(*RejectError)
		if !ok || rej.Reason != tt.reason {
			t.Errorf("%s: error %v, want %s", tt.name, err, tt.reason)
		}
	}
	if err := c.AddTxWithFee(NewDummyTx(3, false), -1, 0); err == nil {
		t.Error("negative fee accepted")
	}

	// Children come after their parents even when they pay more.
	parent := NewDummyTx(10, true)
	child := NewDummyTx(11, false)
	child.TxIn[0].PreviousOutPoint = wire.OutPoint{Hash: parent.TxHash(), Index: 0}
	if err := c.AddTxWithFee(parent, 200, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.AddTxWithFee(child, 100_000, 0); err != nil {
		t.Fatal(err)
	}
	order := tmplTxids(mustTemplate(t, c, DefaultTemplateOptions()))
	if indexOf(order, parent.TxHash()) > indexOf(order, child.TxHash()) || indexOf(order, parent.TxHash()) < 0 {
		t.Fatalf("parent after child: %v", order)
	}

	// A block spending the same outpoint as the parent evicts it and its
	// child.
	if _, err := c.GenerateToScript(1, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.AddTx(tx); err == nil || err.(*RejectError).Reason != "txn-already-known" {
		t.Fatalf("re-adding a mined tx: %v", err)
	}
	p2 := NewDummyTx(20, false)
	c2 := NewDummyTx(21, false)
	c2.TxIn[0].PreviousOutPoint = wire.OutPoint{Hash: p2.TxHash(), Index: 0}
	if err := c.AddTx(p2); err != nil {
		t.Fatal(err)
	}
	if err := c.AddTx(c2); err != nil {
		t.Fatal(err)
	}
	rival := p2.Copy()
	rival.TxOut[0].Value -= 5
	b := candidateBlock(t, mustTemplate(t, c, TemplateOptions{BlockReservedWeight: 8000}))
	b.Transactions = append(b.Transactions, rival)
	recommit(t, b)
	if ok, reason, debug := c.SubmitBlock(b); !ok {
		t.Fatalf("SubmitBlock: %s %s", reason, debug)
	}
	if c.TxByID(p2.TxHash()) != nil || c.TxByID(c2.TxHash()) != nil {
		t.Fatal("conflicting tx or its child still in mempool")
	}
}

func tmplTxids(tmpl *Template) []chainhash.Hash {
	b := tmpl.Block()
	return txids(b)[1:]
}

func indexOf(list []chainhash.Hash, h chainhash.Hash) int {
	for i := range list {
		if list[i] == h {
			return i
		}
	}
	return -1
}

func TestTemplateLimits(t *testing.T) {
	c := New()
	c.FillMempool(60_000)
	n, size := c.MempoolSize()
	if size < 60_000 || size > 61_000 || n == 0 {
		t.Fatalf("FillMempool(60000): %d txs, %d bytes", n, size)
	}
	t.Run("max weight", func(t *testing.T) {
		opts := DefaultTemplateOptions()
		opts.MaxWeight = 40_000
		tmpl := mustTemplate(t, c, opts)
		full := candidateBlock(t, tmpl)
		if w := blockWeight(full); w > 40_000 || len(full.Transactions) < 10 {
			t.Fatalf("weight %d with %d txs", w, len(full.Transactions))
		}
	})
	t.Run("reserved weight", func(t *testing.T) {
		opts := DefaultTemplateOptions()
		opts.BlockReservedWeight = MaxBlockWeight
		if got := len(mustTemplate(t, c, opts).Block().Transactions); got != 1 {
			t.Fatalf("%d txs with all weight reserved", got)
		}
	})
	t.Run("no mempool", func(t *testing.T) {
		opts := DefaultTemplateOptions()
		opts.UseMempool = false
		if got := len(mustTemplate(t, c, opts).Block().Transactions); got != 1 {
			t.Fatalf("%d txs without mempool", got)
		}
	})
	t.Run("fee order", func(t *testing.T) {
		tmpl := mustTemplate(t, c, DefaultTemplateOptions())
		b := tmpl.Block()
		fees := tmpl.TxFees()
		for i := 2; i < len(b.Transactions); i++ {
			if feeRateGreater(fees[i-1], txWeight(b.Transactions[i]), fees[i-2], txWeight(b.Transactions[i-1])) {
				t.Fatalf("tx %d pays a higher rate than tx %d", i, i-1)
			}
		}
	})
	t.Run("block min fee", func(t *testing.T) {
		c := New(WithBlockMinTxFee(2000)) // 2 sat/vB
		low, high := NewDummyTx(1, false), NewDummyTx(2, false)
		if err := c.AddTx(low); err != nil { // 1 sat/vB
			t.Fatal(err)
		}
		if err := c.AddTxWithFee(high, 10_000, -1); err != nil {
			t.Fatal(err)
		}
		ids := tmplTxids(mustTemplate(t, c, DefaultTemplateOptions()))
		if len(ids) != 1 || ids[0] != high.TxHash() {
			t.Fatalf("template txs %v", ids)
		}
	})
	t.Run("full block", func(t *testing.T) {
		c := New()
		c.FillMempool(1_700_000)
		tmpl := mustTemplate(t, c, DefaultTemplateOptions())
		full := candidateBlock(t, tmpl)
		w := blockWeight(full)
		if w > MaxBlockWeight || w < MaxBlockWeight-DefaultBlockReservedWeight-2000 {
			t.Fatalf("full template weight %d", w)
		}
		if ok, reason, debug := c.SubmitBlock(full); !ok {
			t.Fatalf("SubmitBlock: %s %s", reason, debug)
		}
	})
}

func TestGenerateToScript(t *testing.T) {
	c := New(fixedClock())
	tx := NewDummyTx(1, true)
	if err := c.AddTxWithFee(tx, 1234, -1); err != nil {
		t.Fatal(err)
	}
	payTo := []byte{0x00, 0x14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	hashes, err := c.GenerateToScript(20, payTo)
	if err != nil || len(hashes) != 20 {
		t.Fatalf("GenerateToScript: %v (%d hashes)", err, len(hashes))
	}
	if h, height := c.Tip(); h != hashes[19] || height != 20 {
		t.Fatalf("tip %s/%d", h, height)
	}
	first, _ := c.BlockByHash(hashes[0])
	if len(first.Transactions) != 2 || first.Transactions[0].TxOut[0].Value != 50e8+1234 ||
		!bytes.Equal(first.Transactions[0].TxOut[0].PkScript, payTo) {
		t.Fatal("first block must include the mempool tx and pay its fee to payTo")
	}
	// With a frozen clock, timestamps still strictly increase.
	prev := int64(0)
	for i, h := range hashes {
		hdr, _ := c.HeaderByHash(h)
		if ts := hdr.Timestamp.Unix(); ts <= prev {
			t.Fatalf("block %d time %d <= %d", i+1, ts, prev)
		} else {
			prev = ts
		}
	}
	if c.MedianTimePast().Unix() >= prev {
		t.Fatal("MTP must be below the tip time")
	}
	// Halving at height 150.
	if _, err := c.GenerateToScript(129, nil); err != nil {
		t.Fatal(err)
	}
	if got := mustTemplate(t, c, DefaultTemplateOptions()).CoinbaseTx().BlockRewardRemaining; got != 25e8 {
		t.Fatalf("reward at height 150 = %d", got)
	}
	info := c.BlockchainInfo()
	if info.Blocks != 149 || info.ChainWork != "000000000000000000000000000000000000000000000000000000000000012c" {
		t.Fatalf("info %+v", info)
	}
}

func BenchmarkCreateTemplate(b *testing.B) {
	c := New()
	c.FillMempool(1_000_000)
	opts := DefaultTemplateOptions()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.CreateTemplate(opts); err != nil {
			b.Fatal(err)
		}
	}
}
