package demonode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/btcsuite/btcd/wire"
	"github.com/go-zeromq/zmq4"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode/chain"
	"github.com/bitcoin-ipc/bitcoin-ipc/zmqnotify"
)

// ZMQOption is one -zmqpubTOPIC=ADDRESS startup option.
type ZMQOption struct {
	Topic   zmqnotify.Topic
	Address string // tcp://HOST:PORT, on the loopback
}

// ParseZMQOption parses a -zmqpub option: name is "zmqpubhashblock",
// "zmqpubhashtx", "zmqpubrawblock", "zmqpubrawtx" or "zmqpubsequence"
// (without the dash), value a tcp:// address on the loopback (port 0
// picks a free port). The demo node refuses other addresses: it
// publishes unauthenticated, as Core does, and only for local tests.
func ParseZMQOption(name, value string) (ZMQOption, error) {
	t, err := zmqnotify.ParseTopic(strings.TrimPrefix(name, "zmqpub"))
	if err != nil || !strings.HasPrefix(name, "zmqpub") {
		return ZMQOption{}, fmt.Errorf("unknown option -%s", name)
	}
	if err := checkLoopback(value); err != nil {
		return ZMQOption{}, err
	}
	return ZMQOption{Topic: t, Address: value}, nil
}

func checkLoopback(addr string) error {
	if err := zmqnotify.CheckAddress(addr); err != nil {
		return err
	}
	u, _ := url.Parse(addr)
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address (the demo node publishes on 127.0.0.1 or [::1] only)", addr)
	}
	return nil
}

// ZMQPublisher publishes the node's chain and mempool changes as Core's
// ZMQ notifiers do: each topic on its addresses, three frames per message
// (topic, body, 4-byte little-endian sequence number counted per topic and
// address from 0). Create it with Node.PublishZMQ.
type ZMQPublisher struct {
	socks  map[string]zmq4.Socket // by configured address
	bound  map[string]string      // configured address -> tcp://actual
	topics map[zmqnotify.Topic][]*notifier
	cancel func()

	mu   sync.Mutex // guards drop and the notifiers' sequence numbers
	drop map[zmqnotify.Topic]int
}

type notifier struct {
	topic zmqnotify.Topic
	addr  string
	sock  zmq4.Socket
	seq   uint32
}

// PublishZMQ starts publishing on the given options' addresses. Several
// topics may share an address (one socket), as in Core. Close stops it.
func (n *Node) PublishZMQ(opts []ZMQOption) (*ZMQPublisher, error) {
	p := &ZMQPublisher{
		socks:  make(map[string]zmq4.Socket),
		bound:  make(map[string]string),
		topics: make(map[zmqnotify.Topic][]*notifier),
		drop:   make(map[zmqnotify.Topic]int),
	}
	for _, o := range opts {
		if err := checkLoopback(o.Address); err != nil {
			p.closeSockets()
			return nil, fmt.Errorf("zmq: %w", err)
		}
		sock, ok := p.socks[o.Address]
		if !ok {
			sock = zmq4.NewPub(context.Background(), zmq4.WithLogger(log.New(io.Discard, "", 0)))
			if err := sock.Listen(o.Address); err != nil {
				sock.Close()
				p.closeSockets()
				return nil, fmt.Errorf("zmq: %w", err)
			}
			p.socks[o.Address] = sock
			p.bound[o.Address] = "tcp://" + sock.Addr().String()
		}
		p.topics[o.Topic] = append(p.topics[o.Topic], &notifier{topic: o.Topic, addr: o.Address, sock: sock})
	}
	p.cancel = n.chain.OnNotify(p.notify)
	return p, nil
}

// Addr returns the address a topic is published on (the first, if
// several), with the port actually bound; "" if the topic is not
// published.
func (p *ZMQPublisher) Addr(t zmqnotify.Topic) string {
	if ns := p.topics[t]; len(ns) > 0 {
		return p.bound[ns[0].addr]
	}
	return ""
}

// Subscribed reports whether a subscriber's subscription to t has reached
// the publisher on t's first address. ZMQ drops what a publisher sends
// before a subscription arrives, so tests wait for this.
func (p *ZMQPublisher) Subscribed(t zmqnotify.Topic) bool {
	ns := p.topics[t]
	if len(ns) == 0 {
		return false
	}
	topics, ok := ns[0].sock.(zmq4.Topics)
	return ok && slices.Contains(topics.Topics(), string(t))
}

// DropNext makes the publisher skip the next message of topic t on every
// address while still counting its sequence number, as a message lost by
// ZMQ: a test hook for gap detection.
func (p *ZMQPublisher) DropNext(t zmqnotify.Topic) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drop[t]++
}

// Close stops publishing and closes the sockets.
func (p *ZMQPublisher) Close() error {
	p.cancel()
	return p.closeSockets()
}

func (p *ZMQPublisher) closeSockets() error {
	var errs []error
	for _, s := range p.socks {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// notify runs with the chain locked; sending only queues the message.
func (p *ZMQPublisher) notify(c chain.Notification) {
	switch c.Kind {
	case chain.BlockConnected:
		for _, tx := range c.Block.Transactions {
			p.publishTx(tx)
		}
		p.publish(zmqnotify.Sequence, func() []byte { return zmqnotify.SequenceBody(c.Hash, zmqnotify.BlockConnected, 0) })
		p.publish(zmqnotify.HashBlock, func() []byte { return zmqnotify.HashBody(c.Hash) })
		p.publish(zmqnotify.RawBlock, func() []byte { return serialize(c.Block) })
	case chain.TxAdded:
		p.publishTx(c.Tx)
		p.publish(zmqnotify.Sequence, func() []byte { return zmqnotify.SequenceBody(c.Hash, zmqnotify.TxAdded, c.MempoolSeq) })
	case chain.TxRemoved:
		p.publish(zmqnotify.Sequence, func() []byte { return zmqnotify.SequenceBody(c.Hash, zmqnotify.TxRemoved, c.MempoolSeq) })
	}
}

func (p *ZMQPublisher) publishTx(tx *wire.MsgTx) {
	p.publish(zmqnotify.HashTx, func() []byte { return zmqnotify.HashBody(tx.TxHash()) })
	p.publish(zmqnotify.RawTx, func() []byte { return serialize(tx) })
}

func (p *ZMQPublisher) publish(t zmqnotify.Topic, body func() []byte) {
	ns := p.topics[t]
	if len(ns) == 0 {
		return
	}
	b := body()
	p.mu.Lock()
	defer p.mu.Unlock()
	drop := p.drop[t] > 0
	if drop {
		p.drop[t]--
	}
	for _, nf := range ns {
		seq := nf.seq
		nf.seq++
		if !drop {
			// A PUB socket queues the message and never blocks; an error
			// means the socket is closed, and the message is lost as ZMQ
			// loses it.
			_ = nf.sock.SendMulti(zmq4.NewMsgFrom(zmqnotify.Encode(t, b, seq)...))
		}
	}
}

type serializer interface{ Serialize(io.Writer) error }

func serialize(v serializer) []byte {
	var buf bytes.Buffer
	_ = v.Serialize(&buf) // a bytes.Buffer never fails
	return buf.Bytes()
}
