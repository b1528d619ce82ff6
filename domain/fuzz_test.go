package domain

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"
)

// FuzzDomainRoundTrip feeds arbitrary bytes, text and numbers to every
// decoder the generated code uses on data from the peer: no panic, errors
// are *FieldError naming the field, and what decodes re-encodes to
// itself (a transaction without inputs excepted: its serialization is
// ambiguous with the segwit marker by design).
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
			enc, err := TxBytes(tx)
			if err != nil {
				t.Fatalf("re-encoding a decoded tx: %v", err)
			}
			if len(tx.TxIn) > 0 && !bytes.Equal(enc, b) {
				if tx2, err := Tx(field, enc); err != nil || tx2.TxHash() != tx.TxHash() {
					t.Fatalf("tx round trip: %x -> %x (%v)", b, enc, err)
				}
			}
		}
		if blk, err := Block(field, b); err != nil {
			check(err)
		} else if blk != nil {
			if _, err := BlockBytes(blk); err != nil {
				t.Fatalf("re-encoding a decoded block: %v", err)
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
