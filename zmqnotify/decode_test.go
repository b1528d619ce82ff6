package zmqnotify

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

func genesisRaw(t testing.TB) []byte {
	var buf bytes.Buffer
	if err := chaincfg.RegressionNetParams.GenesisBlock.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeTopics(t *testing.T) {
	genesis := chaincfg.RegressionNetParams.GenesisBlock
	gh := genesis.BlockHash()
	var tx bytes.Buffer
	if err := genesis.Transactions[0].Serialize(&tx); err != nil {
		t.Fatal(err)
	}
	txid := genesis.Transactions[0].TxHash()

	// hashblock is sent reversed: the body's first byte is the RPC form's.
	ev, err := Decode(Encode(HashBlock, HashBody(gh), 7))
	if err != nil || ev.Kind != EventMessage || ev.Hash != gh || ev.Seq != 7 {
		t.Fatalf("hashblock: %+v, %v", ev, err)
	}
	if got := HashBody(gh)[0]; got != 0x0f {
		t.Fatalf("hashblock body starts with %#x, want 0x0f (0f9188f1…, RPC order)", got)
	}
	ev, err = Decode(Encode(HashTx, HashBody(txid), 0))
	if err != nil || ev.Hash != txid {
		t.Fatalf("hashtx: %+v, %v", ev, err)
	}
	ev, err = Decode(Encode(RawBlock, genesisRaw(t), 1))
	if err != nil || ev.Block == nil || ev.Hash != gh {
		t.Fatalf("rawblock: %+v, %v", ev, err)
	}
	ev, err = Decode(Encode(RawTx, tx.Bytes(), 2))
	if err != nil || ev.Tx == nil || ev.Hash != txid {
		t.Fatalf("rawtx: %+v, %v", ev, err)
	}
	ev, err = Decode(Encode(Sequence, SequenceBody(gh, BlockConnected, 0), 3))
	if err != nil || ev.Label != BlockConnected || ev.Hash != gh {
		t.Fatalf("sequence C: %+v, %v", ev, err)
	}
	body := SequenceBody(txid, TxAdded, 0x0102030405060708)
	if len(body) != 41 || binary.LittleEndian.Uint64(body[33:]) != 0x0102030405060708 {
		t.Fatalf("sequence A body %x", body)
	}
	ev, err = Decode(Encode(Sequence, body, 4))
	if err != nil || ev.Label != TxAdded || ev.Hash != txid || ev.MempoolSeq != 0x0102030405060708 {
		t.Fatalf("sequence A: %+v, %v", ev, err)
	}
	// The sequence number is little-endian.
	f := Encode(HashBlock, HashBody(gh), 0)
	f[2] = []byte{1, 2, 0, 0}
	if ev, _ := Decode(f); ev.Seq != 0x0201 {
		t.Fatalf("seq %#x, want 0x201", ev.Seq)
	}
}

func TestDecodeMalformed(t *testing.T) {
	h := chainhash.Hash{1}
	raw := genesisRaw(t)
	for name, frames := range map[string][][]byte{
		"no frames":          nil,
		"two frames":         {[]byte("hashblock"), HashBody(h)},
		"four frames":        append(Encode(HashBlock, HashBody(h), 0), nil),
		"short seq":          {[]byte("hashblock"), HashBody(h), {1, 2, 3}},
		"short hash":         Encode(HashBlock, HashBody(h)[:31], 0),
		"long hash":          Encode(HashTx, append(HashBody(h), 0), 0),
		"truncated block":    Encode(RawBlock, raw[:len(raw)-1], 0),
		"block extra byte":   Encode(RawBlock, append(raw, 0), 0),
		"empty tx":           Encode(RawTx, nil, 0),
		"sequence short":     Encode(Sequence, HashBody(h), 0),
		"sequence bad label": Encode(Sequence, SequenceBody(h, 'X', 0), 0),
		"sequence A short":   Encode(Sequence, SequenceBody(h, TxAdded, 1)[:40], 0),
		"sequence C extra":   Encode(Sequence, append(SequenceBody(h, BlockConnected, 0), 0), 0),
		"unknown topic":      Encode("hashblockx", HashBody(h), 0),
	} {
		ev, err := Decode(frames)
		if !errors.Is(err, ErrMalformed) || ev.Kind != EventError || ev.Err != err {
			t.Errorf("%s: %+v, %v; want an EventError wrapping ErrMalformed", name, ev, err)
		}
	}
}

// FuzzDecode feeds arbitrary frames to Decode: it must never panic, and
// it must either fail with ErrMalformed or give back what re-encodes to
// the same frames.
func FuzzDecode(f *testing.F) {
	h := chainhash.Hash{0xaa, 0xbb}
	f.Add([]byte("hashblock"), HashBody(h), []byte{0, 0, 0, 0}, uint8(3))
	f.Add([]byte("sequence"), SequenceBody(h, TxAdded, 9), []byte{1, 0, 0, 0}, uint8(3))
	f.Add([]byte("rawblock"), genesisRaw(f), []byte{2, 0, 0, 0}, uint8(3))
	f.Fuzz(func(t *testing.T, topic, body, seq []byte, n uint8) {
		frames := [][]byte{topic, body, seq, body}[:n%5]
		ev, err := Decode(frames)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || ev.Kind != EventError {
				t.Fatalf("error %v, kind %v", err, ev.Kind)
			}
			return
		}
		if ev.Kind != EventMessage || string(ev.Topic) != string(topic) || ev.Seq != binary.LittleEndian.Uint32(seq) {
			t.Fatalf("decoded %+v from %x", ev, frames)
		}
		switch ev.Topic {
		case HashBlock, HashTx:
			if !bytes.Equal(HashBody(ev.Hash), body) {
				t.Fatalf("hash %v from %x", ev.Hash, body)
			}
		case Sequence:
			if !bytes.Equal(SequenceBody(ev.Hash, ev.Label, ev.MempoolSeq), body) {
				t.Fatalf("sequence %+v from %x", ev, body)
			}
		}
	})
}
