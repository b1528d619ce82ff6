package rt_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

const hour = int64(time.Hour / time.Millisecond)

func TestCallRoundTrip(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	r, err := p.calc.Add(ctx, 2, 40)
	if err != nil || r != 42 {
		t.Fatalf("Add = %d, %v", r, err)
	}
	name, err := p.calc.ThreadName(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(name, "(from go-") {
		t.Errorf("thread name %q does not name the client's thread", name)
	}
	x, err := p.calc.Ping(ctx, 7)
	if err != nil || x != 7 {
		t.Fatalf("Ping = %d, %v", x, err)
	}
}

func TestErrorsAreTyped(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	cases := []struct {
		kind int32
		is   error
		typ  exception.Type
	}{
		{0, exception.ErrFailed, exception.Failed},
		{1, exception.ErrFailed, exception.Failed},
		{2, exception.ErrOverloaded, exception.Overloaded},
		{3, exception.ErrUnimplemented, exception.Unimplemented},
		{4, exception.ErrDisconnected, exception.Disconnected},
	}
	for _, c := range cases {
		err := p.calc.Fail(ctx, c.kind, "boom")
		if !errors.Is(err, c.is) {
			t.Errorf("kind %d: %v is not %v", c.kind, err, c.is)
		}
		var e *exception.Error
		if !errors.As(err, &e) || e.Type != c.typ || !strings.Contains(e.Description, "boom") {
			t.Errorf("kind %d: error %#v", c.kind, err)
		}
		if e != nil && (e.Interface != "Calc" || e.Method != "fail") {
			t.Errorf("kind %d: error names %s.%s", c.kind, e.Interface, e.Method)
		}
	}
	// The server survived the panic.
	if r, err := p.calc.Add(ctx, 1, 1); err != nil || r != 2 {
		t.Fatalf("after panic: %d, %v", r, err)
	}
	err := p.calc.Raise(ctx, "thrown text")
	var e *exception.Error
	if !errors.As(err, &e) || e.What() != "thrown text" || !e.Remote {
		t.Fatalf("raise: %#v", err)
	}
}

func TestDestroy(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	if err := p.calc.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.calc.Destroy(ctx); err != nil {
		t.Fatalf("second destroy: %v", err)
	}
	if got := p.destroyed.Load(); got != 1 {
		t.Fatalf("server destroyed %d times, want 1", got)
	}
	_, err := p.calc.Add(ctx, 1, 2)
	if !errors.Is(err, exception.ErrDestroyed) {
		t.Fatalf("call after destroy: %v", err)
	}
}

func TestReleaseDestroysServerObject(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	calc2, err := makeCalc(ctx, p.client)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := calc2.Add(ctx, 1, 2); err != nil {
		t.Fatal(err)
	}
	calc2.Release()
	if _, err := calc2.Add(ctx, 1, 2); !errors.Is(err, exception.ErrReleased) {
		t.Fatalf("call after release: %v", err)
	}
	waitFor(t, func() bool { return p.destroyed.Load() == 1 })
	// rt.Release and rt.Destroy take any value a client returned, and do
	// nothing for a local implementation.
	calc3, err := makeCalc(ctx, p.client)
	if err != nil {
		t.Fatal(err)
	}
	var v rttest.Calc = calc3
	if err := rt.Destroy(ctx, v); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return p.destroyed.Load() == 2 })
	rt.Release(v)
	local := &calcImpl{destroyed: new(atomic.Int32), hooks: &hooks{}}
	rt.Release(local)
	if err := rt.Destroy(ctx, local); err != nil || local.destroyed.Load() != 0 {
		t.Fatalf("rt.Destroy of a local implementation: %v, %d destroys", err, local.destroyed.Load())
	}
}

// Concurrent calls without a pinned thread run on threads of their own:
// four hour-long sleeps are all running at once, each on another server
// thread, and a call made meanwhile is answered.
func TestConcurrentCallsUseSeparateThreads(t *testing.T) {
	var mu sync.Mutex
	names := map[string]int{}
	entered := make(chan struct{}, 8)
	h := &hooks{onSleep: func(ctx context.Context) {
		name, _ := rt.CurrentThreadName(ctx)
		mu.Lock()
		names[name]++
		mu.Unlock()
		entered <- struct{}{}
	}}
	p := newPairHooks(t, h, nil)
	ctx := ctxT(t)
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.calc.Sleep(sctx, hour); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled sleep: %v", err)
			}
		}()
	}
	for i := 0; i < 4; i++ {
		recv(t, entered, "sleep started")
	}
	mu.Lock()
	if len(names) != 4 {
		t.Errorf("4 concurrent sleeps ran on threads %v", names)
	}
	mu.Unlock()
	// A call made while they all run is answered.
	if r, err := p.calc.Add(ctx, 1, 1); err != nil || r != 2 {
		t.Fatalf("Add while 4 sleeps run: %d, %v", r, err)
	}
	cancel()
	wg.Wait()
}

// Calls pinned to one Thread (rt.WithThread) run on it, one at a time,
// in the order they were made; several may be posted at once, as a
// libmultiprocess client posts three waitNext calls to one thread.
func TestPinnedThreadQueuesCalls(t *testing.T) {
	type entry struct {
		ctx  context.Context
		name string
	}
	entered := make(chan entry, 8)
	gate := make(chan struct{})
	h := &hooks{onSleep: func(ctx context.Context) {
		name, _ := rt.CurrentThreadName(ctx)
		entered <- entry{ctx, name}
		<-gate // each sleep holds the thread until the test lets it go
	}}
	p := newPairHooks(t, h, nil)
	ctx := ctxT(t)
	th, err := p.client.NewThread()
	if err != nil {
		t.Fatal(err)
	}
	defer th.Release()
	pctx := rt.WithThread(ctx, th)
	n1, err := p.calc.ThreadName(pctx)
	if err != nil {
		t.Fatal(err)
	}
	if name, err := th.Name(ctx); err != nil || name != n1 {
		t.Fatalf("Thread.Name = %q, %v; a pinned call ran on %q", name, err, n1)
	}
	base := rt.InFlightForTest(p.server)
	// Three calls at once, each with a millis of its own to tell them apart.
	const n = 3
	done := make(chan error, n)
	for i := 0; i < n; i++ {
		millis := int64(i + 1)
		go func() {
			_, err := p.calc.Sleep(pctx, millis)
			done <- err
		}()
	}
	first := recv(t, entered, "first pinned sleep")
	// All three reached the server while the first holds the thread.
	waitFor(t, func() bool { return rt.InFlightForTest(p.server) == base+n })
	select {
	case e := <-entered:
		t.Fatalf("a second call ran on the pinned thread (%q) while the first held it", e.name)
	default:
	}
	names := []string{first.name}
	for i := 1; i < n; i++ {
		gate <- struct{}{}
		names = append(names, recv(t, entered, "next pinned sleep").name)
	}
	gate <- struct{}{}
	for i := 0; i < n; i++ {
		if err := recv(t, done, "pinned sleep"); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		if name != n1 {
			t.Fatalf("pinned calls ran on %q, want %q", names, n1)
		}
	}
}

// A callback chain Go→Go→Go… re-enters the same objects at every level.
func TestNestedCallbacks(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	cb := &callbackImpl{calc: p.calc}
	cbCap := rttest.CallbackServer(cb)
	cb.self = rttest.NewCallbackClient(cbCap.AddRef())
	defer rt.Release(cb.self)
	self := rttest.NewCallbackClient(cbCap)
	defer self.Release()
	r, err := p.calc.CallBack(ctx, self, 6)
	if err != nil {
		t.Fatal(err)
	}
	// Each level adds one on the server; the innermost returns 0.
	if r != 7 {
		t.Fatalf("nested result %d, want 7", r)
	}
}

func TestDisconnectFailsPendingCalls(t *testing.T) {
	entered := make(chan struct{}, 1)
	p := newPairHooks(t, &hooks{onSleep: func(context.Context) { entered <- struct{}{} }}, nil)
	ctx := ctxT(t)
	type result struct {
		err error
		at  time.Time
	}
	errc := make(chan result, 1)
	go func() {
		_, err := p.calc.Sleep(ctx, hour)
		errc <- result{err, time.Now()}
	}()
	recv(t, entered, "sleep started")
	start := time.Now()
	p.server.Close()
	r := recv(t, errc, "pending call after Close")
	if !errors.Is(r.err, exception.ErrDisconnected) {
		t.Fatalf("pending call: %v", r.err)
	}
	if d := r.at.Sub(start); d > maxDisconnectLatency {
		t.Errorf("pending call failed after %v, want < %v", d, maxDisconnectLatency)
	}
	_, err := p.calc.Add(ctx, 1, 1)
	if !errors.Is(err, exception.ErrDisconnected) {
		t.Fatalf("call after disconnect: %v", err)
	}
	waitFor(t, func() bool { return p.destroyed.Load() == 1 })
}

func TestCancelAbandonsCall(t *testing.T) {
	entered := make(chan struct{}, 1)
	p := newPairHooks(t, &hooks{onSleep: func(context.Context) { entered <- struct{}{} }}, nil)
	ctx := ctxT(t)
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		<-entered
		cancel()
	}()
	_, err := p.calc.Sleep(cctx, hour)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	if r, err := p.calc.Add(ctx, 1, 1); err != nil || r != 2 {
		t.Fatalf("after cancel: %d %v", r, err)
	}
}

// Server-side thread checks, as libmultiprocess makes them.
func TestThreadChecks(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)

	// No thread and no pool.
	_, err := addWithThread(ctx, p.calc, nil, 1, 2)
	if err == nil || !strings.Contains(err.Error(), "no thread specified and no pool configured") {
		t.Fatalf("null thread: %v", err)
	}

	// A thread that is not the server's: a capability the client serves.
	own := rttest.CallbackServer(&callbackImpl{})
	defer own.Release()
	_, err = addWithThread(ctx, p.calc, own, 1, 2)
	if err == nil || !strings.Contains(err.Error(), "invalid thread handle") {
		t.Fatalf("foreign thread: %v", err)
	}

	// A context pinned to a Thread of another connection: WithThread
	// applies on the Thread's own connection only, so on p the call runs on
	// a thread of p's own (the idle one the previous call used), never on
	// q's, whose Thread capability is no thread of p's server.
	q := newPair(t, nil, rt.WithName("q"))
	other, err := q.client.NewThread()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	otherName, err := other.Name(ctx)
	if err != nil || !strings.Contains(otherName, "from q/") {
		t.Fatalf("q's thread is named %q (%v), want one from q", otherName, err)
	}
	pName, err := p.calc.ThreadName(ctx)
	if err != nil {
		t.Fatal(err)
	}
	qctx := rt.WithThread(ctx, other)
	if got, err := p.calc.ThreadName(qctx); err != nil || got != pName {
		t.Fatalf("pinned to q's thread %q, a call on p ran on %q (%v), want p's own %q", otherName, got, err, pName)
	}
	if got, err := q.calc.ThreadName(qctx); err != nil || got != otherName {
		t.Fatalf("pinned to %q, a call on q ran on %q (%v)", otherName, got, err)
	}
	// A capability of q's connection passed into p's as the thread (rt
	// forwards it through a local proxy) is no thread of p's server.
	_, err = addWithThread(ctx, p.calc, q.calc.Cap(), 1, 2)
	if err == nil || !strings.Contains(err.Error(), "invalid thread handle") {
		t.Fatalf("another connection's capability as thread: %v", err)
	}
}

func TestServerPool(t *testing.T) {
	p := newPair(t, nil, rt.WithServerPool(2))
	ctx := ctxT(t)
	name, err := p.calc.ThreadName(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(name, "pool/") {
		t.Fatalf("call ran on %q, want a pool thread", name)
	}
	if r, err := addWithThread(ctx, p.calc, nil, 2, 3); err != nil || r != 5 {
		t.Fatalf("null thread with a pool: %d, %v", r, err)
	}
}

// makeThread beyond WithMaxThreads fails with "too many threads"; a call
// pinned to such a thread fails, and the connection goes on.
func TestThreadLimit(t *testing.T) {
	p := newPair(t, []rt.Option{rt.WithMaxThreads(3)})
	ctx := ctxT(t)
	var ok, refused int
	for i := 0; i < 10; i++ {
		th, err := p.client.NewThread()
		if err != nil {
			t.Fatal(err)
		}
		defer th.Release()
		_, err = th.Name(ctx)
		switch {
		case err == nil:
			ok++
			if _, err := p.calc.ThreadName(rt.WithThread(ctx, th)); err != nil {
				t.Fatalf("call on a granted thread: %v", err)
			}
		case strings.Contains(err.Error(), "too many threads"):
			refused++
			if _, err := p.calc.ThreadName(rt.WithThread(ctx, th)); err == nil {
				t.Fatal("a call pinned to a refused thread succeeded")
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	// The pair already holds a thread (makeCalc and the calls share it).
	if refused != 8 || ok != 2 || rt.ThreadsForTest(p.server) != 3 {
		t.Fatalf("thread limit 3: %d pinned threads granted, %d refused, server has %d", ok, refused, rt.ThreadsForTest(p.server))
	}
	if r, err := p.calc.Add(ctx, 1, 1); err != nil || r != 2 {
		t.Fatalf("after refused threads: %d, %v", r, err)
	}
}
