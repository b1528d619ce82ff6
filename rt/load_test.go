package rt_test

// Load and leaks: one server holding 1,000 client connections that all
// call at once, and thousands of connect/call/disconnect cycles that must
// leave no goroutine and no file descriptor behind. On a loaded machine
// these take longer, never fail: each connection and each call has a
// deadline of its own (loadWait, which only catches hangs), and waits
// for the server to catch up fail only when it stops making progress.

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// raiseFDLimit lifts RLIMIT_NOFILE to its hard limit (both ends of every
// connection live in this process).
func raiseFDLimit(t *testing.T, need uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur < rl.Max {
		old := rl
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
			t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
		}
	}
	if rl.Cur < need {
		t.Skipf("RLIMIT_NOFILE is %d, need %d", rl.Cur, need)
	}
}

// loadWait bounds one connection, one call or one wait without progress.
const loadWait = 2 * time.Minute

// stepCtx is a context for one connection or call.
func stepCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), loadWait)
}

// waitProgress waits until done(). It fails only when progress, the
// number of what (such as open connections), stays unchanged for
// loadWait before done.
func waitProgress(t *testing.T, what string, progress func() int, done func() bool) {
	t.Helper()
	last, since := progress(), time.Now()
	for !done() {
		time.Sleep(10 * time.Millisecond)
		if v := progress(); v != last {
			last, since = v, time.Now()
		} else if time.Since(since) > loadWait {
			t.Fatalf("%s: stuck at %d for %v", what, last, loadWait)
		}
	}
}

// waitCount waits until count() is want, as long as it keeps changing.
func waitCount(t *testing.T, what string, count func() int, want int) {
	t.Helper()
	waitProgress(t, what, count, func() bool { return count() == want })
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// One server holds 1,000 connections at once, every one of them making
// calls concurrently; all answers are right and every connection closes.
func TestThousandConnections(t *testing.T) {
	const n = 1000
	raiseFDLimit(t, 2*n+256)
	srv, path := listenTest(t)
	fd0, g0 := openFDs(t), runtime.NumGoroutine()
	start := time.Now()

	conns := make([]*rt.Conn, n)
	calcs := make([]*rttest.CalcClient, n)
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		fail atomic.Value
	)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				ctx, cancel := stepCtx()
				conn, calc, err := dialCalc(t, ctx, path)
				cancel()
				if err != nil {
					fail.Store(fmt.Errorf("connection %d: %w", i, err))
					return
				}
				conns[i], calcs[i] = conn, calc
			}
		}()
	}
	wg.Wait()
	defer func() {
		for i := range conns {
			if conns[i] != nil {
				calcs[i].Release()
				conns[i].Close()
			}
		}
	}()
	if err, _ := fail.Load().(error); err != nil {
		t.Fatal(err)
	}
	waitCount(t, "server connections", srv.Conns, n)
	connected := time.Since(start)
	fd1, g1 := openFDs(t), runtime.NumGoroutine()

	// Every connection calls at once: a round of 5 calls each, two of
	// them concurrent on the same connection.
	const calls = 5
	var bad atomic.Int64
	start = time.Now()
	for i := range calcs {
		for k := 0; k < 2; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < calls; j++ {
					a := int64(i*10 + j)
					ctx, cancel := stepCtx()
					r, err := calcs[i].Add(ctx, a, int64(k))
					cancel()
					if err != nil || r != a+int64(k) {
						if bad.Add(1) == 1 {
							t.Errorf("connection %d: Add = %d, %v", i, r, err)
						}
					}
				}
			}()
		}
	}
	wg.Wait()
	called := time.Since(start)
	if bad.Load() > 0 {
		t.Fatalf("%d calls failed", bad.Load())
	}
	if got := srv.Conns(); got != n {
		t.Fatalf("server has %d connections after the calls, want %d", got, n)
	}
	t.Logf("%d connections up in %v (fds %d -> %d, goroutines %d -> %d); %d calls in %v",
		n, connected, fd0, fd1, g0, g1, n*2*calls, called)

	for i := range conns {
		calcs[i].Release()
		conns[i].Close()
		conns[i] = nil
	}
	waitCount(t, "server connections", srv.Conns, 0)
}

// Thousands of connect/call/disconnect cycles leave no goroutine and no
// file descriptor behind (10,000; 2,000 under the race detector). Each
// cycle has a deadline of its own; the test as a whole has none.
func TestConnectCycleLeaks(t *testing.T) {
	cycles := 10_000
	if raceEnabled {
		cycles = 2_000
	}
	srv, path := listenTest(t)
	// Warm up once so that lazily started process-wide goroutines (none
	// are expected) would be in the baseline.
	ctx, cancel := stepCtx()
	if conn, calc, err := dialCalc(t, ctx, path); err != nil {
		t.Fatal(err)
	} else {
		calc.Add(ctx, 1, 1)
		calc.Release()
		conn.Close()
	}
	cancel()
	waitCount(t, "server connections", srv.Conns, 0)
	baseline := goleak.IgnoreCurrent()
	fd0, g0 := openFDs(t), runtime.NumGoroutine()

	start := time.Now()
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		bad  atomic.Int64
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for int(next.Add(1)) <= cycles {
				ctx, cancel := stepCtx()
				conn, calc, err := dialCalc(t, ctx, path)
				if err != nil {
					cancel()
					if bad.Add(1) == 1 {
						t.Error(err)
					}
					continue
				}
				if r, err := calc.Add(ctx, 2, 3); err != nil || r != 5 {
					if bad.Add(1) == 1 {
						t.Errorf("Add = %d, %v", r, err)
					}
				}
				cancel()
				calc.Release()
				conn.Close()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if bad.Load() > 0 {
		t.Fatalf("%d cycles failed", bad.Load())
	}
	waitCount(t, "server connections", srv.Conns, 0)
	// Goroutines and descriptors of closed connections go away in the
	// background: wait while their number still falls, then check.
	waitProgress(t, "goroutines", runtime.NumGoroutine, func() bool { return goleak.Find(baseline) == nil })
	goleak.VerifyNone(t, baseline)
	waitCount(t, "open file descriptors", func() int { return openFDs(t) }, fd0)
	t.Logf("%d cycles in %v; goroutines %d -> %d, fds %d -> %d", cycles, elapsed, g0, runtime.NumGoroutine(), fd0, openFDs(t))
}

// Calls on fresh threads (their first call carries the still unresolved
// makeThread answer as context.thread) are never refused as "invalid
// thread handle": the server resolves the promise before it looks the
// thread up, however the resolution races with the lookup.
func TestFreshThreadsUnderConcurrency(t *testing.T) {
	rounds := 60
	if raceEnabled {
		rounds = 30
	}
	for r := 0; r < rounds; r++ {
		p := newPair(t, nil)
		ctx, cancel := stepCtx()
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Concurrent calls each take a new lease: a new thread.
				if _, err := p.calc.Sleep(ctx, 1); err != nil {
					t.Errorf("round %d: %v", r, err)
				}
			}()
		}
		wg.Wait()
		cancel()
		if t.Failed() {
			return
		}
	}
}
