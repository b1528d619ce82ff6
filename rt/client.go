package rt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/schemas"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/mp"
)

// Method describes one schema method, for calls, logs and errors.
// Generated code declares one per method.
type Method struct {
	File       string // schema file, e.g. "mining.capnp"
	Interface  string // e.g. "Mining"
	Name       string // e.g. "getTip"
	HasContext bool   // the method takes context :Proxy.Context
	ParamsID   uint64 // type ID of the params struct (trace logs print it)
	ResultsID  uint64 // type ID of the results struct
	// Schema registers the wire package's schemas (capnpc-go's
	// RegisterSchema), for printing arguments in trace logs.
	Schema func(*schemas.Registry)
}

func (m *Method) String() string { return m.Interface + "." + m.Name }

// ClientBase is the state every generated client shares: the capability,
// its connection, and whether it was destroyed or released.
type ClientBase struct {
	conn      *Conn
	client    capnp.Client
	mu        sync.Mutex
	state     atomic.Int32 // 0 live, 1 destroyed, 2 released
	destroyed sync.Once
	cleanups  []func()
}

const (
	stateLive int32 = iota
	stateDestroyed
	stateReleased
)

// NewClientBase takes ownership of c, a capability on conn.
func NewClientBase(conn *Conn, c capnp.Client) *ClientBase {
	return &ClientBase{conn: conn, client: c}
}

// Conn is the connection the capability lives on.
func (b *ClientBase) Conn() *Conn { return b.conn }

// Client is the capability, borrowed: do not release it.
func (b *ClientBase) Client() capnp.Client { return b.client }

// IsValid reports whether the proxy holds a capability.
func (b *ClientBase) IsValid() bool { return b != nil && b.client.IsValid() }

// AddCleanup registers fn to run once when the proxy is destroyed or
// released (Ipc::addCleanup in Bitcoin Core).
func (b *ClientBase) AddCleanup(fn func()) {
	b.mu.Lock()
	if b.state.Load() == stateLive {
		b.cleanups = append(b.cleanups, fn)
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	fn()
}

// Release drops the capability without calling destroy. Later calls fail
// with ErrReleased without sending anything.
func (b *ClientBase) Release() {
	if b.state.CompareAndSwap(stateLive, stateReleased) {
		b.finish()
	}
}

func (b *ClientBase) finish() {
	b.mu.Lock()
	c := b.client
	b.client = capnp.Client{}
	fns := b.cleanups
	b.cleanups = nil
	b.mu.Unlock()
	c.Release()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// check refuses calls on a destroyed or released proxy, locally: a C++
// server crashes when a destroyed object is called.
func (b *ClientBase) check(m *Method) error {
	switch b.state.Load() {
	case stateDestroyed:
		return exception.Local(exception.Failed, exception.ErrDestroyed, m.Interface, m.Name)
	case stateReleased:
		return exception.Local(exception.Failed, exception.ErrReleased, m.Interface, m.Name)
	}
	if b.conn != nil {
		if err := b.conn.Err(); err != nil {
			return exception.New(exception.Disconnected, m.Interface, m.Name, "connection closed")
		}
	}
	return nil
}

// Call runs one call of method m through fn, which builds the request with
// the capability and waits for the answer. For methods with a context it
// provides the threads to put in it; it converts errors to
// *exception.Error.
func (b *ClientBase) Call(ctx context.Context, m *Method, fn func(ctx context.Context, tc *CallContext) error) error {
	if err := b.check(m); err != nil {
		return err
	}
	return b.conn.call(ctx, m, fn)
}

// Destroy sends destroy (method m) once, then releases the capability.
// Calling it again does nothing; any other call afterwards fails with
// ErrDestroyed without sending anything.
func (b *ClientBase) Destroy(ctx context.Context, m *Method, fn func(ctx context.Context, tc *CallContext) error) error {
	if b.state.Load() != stateLive {
		return nil
	}
	if err := b.check(m); err != nil {
		// The peer is gone, and with it the object.
		b.Release()
		return nil
	}
	err := b.conn.call(ctx, m, fn)
	if b.state.CompareAndSwap(stateLive, stateDestroyed) {
		b.finish()
	}
	return err
}

// CallContext holds what goes into a call's context struct.
type CallContext struct {
	thread   mp.Thread
	callback mp.Thread
	lease    *lease
}

// Fill writes context.thread and context.callbackThread.
func (tc *CallContext) Fill(c mp.Context) error {
	if tc == nil {
		return nil
	}
	if tc.thread.IsValid() {
		if err := c.SetThread(tc.thread.AddRef()); err != nil {
			return err
		}
	}
	if tc.callback.IsValid() {
		return c.SetCallbackThread(tc.callback.AddRef())
	}
	return nil
}

// call picks the threads for a call and runs it.
func (c *Conn) call(ctx context.Context, m *Method, fn func(ctx context.Context, tc *CallContext) error) (err error) {
	ctx, cancel := c.boundCall(ctx)
	defer cancel()
	req, pinned := requestFrom(ctx), pinnedFrom(ctx, c)
	var tc CallContext
	if m.HasContext {
		switch {
		case req != nil && req.conn == c && req.callback.IsValid():
			// A call back into the peer while serving its request runs
			// on the peer's waiting thread, as libmultiprocess does.
			tc.thread, tc.callback = req.callback, req.self
		case pinned != nil:
			p := pinned
			p.mu.Lock()
			defer p.mu.Unlock()
			if err := p.lease.ready(ctx); err != nil {
				return exception.FromCapnp(err, m.Interface, m.Name)
			}
			tc.thread, tc.callback = p.lease.server, p.lease.cbCap
		default:
			// The lease's own errors get names of their own: the deferred
			// put must see the call's result (the named err), not theirs.
			l, aerr := c.leases.acquire(ctx)
			if aerr != nil {
				return exception.FromCapnp(aerr, m.Interface, m.Name)
			}
			if rerr := l.ready(ctx); rerr != nil {
				c.leases.put(l, true)
				return exception.FromCapnp(rerr, m.Interface, m.Name)
			}
			tc.thread, tc.callback, tc.lease = l.server, l.cbCap, l
			defer func() {
				// A call abandoned through ctx may still run on the
				// peer's thread: never reuse that thread.
				abandoned := err != nil && ctx.Err() != nil
				l.failed = err != nil
				c.leases.put(l, abandoned)
			}()
		}
	}
	if req != nil && req.exec != nil {
		// Let calls posted to our thread run while we wait.
		req.exec.yield()
		defer req.exec.resume()
	}
	n := c.requests.Add(1)
	if c.log.Enabled(ctx, slogDebug) {
		c.log.Debug("IPC client send request", "n", n, "method", m.String())
	}
	if req != nil && req.conn == c && req.ctx != nil {
		err = c.callNested(ctx, req, &tc, m, fn)
	} else {
		err = fn(ctx, &tc)
	}
	if err != nil {
		err = c.fromCapnp(err, m.Interface, m.Name)
		if errors.Is(err, exception.ErrUnimplemented) {
			// An answer, not a failure: the peer does not have the
			// method (probe.Probe asks on purpose).
			c.log.Debug("IPC client request answered: method unimplemented", "n", n, "method", m.String())
		} else {
			c.log.Debug("IPC client request failed", "n", n, "method", m.String(), "err", err)
		}
	}
	return err
}

// callNested runs fn for a call that a handler makes back into its own
// connection. go-capnp (v3.1.0-alpha.2) shuts a connection down by first
// waiting for every handler to return, and only then failing the calls
// still waiting for an answer: the Finish it queues for a cancelled call
// is never sent once its sender has stopped, and that Finish is what
// would fail the call. A handler waiting on a call to the same peer, such
// as a callback into a client that died, would hold that shutdown, and
// the handler, for ever. So once the handler's context has ended and the
// connection has stopped reading (no answer can arrive any more), the
// call fails with Disconnected at once; fn finishes on its own goroutine
// when go-capnp fails its question, with references of its own to the
// threads.
func (c *Conn) callNested(ctx context.Context, req *request, tc *CallContext, m *Method, fn func(ctx context.Context, tc *CallContext) error) error {
	own := &CallContext{thread: tc.thread.AddRef(), callback: tc.callback.AddRef()}
	done := make(chan error, 1)
	go func() {
		defer own.thread.Release()
		defer own.callback.Release()
		done <- fn(ctx, own)
	}()
	select {
	case err := <-done:
		return err
	case <-req.ctx.Done():
	}
	select {
	case err := <-done:
		return err
	case <-c.codec.readDone:
		return exception.New(exception.Disconnected, m.Interface, m.Name, "connection closed")
	}
}

// lease is one of the peer's Threads, with the Thread of ours sent along
// as callbackThread. An in-flight call holds its lease exclusively.
type lease struct {
	server    mp.Thread
	serverRel capnp.ReleaseFunc
	cb        *thread
	cbCap     mp.Thread
	used      bool            // a call already named server (pipelined or not)
	failed    bool            // the last call failed (perhaps before makeThread answered)
	answered  <-chan struct{} // closed once makeThread has answered
}

// ready is called before each use. The first call may name the peer's
// Thread while makeThread is still unanswered (pipelined, as
// libmultiprocess clients do); later calls wait for it to resolve, so
// that no message names the same unanswered result twice (which
// deadlocks go-capnp v3.1.0-alpha.2 peers, and our own limit codec
// refuses it). A call can come back before makeThread's answer when it
// fails fast, e.g. with "unimplemented".
func (l *lease) ready(ctx context.Context) error {
	if !l.used {
		l.used = true
		return nil
	}
	if !l.failed || l.answered == nil {
		return nil // a makePool lease: calls carry no thread
	}
	select {
	case <-l.answered:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *lease) release() {
	l.server.Release()
	if l.serverRel != nil {
		select {
		case <-l.answered:
			l.serverRel()
		default:
			// go-capnp's release of an unanswered question waits for
			// the answer, which a peer that stopped answering never
			// sends: it completes on its own once the answer comes or
			// the connection ends.
			go l.serverRel()
		}
	}
	l.cbCap.Release()
}

// leasePool grows lazily up to the connection's client thread limit.
type leasePool struct {
	conn    *Conn
	mu      sync.Mutex
	idle    []*lease
	sem     chan struct{}
	closed  bool
	usePool bool
	made    int
}

func (p *leasePool) init(c *Conn) {
	p.conn = c
	p.sem = make(chan struct{}, max(c.opts.clientThreads, 1))
}

var errNoThreadMap = errors.New("peer sent no ThreadMap: cannot create threads for context calls")

func (p *leasePool) acquire(ctx context.Context) (*lease, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.conn.done:
		return nil, errDisconnectedLocal
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.sem
		return nil, errDisconnectedLocal
	}
	if n := len(p.idle); n > 0 {
		l := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return l, nil
	}
	p.made++
	idx := p.made
	usePool := p.usePool
	p.mu.Unlock()
	l, err := p.conn.newLease(idx, usePool)
	if err != nil {
		<-p.sem
		return nil, err
	}
	return l, nil
}

func (c *Conn) newLease(idx int, usePool bool) (*lease, error) {
	cb := c.newThread(fmt.Sprintf("%s callback %d", c.opts.name, idx))
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errDisconnectedLocal
	}
	c.threads[cb] = struct{}{}
	tm := c.peerThreadMap
	c.mu.Unlock()
	l := &lease{cb: cb, cbCap: mp.Thread_ServerToClient(cb)}
	if usePool {
		return l, nil
	}
	if !tm.IsValid() {
		l.release()
		return nil, errNoThreadMap
	}
	// Pipelined: the first call carries the unreturned answer.
	fut, rel := tm.MakeThread(context.Background(), func(p mp.ThreadMap_makeThread_Params) error {
		return p.SetName(fmt.Sprintf("%s/%d", c.opts.name, idx))
	})
	l.server, l.serverRel, l.answered = fut.Result().AddRef(), rel, fut.Done()
	return l, nil
}

func (p *leasePool) put(l *lease, retire bool) {
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		l.release()
	case retire:
		p.mu.Unlock()
		// Releasing finishes makeThread's question, which waits for its
		// answer: on a peer that stopped reading that can take until the
		// connection ends. The failed call returns now.
		go l.release()
	default:
		p.idle = append(p.idle, l)
		p.mu.Unlock()
	}
	<-p.sem
}

func (p *leasePool) closeAll() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, l := range idle {
		l.release()
	}
}

// Thread is one of the peer's threads, reserved for the calls of a context
// made with WithThread: they run there one at a time, in order. Use it to
// keep a long wait (waitNext, waitTipChanged) apart, or to pin a sequence.
type Thread struct {
	conn  *Conn
	mu    sync.Mutex
	lease *lease
}

// NewThread asks the peer for a thread of its own.
func (c *Conn) NewThread() (*Thread, error) {
	c.leases.mu.Lock()
	c.leases.made++
	idx := c.leases.made
	c.leases.mu.Unlock()
	l, err := c.newLease(idx, false)
	if err != nil {
		return nil, err
	}
	return &Thread{conn: c, lease: l}, nil
}

// Name asks the peer for the thread's name.
func (t *Thread) Name(ctx context.Context) (string, error) {
	fut, rel := t.lease.server.GetName(ctx, nil)
	defer rel()
	res, err := fut.Struct()
	if err != nil {
		return "", t.conn.fromCapnp(err, "Thread", "getName")
	}
	return res.Result()
}

// Release gives the thread back to the peer, which ends it once its
// current call (if any) has returned.
func (t *Thread) Release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lease.release()
}

type pinnedKey struct{}

// WithThread makes calls under ctx on t's connection run on t.
func WithThread(ctx context.Context, t *Thread) context.Context {
	return context.WithValue(ctx, pinnedKey{}, t)
}

func pinnedFrom(ctx context.Context, c *Conn) *Thread {
	t, _ := ctx.Value(pinnedKey{}).(*Thread)
	if t != nil && t.conn == c {
		return t
	}
	return nil
}
