package main

// Go benchmarks of the report's figures, each reporting its ratio against
// a baseline measured in the same benchmark run:
//
//	go test -bench . ./internal/cmd/benchreport/
//
// The client runs in the test process (so -benchmem and the ns/op are the
// Go client's); servers and baselines run in child processes, this test
// binary re-executed (TestMain) or the C++ peer. Without -bench only the
// fast tests below run.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/cpppeer"
)

func TestMain(m *testing.M) {
	if env, ok := os.LookupEnv(childEnv); ok {
		os.Exit(childMain(env))
	}
	os.Exit(m.Run())
}

// ---- tests ----

func TestParseRaw(t *testing.T) {
	raw := `PeriodType: cpu nanoseconds
Period: 10000000
Samples:
samples/count cpu/nanoseconds
          2   20000000: 1 2 3
          1   10000000: 4 5
          1   10000000: 6 7
Locations
     1: 0x1 M=1 runtime.futex /go/src/runtime/sys_linux_amd64.s:557:0 s=0
     2: 0x2 M=1 runtime.futexwakeup /go/src/runtime/os_linux.go:1:0 s=0
     3: 0x3 M=1 github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine.(*writer).flush /r/rt/internal/engine/transport.go:1:0 s=0
     4: 0x4 M=1 capnproto.org/go/capnp/v3.(*Segment).writePtr /m/capnproto.org/go/capnp/v3@v3.1.0-alpha.2/segment.go:1:0 s=0
     5: 0x5 M=1 github.com/bitcoin-ipc/bitcoin-ipc/rt.(*Conn).call /r/rt/client.go:1:0 s=0
     6: 0x6 M=1 runtime.findRunnable /go/src/runtime/proc.go:1:0 s=0
             runtime.schedule /go/src/runtime/proc.go:2:0 s=0
     7: 0x7 M=1 runtime.mcall /go/src/runtime/asm_amd64.s:1:0 s=0
Mappings
`
	b, err := parseRaw(raw, valueCPU)
	if err != nil {
		t.Fatal(err)
	}
	if b.TotalNs != 40_000_000 || b.Samples != 4 {
		t.Fatalf("total %d ns, %d samples", b.TotalNs, b.Samples)
	}
	check := func(owner, kind string, ns int64) {
		t.Helper()
		if got := b.ByOwner[owner][kind]; got != ns {
			t.Errorf("%s/%s = %d, want %d (%v)", owner, kind, got, ns, b.ByOwner)
		}
	}
	check(ownDispatch, kindKernel, 20_000_000)
	check(ownEncoding, kindOwn, 10_000_000)
	check(ownSched, kindSched, 10_000_000)
}

// TestSmoke runs a floor and a Go<->Go echo pairing with tiny counts and
// renders the report.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	cfg := quickConfig(DefaultConfig())
	cfg.N, cfg.TputN, cfg.Threads = 20, 20, []int{1, 2}
	r := &runner{cfg: cfg, res: &Results{Config: cfg, Pairs: map[string][]PairResult{}, Errors: map[string]string{}}}
	for _, key := range []string{pFloor, pEchoGoGo} {
		pr, err := r.pair(key)
		if err != nil {
			t.Fatal(err)
		}
		if pr.P50us <= 0 || pr.N != cfg.N {
			t.Fatalf("%s: %+v", key, pr)
		}
		if key == pEchoGoGo && (pr.Server == nil || pr.Server.Calls != int64(cfg.N) || len(pr.Throughput) != 2) {
			t.Fatalf("%s: server %+v, throughput %+v", key, pr.Server, pr.Throughput)
		}
		r.res.Pairs[key] = append(r.res.Pairs[key], pr)
	}
	md := Render(r.res, readMachine())
	for _, want := range []string{"## Targets", "Echo p50 (v32, Go↔Go) vs the socket floor", "## Where the time goes"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// ---- benchmarks ----

func benchRunner(b *testing.B, n int) *runner {
	b.Helper()
	cfg := DefaultConfig()
	cfg.N, cfg.Threads = n, nil
	return &runner{cfg: cfg}
}

func withPeer(b *testing.B, r *runner) {
	b.Helper()
	bin, err := cpppeer.Build()
	if err != nil {
		b.Fatalf("building the C++ peer: %v", err)
	}
	r.peer = bin
}

// baseline measures a pairing once per benchmark function call.
func baseline(b *testing.B, r *runner, key string) PairResult {
	b.Helper()
	pr, err := r.pair(key)
	if err != nil {
		b.Fatal(err)
	}
	return pr
}

// inProcess connects this process as the client of server and prepares
// the call s names.
func inProcess(b *testing.B, server command, s spec) *caller {
	b.Helper()
	nc, stop, err := startServer(server)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	conn, err := ipcConnect(ctx, nc, s.Schema)
	if err != nil {
		stop()
		b.Fatal(err)
	}
	c, err := newCaller(ctx, conn, s)
	if err != nil {
		conn.Close()
		stop()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		c.close()
		conn.Close()
		if err := stop(); err != nil {
			b.Error(err)
		}
	})
	for i := 0; i < 100; i++ {
		if err := c.call(ctx, i); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// timeCalls makes b.N sequential calls and returns their latencies.
func timeCalls(b *testing.B, c *caller) Latency {
	b.Helper()
	ctx := context.Background()
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range lat {
		t0 := time.Now()
		if err := c.call(ctx, i); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(t0)
	}
	b.StopTimer()
	return summarize(lat)
}

func goServer(b *testing.B, schema, fill string) command {
	b.Helper()
	c, err := goChild(spec{Role: roleIPCServer, Schema: schema, Fill: fill})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkEchoVsFloor: v32 Echo.echo round trips (generated client in
// this process, generated server adapter in a child) against a raw
// socket ping-pong of the same payload between two child processes.
func BenchmarkEchoVsFloor(b *testing.B) {
	r := benchRunner(b, 2000)
	floor := baseline(b, r, pFloor)
	c := inProcess(b, goServer(b, "v32", ""), spec{Schema: "v32", Payload: r.cfg.Payload})
	l := timeCalls(b, c)
	b.ReportMetric(l.P50us, "p50-µs")
	b.ReportMetric(floor.P50us, "floor-p50-µs")
	b.ReportMetric(l.P50us/floor.P50us, "x-floor")
}

// BenchmarkGoCppVsCppCpp: Calc.add from a Go client (this process) to
// the C++ server, against the C++ client to the C++ server; latency and
// client CPU per call.
func BenchmarkGoCppVsCppCpp(b *testing.B) {
	r := benchRunner(b, 2000)
	withPeer(b, r)
	ref := baseline(b, r, pAddCppCpp)
	srv, _ := r.cppServer()
	c := inProcess(b, srv, spec{Schema: "rttest"})
	cpu0 := cpuTime()
	l := timeCalls(b, c)
	cpu := float64((cpuTime() - cpu0).Nanoseconds()) / 1e3 / float64(b.N)
	b.ReportMetric(l.P50us, "p50-µs")
	b.ReportMetric(ref.P50us, "cpp-p50-µs")
	b.ReportMetric(l.P50us/ref.P50us, "x-cpp")
	b.ReportMetric(cpu, "cpu-µs/op")
	b.ReportMetric(cpu/ref.CPUusPerCall, "x-cpp-cpu")
}

// BenchmarkThroughput4vs1: Calc.add Go<->Go with 4 goroutines in flight
// against 1, b.N calls each.
func BenchmarkThroughput4vs1(b *testing.B) {
	c := inProcess(b, goServer(b, "rttest", ""), spec{Schema: "rttest"})
	ctx := context.Background()
	b.ResetTimer()
	t1, err := throughput(ctx, c, 1, b.N)
	if err != nil {
		b.Fatal(err)
	}
	t4, err := throughput(ctx, c, 4, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(t1.CallsPerS, "calls/s-1")
	b.ReportMetric(t4.CallsPerS, "calls/s-4")
	b.ReportMetric(t4.CallsPerS/t1.CallsPerS, "x-1-thread")
}

// BenchmarkGetBlock4MBVsSocket: getBlock of the ~4 MB block against the
// same bytes over a raw socket between two processes.
func BenchmarkGetBlock4MBVsSocket(b *testing.B) {
	c := inProcess(b, goServer(b, "v32", fill4MB), spec{Schema: "v32", Op: "getblock"})
	l := timeCalls(b, c)
	size := c.block().SerializeSize()
	srv, err := goChild(spec{Role: roleBlobServer, Size: size})
	if err != nil {
		b.Fatal(err)
	}
	cli, err := goChild(spec{Role: roleBlobClient, Size: size, N: 20})
	if err != nil {
		b.Fatal(err)
	}
	out, err := runPair(srv, cli, time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	var fr FloorResult
	if err := parseGoResult(out, &fr); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	g, s := mbps(size, l.P50us), mbps(size, fr.P50us)
	b.ReportMetric(g, "MB/s-p50")
	b.ReportMetric(s, "socket-MB/s")
	b.ReportMetric(g/s, "x-socket")
}

// BenchmarkAllocsPerCall: allocations per v32 Echo.echo in this process
// (the client: -benchmem's allocs/op) and in the Go server (its MemStats
// between marks), against the target of 15.
func BenchmarkAllocsPerCall(b *testing.B) {
	c := inProcess(b, goServer(b, "v32", ""), spec{Schema: "v32", Payload: 16})
	ctx := context.Background()
	if _, err := c.mark(ctx, markStart); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	timeCalls(b, c)
	out, err := c.mark(ctx, markStop)
	if err != nil {
		b.Fatal(err)
	}
	st, err := parseServerStats(out)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(st.AllocsPerCall, "server-allocs/op")
	b.ReportMetric(st.BytesPerCall, "server-B/op")
	b.ReportMetric(st.CPUusPerCall, "server-cpu-µs/op")
	b.ReportMetric(st.AllocsPerCall/15, "server-x-target")
}

var genReqs = sync.OnceValues(func() (map[string][]byte, error) {
	root, err := cpppeer.ModuleRoot()
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	paths, _ := filepath.Glob(filepath.Join(root, "golden", "requests", "*.bin"))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out[p] = data
	}
	return out, nil
})

// BenchmarkGenerateAllSets: generating every committed schema set,
// against the 1 s target.
func BenchmarkGenerateAllSets(b *testing.B) {
	reqs, err := genReqs()
	if err != nil || len(reqs) == 0 {
		b.Fatalf("requests: %v (%d)", err, len(reqs))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for p, data := range reqs {
			if _, err := generator.GenerateBytes(data, generator.Options{}); err != nil {
				b.Fatal(p, err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "x-1s")
	b.ReportMetric(float64(len(reqs)), "sets")
}
