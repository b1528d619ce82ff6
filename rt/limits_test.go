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
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest/rttestcapnp"
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
			p.calc.Sleep(sctx, hour)
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
// each holding its message for ever. Here the peer is an rt client whose
// calls are all pinned to one Thread.
func TestCallFloodOnOneThread(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	th, err := p.client.NewThread()
	if err != nil {
		t.Fatal(err)
	}
	defer th.Release()
	if _, err := th.Name(ctx); err != nil {
		t.Fatal(err)
	}
	const n = rt.DefaultMaxInFlight + 200
	sctx, cancel := context.WithCancel(rt.WithThread(ctx, th))
	defer cancel()
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := p.calc.Sleep(sctx, hour)
			errs <- err
		}()
	}
	// The overflow is refused at once while the rest wait their turn.
	for i := 0; i < n-rt.DefaultMaxInFlight; i++ {
		if err := recv(t, errs, "refused call"); !errors.Is(err, exception.ErrOverloaded) {
			t.Fatalf("call finished with %v, want overloaded", err)
		}
	}
	waitFor(t, func() bool { return rt.InFlightForTest(p.server) == rt.DefaultMaxInFlight })
	cancel()
	for i := 0; i < rt.DefaultMaxInFlight; i++ {
		if err := recv(t, errs, "cancelled call"); !errors.Is(err, context.Canceled) {
			t.Fatalf("queued call finished with %v, want context.Canceled", err)
		}
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
		rawCall(t, 1, 0, rttestcapnp.TestInit_TypeID, 0, capnp.ObjectSize{PointerCount: 1}, nil))
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
	p.waitReturns(t, n+2)
	heap1 := heapInUse()
	returns, excs := p.returnCounts()
	granted := returns - excs - 2 // bootstrap, construct
	threads := rt.ThreadsForTest(p.server)
	open := rt.StatsForTest(p.server).Answers
	t.Logf("%d makeThread calls: %d granted, %d refused; server threads %d, open calls %d; heap in use %d -> %d KiB",
		n, granted, excs, threads, open, heap0>>10, heap1>>10)
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

// makePool with a huge count is refused without allocating anything (a
// raw peer: q0 bootstrap, q1 construct, then makePool calls on the
// ThreadMap construct returned).
func TestMakePoolHuge(t *testing.T) {
	p := newRawPeer(t)
	p.write(t, rawBootstrap(t, 0),
		rawCall(t, 1, 0, rttestcapnp.TestInit_TypeID, 0, capnp.ObjectSize{PointerCount: 1}, nil))
	p.waitReturns(t, 2)
	start := rt.ThreadsForTest(p.server)
	heap0 := heapInUse()
	for i, n := range []uint32{1_000_000, math.MaxUint32, 257} {
		q := uint32(2 + i)
		p.write(t, rawCallAt(t, q, 1, []uint16{0}, mp.ThreadMap_TypeID, 1, capnp.ObjectSize{DataSize: 8}, func(s capnp.Struct) error {
			s.SetUint32(0, n)
			return nil
		}))
		if r := p.exception(t, q); !strings.Contains(r, "out of range (limit 256 threads)") {
			t.Fatalf("makePool(%d): %q", n, r)
		}
	}
	if got := rt.ThreadsForTest(p.server); got != start {
		t.Fatalf("server threads %d after refused pools, want %d", got, start)
	}
	if heap1 := heapInUse(); heap1 > heap0+8<<20 {
		t.Errorf("heap grew from %d to %d bytes", heap0, heap1)
	}
	// A pool within the limit is made.
	p.write(t, rawCallAt(t, 5, 1, []uint16{0}, mp.ThreadMap_TypeID, 1, capnp.ObjectSize{DataSize: 8}, func(s capnp.Struct) error {
		s.SetUint32(0, 2)
		return nil
	}))
	if r := p.exception(t, 5); r != "" {
		t.Fatalf("makePool(2): %q", r)
	}
	if got := rt.ThreadsForTest(p.server); got != start+2 {
		t.Fatalf("server threads %d after makePool(2), want %d", got, start+2)
	}
}

// A message over the size limit aborts the connection with a clear
// reason (Cap'n Proto cannot skip a message it will not read); nothing
// is allocated for it.
func TestMessageOverSizeLimit(t *testing.T) {
	p := newRawPeer(t, rt.WithReadLimits(1<<20, 0, 0))
	big := rawCall(t, 1, 0, rttestcapnp.Calc_TypeID, 8, capnp.ObjectSize{PointerCount: 2}, func(s capnp.Struct) error {
		d, err := capnp.NewData(s.Segment(), make([]byte, 2<<20))
		if err != nil {
			return err
		}
		return s.SetPtr(1, d.ToPtr())
	})
	// The server stops reading at the header: the rest of the write may
	// fail with a broken pipe.
	p.write(t, rawBootstrap(t, 0), big)
	if !p.waitServerDone(t, hangGuard) {
		t.Fatal("server kept the connection after an oversized message")
	}
	waitFor(t, func() bool { return len(p.abortReasons()) > 0 })
	if r := p.abortReasons()[0]; !strings.Contains(r, "frame larger than 1048576 bytes") {
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
			frames = append(frames, rawCall(t, q, 0, rttestcapnp.TestInit_TypeID, 99, capnp.ObjectSize{}, nil))
		}
		p.write(t, frames...)
		if !p.waitServerDone(t, hangGuard) {
			t.Fatalf("server keeps %d unfinished calls", rt.StatsForTest(p.server).Answers)
		}
		waitFor(t, func() bool { return len(p.abortReasons()) > 0 })
		if r := p.abortReasons()[0]; !strings.Contains(r, "the peer keeps more than 64 calls open") {
			t.Fatalf("abort reason %q", r)
		}
	})
	t.Run("finished", func(t *testing.T) {
		p := newRawPeer(t, rt.WithMaxOpenCalls(64, 0))
		p.write(t, rawBootstrap(t, 0))
		for q := uint32(1); q <= 1000; q++ {
			p.write(t, rawCall(t, q, 0, rttestcapnp.TestInit_TypeID, 99, capnp.ObjectSize{}, nil), rawFinish(t, q))
		}
		// The server reads in order: once it answered one more call, it
		// has read every Finish before it.
		const last = 1001
		p.write(t, rawCall(t, last, 0, rttestcapnp.TestInit_TypeID, 99, capnp.ObjectSize{}, nil))
		p.waitReturns(t, last+1) // the bootstrap's and one per call
		if p.server.Err() != nil || len(p.abortReasons()) > 0 {
			t.Fatalf("server dropped a peer that finishes its calls: %v", p.abortReasons())
		}
		// Open: the bootstrap, never finished, and the last call.
		if n := rt.StatsForTest(p.server).Answers; n != 2 {
			t.Fatalf("%d calls open, want 2", n)
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

// Calls that name the same unreturned makeThread answer as their thread
// (receiverAnswer), sent together with it, one of them also targeting an
// unreturned answer, made go-capnp v3.1.0-alpha.2 leave a mutex locked,
// deadlocking the connection and Close for good (the old rt refused the
// second reference). The engine holds such calls on a promise of the
// answer: all are served, on that thread.
func TestPipelinedThreadReferencedTwice(t *testing.T) {
	for i := 0; i < 5; i++ {
		p := newRawPeer(t)
		// q0 bootstrap, q1 construct, q2 makeThread on q1's ThreadMap, q3
		// makeCalc on q2's thread, q4..q7 add on q3's Calc on q2's thread.
		frames := [][]byte{rawBootstrap(t, 0),
			rawCall(t, 1, 0, rttestcapnp.TestInit_TypeID, 0, capnp.ObjectSize{PointerCount: 1}, nil),
			rawCallAt(t, 2, 1, []uint16{0}, mp.ThreadMap_TypeID, 0, capnp.ObjectSize{PointerCount: 1}, nil),
			rawContextCall(t, 3, promised(0, nil), rttestcapnp.TestInit_TypeID, 1, capnp.ObjectSize{PointerCount: 1}, 2, nil)}
		for q := uint32(4); q < 8; q++ {
			frames = append(frames, rawContextCall(t, q, promised(3, []uint16{0}), rttestcapnp.Calc_TypeID, 1,
				capnp.ObjectSize{DataSize: 16, PointerCount: 1}, 2, func(s capnp.Struct) error {
					s.SetUint64(0, uint64(q))
					return nil
				}))
		}
		p.write(t, frames...)
		for q := uint32(3); q < 8; q++ {
			if r := p.exception(t, q); r != "" {
				t.Fatalf("round %d: call %d failed: %q", i, q, r)
			}
		}
		done := make(chan struct{})
		go func() {
			p.nc.Close()
			p.server.Close()
			close(done)
		}()
		recv(t, done, "Close")
	}
}

// A call pipelined on a field of a result that turns out null (here the
// Bool result of a Calc.sleep) made go-capnp v3.1.0-alpha.2 call a nil
// PipelineCaller when the result arrived, crashing the process; the old rt
// aborted the connection up front. The engine holds the call until the
// result arrives, then fails it; the connection goes on.
func TestPipelinedCallOnNullResult(t *testing.T) {
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
		rawCall(t, 1, 0, rttestcapnp.TestInit_TypeID, 0, capnp.ObjectSize{PointerCount: 1}, nil),
		rawCallAt(t, 2, 1, []uint16{0}, mp.ThreadMap_TypeID, 1, capnp.ObjectSize{DataSize: 8}, func(s capnp.Struct) error {
			s.SetUint32(0, 2)
			return nil
		}))
	p.waitReturns(t, 3)
	// q3 makeCalc, on the pool; q4 a sleep on the Calc; q5 a call
	// pipelined on field 0 of the sleep's result, which is null.
	p.write(t, rawCall(t, 3, 0, rttestcapnp.TestInit_TypeID, 1, capnp.ObjectSize{PointerCount: 1}, ctxParams))
	calc := p.export(t, 3)
	p.write(t,
		rawCallImport(t, 4, calc, rttestcapnp.Calc_TypeID, 4, capnp.ObjectSize{DataSize: 8, PointerCount: 1}, func(s capnp.Struct) error {
			s.SetUint64(0, 50)
			return ctxParams(s)
		}),
		rawCallAt(t, 5, 4, []uint16{0}, rttestcapnp.Calc_TypeID, 6, capnp.ObjectSize{DataSize: 8}, nil))
	if r := p.exception(t, 4); r != "" {
		t.Fatalf("sleep: %q", r)
	}
	if r := p.exception(t, 5); !strings.Contains(r, "null") {
		t.Fatalf("call pipelined on a null result: %q", r)
	}
	// The connection serves on.
	p.write(t, rawCallImport(t, 6, calc, rttestcapnp.Calc_TypeID, 6, capnp.ObjectSize{DataSize: 8}, nil))
	if r := p.exception(t, 6); r != "" || p.server.Err() != nil {
		t.Fatalf("ping after the refused call: %q, %v", r, p.server.Err())
	}
}
