package rt_test

// Protocol tests with the C++ peer (see interop_test.go): calls on
// unreturned answers, a promise that resolves later with its embargo,
// and the release counts of both sides. A tap on our end of the socket
// records the protocol messages each way.

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine"
)

// kRelease is the C++ peer's kRelease: as Calc.ping's argument it tells
// the Go server that the calls the peer sent before it have arrived.
const kRelease = 0x52454c45415345

// ---- a tap on the socket ----

// tapConn records the Cap'n Proto messages read from and written to its
// connection, one line each: "in call promisedAnswer", "out resolve
// receiverHosted", "in disembargo senderLoopback importedCap" and so on.
type tapConn struct {
	net.Conn
	mu      sync.Mutex
	in, out []byte // bytes of frames not yet complete
	log     []string
}

func (c *tapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.feed("in", &c.in, b[:n])
	return n, err
}

func (c *tapConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.feed("out", &c.out, b[:n])
	return n, err
}

func (c *tapConn) feed(dir string, buf *[]byte, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*buf = append(*buf, b...)
	le := binary.LittleEndian
	for len(*buf) >= 8 {
		nseg := int(le.Uint32(*buf)) + 1
		hdr := (4 + 4*nseg + 7) &^ 7
		if len(*buf) < hdr {
			return
		}
		size := hdr
		for i := 0; i < nseg; i++ {
			size += 8 * int(le.Uint32((*buf)[4+4*i:]))
		}
		if len(*buf) < size {
			return
		}
		frame := append([]byte(nil), (*buf)[:size]...)
		*buf = (*buf)[size:]
		c.log = append(c.log, dir+" "+describe(frame))
	}
}

// describe names a frame's message kind and what the tests look at.
func describe(frame []byte) string {
	msg, err := capnp.Unmarshal(frame)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	m, err := rpccp.ReadRootMessage(msg)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	d := m.Which().String()
	switch m.Which() {
	case rpccp.Message_Which_call:
		call, _ := m.Call()
		tgt, _ := call.Target()
		d += " " + tgt.Which().String()
		if p, err := call.Params(); err == nil {
			if caps, err := p.CapTable(); err == nil {
				for i := 0; i < caps.Len(); i++ {
					d += " " + caps.At(i).Which().String()
				}
			}
		}
	case rpccp.Message_Which_resolve:
		r, _ := m.Resolve()
		d += " " + r.Which().String()
		if r.Which() == rpccp.Resolve_Which_cap {
			cd, _ := r.Cap()
			d += " " + cd.Which().String()
		}
	case rpccp.Message_Which_disembargo:
		dis, _ := m.Disembargo()
		tgt, _ := dis.Target()
		d += " " + dis.Context().Which().String() + " " + tgt.Which().String()
	case rpccp.Message_Which_return:
		r, _ := m.Return()
		d += " " + r.Which().String()
		if r.Which() == rpccp.Return_Which_results {
			if p, err := r.Results(); err == nil {
				if caps, err := p.CapTable(); err == nil {
					for i := 0; i < caps.Len(); i++ {
						d += " " + caps.At(i).Which().String()
					}
				}
			}
		}
	}
	return d
}

func (c *tapConn) messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

// has reports whether a message starting with prefix was recorded.
func (c *tapConn) has(prefix string) bool {
	for _, m := range c.messages() {
		if strings.HasPrefix(m, prefix) {
			return true
		}
	}
	return false
}

// ---- C++ client, Go server ----

// gatedInit serves TestInit; its second makeCalc waits until ping
// (kRelease) arrives, then returns what second makes. goCalcs counts the
// Calcs it serves.
func gatedInit(goCalcs *atomic.Int32, second func(ctx context.Context, init *initImpl) (rttest.Calc, error)) *initImpl {
	gate := make(chan struct{})
	var once sync.Once
	var made atomic.Int32
	init := newInit(nil, nil)
	init.hooks.onPing = func(x uint64) {
		if x == kRelease {
			once.Do(func() { close(gate) })
		}
	}
	init.hooks.makeCalc = func(ctx context.Context) (rttest.Calc, error) {
		if made.Add(1) != 2 {
			goCalcs.Add(1)
			return &calcImpl{destroyed: init.destroyed, hooks: init.hooks}, nil
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return second(ctx, init)
	}
	return init
}

// runCppClientOn runs `peer client <args>` against init served on a tapped
// socket and returns its output once it exited 0, and the tap. Once the
// client has gone, the connection's tables are empty and each of the
// goCalcs Calcs served has been destroyed.
func runCppClientOn(t *testing.T, init *initImpl, goCalcs *atomic.Int32, args ...string) (string, *tapConn) {
	t.Helper()
	ours, theirs := unixPair(t)
	tap := &tapConn{Conn: connFile(t, ours)}
	conn := rt.Serve(tap, init.bootstrap(), rt.WithInitInterfaceID(testInitID))
	t.Cleanup(func() { conn.Close() })
	proc := startCppPeer(t, theirs, "client", args...)
	if err := proc.wait(interopWait); err != nil {
		t.Fatalf("C++ client %v: %v\n%s\nmessages: %q", args, err, proc.out.String(), tap.messages())
	}
	recv(t, conn.Done(), "Go server connection after the C++ client exited")
	if st := rt.StatsForTest(conn); st != (engine.Stats{}) {
		t.Errorf("tables after the C++ client left: %+v", st)
	}
	waitFor(t, func() bool { return init.destroyed.Load() == goCalcs.Load() })
	return proc.out.String(), tap
}

// An incoming call whose target and whose context.thread are both
// unreturned answers, as libmultiprocess clients pipeline makeThread: the
// C++ client sends makeThread, makeCalc and threadName and add on the
// Calc, on the Thread, at once. The server holds makeCalc until the
// client's ping(kRelease), sent after the calls, arrives: the calls wait
// on the unreturned makeCalc, then run on the new Thread.
func TestInteropCallOnUnreturnedTargetAndThread(t *testing.T) {
	var goCalcs atomic.Int32
	init := gatedInit(&goCalcs, func(ctx context.Context, init *initImpl) (rttest.Calc, error) {
		goCalcs.Add(1)
		return &calcImpl{destroyed: init.destroyed, hooks: &hooks{}}, nil
	})
	out, tap := runCppClientOn(t, init, &goCalcs, "unreturned")
	if !strings.Contains(out, "OK call on an unreturned Calc and Thread ran on ") || !strings.Contains(out, "OK unreturned\n") {
		t.Fatalf("C++ client:\n%s", out)
	}
	// The calls came with a promisedAnswer target and a receiverAnswer
	// thread (context.thread and callbackThread: the peer's own).
	if !tap.has("in call promisedAnswer receiverAnswer senderHosted") {
		t.Fatalf("no call on an unreturned answer with an unreturned thread arrived: %q", tap.messages())
	}
	t.Log(out)
}

// A promise passed to C++ that resolves later, to a capability C++ hosts
// (see the C++ peer's scenarioPromise): the C++ client names the
// pipelined result of makeCalc, which the server holds, as callbackThread
// of a callBack; the server's handler calls back with it as context.thread
// (a senderPromise), C++ calls add on it (held here), then releases
// makeCalc, which returns a Calc of the C++ client's own. The server sends
// Resolve, forwards the held call to C++, and echoes the Disembargo C++
// sends to lift its embargo; C++'s Calc sees the calls in order.
func TestInteropPromiseResolvesToCpp(t *testing.T) {
	var goCalcs atomic.Int32
	init := gatedInit(&goCalcs, func(ctx context.Context, _ *initImpl) (rttest.Calc, error) {
		// The client's own Calc, from its bootstrap.
		peer := rttest.NewTestInitClient(rt.ConnFromContext(ctx))
		defer peer.Release()
		return peer.MakeCalc(ctx)
	})
	out, tap := runCppClientOn(t, init, &goCalcs, "promise")
	if !strings.Contains(out, "OK promise resolved to our own Calc; calls arrived in order") || !strings.Contains(out, "OK promise\n") {
		t.Fatalf("C++ client:\n%s\nmessages: %q", out, tap.messages())
	}
	for _, want := range []string{
		"out call importedCap senderPromise", // Callback.call: context.thread is our promise
		"in call importedCap",                // add(1) on the promise, held here
		"out return results receiverHosted",  // makeCalc: the client's own Calc
		"out resolve cap receiverHosted",     // the promise resolves to it
		"out call importedCap",               // the held add(1), forwarded
		"in disembargo senderLoopback",       // C++ embargoes the promise it called
		"out disembargo receiverLoopback",    // echoed
	} {
		if !tap.has(want) {
			t.Errorf("no %q message: %q", want, tap.messages())
		}
	}
	t.Log(out)
}

// ---- Go client, C++ server: release counts on both sides ----

// cppCounts is one COUNTS line of the C++ peer.
type cppCounts struct{ calcs, threads, callbacks int }

var countsLine = regexp.MustCompile(`COUNTS (\w+) calcs=(-?\d+) threads=(-?\d+) callbacks=(-?\d+)`)

// countsAfter waits for the n-th COUNTS line tagged when in the peer's
// output.
func countsAfter(t *testing.T, proc *cppProc, when string, n int) cppCounts {
	t.Helper()
	var got cppCounts
	waitFor(t, func() bool {
		k := 0
		for _, m := range countsLine.FindAllStringSubmatch(proc.out.String(), -1) {
			if m[1] != when {
				continue
			}
			if k++; k == n {
				got.calcs, _ = strconv.Atoi(m[2])
				got.threads, _ = strconv.Atoi(m[3])
				got.callbacks, _ = strconv.Atoi(m[4])
				return true
			}
		}
		return false
	})
	return got
}

// Every reference is released on both sides, exactly: capabilities the Go
// client imports (Calcs, Threads) are freed in the C++ server once
// released here, capabilities it exports (callbacks, its threads) once the
// server is done with them, and the tables of both are back where they
// started; at the end of the connection nothing is left on either side.
func TestInteropReleaseCounts(t *testing.T) {
	bin := cppPeer(t)
	ours, theirs := unixPair(t)
	proc := &cppProc{done: make(chan struct{})}
	proc.cmd = exec.Command(bin, "serve", "3")
	proc.cmd.ExtraFiles = append(proc.cmd.ExtraFiles, theirs)
	proc.cmd.Stdout, proc.cmd.Stderr = &proc.out, &proc.out
	stdin, err := proc.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	go func() {
		proc.err = proc.cmd.Wait()
		close(proc.done)
	}()
	t.Cleanup(func() {
		stdin.Close()
		if err := proc.wait(interopWait); err != nil {
			proc.kill()
			<-proc.done
			t.Errorf("C++ peer: %v\n%s", err, proc.out.String())
		}
	})
	asked := 0
	counts := func() cppCounts {
		t.Helper()
		if _, err := io.WriteString(stdin, "counts\n"); err != nil {
			t.Fatal(err)
		}
		asked++
		return countsAfter(t, proc, "now", asked)
	}

	ctx := interopCtx(t)
	conn, err := rt.Connect(ctx, connFile(t, ours), rt.WithInitInterfaceID(testInitID))
	if err != nil {
		t.Fatal(err)
	}
	calc, err := makeCalc(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	// roundTrip makes sure the peer has read everything sent before.
	roundTrip := func() {
		t.Helper()
		if _, err := calc.Ping(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := calc.Add(ctx, 1, 2); err != nil {
		t.Fatal(err)
	}
	roundTrip()
	cpp0, go0 := counts(), rt.StatsForTest(conn)
	t.Logf("start: C++ %+v, Go %+v", cpp0, go0)
	if cpp0.calcs != 1 || cpp0.callbacks != 0 {
		t.Fatalf("C++ peer at the start: %+v", cpp0)
	}

	// Three more Calcs, two Threads of our own, and a callback of ours
	// per Calc, which the server calls and then releases.
	var calcs []*rttest.CalcClient
	var cbDestroyed atomic.Int32
	for i := 0; i < 3; i++ {
		c, err := makeCalc(ctx, conn)
		if err != nil {
			t.Fatal(err)
		}
		calcs = append(calcs, c)
		cb := &countingCallback{destroyed: &cbDestroyed}
		if r, err := c.CallBack(ctx, cb, 5); err != nil || r != 6 {
			t.Fatalf("CallBack = %d, %v", r, err)
		}
	}
	var threads []*rt.Thread
	for i := 0; i < 2; i++ {
		th, err := conn.NewThread()
		if err != nil {
			t.Fatal(err)
		}
		threads = append(threads, th)
		if _, err := calc.ThreadName(rt.WithThread(ctx, th)); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip()
	cpp1, go1 := counts(), rt.StatsForTest(conn)
	t.Logf("with 3 Calcs, 2 Threads: C++ %+v, Go %+v", cpp1, go1)
	if cpp1.calcs != cpp0.calcs+3 || cpp1.threads != cpp0.threads+2 || cpp1.callbacks != 0 {
		t.Errorf("C++ peer holds %+v, want 3 Calcs and 2 threads more than %+v", cpp1, cpp0)
	}
	if go1.Imports != go0.Imports+5 {
		t.Errorf("Go imports %d, want %d (3 Calcs, 2 Threads more)", go1.Imports, go0.Imports+5)
	}
	// The server released each callback once its call returned.
	waitFor(t, func() bool { return cbDestroyed.Load() == 3 })
	if go1.Exports != go0.Exports {
		t.Errorf("Go exports %d, want %d: the server keeps a callback or a thread of ours", go1.Exports, go0.Exports)
	}

	for _, c := range calcs {
		c.Release()
	}
	for _, th := range threads {
		th.Release()
	}
	roundTrip()
	cpp2, go2 := counts(), rt.StatsForTest(conn)
	t.Logf("released: C++ %+v, Go %+v", cpp2, go2)
	if cpp2 != cpp0 {
		t.Errorf("C++ peer holds %+v after our releases, want %+v", cpp2, cpp0)
	}
	if go2.Imports != go0.Imports || go2.Exports != go0.Exports {
		t.Errorf("Go tables %+v after the releases, want those of the start %+v", go2, go0)
	}

	calc.Release()
	conn.Close()
	if st := rt.StatsForTest(conn); st != (engine.Stats{}) {
		t.Errorf("Go tables after Close: %+v", st)
	}
	if end := countsAfter(t, proc, "end", 1); end != (cppCounts{}) {
		t.Errorf("C++ peer holds %+v after the connection ended", end)
	}
}

// countingCallback answers Callback.call and counts its destroys.
type countingCallback struct{ destroyed *atomic.Int32 }

func (c *countingCallback) Destroy(context.Context) error {
	c.destroyed.Add(1)
	return nil
}

func (c *countingCallback) Call(ctx context.Context, depth int32) (int32, error) { return depth, nil }

// ---- Go client, C++ server: three calls queued on one pinned Thread ----

// Three calls posted at once to one server Thread pinned with
// rt.WithThread, as Bitcoin Core's own IPC test posts three waitNext
// calls: all three are sent without waiting for each other (the C++
// server queues them on the Thread), and all end when cancelled.
func TestInteropThreeCallsOnPinnedThread(t *testing.T) {
	conn, calc, _ := cppServer(t)
	ctx := interopCtx(t)
	th, err := conn.NewThread()
	if err != nil {
		t.Fatal(err)
	}
	defer th.Release()
	if _, err := th.Name(ctx); err != nil {
		t.Fatal(err)
	}
	base := rt.StatsForTest(conn).Questions
	sctx, cancel := context.WithCancel(rt.WithThread(ctx, th))
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			_, err := calc.Sleep(sctx, hour)
			errs <- err
		}()
	}
	waitFor(t, func() bool { return rt.StatsForTest(conn).Questions == base+3 })
	cancel()
	for i := 0; i < 3; i++ {
		if err := recv(t, errs, "cancelled sleep"); !errors.Is(err, context.Canceled) {
			t.Fatalf("sleep: %v", err)
		}
	}
	if r, err := calc.Add(ctx, 2, 2); err != nil || r != 4 {
		t.Fatalf("Add after the pinned calls: %d, %v", r, err)
	}
}
