package domain

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// FuzzDomainRoundTrip is the one fuzz target of the decoders the generated
// code applies to data from the peer (transactions, blocks, headers,
// outputs, hashes, JSON, durations). It feeds each the same arbitrary
// input and asserts that none panics, that every error is a *FieldError
// naming the field, and that whatever decodes re-encodes to exactly the
// bytes it came from: a transaction keeps its witness and its wtxid, a
// block every transaction. The one allowed difference is the one the
// encoding itself forces: a segwit marker whose witnesses are all empty
// (which includes every transaction without inputs) is not written back,
// and matchTx checks that nothing but that marker and the empty witness
// counts were dropped.
func FuzzDomainRoundTrip(f *testing.F) {
	txb, _ := TxBytes(sampleTx())
	blk := wire.NewMsgBlock(&wire.BlockHeader{Version: 4, Bits: 0x207fffff})
	blk.AddTransaction(sampleTx())
	bb, _ := BlockBytes(blk)
	hb, _ := HeaderBytes(blk.Header)
	ob, _ := TxOutBytes(wire.NewTxOut(5000, []byte{0x51}))
	for _, b := range [][]byte{nil, txb, bb, hb, ob, make([]byte, 32), {0xfd, 0xff}} {
		f.Add(b, `{"a":[1,2,{"b":null}]}`, 1.5, int64(90))
	}
	bare := sampleTx()
	bare.TxIn[0].Witness = nil
	bareb, _ := TxBytes(bare)
	f.Add(withEmptyWitness(bareb, 1), "", 0.0, int64(0)) // a segwit marker with only empty witnesses
	f.Add([]byte{1, 0, 0, 0, 0, 1}, "", math.MaxFloat64, int64(math.MaxInt64))
	f.Add([]byte{}, "{", math.NaN(), int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, b []byte, s string, ms float64, secs int64) {
		const field = "I.m.f"
		check := func(err error) {
			if err == nil {
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != field {
				t.Fatalf("error %v does not name the field", err)
			}
		}
		if tx, err := Tx(field, b); err != nil {
			check(err)
		} else if tx != nil {
			if n, err := matchTx(b, tx); err != nil || n != len(b) {
				t.Fatalf("tx round trip: %x decoded to %s (%d of %d bytes matched: %v)", b, txString(tx), n, len(b), err)
			}
		}
		if blk, err := Block(field, b); err != nil {
			check(err)
		} else if blk != nil {
			if err := matchBlock(b, blk); err != nil {
				t.Fatalf("block round trip: %x: %v", b, err)
			}
		}
		if h, err := Header(field, b); err != nil {
			check(err)
		} else if len(b) > 0 {
			enc, _ := HeaderBytes(h)
			if !bytes.Equal(enc, b) {
				t.Fatalf("header round trip: %x -> %x", b, enc)
			}
		}
		if out, err := TxOut(field, b); err != nil {
			check(err)
		} else if out != nil {
			enc, _ := TxOutBytes(out)
			if !bytes.Equal(enc, b) {
				t.Fatalf("txout round trip: %x -> %x", b, enc)
			}
		}
		if h, err := Hash(field, b); err != nil {
			check(err)
		} else if len(b) > 0 && !bytes.Equal(HashBytes(h), b) {
			t.Fatalf("hash round trip")
		}
		if j, err := JSON(field, s); err != nil {
			check(err)
		} else if JSONText(j) != s {
			t.Fatalf("JSON round trip: %q -> %q", s, JSONText(j))
		}
		d := Millis(ms)
		if !math.IsNaN(ms) && ms > 0 && d < 0 || ms < 0 && d > 0 {
			t.Fatalf("Millis(%v) = %v: sign flipped", ms, d)
		}
		_ = MillisFloat(d)
		sd := Seconds(secs)
		if secs > 0 && sd < 0 || secs < 0 && sd > 0 {
			t.Fatalf("Seconds(%d) = %v: sign flipped", secs, sd)
		}
		if sd != NoTimeout && sd != time.Duration(math.MinInt64) && SecondsInt(sd) != secs {
			t.Fatalf("Seconds round trip: %d -> %d", secs, SecondsInt(sd))
		}
	})
}

// withEmptyWitness is enc, a transaction serialized without witness, in
// the segwit form with nIn empty witnesses: the marker and flag after the
// version, one zero witness count per input before the lock time.
func withEmptyWitness(enc []byte, nIn int) []byte {
	if len(enc) < 8 {
		return nil
	}
	out := make([]byte, 0, len(enc)+2+nIn)
	out = append(out, enc[:4]...)
	out = append(out, 0x00, 0x01)
	out = append(out, enc[4:len(enc)-4]...)
	out = append(out, make([]byte, nIn)...)
	return append(out, enc[len(enc)-4:]...)
}

// matchTx checks that b starts with the serialization tx was decoded
// from and returns its length: TxBytes(tx) itself, or, for a transaction
// without witness data, its segwit form with empty witnesses. The
// decoded tx must also hash as b does: its wtxid is the hash of those
// bytes, its txid the hash of its serialization without witness.
func matchTx(b []byte, tx *wire.MsgTx) (int, error) {
	enc, err := TxBytes(tx)
	if err != nil {
		return 0, fmt.Errorf("re-encoding: %w", err)
	}
	n := len(enc)
	if bytes.HasPrefix(b, enc) {
		if w := chainhash.DoubleHashH(b[:n]); tx.WitnessHash() != w {
			return 0, fmt.Errorf("wtxid %v, the bytes hash to %v", tx.WitnessHash(), w)
		}
	} else {
		form := withEmptyWitness(enc, len(tx.TxIn))
		if tx.HasWitness() || !bytes.HasPrefix(b, form) {
			return 0, fmt.Errorf("re-encoded as %x", enc)
		}
		n = len(form)
	}
	var stripped bytes.Buffer
	if err := tx.SerializeNoWitness(&stripped); err != nil {
		return 0, fmt.Errorf("re-encoding without witness: %w", err)
	}
	if id := chainhash.DoubleHashH(stripped.Bytes()); tx.TxHash() != id {
		return 0, fmt.Errorf("txid %v, want %v", tx.TxHash(), id)
	}
	return n, nil
}

// matchBlock checks that b is, byte for byte, blk's header, its
// transaction count and each of its transactions as matchTx accepts them.
func matchBlock(b []byte, blk *wire.MsgBlock) error {
	hb, err := HeaderBytes(blk.Header)
	if err != nil {
		return fmt.Errorf("re-encoding the header: %w", err)
	}
	if !bytes.HasPrefix(b, hb) {
		return fmt.Errorf("header re-encoded as %x", hb)
	}
	if blk.BlockHash() != chainhash.DoubleHashH(b[:len(hb)]) {
		return fmt.Errorf("block hash %v differs from the header's bytes", blk.BlockHash())
	}
	var count bytes.Buffer
	if err := wire.WriteVarInt(&count, 0, uint64(len(blk.Transactions))); err != nil {
		return err
	}
	rest := b[len(hb):]
	if !bytes.HasPrefix(rest, count.Bytes()) {
		return fmt.Errorf("transaction count %d re-encoded as %x", len(blk.Transactions), count.Bytes())
	}
	rest = rest[count.Len():]
	for i, tx := range blk.Transactions {
		n, err := matchTx(rest, tx)
		if err != nil {
			return fmt.Errorf("transaction %d: %w", i, err)
		}
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d bytes after the last transaction", len(rest))
	}
	return nil
}

// txString describes tx for a failure message.
func txString(tx *wire.MsgTx) string {
	return fmt.Sprintf("%d in, %d out, witness %v, wtxid %v", len(tx.TxIn), len(tx.TxOut), tx.HasWitness(), tx.WitnessHash())
}
