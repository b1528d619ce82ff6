package zmqnotify

import (
	"context"
	"errors"
	"io"
	"log"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/go-zeromq/zmq4"
)

// hangGuard bounds every test; it is no timing assumption, only a guard
// against a hang.
const hangGuard = 2 * time.Minute

// testPub is a raw zmq4 publisher standing in for the node.
type testPub struct {
	t    *testing.T
	sock zmq4.Socket
	addr string
}

func newTestPub(t *testing.T, addr string) *testPub {
	t.Helper()
	sock := zmq4.NewPub(context.Background(), zmq4.WithLogger(log.New(io.Discard, "", 0)))
	if err := sock.Listen(addr); err != nil {
		t.Fatal(err)
	}
	p := &testPub{t: t, sock: sock, addr: "tcp://" + sock.Addr().String()}
	t.Cleanup(func() { sock.Close() })
	return p
}

func (p *testPub) send(frames ...[]byte) {
	p.t.Helper()
	if err := p.sock.SendMulti(zmq4.NewMsgFrom(frames...)); err != nil {
		p.t.Fatal(err)
	}
}

// waitSubscribed waits until the publisher has the subscriber's topics:
// ZMQ drops what is published before a subscription arrives.
func (p *testPub) waitSubscribed(ctx context.Context, topics ...Topic) {
	p.t.Helper()
	for {
		have := p.sock.(zmq4.Topics).Topics()
		ok := true
		for _, t := range topics {
			ok = ok && slices.Contains(have, string(t))
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			p.t.Fatalf("publisher never saw subscriptions to %v (has %v)", topics, have)
		case <-time.After(time.Millisecond): // progress check, not a wait for time
		}
	}
}

func next(t *testing.T, ctx context.Context, events <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("stream closed")
		}
		return ev
	case <-ctx.Done():
		t.Fatal("no event before the hang guard")
	}
	return Event{}
}

func TestSubscribeGapAndErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	pub := newTestPub(t, "tcp://127.0.0.1:0")
	events, err := Subscribe(ctx, pub.addr, []Topic{HashBlock, Sequence})
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ctx, events); ev.Kind != EventConnected || ev.Attempt != 1 || ev.Reconnected || ev.Resync() {
		t.Fatalf("first event %+v, want connected", ev)
	}
	pub.waitSubscribed(ctx, HashBlock, Sequence)
	h := chainhash.Hash{1}
	pub.send(Encode(HashBlock, HashBody(h), 5)...)
	pub.send(Encode(Sequence, SequenceBody(h, BlockConnected, 0), 0)...)
	pub.send(Encode(HashBlock, HashBody(h), 6)...)
	pub.send(Encode(HashBlock, HashBody(h), 8)...) // 7 dropped
	pub.send(Encode(HashBlock, HashBody(h)[:3], 9)...)
	pub.send([]byte("hashblock"), HashBody(h))
	pub.send(Encode(HashBlock, HashBody(h), 10)...)

	want := []struct {
		kind Kind
		seq  uint32
	}{{EventMessage, 5}, {EventMessage, 0}, {EventMessage, 6}, {EventGap, 8}, {EventMessage, 8}, {EventError, 9}, {EventError, 0}, {EventMessage, 10}}
	for i, w := range want {
		ev := next(t, ctx, events)
		if ev.Kind != w.kind || ev.Seq != w.seq {
			t.Fatalf("event %d: %v seq %d (%+v), want %v seq %d", i, ev.Kind, ev.Seq, ev, w.kind, w.seq)
		}
		if ev.Resync() != (ev.Kind != EventMessage) {
			t.Fatalf("event %d: Resync() = %v", i, ev.Resync())
		}
		if ev.Kind == EventGap && (ev.Expected != 7 || ev.Topic != HashBlock) {
			t.Fatalf("gap %+v, want hashblock expected 7", ev)
		}
		if ev.Kind == EventError && !errors.Is(ev.Err, ErrMalformed) {
			t.Fatalf("error event %+v", ev)
		}
	}
	cancel()
	for range events {
	}
}

func TestSubscribeReconnects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	pub := newTestPub(t, "tcp://127.0.0.1:0")
	events, err := Subscribe(ctx, pub.addr, []Topic{HashTx}, WithBackoff(time.Millisecond, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ctx, events); ev.Kind != EventConnected {
		t.Fatalf("first event %+v", ev)
	}
	pub.waitSubscribed(ctx, HashTx)
	pub.send(Encode(HashTx, HashBody(chainhash.Hash{1}), 0)...)
	if ev := next(t, ctx, events); ev.Kind != EventMessage || ev.Hash != (chainhash.Hash{1}) {
		t.Fatalf("got %+v", ev)
	}
	addr := pub.sock.Addr().String()
	pub.sock.Close()
	ev := next(t, ctx, events)
	if ev.Kind != EventDisconnected || ev.Err == nil {
		t.Fatalf("after the publisher closed: %+v, want disconnected", ev)
	}
	// The publisher comes back on the same address (a restarted node);
	// its sequence numbers start again at 0 and that is no gap.
	pub2 := newTestPub(t, "tcp://"+addr)
	for {
		ev = next(t, ctx, events)
		if ev.Kind == EventConnected {
			break
		}
		if ev.Kind != EventDisconnected {
			t.Fatalf("while reconnecting: %+v", ev)
		}
	}
	if ev.Attempt < 2 || !ev.Reconnected || !ev.Resync() {
		t.Fatalf("reconnection: %+v", ev)
	}
	pub2.waitSubscribed(ctx, HashTx)
	pub2.send(Encode(HashTx, HashBody(chainhash.Hash{2}), 0)...)
	if ev := next(t, ctx, events); ev.Kind != EventMessage || ev.Hash != (chainhash.Hash{2}) || ev.Seq != 0 {
		t.Fatalf("after reconnecting: %+v", ev)
	}
	cancel()
	for range events {
	}
}

func TestSubscribeRefuses(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:28332", "ipc:///x", "tcp://", "tcp://host"} {
		if _, err := Subscribe(context.Background(), addr, []Topic{HashBlock}); err == nil {
			t.Errorf("%s accepted", addr)
		}
	}
	if _, err := Subscribe(context.Background(), "tcp://127.0.0.1:1", nil); err == nil {
		t.Error("no topics accepted")
	}
	if _, err := Subscribe(context.Background(), "tcp://127.0.0.1:1", []Topic{"hashblocks"}); err == nil {
		t.Error("unknown topic accepted")
	}
}
