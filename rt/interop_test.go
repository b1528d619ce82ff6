package rt_test

// Interop with a C++ peer (internal/testing/cpppeer/peer.c++, built by the
// module's internal/testing/cpppeer package): plain Cap'n Proto C++ (libcapnp-dev,
// no libmultiprocess) that follows libmultiprocess's conventions, in the
// server role (Go client) and in the client role (Go server), plus a
// C++↔C++ reference run. The peer is built at most once per process and
// cached across runs; it needs capnp, g++, pkg-config and libcapnp-dev,
// and the tests fail (not skip) without them. The build comes before any
// deadline starts, and the deadlines (interopWait) only catch hangs: a
// loaded machine makes these tests slower, never makes them fail.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/cpppeer"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// ---- building the peer ----

// cppPeer returns the path of the built C++ peer (internal/testing/cpppeer builds
// it once and caches it across runs).
func cppPeer(t testing.TB) string {
	t.Helper()
	bin, err := cpppeer.Build()
	if err != nil {
		t.Fatalf("building the C++ interop peer (needs capnp, g++, pkg-config, libcapnp-dev): %v", err)
	}
	return bin
}

// ---- running it ----

// interopWait bounds every wait on the C++ peer or on a call to it. It
// only has to catch a hang, so it is far longer than any call takes on a
// loaded machine; it never includes building the peer.
const interopWait = 2 * time.Minute

// interopCtx is a context for calls in t, ending after interopWait.
func interopCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), interopWait)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer collects a child's output; it is read while the child runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type cppProc struct {
	cmd    *exec.Cmd
	out    syncBuffer
	done   chan struct{}
	err    error // Wait's result, once done is closed
	killed bool
}

func (p *cppProc) wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("C++ peer still running after %v", d)
	}
}

func (p *cppProc) kill() {
	p.killed = true
	p.cmd.Process.Kill()
}

// unixPair is a connected AF_UNIX stream socketpair as two files.
func unixPair(t testing.TB) (*os.File, *os.File) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "ipc-a"), os.NewFile(uintptr(fds[1]), "ipc-b")
}

// startCppPeer runs the peer with args, giving it f as fd 3 ("3" is
// appended to args after the mode). f is closed in this process. At the end
// of the test the peer must have exited 0 (unless killed) within
// interopWait.
func startCppPeer(t testing.TB, f *os.File, mode string, args ...string) *cppProc {
	t.Helper()
	bin := cppPeer(t)
	p := &cppProc{done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{mode, "3"}, args...)...)
	p.cmd.ExtraFiles = []*os.File{f}
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	err := p.cmd.Start()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.wait(interopWait); err != nil && !p.killed {
			p.kill()
			<-p.done
			t.Errorf("C++ peer %s: %v\n%s", mode, err, p.out.String())
		}
	})
	return p
}

// connFile turns our end of the socketpair into a net.Conn.
func connFile(t testing.TB, f *os.File) net.Conn {
	t.Helper()
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// cppServer spawns `peer serve` and connects a Go client to it.
func cppServer(t testing.TB, opts ...rt.Option) (*rt.Conn, *rttest.CalcClient, *cppProc) {
	t.Helper()
	ours, theirs := unixPair(t)
	proc := startCppPeer(t, theirs, "serve")
	ctx, cancel := context.WithTimeout(context.Background(), interopWait)
	defer cancel()
	conn, err := rt.Connect(ctx, connFile(t, ours), append([]rt.Option{rt.WithInitInterfaceID(testInitID)}, opts...)...)
	if err != nil {
		t.Fatalf("connect to C++ peer: %v\n%s", err, proc.out.String())
	}
	calc, err := makeCalc(ctx, conn)
	if err != nil {
		conn.Close()
		t.Fatalf("makeCalc on C++ peer: %v\n%s", err, proc.out.String())
	}
	t.Cleanup(func() {
		calc.Release()
		conn.Close()
	})
	return conn, calc, proc
}

// goServer serves TestInit with the Go initServer on one end of a
// socketpair and returns the other end for a C++ client.
func goServer(t testing.TB) (*rt.Conn, *os.File) {
	t.Helper()
	ours, theirs := unixPair(t)
	conn := rt.Serve(connFile(t, ours), newInit(nil, nil).bootstrap(), rt.WithInitInterfaceID(testInitID))
	t.Cleanup(func() { conn.Close() })
	return conn, theirs
}

// runCppClient runs `peer client <scenario>` against a Go server and
// returns its output once it exited 0.
func runCppClient(t testing.TB, args ...string) string {
	t.Helper()
	conn, theirs := goServer(t)
	proc := startCppPeer(t, theirs, "client", args...)
	if err := proc.wait(interopWait); err != nil {
		t.Fatalf("C++ client %v: %v\n%s", args, err, proc.out.String())
	}
	// The Go side sees the connection end.
	select {
	case <-conn.Done():
	case <-time.After(interopWait):
		t.Errorf("Go server connection still open after the C++ client exited")
	}
	return proc.out.String()
}

// ---- Go client, C++ server ----

func TestInteropGoClientCppServer(t *testing.T) {
	conn, calc, proc := cppServer(t) // builds the peer before the deadline starts
	ctx := interopCtx(t)

	t.Run("basic", func(t *testing.T) {
		r, err := calc.Add(ctx, 2, 40)
		if err != nil || r != 42 {
			t.Fatalf("Add = %d, %v", r, err)
		}
		name, err := calc.ThreadName(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "cpppeer-") || !strings.Contains(name, "(from go-") {
			t.Errorf("thread name %q", name)
		}
		x, err := calc.Ping(ctx, 7)
		if err != nil || x != 7 {
			t.Fatalf("Ping = %d, %v", x, err)
		}
		err = calc.Raise(ctx, "thrown text")
		var e *exception.Error
		if !errors.As(err, &e) || e.Description != "thrown text" || !e.Remote || !errors.Is(err, exception.ErrFailed) {
			t.Fatalf("Raise: %#v", err)
		}
		data := bytes.Repeat([]byte("0123456789"), 10000)
		got, err := calc.Echo(ctx, data)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Echo: %d bytes, %v", len(got), err)
		}
	})

	t.Run("pinned", func(t *testing.T) {
		th, err := conn.NewThread()
		if err != nil {
			t.Fatal(err)
		}
		defer th.Release()
		pctx := rt.WithThread(ctx, th)
		n1, err := calc.ThreadName(pctx)
		if err != nil {
			t.Fatal(err)
		}
		n2, err := th.Name(ctx)
		if err != nil || n1 != n2 {
			t.Fatalf("Thread.getName = %q, %v; call ran on %q", n2, err, n1)
		}
	})

	t.Run("errors", func(t *testing.T) {
		cases := []struct {
			kind int32
			is   error
			desc string
		}{
			{0, exception.ErrFailed, "std::exception: boom"}, // std::runtime_error
			{1, exception.ErrFailed, "boom"},                 // kj FAILED
			{2, exception.ErrOverloaded, "boom"},
			{3, exception.ErrUnimplemented, "boom"},
			{4, exception.ErrDisconnected, "boom"},
		}
		for _, c := range cases {
			err := calc.Fail(ctx, c.kind, "boom")
			if !errors.Is(err, c.is) {
				t.Errorf("kind %d: %v is not %v", c.kind, err, c.is)
			}
			var e *exception.Error
			if !errors.As(err, &e) || e.Description != c.desc || e.What() != "boom" {
				t.Errorf("kind %d: error %#v", c.kind, err)
				continue
			}
			if e.Interface != "Calc" || e.Method != "fail" {
				t.Errorf("kind %d: error names %s.%s", c.kind, e.Interface, e.Method)
			}
			t.Logf("kind %d: %v", c.kind, err)
		}
		if r, err := calc.Add(ctx, 1, 1); err != nil || r != 2 {
			t.Fatalf("after errors: %d, %v", r, err)
		}
	})

	t.Run("threadChecks", func(t *testing.T) {
		_, err := addWithThread(ctx, calc, nil, 1, 2)
		if err == nil || !strings.Contains(err.Error(), "std::exception: no thread specified and no pool configured") {
			t.Errorf("null thread: %v", err)
		}
		own := rttest.CallbackServer(&callbackImpl{})
		defer own.Release()
		_, err = addWithThread(ctx, calc, own, 1, 2)
		if err == nil || !strings.Contains(err.Error(), "std::exception: invalid thread handle") {
			t.Errorf("foreign thread: %v", err)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		// Calls from two goroutines use two C++ threads and overlap: a
		// call made while an hour-long sleep holds one thread is answered
		// on another. The sleep is on the wire before the second call is
		// sent, so the peer sees it first (calls on one capability arrive
		// in order). The warm-up call leaves a thread whose makeThread has
		// been answered, which the sleep then takes: the peer starts it
		// without waiting for a thread to resolve.
		if _, err := calc.Add(ctx, 0, 0); err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		sleeping, slept := sendSleep(sctx, conn, calc, hour)
		<-sleeping
		if r, err := calc.Add(ctx, 20, 22); err != nil || r != 42 {
			t.Fatalf("Add while another thread sleeps: %d, %v", r, err)
		}
		select {
		case err := <-slept:
			t.Fatalf("the hour-long sleep returned: %v", err)
		default:
		}
		cancel()
		if err := <-slept; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled sleep: %v", err)
		}
		// The peer's thread still sleeps (the C++ server does not cancel
		// it): the client must not give that thread to the next call.
		if r, err := calc.Add(ctx, 1, 2); err != nil || r != 3 {
			t.Fatalf("Add after an abandoned call: %d, %v", r, err)
		}
	})

	t.Run("callback", func(t *testing.T) {
		// Go→C++→Go: the C++ server calls the Go callback on the Go
		// client's callbackThread.
		r, err := calc.CallBack(ctx, &callbackImpl{}, 5)
		if err != nil || r != 6 {
			t.Fatalf("CallBack = %d, %v", r, err)
		}
		// Nested Go→C++→Go→C++…: each Go callback calls the C++ server
		// again, on the C++ worker that called it.
		cb := &callbackImpl{calc: calc}
		self := rttest.NewCallbackClient(rttest.CallbackServer(cb))
		defer self.Release()
		cb.self = self
		r, err = calc.CallBack(ctx, self, 4)
		if err != nil {
			t.Fatal(err)
		}
		// Every C++ level adds one; the innermost callback returns 0.
		if r != 5 {
			t.Fatalf("nested result %d, want 5", r)
		}
	})

	t.Run("destroy", func(t *testing.T) {
		c2, err := makeCalc(ctx, conn)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Release()
		if _, err := c2.Add(ctx, 1, 2); err != nil {
			t.Fatal(err)
		}
		if err := c2.Destroy(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c2.Add(ctx, 1, 2); !errors.Is(err, exception.ErrDestroyed) {
			t.Fatalf("call after destroy: %v", err)
		}
		// The connection and the other Calc are unaffected.
		if r, err := calc.Add(ctx, 3, 4); err != nil || r != 7 {
			t.Fatalf("Add after destroy of another Calc: %d, %v", r, err)
		}
	})

	t.Run("pool", func(t *testing.T) {
		_, pc, _ := cppServer(t, rt.WithServerPool(2))
		name, err := pc.ThreadName(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(name, "(from pool/") {
			t.Fatalf("call ran on %q, want a pool thread", name)
		}
		if r, err := pc.Add(ctx, 5, 6); err != nil || r != 11 {
			t.Fatalf("Add on pool: %d, %v", r, err)
		}
	})

	t.Run("kill", func(t *testing.T) {
		// A call pending on the peer fails with Disconnected once the
		// peer dies: the hour-long sleep cannot have ended, and ctx
		// (interopWait) has not.
		sleeping, slept := sendSleep(ctx, conn, calc, hour)
		<-sleeping
		proc.kill()
		if err := <-slept; !errors.Is(err, exception.ErrDisconnected) {
			t.Fatalf("pending call after SIGKILL: %v", err)
		}
		if _, err := calc.Add(ctx, 1, 1); !errors.Is(err, exception.ErrDisconnected) {
			t.Fatalf("call after the peer died: %v", err)
		}
		select {
		case <-conn.Done():
		case <-time.After(interopWait):
			t.Fatal("connection not done after the peer died")
		}
	})
}

// sendSleep calls Calc.sleep(millis) on a thread of calc's lease pool
// from a goroutine of its own. sent is closed once the call is on its way
// (conn has one more question: any call made on calc from then on reaches
// the peer after it); done receives the call's error.
func sendSleep(ctx context.Context, conn *rt.Conn, calc *rttest.CalcClient, millis int64) (sent <-chan struct{}, done <-chan error) {
	sentc, donec := make(chan struct{}), make(chan error, 1)
	before := rt.StatsForTest(conn).Questions
	go func() {
		_, err := calc.Sleep(ctx, millis)
		donec <- err
	}()
	go func() {
		defer close(sentc)
		for rt.StatsForTest(conn).Questions == before {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return sentc, donec
}

// ---- C++ client, Go server ----

func TestInteropCppClientGoServer(t *testing.T) {
	for _, sc := range [][]string{{"basic"}, {"errors"}, {"callback", "3"}, {"threads"}, {"pipeline"}} {
		t.Run(sc[0], func(t *testing.T) {
			t.Parallel()
			out := runCppClient(t, sc...)
			if !strings.Contains(out, "OK "+sc[0]+"\n") {
				t.Fatalf("C++ client %v did not finish:\n%s", sc, out)
			}
			t.Logf("C++ client %v:\n%s", sc, out)
		})
	}
}

// ---- C++ client, C++ server (reference) ----

func TestInteropCppCpp(t *testing.T) {
	a, b := unixPair(t)
	srv := startCppPeer(t, a, "serve")
	cli := startCppPeer(t, b, "client", "basic")
	if err := cli.wait(interopWait); err != nil {
		t.Fatalf("C++ client: %v\n%s", err, cli.out.String())
	}
	if err := srv.wait(interopWait); err != nil {
		t.Fatalf("C++ server after the client left: %v\n%s", err, srv.out.String())
	}
	if out := cli.out.String(); !strings.Contains(out, "OK basic\n") {
		t.Fatalf("C++ client:\n%s", out)
	}
}

// ---- round-trip measurements ----

// benchResult is the RESULT line of the C++ bench client, or the same
// figures measured in Go.
type benchResult struct {
	P50us, P99us, CPUusPerCall float64
	N                          int
}

func (r benchResult) String() string {
	return fmt.Sprintf("p50=%.1fµs p99=%.1fµs cpu=%.1fµs/call (n=%d)", r.P50us, r.P99us, r.CPUusPerCall, r.N)
}

func parseBenchResult(out string) (benchResult, error) {
	var r benchResult
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "RESULT ")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return r, fmt.Errorf("RESULT field %q: %v", f, err)
			}
			switch k {
			case "p50_us":
				r.P50us = x
			case "p99_us":
				r.P99us = x
			case "cpu_us_per_call":
				r.CPUusPerCall = x
			case "n":
				r.N = int(x)
			}
		}
		return r, nil
	}
	return r, fmt.Errorf("no RESULT line in:\n%s", out)
}

// cppBenchAgainstGo runs the C++ bench client (n sequential Calc.add
// calls) against a Go server and returns its RESULT line. CPU time is the
// C++ client's.
func cppBenchAgainstGo(t testing.TB, n int) benchResult {
	t.Helper()
	out := runCppClient(t, "bench", strconv.Itoa(n))
	r, err := parseBenchResult(out)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// cppBenchAgainstCpp is the C++↔C++ reference for cppBenchAgainstGo.
func cppBenchAgainstCpp(t testing.TB, n int) benchResult {
	t.Helper()
	a, b := unixPair(t)
	startCppPeer(t, a, "bench-server")
	cli := startCppPeer(t, b, "bench-client", strconv.Itoa(n))
	if err := cli.wait(interopWait); err != nil {
		t.Fatalf("C++ bench client: %v\n%s", err, cli.out.String())
	}
	r, err := parseBenchResult(cli.out.String())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// goBenchAgainstCpp times n sequential Calc.add calls from the Go client
// to the C++ server. CPU time is this process's (Go client).
func goBenchAgainstCpp(t testing.TB, n int) benchResult {
	t.Helper()
	ctx := context.Background()
	_, calc, _ := cppServer(t)
	for i := 0; i < min(n/10+1, 200); i++ {
		if _, err := calc.Add(ctx, int64(i), 1); err != nil {
			t.Fatal(err)
		}
	}
	lat := make([]time.Duration, n)
	cpu0 := cpuTime()
	for i := range lat {
		t0 := time.Now()
		if r, err := calc.Add(ctx, int64(i), 1); err != nil || r != int64(i)+1 {
			t.Fatalf("Add: %d, %v", r, err)
		}
		lat[i] = time.Since(t0)
	}
	cpu := cpuTime() - cpu0
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Nanoseconds()) / 1e3
	}
	return benchResult{P50us: pct(0.5), P99us: pct(0.99), CPUusPerCall: float64(cpu.Nanoseconds()) / 1e3 / float64(n), N: n}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestInteropRoundTrips checks the measurement helpers and logs one small
// run of each pair: sequential Calc.add round trips. The figures mean
// little under -race; for real ones run without it and with more calls:
//
//	BITCOIN_IPC_INTEROP_N=5000 go test -run InteropRoundTrips -v ./rt/
func TestInteropRoundTrips(t *testing.T) {
	n := 300
	if v, err := strconv.Atoi(os.Getenv("BITCOIN_IPC_INTEROP_N")); err == nil && v > 0 {
		n = v
	}
	t.Logf("Go  → C++: %v", goBenchAgainstCpp(t, n))
	t.Logf("C++ → Go : %v", cppBenchAgainstGo(t, n))
	t.Logf("C++ → C++: %v", cppBenchAgainstCpp(t, n))
}

func BenchmarkInteropGoClientCppServer(b *testing.B) {
	ctx := context.Background()
	_, calc, _ := cppServer(b)
	if _, err := calc.Add(ctx, 1, 1); err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := calc.Add(ctx, int64(i), 1); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
}
