package rt_test

// Limits against hostile peers: calls in flight, threads, pools, message
// size, unfinished calls and connections per listener.

import (
	"context"
	"errors"
	"math"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/mp"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// Calls beyond WithMaxInFlight fail at once with an overloaded exception,
// with and without a context; the connection recovers when calls end.
func TestMaxInFlight(t *testing.T) {
	p := newPair(t, []rt.Option{rt.WithMaxInFlight(4)})
	ctx := ctxT(t)
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.calc.Sleep(sctx, time.Hour)
		}()
	}
	waitFor(t, func() bool { return rt.InFlightForTest(p.server) == 4 })
	_, err := p.calc.Add(ctx, 1, 1)
	var e *exception.Error
	if !errors.Is(err, exception.ErrOverloaded) || !errors.As(err, &e) || !strings.Contains(e.Description, "too many calls in flight") {
		t.Fatalf("call over the limit: %v, want overloaded", err)
	}
	if _, err := p.calc.Ping(ctx, 1); !errors.Is(err, exception.ErrOverloaded) {
		t.Fatalf("call without context over the limit: %v, want overloaded", err)
	}
	cancel()
	wg.Wait()
	waitFor(t, func() bool { return rt.InFlightForTest(p.server) == 0 })
	if r, err := p.calc.Add(ctx, 1, 1); err != nil || r != 2 {
		t.Fatalf("after the calls ended: %d, %v", r, err)
	}
}

// A peer queues calls on one thread without end: at the default limit
// (1024 calls in flight) the rest are refused as overloaded, instead of
// each holding a goroutine and its message for ever.
func TestCallFloodOnOneThread(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	tfut, trel := p.client.PeerThreadMap().MakeThread(ctx, nil)
	defer trel()
	// Resolved first: see TestPipelinedThreadReferencedTwice.
	if _, err := tfut.Struct(); err != nil {
		t.Fatal(err)
	}
	th := tfut.Result()
	calc := p.calc.cap()
	const n = rt.DefaultMaxInFlight + 200
	type call struct {
		fut rttest.Calc_sleep_Results_Future
		rel capnp.ReleaseFunc
	}
	sctx, cancel := context.WithCancel(ctx)
	calls := make([]call, n)
	for i := range calls {
		calls[i].fut, calls[i].rel = calc.Sleep(sctx, func(ps rttest.Calc_sleep_Params) error {
			ps.SetMillis(time.Hour.Milliseconds())
			pc, err := ps.NewContext()
			if err != nil {
				return err
			}
			return pc.SetThread(th.AddRef())
		})
	}
	// The overflow is refused at once while the rest wait their turn.
	overloaded := 0
	for i := n - 1; i >= 0 && overloaded < n-rt.DefaultMaxInFlight; i-- {
		select {
		case <-calls[i].fut.Done():
			_, err := calls[i].fut.Struct()
			if !errors.Is(exception.FromCapnp(err, "", ""), exception.ErrOverloaded) {
				t.Fatalf("call %d finished with %v", i, err)
			}
			overloaded++
		case <-time.After(20 * time.Second):
			t.Fatalf("call %d of %d neither queued nor refused (%d refused)", i, n, overloaded)
		}
	}
	if got := rt.InFlightForTest(p.server); got != rt.DefaultMaxInFlight {
		t.Errorf("%d calls in flight, want %d", got, rt.DefaultMaxInFlight)
	}
	cancel()
	for _, c := range calls {
		c.rel()
	}
	waitFor(t, func() bool { return rt.InFlightForTest(p.server) == 0 })
}

// A peer asks for threads without end (a raw peer: makeThread calls
// finished at once, except for the first ones, whose threads it keeps):
// makeThread is refused beyond WithMaxThreads (default 256), the refusals
// leave nothing behind on the server, and the connection keeps serving.
func TestMakeThreadFlood(t *testing.T) {
	n := 100_000
	if raceEnabled {
		n = 20_000
	}
	const keep = 300 // calls left unfinished: their threads stay
	p := newRawPeer(t)
	// q0 bootstrap, q1 construct(null ThreadMap) -> our ThreadMap is the
	// result's pointer 0; q2.. makeThread on it.
	p.write(t, rawBootstrap(t, 0),
		rawCall(t, 1, 0, rttest.TestInit_TypeID, 0, capnp.ObjectSize{PointerCount: 1}, nil))
	heap0 := heapInUse()
	makeThread := func(q uint32) []byte {
		return rawCallAt(t, q, 1, []uint16{0}, mp.ThreadMap_TypeID, 0, capnp.ObjectSize{PointerCount: 1}, func(s capnp.Struct) error {
			txt, err := capnp.NewText(s.Segment(), "hostile")
			if err != nil {
				return err
			}
			return s.SetPtr(0, txt.ToPtr())
		})
	}
	for i := 0; i < n; i++ {
		q := uint32(2 + i)
		if i < keep {
			p.write(t, makeThread(q))
		} else {
			p.write(t, makeThread(q), rawFinish(t, q))
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, _ := p.returnCounts()
		if r >= n+2 {
			break
		}
		if time.Now().After(deadline) || p.server.Err() != nil {
			t.Fatalf("%d of %d calls answered", r, n+2)
		}
		time.Sleep(10 * time.Millisecond)
	}
	heap1 := heapInUse()
	returns, excs := p.returnCounts()
	granted := returns - excs - 2 // bootstrap, construct
	threads := rt.ThreadsForTest(p.server)
	open, openBytes := rt.OpenCallsForTest(p.server)
	t.Logf("%d makeThread calls: %d granted, %d refused; server threads %d, open calls %d (%d bytes); heap in use %d -> %d KiB",
		n, granted, excs, threads, open, openBytes, heap0>>10, heap1>>10)
	if granted != 256 || threads != 256 || excs != n-256 {
		t.Errorf("granted %d threads (server has %d), want 256", granted, threads)
	}
	if heap1 > heap0+16<<20 {
		t.Errorf("heap grew from %d to %d bytes", heap0, heap1)
	}
	if p.server.Err() != nil {
		t.Fatal("the server dropped the connection")
	}
}

// makePool with a huge count is refused without allocating anything.
func TestMakePoolHuge(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	tm := p.client.PeerThreadMap()
	start := rt.ThreadsForTest(p.server)
	heap0 := heapInUse()
	for _, n := range []uint32{1_000_000, math.MaxUint32, 256} {
		fut, rel := tm.MakePool(ctx, func(ps mp.ThreadMap_makePool_Params) error {
			ps.SetCount(n)
			return nil
		})
		_, err := fut.Struct()
		rel()
		if err == nil || !strings.Contains(err.Error(), "out of range (limit 256 threads)") {
			t.Fatalf("makePool(%d): %v", n, err)
		}
	}
	if got := rt.ThreadsForTest(p.server); got != start {
		t.Fatalf("server threads %d after refused pools, want %d", got, start)
	}
	if heap1 := heapInUse(); heap1 > heap0+8<<20 {
		t.Errorf("heap grew from %d to %d bytes", heap0, heap1)
	}
	if _, err := p.calc.Add(ctx, 1, 1); err != nil {
		t.Fatal(err)
	}
}

// A message over the size limit aborts the connection with a clear
// reason (Cap'n Proto cannot skip a message it will not read); nothing
// is allocated for it.
func TestMessageOverSizeLimit(t *testing.T) {
	p := newRawPeer(t, rt.WithReadLimits(1<<20, 0, 0))
	big := rawCall(t, 1, 0, rttest.Calc_TypeID, 8, capnp.ObjectSize{PointerCount: 2}, func(s capnp.Struct) error {
		d, err := capnp.NewData(s.Segment(), make([]byte, 2<<20))
		if err != nil {
			return err
		}
		return s.SetPtr(1, d.ToPtr())
	})
	// The server stops reading at the header: the rest of the write may
	// fail with a broken pipe.
	p.write(t, rawBootstrap(t, 0), big)
	if !p.waitServerDone(t, 10*time.Second) {
		t.Fatal("server kept the connection after an oversized message")
	}
	waitFor(t, func() bool { return len(p.abortReasons()) > 0 })
	if r := p.abortReasons()[0]; !strings.Contains(r, "message too large") {
		t.Fatalf("abort reason %q", r)
	}
}

// A peer that never finishes its calls cannot make the server keep them
// without end: past WithMaxOpenCalls the connection is aborted. A peer
// that finishes its calls is not affected.
func TestMaxOpenCalls(t *testing.T) {
	t.Run("unfinished", func(t *testing.T) {
		p := newRawPeer(t, rt.WithMaxOpenCalls(64, 0))
		frames := [][]byte{rawBootstrap(t, 0)}
		for q := uint32(1); q <= 100; q++ {
			// An unknown method: answered at once, never finished.
			frames = append(frames, rawCall(t, q, 0, rttest.TestInit_TypeID, 99, capnp.ObjectSize{}, nil))
		}
		p.write(t, frames...)
		if !p.waitServerDone(t, 10*time.Second) {
			n, _ := rt.OpenCallsForTest(p.server)
			t.Fatalf("server keeps %d unfinished calls", n)
		}
		waitFor(t, func() bool { return len(p.abortReasons()) > 0 })
		if r := p.abortReasons()[0]; !strings.Contains(r, "calls unfinished") {
			t.Fatalf("abort reason %q", r)
		}
	})
	t.Run("finished", func(t *testing.T) {
		p := newRawPeer(t, rt.WithMaxOpenCalls(64, 0))
		p.write(t, rawBootstrap(t, 0))
		for q := uint32(1); q <= 1000; q++ {
			p.write(t, rawCall(t, q, 0, rttest.TestInit_TypeID, 99, capnp.ObjectSize{}, nil), rawFinish(t, q))
		}
		// The server reads in order: once it answered one more call, it
		// has read every Finish before it.
		const last = 1001
		p.write(t, rawCall(t, last, 0, rttest.TestInit_TypeID, 99, capnp.ObjectSize{}, nil))
		p.waitReturns(t, last+1) // the bootstrap's and one per call
		if p.server.Err() != nil || len(p.abortReasons()) > 0 {
			t.Fatalf("server dropped a peer that finishes its calls: %v", p.abortReasons())
		}
		// Open: the bootstrap, never finished, and the last call.
		if n, _ := rt.OpenCallsForTest(p.server); n != 2 {
			t.Fatalf("%d calls open, want 2", n)
		}
	})
	t.Run("result bytes", func(t *testing.T) {
		// go-capnp clients finish each call 250 ms after its answer, so
		// concurrent 64 KiB echoes keep well over 256 KiB of results open.
		p := newPair(t, []rt.Option{rt.WithMaxOpenCalls(0, 256<<10)})
		ctx := ctxT(t)
		payload := make([]byte, 64<<10)
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 4; j++ {
					p.calc.Echo(ctx, payload)
				}
			}()
		}
		wg.Wait()
		select {
		case <-p.server.Done():
		case <-time.After(10 * time.Second):
			_, b := rt.OpenCallsForTest(p.server)
			t.Fatalf("server keeps %d bytes of unfinished results", b)
		}
	})
}

// A flood of connections to a listener with MaxConnections(n) costs only
// n connections' worth of goroutines: the rest wait in the backlog.
func TestMaxConnectionsFlood(t *testing.T) {
	const limit = 8
	srv, path := listenTest(t, rt.MaxConnections(limit))
	g0 := runtime.NumGoroutine()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 100; i++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			break // the backlog is full
		}
		conns = append(conns, c)
	}
	waitFor(t, func() bool { return srv.Conns() == limit })
	time.Sleep(100 * time.Millisecond)
	g1 := runtime.NumGoroutine()
	t.Logf("%d dialled, %d served, goroutines %d -> %d", len(conns), srv.Conns(), g0, g1)
	if srv.Conns() != limit {
		t.Fatalf("%d connections served, limit %d", srv.Conns(), limit)
	}
	if g1-g0 > limit*20 {
		t.Fatalf("goroutines grew by %d for %d served connections", g1-g0, limit)
	}
	// Served connections that close make room for waiting ones.
	for _, c := range conns[:limit] {
		c.Close()
	}
	conns = conns[limit:]
	waitFor(t, func() bool { return srv.Conns() == limit })
	ctx := ctxT(t)
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	waitFor(t, func() bool { return srv.Conns() == 0 })
	conn, calc, err := dialCalc(t, ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := calc.Add(ctx, 1, 1); err != nil {
		t.Fatal(err)
	}
}

// Two calls that name the same unresolved makeThread result as their
// thread (receiverAnswer) made go-capnp v3.1.0-alpha.2 leave a mutex
// locked, deadlocking the connection and Close for good. rt refuses the
// second reference (the connection is aborted) unless the thread has
// resolved by then; either way every call ends and Close returns.
func TestPipelinedThreadReferencedTwice(t *testing.T) {
	for i := 0; i < 20; i++ {
		func() {
			a, b := socketPair(t)
			server := rt.Serve(b, func(*rt.Conn) capnp.Client {
				return capnp.Client(rttest.TestInit_ServerToClient(&initServer{}))
			})
			ctx := ctxT(t)
			client, err := rt.Connect(ctx, a, rt.WithInitInterfaceID(testInitID))
			if err != nil {
				t.Fatal(err)
			}
			calc, err := makeCalc(ctx, client)
			if err != nil {
				t.Fatal(err)
			}
			tfut, trel := client.PeerThreadMap().MakeThread(ctx, nil)
			th := tfut.Result()
			futs := make([]rttest.Calc_add_Results_Future, 4)
			rels := make([]capnp.ReleaseFunc, len(futs))
			for j := range futs {
				futs[j], rels[j] = calc.cap().Add(ctx, func(ps rttest.Calc_add_Params) error {
					pc, err := ps.NewContext()
					if err != nil {
						return err
					}
					return pc.SetThread(th.AddRef())
				})
			}
			for j := range futs {
				select {
				case <-futs[j].Done():
				case <-time.After(10 * time.Second):
					t.Fatalf("round %d: call %d hangs", i, j)
				}
				rels[j]()
			}
			trel()
			calc.Release()
			done := make(chan struct{})
			go func() {
				client.Close()
				server.Close()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: Close hangs", i)
			}
		}()
	}
}

// A call pipelined on a field of a result that turns out null (here the
// Bool result of a running Calc.sleep) made go-capnp v3.1.0-alpha.2 call a
// nil PipelineCaller when the result arrived, crashing the process. rt
// refuses such a call up front by aborting the connection.
func TestPipelinedCallOnNullResultRefused(t *testing.T) {
	p := newRawPeer(t)
	ctxParams := func(s capnp.Struct) error {
		c, err := capnp.NewStruct(s.Segment(), capnp.ObjectSize{PointerCount: 2})
		if err != nil {
			return err
		}
		return s.SetPtr(0, c.ToPtr())
	}
	// q0 bootstrap, q1 construct, q2 makePool(2) on construct's ThreadMap.
	p.write(t, rawBootstrap(t, 0),
		rawCall(t, 1, 0, rttest.TestInit_TypeID, 0, capnp.ObjectSize{PointerCount: 1}, nil),
		rawCallAt(t, 2, 1, []uint16{0}, mp.ThreadMap_TypeID, 1, capnp.ObjectSize{DataSize: 8}, func(s capnp.Struct) error {
			s.SetUint32(0, 2)
			return nil
		}))
	waitFor(t, func() bool { r, _ := p.returnCounts(); return r >= 3 })
	// q3 makeCalc, on the pool; q4 a 500 ms sleep on the Calc; q5 a call
	// pipelined on field 0 of the sleep's result, which is null.
	p.write(t, rawCall(t, 3, 0, rttest.TestInit_TypeID, 1, capnp.ObjectSize{PointerCount: 1}, ctxParams))
	calc := p.export(t, 3)
	p.write(t,
		rawCallImport(t, 4, calc, rttest.Calc_TypeID, 4, capnp.ObjectSize{DataSize: 8, PointerCount: 1}, func(s capnp.Struct) error {
			s.SetUint64(0, 500)
			return ctxParams(s)
		}),
		rawCallAt(t, 5, 4, []uint16{0}, rttest.Calc_TypeID, 6, capnp.ObjectSize{DataSize: 8}, nil))
	if !p.waitServerDone(t, 10*time.Second) {
		t.Fatal("connection still open after a call pipelined on an unresolved result")
	}
	waitFor(t, func() bool { return len(p.abortReasons()) > 0 })
	if r := p.abortReasons()[0]; !strings.Contains(r, "pipelined") {
		t.Fatalf("abort reason %q", r)
	}
	time.Sleep(600 * time.Millisecond) // the sleep ends: nothing may crash then
}
