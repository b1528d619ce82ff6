package rt_test

// Load and leaks: one server holding 1,000 client connections that all
// call at once, and thousands of connect/call/disconnect cycles that must
// leave no goroutine and no file descriptor behind.

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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fd0, g0 := openFDs(t), runtime.NumGoroutine()
	start := time.Now()

	conns := make([]*rt.Conn, n)
	calcs := make([]*calcClient, n)
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
				conn, calc, err := dialCalc(t, ctx, path)
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
	waitFor(t, func() bool { return srv.Conns() == n })
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
					if r, err := calcs[i].Add(ctx, a, int64(k)); err != nil || r != a+int64(k) {
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
	waitFor(t, func() bool { return srv.Conns() == 0 })
}

// Thousands of connect/call/disconnect cycles leave no goroutine and no
// file descriptor behind (10,000; 2,000 under the race detector).
func TestConnectCycleLeaks(t *testing.T) {
	cycles := 10_000
	if raceEnabled {
		cycles = 2_000
	}
	srv, path := listenTest(t)
	ctx := ctxT(t)
	// Warm up once so that lazily started process-wide goroutines (none
	// are expected) would be in the baseline.
	if conn, calc, err := dialCalc(t, ctx, path); err != nil {
		t.Fatal(err)
	} else {
		calc.Add(ctx, 1, 1)
		calc.Release()
		conn.Close()
	}
	waitFor(t, func() bool { return srv.Conns() == 0 })
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
				conn, calc, err := dialCalc(t, ctx, path)
				if err != nil {
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
	waitFor(t, func() bool { return srv.Conns() == 0 })
	goleak.VerifyNone(t, baseline)
	var fd1 int
	deadline := time.Now().Add(10 * time.Second)
	for fd1 = openFDs(t); fd1 != fd0 && time.Now().Before(deadline); fd1 = openFDs(t) {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d cycles in %v; goroutines %d -> %d, fds %d -> %d", cycles, elapsed, g0, runtime.NumGoroutine(), fd0, fd1)
	if fd1 != fd0 {
		t.Fatalf("%d file descriptors leaked", fd1-fd0)
	}
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
		ctx := ctxT(t)
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Concurrent calls each take a new lease: a new thread.
				if _, err := p.calc.Sleep(ctx, time.Millisecond); err != nil {
					t.Errorf("round %d: %v", r, err)
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
	}
}
