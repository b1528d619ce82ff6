package rt_test

// Benchmarks of Calc.add Go↔Go with the server in a child process (the
// test binary in role "bench-serve"), so that allocs/op is the client's
// alone; the child reports its own allocations per call.
//
//	go test -run '^$' -bench 'Split' -benchmem ./rt/

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// roleBenchServe serves TestInit on fd 3 (roleBenchServeV32: v32's Init)
// and answers each line on stdin with its cumulative heap allocation
// count and CPU time (µs).
const (
	roleBenchServe    = "bench-serve"
	roleBenchServeV32 = "bench-serve-v32"
)

// echoNode serves v32's Init with an Echo.
type echoNode struct {
	v32.UnimplementedInitServer
	v32.UnimplementedEchoServer
}

func (n *echoNode) MakeEcho(context.Context) (v32.Echo, error) { return n, nil }

func (n *echoNode) Echo(_ context.Context, s string) (string, error) { return s, nil }

func runBenchServe(nc net.Conn, role string) int {
	var conn *rt.Conn
	if role == roleBenchServeV32 {
		conn = rt.Serve(nc, func(*rt.Conn) *rt.Cap { return v32.InitServer(&echoNode{}) }, v32.WithInitBootstrap())
	} else {
		conn = rt.Serve(nc, newInit(nil, nil).bootstrap(), rt.WithInitInterfaceID(testInitID))
	}
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Println(ms.Mallocs, cpuTime().Microseconds())
		}
		conn.Close()
	}()
	<-conn.Done()
	return 0
}

// benchServer is a Go server in a child process.
type benchServer struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

// stats returns the child's allocation count and CPU time so far.
func (s *benchServer) stats(b *testing.B) (mallocs uint64, cpu time.Duration) {
	if _, err := fmt.Fprintln(s.in); err != nil {
		b.Fatal(err)
	}
	if !s.out.Scan() {
		b.Fatal("bench child ended")
	}
	var us int64
	if _, err := fmt.Sscan(s.out.Text(), &mallocs, &us); err != nil {
		b.Fatal(err)
	}
	return mallocs, time.Duration(us) * time.Microsecond
}

// startBenchChild runs the test binary in role, connected to the
// returned socket.
func startBenchChild(b *testing.B, role string) (*benchServer, net.Conn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "parent"), os.NewFile(uintptr(fds[1]), "child")
	nc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envFaultChild+"="+role)
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	theirs.Close()
	b.Cleanup(func() {
		nc.Close()
		in.Close()
		cmd.Wait()
	})
	return &benchServer{in: in, out: bufio.NewScanner(out)}, nc
}

func startBenchServer(b *testing.B) (*benchServer, *rt.Conn, *rttest.CalcClient) {
	s, nc := startBenchChild(b, roleBenchServe)
	ctx := context.Background()
	conn, err := rt.Connect(ctx, nc, rt.WithInitInterfaceID(testInitID))
	if err != nil {
		b.Fatal(err)
	}
	calc, err := makeCalc(ctx, conn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		calc.Release()
		conn.Close()
	})
	return s, conn, calc
}

// measure runs call b.N times and reports the client's CPU per call and
// the server's allocations and CPU per call.
func measure(b *testing.B, s *benchServer, call func(i int) error) {
	for i := 0; i < 100; i++ {
		if err := call(i); err != nil {
			b.Fatal(err)
		}
	}
	m0, cpu0 := s.stats(b)
	b.ReportAllocs()
	b.ResetTimer()
	ccpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if err := call(i); err != nil {
			b.Fatal(err)
		}
	}
	ccpu := cpuTime() - ccpu0
	b.StopTimer()
	m1, cpu1 := s.stats(b)
	b.ReportMetric(float64(ccpu.Nanoseconds())/float64(b.N), "client-cpu-ns/op")
	b.ReportMetric(float64(m1-m0)/float64(b.N), "server-allocs/op")
	b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "server-cpu-ns/op")
}

// BenchmarkSplitEcho is v32's Echo.echo of 16 bytes, one caller:
// allocs/op is the client's, server-allocs/op the child's.
func BenchmarkSplitEcho(b *testing.B) {
	ctx := context.Background()
	s, nc := startBenchChild(b, roleBenchServeV32)
	conn, err := rt.Connect(ctx, nc, v32.WithInitBootstrap())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	init := v32.NewInitClient(conn)
	defer init.Release()
	echo, err := init.MakeEcho(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Release(echo)
	const msg = "0123456789abcdef"
	measure(b, s, func(int) error {
		r, err := echo.Echo(ctx, msg)
		if err == nil && r != msg {
			err = fmt.Errorf("echo = %q", r)
		}
		return err
	})
}

// BenchmarkSplitAdd is Calc.add, one caller: allocs/op is the client's,
// server-allocs/op the child's.
func BenchmarkSplitAdd(b *testing.B) {
	ctx := context.Background()
	s, _, calc := startBenchServer(b)
	measure(b, s, func(i int) error {
		r, err := calc.Add(ctx, int64(i), 1)
		if err == nil && r != int64(i)+1 {
			err = fmt.Errorf("add = %d", r)
		}
		return err
	})
}

// BenchmarkSplitThroughput is Calc.add with 1 and then 4 callers in
// flight (each on its own server Thread), b.N calls each; x-1-caller is
// the ratio of their call rates.
func BenchmarkSplitThroughput(b *testing.B) {
	ctx := context.Background()
	_, _, calc := startBenchServer(b)
	run := func(callers int) float64 {
		var wg sync.WaitGroup
		start := time.Now()
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < b.N; i++ {
					if _, err := calc.Add(ctx, int64(i), 1); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return float64(callers*b.N) / time.Since(start).Seconds()
	}
	run(4) // make the threads
	b.ResetTimer()
	r1 := run(1)
	r4 := run(4)
	b.StopTimer()
	b.ReportMetric(r1, "calls/s-1")
	b.ReportMetric(r4, "calls/s-4")
	b.ReportMetric(r4/r1, "x-1-caller")
}
