package rt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/schemas"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/mp"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine"
)

// Method describes one schema method, for calls, dispatch, logs and
// errors. Generated code declares one per method.
type Method struct {
	Interface   string           // schema interface, e.g. "Mining"
	Name        string           // schema method, e.g. "getTip"
	InterfaceID uint64           // the interface that declares the method
	ID          uint16           // method ordinal
	Params      capnp.ObjectSize // params struct size
	Results     capnp.ObjectSize // results struct size
	HasContext  bool             // the params have a `context :Proxy.Context` field
	ContextPtr  uint16           // its pointer index in the params struct (when HasContext)
	Kind        MethodKind
	ParamsID    uint64 // type ID of the params struct (trace logs print it)
	// Schema registers the wire package's schemas (capnpc-go's
	// RegisterSchema), for printing arguments in trace logs.
	Schema func(*schemas.Registry)
}

// MethodKind is what rt does with a method besides calling it.
type MethodKind uint8

// The method kinds.
const (
	MethodPlain     MethodKind = iota // an ordinary method
	MethodDestroy                     // destroy: ends the object
	MethodConstruct                   // construct of the bootstrap interface: rt swaps ThreadMaps
)

func (m *Method) String() string { return m.Interface + "." + m.Name }

// ClientBase is the state every generated client shares: the capability,
// and whether it was destroyed or released.
type ClientBase struct {
	mu       sync.Mutex
	conn     *Conn // where cap lives, kept once cap is gone
	cap      *Cap
	state    clientState
	cleanups []func()
	// calls counts the calls in flight on cap; a capability dropped while
	// calls use it is kept in held until the last of them returns.
	calls int
	held  *Cap
}

type clientState uint8

const (
	stateLive clientState = iota
	stateDestroyed
	stateReleased
)

// NewClientBase takes ownership of c.
func NewClientBase(c *Cap) *ClientBase { return &ClientBase{conn: c.Conn(), cap: c} }

// Conn is the connection the capability lives on (nil for a capability
// served in this process).
func (b *ClientBase) Conn() *Conn { return b.conn }

// Cap is the capability, borrowed: do not release it. It is nil once the
// client was destroyed or released.
func (b *ClientBase) Cap() *Cap {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cap
}

// IsValid reports whether the client holds a capability.
func (b *ClientBase) IsValid() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cap.IsValid()
}

// AddCleanup registers fn to run once when the client is destroyed or
// released (Ipc::addCleanup in Bitcoin Core).
func (b *ClientBase) AddCleanup(fn func()) {
	b.mu.Lock()
	if b.state == stateLive {
		b.cleanups = append(b.cleanups, fn)
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	fn()
}

// Release drops the capability without calling destroy. Later calls fail
// with ErrReleased without sending anything.
func (b *ClientBase) Release() { b.finish(stateReleased) }

// finish moves a live client to state, releasing the capability and
// running the cleanups.
func (b *ClientBase) finish(state clientState) {
	b.mu.Lock()
	if b.state != stateLive {
		b.mu.Unlock()
		return
	}
	b.state = state
	c := b.cap
	b.cap = nil
	if b.calls > 0 {
		b.held, c = c, nil
	}
	fns := b.cleanups
	b.cleanups = nil
	b.mu.Unlock()
	c.Release()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// target returns the capability for one call, refusing calls on a
// destroyed or released client locally (a C++ server crashes when a
// destroyed object is called) and on a connection that has ended. The
// capability stays alive until the call gives it back with untarget.
func (b *ClientBase) target(m *Method) (*Cap, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case stateDestroyed:
		return nil, exception.Local(exception.Failed, exception.ErrDestroyed, m.Interface, m.Name)
	case stateReleased:
		return nil, exception.Local(exception.Failed, exception.ErrReleased, m.Interface, m.Name)
	}
	if conn := b.cap.Conn(); conn != nil && conn.Err() != nil {
		return nil, exception.New(exception.Disconnected, m.Interface, m.Name, "connection closed")
	}
	b.calls++
	return b.cap, nil
}

// untarget ends a call that target let through: the last call on a
// capability the client dropped meanwhile releases it.
func (b *ClientBase) untarget() {
	b.mu.Lock()
	b.calls--
	var c *Cap
	if b.calls == 0 {
		c, b.held = b.held, nil
	}
	b.mu.Unlock()
	c.Release()
}

// Invoke makes one call of m: rt picks the threads and fills the params'
// context struct itself, then params (may be nil) fills the rest, the
// call is sent, and results (may be nil) reads the answer, which is
// released when Invoke returns. Errors of the call are *exception.Error.
func (b *ClientBase) Invoke(ctx context.Context, m *Method, params func(*Params) error, results func(*Results) error) error {
	c, err := b.target(m)
	if err != nil {
		return err
	}
	defer b.untarget()
	t := c.unwrap()
	return connOf(t.Conn()).invoke(ctx, t, m, params, results)
}

// Destroy sends destroy (method m) once, then releases the capability.
// Calling it again does nothing; any other call afterwards fails with
// ErrDestroyed without sending anything.
func (b *ClientBase) Destroy(ctx context.Context, m *Method) error {
	c, err := b.target(m)
	if err != nil {
		if errors.Is(err, exception.ErrDisconnected) {
			// The peer is gone, and with it the object.
			b.Release()
		}
		return nil
	}
	defer b.untarget()
	t := c.unwrap()
	err = connOf(t.Conn()).invoke(ctx, t, m, nil, nil)
	b.finish(stateDestroyed)
	return err
}

// client is what every generated client has.
type client interface {
	Cap() *Cap
	Release()
}

// Release releases v when it is a generated client, and does nothing for
// any other value (a local implementation).
func Release(v any) {
	if c, ok := v.(client); ok {
		c.Release()
	}
}

// Destroy destroys v when it is a generated client (one without a destroy
// method is released), and does nothing for any other value (a local
// implementation).
func Destroy(ctx context.Context, v any) error {
	c, ok := v.(client)
	if !ok {
		return nil
	}
	if d, ok := v.(interface{ Destroy(context.Context) error }); ok {
		return d.Destroy(ctx)
	}
	c.Release()
	return nil
}

// callThreads are what goes into a call's context struct, and where they
// came from.
type callThreads struct {
	thread   *engine.Client // context.thread (nil: a makePool thread runs it)
	callback *engine.Client // context.callbackThread
	owned    bool           // thread and callback are references of the call's own (else the lease's)
	lease    *lease         // the lease the call holds, if any
	pinned   *Thread        // the Thread the call is pinned to, if any
}

// done ends the call's use of the threads; err is the call's error.
func (tc *callThreads) done(c *Conn, ctx context.Context, err error) {
	if tc.owned {
		tc.thread.Release()
		tc.callback.Release()
	}
	switch {
	case tc.pinned != nil:
		tc.pinned.done(err)
	case tc.lease != nil:
		// A call abandoned through ctx may still run on the peer's
		// thread: never reuse that thread.
		l := tc.lease
		abandoned := err != nil && ctx.Err() != nil
		l.failed = err != nil
		c.leases.put(l, abandoned || l.broken())
	}
}

// invocation is the Params and Results of one call, reused.
type invocation struct {
	p Params
	r Results
}

var invocations = sync.Pool{New: func() any { return new(invocation) }}

// invoke makes a call of m on target; c is target's connection (nil for a
// capability served in this process).
func (c *Conn) invoke(ctx context.Context, target *engine.Client, m *Method, params func(*Params) error, results func(*Results) error) (err error) {
	ctx, cancel := c.boundCall(ctx)
	defer cancel()
	var tc callThreads
	if m.HasContext && c != nil {
		if err := c.pickThreads(ctx, m, &tc); err != nil {
			return err
		}
		// The request takes references of its own.
		defer func() { tc.done(c, ctx, err) }()
	}
	req, err := target.NewRequest(m.InterfaceID, m.ID, m.Params)
	if err != nil {
		return exception.New(exception.Failed, m.Interface, m.Name, err.Error())
	}
	if m.HasContext {
		if err := fillContext(req, m, &tc); err != nil {
			req.Discard()
			return exception.New(exception.Failed, m.Interface, m.Name, err.Error())
		}
	}
	inv := invocations.Get().(*invocation)
	defer func() {
		*inv = invocation{}
		invocations.Put(inv)
	}()
	if params != nil {
		inv.p = Params{req: req, conn: c}
		if err := params(&inv.p); err != nil {
			req.Discard()
			return fromEngine(err, m.Interface, m.Name)
		}
	}
	if r := requestFrom(ctx); r != nil && r.exec != nil {
		// Let calls posted to our thread run while we wait.
		r.exec.yield()
		defer r.exec.resume()
	}
	var n uint64
	debug := c != nil && c.log.Enabled(ctx, slog.LevelDebug)
	if c != nil {
		n = c.requests.Add(1)
		if debug {
			c.log.Debug("IPC client send request", "n", n, "method", m.String())
		}
	}
	// A peer that stops reading holds the call back only until ctx ends.
	ans := req.SendContext(ctx)
	defer ans.Release()
	res, err := ans.Wait(ctx)
	if err != nil && ctx.Err() != nil && c != nil {
		// A context that ended with the connection (a handler's, whose
		// peer went away) reports the disconnect, not its cancellation.
		if cerr := c.e.Err(); cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		err = fromEngine(err, m.Interface, m.Name)
		if debug {
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
	if results != nil {
		inv.r = Results{ans: ans, conn: c, res: res}
		return results(&inv.r)
	}
	return nil
}

// fillContext writes the params' context struct.
func fillContext(req *engine.Request, m *Method, tc *callThreads) error {
	p := req.Params()
	cs, err := mp.NewContext(p.Segment())
	if err != nil {
		return err
	}
	if err := p.SetPtr(m.ContextPtr, cs.ToPtr()); err != nil {
		return err
	}
	if err := req.SetCap(capnp.Struct(cs), 0, tc.thread); err != nil {
		return err
	}
	return req.SetCap(capnp.Struct(cs), 1, tc.callback)
}

// pickThreads chooses the threads of a context call of m; tc.done, called
// with the call's error once it has returned, gives them back.
func (c *Conn) pickThreads(ctx context.Context, m *Method, tc *callThreads) error {
	req, pinned := requestFrom(ctx), pinnedFrom(ctx, c)
	switch {
	case req != nil && req.conn == c && req.callback != nil:
		// A call back into the peer while serving its request runs on
		// the peer's waiting thread, as libmultiprocess does.
		tc.thread, tc.callback, tc.owned = req.callback.AddRef(), req.self.AddRef(), true
		return nil
	case pinned != nil:
		server, cb, err := pinned.ready(ctx)
		if err != nil {
			return fromEngine(err, m.Interface, m.Name)
		}
		tc.thread, tc.callback, tc.owned, tc.pinned = server, cb, true, pinned
		return nil
	}
	l, err := c.leases.acquire(ctx)
	if err != nil {
		return fromEngine(err, m.Interface, m.Name)
	}
	if err := l.ready(ctx); err != nil {
		c.leases.put(l, true)
		return fromEngine(err, m.Interface, m.Name)
	}
	// The call holds the lease alone until done: its references do.
	tc.thread, tc.callback, tc.lease = l.server, l.cbCap, l
	return nil
}

// lease is one of the peer's Threads, with the Thread of ours sent along
// as callbackThread. An in-flight call holds its lease exclusively (a
// pinned Thread's lease is shared by its calls).
type lease struct {
	server *engine.Client // the peer's Thread; nil for a makePool lease
	ans    *engine.Answer // makeThread's answer; nil for a makePool lease
	cbCap  *engine.Client // our Thread sent as callbackThread
	used   bool           // a call already named server (pipelined or not)
	failed bool           // the last call failed (perhaps before makeThread answered)
}

// ready is called before each use. The first call names the peer's
// Thread while makeThread is still unanswered (pipelined, as
// libmultiprocess clients do). A call can come back before makeThread's
// answer when it fails fast, e.g. with "unimplemented": the call after a
// failed one waits for makeThread's answer, so that a makeThread that
// failed fails it with its own error.
func (l *lease) ready(ctx context.Context) error {
	if !l.used {
		l.used = true
		return nil
	}
	if !l.failed || l.ans == nil {
		return nil
	}
	if _, err := l.ans.Wait(ctx); err != nil {
		return err
	}
	return nil
}

// broken reports whether makeThread has answered with an error (the
// peer refused the thread, e.g. as overloaded): the lease is of no use.
func (l *lease) broken() bool {
	if l.ans == nil {
		return false
	}
	select {
	case <-l.ans.Done():
		_, err := l.ans.Results()
		return err != nil
	default:
		return false
	}
}

func (l *lease) release() {
	l.server.Release()
	if l.ans != nil {
		l.ans.Release()
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
	l, err := p.conn.newLease(ctx, idx, usePool)
	if err != nil {
		<-p.sem
		return nil, err
	}
	return l, nil
}

// methodMakeThread and methodMakePool are ThreadMap's method ordinals;
// methodGetName is Thread's.
const (
	methodMakeThread = 0
	methodMakePool   = 1
	methodGetName    = 0
)

func (c *Conn) newLease(ctx context.Context, idx int, usePool bool) (*lease, error) {
	cb := c.newThread(fmt.Sprintf("%s callback %d", c.opts.name, idx))
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errDisconnectedLocal
	}
	c.threads[cb] = struct{}{}
	tm := c.peerThreadMap.AddRef()
	c.mu.Unlock()
	defer tm.Release()
	l := &lease{cbCap: engine.NewLocal(cb)}
	if usePool {
		return l, nil
	}
	if tm == nil {
		l.release()
		return nil, errNoThreadMap
	}
	req, err := tm.NewRequest(mp.ThreadMap_TypeID, methodMakeThread, capnp.ObjectSize{PointerCount: 1})
	if err != nil {
		l.release()
		return nil, err
	}
	if err := mp.ThreadMap_makeThread_Params(req.Params()).SetName(fmt.Sprintf("%s/%d", c.opts.name, idx)); err != nil {
		req.Discard()
		l.release()
		return nil, err
	}
	// Pipelined: the first call carries the unreturned answer.
	l.ans = req.SendContext(ctx)
	l.server = l.ans.Pipeline(0)
	return l, nil
}

func (p *leasePool) put(l *lease, retire bool) {
	p.mu.Lock()
	if p.closed || retire {
		p.mu.Unlock()
		l.release()
	} else {
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
	conn     *Conn
	mu       sync.Mutex
	lease    *lease
	released bool
}

// NewThread asks the peer for a thread of its own.
func (c *Conn) NewThread() (*Thread, error) {
	c.leases.mu.Lock()
	c.leases.made++
	idx := c.leases.made
	c.leases.mu.Unlock()
	l, err := c.newLease(context.Background(), idx, false)
	if err != nil {
		return nil, err
	}
	return &Thread{conn: c, lease: l}, nil
}

// ready prepares the lease for one more call and returns references to
// the peer's thread and to our callback thread.
func (t *Thread) ready(ctx context.Context) (server, cb *engine.Client, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.released {
		return nil, nil, exception.Local(exception.Failed, exception.ErrReleased, "Thread", "")
	}
	if err := t.lease.ready(ctx); err != nil {
		return nil, nil, err
	}
	return t.lease.server.AddRef(), t.lease.cbCap.AddRef(), nil
}

// done records the outcome of a call on the thread.
func (t *Thread) done(err error) {
	t.mu.Lock()
	t.lease.failed = err != nil
	t.mu.Unlock()
}

// Name asks the peer for the thread's name.
func (t *Thread) Name(ctx context.Context) (string, error) {
	server, cb, err := t.ready(ctx)
	if err != nil {
		return "", fromEngine(err, "Thread", "getName")
	}
	cb.Release()
	req, err := server.NewRequest(mp.Thread_TypeID, methodGetName, capnp.ObjectSize{})
	server.Release()
	if err != nil {
		return "", exception.New(exception.Failed, "Thread", "getName", err.Error())
	}
	ans := req.SendContext(ctx)
	defer ans.Release()
	res, err := ans.Wait(ctx)
	t.done(err)
	if err != nil {
		return "", fromEngine(err, "Thread", "getName")
	}
	return mp.Thread_getName_Results(res).Result()
}

// Release gives the thread back to the peer, which ends it once its
// current calls have returned.
func (t *Thread) Release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.released {
		t.released = true
		t.lease.release()
	}
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
