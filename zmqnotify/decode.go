// Package zmqnotify subscribes to Bitcoin Core's ZMQ notifications
// (-zmqpubhashblock, -zmqpubhashtx, -zmqpubrawblock, -zmqpubrawtx,
// -zmqpubsequence) and delivers them as one stream of decoded events.
//
// Core publishes each notification as a message of three frames: the topic,
// the body, and a 4-byte little-endian sequence number counted per topic
// (and per publishing socket) from 0. Hashes are sent in RPC byte order
// (reversed); Decode turns them into [chainhash.Hash] values, whose String
// is the RPC form again. The sequence topic's body is a 32-byte hash and a
// label ('C' block connected, 'D' disconnected, 'A' added to the mempool,
// 'R' removed from it), followed for 'A' and 'R' by the mempool sequence
// number (8 bytes, little-endian).
//
// ZMQ itself drops messages silently (a slow subscriber, a restart of the
// node). [Subscribe] checks every topic's sequence numbers and reports a
// missing one as an [EventGap]; it reconnects with backoff when the
// publisher goes away and reports that as [EventDisconnected] and
// [EventConnected]. After either, a caller that keeps state derived from
// the stream (a mempool copy, the tip) should resync it from the node.
// Frames that cannot be decoded are [EventError] events; nothing is
// dropped without an event.
package zmqnotify

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// Topic is one of Core's ZMQ notification topics.
type Topic string

// Core's topics.
const (
	HashBlock Topic = "hashblock"
	HashTx    Topic = "hashtx"
	RawBlock  Topic = "rawblock"
	RawTx     Topic = "rawtx"
	Sequence  Topic = "sequence"
)

// Topics lists Core's topics in the order Core documents them.
var Topics = []Topic{HashBlock, HashTx, RawBlock, RawTx, Sequence}

// ParseTopic checks that s is one of Core's topics.
func ParseTopic(s string) (Topic, error) {
	for _, t := range Topics {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown topic %q (want hashblock, hashtx, rawblock, rawtx or sequence)", s)
}

// Label is the kind of a sequence notification.
type Label byte

// The sequence topic's labels.
const (
	BlockConnected    Label = 'C'
	BlockDisconnected Label = 'D'
	TxAdded           Label = 'A'
	TxRemoved         Label = 'R'
)

// String returns the label's name.
func (l Label) String() string {
	switch l {
	case BlockConnected:
		return "connected"
	case BlockDisconnected:
		return "disconnected"
	case TxAdded:
		return "added"
	case TxRemoved:
		return "removed"
	}
	return fmt.Sprintf("label(%#x)", byte(l))
}

// Kind says what an Event is.
type Kind int

// The kinds of events.
const (
	// EventMessage is a decoded notification.
	EventMessage Kind = iota
	// EventGap reports that sequence numbers of Topic were skipped
	// (Expected up to Seq-1 are missing); the message numbered Seq follows
	// as an EventMessage. The caller should resync.
	EventGap
	// EventConnected reports a connection to the publisher (Attempt is 1
	// for the first one). After a reconnection (Reconnected), sequence
	// numbers start afresh and the caller should resync.
	EventConnected
	// EventDisconnected reports that the connection failed or was lost
	// (Err says why); the subscriber retries after Backoff.
	EventDisconnected
	// EventError is a message that could not be decoded (Err says why).
	EventError
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case EventMessage:
		return "message"
	case EventGap:
		return "gap"
	case EventConnected:
		return "connected"
	case EventDisconnected:
		return "disconnected"
	case EventError:
		return "error"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Event is one item of the stream. Which fields are set depends on Kind and
// Topic.
type Event struct {
	Kind  Kind
	Topic Topic
	// Seq is the message's per-topic sequence number (messages, gaps).
	Seq uint32
	// Hash is the block or transaction hash (hashblock, hashtx, sequence;
	// for rawblock and rawtx it is the decoded block's or transaction's).
	Hash chainhash.Hash
	// Block is the rawblock topic's block.
	Block *wire.MsgBlock
	// Tx is the rawtx topic's transaction.
	Tx *wire.MsgTx
	// Label is the sequence topic's label; MempoolSeq its mempool
	// sequence number, for TxAdded and TxRemoved.
	Label      Label
	MempoolSeq uint64
	// Expected is the first missing sequence number of a gap.
	Expected uint32
	// Attempt counts connection attempts (EventConnected,
	// EventDisconnected), from 1.
	Attempt int
	// Reconnected is set on EventConnected when an earlier connection
	// was lost: what was published meanwhile is lost.
	Reconnected bool
	// Backoff is the wait before the next attempt (EventDisconnected).
	Backoff time.Duration
	// Err is the cause of EventDisconnected and EventError.
	Err error
}

// Resync reports whether the caller should resync what it derives from
// the stream: messages were lost (a gap, a reconnection) or could not be
// decoded.
func (e Event) Resync() bool {
	return e.Kind == EventGap || e.Kind == EventError || e.Kind == EventConnected && e.Reconnected
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed notification")

// Encode returns the three frames Core publishes for topic with body and
// sequence number seq.
func Encode(topic Topic, body []byte, seq uint32) [][]byte {
	var s [4]byte
	binary.LittleEndian.PutUint32(s[:], seq)
	return [][]byte{[]byte(topic), body, s[:]}
}

// HashBody returns a hash in the byte order Core sends it (reversed).
func HashBody(h chainhash.Hash) []byte {
	b := make([]byte, chainhash.HashSize)
	for i := range h {
		b[i] = h[chainhash.HashSize-1-i]
	}
	return b
}

// SequenceBody returns the sequence topic's body: the hash (reversed),
// the label and, for TxAdded and TxRemoved, the mempool sequence number.
func SequenceBody(h chainhash.Hash, label Label, mempoolSeq uint64) []byte {
	b := append(HashBody(h), byte(label))
	if label == TxAdded || label == TxRemoved {
		b = binary.LittleEndian.AppendUint64(b, mempoolSeq)
	}
	return b
}

func hashFromBody(b []byte) chainhash.Hash {
	var h chainhash.Hash
	for i := range h {
		h[i] = b[chainhash.HashSize-1-i]
	}
	return h
}

// Decode decodes one message (its frames as received). On error the event
// is an EventError with Err set (wrapping ErrMalformed) and the topic and
// sequence number if they could be read. Decode never panics, whatever the
// frames hold.
func Decode(frames [][]byte) (Event, error) {
	ev, err := decode(frames)
	if err != nil {
		ev.Kind, ev.Err = EventError, err
		ev.Hash, ev.Block, ev.Tx, ev.Label, ev.MempoolSeq = chainhash.Hash{}, nil, nil, 0, 0
	}
	return ev, err
}

func decode(frames [][]byte) (Event, error) {
	if len(frames) != 3 {
		return Event{}, fmt.Errorf("%w: %d frames, want 3", ErrMalformed, len(frames))
	}
	topic, body, seq := Topic(frames[0]), frames[1], frames[2]
	if len(seq) != 4 {
		return Event{Topic: topic}, fmt.Errorf("%w: %s: sequence number of %d bytes, want 4", ErrMalformed, topicName(topic), len(seq))
	}
	ev := Event{Kind: EventMessage, Topic: topic, Seq: binary.LittleEndian.Uint32(seq)}
	switch topic {
	case HashBlock, HashTx:
		if len(body) != chainhash.HashSize {
			return ev, fmt.Errorf("%w: %s: body of %d bytes, want 32", ErrMalformed, topic, len(body))
		}
		ev.Hash = hashFromBody(body)
	case RawBlock:
		var b wire.MsgBlock
		r := bytes.NewReader(body)
		if err := b.Deserialize(r); err != nil {
			return ev, fmt.Errorf("%w: rawblock: %v", ErrMalformed, err)
		}
		if r.Len() != 0 {
			return ev, fmt.Errorf("%w: rawblock: %d bytes after the block", ErrMalformed, r.Len())
		}
		ev.Block, ev.Hash = &b, b.BlockHash()
	case RawTx:
		var tx wire.MsgTx
		r := bytes.NewReader(body)
		if err := tx.Deserialize(r); err != nil {
			return ev, fmt.Errorf("%w: rawtx: %v", ErrMalformed, err)
		}
		if r.Len() != 0 {
			return ev, fmt.Errorf("%w: rawtx: %d bytes after the transaction", ErrMalformed, r.Len())
		}
		ev.Tx, ev.Hash = &tx, tx.TxHash()
	case Sequence:
		if len(body) < chainhash.HashSize+1 {
			return ev, fmt.Errorf("%w: sequence: body of %d bytes, want at least 33", ErrMalformed, len(body))
		}
		ev.Hash, ev.Label = hashFromBody(body), Label(body[chainhash.HashSize])
		rest := body[chainhash.HashSize+1:]
		switch ev.Label {
		case BlockConnected, BlockDisconnected:
			if len(rest) != 0 {
				return ev, fmt.Errorf("%w: sequence: %d bytes after label %c, want 0", ErrMalformed, len(rest), ev.Label)
			}
		case TxAdded, TxRemoved:
			if len(rest) != 8 {
				return ev, fmt.Errorf("%w: sequence: %d bytes after label %c, want 8", ErrMalformed, len(rest), ev.Label)
			}
			ev.MempoolSeq = binary.LittleEndian.Uint64(rest)
		default:
			return ev, fmt.Errorf("%w: sequence: unknown label %#x", ErrMalformed, body[chainhash.HashSize])
		}
	default:
		return ev, fmt.Errorf("%w: unknown topic %q", ErrMalformed, topicName(topic))
	}
	return ev, nil
}

// topicName bounds a topic for error texts.
func topicName(t Topic) string {
	if len(t) > 32 {
		return string(t[:32]) + "…"
	}
	return string(t)
}
