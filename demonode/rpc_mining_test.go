package demonode

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode/chain"
)

// rpcNode is a demo node driven through ExecuteRPC only.
func rpcNode(t *testing.T, o Options) *coreNode {
	t.Helper()
	n, err := NewWithOptions(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Chain().Close)
	return &coreNode{n: n}
}

func wantRPCError(t *testing.T, c *coreNode, code int, msg, method string, params ...any) {
	t.Helper()
	res, rerr := c.rpcCall(t, method, params...)
	if rerr == nil || rerr.Code != code || rerr.Message != msg {
		t.Fatalf("%s%v = %s, %v; want error %d %q", method, params, res, rerr, code, msg)
	}
}

// newBlock builds and solves a block on the tip from a template, paying to
// OP_TRUE.
func newBlock(t *testing.T, c *coreNode) *wire.MsgBlock {
	t.Helper()
	tmpl, err := c.n.Chain().CreateTemplate(chain.DefaultTemplateOptions())
	if err != nil {
		t.Fatal(err)
	}
	b := tmpl.Block()
	b.Transactions[0] = chain.BuildCoinbase(tmpl.CoinbaseTx(), []byte{0x51}, []byte{1})
	setMerkleRoot(b)
	solve(t, b)
	return b
}

func TestRPCSendRawTransaction(t *testing.T) {
	c := rpcNode(t, DefaultOptions())
	w := newWallet(t, c)
	wantRPCError(t, c, -22, "TX decode failed. Make sure the tx has at least one input.", "sendrawtransaction", "zz")
	wantRPCError(t, c, -3, "JSON value of type number is not of expected type string", "sendrawtransaction", 1)

	unknown := wire.NewMsgTx(2)
	unknown.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: [32]byte{1}}, nil, nil))
	unknown.AddTxOut(wire.NewTxOut(1000, []byte{0x51}))
	wantRPCError(t, c, -25, "bad-txns-inputs-missingorspent", "sendrawtransaction", txHex(t, unknown))

	// The coinbase of the tip is one confirmation deep.
	var tip string
	c.rpcOK(t, &tip, "getbestblockhash")
	var blk struct {
		Tx []string `json:"tx"`
	}
	c.rpcOK(t, &blk, "getblock", tip, 1)
	immature := wire.NewMsgTx(2)
	immature.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: mustHash(t, blk.Tx[0])}, nil, nil))
	immature.AddTxOut(wire.NewTxOut(1000, []byte{0x51}))
	wantRPCError(t, c, -26, "bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth 1", "sendrawtransaction", txHex(t, immature))

	over := w.spend(0, 0)
	over.TxOut[0].Value = 60 * btcutil.SatoshiPerBitcoin
	wantRPCError(t, c, -26, "bad-txns-in-belowout, value in (50.00) < value out (60.00)", "sendrawtransaction", txHex(t, over))

	w = newWallet(t, c)
	greedy := w.spend(0, 20_000) // 0.2 BTC/kvB, above the 0.10 default
	wantRPCError(t, c, -25, "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)", "sendrawtransaction", txHex(t, greedy))
	var txid string
	c.rpcOK(t, &txid, "sendrawtransaction", txHex(t, greedy), 0)
	if txid != greedy.TxHash().String() {
		t.Fatalf("maxfeerate 0: %s", txid)
	}
	c.rpcOK(t, &txid, "sendrawtransaction", txHex(t, greedy)) // already in the mempool: accepted again
	if txid != greedy.TxHash().String() {
		t.Fatalf("resend: %s", txid)
	}

	// getrawmempool and getmempoolinfo, with Core's amounts (8 decimals).
	var pool []string
	c.rpcOK(t, &pool, "getrawmempool")
	if len(pool) != 1 || pool[0] != txid {
		t.Fatalf("getrawmempool = %v", pool)
	}
	vsize := int64(greedy.SerializeSize())
	fee := btcutil.Amount(20_000 * vsize)
	feeJSON := regexp.MustCompile(`^\d+\.\d{8}$`) // ValueFromAmount: always 8 decimals
	res, _ := c.rpcCall(t, "getrawmempool", true)
	var verbose map[string]struct {
		VSize int64 `json:"vsize"`
		Fees  struct {
			Base json.Number `json:"base"`
		} `json:"fees"`
	}
	if err := json.Unmarshal(res, &verbose); err != nil {
		t.Fatal(err)
	}
	if e := verbose[txid]; e.VSize != vsize || !feeJSON.MatchString(string(e.Fees.Base)) || e.Fees.Base.String() != fmt.Sprintf("%.8f", fee.ToBTC()) {
		t.Fatalf("getrawmempool verbose = %s", res)
	}
	res, _ = c.rpcCall(t, "getmempoolinfo")
	var info map[string]json.RawMessage
	if err := json.Unmarshal(res, &info); err != nil {
		t.Fatal(err)
	}
	if string(info["size"]) != "1" || string(info["loaded"]) != "true" || string(info["bytes"]) != fmt.Sprint(vsize) ||
		!feeJSON.MatchString(string(info["total_fee"])) || string(info["total_fee"]) != fmt.Sprintf("%.8f", fee.ToBTC()) {
		t.Fatalf("getmempoolinfo = %s", res)
	}

	// Once mined, the outputs are in the UTXO set.
	c.generate(t, 1)
	wantRPCError(t, c, -27, "Transaction outputs already in utxo set", "sendrawtransaction", txHex(t, greedy))
}

func TestRPCGetBlock(t *testing.T) {
	c := rpcNode(t, DefaultOptions())
	hashes := c.generate(t, 2)
	wantRPCError(t, c, -8, "blockhash must be of length 64 (not 2, for 'zz')", "getblock", "zz")
	bad := strings.Repeat("z", 64)
	wantRPCError(t, c, -8, "blockhash must be hexadecimal string (not '"+bad+"')", "getblock", bad)
	wantRPCError(t, c, -5, "Block not found", "getblock", strings.Repeat("0", 64))

	b, _ := c.n.Chain().BlockByHash(mustHash(t, hashes[0]))
	if got := c.blockHex(t, hashes[0]); got != hex.EncodeToString(blockBytes(t, b)) {
		t.Fatal("getblock verbosity 0 is not the serialized block")
	}
	var v1 map[string]any
	c.rpcOK(t, &v1, "getblock", hashes[0], 1)
	if v1["hash"] != hashes[0] || v1["height"] != 1.0 || v1["confirmations"] != 2.0 || v1["nTx"] != 1.0 ||
		v1["nextblockhash"] != hashes[1] || v1["weight"] != float64(blockWeight(b)) || len(v1["tx"].([]any)) != 1 {
		t.Fatalf("getblock verbosity 1 = %v", v1)
	}
	// A valid block on a parent that is no longer the tip: submitblock
	// answers "inconclusive", and getblock shows it off the active chain.
	stale := newBlock(t, c)
	c.generate(t, 1)
	var res any
	c.rpcOK(t, &res, "submitblock", hex.EncodeToString(blockBytes(t, stale)))
	if res != "inconclusive" {
		t.Fatalf("submitblock(stale) = %v", res)
	}
	var sv map[string]any
	c.rpcOK(t, &sv, "getblock", stale.BlockHash().String(), true)
	if _, has := sv["nextblockhash"]; has || sv["confirmations"] != -1.0 || sv["height"] != 3.0 || sv["previousblockhash"] != hashes[1] {
		t.Fatalf("getblock(stale) = %v", sv)
	}

	var hdr map[string]any
	c.rpcOK(t, &hdr, "getblockheader", hashes[1])
	if hdr["nextblockhash"] == nil || hdr["previousblockhash"] != hashes[0] || hdr["mediantime"] == nil || hdr["confirmations"] != 2.0 {
		t.Fatalf("getblockheader = %v", hdr)
	}
}

func TestRPCSubmitBlockAndHeader(t *testing.T) {
	c := rpcNode(t, DefaultOptions())
	c.generate(t, 1)
	wantRPCError(t, c, -22, "Block decode failed", "submitblock", "zz")
	wantRPCError(t, c, -22, "Block header decode failed", "submitheader", "zz")

	b := newBlock(t, c)
	noCoinbase := b.Copy()
	noCoinbase.Transactions = nil
	wantRPCError(t, c, -22, "Block does not start with a coinbase", "submitblock", hex.EncodeToString(blockBytes(t, noCoinbase)))

	// Unlike the IPC submitBlock, submitblock adds the coinbase witness.
	stripped := b.Copy()
	stripped.Transactions[0].TxIn[0].Witness = nil
	var res any
	c.rpcOK(t, &res, "submitblock", hex.EncodeToString(blockBytes(t, stripped)))
	if res != nil {
		t.Fatalf("submitblock = %v, want null", res)
	}
	c.rpcOK(t, &res, "submitblock", hex.EncodeToString(blockBytes(t, b)))
	if res != "duplicate" {
		t.Fatalf("submitblock again = %v, want duplicate", res)
	}

	hdr := b.Header
	hdrHex := func(h wire.BlockHeader) string {
		var buf bytes.Buffer
		if err := h.Serialize(&buf); err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(buf.Bytes())
	}
	c.rpcOK(t, &res, "submitheader", hdrHex(hdr))
	if res != nil {
		t.Fatalf("submitheader(known) = %v", res)
	}
	orphan := hdr
	orphan.PrevBlock = [32]byte{7}
	wantRPCError(t, c, -25, "Must submit previous header ("+orphan.PrevBlock.String()+") first", "submitheader", hdrHex(orphan))
	next := newBlock(t, c).Header
	for chain.CheckProofOfWork(next.BlockHash(), next.Bits) {
		next.Nonce++
	}
	wantRPCError(t, c, -25, "high-hash", "submitheader", hdrHex(next))
}

func TestRPCGenerateToAddress(t *testing.T) {
	c := rpcNode(t, DefaultOptions())
	wantRPCError(t, c, -5, "Error: Invalid address", "generatetoaddress", 1, "nonsense")
	mainnet := "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
	wantRPCError(t, c, -5, "Error: Invalid address", "generatetoaddress", 1, mainnet)
	addr, err := btcutil.NewAddressWitnessPubKeyHash(make([]byte, 20), &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	var hashes []string
	c.rpcOK(t, &hashes, "generatetoaddress", 1, addr.EncodeAddress())
	b, _ := c.n.Chain().BlockByHash(mustHash(t, hashes[0]))
	script, _ := txscript.PayToAddrScript(addr)
	if len(hashes) != 1 || hex.EncodeToString(b.Transactions[0].TxOut[0].PkScript) != hex.EncodeToString(script) {
		t.Fatalf("generatetoaddress: %v", hashes)
	}
}
