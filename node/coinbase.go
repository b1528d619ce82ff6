package node

import (
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// coinbaseFromDummy reads a v30 template's coinbase constraints from its
// dummy coinbase transaction and witness commitment script (empty: none).
func coinbaseFromDummy(tx *wire.MsgTx, commitment []byte) (*CoinbaseTx, error) {
	if tx == nil || len(tx.TxIn) != 1 {
		return nil, errors.New("node: v30 getCoinbaseTx: not a coinbase transaction")
	}
	in := tx.TxIn[0]
	prefix, err := firstPush(in.SignatureScript)
	if err != nil {
		return nil, fmt.Errorf("node: v30 getCoinbaseTx: scriptSig %x: %w", in.SignatureScript, err)
	}
	c := &CoinbaseTx{
		Version:         uint32(tx.Version),
		Sequence:        in.Sequence,
		ScriptSigPrefix: prefix,
		LockTime:        tx.LockTime,
		RequiredOutputs: []*wire.TxOut{},
	}
	if len(in.Witness) > 0 {
		c.Witness = append([]byte(nil), in.Witness[0]...)
	}
	for _, o := range tx.TxOut {
		c.BlockRewardRemaining += btcutil.Amount(o.Value)
	}
	if len(commitment) > 0 {
		c.RequiredOutputs = append(c.RequiredOutputs, wire.NewTxOut(0, append([]byte(nil), commitment...)))
	}
	return c, nil
}

// firstPush returns the bytes of a script's first operation: the BIP34
// height push that starts a coinbase scriptSig.
func firstPush(script []byte) ([]byte, error) {
	tok := txscript.MakeScriptTokenizer(0, script)
	if !tok.Next() {
		if err := tok.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("empty script")
	}
	return append([]byte(nil), script[:tok.ByteIndex()]...), nil
}
