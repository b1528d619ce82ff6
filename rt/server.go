package rt

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	"capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/encoding/text"
	"capnproto.org/go/capnp/v3/schemas"
	"capnproto.org/go/capnp/v3/server"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/mp"
)

const slogDebug = slog.LevelDebug

// request is what a handler's context carries about the call it serves.
type request struct {
	conn     *Conn
	exec     *executor // the thread the call runs on; nil without a context
	self     mp.Thread // our Thread running the call (sent as callbackThread)
	callback mp.Thread // the caller's thread, for calls back into the caller

	// ctx is the handler's context as go-capnp gave it (see callNested).
	ctx context.Context
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

// ServerBase is the state every generated server adapter shares.
type ServerBase struct {
	destroyed atomic.Bool
	shutdown  sync.Once
	mu        sync.Mutex
	cleanups  []func()
}

// AddCleanup registers fn to run once when the object is destroyed or its
// last capability is released.
func (s *ServerBase) AddCleanup(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, fn)
}

func (s *ServerBase) runCleanups() {
	s.mu.Lock()
	fns := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// Handle serves one call. getCtx reads the call's context struct; it is
// nil for methods without one, which run at once (libmultiprocess runs
// them on its event loop). Context calls are queued on the Thread named by
// context.thread (or a makePool thread when it is null), then call.Go()
// lets go-capnp deliver further calls, so that nested callbacks cannot
// deadlock. Errors and panics from fn become exceptions for the caller.
func (s *ServerBase) Handle(ctx context.Context, call *server.Call, m *Method, getCtx func() (mp.Context, error), fn func(ctx context.Context) error) error {
	if s.destroyed.Load() {
		return exception.ToCapnp(exception.New(exception.Failed, m.Interface, m.Name, "called after destroy"))
	}
	conn := ConnFromContext(ctx)
	// Limit (limits.go): calls served at once on this connection.
	if conn != nil {
		if !conn.enterCall() {
			return exception.ToCapnp(exception.New(exception.Overloaded, m.Interface, m.Name, conn.overloadedText()))
		}
		defer conn.exitCall()
	}
	if getCtx == nil || conn == nil {
		call.Go()
		if conn != nil {
			// For calls the handler makes back into conn (callNested).
			ctx = context.WithValue(ctx, requestKey{}, &request{conn: conn, ctx: ctx})
		}
		return s.run(ctx, conn, call, m, "", fn)
	}
	mctx, err := getCtx()
	if err != nil {
		return exception.ToCapnp(err)
	}
	th := capnp.Client(mctx.Thread())
	var (
		t    *thread
		self mp.Thread
	)
	if !th.IsValid() {
		pt, pcap, ok := conn.poolThread()
		if !ok {
			return exception.ToCapnp(fmt.Errorf("%s", textNoThread))
		}
		t, self = pt, pcap.AddRef()
	} else {
		t, err = conn.lookupThread(ctx, th)
		if err != nil {
			conn.log.Debug("IPC server bad thread", "method", m.String(), "err", err)
			return exception.ToCapnp(err)
		}
		self = mp.Thread(th.AddRef())
	}
	req := &request{conn: conn, ctx: ctx, exec: &t.exec, self: self, callback: mctx.CallbackThread().AddRef()}
	done := make(chan error, 1)
	queued := t.exec.post(func() {
		defer req.release()
		done <- s.run(context.WithValue(ctx, requestKey{}, req), conn, call, m, t.name, fn)
	})
	if !queued {
		req.release()
		return exception.ToCapnp(exception.New(exception.Disconnected, m.Interface, m.Name, "thread has ended"))
	}
	call.Go()
	// The call's params stay valid only until we return, so wait for the
	// work even when ctx ends: the implementation sees ctx cancelled.
	return <-done
}

// run executes fn, turning panics and errors into exceptions. It logs the
// call at Debug (request number, method, thread, as -debug=ipc does) and
// its arguments at LevelTrace only: arguments can carry secrets, such as
// an RPC request with a wallet passphrase.
func (s *ServerBase) run(ctx context.Context, conn *Conn, call *server.Call, m *Method, thread string, fn func(ctx context.Context) error) (err error) {
	var n uint64
	if conn != nil {
		n = conn.requests.Add(1)
		conn.log.Debug("IPC server request", "n", n, "method", m.String(), "thread", thread)
		if m.ParamsID != 0 && conn.log.Enabled(ctx, LevelTrace) {
			conn.log.Log(ctx, LevelTrace, "IPC server request args", "n", n, "method", m.String(), "args", traceText(m, call.Args()))
		}
	}
	defer func() {
		if r := recover(); r != nil {
			if conn != nil {
				conn.log.Error("IPC server handler panicked", "method", m.String(), "panic", r, "stack", string(debug.Stack()))
			}
			err = exception.ToCapnp(exception.New(exception.Failed, m.Interface, m.Name, fmt.Sprintf("panic: %v", r)))
		}
	}()
	if err := fn(ctx); err != nil {
		if conn != nil {
			conn.log.Debug("IPC server request failed", "n", n, "method", m.String(), "err", err)
			if f := conn.opts.serverErrors; f != nil {
				err = f(m, err)
			}
		}
		return exception.ToCapnp(err)
	}
	return nil
}

// HandleDestroy serves destroy: it runs destroy (the implementation's
// Destroy) and the cleanups once; the object refuses calls afterwards.
func (s *ServerBase) HandleDestroy(ctx context.Context, call *server.Call, m *Method, getCtx func() (mp.Context, error), destroy func(ctx context.Context) error) error {
	if s.destroyed.Load() {
		return nil
	}
	return s.Handle(ctx, call, m, getCtx, func(ctx context.Context) error {
		if !s.destroyed.CompareAndSwap(false, true) {
			return nil
		}
		defer s.runCleanups()
		if destroy != nil {
			return destroy(ctx)
		}
		return nil
	})
}

// HandleConstruct serves Init.construct: it keeps the peer's ThreadMap for
// this connection and answers with a ThreadMap of ours.
func (s *ServerBase) HandleConstruct(ctx context.Context, call *server.Call, peer mp.ThreadMap, setResult func(mp.ThreadMap) error) error {
	conn := ConnFromContext(ctx)
	if conn == nil {
		return exception.ToCapnp(fmt.Errorf("construct outside a connection"))
	}
	conn.setPeerThreadMap(peer.AddRef())
	conn.log.Debug("IPC server construct", "peerThreadMap", peer.IsValid())
	return setResult(conn.newThreadMap())
}

// Shutdown runs when the last capability to the object is released: an
// object that was not destroyed is destroyed now, with a background
// context, and its cleanups run.
func (s *ServerBase) Shutdown(destroy func(ctx context.Context) error) {
	s.shutdown.Do(func() {
		if s.destroyed.CompareAndSwap(false, true) {
			if destroy != nil {
				func() {
					defer func() { _ = recover() }()
					_ = destroy(context.Background())
				}()
			}
			s.runCleanups()
		}
	})
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
	if r == nil || r.exec == nil {
		return "", nil
	}
	if t, err := threadFromBrand(capnp.Client(r.self)); err == nil && t != nil {
		return t.name, nil
	}
	return "", fmt.Errorf("current thread is not served here")
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
