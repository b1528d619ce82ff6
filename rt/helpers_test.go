package rt_test

// The shared harness of rt's tests: Go implementations of the test schema
// (internal/testing/rttest, whose generated proxies the tests call and serve
// through) and fixtures that connect them.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest/rttestcapnp"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// hooks let a test watch what the servers below do. Any may be nil.
type hooks struct {
	onSleep    func(ctx context.Context)     // a Sleep call started (it may block)
	onCallBack func()                        // CallBack is about to call the callback
	cbDone     func(err error, at time.Time) // the callback call returned
	onPing     func(x uint64)                // Ping was called
	makeCalc   func(ctx context.Context) (rttest.Calc, error)
}

// initImpl serves TestInit; its Calc objects count their destroys.
type initImpl struct {
	destroyed *atomic.Int32
	hooks     *hooks
}

func newInit(destroyed *atomic.Int32, h *hooks) *initImpl {
	if destroyed == nil {
		destroyed = new(atomic.Int32)
	}
	if h == nil {
		h = &hooks{}
	}
	return &initImpl{destroyed: destroyed, hooks: h}
}

func (s *initImpl) MakeCalc(ctx context.Context) (rttest.Calc, error) {
	if s.hooks.makeCalc != nil {
		return s.hooks.makeCalc(ctx)
	}
	return &calcImpl{destroyed: s.destroyed, hooks: s.hooks}, nil
}

// initServer returns a bootstrap function serving TestInit with s.
func (s *initImpl) bootstrap() func(*rt.Conn) *rt.Cap {
	return func(*rt.Conn) *rt.Cap { return rttest.TestInitServer(s) }
}

// calcImpl serves Calc.
type calcImpl struct {
	destroyed *atomic.Int32
	hooks     *hooks
}

func (s *calcImpl) Destroy(context.Context) error {
	s.destroyed.Add(1)
	return nil
}

func (s *calcImpl) Add(ctx context.Context, a, b int64) (int64, error) { return a + b, nil }

func (s *calcImpl) ThreadName(ctx context.Context) (string, error) {
	return rt.CurrentThreadName(ctx)
}

func (s *calcImpl) Fail(ctx context.Context, kind int32, text string) error {
	switch kind {
	case 1:
		panic(text)
	case 2:
		return exception.New(exception.Overloaded, "", "", text)
	case 3:
		return exception.New(exception.Unimplemented, "", "", text)
	case 4:
		return exception.New(exception.Disconnected, "", "", text)
	}
	return errors.New(text)
}

func (s *calcImpl) Sleep(ctx context.Context, millis int64) (bool, error) {
	if s.hooks.onSleep != nil {
		s.hooks.onSleep(ctx)
	}
	t := time.NewTimer(time.Duration(millis) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return true, nil
	case <-ctx.Done():
		return false, nil
	}
}

func (s *calcImpl) CallBack(ctx context.Context, cb rttest.Callback, depth int32) (int32, error) {
	defer rt.Release(cb)
	if s.hooks.onCallBack != nil {
		s.hooks.onCallBack()
	}
	r, err := cb.Call(ctx, depth)
	if s.hooks.cbDone != nil {
		s.hooks.cbDone(err, time.Now())
	}
	if err != nil {
		return 0, err
	}
	return r + 1, nil
}

func (s *calcImpl) Ping(ctx context.Context, x uint64) (uint64, error) {
	if s.hooks.onPing != nil {
		s.hooks.onPing(x)
	}
	return x, nil
}

// Raise fails with text, which goes back in the results' error field.
func (s *calcImpl) Raise(ctx context.Context, text string) error {
	return errors.New(text)
}

func (s *calcImpl) Echo(ctx context.Context, data []byte) ([]byte, error) {
	return data, nil
}

// callbackImpl answers Callback.call; when calc is set and depth > 0 it
// first calls calc.callBack(self, depth-1), nesting the chain.
type callbackImpl struct {
	calc      rttest.Calc
	self      rttest.Callback // what to pass on: this object's own capability
	destroyed atomic.Int32
}

func (s *callbackImpl) Destroy(context.Context) error {
	s.destroyed.Add(1)
	return nil
}

func (s *callbackImpl) Call(ctx context.Context, depth int32) (int32, error) {
	if depth > 0 && s.calc != nil {
		return s.calc.CallBack(ctx, s.self, depth-1)
	}
	return depth, nil
}

// blockingCallback answers Callback.call only when released; it counts
// its destroys (the peer released it, or the connection ended).
type blockingCallback struct {
	entered   chan struct{}
	release   chan struct{}
	destroyed atomic.Int32
}

func newBlockingCallback() *blockingCallback {
	return &blockingCallback{entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (s *blockingCallback) Destroy(context.Context) error {
	s.destroyed.Add(1)
	return nil
}

func (s *blockingCallback) Call(ctx context.Context, depth int32) (int32, error) {
	s.entered <- struct{}{}
	select {
	case <-s.release:
		return depth, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// makeCalc asks conn's TestInit for a Calc.
func makeCalc(ctx context.Context, conn *rt.Conn) (*rttest.CalcClient, error) {
	init := rttest.NewTestInitClient(conn)
	defer init.Release()
	c, err := init.MakeCalc(ctx)
	if err != nil {
		return nil, err
	}
	cc, ok := c.(*rttest.CalcClient)
	if !ok {
		rt.Release(c)
		return nil, fmt.Errorf("makeCalc returned %T", c)
	}
	return cc, nil
}

// ---- raw methods ----

// Methods of the test schema described by hand, for calls the generated
// proxies cannot make (a context rt did not fill, a forged thread).
var (
	methodAdd = rt.Method{Interface: "Calc", Name: "add", InterfaceID: rttestcapnp.Calc_TypeID, ID: 1,
		Params: capnp.ObjectSize{DataSize: 16, PointerCount: 1}, Results: capnp.ObjectSize{DataSize: 8},
		HasContext: true, ContextPtr: 0}
	methodSleep = rt.Method{Interface: "Calc", Name: "sleep", InterfaceID: rttestcapnp.Calc_TypeID, ID: 4,
		Params: capnp.ObjectSize{DataSize: 8, PointerCount: 1}, Results: capnp.ObjectSize{DataSize: 8},
		HasContext: true, ContextPtr: 0}
)

// contextOf is the context struct rt filled into the params of a call.
func contextOf(p *rt.Params) (capnp.Struct, error) {
	ptr, err := p.Struct().Ptr(0)
	if err != nil {
		return capnp.Struct{}, err
	}
	return ptr.Struct(), nil
}

// addWithThread calls calc.add(a, b) with context.thread replaced by th
// (nil: a null thread); rt still fills callbackThread.
func addWithThread(ctx context.Context, calc *rttest.CalcClient, th *rt.Cap, a, b int64) (int64, error) {
	base := rt.NewClientBase(calc.Cap().AddRef())
	defer base.Release()
	var r int64
	err := base.Invoke(ctx, &methodAdd, func(p *rt.Params) error {
		cs, err := contextOf(p)
		if err != nil {
			return err
		}
		p.Struct().SetUint64(0, uint64(a))
		p.Struct().SetUint64(8, uint64(b))
		if th == nil {
			return cs.SetPtr(0, capnp.Ptr{})
		}
		return cs.SetPtr(0, capnp.NewInterface(cs.Segment(), p.AddCap(th.AddRef())).ToPtr())
	}, func(r2 *rt.Results) error {
		r = int64(r2.Struct().Uint64(0))
		return nil
	})
	return r, err
}

// ---- fixtures ----

var testInitID uint64 = rttestcapnp.TestInit_TypeID

type pair struct {
	client, server *rt.Conn
	calc           *rttest.CalcClient
	destroyed      atomic.Int32
}

// newPair connects a Go client to a Go server over a socketpair.
func newPair(t testing.TB, serverOpts []rt.Option, clientOpts ...rt.Option) *pair {
	t.Helper()
	return newPairHooks(t, nil, serverOpts, clientOpts...)
}

// newPairHooks is newPair with a server whose objects call h.
func newPairHooks(t testing.TB, h *hooks, serverOpts []rt.Option, clientOpts ...rt.Option) *pair {
	t.Helper()
	a, b := socketPair(t)
	p := &pair{}
	p.server = rt.Serve(b, newInit(&p.destroyed, h).bootstrap(),
		append([]rt.Option{rt.WithInitInterfaceID(testInitID)}, serverOpts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	p.client, err = rt.Connect(ctx, a, append([]rt.Option{rt.WithInitInterfaceID(testInitID)}, clientOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	p.calc, err = makeCalc(ctx, p.client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.calc.Release()
		p.client.Close()
		p.server.Close()
	})
	return p
}

func socketPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("unix", fmt.Sprintf("%s/s.sock", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	a, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return a, <-ch
}

// hangGuard bounds every wait in these tests: it only catches a hang.
const hangGuard = 2 * time.Minute

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds; it fails the test after hangGuard.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached in %v", hangGuard)
		}
		time.Sleep(time.Millisecond)
	}
}

// recv waits for a value on ch, failing the test after hangGuard.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangGuard):
		t.Fatalf("%s: nothing after %v", what, hangGuard)
		var zero T
		return zero
	}
}

// maxDisconnectLatency is how soon after a connection ends (its peer
// killed or closed) every pending call must fail: the bound. The
// engine fails pending calls as its reader sees the end of the stream.
const maxDisconnectLatency = 100 * time.Millisecond
