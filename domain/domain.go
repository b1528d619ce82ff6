// Package domain converts between Cap'n Proto wire values and the Go domain
// types used by the code that capnpc-go-ipc generates (see
// docs/generated-code.md, "Domain types"). Decoders take the schema path of
// the field they read (for example "Mining.getTip.result.hash") and name it
// in their errors; they never panic on malformed input.
package domain

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// NoTimeout is the time.Duration that stands for Bitcoin Core's "wait
// forever" timeout, DBL_MAX milliseconds on the wire.
const NoTimeout = time.Duration(math.MaxInt64)

// FieldError is an error decoding or encoding one schema field.
type FieldError struct {
	Field string // schema path, e.g. "Mining.getTip.result.hash"
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// Wrap returns nil for a nil err and otherwise a *FieldError naming field.
// An err that already is a *FieldError is returned unchanged, so that the
// innermost (most precise) field name wins.
func Wrap(field string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return err
	}
	return &FieldError{Field: field, Err: err}
}

func errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Hash decodes a 32-byte hash in internal (little-endian) byte order. An
// empty b (a null Data field, for example an unrequested FoundBlock hash)
// gives the zero hash; any other length than 32 is an error.
func Hash(field string, b []byte) (chainhash.Hash, error) {
	var h chainhash.Hash
	switch len(b) {
	case 0:
		return h, nil
	case chainhash.HashSize:
		copy(h[:], b)
		return h, nil
	default:
		return h, errorf(field, "hash has %d bytes, want %d", len(b), chainhash.HashSize)
	}
}

// HashBytes encodes h as 32 bytes in internal byte order.
func HashBytes(h chainhash.Hash) []byte {
	b := make([]byte, chainhash.HashSize)
	copy(b, h[:])
	return b
}

// fullyRead checks that r has no unread bytes left.
func fullyRead(field, what string, r *bytes.Reader) error {
	if n := r.Len(); n != 0 {
		return errorf(field, "%s has %d trailing bytes", what, n)
	}
	return nil
}

// Tx decodes a transaction in consensus serialization (with witness data
// when present). Empty b gives nil: Bitcoin Core sends an empty Data for a
// missing transaction.
func Tx(field string, b []byte) (*wire.MsgTx, error) {
	if len(b) == 0 {
		return nil, nil
	}
	tx := new(wire.MsgTx)
	r := bytes.NewReader(b)
	if err := tx.Deserialize(r); err != nil {
		return nil, errorf(field, "decoding transaction: %w", err)
	}
	if err := fullyRead(field, "transaction", r); err != nil {
		return nil, err
	}
	return tx, nil
}

// TxBytes encodes tx with witness data; nil gives nil, which generated
// code sends as a null Data pointer (Bitcoin Core reads a null or empty
// transaction as a null CTransactionRef).
func TxBytes(tx *wire.MsgTx) ([]byte, error) {
	if tx == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	buf.Grow(tx.SerializeSize())
	if err := tx.Serialize(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Block decodes a block in consensus serialization. Nil b (a null Data
// pointer) gives nil. Unlike a transaction, an empty block is not the
// missing value: empty non-nil b fails as truncated data (wrapping
// io.EOF), as Bitcoin Core fails to deserialize it.
func Block(field string, b []byte) (*wire.MsgBlock, error) {
	if b == nil {
		return nil, nil
	}
	blk := new(wire.MsgBlock)
	r := bytes.NewReader(b)
	if err := blk.Deserialize(r); err != nil {
		return nil, errorf(field, "decoding block: %w", err)
	}
	if err := fullyRead(field, "block", r); err != nil {
		return nil, err
	}
	return blk, nil
}

// BlockBytes encodes blk; nil gives nil, which generated code sends as a
// null Data pointer (Bitcoin Core reads that as a default-constructed
// block: zero header, no transactions).
func BlockBytes(blk *wire.MsgBlock) ([]byte, error) {
	if blk == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	buf.Grow(blk.SerializeSize())
	if err := blk.Serialize(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Header decodes an 80-byte block header. Empty b gives the zero header;
// any other length than 80 is an error.
func Header(field string, b []byte) (wire.BlockHeader, error) {
	var h wire.BlockHeader
	if len(b) == 0 {
		return h, nil
	}
	if len(b) != wire.MaxBlockHeaderPayload {
		return h, errorf(field, "block header has %d bytes, want %d", len(b), wire.MaxBlockHeaderPayload)
	}
	if err := h.Deserialize(bytes.NewReader(b)); err != nil {
		return h, errorf(field, "decoding block header: %w", err)
	}
	return h, nil
}

// HeaderBytes encodes h as 80 bytes.
func HeaderBytes(h wire.BlockHeader) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(wire.MaxBlockHeaderPayload)
	if err := h.Serialize(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// TxOut decodes a serialized CTxOut: the value as int64 little-endian,
// then the script with a compact-size length prefix. Empty b gives nil.
func TxOut(field string, b []byte) (*wire.TxOut, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < 9 {
		return nil, errorf(field, "transaction output has %d bytes, want at least 9", len(b))
	}
	value := int64(binary.LittleEndian.Uint64(b))
	r := bytes.NewReader(b[8:])
	n, err := wire.ReadVarInt(r, 0)
	if err != nil {
		return nil, errorf(field, "decoding transaction output script length: %w", err)
	}
	if n > uint64(r.Len()) {
		return nil, errorf(field, "transaction output script has %d bytes, want %d", r.Len(), n)
	}
	script := make([]byte, n)
	if _, err := io.ReadFull(r, script); err != nil {
		return nil, errorf(field, "decoding transaction output script: %w", err)
	}
	if err := fullyRead(field, "transaction output", r); err != nil {
		return nil, err
	}
	return wire.NewTxOut(value, script), nil
}

// TxOutBytes encodes out as a serialized CTxOut; nil gives nil.
func TxOutBytes(out *wire.TxOut) ([]byte, error) {
	if out == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	buf.Grow(8 + wire.VarIntSerializeSize(uint64(len(out.PkScript))) + len(out.PkScript))
	if err := wire.WriteTxOut(&buf, 0, 0, out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// JSON checks that s holds one JSON value and returns it. The empty string
// (a null Text field) gives nil.
func JSON(field string, s string) (json.RawMessage, error) {
	if s == "" {
		return nil, nil
	}
	if !json.Valid([]byte(s)) {
		return nil, errorf(field, "invalid JSON text")
	}
	return json.RawMessage(s), nil
}

// JSONText returns m as Text; nil gives the empty string.
func JSONText(m json.RawMessage) string { return string(m) }

// Millis converts a timeout in milliseconds. Values at or above the
// largest time.Duration (including DBL_MAX and +Inf) give NoTimeout; NaN
// gives 0; large negative values saturate.
func Millis(ms float64) time.Duration {
	switch {
	case math.IsNaN(ms):
		return 0
	case ms >= float64(math.MaxInt64)/float64(time.Millisecond):
		return NoTimeout
	case ms <= float64(math.MinInt64)/float64(time.Millisecond):
		return time.Duration(math.MinInt64)
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// MillisFloat converts d to milliseconds; NoTimeout gives DBL_MAX.
func MillisFloat(d time.Duration) float64 {
	if d == NoTimeout {
		return math.MaxFloat64
	}
	return float64(d) / float64(time.Millisecond)
}

// Seconds converts whole seconds, saturating at the time.Duration range
// (so that the largest values mean NoTimeout).
func Seconds(s int64) time.Duration {
	switch {
	case s > math.MaxInt64/int64(time.Second):
		return NoTimeout
	case s < math.MinInt64/int64(time.Second):
		return time.Duration(math.MinInt64)
	}
	return time.Duration(s) * time.Second
}

// SecondsInt converts d to whole seconds, truncating toward zero.
func SecondsInt(d time.Duration) int64 { return int64(d / time.Second) }
