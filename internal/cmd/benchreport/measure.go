package main

// The measurements, run from the parent process: each spawns a server
// and a client child (Go, this program re-executed, or the C++ peer) on a
// socketpair and collects the client's figures.

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/cpppeer"
)

// Config sizes a run.
type Config struct {
	Rounds   int     // interleaved rounds of the round-trip pairings; medians are reported
	N        int     // sequential calls (or ping-pongs) timed per pairing and round
	TputN    int     // calls per throughput point
	Threads  []int   // goroutines (C++: chains) in flight per throughput point
	Payload  int     // echo payload and floor message size, bytes
	BlockN   int     // getBlock calls per block size
	ProfSecs float64 // seconds of the profiled echo loop
	ProfHz   int     // its sampling rate
	GenRuns  int     // generator runs over every schema set
	Timeout  time.Duration
	Only     string    // comma-separated areas to run (pairs, blocks, gen, profile); "" for all
	Progress io.Writer // progress lines; nil for none
}

// DefaultConfig is what make bench runs (about two minutes on 2 vCPUs).
func DefaultConfig() Config {
	return Config{
		Rounds:   5,
		N:        5000,
		TputN:    8000,
		Threads:  []int{1, 2, 4, 8},
		Payload:  16,
		BlockN:   30,
		ProfSecs: 5,
		ProfHz:   100, // the kernel's CPU timers lose samples above its tick rate
		GenRuns:  3,
		Timeout:  2 * time.Minute,
	}
}

func (c Config) runs(area string) bool {
	return c.Only == "" || slices.Contains(strings.Split(c.Only, ","), area)
}

// Pairing keys.
const (
	pFloor         = "floor"
	pFloorBlocking = "floor-blocking"
	pEchoGoGo      = "v32-echo-go-go"
	pEchoGoGo1P    = "v32-echo-go-go-1p"
	pAddGoGo       = "add-go-go"
	pAddGoCpp      = "add-go-cpp"
	pAddCppGo      = "add-cpp-go"
	pAddCppCpp     = "add-cpp-cpp"
)

// pairings in the order they run in each round and appear in tables.
var pairings = []struct{ key, name string }{
	{pFloor, "raw socket ping-pong, Go netpoller (the floor)"},
	{pFloorBlocking, "raw socket ping-pong, blocking read(2)/write(2)"},
	{pEchoGoGo, "v32 Echo.echo, Go client → Go server (generated code)"},
	{pEchoGoGo1P, "v32 Echo.echo, Go → Go, GOMAXPROCS=1 in both"},
	{pAddGoGo, "rttest Calc.add, Go client → Go server"},
	{pAddGoCpp, "rttest Calc.add, Go client → C++ server"},
	{pAddCppGo, "rttest Calc.add, C++ client → Go server"},
	{pAddCppCpp, "rttest Calc.add, C++ client → C++ server (reference)"},
}

// PairResult is one round of one pairing.
type PairResult struct {
	Latency
	CPUusPerCall  float64
	GoClient      bool // AllocsPerCall and BytesPerCall are set
	AllocsPerCall float64
	BytesPerCall  float64
	Server        *ServerStats
	Throughput    []Tput
}

// BlockResult is getBlock against raw transfer and memcpy for one block.
type BlockResult struct {
	Fill       string
	Bytes, Txs int
	GetBlock   Latency // decoded into a *wire.MsgBlock
	Raw        Latency // GetBlockBytes: the serialization as received
	ClientCPU  float64 // µs per getBlock
	Allocs     float64 // client allocations per getBlock
	Server     *ServerStats
	EncodeUs   float64
	DecodeUs   float64
	Socket     Latency // the same bytes over a raw socket
	Memcpy     Latency // copy() of the same bytes
}

// GenResult is the generator's time per schema set and in total.
type GenResult struct {
	Sets     []string
	PerSet   map[string]time.Duration // median over runs
	Totals   []time.Duration          // per run, in order
	Files    int
	OutBytes int
}

// Results is everything one run measured.
type Results struct {
	Config   Config
	Started  time.Time
	Elapsed  time.Duration
	Pairs    map[string][]PairResult // by pairing key, one per round
	Errors   map[string]string       // pairing or area -> first error
	Blocks   []BlockResult
	Gen      *GenResult
	Profiles *ProfileResult
}

type runner struct {
	cfg   Config
	peer  string // C++ peer binary ("" if it failed to build)
	t0    time.Time
	res   *Results
	pdir  string
	round int
}

func (r *runner) logf(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "[%6.1fs] %s\n", time.Since(r.t0).Seconds(), fmt.Sprintf(format, args...))
	}
}

func (r *runner) fail(key string, err error) {
	r.logf("%s: FAILED: %v", key, err)
	if _, ok := r.res.Errors[key]; !ok {
		r.res.Errors[key] = summaryLine(err.Error())
	}
}

// summaryLine is the first line of an error, with the child's first
// FAIL line when there is one.
func summaryLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	out := lines[0]
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "FAIL") || strings.Contains(l, "panic") {
			out += ": " + strings.TrimSpace(l)
			break
		}
	}
	if len(out) > 300 {
		out = out[:300] + "…"
	}
	return out
}

// Run measures everything cfg asks for.
func Run(cfg Config) *Results {
	r := &runner{cfg: cfg, t0: time.Now(), res: &Results{
		Config: cfg, Started: time.Now(), Pairs: map[string][]PairResult{}, Errors: map[string]string{},
	}}
	r.logf("building the C++ peer (cached after the first build)")
	if bin, err := cpppeer.Build(); err != nil {
		r.fail("C++ peer", err)
	} else {
		r.peer = bin
	}
	for r.round = 1; r.round <= cfg.Rounds && cfg.runs("pairs"); r.round++ {
		for _, p := range pairings {
			r.logf("round %d/%d: %s", r.round, cfg.Rounds, p.name)
			pr, err := r.pair(p.key)
			if err != nil {
				r.fail(p.key, err)
				continue
			}
			r.res.Pairs[p.key] = append(r.res.Pairs[p.key], pr)
		}
	}
	for _, fill := range []string{fill1MB, fill4MB} {
		if !cfg.runs("blocks") {
			break
		}
		r.logf("getBlock %s", fill)
		b, err := r.block(fill)
		if err != nil {
			r.fail("getBlock "+fill, err)
			continue
		}
		r.res.Blocks = append(r.res.Blocks, b)
	}
	if cfg.runs("gen") {
		r.logf("generator")
		if g, err := measureGenerator(cfg.GenRuns); err != nil {
			r.fail("generator", err)
		} else {
			r.res.Gen = g
		}
	}
	if cfg.runs("profile") {
		r.logf("CPU profiles of the v32 echo loop (%gs)", cfg.ProfSecs)
		if p, err := r.profile(); err != nil {
			r.fail("profile", err)
		} else {
			r.res.Profiles = p
		}
	}
	r.res.Elapsed = time.Since(r.t0)
	r.logf("done")
	return r.res
}

func (r *runner) goServer(schema, fill string) (command, error) {
	return goChild(spec{Role: roleIPCServer, Schema: schema, Fill: fill})
}

func (r *runner) cppServer() (command, error) {
	if r.peer == "" {
		return command{}, fmt.Errorf("no C++ peer")
	}
	return cppChild(r.peer, "bench-server"), nil
}

func (r *runner) pair(key string) (PairResult, error) {
	cfg := r.cfg
	switch key {
	case pFloor, pFloorBlocking:
		blocking := key == pFloorBlocking
		srv, err := goChild(spec{Role: roleFloorServer, Size: cfg.Payload, Blocking: blocking})
		if err != nil {
			return PairResult{}, err
		}
		cli, err := goChild(spec{Role: roleFloorClient, Size: cfg.Payload, N: cfg.N, Blocking: blocking})
		if err != nil {
			return PairResult{}, err
		}
		out, err := runPair(srv, cli, cfg.Timeout)
		if err != nil {
			return PairResult{}, err
		}
		var fr FloorResult
		if err := parseGoResult(out, &fr); err != nil {
			return PairResult{}, err
		}
		return PairResult{Latency: fr.Latency, CPUusPerCall: fr.CPUusPerCall}, nil
	case pEchoGoGo:
		srv, err := r.goServer("v32", "")
		if err != nil {
			return PairResult{}, err
		}
		return r.goClient(srv, spec{Schema: "v32", Payload: cfg.Payload, Marks: true})
	case pEchoGoGo1P:
		srv, err := goChild(spec{Role: roleIPCServer, Schema: "v32", Procs: 1})
		if err != nil {
			return PairResult{}, err
		}
		return r.goClient(srv, spec{Schema: "v32", Payload: cfg.Payload, Marks: true, Procs: 1})
	case pAddGoGo:
		srv, err := r.goServer("rttest", "")
		if err != nil {
			return PairResult{}, err
		}
		return r.goClient(srv, spec{Schema: "rttest", Marks: true})
	case pAddGoCpp:
		srv, err := r.cppServer()
		if err != nil {
			return PairResult{}, err
		}
		return r.goClient(srv, spec{Schema: "rttest"})
	case pAddCppGo:
		return r.cppClient(func() (command, error) { return r.goServer("rttest", "") })
	case pAddCppCpp:
		return r.cppClient(r.cppServer)
	}
	return PairResult{}, fmt.Errorf("unknown pairing %q", key)
}

// runGoClient runs a Go IPC client of spec s against srv and reads its
// result.
func (r *runner) runGoClient(srv command, s spec) (ClientResult, error) {
	var cr ClientResult
	cli, err := goChild(s)
	if err != nil {
		return cr, err
	}
	out, err := runPair(srv, cli, r.cfg.Timeout)
	if err != nil {
		return cr, err
	}
	err = parseGoResult(out, &cr)
	return cr, err
}

// goClient runs the Go IPC client (latency, then throughput) against srv.
func (r *runner) goClient(srv command, s spec) (PairResult, error) {
	s.Role, s.Op = roleIPCClient, "calls"
	s.N, s.TputN, s.Threads = r.cfg.N, r.cfg.TputN, r.cfg.Threads
	cr, err := r.runGoClient(srv, s)
	if err != nil {
		return PairResult{}, err
	}
	return PairResult{
		Latency: cr.Latency, CPUusPerCall: cr.CPUusPerCall,
		GoClient: true, AllocsPerCall: cr.AllocsPerCall, BytesPerCall: cr.BytesPerCall,
		Server: cr.Server, Throughput: cr.Throughput,
	}, nil
}

// cppClient runs the C++ bench client (latency), then its multi-chain
// client (throughput), each against a fresh server.
func (r *runner) cppClient(server func() (command, error)) (PairResult, error) {
	if r.peer == "" {
		return PairResult{}, fmt.Errorf("no C++ peer")
	}
	srv, err := server()
	if err != nil {
		return PairResult{}, err
	}
	out, err := runPair(srv, cppChild(r.peer, "bench-client", strconv.Itoa(r.cfg.N)), r.cfg.Timeout)
	if err != nil {
		return PairResult{}, err
	}
	rs, err := cpppeer.ParseResults(out)
	if err != nil {
		return PairResult{}, err
	}
	pr := PairResult{
		Latency:      Latency{P50us: rs[0]["p50_us"], P99us: rs[0]["p99_us"], N: int(rs[0]["n"])},
		CPUusPerCall: rs[0]["cpu_us_per_call"],
	}
	if len(r.cfg.Threads) == 0 {
		return pr, nil
	}
	var ts []string
	for _, t := range r.cfg.Threads {
		ts = append(ts, strconv.Itoa(t))
	}
	if srv, err = server(); err != nil {
		return PairResult{}, err
	}
	out, err = runPair(srv, cppChild(r.peer, "bench-client-mt", strconv.Itoa(r.cfg.TputN), strings.Join(ts, ",")), r.cfg.Timeout)
	if err != nil {
		return PairResult{}, err
	}
	if rs, err = cpppeer.ParseResults(out); err != nil {
		return PairResult{}, err
	}
	for _, x := range rs {
		pr.Throughput = append(pr.Throughput, Tput{
			Threads: int(x["threads"]), CallsPerS: x["calls_per_s"], CPUusPerCall: x["cpu_us_per_call"], N: int(x["n"]),
		})
	}
	return pr, nil
}

// block measures getBlock on a template of the given fill, the same
// bytes over a raw socket, and memcpy.
func (r *runner) block(fill string) (BlockResult, error) {
	n := r.cfg.BlockN
	srv, err := r.goServer("v32", fill)
	if err != nil {
		return BlockResult{}, err
	}
	cr, err := r.runGoClient(srv, spec{Role: roleIPCClient, Schema: "v32", Op: "getblock", N: n, Marks: true})
	if err != nil {
		return BlockResult{}, err
	}
	b := BlockResult{
		Fill: fill, Bytes: cr.BlockBytes, Txs: cr.BlockTxs, GetBlock: cr.Latency,
		ClientCPU: cr.CPUusPerCall, Allocs: cr.AllocsPerCall, EncodeUs: cr.EncodeUs, DecodeUs: cr.DecodeUs,
		Server: cr.Server,
	}
	if srv, err = r.goServer("v32", fill); err != nil {
		return BlockResult{}, err
	}
	raw, err := r.runGoClient(srv, spec{Role: roleIPCClient, Schema: "v32", Op: "getblockbytes", N: n})
	if err != nil {
		return BlockResult{}, err
	}
	b.Raw = raw.Latency
	if srv, err = goChild(spec{Role: roleBlobServer, Size: b.Bytes}); err != nil {
		return BlockResult{}, err
	}
	cli, err := goChild(spec{Role: roleBlobClient, Size: b.Bytes, N: n})
	if err != nil {
		return BlockResult{}, err
	}
	out, err := runPair(srv, cli, r.cfg.Timeout)
	if err != nil {
		return BlockResult{}, err
	}
	var fr FloorResult
	if err := parseGoResult(out, &fr); err != nil {
		return BlockResult{}, err
	}
	b.Socket = fr.Latency
	b.Memcpy = memcpy(b.Bytes, max(n, 20))
	return b, nil
}

// memcpy times copy() of size bytes between two buffers.
func memcpy(size, n int) Latency {
	src, dst := make([]byte, size), make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	copy(dst, src)
	lat := make([]time.Duration, n)
	for i := range lat {
		t0 := time.Now()
		copy(dst, src)
		lat[i] = time.Since(t0)
	}
	return summarize(lat)
}

// measureGenerator times generator.GenerateBytes on every committed request
// (golden/requests/*.bin), runs times.
func measureGenerator(runs int) (*GenResult, error) {
	root, err := cpppeer.ModuleRoot()
	if err != nil {
		return nil, err
	}
	paths, err := filepath.Glob(filepath.Join(root, "golden", "requests", "*.bin"))
	if err != nil || len(paths) == 0 {
		return nil, fmt.Errorf("no golden/requests/*.bin under %s", root)
	}
	slices.Sort(paths)
	g := &GenResult{PerSet: map[string]time.Duration{}}
	reqs := map[string][]byte{}
	for _, p := range paths {
		set := strings.TrimSuffix(filepath.Base(p), ".bin")
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		g.Sets = append(g.Sets, set)
		reqs[set] = b
	}
	per := map[string][]time.Duration{}
	for i := 0; i < max(runs, 1); i++ {
		var total time.Duration
		files, size := 0, 0
		for _, set := range g.Sets {
			t0 := time.Now()
			out, err := generator.GenerateBytes(reqs[set], generator.Options{})
			d := time.Since(t0)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", set, err)
			}
			per[set] = append(per[set], d)
			total += d
			files += len(out)
			for _, f := range out {
				size += len(f.Content)
			}
		}
		g.Totals = append(g.Totals, total)
		g.Files, g.OutBytes = files, size
	}
	for set, ds := range per {
		g.PerSet[set] = medianDur(ds)
	}
	return g, nil
}

func medianDur(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// profile runs the v32 echo loop and the getBlock loop on the 4 MB
// block for ProfSecs each with CPU profiles of the Go client and the Go
// server, and breaks them down.
func (r *runner) profile() (*ProfileResult, error) {
	dir := filepath.Join(os.TempDir(), "bitcoin-ipc-bench-profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	res := &ProfileResult{Dir: dir}
	for _, p := range []struct {
		name, file string
		server     spec
		client     spec
	}{
		{"v32 Echo.echo", "echo", spec{Schema: "v32"}, spec{Schema: "v32", Op: "calls", Payload: r.cfg.Payload, N: r.cfg.N}},
		{"getBlock, 4 MB block", "getblock", spec{Schema: "v32", Fill: fill4MB}, spec{Schema: "v32", Op: "getblock", N: 10}},
	} {
		run := ProfileRun{Name: p.name}
		cpath, spath := filepath.Join(dir, p.file+"-client.pprof"), filepath.Join(dir, p.file+"-server.pprof")
		ss, cs := p.server, p.client
		ss.Role, ss.Profile, ss.ProfHz = roleIPCServer, spath, r.cfg.ProfHz
		cs.Role, cs.Marks, cs.Profile, cs.ProfHz, cs.ProfSecs = roleIPCClient, true, cpath, r.cfg.ProfHz, r.cfg.ProfSecs
		srv, err := goChild(ss)
		if err != nil {
			return nil, err
		}
		cli, err := goChild(cs)
		if err != nil {
			return nil, err
		}
		out, err := runPair(srv, cli, r.cfg.Timeout)
		if err != nil {
			return nil, err
		}
		var cr ClientResult
		if err := parseGoResult(out, &cr); err != nil {
			return nil, err
		}
		run.Calls, run.Latency, run.ClientCPU = cr.N, cr.Latency, cr.CPUusPerCall
		if cr.Server != nil {
			run.ServerCPU = cr.Server.CPUusPerCall
		}
		if run.Client, err = analyzeProfile(cpath); err != nil {
			return nil, err
		}
		if run.Server, err = analyzeProfile(spath); err != nil {
			return nil, err
		}
		res.Runs = append(res.Runs, run)
	}
	a, err := r.allocProfile(dir)
	if err != nil {
		return nil, err
	}
	res.Allocs = a
	return res, nil
}

// allocProfile samples every allocation of the Go client and the Go
// server over sequential v32 echo calls and breaks them down by owner.
func (r *runner) allocProfile(dir string) (*AllocRun, error) {
	cpre, spre := filepath.Join(dir, "echo-allocs-client"), filepath.Join(dir, "echo-allocs-server")
	srv, err := goChild(spec{Role: roleIPCServer, Schema: "v32", AllocProfile: spre})
	if err != nil {
		return nil, err
	}
	cli, err := goChild(spec{Role: roleIPCClient, Schema: "v32", Op: "calls", Payload: r.cfg.Payload,
		N: min(r.cfg.N, 2000), Marks: true, AllocProfile: cpre})
	if err != nil {
		return nil, err
	}
	out, err := runPair(srv, cli, r.cfg.Timeout)
	if err != nil {
		return nil, err
	}
	var cr ClientResult
	if err := parseGoResult(out, &cr); err != nil {
		return nil, err
	}
	a := &AllocRun{Calls: cr.N}
	if cr.Server != nil {
		a.ServerCalls = int(cr.Server.Calls)
	}
	diff := func(prefix string) (*Breakdown, error) {
		b0, err := analyze(prefix+"-0.pprof", valueAllocs)
		if err != nil {
			return nil, err
		}
		b1, err := analyze(prefix+"-1.pprof", valueAllocs)
		if err != nil {
			return nil, err
		}
		return b1.sub(b0), nil
	}
	if a.Client, err = diff(cpre); err != nil {
		return nil, err
	}
	if a.Server, err = diff(spre); err != nil {
		return nil, err
	}
	return a, nil
}
