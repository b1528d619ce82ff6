package main

// Breaking a CPU profile down by who spends the time. Each sample's stack
// is read leaf first (from `go tool pprof -raw`, which needs nothing but
// the go command) and charged to its owner, the first frame outside the
// Go runtime and the standard library: the RPC engine, Cap'n Proto
// encoding, rt, generated code, ... Stacks with no such frame are
// the runtime's own (scheduler, netpoller, background GC). Each sample is
// also sorted by what its leaf does: a system call or futex (kernel), the
// scheduler and channels (runtime), allocation and GC, or the owner's own
// code.

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Owners.
const (
	ownIO       = "socket reads and writes (the system calls)"
	ownDispatch = "RPC engine (rt/internal/engine: questions, answers, capabilities, framing)"
	ownEncoding = "Cap'n Proto encoding (go-capnp: messages, segments, structs)"
	ownRT       = "rt (our runtime: threads, leases, executor, dispatch)"
	ownGen      = "generated code (gen/, rttest)"
	ownDomain   = "domain conversions, exceptions"
	ownBtcd     = "btcd (block and transaction (de)serialisation)"
	ownBench    = "benchmark loop and server implementation"
	ownGC       = "Go runtime: background GC"
	ownSched    = "Go runtime: scheduler, netpoller, idle (no caller)"
	ownOther    = "other"
)

var ownerOrder = []string{ownIO, ownDispatch, ownEncoding, ownRT, ownGen, ownDomain, ownBtcd, ownBench, ownSched, ownGC, ownOther}

// Leaf kinds.
const (
	kindKernel = "kernel"
	kindSched  = "scheduler"
	kindGC     = "alloc/GC"
	kindOwn    = "own code"
)

var kindOrder = []string{kindKernel, kindSched, kindGC, kindOwn}

// Breakdown is one profile's CPU time (or allocations) by owner and leaf
// kind.
type Breakdown struct {
	TotalNs int64 // the sum of the sample values: ns of CPU, or allocations
	Samples int64
	ByOwner map[string]map[string]int64 // owner -> kind -> ns
	Flat    []FuncTime                  // top functions by flat time
	Sites   map[string]int64            // by the owner's frame (its first frame on the stack)
	Under   map[string]int64            // cumulative, for the functions in watched
}

// watched are functions whose cumulative share the report quotes.
var watched = []string{
	fnFill, fnWrite, fnRead, fnNewData, fnExecLoop,
}

const (
	// a call's context struct: context.thread and callbackThread
	fnFill = "github.com/bitcoin-ipc/bitcoin-ipc/rt.fillContext"
	// the engine writing the queued frames (writev)
	fnWrite = "github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine.(*writer).flush"
	// the engine reading a frame into one buffer
	fnRead = "github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine.readMessage"
	// a Data field set from a []byte: a zeroed allocation and a copy
	fnNewData = "capnproto.org/go/capnp/v3.NewData"
	// a context call running on a Thread's own goroutine
	fnExecLoop = "github.com/bitcoin-ipc/bitcoin-ipc/rt.(*executor).loop"
)

// underShare is the share of the value under fn, 0..1.
func (b *Breakdown) underShare(fn string) float64 {
	if b == nil || b.TotalNs == 0 {
		return math.NaN()
	}
	return float64(b.Under[fn]) / float64(b.TotalNs)
}

// flatShare is the share of the value with one of fns as the leaf.
func (b *Breakdown) flatShare(fns ...string) float64 {
	if b == nil || b.TotalNs == 0 {
		return math.NaN()
	}
	var ns int64
	for _, f := range b.Flat {
		if slices.Contains(fns, f.Func) {
			ns += f.Ns
		}
	}
	return float64(ns) / float64(b.TotalNs)
}

// sub is b minus an earlier profile of the same process (allocs profiles
// are cumulative).
func (b *Breakdown) sub(a *Breakdown) *Breakdown {
	d := &Breakdown{TotalNs: b.TotalNs - a.TotalNs, Samples: b.Samples - a.Samples,
		ByOwner: map[string]map[string]int64{}, Sites: map[string]int64{}, Under: map[string]int64{}}
	for f, v := range b.Under {
		d.Under[f] = v - a.Under[f]
	}
	for o, m := range b.ByOwner {
		d.ByOwner[o] = map[string]int64{}
		for k, v := range m {
			d.ByOwner[o][k] = v - a.ByOwner[o][k]
		}
	}
	for f, v := range b.Sites {
		if x := v - a.Sites[f]; x != 0 {
			d.Sites[f] = x
		}
	}
	return d
}

// topSites returns the n owner frames with the most of the value.
func (b *Breakdown) topSites(n int) []FuncTime {
	var fs []FuncTime
	for f, v := range b.Sites {
		fs = append(fs, FuncTime{f, v})
	}
	slices.SortFunc(fs, func(x, y FuncTime) int {
		if x.Ns != y.Ns {
			return int(y.Ns - x.Ns)
		}
		return strings.Compare(x.Func, y.Func)
	})
	return fs[:min(n, len(fs))]
}

// FuncTime is a function's flat time.
type FuncTime struct {
	Func string
	Ns   int64
}

// ProfileResult is the profiled runs.
type ProfileResult struct {
	Dir    string
	Runs   []ProfileRun
	Allocs *AllocRun
}

// AllocRun is the allocation profile of sequential echo calls.
type AllocRun struct {
	Calls, ServerCalls int
	Client, Server     *Breakdown // TotalNs counts allocations
}

// ProfileRun is one profiled loop: its client's and server's profiles.
type ProfileRun struct {
	Name    string
	Calls   int
	Latency Latency
	// getrusage CPU per call of each process over the same window
	ClientCPU, ServerCPU float64
	Client, Server       *Breakdown
}

type frame struct{ fn, file string }

// frameOf parses "func file:line:col s=N"; the function's name may
// contain spaces (generic instantiations).
func frameOf(f []string) frame {
	if n := len(f); n > 0 && strings.HasPrefix(f[n-1], "s=") {
		f = f[:n-1]
	}
	switch len(f) {
	case 0:
		return frame{}
	case 1:
		return frame{fn: f[0]}
	}
	file, _, _ := strings.Cut(f[len(f)-1], ":")
	return frame{fn: strings.Join(f[:len(f)-1], " "), file: file}
}

func goCommand() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// Sample values to break down.
const (
	valueCPU    = -1 // the last column: cpu/nanoseconds
	valueAllocs = 0  // alloc_objects of an allocs profile
)

// analyzeProfile reads a CPU profile with go tool pprof -raw.
func analyzeProfile(path string) (*Breakdown, error) { return analyze(path, valueCPU) }

// analyze reads a profile with go tool pprof -raw and breaks down the
// sample value in column col (negative: from the end).
func analyze(path string, col int) (*Breakdown, error) {
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		return nil, fmt.Errorf("no profile at %s", path)
	}
	out, err := exec.Command(goCommand(), "tool", "pprof", "-raw", path).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof -raw %s: %v", path, err)
	}
	return parseRaw(string(out), col)
}

// parseRaw parses pprof's -raw text: the samples (value columns, then
// location IDs leaf first) and the locations (one line per frame,
// inlined frames first).
func parseRaw(raw string, col int) (*Breakdown, error) {
	type sample struct {
		n, ns int64
		locs  []int
	}
	var samples []sample
	locs := map[int][]frame{}
	section := ""
	lastLoc := 0
	sc := bufio.NewScanner(strings.NewReader(raw))
	sc.Buffer(make([]byte, 1<<16), 1<<22)
	for sc.Scan() {
		line := sc.Text()
		switch strings.TrimSpace(line) {
		case "Samples:", "Locations", "Mappings":
			section = strings.TrimSuffix(strings.TrimSpace(line), ":")
			continue
		}
		switch section {
		case "Samples":
			vals, ids, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			f := strings.Fields(vals)
			i := col
			if i < 0 {
				i += len(f)
			}
			if i < 0 || i >= len(f) {
				continue
			}
			ns, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				continue
			}
			var s sample
			s.ns = ns
			s.n, _ = strconv.ParseInt(f[0], 10, 64)
			for _, id := range strings.Fields(ids) {
				n, err := strconv.Atoi(id)
				if err != nil {
					s.locs = nil
					break
				}
				s.locs = append(s.locs, n)
			}
			if len(s.locs) > 0 {
				samples = append(samples, s)
			}
		case "Locations":
			t := strings.TrimSpace(line)
			if t == "" {
				continue
			}
			f := strings.Fields(t)
			if strings.HasSuffix(f[0], ":") {
				// "N: 0xADDR M=1 func file:line:col s=0"
				id, err := strconv.Atoi(strings.TrimSuffix(f[0], ":"))
				if err != nil || len(f) < 4 {
					continue
				}
				lastLoc = id
				locs[id] = append(locs[id], frameOf(f[3:]))
			} else if lastLoc != 0 {
				// an inlined caller: "func file:line:col s=0"
				locs[lastLoc] = append(locs[lastLoc], frameOf(f))
			}
		}
	}
	if len(samples) == 0 {
		return nil, fmt.Errorf("profile has no samples")
	}
	b := &Breakdown{ByOwner: map[string]map[string]int64{}, Sites: map[string]int64{}, Under: map[string]int64{}}
	flat := map[string]int64{}
	for _, s := range samples {
		var stack []frame
		for _, id := range s.locs {
			stack = append(stack, locs[id]...)
		}
		owner, kind, site := classify(stack)
		b.Sites[site] += s.ns
		for _, w := range watched {
			if slices.ContainsFunc(stack, func(f frame) bool { return f.fn == w }) {
				b.Under[w] += s.ns
			}
		}
		if b.ByOwner[owner] == nil {
			b.ByOwner[owner] = map[string]int64{}
		}
		b.ByOwner[owner][kind] += s.ns
		b.TotalNs += s.ns
		b.Samples += s.n
		if len(stack) > 0 {
			flat[stack[0].fn] += s.ns
		}
	}
	for fn, ns := range flat {
		b.Flat = append(b.Flat, FuncTime{fn, ns})
	}
	slices.SortFunc(b.Flat, func(x, y FuncTime) int {
		if x.Ns != y.Ns {
			return int(y.Ns - x.Ns)
		}
		return strings.Compare(x.Func, y.Func)
	})
	return b, nil
}

// ownerOf returns the owner of a frame, or "" for the runtime and the
// standard library.
func ownerOf(f frame) string {
	fn := f.fn
	switch {
	case strings.HasPrefix(fn, "capnproto.org/go/capnp/v3"), strings.HasPrefix(fn, "github.com/colega/zeropool"):
		return ownEncoding
	case strings.HasPrefix(fn, "github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine."):
		return ownDispatch
	case strings.HasPrefix(fn, "github.com/bitcoin-ipc/bitcoin-ipc/rt."),
		strings.HasPrefix(fn, "github.com/bitcoin-ipc/bitcoin-ipc/gen/mp."):
		if strings.HasPrefix(fn, "github.com/bitcoin-ipc/bitcoin-ipc/gen/mp.") {
			return ownGen
		}
		return ownRT
	case strings.HasPrefix(fn, "github.com/bitcoin-ipc/bitcoin-ipc/gen/"),
		strings.HasPrefix(fn, "github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest."):
		return ownGen
	case strings.HasPrefix(fn, "github.com/bitcoin-ipc/bitcoin-ipc/domain."),
		strings.HasPrefix(fn, "github.com/bitcoin-ipc/bitcoin-ipc/exception."):
		return ownDomain
	case strings.HasPrefix(fn, "github.com/bitcoin-ipc/bitcoin-ipc/"), strings.HasPrefix(fn, "main."):
		return ownBench
	case strings.HasPrefix(fn, "github.com/btcsuite/"):
		return ownBtcd
	case strings.HasPrefix(fn, "github.com/"), strings.HasPrefix(fn, "golang.org/x/sys"):
		if strings.HasPrefix(fn, "golang.org/x/sys") {
			return ""
		}
		return ownOther
	}
	return "" // runtime, standard library
}

func isKernelLeaf(f frame) bool {
	fn := f.fn
	switch {
	case strings.HasPrefix(fn, "syscall."), strings.HasPrefix(fn, "internal/runtime/syscall"),
		strings.HasPrefix(fn, "golang.org/x/sys/unix."):
		return true
	case strings.HasPrefix(fn, "runtime.") && strings.Contains(f.file, "sys_linux_"):
		return true
	}
	switch fn {
	case "runtime.futex", "runtime.epollwait", "runtime.usleep", "runtime.osyield", "runtime.write1",
		"runtime.read", "runtime.madvise", "runtime.mmap", "runtime.munmap", "runtime.nanotime1", "runtime.walltime":
		return true
	}
	return fn == "" || strings.HasPrefix(fn, "[") // vdso and unsymbolized
}

var gcFrames = []string{
	"runtime.mallocgc", "runtime.gcBgMarkWorker", "runtime.gcDrain", "runtime.gcAssistAlloc",
	"runtime.bgsweep", "runtime.bgscavenge", "runtime.markroot", "runtime.scanobject", "runtime.gcStart",
	"runtime.newobject", "runtime.makeslice", "runtime.growslice", "runtime.memclrNoHeapPointers",
	"runtime.wbBufFlush", "runtime.gcWriteBarrier",
}

// runtimeHelpers are runtime functions that do the caller's own work
// (copying, hashing, maps, conversions), not scheduling.
var runtimeHelpers = []string{
	"runtime.mem", "runtime.map", "runtime.typedmem", "runtime.typedslicecopy", "runtime.strhash",
	"runtime.aeshash", "runtime.conv", "runtime.assert", "runtime.getitab", "runtime.typeAssert",
	"runtime.ifaceeq", "runtime.efaceeq", "runtime.nilinterhash", "runtime.interhash", "runtime.duff",
	"runtime.concat", "runtime.slicebyte", "runtime.stringtoslice", "runtime.cmpbody", "runtime.rand",
	"runtime.deferreturn", "runtime.(*itab)", "runtime.panicIndex", "runtime.encoderune",
	"runtime.decoderune", "runtime.intstring", "runtime.memequal", "runtime.strequal",
	"internal/runtime/maps.", "internal/bytealg.", "internal/abi.", "internal/stringslite.",
}

// isSchedLeaf reports whether a leaf frame is the runtime's own work:
// scheduling, channels, locks, timers, stack growth.
func isSchedLeaf(f frame) bool {
	fn := f.fn
	for _, h := range runtimeHelpers {
		if strings.HasPrefix(fn, h) {
			return false
		}
	}
	return strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/runtime/") ||
		strings.HasPrefix(fn, "sync.") || strings.HasPrefix(fn, "sync/atomic.") ||
		strings.HasPrefix(fn, "internal/sync.") || strings.HasPrefix(fn, "gogo")
}

// ioFrames are the socket read and write system calls (the engine makes
// them).
var ioFrames = []string{
	"syscall.read", "syscall.write", "golang.org/x/sys/unix.writev", "golang.org/x/sys/unix.Writev",
	"internal/poll.(*FD).Read", "internal/poll.(*FD).Write", "internal/poll.(*FD).Writev",
}

// classify returns a stack's owner, its leaf's kind, and the owner's
// frame (the function; the leaf for the runtime's own stacks).
func classify(stack []frame) (owner, kind, site string) {
	if len(stack) > 0 && isKernelLeaf(stack[0]) {
		for _, f := range stack {
			if slices.Contains(ioFrames, f.fn) {
				return ownIO, kindKernel, f.fn
			}
		}
	}
	gc := false
	ownerAt := -1
	for i, f := range stack {
		if o := ownerOf(f); o != "" {
			owner, ownerAt = o, i
			break
		}
		for _, g := range gcFrames {
			if f.fn == g || strings.HasPrefix(f.fn, g+".") {
				gc = true
			}
		}
	}
	if owner == "" {
		owner = ownSched
		for _, f := range stack {
			if f.fn == "runtime.gcBgMarkWorker" || f.fn == "runtime.bgsweep" || f.fn == "runtime.bgscavenge" {
				owner = ownGC
				break
			}
		}
	}
	switch {
	case len(stack) == 0:
		kind = kindKernel
	case ownerAt == 0:
		kind = kindOwn
	case isKernelLeaf(stack[0]):
		kind = kindKernel
	case gc:
		kind = kindGC
	case isSchedLeaf(stack[0]):
		kind = kindSched
	default:
		kind = kindOwn
	}
	if owner == ownGC {
		kind = kindGC
	}
	switch {
	case ownerAt >= 0:
		site = stack[ownerAt].fn
	case len(stack) > 0:
		site = stack[0].fn
	}
	return owner, kind, site
}

// ownerShare is an owner's share of the profile, 0..1.
func (b *Breakdown) ownerShare(owner string) float64 {
	if b == nil || b.TotalNs == 0 {
		return 0
	}
	var ns int64
	for _, v := range b.ByOwner[owner] {
		ns += v
	}
	return float64(ns) / float64(b.TotalNs)
}

func (b *Breakdown) kindShare(kind string) float64 {
	if b == nil || b.TotalNs == 0 {
		return 0
	}
	var ns int64
	for _, m := range b.ByOwner {
		ns += m[kind]
	}
	return float64(ns) / float64(b.TotalNs)
}
