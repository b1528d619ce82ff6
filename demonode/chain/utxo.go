package chain

import (
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
)

// CoinbaseMaturity is COINBASE_MATURITY: a coinbase output can be spent
// 100 blocks after its own.
const CoinbaseMaturity = 100

// coinTx is an active-chain transaction whose outputs can be spent.
type coinTx struct {
	tx       *wire.MsgTx
	height   int32
	coinbase bool
}

// ErrAlreadyInUTXOSet is AcceptTx's error for a transaction that is
// already confirmed and still has unspent outputs (Core's
// TransactionError::ALREADY_IN_UTXO_SET).
var ErrAlreadyInUTXOSet = errors.New("Transaction outputs already in utxo set")

// ErrMaxFeeExceeded is AcceptTx's error for a fee above the caller's
// limit (Core's TransactionError::MAX_FEE_EXCEEDED).
var ErrMaxFeeExceeded = errors.New("Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)")

// AcceptTx adds tx to the mempool the way Core's sendrawtransaction does,
// with its real fee: every input must spend an unspent output of an
// active-chain transaction (a coinbase output only from
// CoinbaseMaturity blocks on) or of a mempool transaction, and the fee is
// the inputs' value minus the outputs'. Scripts are not checked. A
// transaction that is already in the mempool is accepted again without
// change. maxFeeRate, in satoshis per 1000 virtual bytes, refuses higher
// fee rates with ErrMaxFeeExceeded (0: no limit). Refusals are a
// *RejectError with Core's reason and debug message
// ("bad-txns-inputs-missingorspent", "bad-txns-premature-spend-of-coinbase",
// "bad-txns-in-belowout", "txn-mempool-conflict", ...) or
// ErrAlreadyInUTXOSet.
func (c *Chain) AcceptTx(tx *wire.MsgTx, maxFeeRate int64) (fee btcutil.Amount, err error) {
	if tx == nil {
		return 0, &RejectError{Reason: "bad-txns-null", Debug: "nil transaction"}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	txid := tx.TxHash()
	if e, ok := c.pool.byWtxid[tx.WitnessHash()]; ok {
		return btcutil.Amount(e.fee), nil
	}
	if coin, ok := c.coins[txid]; ok {
		for i := range coin.tx.TxOut {
			if _, spent := c.spent[wire.OutPoint{Hash: txid, Index: uint32(i)}]; !spent {
				return 0, ErrAlreadyInUTXOSet
			}
		}
	}
	if reason := checkTransaction(tx); reason != "" {
		return 0, &RejectError{Reason: reason}
	}
	if isCoinbase(tx) {
		return 0, &RejectError{Reason: "coinbase"}
	}
	if _, ok := c.pool.entries[txid]; ok {
		return 0, &RejectError{Reason: "txn-same-nonwitness-data-in-mempool"}
	}
	_, tipHeight := c.tipLocked()
	var in int64
	for _, ti := range tx.TxIn {
		prev := ti.PreviousOutPoint
		if e, ok := c.pool.entries[prev.Hash]; ok && int(prev.Index) < len(e.tx.TxOut) {
			in += e.tx.TxOut[prev.Index].Value
			continue
		}
		coin, ok := c.coins[prev.Hash]
		if _, spent := c.spent[prev]; !ok || spent || int(prev.Index) >= len(coin.tx.TxOut) {
			return 0, &RejectError{Reason: "bad-txns-inputs-missingorspent"}
		}
		if depth := tipHeight + 1 - coin.height; coin.coinbase && depth < CoinbaseMaturity {
			return 0, &RejectError{Reason: "bad-txns-premature-spend-of-coinbase",
				Debug: fmt.Sprintf("tried to spend coinbase at depth %d", depth)}
		}
		in += coin.tx.TxOut[prev.Index].Value
	}
	var out int64
	for _, o := range tx.TxOut {
		out += o.Value
	}
	if in < out {
		return 0, &RejectError{Reason: "bad-txns-in-belowout",
			Debug: fmt.Sprintf("value in (%s) < value out (%s)", FormatMoney(btcutil.Amount(in)), FormatMoney(btcutil.Amount(out)))}
	}
	fee = btcutil.Amount(in - out)
	vsize := (txWeight(tx) + WitnessScaleFactor - 1) / WitnessScaleFactor
	if maxFeeRate > 0 && int64(fee) > (maxFeeRate*vsize+999)/1000 {
		return 0, ErrMaxFeeExceeded
	}
	if err := c.addTxLocked(tx, int64(fee), -1); err != nil {
		return 0, err
	}
	c.broadcastLocked()
	return fee, nil
}

// FormatMoney writes an amount in BTC as Core's FormatMoney does: eight
// decimals with trailing zeros removed down to two ("0.01", "50.00").
func FormatMoney(a btcutil.Amount) string {
	sign := ""
	v := int64(a)
	if v < 0 {
		sign, v = "-", -v
	}
	s := fmt.Sprintf("%s%d.%08d", sign, v/btcutil.SatoshiPerBitcoin, v%btcutil.SatoshiPerBitcoin)
	for strings.HasSuffix(s, "0") && s[len(s)-3] != '.' {
		s = s[:len(s)-1]
	}
	return s
}
