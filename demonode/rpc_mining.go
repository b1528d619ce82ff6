package demonode

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode/chain"
)

// More of Core's JSON-RPC error codes (rpc/protocol.h).
const (
	rpcDeserializationError   = -22
	rpcVerifyError            = -25
	rpcVerifyRejected         = -26
	rpcVerifyAlreadyInUTXOSet = -27
)

// defaultMaxFeeRate is sendrawtransaction's default maxfeerate, 0.10
// BTC/kvB (DEFAULT_MAX_RAW_TX_FEE_RATE), in satoshis per kvB.
const defaultMaxFeeRate = 10_000_000

// Core's mempool policy defaults that getmempoolinfo reports, in
// satoshis per kvB (DEFAULT_MIN_RELAY_TX_FEE, DEFAULT_INCREMENTAL_RELAY_FEE)
// and bytes (DEFAULT_MAX_MEMPOOL_SIZE_MB).
const (
	minRelayTxFee       = 100
	incrementalRelayFee = 100
	maxMempoolBytes     = 300_000_000
)

// amount writes satoshis as Core's ValueFromAmount does: BTC with exactly
// eight decimals, as a JSON number.
func amount(a btcutil.Amount) json.Number {
	sign := ""
	v := int64(a)
	if v < 0 {
		sign, v = "-", -v
	}
	return json.Number(fmt.Sprintf("%s%d.%08d", sign, v/btcutil.SatoshiPerBitcoin, v%btcutil.SatoshiPerBitcoin))
}

// argString reads a required string argument, with Core's type error.
func argString(raw json.RawMessage, out *string) *rpcError {
	if raw == nil {
		return &rpcError{rpcMiscError, "missing required argument"}
	}
	if json.Unmarshal(raw, out) != nil {
		return &rpcError{rpcTypeError, "JSON value of type " + jsonType(raw) + " is not of expected type string"}
	}
	return nil
}

// argHash reads a hash argument as Core's ParseHashV does.
func argHash(raw json.RawMessage, name string) (chainhash.Hash, *rpcError) {
	var s string
	if err := argString(raw, &s); err != nil {
		return chainhash.Hash{}, err
	}
	if _, err := hex.DecodeString(s); err == nil && len(s) == 2*chainhash.HashSize {
		h, herr := chainhash.NewHashFromStr(s)
		if herr == nil {
			return *h, nil
		}
	}
	if len(s) != 2*chainhash.HashSize {
		return chainhash.Hash{}, &rpcError{rpcInvalidParameter, fmt.Sprintf("%s must be of length %d (not %d, for '%s')", name, 2*chainhash.HashSize, len(s), s)}
	}
	return chainhash.Hash{}, &rpcError{rpcInvalidParameter, fmt.Sprintf("%s must be hexadecimal string (not '%s')", name, s)}
}

// argVerbosity reads an optional verbosity or verbose argument: a number,
// or a boolean meaning 1 or 0, as Core takes them.
func argVerbosity(raw json.RawMessage, def int) (int, *rpcError) {
	if raw == nil || string(raw) == "null" {
		return def, nil
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		if b {
			return 1, nil
		}
		return 0, nil
	}
	var n int
	if json.Unmarshal(raw, &n) != nil {
		return 0, &rpcError{rpcTypeError, "JSON value of type " + jsonType(raw) + " is not of expected type number"}
	}
	return n, nil
}

// decodeHex decodes a hex argument into v (a transaction, block or
// header), refusing trailing bytes as Core's DecodeHex* do.
func decodeHex(s string, v interface{ Deserialize(r io.Reader) error }) bool {
	b, err := hex.DecodeString(s)
	if err != nil {
		return false
	}
	r := bytes.NewReader(b)
	return v.Deserialize(r) == nil && r.Len() == 0
}

func (n *Node) rpcSendRawTransaction(p params) (any, *rpcError) {
	var s string
	if err := argString(p.get(0, "hexstring"), &s); err != nil {
		return nil, err
	}
	maxFeeRate := int64(defaultMaxFeeRate)
	if raw := p.get(1, "maxfeerate"); raw != nil && string(raw) != "null" {
		a, ok := parseMoney(strings.Trim(string(raw), `"`))
		if !ok {
			return nil, &rpcError{rpcTypeError, "Invalid amount"}
		}
		maxFeeRate = int64(a)
	}
	tx := new(wire.MsgTx)
	if !decodeHex(s, tx) || len(tx.TxIn) == 0 {
		return nil, &rpcError{rpcDeserializationError, "TX decode failed. Make sure the tx has at least one input."}
	}
	if _, err := n.chain.AcceptTx(tx, maxFeeRate); err != nil {
		var re *chain.RejectError
		switch {
		case errors.Is(err, chain.ErrAlreadyInUTXOSet):
			return nil, &rpcError{rpcVerifyAlreadyInUTXOSet, err.Error()}
		case errors.Is(err, chain.ErrMaxFeeExceeded):
			return nil, &rpcError{rpcVerifyError, err.Error()}
		case errors.As(err, &re) && re.Reason == "bad-txns-inputs-missingorspent":
			return nil, &rpcError{rpcVerifyError, stateString(re)}
		case errors.As(err, &re):
			return nil, &rpcError{rpcVerifyRejected, stateString(re)}
		}
		return nil, &rpcError{rpcMiscError, err.Error()}
	}
	return tx.TxHash().String(), nil
}

// stateString is Core's ValidationState::ToString: "reason, debug".
func stateString(re *chain.RejectError) string {
	if re.Debug == "" {
		return re.Reason
	}
	return re.Reason + ", " + re.Debug
}

func (n *Node) rpcGetRawMempool(p params) (any, *rpcError) {
	verbose, err := argVerbosity(p.get(0, "verbose"), 0)
	if err != nil {
		return nil, err
	}
	entries := n.chain.MempoolEntries()
	if verbose == 0 {
		out := make([]string, len(entries))
		for i, e := range entries {
			out[i] = e.TxID.String()
		}
		return out, nil
	}
	spentBy := make(map[chainhash.Hash][]string)
	for _, e := range entries {
		for _, d := range e.Depends {
			spentBy[d] = append(spentBy[d], e.TxID.String())
		}
	}
	out := make(map[string]any, len(entries))
	for _, e := range entries {
		deps := make([]string, len(e.Depends))
		for i, d := range e.Depends {
			deps[i] = d.String()
		}
		spent := spentBy[e.TxID]
		if spent == nil {
			spent = []string{}
		}
		out[e.TxID.String()] = map[string]any{
			"vsize":   e.VSize,
			"weight":  e.Weight,
			"time":    e.Time,
			"height":  e.Height,
			"wtxid":   e.WTxID.String(),
			"fees":    map[string]any{"base": amount(e.Fee), "modified": amount(e.Fee)},
			"depends": deps,
			"spentby": spent,
		}
	}
	return out, nil
}

func (n *Node) rpcGetMempoolInfo() (any, *rpcError) {
	entries := n.chain.MempoolEntries()
	var vsize int64
	var fees btcutil.Amount
	for _, e := range entries {
		vsize += e.VSize
		fees += e.Fee
	}
	_, bytesTotal := n.chain.MempoolSize()
	return map[string]any{
		"loaded":              true,
		"size":                len(entries),
		"bytes":               vsize,
		"usage":               bytesTotal,
		"total_fee":           amount(fees),
		"maxmempool":          maxMempoolBytes,
		"mempoolminfee":       amount(minRelayTxFee),
		"minrelaytxfee":       amount(minRelayTxFee),
		"incrementalrelayfee": amount(incrementalRelayFee),
		"unbroadcastcount":    0,
		"fullrbf":             true,
	}, nil
}

func (n *Node) rpcGetBlock(p params) (any, *rpcError) {
	hash, err := argHash(p.get(0, "blockhash"), "blockhash")
	if err != nil {
		return nil, err
	}
	verbosity, err := argVerbosity(p.get(1, "verbosity"), 1)
	if err != nil {
		return nil, err
	}
	info, ok := n.chain.BlockInfo(hash)
	if !ok {
		return nil, &rpcError{rpcBlockNotFoundCode, "Block not found"}
	}
	b := info.Block
	if verbosity <= 0 {
		var buf bytes.Buffer
		if err := b.Serialize(&buf); err != nil {
			return nil, &rpcError{rpcMiscError, err.Error()}
		}
		return hex.EncodeToString(buf.Bytes()), nil
	}
	if verbosity > 1 {
		return nil, &rpcError{rpcInvalidParameter, "the demo node answers getblock verbosity 0 and 1 only"}
	}
	txids := make([]string, len(b.Transactions))
	for i, tx := range b.Transactions {
		txids[i] = tx.TxHash().String()
	}
	out := headerJSON(hash, info)
	out["size"] = b.SerializeSize()
	out["strippedsize"] = b.SerializeSizeStripped()
	out["weight"] = b.SerializeSizeStripped()*(chain.WitnessScaleFactor-1) + b.SerializeSize()
	out["tx"] = txids
	return out, nil
}

// headerJSON is Core's blockheaderToJSON.
func headerJSON(hash chainhash.Hash, info chain.BlockInfo) map[string]any {
	hdr := info.Block.Header
	out := map[string]any{
		"hash":          hash.String(),
		"confirmations": info.Confirmations,
		"height":        info.Height,
		"version":       hdr.Version,
		"versionHex":    fmt.Sprintf("%08x", uint32(hdr.Version)),
		"merkleroot":    hdr.MerkleRoot.String(),
		"time":          hdr.Timestamp.Unix(),
		"mediantime":    info.MedianTime,
		"nonce":         hdr.Nonce,
		"bits":          fmt.Sprintf("%08x", hdr.Bits),
		"target":        fmt.Sprintf("%064x", blockchain.CompactToBig(hdr.Bits)),
		"difficulty":    chain.RPCDouble(chain.CalcDifficulty(hdr.Bits)),
		"chainwork":     fmt.Sprintf("%064x", info.ChainWork),
		"nTx":           len(info.Block.Transactions),
	}
	if info.Height > 0 {
		out["previousblockhash"] = hdr.PrevBlock.String()
	}
	if info.Next != nil {
		out["nextblockhash"] = info.Next.String()
	}
	return out
}

func (n *Node) rpcSubmitBlock(p params) (any, *rpcError) {
	var s string
	if err := argString(p.get(0, "hexdata"), &s); err != nil {
		return nil, err
	}
	b := new(wire.MsgBlock)
	if !decodeHex(s, b) {
		return nil, &rpcError{rpcDeserializationError, "Block decode failed"}
	}
	if len(b.Transactions) == 0 || !blockchain.IsCoinBaseTx(b.Transactions[0]) {
		return nil, &rpcError{rpcDeserializationError, "Block does not start with a coinbase"}
	}
	chain.UpdateUncommittedBlockStructures(b)
	if ok, reason, _ := n.chain.SubmitBlock(b); !ok {
		return reason, nil
	}
	return nil, nil
}

func (n *Node) rpcSubmitHeader(p params) (any, *rpcError) {
	var s string
	if err := argString(p.get(0, "hexdata"), &s); err != nil {
		return nil, err
	}
	var h wire.BlockHeader
	if !decodeHex(s, &h) {
		return nil, &rpcError{rpcDeserializationError, "Block header decode failed"}
	}
	known, reason := n.chain.CheckHeader(&h)
	if !known {
		return nil, &rpcError{rpcVerifyError, fmt.Sprintf("Must submit previous header (%s) first", h.PrevBlock)}
	}
	if reason != "" {
		return nil, &rpcError{rpcVerifyError, reason}
	}
	return nil, nil
}

func (n *Node) rpcGenerateToAddress(p params) (any, *rpcError) {
	var num int32
	if err := argInt(p.get(0, "nblocks"), &num); err != nil {
		return nil, err
	}
	var address string
	if err := argString(p.get(1, "address"), &address); err != nil {
		return nil, err
	}
	addr, err := btcutil.DecodeAddress(address, &chaincfg.RegressionNetParams)
	if err != nil || !addr.IsForNet(&chaincfg.RegressionNetParams) {
		return nil, &rpcError{rpcInvalidAddress, "Error: Invalid address"}
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, &rpcError{rpcInvalidAddress, "Error: Invalid address"}
	}
	return n.generate(int(num), script)
}
