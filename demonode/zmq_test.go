package demonode

import (
	"context"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode/chain"
	"github.com/bitcoin-ipc/bitcoin-ipc/zmqnotify"
)

// zmqHangGuard only guards against a hang; no test depends on timing.
const zmqHangGuard = 2 * time.Minute

func allTopics(addr string) []ZMQOption {
	var opts []ZMQOption
	for _, t := range zmqnotify.Topics {
		opts = append(opts, ZMQOption{Topic: t, Address: addr})
	}
	return opts
}

// subscribed subscribes to p's topics and waits until p has the
// subscriptions (ZMQ drops what is published before).
func subscribed(t *testing.T, ctx context.Context, p *ZMQPublisher, topics []zmqnotify.Topic, opts ...zmqnotify.Option) <-chan zmqnotify.Event {
	t.Helper()
	events, err := zmqnotify.Subscribe(ctx, p.Addr(topics[0]), topics, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, ctx, events); ev.Kind != zmqnotify.EventConnected {
		t.Fatalf("first event %+v", ev)
	}
	waitSubscribed(t, ctx, p, topics)
	return events
}

func waitSubscribed(t *testing.T, ctx context.Context, p *ZMQPublisher, topics []zmqnotify.Topic) {
	t.Helper()
	for _, topic := range topics {
		for !p.Subscribed(topic) {
			select {
			case <-ctx.Done():
				t.Fatalf("no subscription to %s", topic)
			case <-time.After(time.Millisecond): // a progress check
			}
		}
	}
}

func nextEvent(t *testing.T, ctx context.Context, events <-chan zmqnotify.Event) zmqnotify.Event {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("stream closed")
		}
		return ev
	case <-ctx.Done():
		t.Fatal("hang guard")
	}
	return zmqnotify.Event{}
}

type zmsg struct {
	topic zmqnotify.Topic
	seq   uint32
	hash  chainhash.Hash
	label zmqnotify.Label
	mseq  uint64
}

func expect(t *testing.T, ctx context.Context, events <-chan zmqnotify.Event, wants ...zmsg) {
	t.Helper()
	for i, w := range wants {
		ev := nextEvent(t, ctx, events)
		if ev.Kind != zmqnotify.EventMessage || ev.Topic != w.topic || ev.Seq != w.seq || ev.Hash != w.hash || ev.Label != w.label || ev.MempoolSeq != w.mseq {
			t.Fatalf("event %d: %v %s seq %d %v %v %d; want %s seq %d %v %v %d", i, ev.Kind, ev.Topic, ev.Seq, ev.Hash, ev.Label, ev.MempoolSeq, w.topic, w.seq, w.hash, w.label, w.mseq)
		}
		switch w.topic {
		case zmqnotify.RawBlock:
			if ev.Block == nil || ev.Block.BlockHash() != w.hash {
				t.Fatalf("event %d: rawblock %+v", i, ev)
			}
		case zmqnotify.RawTx:
			if ev.Tx == nil || ev.Tx.TxHash() != w.hash {
				t.Fatalf("event %d: rawtx %+v", i, ev)
			}
		}
	}
}

func TestZMQEveryTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), zmqHangGuard)
	defer cancel()
	n := New()
	p, err := n.PublishZMQ(allTopics("tcp://127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	events := subscribed(t, ctx, p, zmqnotify.Topics)

	tx := chain.NewDummyTx(1, true)
	if err := n.Chain().AddTxWithFee(tx, 1000, -1); err != nil {
		t.Fatal(err)
	}
	txid := tx.TxHash()
	expect(t, ctx, events,
		zmsg{topic: zmqnotify.HashTx, hash: txid},
		zmsg{topic: zmqnotify.RawTx, hash: txid},
		zmsg{topic: zmqnotify.Sequence, hash: txid, label: zmqnotify.TxAdded})
	hashes, err := n.Chain().GenerateToScript(1, []byte{0x51})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := n.Chain().BlockByHash(hashes[0])
	if len(block.Transactions) != 2 {
		t.Fatalf("block has %d transactions", len(block.Transactions))
	}
	cb := block.Transactions[0].TxHash()
	expect(t, ctx, events,
		zmsg{topic: zmqnotify.HashTx, seq: 1, hash: cb},
		zmsg{topic: zmqnotify.RawTx, seq: 1, hash: cb},
		zmsg{topic: zmqnotify.HashTx, seq: 2, hash: txid},
		zmsg{topic: zmqnotify.RawTx, seq: 2, hash: txid},
		zmsg{topic: zmqnotify.Sequence, seq: 1, hash: hashes[0], label: zmqnotify.BlockConnected},
		zmsg{topic: zmqnotify.HashBlock, hash: hashes[0]},
		zmsg{topic: zmqnotify.RawBlock, hash: hashes[0]})
	// The mempool sequence counts the block's removal of tx.
	tx2 := chain.NewDummyTx(2, false)
	if err := n.Chain().AddTxWithFee(tx2, 1000, -1); err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, events,
		zmsg{topic: zmqnotify.HashTx, seq: 3, hash: tx2.TxHash()},
		zmsg{topic: zmqnotify.RawTx, seq: 3, hash: tx2.TxHash()},
		zmsg{topic: zmqnotify.Sequence, seq: 2, hash: tx2.TxHash(), label: zmqnotify.TxAdded, mseq: 2})
}

func TestZMQGapAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), zmqHangGuard)
	defer cancel()
	n := New()
	p, err := n.PublishZMQ([]ZMQOption{{Topic: zmqnotify.HashBlock, Address: "tcp://127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	events := subscribed(t, ctx, p, []zmqnotify.Topic{zmqnotify.HashBlock}, zmqnotify.WithBackoff(time.Millisecond, 50*time.Millisecond))
	// The first message gives the subscriber its baseline; the second is
	// lost.
	hashes, err := n.Chain().GenerateToScript(1, []byte{0x51})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, events, zmsg{topic: zmqnotify.HashBlock, seq: 0, hash: hashes[0]})
	p.DropNext(zmqnotify.HashBlock)
	hashes, err = n.Chain().GenerateToScript(2, []byte{0x51})
	if err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, ctx, events)
	if ev.Kind != zmqnotify.EventGap || ev.Expected != 1 || ev.Seq != 2 {
		t.Fatalf("after a dropped message: %+v, want a gap: expected 1, got 2", ev)
	}
	expect(t, ctx, events, zmsg{topic: zmqnotify.HashBlock, seq: 2, hash: hashes[1]})

	// The node's publisher restarts on the same address: the subscriber
	// reports the loss and the reconnection, and numbering starts again.
	addr := p.Addr(zmqnotify.HashBlock)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, ctx, events); ev.Kind != zmqnotify.EventDisconnected {
		t.Fatalf("after the publisher stopped: %+v", ev)
	}
	p2, err := n.PublishZMQ([]ZMQOption{{Topic: zmqnotify.HashBlock, Address: addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	for ev.Kind != zmqnotify.EventConnected {
		if ev = nextEvent(t, ctx, events); ev.Kind != zmqnotify.EventConnected && ev.Kind != zmqnotify.EventDisconnected {
			t.Fatalf("while reconnecting: %+v", ev)
		}
	}
	waitSubscribed(t, ctx, p2, []zmqnotify.Topic{zmqnotify.HashBlock})
	hashes, err = n.Chain().GenerateToScript(1, []byte{0x51})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, ctx, events, zmsg{topic: zmqnotify.HashBlock, seq: 0, hash: hashes[0]})
}

func TestZMQOptionLoopbackOnly(t *testing.T) {
	for _, v := range []string{"tcp://0.0.0.0:28332", "tcp://192.168.1.2:1", "tcp://example.com:1", "ipc:///tmp/x"} {
		if _, err := ParseZMQOption("zmqpubhashblock", v); err == nil {
			t.Errorf("%s accepted", v)
		}
	}
	if _, err := ParseZMQOption("zmqpubhashblocks", "tcp://127.0.0.1:0"); err == nil {
		t.Error("unknown topic accepted")
	}
	for _, v := range []string{"tcp://127.0.0.1:28332", "tcp://[::1]:0", "tcp://localhost:1"} {
		if _, err := ParseZMQOption("zmqpubsequence", v); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
}
