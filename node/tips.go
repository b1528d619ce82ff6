package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/bitcoin-ipc/bitcoin-ipc/domain"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
	"github.com/bitcoin-ipc/bitcoin-ipc/zmqnotify"
)

// TipEvent is one item of the Tips stream: a new tip, or a problem.
type TipEvent struct {
	// Tip is the new tip. Over ZMQ (hashblock) the height is unknown and
	// Height is -1.
	Tip BlockRef
	// Missed says tips may have been missed before this one: over IPC the
	// height jumped by more than one (several blocks were connected during
	// one wait); over ZMQ a message was lost or the connection was
	// re-established. A caller that keeps state per block should resync.
	Missed bool
	// Err is a problem that does not end the stream (ZMQ: a lost
	// connection, which is retried, or an undecodable message); Tip is
	// unset. A problem that ends the stream (an IPC error) is the last
	// event before the channel closes.
	Err error
}

// TipsOptions configure Tips.
type TipsOptions struct {
	// ZMQ is the address of the node's hashblock publisher
	// (-zmqpubhashblock, tcp://HOST:PORT), used when there is no IPC
	// connection.
	ZMQ string
	// Logger, if not nil, is told at debug level which way the tips come.
	Logger *slog.Logger
	// ZMQOptions are passed to zmqnotify.Subscribe.
	ZMQOptions []zmqnotify.Option
}

// Tips returns one stream of the node's new tips: over IPC
// (Mining.waitTipChanged, on every release) when n is not nil, over ZMQ
// (o.ZMQ's hashblock topic) otherwise. Both deliver the tips connected
// after the call. The channel is closed when ctx is done, or after an
// IPC error (the last event); the caller must read it until then.
func Tips(ctx context.Context, n *Node, o TipsOptions) (<-chan TipEvent, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if n == nil {
		if o.ZMQ == "" {
			return nil, errors.New("node: tips: no IPC connection and no ZMQ address")
		}
		events, err := zmqnotify.Subscribe(ctx, o.ZMQ, []zmqnotify.Topic{zmqnotify.HashBlock}, o.ZMQOptions...)
		if err != nil {
			return nil, fmt.Errorf("node: tips: %w", err)
		}
		log.Debug("tips over ZMQ hashblock", "address", o.ZMQ)
		out := make(chan TipEvent)
		go zmqTips(ctx, events, out)
		return out, nil
	}
	m, err := n.Mining(ctx)
	if err != nil {
		return nil, fmt.Errorf("node: tips: %w", err)
	}
	tip, err := m.GetTip(ctx)
	if err == nil && tip == nil {
		err = errors.New("the node has no chain")
	}
	if err != nil {
		m.Release()
		return nil, fmt.Errorf("node: tips: getTip: %w", err)
	}
	// The waits run on a node thread of their own, so that they never
	// hold up other calls on the connection, and without the connection's
	// call bound: each waits for as long as the chain does not move.
	th, err := n.conn.NewThread()
	if err != nil {
		m.Release()
		return nil, fmt.Errorf("node: tips: %w", err)
	}
	log.Debug("tips over IPC (Mining.waitTipChanged)", "version", n.Version())
	out := make(chan TipEvent)
	go func() {
		// Everything is released before the channel closes: the caller
		// may close the connection then.
		defer close(out)
		defer m.Release()
		defer th.Release()
		ipcTips(ctx, rt.ContextWithCallTimeout(rt.WithThread(ctx, th), 0), m, *tip, out)
	}()
	return out, nil
}

func send(ctx context.Context, out chan<- TipEvent, ev TipEvent) bool {
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// ipcTips waits with wctx (ctx on a thread of its own).
func ipcTips(ctx, wctx context.Context, m Mining, tip BlockRef, out chan<- TipEvent) {
	for ctx.Err() == nil {
		next, err := m.WaitTipChanged(wctx, tip.Hash, domain.NoTimeout)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			send(ctx, out, TipEvent{Err: fmt.Errorf("node: tips: waitTipChanged: %w", err)})
			return
		}
		if next == nil || next.Hash == tip.Hash {
			continue // interrupted (Mining.interrupt), or woken without a change
		}
		if !send(ctx, out, TipEvent{Tip: *next, Missed: next.Height != tip.Height+1}) {
			return
		}
		tip = *next
	}
}

func zmqTips(ctx context.Context, events <-chan zmqnotify.Event, out chan<- TipEvent) {
	defer close(out)
	missed := false
	for ev := range events {
		missed = missed || ev.Resync()
		var tev TipEvent
		switch ev.Kind {
		case zmqnotify.EventMessage:
			tev = TipEvent{Tip: BlockRef{Hash: ev.Hash, Height: -1}, Missed: missed}
			missed = false
		case zmqnotify.EventDisconnected:
			tev = TipEvent{Err: fmt.Errorf("node: tips: ZMQ connection lost (retrying in %v): %w", ev.Backoff, ev.Err)}
		case zmqnotify.EventError:
			tev = TipEvent{Err: fmt.Errorf("node: tips: %w", ev.Err)}
		default:
			continue
		}
		if !send(ctx, out, tev) {
			return
		}
	}
}
