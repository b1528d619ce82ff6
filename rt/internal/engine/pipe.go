package engine

// Pipelining on calls to local capabilities.

import (
	"sync"

	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

// pipe is a promise on a result capability of a local call that has not
// returned: the calls made on it queue and are delivered, in order, to
// that capability once the call returns; later calls go straight on. It
// is the Server of a local node, so it needs no connection.
type pipe struct {
	mu       sync.Mutex
	done     bool
	draining bool // delivering held; new calls queue behind them
	released bool // the last reference to the promise went
	target   *node
	err      error
	held     []*Call
	waiters  []func()
}

// newPipe makes the promise of the capability at path of a's results.
func newPipe(a *Answer, path []uint16) *Client {
	p := &pipe{}
	a.onDoneLocal(func() { p.resolve(a, path) })
	return NewLocal(p)
}

// Dispatch queues c until the call returned, else delivers it.
func (p *pipe) Dispatch(c *Call) {
	p.mu.Lock()
	if !p.done || p.draining {
		p.held = append(p.held, c)
		p.mu.Unlock()
		return
	}
	t, err := p.target, p.err
	p.mu.Unlock()
	if err != nil {
		c.Return(err)
		return
	}
	deliverCall(t, c)
}

// resolve runs when the call returns (before its Answer can drop the
// results): it takes a reference to the capability and delivers the
// calls held, in order.
func (p *pipe) resolve(a *Answer, path []uint16) {
	var t *node
	err := a.err
	if err == nil {
		var cerr error
		if t, cerr = capAt(a.content, a.caps, path); cerr != nil {
			err = &Exception{Type: rpccp.Exception_Type_failed, Reason: cerr.Error()}
		} else if t != nil {
			t.addRef()
		}
	}
	p.mu.Lock()
	p.done, p.draining, p.target, p.err = true, true, t, err
	for len(p.held) > 0 {
		held := p.held
		p.held = nil
		p.mu.Unlock()
		for _, c := range held {
			if err != nil {
				c.Return(err)
			} else {
				deliverCall(t, c)
			}
		}
		p.mu.Lock()
	}
	p.draining = false
	var drop *node
	if p.released {
		drop, p.target = p.target, nil
	}
	waiters := p.waiters
	p.waiters = nil
	p.mu.Unlock()
	drop.release()
	for _, w := range waiters {
		runSafe(w)
	}
}

// Shutdown drops the capability once nobody holds the promise.
func (p *pipe) Shutdown() {
	p.mu.Lock()
	p.released = true
	var drop *node
	if p.done && !p.draining {
		drop, p.target = p.target, nil
	}
	p.mu.Unlock()
	drop.release()
}

// next reports what the promise resolved to; ok is false while it has
// not. If f is not nil and the promise has not resolved, f is called
// once it has.
func (p *pipe) next(f func()) (n *node, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done || p.draining {
		if f != nil {
			p.waiters = append(p.waiters, f)
		}
		return nil, false
	}
	if p.err != nil {
		return &node{kind: kindError, err: p.err, refs: 1}, true
	}
	return p.target, true
}
