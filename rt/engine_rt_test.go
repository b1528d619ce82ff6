package rt

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine"
)

// A tiny schema, written by hand as generated code would declare it:
//
//	interface TInit    { construct @0; makeEcho @1 (context) -> (echo :TEcho);
//	                     makeCallback @2 (context, name :Text) -> (cb :TCallback);
//	                     stats @3 () -> (questions, answers, imports, exports :UInt32) }
//	interface TEcho    { echo @0 (context, text) -> (text); call @1 (context, cb, text) -> (text);
//	                     wait @2 (context, key :UInt32) -> (); boom @3 (context) -> ();
//	                     destroy @4 (context) -> (); thread @5 (context) -> (text) }
//	interface TCallback { call @0 (context, text) -> (text) }
const (
	tInitID     = 0xa1a1a1a1a1a1a101
	tEchoID     = 0xa1a1a1a1a1a1a102
	tCallbackID = 0xa1a1a1a1a1a1a103
)

var (
	p1 = capnp.ObjectSize{PointerCount: 1}
	p2 = capnp.ObjectSize{PointerCount: 2}
	p3 = capnp.ObjectSize{PointerCount: 3}

	mConstruct    = Method{Interface: "TInit", Name: "construct", InterfaceID: tInitID, ID: 0, Params: p1, Results: p1, Kind: MethodConstruct}
	mMakeEcho     = Method{Interface: "TInit", Name: "makeEcho", InterfaceID: tInitID, ID: 1, Params: p1, Results: p1, HasContext: true}
	mMakeCallback = Method{Interface: "TInit", Name: "makeCallback", InterfaceID: tInitID, ID: 2, Params: p2, Results: p1, HasContext: true}
	mStats        = Method{Interface: "TInit", Name: "stats", InterfaceID: tInitID, ID: 3, Results: capnp.ObjectSize{DataSize: 16}}

	mEcho    = Method{Interface: "TEcho", Name: "echo", InterfaceID: tEchoID, ID: 0, Params: p2, Results: p1, HasContext: true}
	mCall    = Method{Interface: "TEcho", Name: "call", InterfaceID: tEchoID, ID: 1, Params: p3, Results: p1, HasContext: true}
	mWait    = Method{Interface: "TEcho", Name: "wait", InterfaceID: tEchoID, ID: 2, Params: capnp.ObjectSize{DataSize: 8, PointerCount: 1}, HasContext: true}
	mBoom    = Method{Interface: "TEcho", Name: "boom", InterfaceID: tEchoID, ID: 3, Params: p1, HasContext: true}
	mDestroy = Method{Interface: "TEcho", Name: "destroy", InterfaceID: tEchoID, ID: 4, Params: p1, HasContext: true, Kind: MethodDestroy}
	mThread  = Method{Interface: "TEcho", Name: "thread", InterfaceID: tEchoID, ID: 5, Params: p1, Results: p1, HasContext: true}

	mCbCall = Method{Interface: "TCallback", Name: "call", InterfaceID: tCallbackID, ID: 0, Params: p2, Results: p1, HasContext: true}
)

var tInitDesc, tEchoDesc, tCallbackDesc ServerDesc

func init() {
	tInitDesc = ServerDesc{Name: "TInit", Methods: []MethodDesc{
		{Method: &mConstruct},
		{Method: &mMakeEcho, Handler: func(ctx context.Context, impl any, call *Call) error {
			i := impl.(*tInit)
			var srv engine.Server = &object{desc: &tEchoDesc, impl: i.newEcho()}
			i.mu.Lock()
			wrap := i.wrap
			i.mu.Unlock()
			if wrap != nil {
				srv = wrap(srv)
			}
			return setCap(call, &Cap{c: engine.NewLocal(srv)})
		}},
		{Method: &mMakeCallback, Handler: func(ctx context.Context, impl any, call *Call) error {
			cb := &tCallback{name: argText(call, 1), destroyed: make(chan struct{})}
			i := impl.(*tInit)
			i.mu.Lock()
			i.callbacks = append(i.callbacks, cb)
			i.mu.Unlock()
			return setCap(call, Local(&tCallbackDesc, cb))
		}},
		{Method: &mStats, Handler: func(ctx context.Context, impl any, call *Call) error {
			res, err := call.AllocResults()
			if err != nil {
				return err
			}
			s := ConnFromContext(ctx).e.Stats()
			for i, v := range []int{s.Questions, s.Answers, s.Imports, s.Exports} {
				res.SetUint32(capnp.DataOffset(4*i), uint32(v))
			}
			return nil
		}},
	}}
	tEchoDesc = ServerDesc{Name: "TEcho", Methods: []MethodDesc{
		{Method: &mEcho, Handler: func(ctx context.Context, impl any, call *Call) error {
			return setText(call, "echo:"+argText(call, 1))
		}},
		{Method: &mCall, Handler: func(ctx context.Context, impl any, call *Call) error {
			p, err := call.Args().Ptr(1)
			if err != nil {
				return err
			}
			cb := NewClientBase(call.Cap(p.Interface().Capability()))
			defer cb.Release()
			out, err := invokeText(ctx, cb, &mCbCall, argText(call, 2))
			if err != nil {
				return err
			}
			name, _ := CurrentThreadName(ctx)
			return setText(call, out+"|outer="+name)
		}},
		{Method: &mWait, Handler: func(ctx context.Context, impl any, call *Call) error {
			e := impl.(*tEcho)
			key := call.Args().Uint32(0)
			name, _ := CurrentThreadName(ctx)
			e.mu.Lock()
			e.ran = append(e.ran, key)
			e.names = append(e.names, name)
			e.mu.Unlock()
			e.started <- key
			select {
			case <-e.gate:
				return nil
			case <-ctx.Done():
				close(e.abandoned)
				return ctx.Err()
			}
		}},
		{Method: &mBoom, Handler: func(ctx context.Context, impl any, call *Call) error { panic("boom") }},
		{Method: &mDestroy},
		{Method: &mThread, Handler: func(ctx context.Context, impl any, call *Call) error {
			name, err := CurrentThreadName(ctx)
			if err != nil {
				return err
			}
			return setText(call, name)
		}},
	}, Destroy: func(ctx context.Context, impl any) error {
		e := impl.(*tEcho)
		e.mu.Lock()
		e.destroys++
		e.mu.Unlock()
		close(e.destroyed)
		return nil
	}}
	tCallbackDesc = ServerDesc{Name: "TCallback", Methods: []MethodDesc{
		{Method: &mCbCall, Handler: func(ctx context.Context, impl any, call *Call) error {
			cb := impl.(*tCallback)
			name, _ := CurrentThreadName(ctx)
			out := cb.name + "(" + argText(call, 1) + ") on " + name
			if cb.echo != nil {
				// Nested: back into the caller while it waits on us.
				inner, err := invokeText(ctx, cb.echo, &mThread, "")
				if err != nil {
					return err
				}
				out += "|inner=" + inner
			}
			return setText(call, out)
		}},
	}, Destroy: func(ctx context.Context, impl any) error {
		close(impl.(*tCallback).destroyed)
		return nil
	}}
}

// tInit serves TInit. The tests read its fields under mu: the race
// detector does not see a socket order events.
type tInit struct {
	mu        sync.Mutex
	wrap      func(engine.Server) engine.Server // wraps the echo objects served
	echos     []*tEcho
	callbacks []*tCallback
}

func (i *tInit) echo(n int) *tEcho {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.echos[n]
}

func (i *tInit) newEcho() *tEcho {
	e := &tEcho{gate: make(chan struct{}), destroyed: make(chan struct{}), abandoned: make(chan struct{}), started: make(chan uint32, 3)}
	i.mu.Lock()
	i.echos = append(i.echos, e)
	i.mu.Unlock()
	return e
}

type tEcho struct {
	started   chan uint32 // the key of each wait that started
	gate      chan struct{}
	destroyed chan struct{}
	abandoned chan struct{}

	mu       sync.Mutex
	ran      []uint32
	names    []string
	destroys int
}

type tCallback struct {
	name      string
	echo      *ClientBase // when set, call nests a call back into it
	destroyed chan struct{}
}

func argText(call *Call, i uint16) string {
	p, _ := call.Args().Ptr(i)
	return p.Text()
}

func setText(call *Call, s string) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetText(0, s)
}

func setCap(call *Call, c *Cap) error {
	res, err := call.AllocResults()
	if err != nil {
		c.Release()
		return err
	}
	return res.SetPtr(0, capnp.NewInterface(res.Segment(), call.AddCap(c)).ToPtr())
}

// invokeText calls a method whose params end with a text (its last
// pointer, after the context) and whose result is a text.
func invokeText(ctx context.Context, b *ClientBase, m *Method, in string) (string, error) {
	var out string
	err := b.Invoke(ctx, m, func(p *Params) error {
		if m.Params.PointerCount < 2 {
			return nil // the context only
		}
		return p.Struct().SetText(m.Params.PointerCount-1, in)
	}, func(r *Results) error {
		p, err := r.Struct().Ptr(0)
		out = p.Text()
		return err
	})
	return out, err
}

// invokeCap calls a method whose result is a capability.
func invokeCap(ctx context.Context, b *ClientBase, m *Method, params func(*Params) error) (*ClientBase, error) {
	var c *Cap
	err := b.Invoke(ctx, m, params, func(r *Results) error {
		p, err := r.Struct().Ptr(0)
		c = r.Cap(p.Interface().Capability())
		return err
	})
	return NewClientBase(c), err
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func socketPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var cs [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = c
	}
	return cs[0], cs[1]
}

// tPair is a connection between a client and a server serving tInit.
type tPair struct {
	cli, srv *Conn
	init     *ClientBase
	impl     *tInit
}

func newTPair(t *testing.T, name string, cliOpts ...Option) *tPair {
	a, b := socketPair(t)
	impl := &tInit{}
	srvc := make(chan *Conn, 1)
	srv := Serve(b, func(c *Conn) *Cap {
		srvc <- c
		return Local(&tInitDesc, impl)
	}, WithInitInterfaceID(tInitID), WithName(name+"-srv"))
	cli, err := Connect(testContext(t), a, append([]Option{WithInitInterfaceID(tInitID), WithName(name)}, cliOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if got := <-srvc; got != srv {
		t.Fatal("bootstrap got another connection")
	}
	p := &tPair{cli: cli, srv: srv, init: NewClientBase(cli.Bootstrap()), impl: impl}
	t.Cleanup(func() {
		p.init.Release()
		cli.Close()
		srv.Close()
	})
	return p
}

func (p *tPair) echo(t *testing.T) *ClientBase {
	t.Helper()
	e, err := invokeCap(testContext(t), p.init, &mMakeEcho, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEngineContextCallOnPipelinedThread(t *testing.T) {
	p := newTPair(t, "cli")
	ctx := testContext(t)
	// The first context call names makeThread's unreturned answer.
	e := p.echo(t)
	defer e.Release()
	out, err := invokeText(ctx, e, &mThread, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out, "(from cli/1)") {
		t.Errorf("call ran on %q, want the thread the client made (cli/1)", out)
	}
	if got, err := invokeText(ctx, e, &mEcho, "hi"); err != nil || got != "echo:hi" {
		t.Errorf("echo = %q, %v", got, err)
	}
}

func TestEngineNestedCallbacks(t *testing.T) {
	p := newTPair(t, "cli")
	ctx := testContext(t)
	e := p.echo(t)
	defer e.Release()
	// Server -> client callback -> server again, on the waiting threads.
	cb := &tCallback{name: "cb", echo: e, destroyed: make(chan struct{})}
	var out string
	err := e.Invoke(ctx, &mCall, func(pr *Params) error {
		s := pr.Struct()
		id := pr.AddCap(Local(&tCallbackDesc, cb))
		if err := s.SetPtr(1, capnp.NewInterface(s.Segment(), id).ToPtr()); err != nil {
			return err
		}
		return s.SetText(2, "x")
	}, func(r *Results) error {
		p, err := r.Struct().Ptr(0)
		out = p.Text()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// "cb(x) on <client thread>|inner=<server thread>|outer=<server thread>"
	on, rest, _ := strings.Cut(strings.TrimPrefix(out, "cb(x) on "), "|inner=")
	inner, outer, _ := strings.Cut(rest, "|outer=")
	if !strings.HasSuffix(on, "(from cli callback 1)") {
		t.Errorf("callback ran on %q, want the client's callback thread", on)
	}
	if outer == "" || inner != outer {
		t.Errorf("nested call ran on %q, want the waiting thread %q", inner, outer)
	}
	<-cb.destroyed // the server released the callback: destroyed
}

func TestEngineDestroy(t *testing.T) {
	p := newTPair(t, "cli")
	ctx := testContext(t)
	e := p.echo(t)
	other := NewClientBase(e.Cap().AddRef())
	if err := e.Destroy(ctx, &mDestroy); err != nil {
		t.Fatal(err)
	}
	if err := e.Destroy(ctx, &mDestroy); err != nil {
		t.Fatal("second destroy:", err)
	}
	_, err := invokeText(ctx, e, &mEcho, "x")
	if !errors.Is(err, exception.ErrDestroyed) {
		t.Errorf("call after destroy: %v, want ErrDestroyed", err)
	}
	// Another reference reaches the server, which refuses.
	_, err = invokeText(ctx, other, &mEcho, "x")
	var ee *exception.Error
	if !errors.As(err, &ee) || !ee.Remote || ee.Description != "called after destroy" {
		t.Errorf("call on destroyed object: %v", err)
	}
	other.Release()
	if _, err := invokeText(ctx, other, &mEcho, "x"); !errors.Is(err, exception.ErrReleased) {
		t.Errorf("call after release: %v, want ErrReleased", err)
	}
	impl := p.impl.echo(0)
	<-impl.destroyed
	impl.mu.Lock()
	defer impl.mu.Unlock()
	if impl.destroys != 1 {
		t.Errorf("Destroy ran %d times", impl.destroys)
	}

	// Released without destroy: destroyed when its last reference goes.
	e2 := p.echo(t)
	e2.Release()
	<-p.impl.echo(1).destroyed
}

// stats returns the client's and the server's engine tables; the server's
// are read while it serves stats, its own answer counted.
func (p *tPair) stats(t *testing.T) (engine.Stats, [4]uint32) {
	t.Helper()
	var srv [4]uint32
	err := p.init.Invoke(testContext(t), &mStats, nil, func(r *Results) error {
		for i := range srv {
			srv[i] = r.Struct().Uint32(capnp.DataOffset(4 * i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p.cli.e.Stats(), srv
}

func TestEngineReleaseCounts(t *testing.T) {
	p := newTPair(t, "cli")
	ctx := testContext(t)
	warm := p.echo(t) // makes the client's first thread
	warm.Release()
	cli0, srv0 := p.stats(t)

	e := p.echo(t)
	cb := &tCallback{name: "cb", echo: e, destroyed: make(chan struct{})}
	err := e.Invoke(ctx, &mCall, func(pr *Params) error {
		s := pr.Struct()
		return s.SetPtr(1, capnp.NewInterface(s.Segment(), pr.AddCap(Local(&tCallbackDesc, cb))).ToPtr())
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	remote, err := invokeCap(ctx, p.init, &mMakeCallback, func(pr *Params) error { return pr.Struct().SetText(1, "r") })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := invokeText(ctx, remote, &mCbCall, "y"); err != nil {
		t.Fatal(err)
	}
	remote.Release()
	if err := e.Destroy(ctx, &mDestroy); err != nil {
		t.Fatal(err)
	}
	<-cb.destroyed

	cli1, srv1 := p.stats(t)
	if cli1 != cli0 || srv1 != srv0 {
		t.Errorf("tables grew: client %+v -> %+v, server %v -> %v", cli0, cli1, srv0, srv1)
	}
}

func TestEngineForwardAcrossConnections(t *testing.T) {
	x := newTPair(t, "cx")
	y := newTPair(t, "cy")
	ctx := testContext(t)
	// A Callback served by x's server, passed to y's server, which calls it.
	cb, err := invokeCap(ctx, x.init, &mMakeCallback, func(pr *Params) error { return pr.Struct().SetText(1, "fromX") })
	if err != nil {
		t.Fatal(err)
	}
	e := y.echo(t)
	defer e.Release()
	var out string
	err = e.Invoke(ctx, &mCall, func(pr *Params) error {
		s := pr.Struct()
		id := pr.AddCap(cb.Cap().AddRef())
		if err := s.SetPtr(1, capnp.NewInterface(s.Segment(), id).ToPtr()); err != nil {
			return err
		}
		return s.SetText(2, "z")
	}, func(r *Results) error {
		p, err := r.Struct().Ptr(0)
		out = p.Text()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "fromX(z) on ") {
		t.Errorf("forwarded call answered %q", out)
	}
	cb.Release()
	// y's server dropped its reference, the proxy then x's: destroyed.
	x.impl.mu.Lock()
	xcb := x.impl.callbacks[0]
	x.impl.mu.Unlock()
	<-xcb.destroyed
}

// arrivals tells, for each call, that the server has queued it.
type arrivals struct {
	engine.Server
	ch chan struct{}
}

func (a *arrivals) Dispatch(c *engine.Call) {
	a.Server.Dispatch(c)
	a.ch <- struct{}{}
}

func (a *arrivals) Shutdown() { a.Server.(interface{ Shutdown() }).Shutdown() }

func TestEngineThreeCallsQueuedOnPinnedThread(t *testing.T) {
	p := newTPair(t, "cli")
	arrived := make(chan struct{}, 1)
	p.impl.mu.Lock()
	p.impl.wrap = func(s engine.Server) engine.Server { return &arrivals{Server: s, ch: arrived} }
	p.impl.mu.Unlock()
	e := p.echo(t)
	defer e.Release()
	impl := p.impl.echo(0)
	cli := p.cli

	ctx := testContext(t)
	th, err := cli.NewThread()
	if err != nil {
		t.Fatal(err)
	}
	defer th.Release()
	pinned := WithThread(ctx, th)
	errs := make(chan error, 3)
	for key := uint32(1); key <= 3; key++ {
		go func() {
			errs <- e.Invoke(pinned, &mWait, func(p *Params) error {
				p.Struct().SetUint32(0, key)
				return nil
			}, nil)
		}()
		<-arrived // queued on the server before the next is sent
	}
	// All three are on the server, the first running and waiting.
	close(impl.gate)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	impl.mu.Lock()
	defer impl.mu.Unlock()
	if len(impl.ran) != 3 || impl.ran[0] != 1 || impl.ran[1] != 2 || impl.ran[2] != 3 {
		t.Errorf("ran %v, want [1 2 3]", impl.ran)
	}
	for _, n := range impl.names {
		if n != impl.names[0] || n == "" {
			t.Errorf("ran on threads %q, want one", impl.names)
			break
		}
	}
}

func TestEnginePanicBecomesException(t *testing.T) {
	p := newTPair(t, "cli")
	ctx := testContext(t)
	e := p.echo(t)
	defer e.Release()
	_, err := invokeText(ctx, e, &mBoom, "")
	var ee *exception.Error
	if !errors.As(err, &ee) || ee.Type != exception.Failed || !ee.Remote || ee.Description != "panic: boom" ||
		ee.Interface != "TEcho" || ee.Method != "boom" {
		t.Fatalf("panic answered %#v", err)
	}
	if got, err := invokeText(ctx, e, &mEcho, "after"); err != nil || got != "echo:after" {
		t.Errorf("after the panic: %q, %v", got, err)
	}
}

func TestEngineAbandonedCallRetiresThread(t *testing.T) {
	p := newTPair(t, "cli")
	ctx := testContext(t)
	e := p.echo(t)
	defer e.Release()
	impl := p.impl.echo(0)
	wctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		errc <- e.Invoke(wctx, &mWait, nil, nil)
	}()
	<-impl.started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned call: %v, want context.Canceled", err)
	}
	<-impl.abandoned // the server saw the call canceled
	// The thread that may still run the call is not used again.
	out, err := invokeText(ctx, e, &mThread, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out, "(from cli/2)") {
		t.Errorf("next call ran on %q, want a new thread", out)
	}
}

func TestEngineServerPool(t *testing.T) {
	p := newTPair(t, "cli", WithServerPool(2))
	e := p.echo(t)
	defer e.Release()
	out, err := invokeText(testContext(t), e, &mThread, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "(from pool/") {
		t.Errorf("call ran on %q, want a pool thread", out)
	}
}

func TestEngineCallTimeout(t *testing.T) {
	p := newTPair(t, "cli")
	e := p.echo(t)
	defer e.Release()
	ctx := ContextWithCallTimeout(testContext(t), time.Nanosecond)
	err := e.Invoke(ctx, &mWait, nil, nil) // waits for a gate never opened
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call past its timeout: %v", err)
	}
}

func TestEngineListener(t *testing.T) {
	ln, err := net.Listen("unix", t.TempDir()+"/s")
	if err != nil {
		t.Fatal(err)
	}
	impl := &tInit{}
	s := NewServer(ln, func(*Conn) *Cap { return Local(&tInitDesc, impl) }, ConnOptions(WithInitInterfaceID(tInitID)))
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	ctx := testContext(t)
	dial := func() *Conn {
		nc, err := net.Dial("unix", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		cli, err := Connect(ctx, nc, WithInitInterfaceID(tInitID))
		if err != nil {
			t.Fatal(err)
		}
		init := NewClientBase(cli.Bootstrap())
		defer init.Release()
		e, err := invokeCap(ctx, init, &mMakeEcho, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Release()
		if got, err := invokeText(ctx, e, &mEcho, "l"); err != nil || got != "echo:l" {
			t.Errorf("echo = %q, %v", got, err)
		}
		return cli
	}
	// DisconnectIncoming ends the open connections and goes on accepting.
	cli := dial()
	s.DisconnectIncoming()
	<-cli.Done()
	// Shutdown stops accepting and waits for the client to leave.
	cli = dial()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	if err := <-served; err != nil {
		t.Error(err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned with a connection open: %v", err)
	default:
	}
	cli.Close()
	if err := <-shut; err != nil {
		t.Error(err)
	}
	if s.Conns() != 0 {
		t.Errorf("%d connections open after Shutdown", s.Conns())
	}
}

func TestEngineNullCapability(t *testing.T) {
	_, err := invokeText(testContext(t), NewClientBase(nil), &mEcho, "x")
	var ee *exception.Error
	if !errors.As(err, &ee) || ee.Type != exception.Failed {
		t.Errorf("call on the null capability: %v", err)
	}
}

func TestEngineProxyCalledHere(t *testing.T) {
	x := newTPair(t, "cx")
	ctx := testContext(t)
	cb, err := invokeCap(ctx, x.init, &mMakeCallback, func(pr *Params) error { return pr.Struct().SetText(1, "fromX") })
	if err != nil {
		t.Fatal(err)
	}
	// A proxy of x's capability that came back to this process is called
	// as what it stands for, with threads of x's connection.
	proxy := NewClientBase(&Cap{c: engine.NewLocal(&forwarder{target: cb.Cap().AddRef()})})
	cb.Release()
	if proxy.Conn() != x.cli {
		t.Errorf("proxy lives on %p, want x's connection %p", proxy.Conn(), x.cli)
	}
	out, err := invokeText(ctx, proxy, &mCbCall, "p")
	if err != nil || !strings.HasPrefix(out, "fromX(p) on ") {
		t.Fatalf("call through the proxy: %q, %v", out, err)
	}
	proxy.Release()
	x.impl.mu.Lock()
	xcb := x.impl.callbacks[0]
	x.impl.mu.Unlock()
	<-xcb.destroyed
}
