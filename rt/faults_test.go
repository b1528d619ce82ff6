package rt_test

// Fault tests: a peer process killed mid-call on either side, half-closed
// sockets, long waits cancelled or cut by a disconnect, panicking
// handlers, and peers that stop reading. The test binary re-executes
// itself as the peer process (TestMain, envFaultChild).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// envFaultChild selects the peer role when the test binary runs as a
// child: "serve" (serve TestInit on fd 3) or "client" (call into the
// parent over fd 3). The child reports progress as lines on stdout.
const envFaultChild = "RT_FAULT_CHILD"

// TestMain runs the child roles, and otherwise the tests, checking that
// they leave no goroutine behind: readers, executors and forwarded calls
// all end with their connections.
func TestMain(m *testing.M) {
	if role := os.Getenv(envFaultChild); role != "" {
		os.Exit(runFaultChild(role))
	}
	goleak.VerifyTestMain(m)
}

// ---- the child process ----

func runFaultChild(role string) int {
	f := os.NewFile(3, "ipc")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	var mu sync.Mutex
	say := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Println(s)
	}
	switch role {
	case roleBenchServe, roleBenchServeV32:
		return runBenchServe(nc, role)
	case "serve":
		init := newInit(nil, &hooks{onSleep: func(context.Context) { say("sleep") }})
		conn := rt.Serve(nc, init.bootstrap(), rt.WithInitInterfaceID(testInitID))
		say("ready")
		<-conn.Done()
		return 0
	case "client":
		ctx := context.Background()
		conn, err := rt.Connect(ctx, nc, rt.WithInitInterfaceID(testInitID))
		if err != nil {
			fmt.Fprintln(os.Stderr, "child connect:", err)
			return 3
		}
		calc, err := makeCalc(ctx, conn)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child makeCalc:", err)
			return 4
		}
		cb := newBlockingCallback()
		for i := 0; i < 3; i++ {
			go calc.Sleep(ctx, hour)
		}
		go calc.CallBack(ctx, cb, 0)
		<-cb.entered
		say("callback")
		<-conn.Done()
		return 0
	}
	return 1
}

type child struct {
	cmd   *exec.Cmd
	lines chan string
}

// startChild runs the test binary as a peer in role, connected to the
// returned socket.
func startChild(t *testing.T, role string) (*child, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "parent"), os.NewFile(uintptr(fds[1]), "child")
	nc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envFaultChild+"="+role)
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	c := &child{cmd: cmd, lines: make(chan string, 64)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		nc.Close()
	})
	return c, nc
}

// expect waits for n lines equal to want from the child.
func (c *child) expect(t *testing.T, want string, n int) {
	t.Helper()
	deadline := time.After(hangGuard)
	for n > 0 {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("child exited before %q", want)
			}
			if l == want {
				n--
			}
		case <-deadline:
			t.Fatalf("child did not say %q", want)
		}
	}
}

// The server process dies (SIGKILL) while this client has calls pending,
// one of them waiting on a callback it serves: every pending call fails
// with ErrDisconnected within 100 ms, and the callback object the dead
// peer held is shut down.
func TestPeerKilledServerSide(t *testing.T) {
	ch, nc := startChild(t, "serve")
	ch.expect(t, "ready", 1)
	ctx := ctxT(t)
	conn, err := rt.Connect(ctx, nc, rt.WithInitInterfaceID(testInitID))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	calc, err := makeCalc(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	defer calc.Release()
	if r, err := calc.Add(ctx, 20, 22); err != nil || r != 42 {
		t.Fatalf("Add = %d, %v", r, err)
	}
	cb := newBlockingCallback()
	cbCap := rttest.CallbackServer(cb)
	cbClient := rttest.NewCallbackClient(cbCap)

	type result struct {
		err error
		at  time.Time
	}
	const sleeps = 4
	results := make(chan result, sleeps+2)
	for i := 0; i < sleeps; i++ {
		go func() {
			_, err := calc.Sleep(ctx, hour)
			results <- result{err, time.Now()}
		}()
	}
	go func() {
		_, err := calc.CallBack(ctx, cbClient, 0)
		results <- result{err, time.Now()}
	}()
	ch.expect(t, "sleep", sleeps)
	select {
	case <-cb.entered:
	case <-time.After(hangGuard):
		t.Fatal("callback not called")
	}
	// Our callback is now a pending call in the other direction, and the
	// peer holds the only reference to it.
	cbClient.Release()

	killed := time.Now()
	if err := ch.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var worst time.Duration
	for i := 0; i < sleeps+1; i++ {
		select {
		case r := <-results:
			if !errors.Is(r.err, exception.ErrDisconnected) {
				t.Errorf("pending call: %v, want ErrDisconnected", r.err)
			}
			worst = max(worst, r.at.Sub(killed))
		case <-time.After(hangGuard):
			t.Fatal("pending call did not fail after the peer was killed")
		}
	}
	t.Logf("%d pending calls failed; worst latency from SIGKILL: %v", sleeps+1, worst)
	if worst > maxDisconnectLatency {
		t.Errorf("pending calls failed %v after the kill, want < %v", worst, maxDisconnectLatency)
	}
	// New calls fail at once, without sending.
	if _, err := calc.Add(ctx, 1, 1); !errors.Is(err, exception.ErrDisconnected) {
		t.Errorf("call after disconnect: %v", err)
	}
	// The callback the dead server held is destroyed, and its blocked
	// call was cancelled.
	waitFor(t, func() bool { return cb.destroyed.Load() == 1 })
	waitFor(t, func() bool { return rt.InFlightForTest(conn) == 0 })
	select {
	case <-conn.Done():
	case <-time.After(hangGuard):
		t.Fatal("connection not done")
	}
}

// The client process dies (SIGKILL) while this server serves its calls and
// waits on a callback into it: the callback call fails with
// ErrDisconnected within 100 ms, the handlers see their context end, and
// the server object the dead client held is destroyed.
func TestPeerKilledClientSide(t *testing.T) {
	ch, nc := startChild(t, "client")
	var destroyed atomic.Int32
	cbErr := make(chan struct {
		err error
		at  time.Time
	}, 1)
	init := newInit(&destroyed, &hooks{cbDone: func(err error, at time.Time) {
		cbErr <- struct {
			err error
			at  time.Time
		}{err, at}
	}})
	conn := rt.Serve(nc, init.bootstrap(), rt.WithInitInterfaceID(testInitID))
	defer conn.Close()
	ch.expect(t, "callback", 1)
	// Three Sleeps and the CallBack are in flight on the server.
	waitFor(t, func() bool { return rt.InFlightForTest(conn) == 4 })

	killed := time.Now()
	if err := ch.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-cbErr:
		lat := r.at.Sub(killed)
		t.Logf("callback into the killed client failed after %v: %v", lat, r.err)
		if !errors.Is(r.err, exception.ErrDisconnected) {
			t.Errorf("callback call: %v, want ErrDisconnected", r.err)
		}
		if lat > maxDisconnectLatency {
			t.Errorf("callback call failed %v after the kill, want < %v", lat, maxDisconnectLatency)
		}
	case <-time.After(hangGuard):
		t.Fatal("callback call did not fail")
	}
	select {
	case <-conn.Done():
	case <-time.After(hangGuard):
		t.Fatal("server connection not done")
	}
	// Every handler returned (their contexts were cancelled) and the Calc
	// the client held was destroyed.
	waitFor(t, func() bool { return rt.InFlightForTest(conn) == 0 })
	waitFor(t, func() bool { return destroyed.Load() == 1 })
}

// Closing a connection while one of its handlers waits on a call back into
// the same peer neither hangs nor leaks: go-capnp waits for every handler
// before it fails pending calls, so the callback call must give up by
// itself (rt's callNested), then Close returns and every call fails with
// ErrDisconnected. Both sides close in turn.
func TestCloseWhileHandlerCallsBack(t *testing.T) {
	for _, side := range []string{"server", "client"} {
		t.Run(side, func(t *testing.T) {
			a, b := socketPair(t)
			var destroyed atomic.Int32
			cbErr := make(chan error, 1)
			init := newInit(&destroyed, &hooks{cbDone: func(err error, _ time.Time) { cbErr <- err }})
			server := rt.Serve(b, init.bootstrap(), rt.WithInitInterfaceID(testInitID))
			defer server.Close()
			ctx := ctxT(t)
			client, err := rt.Connect(ctx, a, rt.WithInitInterfaceID(testInitID))
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			calc, err := makeCalc(ctx, client)
			if err != nil {
				t.Fatal(err)
			}
			defer calc.Release()
			cb := newBlockingCallback()
			cbClient := rttest.NewCallbackClient(rttest.CallbackServer(cb))
			defer cbClient.Release()
			callErr := make(chan error, 1)
			go func() {
				_, err := calc.CallBack(ctx, cbClient, 0)
				callErr <- err
			}()
			<-cb.entered
			closer := client
			if side == "server" {
				closer = server
			}
			closed := make(chan time.Duration, 1)
			start := time.Now()
			go func() {
				closer.Close()
				closed <- time.Since(start)
			}()
			select {
			case d := <-closed:
				t.Logf("%s Close returned after %v", side, d)
			case <-time.After(hangGuard):
				t.Fatalf("%s Close hangs while a handler waits on a callback", side)
			}
			for _, ch := range []chan error{cbErr, callErr} {
				select {
				case err := <-ch:
					if !errors.Is(err, exception.ErrDisconnected) {
						t.Errorf("pending call: %v, want ErrDisconnected", err)
					}
				case <-time.After(hangGuard):
					t.Fatal("a pending call survived Close")
				}
			}
			for _, c := range []*rt.Conn{client, server} {
				select {
				case <-c.Done():
				case <-time.After(hangGuard):
					t.Fatal("connection not done after Close")
				}
			}
			waitFor(t, func() bool { return destroyed.Load() == 1 })
		})
	}
}

// A half-closed socket (the peer shuts down its write side) ends the
// connection on both sides: the reader sees EOF, the connection closes,
// pending calls fail with ErrDisconnected and the server's objects are
// released, whichever side half-closes.
func TestHalfClosedSocket(t *testing.T) {
	for _, side := range []string{"client", "server"} {
		t.Run(side, func(t *testing.T) {
			a, b := socketPair(t)
			var destroyed atomic.Int32
			server := rt.Serve(b, newInit(&destroyed, nil).bootstrap(), rt.WithInitInterfaceID(testInitID))
			defer server.Close()
			ctx := ctxT(t)
			client, err := rt.Connect(ctx, a, rt.WithInitInterfaceID(testInitID))
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			calc, err := makeCalc(ctx, client)
			if err != nil {
				t.Fatal(err)
			}
			defer calc.Release()
			errc := make(chan error, 1)
			go func() {
				_, err := calc.Sleep(ctx, hour)
				errc <- err
			}()
			waitFor(t, func() bool { return rt.InFlightForTest(server) == 1 })
			half := a
			if side == "server" {
				half = b
			}
			if err := half.(*net.UnixConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-errc:
				if !errors.Is(err, exception.ErrDisconnected) {
					t.Fatalf("pending call: %v", err)
				}
			case <-time.After(hangGuard):
				t.Fatal("pending call survived a half-closed socket")
			}
			for _, c := range []*rt.Conn{client, server} {
				select {
				case <-c.Done():
				case <-time.After(hangGuard):
					t.Fatal("connection still open after a half-close")
				}
			}
			waitFor(t, func() bool { return destroyed.Load() == 1 })
			waitFor(t, func() bool { return rt.InFlightForTest(server) == 0 })
		})
	}
}

// A long wait on a reserved thread is cancelled through its context: the
// call returns at once with context.Canceled, the server's handler sees
// its context end, and the thread serves the next call.
func TestLongWaitCancelled(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	th, err := p.client.NewThread()
	if err != nil {
		t.Fatal(err)
	}
	defer th.Release()
	pctx := rt.WithThread(ctx, th)
	name, err := p.calc.ThreadName(pctx)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(pctx)
	errc := make(chan error, 1)
	go func() {
		_, err := p.calc.Sleep(cctx, hour)
		errc <- err
	}()
	waitFor(t, func() bool { return rt.InFlightForTest(p.server) == 1 })
	start := time.Now()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled wait: %v", err)
		}
		t.Logf("cancelled wait returned after %v", time.Since(start))
	case <-time.After(hangGuard):
		t.Fatal("cancelled wait did not return")
	}
	// go-capnp sends Finish; the handler's context ends and it returns.
	waitFor(t, func() bool { return rt.InFlightForTest(p.server) == 0 })
	again, err := p.calc.ThreadName(pctx)
	if err != nil || again != name {
		t.Fatalf("reserved thread after the cancelled wait: %q, %v (was %q)", again, err, name)
	}
	if p.destroyed.Load() != 0 {
		t.Fatal("cancelling a call destroyed the object")
	}
}

// The client closes its connection during a long wait: the wait fails
// with ErrDisconnected, the server's handler sees its context end and the
// server object is destroyed.
func TestLongWaitClientDisconnects(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	errc := make(chan error, 1)
	go func() {
		_, err := p.calc.Sleep(ctx, hour)
		errc <- err
	}()
	waitFor(t, func() bool { return rt.InFlightForTest(p.server) == 1 })
	p.client.Close()
	// The wait is an hour long and ctx has not ended: only Close can end
	// it, with ErrDisconnected.
	select {
	case err := <-errc:
		if !errors.Is(err, exception.ErrDisconnected) {
			t.Fatalf("wait: %v", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("wait survived Close")
	}
	waitFor(t, func() bool { return rt.InFlightForTest(p.server) == 0 })
	waitFor(t, func() bool { return p.destroyed.Load() == 1 })
}

// A handler that panics fails its call with a failed exception; the
// process, the connection, the object and the thread all survive.
func TestPanicKeepsObjectAndThread(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	th, err := p.client.NewThread()
	if err != nil {
		t.Fatal(err)
	}
	defer th.Release()
	pctx := rt.WithThread(ctx, th)
	name, err := p.calc.ThreadName(pctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		err := p.calc.Fail(pctx, 1, "boom")
		var e *exception.Error
		if !errors.As(err, &e) || e.Type != exception.Failed || !strings.Contains(e.Description, "panic: boom") {
			t.Fatalf("panicking call: %v", err)
		}
	}
	if got, err := p.calc.ThreadName(pctx); err != nil || got != name {
		t.Fatalf("thread after panics: %q, %v (was %q)", got, err, name)
	}
	if r, err := p.calc.Add(ctx, 2, 3); err != nil || r != 5 {
		t.Fatalf("object after panics: %d, %v", r, err)
	}
	if p.destroyed.Load() != 0 {
		t.Fatal("a panic destroyed the server object")
	}
	if p.server.Err() != nil || p.client.Err() != nil {
		t.Fatal("a panic ended the connection")
	}
}

// ---- peers that stop reading ----

// stallConn stops reading when stalled: Read then blocks until Close.
type stallConn struct {
	net.Conn
	stalled atomic.Bool
	closed  chan struct{}
	once    sync.Once
}

func newStallConn(c net.Conn) *stallConn { return &stallConn{Conn: c, closed: make(chan struct{})} }

func (s *stallConn) Read(b []byte) (int, error) {
	if s.stalled.Load() {
		<-s.closed
		return 0, net.ErrClosed
	}
	return s.Conn.Read(b)
}

func (s *stallConn) Close() error {
	s.once.Do(func() { close(s.closed) })
	return s.Conn.Close()
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// hammerEcho calls Echo with payload from n goroutines, each call with a
// short deadline (a client retrying a stuck peer), until stop. It counts
// the calls that failed with their deadline.
func hammerEcho(calc *rttest.CalcClient, payload []byte, n int, stop <-chan struct{}) (*sync.WaitGroup, *atomic.Int64) {
	var wg sync.WaitGroup
	var timedOut atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				if _, err := calc.Echo(ctx, payload); errors.Is(err, context.DeadlineExceeded) {
					timedOut.Add(1)
				}
				cancel()
			}
		}()
	}
	return &wg, &timedOut
}

// The server stops reading while the client keeps calling, each call
// abandoned after a short deadline. New calls wait for room in the
// client's send queue until their deadline and fail then without being
// queued, so no caller is held past its deadline, not even the one whose
// write the peer does not read; once the calls that gave up would have
// taken the queue past WithSendQueueLimit, the client drops the
// connection and calls fail with ErrDisconnected.
func TestStalledServerBoundsClientMemory(t *testing.T) {
	const limit = 1 << 20
	a, b := socketPair(t)
	sb := newStallConn(b)
	server := rt.Serve(sb, newInit(nil, nil).bootstrap(), rt.WithInitInterfaceID(testInitID))
	defer server.Close()
	ctx := ctxT(t)
	client, err := rt.Connect(ctx, a, rt.WithInitInterfaceID(testInitID), rt.WithSendQueueLimit(limit))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	calc, err := makeCalc(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	defer calc.Release()
	payload := make([]byte, 32<<10)
	if _, err := calc.Echo(ctx, payload); err != nil {
		t.Fatal(err)
	}
	before := heapInUse()
	sb.stalled.Store(true)
	stop := make(chan struct{})
	wg, timedOut := hammerEcho(calc, payload, 8, stop)
	recv(t, client.Done(), "client connected to a peer that stopped reading")
	close(stop)
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	recv(t, done, "callers of a peer that stopped reading")
	after := heapInUse()
	t.Logf("%d calls timed out before the client dropped the connection; heap in use %d -> %d", timedOut.Load(), before, after)
	if _, err := calc.Echo(ctx, payload); !errors.Is(err, exception.ErrDisconnected) {
		t.Errorf("call after the stalled peer was dropped: %v", err)
	}
}

// A client floods the server with calls and never reads the answers: once
// the server's send queue is over its limit the server drops the
// connection and releases the client's objects.
func TestNonReadingClientBoundsServerMemory(t *testing.T) {
	const limit = 1 << 20
	a, b := socketPair(t)
	sa := newStallConn(a)
	var destroyed atomic.Int32
	server := rt.Serve(b, newInit(&destroyed, nil).bootstrap(), rt.WithSendQueueLimit(limit), rt.WithInitInterfaceID(testInitID))
	defer server.Close()
	ctx := ctxT(t)
	client, err := rt.Connect(ctx, sa, rt.WithInitInterfaceID(testInitID))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	calc, err := makeCalc(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	defer calc.Release()
	payload := make([]byte, 32<<10)
	if _, err := calc.Echo(ctx, payload); err != nil {
		t.Fatal(err)
	}
	sa.stalled.Store(true)
	stop := make(chan struct{})
	wg, _ := hammerEcho(calc, payload, 8, stop)
	select {
	case <-server.Done():
	case <-time.After(hangGuard):
		close(stop)
		wg.Wait()
		t.Fatal("server still serving a client that stopped reading")
	}
	close(stop)
	wg.Wait()
	waitFor(t, func() bool { return destroyed.Load() == 1 })
}

// A call that cannot be sent because the peer has gone (here it shut
// down its reading side, so writes fail with EPIPE while nothing is read)
// fails with ErrDisconnected, not as a failure raised by the peer.
func TestSendToGonePeerIsDisconnected(t *testing.T) {
	a, b := socketPair(t)
	defer b.Close()
	if err := b.(*net.UnixConn).CloseRead(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rt.Connect(ctx, a, rt.WithInitInterfaceID(testInitID))
	if err == nil {
		conn.Close()
		t.Fatal("connected to a peer that reads nothing")
	}
	var e *exception.Error
	if !errors.Is(err, exception.ErrDisconnected) || !errors.As(err, &e) || e.Remote {
		t.Fatalf("Connect: %v (%#v), want a local ErrDisconnected", err, e)
	}
}
