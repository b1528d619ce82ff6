package engine

// Interop with the C++ peer (internal/testing/cpppeer/peer.c++: Cap'n Proto
// C++'s RPC with libmultiprocess's conventions), built by
// internal/testing/cpppeer before any deadline starts; the tests fail, not skip,
// when it cannot be built.

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/cpppeer"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startCpp runs the C++ peer with args (fd 3 is its end of a socketpair)
// and returns our end. The peer must exit 0 by the end of the test.
func startCpp(t *testing.T, args ...string) (net.Conn, *lockedBuffer, chan error) {
	t.Helper()
	bin, err := cpppeer.Build()
	if err != nil {
		t.Fatalf("building the C++ interop peer (needs capnp, g++, pkg-config, libcapnp-dev): %v", err)
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "theirs")
	out := &lockedBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("C++ peer: %v\n%s", err, out.String())
			}
			done <- err
		case <-time.After(testWait):
			cmd.Process.Kill()
			t.Errorf("C++ peer still running after %v\n%s", testWait, out.String())
		}
	})
	nc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		t.Fatal(err)
	}
	return nc, out, done
}

// The engine as a client of the C++ server: the pipelined libmultiprocess
// start (makeThread and makeCalc on unreturned answers, the makeThread
// answer as context.thread), calls, exceptions, a large payload, nested
// callbacks into a Go callback on a Go thread, destroy, and releases:
// every C++ Thread is released (its count drops) and the C++ peer exits
// 0 once we close.
func TestInteropGoClientCppServer(t *testing.T) {
	nc, out, _ := startCpp(t, "serve", "3")
	conn := New(nc, Options{})
	s := startSession(t, conn)
	if got := s.add(t, 2, 40); got != 42 {
		t.Fatalf("add = %d\n%s", got, out.String())
	}

	// threadName: the call ran on the C++ thread we made.
	req, _ := s.calc.NewRequest(calcID, 2, szPtr1)
	s.fillContext(t, req, req.Params(), nil)
	a := req.Send()
	res, err := a.Wait(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	name, _ := res.Ptr(0)
	if !strings.Contains(name.Text(), "(from engine-test)") {
		t.Fatalf("threadName = %q", name.Text())
	}
	a.Release()

	// ping: no context.
	a = ping(t, s.calc, 77)
	if res, err := a.Wait(testCtx(t)); err != nil || res.Uint64(0) != 77 {
		t.Fatalf("ping = %d, %v", res.Uint64(0), err)
	}
	a.Release()

	// Exceptions keep their type.
	types := []rpccp.Exception_Type{rpccp.Exception_Type_failed, rpccp.Exception_Type_failed,
		rpccp.Exception_Type_overloaded, rpccp.Exception_Type_unimplemented, rpccp.Exception_Type_disconnected}
	for kind, want := range types {
		req, _ := s.calc.NewRequest(calcID, 3, szData8P2)
		s.fillContext(t, req, req.Params(), nil)
		req.Params().SetUint32(0, uint32(kind))
		req.Params().SetText(1, "c++ boom")
		a := req.Send()
		_, err := a.Wait(testCtx(t))
		a.Release()
		var e *Exception
		if !errors.As(err, &e) || e.Type != want || !strings.Contains(e.Reason, "c++ boom") {
			t.Fatalf("fail kind %d: %v, want type %v", kind, err, want)
		}
	}

	// A 4 MiB echo.
	data := bytes.Repeat([]byte{0xa5, 0x5a, 1, 2}, 1<<20)
	req, _ = s.calc.NewRequest(calcID, 8, szPtr2)
	s.fillContext(t, req, req.Params(), nil)
	req.Params().SetData(1, data)
	a = req.Send()
	if res, err := a.Wait(testCtx(t)); err != nil {
		t.Fatal(err)
	} else if p, _ := res.Ptr(0); !bytes.Equal(p.Data(), data) {
		t.Fatal("echo changed the data")
	}
	a.Release()

	// Nested callbacks: C++ calls our Callback on our thread, which calls
	// C++ again on the C++ thread that called it, three levels deep.
	var live atomic.Int32
	local := newThread("go-client-main", &live)
	localCap := NewLocal(local)
	local.self = localCap.n
	var calls atomic.Int32
	cb := NewLocal(&callback{s: s, t: t, calls: &calls})
	req, _ = s.calc.NewRequest(calcID, 5, szData8P2)
	s.fillContext(t, req, req.Params(), localCap)
	req.SetCap(req.Params(), 1, cb)
	req.Params().SetUint32(0, 3)
	a = req.Send()
	local.wait(a)
	if res, err := a.Results(); err != nil || res.Uint32(0) != 4 || calls.Load() != 4 {
		t.Fatalf("callBack = %d, %v, %d callback calls; want 4, 4\n%s", res.Uint32(0), err, calls.Load(), out.String())
	}
	a.Release()
	cb.Release()
	localCap.Release()

	// destroy, then the releases.
	req, _ = s.calc.NewRequest(calcID, 0, szPtr1)
	s.fillContext(t, req, req.Params(), nil)
	a = req.Send()
	if _, err := a.Wait(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	a.Release()
	s.release()
	waitStats(t, conn, Stats{})
	if live.Load() != 0 {
		t.Fatal("our callback thread outlived its last reference (C++ did not release it)")
	}
	conn.Close()
}

// The engine as the server of the C++ client's scenarios.
func TestInteropCppClientGoServer(t *testing.T) {
	for _, scenario := range []string{"basic", "errors", "callback", "pipeline"} {
		t.Run(scenario, func(t *testing.T) {
			nc, out, done := startCpp(t, "client", "3", scenario)
			srv := newServer()
			boot := NewLocal(initServer{s: srv})
			conn := New(nc, Options{Bootstrap: boot})
			boot.Release()
			var err error
			select {
			case err = <-done:
				done <- err
			case <-time.After(testWait):
				t.Fatalf("C++ client still running after %v\n%s", testWait, out.String())
			}
			if err != nil || !strings.Contains(out.String(), "OK "+scenario) {
				t.Fatalf("C++ client %s: %v\n%s", scenario, err, out.String())
			}
			<-conn.Done()
			if st := conn.Stats(); st != (Stats{}) {
				t.Fatalf("tables after the client left: %+v", st)
			}
			if srv.threads.Load() != 0 {
				t.Fatalf("%d threads left", srv.threads.Load())
			}
			t.Log(fmt.Sprint(out.String()))
		})
	}
}

// TestInteropRoundTrips logs sequential Calc.add round trips of the
// engine against the C++ peer in both roles (figures only; they mean
// little under -race). For real ones:
//
//	ENGINE_INTEROP_N=5000 go test -run InteropRoundTrips -v ./rt/internal/engine/
func TestInteropRoundTrips(t *testing.T) {
	n := 300
	if v, err := strconv.Atoi(os.Getenv("ENGINE_INTEROP_N")); err == nil && v > 0 {
		n = v
	}
	// Go client → C++ server.
	nc, _, _ := startCpp(t, "serve", "3")
	conn := New(nc, Options{})
	s := startSession(t, conn)
	s.add(t, 1, 1)
	lat := make([]time.Duration, n)
	cpu0 := cpuTime()
	for i := range n {
		t0 := time.Now()
		if got := s.add(t, int64(i), 1); got != int64(i)+1 {
			t.Fatalf("add = %d", got)
		}
		lat[i] = time.Since(t0)
	}
	cpu := cpuTime() - cpu0
	slices.Sort(lat)
	t.Logf("Go engine → C++: p50 %.1f µs, p99 %.1f µs, process CPU %.1f µs/call, n=%d",
		us(lat[n/2]), us(lat[n*99/100]), us(cpu)/float64(n), n)
	s.release()
	conn.Close()

	// C++ client → Go server.
	nc, out, done := startCpp(t, "client", "3", "bench", strconv.Itoa(n))
	srv := newServer()
	boot := NewLocal(initServer{s: srv})
	server := New(nc, Options{Bootstrap: boot})
	boot.Release()
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("C++ bench client: %v\n%s", err, out.String())
		}
	case <-time.After(testWait):
		t.Fatalf("C++ bench client still running\n%s", out.String())
	}
	<-server.Done()
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "RESULT") {
			t.Logf("C++ → Go engine: %s", line)
		}
	}
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
