package rt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/encoding/text"
	"capnproto.org/go/capnp/v3/schemas"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/mp"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine"
)

// Handler serves one method: it decodes call's params, calls impl and
// writes the results.
type Handler func(ctx context.Context, impl any, call *Call) error

// MethodDesc is one method a server serves. Handler is nil for construct
// and destroy, which rt serves itself.
type MethodDesc struct {
	Method  *Method
	Handler Handler
}

// ServerDesc describes how to serve one interface. Generated code declares
// one per interface.
type ServerDesc struct {
	Name string // schema interface, e.g. "Mining"
	// Methods lists every method, inherited ones included; dispatch is on
	// (Method.InterfaceID, Method.ID).
	Methods []MethodDesc
	// Destroy is the implementation's Destroy; nil when the interface has
	// none.
	Destroy func(ctx context.Context, impl any) error

	index sync.Once
	byID  map[methodKey]*MethodDesc
}

type methodKey struct {
	iface uint64
	id    uint16
}

func (d *ServerDesc) lookup(iface uint64, id uint16) *MethodDesc {
	d.index.Do(func() {
		d.byID = make(map[methodKey]*MethodDesc, len(d.Methods))
		for i := range d.Methods {
			m := d.Methods[i].Method
			d.byID[methodKey{m.InterfaceID, m.ID}] = &d.Methods[i]
		}
	})
	return d.byID[methodKey{iface, id}]
}

// Local returns a capability served in this process by impl.
func Local(desc *ServerDesc, impl any) *Cap {
	return &Cap{c: engine.NewLocal(&object{desc: desc, impl: impl})}
}

// object is an implementation served as a capability.
type object struct {
	desc      *ServerDesc
	impl      any
	destroyed atomic.Bool
}

// Call is an incoming call being served (implements Caps).
type Call struct {
	c      *engine.Call
	conn   *Conn
	method *Method
}

// Args is the params struct. It stays valid until the handler returns.
func (c *Call) Args() capnp.Struct { return c.c.Args() }

// AllocResults makes the results struct, sized by the method.
func (c *Call) AllocResults() (capnp.Struct, error) { return c.c.AllocResults(c.method.Results) }

// Conn is the connection the call came from (nil for a call made in this
// process).
func (c *Call) Conn() *Conn { return c.conn }

// Cap returns an owned reference to the params' capability id.
func (c *Call) Cap(id capnp.CapabilityID) *Cap { return newCap(c.c.ArgCap(id)) }

// AddCap puts cp into the results (see Caps).
func (c *Call) AddCap(cp *Cap) capnp.CapabilityID {
	cl := sendable(c.conn, cp)
	id := c.c.AddResultCap(cl)
	cl.Release()
	return id
}

// request is one incoming call on its way to its handler. It is also
// the handler's context: the engine call's context (made when first
// needed), carrying the request and its connection. So a served call
// costs one allocation in rt.
type request struct {
	call Call
	obj  *object     // the object served, or
	md   *MethodDesc // (its method)
	fwd  *forwarder  // the forwarder the call goes through
	ctx  atomic.Pointer[context.Context]

	conn     *Conn
	exec     *executor      // the thread the call runs on; nil without a context
	thread   *thread        // our Thread running the call; nil without a context
	self     *engine.Client // a reference to thread (sent as callbackThread)
	callback *engine.Client // the caller's thread, for calls back into the caller
	next     *request       // the executor's queue
	// Room for self and callback when they come from the call's context.
	selfRef, callbackRef engine.Client
}

// parent is the engine call's context, made on first use.
func (r *request) parent() context.Context {
	if p := r.ctx.Load(); p != nil {
		return *p
	}
	ctx := r.call.c.Context()
	r.ctx.CompareAndSwap(nil, &ctx)
	return *r.ctx.Load()
}

// Deadline reports none: the engine call's context has none.
func (r *request) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done is closed when the caller no longer waits (see engine.Call.Context).
func (r *request) Done() <-chan struct{} { return r.parent().Done() }

// Err is the engine call's context's error.
func (r *request) Err() error { return r.parent().Err() }

// Value carries the request and its connection to the handler (for a
// call from a connection), then whatever the engine's context carries.
func (r *request) Value(key any) any {
	if r.conn != nil {
		switch key.(type) {
		case requestKey:
			return r
		case connKey:
			return r.conn
		}
	}
	return r.parent().Value(key)
}

func (r *request) release() {
	r.self.Release()
	r.callback.Release()
}

type requestKey struct{}

func requestFrom(ctx context.Context) *request {
	r, _ := ctx.Value(requestKey{}).(*request)
	return r
}

// Dispatch serves one call. It runs on the goroutine that delivers the
// call (a connection's reader) and does not block: construct and the
// refusals are answered at once, a context call is queued on the Thread
// named by context.thread (or a makePool thread when it is null), and a
// call without a context is queued on the connection's loop (see
// Conn.schedule).
func (o *object) Dispatch(ec *engine.Call) {
	md := o.desc.lookup(ec.InterfaceID, ec.MethodID)
	if md == nil {
		ec.Return(&engine.Exception{Type: rpccp.Exception_Type_unimplemented,
			Reason: fmt.Sprintf("%s: method %#x.%d not implemented", o.desc.Name, ec.InterfaceID, ec.MethodID)})
		return
	}
	m := md.Method
	conn := connOf(ec.Conn())
	r := &request{call: Call{c: ec, conn: conn, method: m}, obj: o, md: md, conn: conn}
	switch {
	case m.Kind == MethodConstruct:
		conn.serveConstruct(&r.call)
		return
	case o.destroyed.Load() && m.Kind == MethodDestroy:
		ec.Return(nil)
		return
	case o.destroyed.Load():
		ec.Return(toEngine(exception.New(exception.Failed, m.Interface, m.Name, "called after destroy")))
		return
	}
	var cs capnp.Struct
	if m.HasContext {
		p, err := ec.Args().Ptr(m.ContextPtr)
		if err != nil {
			ec.Return(toEngine(exception.New(exception.Failed, m.Interface, m.Name, "reading context: "+err.Error())))
			return
		}
		cs = p.Struct()
	}
	conn.schedule(r, cs)
}

// schedule runs r, whose context struct is cs (when its method has one):
// on the Thread that cs names (or a makePool thread when it names none),
// or, for a call without a context, on the connection's loop, where such
// calls run one at a time, in order, as libmultiprocess runs them on its
// event loop; like a Thread, the loop runs the next call while one waits
// on a call of its own, so that the reader never blocks on re-entrant
// callbacks. It does not block. A call in this process (r.conn nil) runs
// on a goroutine of its own, as its caller may wait on it with a context
// the call does not see.
func (c *Conn) schedule(r *request, cs capnp.Struct) {
	ec, m := r.call.c, r.call.method
	switch {
	case c == nil:
		go r.run()
		return
	case !m.HasContext:
		r.exec = &c.loop
		r.post()
		return
	}
	var th *engine.Client
	if ec.ArgPtrCapTo(&r.selfRef, cs, 0) {
		th = &r.selfRef
	}
	if ec.ArgPtrCapTo(&r.callbackRef, cs, 1) {
		r.callback = &r.callbackRef
	}
	if th == nil {
		t, self, ok := c.poolThread()
		if !ok {
			r.callback.Release()
			ec.Return(toEngine(errors.New(textNoThread)))
			return
		}
		r.exec, r.thread, r.self = &t.exec, t, self
		r.post()
		return
	}
	r.self = th
	if th.IsPromise() {
		// A Thread the caller pipelined (our own unreturned makeThread
		// answer) is known once it resolves.
		th.OnResolved(r.resolved)
		return
	}
	r.resolved()
}

// resolved posts r to the Thread r.self names, once it is known.
func (r *request) resolved() {
	c, th := r.conn, r.self
	t, _ := th.Server().(*thread)
	if t == nil || t.conn != c || t.released.Load() {
		r.release()
		c.log.Debug("IPC server bad thread", "method", r.call.method.String())
		r.call.c.Return(toEngine(errors.New(textInvalidThread)))
		return
	}
	r.exec, r.thread = &t.exec, t
	r.post()
}

// post queues r on its thread's executor.
func (r *request) post() {
	if !r.exec.post(r) {
		r.release()
		m := r.call.method
		r.call.c.Return(toEngine(exception.New(exception.Disconnected, m.Interface, m.Name, "thread has ended")))
	}
}

// run serves the call and returns its result. The threads go before the
// results do, so that a caller that has the results sees them released.
func (r *request) run() {
	ec := r.call.c
	var err error
	if r.fwd != nil {
		err = toEngine(r.fwd.forward(r, ec, r.call.method))
	} else {
		err = r.obj.run(r, &r.call, r.md, r.thread)
	}
	r.release()
	ec.Return(err)
}

// run executes the method, turning panics and errors into exceptions. It
// logs the call at Debug (request number, method, thread, as -debug=ipc
// does) and its arguments at LevelTrace only: arguments can carry
// secrets, such as an RPC request with a wallet passphrase.
func (o *object) run(ctx context.Context, call *Call, md *MethodDesc, th *thread) (err error) {
	m, conn := md.Method, call.conn
	var n uint64
	logDebug := conn != nil && conn.log.Enabled(ctx, slog.LevelDebug)
	if conn != nil {
		n = conn.requests.Add(1)
		if logDebug {
			var thread string
			if th != nil {
				thread = th.name
			}
			conn.log.Debug("IPC server request", "n", n, "method", m.String(), "thread", thread)
			if m.ParamsID != 0 && conn.log.Enabled(ctx, LevelTrace) {
				conn.log.Log(ctx, LevelTrace, "IPC server request args", "n", n, "method", m.String(), "args", traceText(m, call.Args()))
			}
		}
	}
	defer func() {
		if r := recover(); r != nil {
			logger(conn).Error("IPC server handler panicked", "method", m.String(), "panic", r, "stack", string(debug.Stack()))
			err = toEngine(exception.New(exception.Failed, m.Interface, m.Name, fmt.Sprintf("panic: %v", r)))
		}
	}()
	if m.Kind == MethodDestroy {
		err = o.destroy(ctx)
	} else if md.Handler == nil {
		err = Unimplemented(m)
	} else {
		err = md.Handler(ctx, o.impl, call)
	}
	if err != nil {
		if conn != nil {
			if logDebug {
				conn.log.Debug("IPC server request failed", "n", n, "method", m.String(), "err", err)
			}
			if f := conn.opts.serverErrors; f != nil {
				err = f(m, err)
			}
		}
		return toEngine(err)
	}
	return nil
}

// destroy runs the implementation's Destroy, once.
func (o *object) destroy(ctx context.Context) error {
	if !o.destroyed.CompareAndSwap(false, true) || o.desc.Destroy == nil {
		return nil
	}
	return o.desc.Destroy(ctx, o.impl)
}

// Shutdown runs when the last reference to the object went: an object
// that was not destroyed is destroyed now, with a background context.
func (o *object) Shutdown() {
	if o.destroyed.Load() || o.desc.Destroy == nil {
		return
	}
	go func() {
		defer func() { _ = recover() }()
		_ = o.destroy(context.Background())
	}()
}

// logger is conn's logger, or one that drops everything.
func logger(conn *Conn) *slog.Logger {
	if conn == nil {
		return slog.New(discardHandler{})
	}
	return conn.log
}

// serveConstruct serves construct of the bootstrap interface: it keeps
// the peer's ThreadMap for this connection and answers with one of ours.
func (c *Conn) serveConstruct(call *Call) {
	ec := call.c
	if c == nil {
		ec.Return(toEngine(errors.New("construct outside a connection")))
		return
	}
	peer := ec.ArgPtrCap(ec.Args(), 0)
	c.setPeerThreadMap(peer)
	c.log.Debug("IPC server construct", "peerThreadMap", peer != nil)
	res, err := call.AllocResults()
	if err != nil {
		ec.Return(err)
		return
	}
	tm := c.newThreadMap()
	err = ec.SetResultCap(res, 0, tm)
	tm.Release()
	ec.Return(err)
}

// toEngine converts a handler's error into the exception sent back: an
// *exception.Error keeps its Type and description; anything else is
// failed with err.Error() as text.
func toEngine(err error) error {
	if err == nil {
		return nil
	}
	var ee *engine.Exception
	if errors.As(err, &ee) && errors.Unwrap(err) == nil {
		return ee
	}
	var e *exception.Error
	if errors.As(err, &e) {
		return &engine.Exception{Type: rpccp.Exception_Type(e.Type), Reason: e.Description}
	}
	return &engine.Exception{Type: rpccp.Exception_Type_failed, Reason: err.Error()}
}

// fromEngine converts the error of a call of iface.method into an
// *exception.Error: an exception the peer sent is Remote (unless it is
// disconnected), a context's end stays reachable with errors.Is.
func fromEngine(err error, iface, method string) error {
	if err == nil {
		return nil
	}
	var ours *exception.Error
	if errors.As(err, &ours) {
		return err
	}
	var ee *engine.Exception
	if errors.As(err, &ee) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		t := exception.Type(ee.Type)
		e := exception.New(t, iface, method, ee.Reason)
		e.Remote = t != exception.Disconnected && errors.Unwrap(ee) == nil
		return e
	}
	return exception.FromCapnp(err, iface, method)
}

// Unimplemented is the error of a method a server does not implement.
func Unimplemented(m *Method) error {
	return exception.New(exception.Unimplemented, m.Interface, m.Name, "method not implemented")
}

// RemoteException is the error for a $Proxy.exception result field the
// peer set: the C++ side threw text.
func RemoteException(m *Method, text string) error {
	e := exception.New(exception.Failed, m.Interface, m.Name, text)
	e.Remote = true
	return e
}

var errDisconnectedLocal = exception.New(exception.Disconnected, "", "", "connection closed")

// CurrentThreadName is the name of the Thread running the current server
// call (empty for calls without a context).
func CurrentThreadName(ctx context.Context) (string, error) {
	r := requestFrom(ctx)
	if r == nil || r.thread == nil {
		return "", nil
	}
	return r.thread.name, nil
}

// registries caches, per method, a schema registry holding the method's
// wire package and mp/proxy.capnp, for trace logs.
var registries sync.Map // *Method -> *schemas.Registry

// traceText renders a params struct in capnp text form.
func traceText(m *Method, s capnp.Struct) string {
	enc := new(strings.Builder)
	e := text.NewEncoder(enc)
	if m.Schema != nil {
		reg, ok := registries.Load(m)
		if !ok {
			r := &schemas.Registry{}
			m.Schema(r)
			mp.RegisterSchema(r)
			reg, _ = registries.LoadOrStore(m, r)
		}
		e.UseRegistry(reg.(*schemas.Registry))
	}
	if err := e.Encode(m.ParamsID, s); err != nil {
		return "<" + err.Error() + ">"
	}
	return enc.String()
}
