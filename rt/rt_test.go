package rt_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

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
	if !errors.As(err, &e) || e.Description != "thrown text" || !e.Remote {
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
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConcurrentCallsUseSeparateThreads(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := p.calc.Sleep(ctx, 200*time.Millisecond); err != nil || !ok {
				t.Errorf("sleep: %v %v", ok, err)
			}
		}()
	}
	wg.Wait()
	// Four 200 ms calls on four threads overlap; on one they would take 800.
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Fatalf("4 concurrent sleeps took %v: calls were serialised", d)
	}
	// A long call does not block others.
	done := make(chan struct{})
	go func() {
		p.calc.Sleep(ctx, 500*time.Millisecond)
		close(done)
	}()
	time.Sleep(20 * time.Millisecond)
	if _, err := p.calc.Add(ctx, 1, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		t.Fatal("Add waited for the long call")
	default:
	}
	<-done
}

func TestPinnedThreadSerialises(t *testing.T) {
	p := newPair(t, nil)
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
	n2, _ := p.calc.ThreadName(pctx)
	if n1 != n2 {
		t.Fatalf("pinned calls ran on %q and %q", n1, n2)
	}
	name, err := th.Name(ctx)
	if err != nil || name != n1 {
		t.Fatalf("Thread.Name = %q, %v; calls ran on %q", name, err, n1)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.calc.Sleep(pctx, 100*time.Millisecond)
		}()
	}
	wg.Wait()
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Fatalf("two calls pinned to one thread overlapped (%v)", d)
	}
}

// A callback chain Go→Go→Go… re-enters the same objects at every level.
func TestNestedCallbacks(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	cb := &callbackServer{}
	cbCap := rttest.Callback_ServerToClient(cb)
	defer cbCap.Release()
	cb.calc = func(context.Context) *calcClient { return p.calc }
	cb.self = func() rttest.Callback { return cbCap }
	r, err := p.calc.CallBack(ctx, cbCap, 6)
	if err != nil {
		t.Fatal(err)
	}
	// Each level adds one on the server; the innermost returns 0.
	if r != 7 {
		t.Fatalf("nested result %d, want 7", r)
	}
}

func TestDisconnectFailsPendingCalls(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	errc := make(chan error, 1)
	go func() {
		_, err := p.calc.Sleep(ctx, 10*time.Second)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	p.server.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, exception.ErrDisconnected) {
			t.Fatalf("pending call: %v", err)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("pending call failed after %v, want < 100ms", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("pending call did not fail")
	}
	_, err := p.calc.Add(ctx, 1, 1)
	if !errors.Is(err, exception.ErrDisconnected) {
		t.Fatalf("call after disconnect: %v", err)
	}
	waitFor(t, func() bool { return p.destroyed.Load() == 1 })
}

func TestCancelAbandonsCall(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := p.calc.Sleep(cctx, 5*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
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
	calcCap := p.calc.cap()

	// No thread and no pool.
	fut, rel := calcCap.Add(ctx, func(ps rttest.Calc_add_Params) error {
		_, err := ps.NewContext()
		return err
	})
	_, err := fut.Struct()
	rel()
	if err == nil || !strings.Contains(err.Error(), "no thread specified and no pool configured") {
		t.Fatalf("null thread: %v", err)
	}

	// A thread that is not the server's: our own callback Thread cap.
	own := rttest.Callback_ServerToClient(&callbackServer{})
	defer own.Release()
	fut, rel = calcCap.Add(ctx, func(ps rttest.Calc_add_Params) error {
		pc, err := ps.NewContext()
		if err != nil {
			return err
		}
		return pc.SetThread(mpThread(capnp.Client(own).AddRef()))
	})
	_, err = fut.Struct()
	rel()
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
	// Forwarding q's server thread raw into p's connection is refused.
	tfut, trel := q.client.PeerThreadMap().MakeThread(ctx, nil)
	defer trel()
	qThread := tfut.Result()
	fut, rel = calcCap.Add(ctx, func(ps rttest.Calc_add_Params) error {
		pc, err := ps.NewContext()
		if err != nil {
			return err
		}
		return pc.SetThread(qThread.AddRef())
	})
	_, err = fut.Struct()
	rel()
	if err == nil || !strings.Contains(err.Error(), "invalid thread handle") {
		t.Fatalf("another connection's thread: %v", err)
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
}

func TestThreadLimit(t *testing.T) {
	p := newPair(t, []rt.Option{rt.WithMaxThreads(3)})
	ctx := ctxT(t)
	tm := p.client.PeerThreadMap()
	var errs int
	for i := 0; i < 10; i++ {
		fut, rel := tm.MakeThread(ctx, nil)
		if _, err := fut.Struct(); err != nil {
			errs++
			if !strings.Contains(err.Error(), "too many threads") {
				t.Fatalf("unexpected error %v", err)
			}
		}
		rel()
	}
	// The pair already made 2 (the makeCalc and add leases share one).
	if errs == 0 {
		t.Fatal("thread limit not enforced")
	}
}
