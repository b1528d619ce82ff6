package main

// Rendering BENCHMARKS.md: the targets, one table per area, and where
// the time goes.

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// Machine describes where the run happened.
type Machine struct {
	CPUs       int
	GOMAXPROCS int
	Model      string
	Kernel     string
	Go         string
	GoCapnp    string
	Capnp      string
	Gxx        string
	LoadAvg    string
}

func readMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.Join(strings.Fields(string(b))[:min(3, len(strings.Fields(string(b))))], " ")
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "capnproto.org/go/capnp/v3" {
				m.GoCapnp = d.Version
			}
		}
	}
	first := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			return "?"
		}
		l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return l
	}
	m.Capnp = first("capnp", "--version")
	m.Gxx = first("g++", "--version")
	return m
}

// ---- aggregation over rounds ----

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// field is the median over rounds of f for pairing key (NaN without data).
func (r *Results) field(key string, f func(PairResult) (float64, bool)) float64 {
	var xs []float64
	for _, p := range r.Pairs[key] {
		if v, ok := f(p); ok {
			xs = append(xs, v)
		}
	}
	return median(xs)
}

func (r *Results) spread(key string, f func(PairResult) float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range r.Pairs[key] {
		lo, hi = math.Min(lo, f(p)), math.Max(hi, f(p))
	}
	return lo, hi
}

// ratio is the median over rounds of f(a)/f(b), each round's pair
// measured minutes apart at most.
func (r *Results) ratio(a, b string, f func(PairResult) float64) float64 {
	pa, pb := r.Pairs[a], r.Pairs[b]
	var xs []float64
	for i := 0; i < min(len(pa), len(pb)); i++ {
		if d := f(pb[i]); d > 0 {
			xs = append(xs, f(pa[i])/d)
		}
	}
	return median(xs)
}

func p50(p PairResult) float64 { return p.P50us }
func p99(p PairResult) float64 { return p.P99us }
func cpu(p PairResult) float64 { return p.CPUusPerCall }

func tputAt(t int) func(PairResult) (float64, bool) {
	return func(p PairResult) (float64, bool) {
		for _, x := range p.Throughput {
			if x.Threads == t {
				return x.CallsPerS, true
			}
		}
		return 0, false
	}
}

func always(f func(PairResult) float64) func(PairResult) (float64, bool) {
	return func(p PairResult) (float64, bool) { return f(p), true }
}

// ---- targets ----

// Target is one goal and how the run did against it.
type Target struct {
	Area     string
	Measured string
	Baseline string
	Ratio    string
	Goal     string
	Status   string // met, missed, n/a
}

func status(ok bool, valid bool) string {
	switch {
	case !valid:
		return "n/a"
	case ok:
		return "met"
	}
	return "**missed**"
}

func fmtX(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x)
}

func fmtUs(x float64) string {
	switch {
	case math.IsNaN(x):
		return "–"
	case x >= 1000:
		return fmt.Sprintf("%.2f ms", x/1000)
	case x >= 100:
		return fmt.Sprintf("%.0f µs", x)
	}
	return fmt.Sprintf("%.1f µs", x)
}

func fmtNum(x float64, unit string) string {
	if math.IsNaN(x) {
		return "–"
	}
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f%s", x, unit)
	case x >= 10:
		return fmt.Sprintf("%.1f%s", x, unit)
	}
	return fmt.Sprintf("%.2f%s", x, unit)
}

func mbps(bytes int, us float64) float64 { return float64(bytes) / us } // bytes/µs = MB/s

func (r *Results) block(fill string) *BlockResult {
	for i := range r.Blocks {
		if r.Blocks[i].Fill == fill {
			return &r.Blocks[i]
		}
	}
	return nil
}

func (r *Results) serverField(key string, f func(ServerStats) float64) float64 {
	return r.field(key, func(p PairResult) (float64, bool) {
		if p.Server == nil {
			return 0, false
		}
		return f(*p.Server), true
	})
}

// Targets evaluates the goals.
func (r *Results) Targets() []Target {
	var ts []Target
	floor := r.field(pFloor, always(p50))

	echo := r.field(pEchoGoGo, always(p50))
	x := r.ratio(pEchoGoGo, pFloor, p50)
	ts = append(ts, Target{"Echo p50 (v32, Go↔Go) vs the socket floor", fmtUs(echo), fmtUs(floor) + " floor p50", fmtX(x), "≤ 3×", status(x <= 3, valid(x))})

	cc := r.field(pAddCppCpp, always(p50))
	for _, k := range []struct{ key, name string }{{pAddGoCpp, "Go client → C++ server"}, {pAddCppGo, "C++ client → Go server"}} {
		v := r.field(k.key, always(p50))
		x := r.ratio(k.key, pAddCppCpp, p50)
		ts = append(ts, Target{"Calc.add p50, " + k.name + " vs C++↔C++", fmtUs(v), fmtUs(cc) + " C++↔C++", fmtX(x), "≤ 1.0×", status(x <= 1, valid(x))})
	}

	for _, k := range []struct{ goKey, cppKey, server string }{{pAddGoCpp, pAddCppCpp, "C++"}, {pAddGoGo, pAddCppGo, "Go"}} {
		gcpu := r.field(k.goKey, always(cpu))
		ccpu := r.field(k.cppKey, always(cpu))
		x = r.ratio(k.goKey, k.cppKey, cpu)
		ts = append(ts, Target{"Client CPU per call, Go client vs C++ client (both → " + k.server + " server)", fmtUs(gcpu), fmtUs(ccpu) + " C++ client", fmtX(x), "≤ 1.0×", status(x <= 1, valid(x))})
	}

	for _, key := range []string{pEchoGoGo, pAddGoGo} {
		t1 := r.field(key, tputAt(1))
		t4 := r.field(key, tputAt(4))
		x = t4 / t1
		name := "v32 Echo Go↔Go"
		if key == pAddGoGo {
			name = "Calc.add Go↔Go"
		}
		ts = append(ts, Target{"Throughput, 4 threads vs 1 (" + name + ")", fmtNum(t4, " calls/s"), fmtNum(t1, " calls/s") + " at 1", fmtX(x), "≥ 3×", status(x >= 3, valid(x))})
	}

	if b := r.block(fill4MB); b != nil {
		g, s := mbps(b.Bytes, b.Raw.P50us), mbps(b.Bytes, b.Socket.P50us)
		x = g / s
		ts = append(ts, Target{fmt.Sprintf("getBlock %.2f MB, raw bytes (GetBlockBytes) vs raw socket bandwidth", float64(b.Bytes)/1e6), fmtNum(g, " MB/s"), fmtNum(s, " MB/s") + " socket", fmtX(x), "≥ 0.5×", status(x >= 0.5, valid(x))})
		floor := b.DecodeUs + b.Socket.P50us
		x = b.GetBlock.P50us / floor
		ts = append(ts, Target{fmt.Sprintf("getBlock %.2f MB, decoded *wire.MsgBlock vs btcd decode + raw socket transfer", float64(b.Bytes)/1e6), fmtUs(b.GetBlock.P50us), fmtUs(floor) + " decode + transfer", fmtX(x), "≤ 1.5×", status(x <= 1.5, valid(x))})
	} else {
		ts = append(ts, Target{"getBlock 4 MB vs raw socket bandwidth", "–", "–", "–", "≥ 0.5×", "n/a"})
	}

	for _, side := range []string{"client", "server"} {
		var a float64
		if side == "client" {
			a = r.field(pEchoGoGo, func(p PairResult) (float64, bool) { return p.AllocsPerCall, p.GoClient })
		} else {
			a = r.serverField(pEchoGoGo, func(s ServerStats) float64 { return s.AllocsPerCall })
		}
		ts = append(ts, Target{"Allocations per context call (v32 Echo), " + side, fmtNum(a, ""), "15", fmtX(a / 15), "≤ 15", status(a <= 15, valid(a))})
	}

	if r.Gen != nil {
		med := medianDur(r.Gen.Totals)
		x = med.Seconds() / 1
		ts = append(ts, Target{fmt.Sprintf("Generating every schema set (%d sets)", len(r.Gen.Sets)), med.Round(time.Millisecond).String(), "1 s", fmtX(x), "< 1 s", status(med < time.Second, true)})
	}
	return ts
}

// ---- rendering ----

type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(b *strings.Builder) {
	b.WriteString("| " + strings.Join(t.head, " | ") + " |\n")
	seps := make([]string, len(t.head))
	for i := range seps {
		seps[i] = "---"
		if i > 0 {
			seps[i] = "--:"
		}
	}
	b.WriteString("|" + strings.Join(seps, "|") + "|\n")
	for _, r := range t.rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	b.WriteString("\n")
}

// Render writes the report.
func Render(r *Results, m Machine) string {
	var b strings.Builder
	cfg := r.Config
	fmt.Fprintf(&b, "# Benchmarks\n\n")
	fmt.Fprintf(&b, "Written by `make bench` (`go run ./internal/cmd/benchreport -o BENCHMARKS.md`) on %s in %s. "+
		"Go benchmarks of the same figures, each with its baseline measured in the same run: "+
		"`go test -bench . ./internal/cmd/benchreport/`.\n\n",
		r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Elapsed.Round(time.Second))
	fmt.Fprintf(&b, "**Machine caveat.** %d vCPUs (%s), GOMAXPROCS %d, load average %s at the start; "+
		"the machine is shared with other jobs. Absolute times drift from run to run (waking an idle vCPU "+
		"dominates a round trip here), so read the ratios: each compares figures measured side by side in this run "+
		"(latency ratios are the median over %d interleaved rounds of the per-round ratio). "+
		"Every figure is between two processes on a unix socketpair; the Go ends run in processes of their own, "+
		"so the client's CPU time and allocations are its own. Go %s, go-capnp %s (the codec), %s, %s, Linux %s.\n\n",
		m.CPUs, orUnknown(m.Model), m.GOMAXPROCS, orUnknown(m.LoadAvg), cfg.Rounds, m.Go, m.GoCapnp, m.Capnp, m.Gxx, m.Kernel)

	if len(r.Errors) > 0 {
		b.WriteString("**Failures in this run:**\n\n")
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "- %s: `%s`\n", k, r.Errors[k])
		}
		b.WriteString("\n")
	}

	b.WriteString("## Targets\n\n")
	tt := table{head: []string{"goal", "measured", "baseline", "ratio", "target", ""}}
	for _, t := range r.Targets() {
		tt.add(t.Area, t.Measured, t.Baseline, t.Ratio, t.Goal, t.Status)
	}
	tt.write(&b)
	b.WriteString("The targets are goals, not test assertions. What the misses are made of is in " +
		"[Where the time goes](#where-the-time-goes).\n\n")

	renderLatency(&b, r)
	renderThroughput(&b, r)
	renderCPU(&b, r)
	renderBlocks(&b, r)
	renderAllocs(&b, r)
	renderGen(&b, r)
	renderProfiles(&b, r)
	renderMethod(&b, r)
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Targets, for the area tables.
const (
	goalFloor = 3.0  // echo p50 ≤ 3× the floor
	goalCpp   = 1.0  // Go↔C++ p50, and Go client CPU, ≤ 1× C++
	goalTput  = 3.0  // 4-thread throughput ≥ 3× 1-thread
	goalBlock = 0.5  // getBlock ≥ 50% of raw socket bandwidth
	goalAlloc = 15.0 // allocations per context call
)

func valid(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func renderLatency(b *strings.Builder, r *Results) {
	cfg := r.Config
	fmt.Fprintf(b, "## Round trips\n\n")
	fmt.Fprintf(b, "Sequential calls, one in flight: %d timed per pairing and round after a warm-up, %d rounds, "+
		"medians over rounds. The floor is a %d-byte ping-pong, the size of the echo payload, with Go's netpoller "+
		"(what rt's connections use; an idle Go process spins briefly before it sleeps, so this floor "+
		"rarely pays a wake-up) and with blocking read(2)/write(2) (each side sleeps in the kernel and is woken; "+
		"this one moves most with the machine's load, since an idle vCPU is slow to wake). "+
		"Calc.add (rttest schema) runs in all four pairings, since the C++ peer speaks rttest; "+
		"v32 Echo.echo is the generated Bitcoin Core interface, Go↔Go. The ratios are medians of per-round ratios of p50s.\n\n",
		cfg.N, cfg.Rounds, cfg.Payload)
	t := table{head: []string{"pairing", "p50", "p99", "p50 range over rounds", "×floor", "×blocking floor", "×C++↔C++", "target", ""}}
	for _, p := range pairings {
		if len(r.Pairs[p.key]) == 0 {
			t.add(p.name, "–", "–", "–", "–", "–", "–", "", "")
			continue
		}
		lo, hi := r.spread(p.key, p50)
		xf := r.ratio(p.key, pFloor, p50)
		xc := math.NaN()
		if strings.HasPrefix(p.key, "add-") {
			xc = r.ratio(p.key, pAddCppCpp, p50)
		}
		goal, met := "", ""
		switch p.key {
		case pEchoGoGo:
			goal, met = fmt.Sprintf("≤ %g× floor", goalFloor), status(xf <= goalFloor, valid(xf))
		case pAddGoCpp, pAddCppGo:
			goal, met = fmt.Sprintf("≤ %g× C++↔C++", goalCpp), status(xc <= goalCpp, valid(xc))
		}
		t.add(p.name, fmtUs(r.field(p.key, always(p50))), fmtUs(r.field(p.key, always(p99))),
			fmtUs(lo)+" – "+fmtUs(hi), fmtX(xf), fmtX(r.ratio(p.key, pFloorBlocking, p50)), fmtX(xc), goal, met)
	}
	t.write(b)
}

func renderThroughput(b *strings.Builder, r *Results) {
	cfg := r.Config
	fmt.Fprintf(b, "## Throughput\n\n")
	fmt.Fprintf(b, "Calls per second with T callers in flight, %d calls per point, medians over rounds. "+
		"Go: T goroutines, each on a Thread of the server's that rt leases it (the default). "+
		"C++ (`peer bench-client-mt`): the kj event loop is single-threaded, so T \"threads\" are T concurrent "+
		"chains of calls on one loop, each chain on a server Thread of its own (made with makeThread), "+
		"which is what the server sees from T client threads. The baseline of each row is its own T=1.\n\n", cfg.TputN)
	head := []string{"pairing"}
	for _, th := range cfg.Threads {
		head = append(head, fmt.Sprintf("T=%d", th))
	}
	head = append(head, "T=4 / T=1", "target", "")
	t := table{head: head}
	for _, p := range pairings {
		if strings.HasPrefix(p.key, "floor") {
			continue
		}
		row := []string{p.name}
		for _, th := range cfg.Threads {
			row = append(row, fmtNum(r.field(p.key, tputAt(th)), ""))
		}
		x := r.field(p.key, tputAt(4)) / r.field(p.key, tputAt(1))
		row = append(row, fmtX(x), fmt.Sprintf("≥ %g×", goalTput), status(x >= goalTput, valid(x)))
		t.add(row...)
	}
	t.write(b)
	fmt.Fprintf(b, "With %d vCPUs, client and server share the machine: more than ~2× from concurrency "+
		"can only come from batching several calls per wake-up, not from parallelism.\n\n", runtime.NumCPU())
}

func renderCPU(b *strings.Builder, r *Results) {
	fmt.Fprintf(b, "## CPU per call\n\n")
	b.WriteString("getrusage(RUSAGE_SELF) user+system time of each process over the sequential loop, divided by " +
		"the calls. Client figures are the client process's own; server figures are the Go server's, " +
		"between marks the client sends around its loop. Each Go client is compared with the C++ client " +
		"against the same server: Go → C++ with C++ → C++, Go → Go (Calc.add) with C++ → Go.\n\n")
	t := table{head: []string{"pairing", "client CPU / call", "C++ client, same server", "ratio", "server CPU / call", "target", ""}}
	for _, p := range pairings {
		if len(r.Pairs[p.key]) == 0 {
			continue
		}
		c := r.field(p.key, always(cpu))
		base, x, goal, met := "–", math.NaN(), "", ""
		ref := map[string]string{pAddGoCpp: pAddCppCpp, pAddGoGo: pAddCppGo}[p.key]
		if ref != "" {
			base = fmtUs(r.field(ref, always(cpu)))
			x = r.ratio(p.key, ref, cpu)
			goal, met = fmt.Sprintf("≤ %g×", goalCpp), status(x <= goalCpp, valid(x))
		}
		t.add(p.name, fmtUs(c), base, fmtX(x), fmtUs(r.serverField(p.key, func(s ServerStats) float64 { return s.CPUusPerCall })), goal, met)
	}
	t.write(b)
}

func renderBlocks(b *strings.Builder, r *Results) {
	cfg := r.Config
	fmt.Fprintf(b, "## Payloads: BlockTemplate.getBlock\n\n")
	fmt.Fprintf(b, "A demo node (demonode) serves a template; the Go client calls getBlock %d times, once as "+
		"GetBlockBytes (the serialization as received, the raw bytes path) and once as GetBlock (decoded into a "+
		"`*wire.MsgBlock`), p50s shown. The 1 MB block is FillMempool(1,000,000)'s small "+
		"transactions; a block of those stops at the 4M weight limit near 1.7 MB, so the \"4 MB\" block is 40 "+
		"witness-heavy transactions (97 kB witness items), as real blocks near 4 MB are. The raw socket moves the "+
		"same number of bytes between two Go processes (1-byte request, then the bytes); memcpy is copy() in one process. "+
		"The decoded path's floor is btcd's decode of the same bytes plus the raw socket's transfer.\n\n", cfg.BlockN)
	t := table{head: []string{"block", "txs", "bytes p50", "bytes MB/s", "raw socket MB/s", "ratio", "target", "",
		"decoded p50", "decode + transfer", "ratio", "target", "", "memcpy MB/s"}}
	for _, bl := range r.Blocks {
		g, s, mc := mbps(bl.Bytes, bl.Raw.P50us), mbps(bl.Bytes, bl.Socket.P50us), mbps(bl.Bytes, bl.Memcpy.P50us)
		x := g / s
		floor := bl.DecodeUs + bl.Socket.P50us
		dx := bl.GetBlock.P50us / floor
		t.add(fmt.Sprintf("%s (%d bytes)", bl.Fill, bl.Bytes), fmt.Sprint(bl.Txs), fmtUs(bl.Raw.P50us),
			fmtNum(g, ""), fmtNum(s, ""), fmtX(x), fmt.Sprintf("≥ %g×", goalBlock), status(x >= goalBlock, valid(x)),
			fmtUs(bl.GetBlock.P50us), fmtUs(floor), fmtX(dx), "≤ 1.5×", status(dx <= 1.5, valid(dx)), fmtNum(mc, ""))
	}
	t.write(b)
	b.WriteString("Per getBlock, each side's CPU (getrusage; the server's between marks), btcd's serialisation " +
		"and deserialisation of the same block in one process (the conversion the IPC path makes on each side), " +
		"and allocations (MemStats):\n\n")
	t = table{head: []string{"block", "client CPU", "server CPU", "btcd encode / decode", "client allocs", "server allocs"}}
	for _, bl := range r.Blocks {
		scpu, salloc := math.NaN(), math.NaN()
		if bl.Server != nil {
			scpu, salloc = bl.Server.CPUusPerCall, bl.Server.AllocsPerCall
		}
		t.add(bl.Fill, fmtUs(bl.ClientCPU), fmtUs(scpu), fmtUs(bl.EncodeUs)+" / "+fmtUs(bl.DecodeUs), fmtNum(bl.Allocs, ""), fmtNum(salloc, ""))
	}
	t.write(b)
}

func renderAllocs(b *strings.Builder, r *Results) {
	fmt.Fprintf(b, "## Allocations per call\n\n")
	b.WriteString("runtime.MemStats deltas (Mallocs, TotalAlloc) over the sequential loop, divided by the calls: " +
		"the client in its own process, the server in its own between the client's marks. Everything " +
		"the process allocates counts (the RPC engine, rt, generated code, encoding). " +
		"Every call here is a context call.\n\n")
	t := table{head: []string{"pairing", "client allocs", "client bytes", "server allocs", "server bytes", "target", "client", "server"}}
	for _, p := range pairings {
		if strings.HasPrefix(p.key, "floor") || len(r.Pairs[p.key]) == 0 {
			continue
		}
		ca := r.field(p.key, func(p PairResult) (float64, bool) { return p.AllocsPerCall, p.GoClient })
		cb := r.field(p.key, func(p PairResult) (float64, bool) { return p.BytesPerCall, p.GoClient })
		sa := r.serverField(p.key, func(s ServerStats) float64 { return s.AllocsPerCall })
		sb := r.serverField(p.key, func(s ServerStats) float64 { return s.BytesPerCall })
		t.add(p.name, fmtNum(ca, ""), fmtNum(cb, " B"), fmtNum(sa, ""), fmtNum(sb, " B"),
			fmt.Sprintf("≤ %g", goalAlloc), status(ca <= goalAlloc, valid(ca)), status(sa <= goalAlloc, valid(sa)))
	}
	t.write(b)
	b.WriteString("C++ clients and the C++ server have no Go allocations to count (n/a). " +
		"Calc.add with a C++ client against the Go server is not marked (the C++ client sends no marks).\n\n")
	if r.Profiles == nil || r.Profiles.Allocs == nil {
		return
	}
	a := r.Profiles.Allocs
	per := func(bd *Breakdown, owner string, calls int) float64 {
		var n int64
		for _, v := range bd.ByOwner[owner] {
			n += v
		}
		return float64(n) / float64(max(calls, 1))
	}
	fmt.Fprintf(b, "Who allocates, for v32 Echo.echo: an allocs profile sampling every allocation over %d calls "+
		"(slower calls, so counts differ a little from the table above); each allocation goes to the first frame "+
		"on its stack outside the runtime and standard library.\n\n", a.Calls)
	t = table{head: []string{"owner", "client allocs / call", "server allocs / call"}}
	for _, o := range ownerOrder {
		c, s := per(a.Client, o, a.Calls), per(a.Server, o, a.ServerCalls)
		if c < 0.05 && s < 0.05 {
			continue
		}
		t.add(o, fmtNum(c, ""), fmtNum(s, ""))
	}
	t.add("**all**", fmtNum(float64(a.Client.TotalNs)/float64(max(a.Calls, 1)), ""), fmtNum(float64(a.Server.TotalNs)/float64(max(a.ServerCalls, 1)), ""))
	t.write(b)
	for _, side := range []struct {
		name  string
		bd    *Breakdown
		calls int
	}{{"client", a.Client, a.Calls}, {"server", a.Server, a.ServerCalls}} {
		var top []string
		for _, f := range side.bd.topSites(10) {
			top = append(top, fmt.Sprintf("`%s` %.1f", shortFunc(f.Func), float64(f.Ns)/float64(max(side.calls, 1))))
		}
		fmt.Fprintf(b, "Top allocation sites per call, %s: %s.\n\n", side.name, strings.Join(top, ", "))
	}
}

func renderGen(b *strings.Builder, r *Results) {
	fmt.Fprintf(b, "## The generator\n\n")
	if r.Gen == nil {
		b.WriteString("Not measured (see failures).\n\n")
		return
	}
	g := r.Gen
	fmt.Fprintf(b, "generator.GenerateBytes on each committed request (golden/requests/*.bin), in process, %d runs; "+
		"medians (the first run includes one-time initialisation).\n\n", len(g.Totals))
	t := table{head: []string{"schema set", "time", "target", ""}}
	for _, s := range g.Sets {
		t.add(s, g.PerSet[s].Round(time.Microsecond*100).String(), "", "")
	}
	med := medianDur(g.Totals)
	t.add(fmt.Sprintf("**all %d sets** (%d files, %d kB)", len(g.Sets), g.Files, g.OutBytes/1000),
		fmt.Sprintf("**%s** (first run %s)", med.Round(time.Millisecond), g.Totals[0].Round(time.Millisecond)),
		"< 1 s", status(med < time.Second, true))
	t.write(b)
}

func pct(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	if x < 0.005 {
		return "·"
	}
	return fmt.Sprintf("%.0f%%", 100*x)
}

func renderBreakdown(b *strings.Builder, name string, bd *Breakdown, calls int, rusage float64) {
	fmt.Fprintf(b, "**%s**: %d samples, %.2f s of CPU, %.1f µs per call (getrusage over the same loop: %s per call).\n\n",
		name, bd.Samples, float64(bd.TotalNs)/1e9, float64(bd.TotalNs)/1e3/float64(max(calls, 1)), fmtUs(rusage))
	head := []string{"owner (first frame outside the runtime/stdlib)", "share"}
	head = append(head, kindOrder...)
	t := table{head: head}
	for _, o := range ownerOrder {
		m := bd.ByOwner[o]
		if m == nil {
			continue
		}
		row := []string{o, pct(bd.ownerShare(o))}
		for _, k := range kindOrder {
			row = append(row, pct(float64(m[k])/float64(bd.TotalNs)))
		}
		t.add(row...)
	}
	row := []string{"**all**", "100%"}
	for _, k := range kindOrder {
		row = append(row, pct(bd.kindShare(k)))
	}
	t.add(row...)
	t.write(b)
	var top []string
	for _, f := range bd.Flat[:min(8, len(bd.Flat))] {
		if float64(f.Ns) < 0.005*float64(bd.TotalNs) {
			break
		}
		top = append(top, fmt.Sprintf("`%s` %s", shortFunc(f.Func), pct(float64(f.Ns)/float64(bd.TotalNs))))
	}
	fmt.Fprintf(b, "Top leaf functions: %s.\n\n", strings.Join(top, ", "))
}

func shortFunc(fn string) string {
	// Type arguments of generic instantiations: [go.shape.struct { ... }].
	var b strings.Builder
	depth := 0
	for _, r := range fn {
		switch {
		case r == '[':
			if depth == 0 {
				b.WriteString("[…]")
			}
			depth++
		case r == ']':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	fn = b.String()
	for _, p := range []string{"github.com/bitcoin-ipc/bitcoin-ipc/", "capnproto.org/go/capnp/v3/", "capnproto.org/go/"} {
		fn = strings.TrimPrefix(fn, p)
	}
	return fn
}

func renderProfiles(b *strings.Builder, r *Results) {
	b.WriteString("## Where the time goes\n\n")
	p := r.Profiles
	if p == nil || len(p.Runs) == 0 {
		b.WriteString("No profiles in this run (see failures).\n\n")
		return
	}
	fmt.Fprintf(b, "CPU profiles (%d Hz) of the Go client and the Go server, each process during %g s of sequential "+
		"calls, broken down by owner: each sample goes to the first frame on its stack outside the Go runtime and "+
		"standard library; samples with no such frame are the runtime's own (the scheduler looking for work, the "+
		"netpoller, parking and waking goroutines; background GC). The columns split each owner's share by what "+
		"the sampled leaf was doing: in the kernel (system calls, futex wake-ups, epoll), in the scheduler "+
		"(channels, locks, goroutine switches), allocating or collecting garbage, or the owner's own code. "+
		"The profiles stay in `bitcoin-ipc-bench-profiles` under the temporary directory (`$TMPDIR`) "+
		"for `go tool pprof`.\n\n", r.Config.ProfHz, r.Config.ProfSecs)
	for _, run := range p.Runs {
		fmt.Fprintf(b, "### Profile: %s\n\n%d calls, p50 %s while profiled.\n\n", run.Name, run.Calls, fmtUs(run.Latency.P50us))
		renderBreakdown(b, "Go client", run.Client, run.Calls, run.ClientCPU)
		renderBreakdown(b, "Go server", run.Server, run.Calls, run.ServerCPU)
	}
	b.WriteString(whereTheTimeGoes(r))
}

func (p *ProfileResult) run(prefix string) *ProfileRun {
	for i := range p.Runs {
		if strings.HasPrefix(p.Runs[i].Name, prefix) {
			return &p.Runs[i]
		}
	}
	return nil
}

// whereTheTimeGoes reads the profiles and the tables into the findings,
// one paragraph per missed kind of target.
func whereTheTimeGoes(r *Results) string {
	var b strings.Builder
	b.WriteString("### Reading\n\n")
	p := r.Profiles
	echo := p.run("v32 Echo")
	if echo != nil {
		c, sv := echo.Client, echo.Server
		futex := func(bd *Breakdown) float64 { return bd.flatShare("runtime.futex") }
		lat := r.field(pEchoGoGo, always(p50))
		lat1 := r.field(pEchoGoGo1P, always(p50))
		fmt.Fprintf(&b, "**Round-trip latency.** A sequential v32 echo takes %s (p50) and "+
			"costs the client %s and the server %s of CPU. Each call crosses goroutines: in the client, "+
			"the caller writes its call and the connection's reader wakes it with the answer; in the server, "+
			"the reader posts the call to the Thread's executor goroutine, which runs it and writes the reply. "+
			"A hand-off to a parked OS thread is a futex wake-up (`runtime.futex` is %s of the client's CPU and %s "+
			"of the server's) and on this 2-vCPU VM often the wake-up of a halted vCPU; the scheduler looking for "+
			"work, with no caller of ours on the stack, is %s / %s. The floor has none of these hand-offs. ",
			fmtUs(lat), fmtUs(echo.ClientCPU), fmtUs(echo.ServerCPU), pct(futex(c)), pct(futex(sv)),
			pct(c.ownerShare(ownSched)), pct(sv.ownerShare(ownSched)))
		if !math.IsNaN(lat1) {
			fmt.Fprintf(&b, "With GOMAXPROCS=1 in both processes, where a hand-off is a goroutine switch on the "+
				"same thread, the same echo takes %s (%s of the default), which locates the cost in thread "+
				"wake-ups. ", fmtUs(lat1), fmtX(lat1/lat))
		}
		fmt.Fprintf(&b, "The server's executor goroutines (`rt.(*executor).loop`) carry %s of its CPU.\n\n",
			pct(sv.underShare(fnExecLoop)))

		fmt.Fprintf(&b, "**Go against C++.** The C++ peer speaks the same protocol from one kj event loop per "+
			"process, with no hand-offs: Go client → C++ server is %s of C++↔C++ and C++ client → Go server %s. "+
			"The Go client spends %s of CPU per call against the C++ client's %s (same C++ server). "+
			"Of the Go client's CPU (echo profile): socket read and write system calls %s (the floor pays these too), "+
			"the RPC engine %s (questions, answers, capability tables, framing), "+
			"the Go scheduler with no caller %s, Cap'n Proto encoding and framing %s, rt %s, background GC %s.\n\n",
			fmtX(r.ratio(pAddGoCpp, pAddCppCpp, p50)), fmtX(r.ratio(pAddCppGo, pAddCppCpp, p50)),
			fmtUs(r.field(pAddGoCpp, always(cpu))), fmtUs(r.field(pAddCppCpp, always(cpu))),
			pct(c.ownerShare(ownIO)), pct(c.ownerShare(ownDispatch)), pct(c.ownerShare(ownSched)),
			pct(c.ownerShare(ownEncoding)), pct(c.ownerShare(ownRT)), pct(c.ownerShare(ownGC)))
	}

	g1, g4 := r.field(pEchoGoGo, tputAt(1)), r.field(pEchoGoGo, tputAt(4))
	c1, c4 := r.field(pAddCppCpp, tputAt(1)), r.field(pAddCppCpp, tputAt(4))
	fmt.Fprintf(&b, "**Throughput.** 4 callers give %s the calls of 1 Go↔Go (v32 echo) and %s C++↔C++. "+
		"With %d vCPUs there is no room for parallelism: the C++ gain comes from its event loop batching the "+
		"concurrent calls (several messages per read and write, one wake-up for many calls); the engine batches "+
		"the frames that queue behind a write in flight into one writev, and its reader handles each message "+
		"it reads without a hand-off.\n\n",
		fmtX(g4/g1), fmtX(c4/c1), runtime.NumCPU())

	if gb := p.run("getBlock"); gb != nil {
		if bl := r.block(fill4MB); bl != nil {
			c, sv := gb.Client, gb.Server
			mem := func(bd *Breakdown) float64 { return bd.flatShare("runtime.memclrNoHeapPointers", "runtime.memmove") }
			fmt.Fprintf(&b, "**getBlock.** The %.1f MB block takes %s per getBlock "+
				"against %s for the same bytes over the socket; the server spends %s of CPU on it and the client %s, "+
				"one after the other. Zeroing and copying memory (`memclrNoHeapPointers`, `memmove`) is %s of "+
				"the server's CPU and %s of the client's. On the server, btcd copies the template's block (the demo "+
				"node's getBlock) and serialises it into a buffer (btcd: %s of its CPU), `capnp.NewData` zeroes a "+
				"segment and copies the bytes in (%s), and the engine writes the frame from its segments "+
				"(`(*writer).flush`, %s). On the client, the engine reads the frame into one buffer "+
				"(`readMessage`, %s), then btcd decodes the transactions out of it (%s).\n\n",
				float64(bl.Bytes)/1e6, fmtUs(bl.GetBlock.P50us), fmtUs(bl.Socket.P50us), fmtUs(gb.ServerCPU), fmtUs(gb.ClientCPU),
				pct(mem(sv)), pct(mem(c)), pct(sv.ownerShare(ownBtcd)), pct(sv.underShare(fnNewData)),
				pct(sv.underShare(fnWrite)), pct(c.underShare(fnRead)), pct(c.ownerShare(ownBtcd)))
		}
	}

	if a := p.Allocs; a != nil {
		per := func(bd *Breakdown, owner string, calls int) float64 {
			var n int64
			for _, v := range bd.ByOwner[owner] {
				n += v
			}
			return float64(n) / float64(max(calls, 1))
		}
		dc, ds := per(a.Client, ownDispatch, a.Calls), per(a.Server, ownDispatch, a.ServerCalls)
		ec, es := per(a.Client, ownEncoding, a.Calls), per(a.Server, ownEncoding, a.ServerCalls)
		rc, rs := per(a.Client, ownRT, a.Calls), per(a.Server, ownRT, a.ServerCalls)
		fmt.Fprintf(&b, "**Allocations.** Per echo call, the RPC engine allocates %s in the client and "+
			"%s in the server, Cap'n Proto encoding %s / %s (messages and arenas), rt %s / %s, generated code %s / %s. "+
			"Filling the context struct (context.thread and callbackThread, `rt.fillContext`) costs %s "+
			"allocations per call in the client.",
			fmtNum(dc, ""), fmtNum(ds, ""), fmtNum(ec, ""), fmtNum(es, ""), fmtNum(rc, ""), fmtNum(rs, ""),
			fmtNum(per(a.Client, ownGen, a.Calls), ""), fmtNum(per(a.Server, ownGen, a.ServerCalls), ""),
			fmtNum(float64(a.Client.Under[fnFill])/float64(max(a.Calls, 1)), ""))
		b.WriteString("\n\n")
	}
	if echo != nil {
		fmt.Fprintf(&b, "**In short:** of the echo's CPU, rt's own share is %s in the client and %s in the "+
			"server, the RPC engine's %s / %s, encoding's %s / %s.\n\n",
			pct(echo.Client.ownerShare(ownRT)), pct(echo.Server.ownerShare(ownRT)),
			pct(echo.Client.ownerShare(ownDispatch)), pct(echo.Server.ownerShare(ownDispatch)),
			pct(echo.Client.ownerShare(ownEncoding)), pct(echo.Server.ownerShare(ownEncoding)))
	}
	return b.String()
}

func renderMethod(b *strings.Builder, r *Results) {
	cfg := r.Config
	b.WriteString("## How this was measured\n\n")
	fmt.Fprintf(b, "`make bench` builds the C++ peer (internal/testing/cpppeer/peer.c++: plain Cap'n Proto C++ from "+
		"libcapnp-dev, following libmultiprocess's conventions; internal/testing/cpppeer caches the build), then runs "+
		"every pairing in %d interleaved rounds, getBlock, the generator, and the profiled loops. Each measurement "+
		"is a fresh pair of processes on a socketpair (fd 3): the program re-executes itself for the Go ends, and "+
		"runs the C++ peer in its `bench-server`, `bench-client <N>` and `bench-client-mt <N> <T,...>` modes. "+
		"Clients warm up (min(N/10+1, 200) calls) before timing. Go servers are generated servers "+
		"(v32: the demo node's Init, with an Echo and a getBlock that count calls and answer marks; rttest: a Calc "+
		"implementation), and Go clients the generated clients. Go children run with Go's default GOMAXPROCS "+
		"(the environment's is not passed on), except in the GOMAXPROCS=1 row. "+
		"Options: `go run ./internal/cmd/benchreport -h`; `-quick` for a smoke run, `-only` for some areas.\n", cfg.Rounds)
}
