package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	nodeapi "github.com/bitcoin-ipc/bitcoin-ipc/node"
	"github.com/bitcoin-ipc/bitcoin-ipc/zmqnotify"
)

// zmqFlags adds serve's -zmqpubTOPIC=ADDRESS options (each may be given
// several times, as in Core) and -zmq, -follow.
func (o *options) zmqFlags(fs *flag.FlagSet) {
	for _, t := range zmqnotify.Topics {
		name := "zmqpub" + string(t)
		fs.Func(name, "serve: publish "+string(t)+" notifications on this `address` (tcp://127.0.0.1:PORT, loopback only; port 0: any free one)", func(v string) error {
			zo, err := demonode.ParseZMQOption(name, v)
			if err != nil {
				return err
			}
			o.zmqpub = append(o.zmqpub, zo)
			return nil
		})
	}
	fs.StringVar(&o.zmq, "zmq", "", "subscribe, mining wait-tip -follow: the node's ZMQ publisher, tcp://HOST:PORT (wait-tip -follow uses it when there is no IPC node, or with -ipcconnect=0)")
	fs.BoolVar(&o.follow, "follow", false, "mining wait-tip: keep printing new tips until SIGINT/SIGTERM")
}

// servingZMQ starts the demo node's ZMQ publishers, if any, and prints
// where each topic is published.
func servingZMQ(n *demonode.Node, o *options, out io.Writer) (stop func(), err error) {
	if len(o.zmqpub) == 0 {
		return func() {}, nil
	}
	p, err := n.PublishZMQ(o.zmqpub)
	if err != nil {
		return nil, err
	}
	for _, t := range zmqnotify.Topics {
		if a := p.Addr(t); a != "" {
			fmt.Fprintf(out, "demo node publishing %s on %s\n", t, a)
		}
	}
	return func() { p.Close() }, nil
}

// untilSignal returns ctx, cancelled on SIGINT or SIGTERM.
func untilSignal(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
}

// subscribe prints the node's ZMQ notifications, one line (or JSON
// object) per event, until SIGINT or SIGTERM.
func subscribe(ctx context.Context, o *options, names []string, env Env) error {
	if o.zmq == "" {
		return usageError{"subscribe needs -zmq=tcp://HOST:PORT, the address of the node's -zmqpub options"}
	}
	topics := zmqnotify.Topics
	if len(names) > 0 {
		topics = nil
		for _, name := range names {
			t, err := zmqnotify.ParseTopic(name)
			if err != nil {
				return usageError{err.Error()}
			}
			topics = append(topics, t)
		}
	}
	if err := zmqnotify.CheckAddress(o.zmq); err != nil {
		return usageError{"-zmq: " + err.Error()}
	}
	ctx, cancel := untilSignal(ctx)
	defer cancel()
	events, err := zmqnotify.Subscribe(ctx, o.zmq, topics)
	if err != nil {
		return err
	}
	for ev := range events {
		if o.json {
			if err := json.NewEncoder(env.Stdout).Encode(eventJSON(o.zmq, ev)); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintln(env.Stdout, eventLine(o.zmq, ev))
	}
	return nil
}

func eventLine(addr string, ev zmqnotify.Event) string {
	switch ev.Kind {
	case zmqnotify.EventMessage:
		switch ev.Topic {
		case zmqnotify.RawBlock:
			return fmt.Sprintf("%s %d %s %d tx", ev.Topic, ev.Seq, ev.Hash, len(ev.Block.Transactions))
		case zmqnotify.RawTx:
			return fmt.Sprintf("%s %d %s %d bytes", ev.Topic, ev.Seq, ev.Hash, ev.Tx.SerializeSize())
		case zmqnotify.Sequence:
			if ev.Label == zmqnotify.TxAdded || ev.Label == zmqnotify.TxRemoved {
				return fmt.Sprintf("%s %d %s %c %d", ev.Topic, ev.Seq, ev.Hash, ev.Label, ev.MempoolSeq)
			}
			return fmt.Sprintf("%s %d %s %c", ev.Topic, ev.Seq, ev.Hash, ev.Label)
		}
		return fmt.Sprintf("%s %d %s", ev.Topic, ev.Seq, ev.Hash)
	case zmqnotify.EventGap:
		return fmt.Sprintf("gap %s: expected %d, got %d: messages were lost, resync", ev.Topic, ev.Expected, ev.Seq)
	case zmqnotify.EventConnected:
		if ev.Reconnected {
			return fmt.Sprintf("reconnected to %s (attempt %d): messages may have been lost, resync", addr, ev.Attempt)
		}
		return fmt.Sprintf("connected to %s", addr)
	case zmqnotify.EventDisconnected:
		return fmt.Sprintf("disconnected from %s: %v; retrying in %v", addr, ev.Err, ev.Backoff)
	}
	return fmt.Sprintf("error: %v", ev.Err)
}

// zmqEventJSON is an event as subscribe -json prints it.
type zmqEventJSON struct {
	Event      string `json:"event"`
	Topic      string `json:"topic,omitempty"`
	Seq        uint32 `json:"seq"`
	Hash       string `json:"hash,omitempty"`
	Label      string `json:"label,omitempty"`
	MempoolSeq uint64 `json:"mempool_sequence,omitempty"`
	Hex        string `json:"hex,omitempty"`
	Expected   uint32 `json:"expected,omitempty"`
	Address    string `json:"address,omitempty"`
	Attempt    int    `json:"attempt,omitempty"`
	Error      string `json:"error,omitempty"`
	Resync     bool   `json:"resync,omitempty"`
}

func eventJSON(addr string, ev zmqnotify.Event) zmqEventJSON {
	j := zmqEventJSON{Event: ev.Kind.String(), Topic: string(ev.Topic), Seq: ev.Seq, Resync: ev.Resync()}
	switch ev.Kind {
	case zmqnotify.EventMessage:
		j.Hash = ev.Hash.String()
		switch ev.Topic {
		case zmqnotify.RawBlock:
			j.Hex = hexOf(ev.Block)
		case zmqnotify.RawTx:
			j.Hex = hexOf(ev.Tx)
		case zmqnotify.Sequence:
			j.Label, j.MempoolSeq = string(rune(ev.Label)), ev.MempoolSeq
		}
	case zmqnotify.EventGap:
		j.Expected = ev.Expected
	case zmqnotify.EventConnected, zmqnotify.EventDisconnected:
		j.Address, j.Attempt = addr, ev.Attempt
	}
	if ev.Err != nil {
		j.Error = ev.Err.Error()
	}
	return j
}

func hexOf(v interface{ Serialize(io.Writer) error }) string {
	var b hexWriter
	_ = v.Serialize(&b)
	return string(b)
}

// hexWriter collects what is written to it as hex.
type hexWriter []byte

func (h *hexWriter) Write(p []byte) (int, error) {
	*h = hex.AppendEncode(*h, p)
	return len(p), nil
}

// followTips prints every new tip until SIGINT or SIGTERM: over IPC with
// n, over ZMQ (-zmq) when n is nil.
func followTips(ctx context.Context, o *options, n *nodeapi.Node, env Env) error {
	ctx, cancel := untilSignal(ctx)
	defer cancel()
	tips, err := nodeapi.Tips(ctx, n, nodeapi.TipsOptions{ZMQ: o.zmq, Logger: o.logger(env.Stderr)})
	if err != nil {
		return err
	}
	var last error
	for ev := range tips {
		if ev.Err != nil {
			last = ev.Err
			fmt.Fprintf(env.Stderr, "warning: %v\n", ev.Err)
			continue
		}
		last = nil
		if ev.Missed {
			fmt.Fprintf(env.Stderr, "warning: tips were missed before %s\n", ev.Tip.Hash)
		}
		switch {
		case o.json:
			j := struct {
				Hash   string `json:"hash"`
				Height *int32 `json:"height,omitempty"`
				Missed bool   `json:"missed,omitempty"`
			}{Hash: ev.Tip.Hash.String(), Missed: ev.Missed}
			if ev.Tip.Height >= 0 {
				j.Height = &ev.Tip.Height
			}
			if err := json.NewEncoder(env.Stdout).Encode(j); err != nil {
				return err
			}
		case ev.Tip.Height >= 0:
			fmt.Fprintf(env.Stdout, "%s %d\n", ev.Tip.Hash, ev.Tip.Height)
		default:
			fmt.Fprintln(env.Stdout, ev.Tip.Hash)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return last
}

// follow runs mining wait-tip -follow: over IPC when the node is there,
// over ZMQ with -zmq when it is not (or with -ipcconnect=0).
func follow(ctx context.Context, o *options, env Env) error {
	if o.zmq != "" {
		if err := zmqnotify.CheckAddress(o.zmq); err != nil {
			return usageError{"-zmq: " + err.Error()}
		}
		if o.ipcconnect == "0" {
			return followTips(ctx, o, nil, env)
		}
	}
	err := withNode(ctx, o, env, func(n *node) error { return followTips(ctx, o, n.h, env) })
	if o.zmq != "" && (errors.Is(err, errNoNode) || isConnRefused(err)) {
		o.logger(env.Stderr).Debug("no IPC node; tips over ZMQ", "reason", err)
		return followTips(ctx, o, nil, env)
	}
	return err
}
