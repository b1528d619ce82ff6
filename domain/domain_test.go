package domain

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

func wantFieldErr(t *testing.T, err error, field string) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != field || !strings.HasPrefix(err.Error(), field+": ") {
		t.Fatalf("err = %v, want a FieldError naming %s", err, field)
	}
}

func TestHash(t *testing.T) {
	h := chainhash.Hash{1, 2, 3}
	got, err := Hash("f", HashBytes(h))
	if err != nil || got != h {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if z, err := Hash("f", nil); err != nil || z != (chainhash.Hash{}) {
		t.Fatalf("empty: %v %v", z, err)
	}
	_, err = Hash("Mining.getTip.result.hash", make([]byte, 31))
	wantFieldErr(t, err, "Mining.getTip.result.hash")
	_, err = Hash("x", make([]byte, 33))
	wantFieldErr(t, err, "x")
}

func sampleTx() *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{9}, 1), []byte{0x51}, [][]byte{{1, 2, 3}}))
	tx.AddTxOut(wire.NewTxOut(1234, []byte{0x6a, 0x01, 0x02}))
	tx.LockTime = 77
	return tx
}

func TestTx(t *testing.T) {
	b, err := TxBytes(sampleTx())
	if err != nil {
		t.Fatal(err)
	}
	tx, err := Tx("f", b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := TxBytes(tx)
	if !bytes.Equal(b, b2) || tx.TxIn[0].Witness[0][2] != 3 || tx.LockTime != 77 {
		t.Fatal("round trip differs")
	}
	if tx, err := Tx("f", nil); tx != nil || err != nil {
		t.Fatal("empty must give nil")
	}
	if b, err := TxBytes(nil); b != nil || err != nil {
		t.Fatal("nil must give empty")
	}
	for n := 1; n < len(b); n++ {
		if _, err := Tx("tx", b[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		} else {
			wantFieldErr(t, err, "tx")
		}
	}
	_, err = Tx("tx", append(append([]byte{}, b...), 0))
	wantFieldErr(t, err, "tx")
	// A huge claimed input count must fail, not allocate or panic.
	_, err = Tx("tx", []byte{2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	wantFieldErr(t, err, "tx")
}

func TestBlockAndHeader(t *testing.T) {
	blk := wire.NewMsgBlock(&wire.BlockHeader{Version: 4, Bits: 0x207fffff, Nonce: 5, Timestamp: time.Unix(1600000000, 0)})
	_ = blk.AddTransaction(sampleTx())
	b, err := BlockBytes(blk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Block("f", b)
	if err != nil || got.Header.Nonce != 5 || len(got.Transactions) != 1 {
		t.Fatalf("round trip: %v", err)
	}
	if blk, err := Block("f", nil); blk != nil || err != nil {
		t.Fatal("a null block must give nil")
	}
	// Empty data is not the null block: it fails as Core's
	// deserialization does, at the end of the data.
	_, err = Block("empty", []byte{})
	if !errors.Is(err, io.EOF) {
		t.Fatalf("empty block: err = %v, want io.EOF", err)
	}
	wantFieldErr(t, err, "empty")
	_, err = Block("blk", b[:len(b)-1])
	wantFieldErr(t, err, "blk")

	hb, err := HeaderBytes(blk.Header)
	if err != nil || len(hb) != 80 {
		t.Fatalf("header bytes: %d %v", len(hb), err)
	}
	h, err := Header("f", hb)
	if err != nil || h.BlockHash() != blk.Header.BlockHash() {
		t.Fatalf("header round trip: %v", err)
	}
	_, err = Header("hdr", hb[:79])
	wantFieldErr(t, err, "hdr")
	if z, err := Header("hdr", nil); err != nil || z.Version != 0 {
		t.Fatal("empty header must give the zero header")
	}
}

func TestTxOut(t *testing.T) {
	out := wire.NewTxOut(-1, bytes.Repeat([]byte{0xab}, 300)) // 3-byte compact size
	b, err := TxOutBytes(out)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(b[:11]) != "fffffffffffffffffd2c01" {
		t.Fatalf("serialization %x", b[:11])
	}
	got, err := TxOut("f", b)
	if err != nil || got.Value != -1 || !bytes.Equal(got.PkScript, out.PkScript) {
		t.Fatalf("round trip: %v", err)
	}
	for n := 1; n < len(b); n++ {
		_, err := TxOut("CoinbaseTx.requiredOutputs", b[:n])
		wantFieldErr(t, err, "CoinbaseTx.requiredOutputs")
	}
	_, err = TxOut("o", append(b, 1))
	wantFieldErr(t, err, "o")
	if o, err := TxOut("o", nil); o != nil || err != nil {
		t.Fatal("empty must give nil")
	}
	if b, err := TxOutBytes(nil); b != nil || err != nil {
		t.Fatal("nil must give empty")
	}
}

func TestJSON(t *testing.T) {
	m, err := JSON("f", `{"a":1}`)
	if err != nil || JSONText(m) != `{"a":1}` {
		t.Fatal(m, err)
	}
	if m, err := JSON("f", ""); m != nil || err != nil {
		t.Fatal("empty must give nil")
	}
	_, err = JSON("Rpc.executeRpc.request", `{"a":`)
	wantFieldErr(t, err, "Rpc.executeRpc.request")
}

func TestMillis(t *testing.T) {
	if Millis(math.MaxFloat64) != NoTimeout || MillisFloat(NoTimeout) != math.MaxFloat64 {
		t.Fatal("DBL_MAX <-> NoTimeout")
	}
	if Millis(math.Inf(1)) != NoTimeout || Millis(math.NaN()) != 0 || Millis(-math.MaxFloat64) != time.Duration(math.MinInt64) {
		t.Fatal("saturation")
	}
	if Millis(1.5) != 1500*time.Microsecond || MillisFloat(2500*time.Millisecond) != 2500 {
		t.Fatal("conversion")
	}
	for _, d := range []time.Duration{0, time.Millisecond, 90 * time.Second, -time.Second} {
		if Millis(MillisFloat(d)) != d {
			t.Fatalf("round trip %v", d)
		}
	}
}

func TestSeconds(t *testing.T) {
	if Seconds(90) != 90*time.Second || SecondsInt(90*time.Second+time.Millisecond) != 90 {
		t.Fatal("conversion")
	}
	if Seconds(math.MaxInt64) != NoTimeout || Seconds(math.MinInt64) != time.Duration(math.MinInt64) {
		t.Fatal("saturation")
	}
}

func TestWrap(t *testing.T) {
	if Wrap("f", nil) != nil {
		t.Fatal("nil")
	}
	inner := Wrap("a.b", errors.New("x"))
	if Wrap("a", inner) != inner {
		t.Fatal("innermost field must win")
	}
	wantFieldErr(t, Wrap("f", errors.New("boom")), "f")
}
