package node_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/node"
	"github.com/bitcoin-ipc/bitcoin-ipc/zmqnotify"
)

func nextTip(t *testing.T, ctx context.Context, tips <-chan node.TipEvent, via string) node.TipEvent {
	t.Helper()
	select {
	case ev, ok := <-tips:
		if !ok {
			t.Fatalf("%s: stream closed", via)
		}
		if ev.Err != nil {
			t.Fatalf("%s: %v", via, ev.Err)
		}
		return ev
	case <-ctx.Done():
		t.Fatalf("%s: no tip before the hang guard", via)
	}
	return node.TipEvent{}
}

// Tips over IPC and over ZMQ give the same tips, one by one, as blocks
// are mined, on every release.
func TestTipsIPCAndZMQ(t *testing.T) {
	forEachVersion(t, func(t *testing.T, n *node.Node, d *demonode.Node, _ *testutil.Buffer) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard only
		defer cancel()
		pub, err := d.PublishZMQ([]demonode.ZMQOption{{Topic: zmqnotify.HashBlock, Address: "tcp://127.0.0.1:0"}})
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()

		var debug testutil.Buffer
		log := slog.New(slog.NewTextHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug}))
		viaIPC, err := node.Tips(ctx, n, node.TipsOptions{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		viaZMQ, err := node.Tips(ctx, nil, node.TipsOptions{ZMQ: pub.Addr(zmqnotify.HashBlock), Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		for !pub.Subscribed(zmqnotify.HashBlock) { // ZMQ drops what comes before
			select {
			case <-ctx.Done():
				t.Fatal("no ZMQ subscription")
			case <-time.After(time.Millisecond): // a progress check
			}
		}
		_, start := d.Chain().Tip()
		for i := int32(1); i <= 4; i++ {
			hashes, err := d.Chain().GenerateToScript(1, opTrue)
			if err != nil {
				t.Fatal(err)
			}
			a, b := nextTip(t, ctx, viaIPC, "ipc"), nextTip(t, ctx, viaZMQ, "zmq")
			if a.Tip.Hash != hashes[0] || a.Tip.Height != start+i || a.Missed {
				t.Fatalf("block %d over IPC: %+v, want %v at %d", i, a, hashes[0], start+i)
			}
			if b.Tip.Hash != hashes[0] || b.Tip.Height != -1 || b.Missed {
				t.Fatalf("block %d over ZMQ: %+v, want %v", i, b, hashes[0])
			}
		}
		// Two blocks during one wait: IPC sees the second only, and says
		// it missed one.
		_, height := d.Chain().Tip()
		hashes, err := d.Chain().GenerateToScript(2, opTrue)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hashes {
			if b := nextTip(t, ctx, viaZMQ, "zmq"); b.Tip.Hash != h {
				t.Fatalf("over ZMQ: %+v, want %v", b, h)
			}
		}
		a := nextTip(t, ctx, viaIPC, "ipc")
		sawFirst := false
		for a.Tip.Hash != hashes[1] { // the wait may have woken for the first
			if a.Tip.Hash != hashes[0] || a.Missed {
				t.Fatalf("over IPC: %+v", a)
			}
			sawFirst = true
			a = nextTip(t, ctx, viaIPC, "ipc")
		}
		if a.Tip.Height != height+2 || a.Missed == sawFirst {
			t.Fatalf("over IPC: %+v", a)
		}
		cancel()
		for range viaIPC {
		}
		for range viaZMQ {
		}
		if s := debug.String(); !strings.Contains(s, "tips over IPC") || !strings.Contains(s, "tips over ZMQ hashblock") {
			t.Fatalf("debug log does not say which way:\n%s", s)
		}
	})
}

// A hashblock message lost on the way: the next tip over ZMQ says tips
// were missed.
func TestTipsZMQMissed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard only
	defer cancel()
	d := demonode.New()
	defer d.Chain().Close()
	pub, err := d.PublishZMQ([]demonode.ZMQOption{{Topic: zmqnotify.HashBlock, Address: "tcp://127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	tips, err := node.Tips(ctx, nil, node.TipsOptions{ZMQ: pub.Addr(zmqnotify.HashBlock)})
	if err != nil {
		t.Fatal(err)
	}
	for !pub.Subscribed(zmqnotify.HashBlock) {
		select {
		case <-ctx.Done():
			t.Fatal("no ZMQ subscription")
		case <-time.After(time.Millisecond): // a progress check
		}
	}
	mine := func() chainhash.Hash {
		hashes, err := d.Chain().GenerateToScript(1, opTrue)
		if err != nil {
			t.Fatal(err)
		}
		return hashes[0]
	}
	first := mine()
	if ev := nextTip(t, ctx, tips, "zmq"); ev.Tip.Hash != first || ev.Missed {
		t.Fatalf("first tip %+v", ev)
	}
	pub.DropNext(zmqnotify.HashBlock)
	mine()
	third := mine()
	if ev := nextTip(t, ctx, tips, "zmq"); ev.Tip.Hash != third || !ev.Missed {
		t.Fatalf("after a lost message: %+v, want %v with Missed", ev, third)
	}
	cancel()
	for range tips {
	}
}
