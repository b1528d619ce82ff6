package engine

// Promise resolution (Resolve) and embargoes (Disembargo).

import (
	"fmt"

	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

// pointsHere reports whether calls on t run in this process (not on the
// peer of c), so that calls sent earlier through the peer can be
// overtaken.
func (c *Conn) pointsHere(t *node) bool {
	for t != nil && t.conn == c && t.kind == kindResolved {
		t = t.target
	}
	if t == nil {
		return false
	}
	return t.conn != c || t.kind == kindLocalPromise || t.kind == kindLocal
}

// embargoLocked holds the calls to p (resolved into this process) until
// a Disembargo sent now through the peer comes back.
func (c *Conn) embargoLocked(p *node, target func(rpccp.MessageTarget) error) bool {
	msg, root, err := newMessage()
	if err != nil {
		return false
	}
	d, err := root.NewDisembargo()
	if err != nil {
		return false
	}
	t, err := d.NewTarget()
	if err != nil || target(t) != nil {
		return false
	}
	var id uint32
	if k := len(c.freeEmb); k > 0 {
		id = c.freeEmb[k-1]
		c.freeEmb = c.freeEmb[:k-1]
		c.embargoes[id] = p
	} else {
		c.embargoes = append(c.embargoes, p)
		id = uint32(len(c.embargoes) - 1)
	}
	d.Context().SetSenderLoopback(id)
	p.holding = true
	return c.sendOwnedLocked(msg, true)
}

// handleResolve: an import that was a promise resolved.
func (c *Conn) handleResolve(res rpccp.Resolve) error {
	c.mu.Lock()
	id := res.PromiseId()
	var t *node
	switch res.Which() {
	case rpccp.Resolve_Which_cap:
		d, err := res.Cap()
		if err != nil {
			c.mu.Unlock()
			return fmt.Errorf("%w: read resolve: %v", ErrProtocol, err)
		}
		t = c.importLocked(d)
	case rpccp.Resolve_Which_exception:
		ex, err := res.Exception()
		if err != nil {
			c.mu.Unlock()
			return fmt.Errorf("%w: read resolve: %v", ErrProtocol, err)
		}
		t = &node{kind: kindError, refs: 1, err: readException(ex)}
	default:
		c.mu.Unlock()
		return c.sendUnimplementedResolve(res)
	}
	e := c.imports[id]
	if e == nil || !e.promise || e.n.kind != kindImport {
		// Released already (or not a promise): drop the new reference.
		c.mu.Unlock()
		if t != nil {
			t.release()
		}
		if e != nil && !e.promise {
			return fmt.Errorf("%w: resolve of import %d, not a promise", ErrProtocol, id)
		}
		return nil
	}
	n := e.n
	e.promise = false
	waiters := n.waiters
	n.waiters = nil
	flush := false
	if t == nil {
		t = &node{kind: kindError, refs: 1, err: fmt.Errorf("%w: promise resolved to null", ErrNull)}
	}
	n.kind, n.target = kindResolved, t
	if n.called && c.pointsHere(t) {
		flush = c.embargoLocked(n, func(tg rpccp.MessageTarget) error {
			tg.SetImportedCap(id)
			return nil
		})
	}
	c.mu.Unlock()
	c.afterUnlock(flush)
	for _, w := range waiters {
		runSafe(w)
	}
	return nil
}

func (c *Conn) sendUnimplementedResolve(res rpccp.Resolve) error {
	root, err := rpccp.ReadRootMessage(res.Message())
	if err != nil {
		return nil
	}
	return c.sendUnimplemented(root)
}

func (c *Conn) handleDisembargo(d rpccp.Disembargo) error {
	ctx := d.Context()
	switch ctx.Which() {
	case rpccp.Disembargo_context_Which_senderLoopback:
		tg, err := d.Target()
		if err != nil {
			return fmt.Errorf("%w: read disembargo: %v", ErrProtocol, err)
		}
		c.mu.Lock()
		n, terr := c.targetLocked(tg)
		// A promise that still delivers calls held on it (a drain) holds
		// the echo too: the calls sent before the Disembargo go first.
		var wait *node
		for terr == nil && n != nil && n.conn == c && n.kind == kindResolved && (!n.holding || n.ans != nil) {
			if n.holding && wait == nil {
				wait = n
			}
			n = n.target
		}
		if terr != nil || n == nil || n.conn != c || (n.kind != kindImport && n.kind != kindRemotePromise) {
			c.mu.Unlock()
			return fmt.Errorf("%w: disembargo target does not point back to the sender", ErrProtocol)
		}
		msg, root, err := newMessage()
		if err != nil {
			c.mu.Unlock()
			return err
		}
		out, err := root.NewDisembargo()
		if err == nil {
			var t rpccp.MessageTarget
			if t, err = out.NewTarget(); err == nil {
				if n.kind == kindImport {
					t.SetImportedCap(n.importID)
				} else {
					var pa rpccp.PromisedAnswer
					if pa, err = t.NewPromisedAnswer(); err == nil {
						err = writePromisedAnswer(pa, n.q.id, n.path)
					}
				}
			}
		}
		if err != nil {
			c.mu.Unlock()
			return err
		}
		out.Context().SetReceiverLoopback(ctx.SenderLoopback())
		if wait != nil {
			wait.echoes = append(wait.echoes, msg)
			c.mu.Unlock()
			return nil
		}
		flush := c.sendOwnedLocked(msg, true)
		c.mu.Unlock()
		c.afterUnlock(flush)
		return nil
	case rpccp.Disembargo_context_Which_receiverLoopback:
		id := ctx.ReceiverLoopback()
		c.mu.Lock()
		if int(id) >= len(c.embargoes) || c.embargoes[id] == nil {
			c.mu.Unlock()
			return fmt.Errorf("%w: unknown embargo %d", ErrProtocol, id)
		}
		p := c.embargoes[id]
		c.embargoes[id] = nil
		c.freeEmb = append(c.freeEmb, id)
		c.mu.Unlock()
		c.drain(p, false)
		return nil
	default:
		root, err := rpccp.ReadRootMessage(d.Message())
		if err != nil {
			return nil
		}
		return c.sendUnimplemented(root)
	}
}
