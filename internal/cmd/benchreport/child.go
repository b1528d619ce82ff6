package main

// The roles this program plays when it re-executes itself as one end of a
// measurement: servers (socket echo, blob source, rttest and v32 IPC
// servers) and clients (socket ping-pong, blob sink, IPC clients). Each
// runs in a process of its own on the socket it inherits as fd 3, so that
// getrusage and MemStats see one side only. Clients print one result line
// (resultPrefix + JSON).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	"github.com/bitcoin-ipc/bitcoin-ipc/demonode/chain"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// childEnv carries a child's spec (JSON); its presence makes the process
// a child.
const childEnv = "BITCOIN_IPC_BENCH_CHILD"

const resultPrefix = "RESULT-JSON "

// Roles.
const (
	roleFloorServer = "floor-server" // echoes Size-byte messages
	roleFloorClient = "floor-client" // Size-byte ping-pong
	roleBlobServer  = "blob-server"  // answers each 1-byte request with Size bytes
	roleBlobClient  = "blob-client"
	roleIPCServer   = "ipc-server" // Schema rttest or v32 (a demo node, filled as Fill says)
	roleIPCClient   = "ipc-client" // Op calls or getblock
)

// spec is what a child is told to do.
type spec struct {
	Role     string
	Size     int    // message or blob size (floor, blob)
	N        int    // sequential round trips or transfers timed
	Blocking bool   // floor: blocking read(2)/write(2) instead of Go's netpoller
	Schema   string // "rttest" or "v32"
	Fill     string // v32 server: "", "1MB" (FillMempool) or "4MB" (witness-heavy txs)
	Op       string // ipc-client: "calls", "getblock" or "getblockbytes"
	Payload  int    // ipc-client calls: 0 = Calc.add (rttest); else echo of this many bytes
	TputN    int    // ipc-client calls: calls per throughput point
	Threads  []int  // ipc-client calls: goroutines in flight per throughput point
	Marks    bool   // ipc-client: the server is ours; mark the latency window
	Profile  string // CPU profile written for the marked window (client or server)
	ProfHz   int    // its sampling rate
	ProfSecs float64
	Procs    int // GOMAXPROCS of the child; 0 for Go's default
	// AllocProfile: allocs profiles at the start and the end of the
	// marked window, AllocProfile+"-0.pprof" and "-1.pprof" (every
	// allocation sampled, so the loop is slow).
	AllocProfile string
}

func (s spec) env() string {
	b, _ := json.Marshal(s)
	return childEnv + "=" + string(b)
}

// childMain runs the child described by the JSON in env and returns the
// exit status.
func childMain(env string) int {
	var s spec
	if err := json.Unmarshal([]byte(env), &s); err != nil {
		fmt.Fprintln(os.Stderr, "bad child spec:", err)
		return 2
	}
	if s.AllocProfile != "" {
		runtime.MemProfileRate = 1
	}
	f := os.NewFile(3, "ipc")
	res, err := runChild(s, f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", s.Role, err)
		return 1
	}
	if res != nil {
		b, err := json.Marshal(res)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("%s%s\n", resultPrefix, b)
	}
	return 0
}

func runChild(s spec, f *os.File) (any, error) {
	if s.Blocking {
		defer f.Close()
		switch s.Role {
		case roleFloorServer:
			return nil, floorServerBlocking(int(f.Fd()), s.Size)
		case roleFloorClient:
			return floorClientBlocking(int(f.Fd()), s.Size, s.N)
		}
	}
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	switch s.Role {
	case roleFloorServer:
		return nil, floorServer(nc, s.Size)
	case roleFloorClient:
		return floorClient(nc, s.Size, s.N)
	case roleBlobServer:
		return nil, blobServer(nc, s.Size)
	case roleBlobClient:
		return blobClient(nc, s.Size, s.N)
	case roleIPCServer:
		return nil, ipcServer(nc, s)
	case roleIPCClient:
		return ipcClient(nc, s)
	}
	return nil, fmt.Errorf("unknown role %q", s.Role)
}

// ---- measurements ----

// Latency summarises sequential round trips.
type Latency struct {
	P50us, P99us, MeanUs float64
	N                    int
}

func summarize(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	pct := func(p float64) float64 {
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Nanoseconds()) / 1e3
	}
	return Latency{P50us: pct(0.50), P99us: pct(0.99), MeanUs: float64(sum.Nanoseconds()) / 1e3 / float64(len(s)), N: len(s)}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func warmups(n int) int { return min(n/10+1, 200) }

// ---- the floor: raw socket ping-pong ----

// FloorResult is a ping-pong client's figures.
type FloorResult struct {
	Latency
	CPUusPerCall float64
}

func floorServer(c net.Conn, size int) error {
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
}

func floorClient(c net.Conn, size, n int) (*FloorResult, error) {
	buf := make([]byte, size)
	return timeRoundTrips(n, func() error {
		if _, err := c.Write(buf); err != nil {
			return err
		}
		_, err := io.ReadFull(c, buf)
		return err
	})
}

func timeRoundTrips(n int, rt func() error) (*FloorResult, error) {
	for i := 0; i < warmups(n); i++ {
		if err := rt(); err != nil {
			return nil, err
		}
	}
	lat := make([]time.Duration, n)
	cpu0 := cpuTime()
	for i := range lat {
		t0 := time.Now()
		if err := rt(); err != nil {
			return nil, err
		}
		lat[i] = time.Since(t0)
	}
	cpu := cpuTime() - cpu0
	return &FloorResult{Latency: summarize(lat), CPUusPerCall: float64(cpu.Nanoseconds()) / 1e3 / float64(n)}, nil
}

func readFullFd(fd int, buf []byte) error {
	for off := 0; off < len(buf); {
		k, err := syscall.Read(fd, buf[off:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if k == 0 {
			return io.EOF
		}
		off += k
	}
	return nil
}

func writeFd(fd int, buf []byte) error {
	for off := 0; off < len(buf); {
		k, err := syscall.Write(fd, buf[off:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		off += k
	}
	return nil
}

func floorServerBlocking(fd, size int) error {
	buf := make([]byte, size)
	for {
		if err := readFullFd(fd, buf); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := writeFd(fd, buf); err != nil {
			return err
		}
	}
}

func floorClientBlocking(fd, size, n int) (*FloorResult, error) {
	buf := make([]byte, size)
	return timeRoundTrips(n, func() error {
		if err := writeFd(fd, buf); err != nil {
			return err
		}
		return readFullFd(fd, buf)
	})
}

// ---- raw bulk transfer ----

func blobServer(c net.Conn, size int) error {
	blob := make([]byte, size)
	for i := range blob {
		blob[i] = byte(i)
	}
	req := make([]byte, 1)
	for {
		if _, err := io.ReadFull(c, req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if _, err := c.Write(blob); err != nil {
			return err
		}
	}
}

func blobClient(c net.Conn, size, n int) (*FloorResult, error) {
	buf := make([]byte, size)
	req := []byte{1}
	return timeRoundTrips(n, func() error {
		if _, err := c.Write(req); err != nil {
			return err
		}
		_, err := io.ReadFull(c, buf)
		return err
	})
}

// ---- IPC servers ----

// Marks: a client whose server is ours sends these as echo payloads
// around its latency loop. The server then counts the calls, allocations
// and CPU time in between, and answers the stop mark with ServerStats
// (JSON). Marks themselves are not counted as calls.
const (
	markPrefix = "bitcoin-ipc-bench:mark:"
	markStart  = markPrefix + "start"
	markStop   = markPrefix + "stop"
)

// ServerStats are a server's figures for the marked window.
type ServerStats struct {
	Calls          int64
	AllocsPerCall  float64
	BytesPerCall   float64
	CPUusPerCall   float64
	ProfileWritten bool
}

func parseServerStats(s string) (*ServerStats, error) {
	var st ServerStats
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return nil, fmt.Errorf("server stats %q: %v", s, err)
	}
	return &st, nil
}

// writeAllocs writes the allocs profile (all allocations so far) to path.
func writeAllocs(path string) error {
	runtime.GC() // the profile is as of the last GC
	// Not sampling our own writing of it (every allocation is sampled
	// otherwise, see childMain).
	rate := runtime.MemProfileRate
	runtime.MemProfileRate = 0
	defer func() { runtime.MemProfileRate = rate }()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type marker struct {
	calls   atomic.Int64
	profile string
	hz      int
	allocs  string // allocs profile prefix

	mu   sync.Mutex
	ms0  runtime.MemStats
	cpu0 time.Duration
	prof *os.File
}

func (m *marker) mark(s string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch s {
	case markStart:
		if m.profile != "" && m.prof == nil {
			if f, err := startProfile(m.profile, m.hz); err == nil {
				m.prof = f
			}
		}
		if m.allocs != "" {
			writeAllocs(m.allocs + "-0.pprof")
		}
		runtime.ReadMemStats(&m.ms0)
		m.cpu0 = cpuTime()
		m.calls.Store(0)
		return "started"
	case markStop:
		cpu := cpuTime() - m.cpu0
		var ms1 runtime.MemStats
		runtime.ReadMemStats(&ms1)
		n := m.calls.Load()
		st := ServerStats{Calls: n}
		if m.allocs != "" {
			writeAllocs(m.allocs + "-1.pprof")
		}
		if m.prof != nil {
			pprof.StopCPUProfile()
			m.prof.Close()
			m.prof = nil
			st.ProfileWritten = true
		}
		if n > 0 {
			st.AllocsPerCall = float64(ms1.Mallocs-m.ms0.Mallocs) / float64(n)
			st.BytesPerCall = float64(ms1.TotalAlloc-m.ms0.TotalAlloc) / float64(n)
			st.CPUusPerCall = float64(cpu.Nanoseconds()) / 1e3 / float64(n)
		}
		b, _ := json.Marshal(st)
		return string(b)
	}
	return "unknown mark"
}

func startProfile(path string, hz int) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if hz > 0 && hz != 100 {
		// Before StartCPUProfile, which then keeps this rate (and says
		// so on stderr).
		runtime.SetCPUProfileRate(hz)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// benchInit is the demo node's Init with an Echo that understands marks
// (otherwise the demo node's: it returns its argument).
type benchInit struct {
	v32.Init
	marks *marker
}

func (i *benchInit) MakeEcho(context.Context) (v32.Echo, error) { return &markEcho{m: i.marks}, nil }

// MakeMining is the demo node's, with getBlock calls counted.
func (i *benchInit) MakeMining(ctx context.Context) (v32.Mining, error) {
	m, err := i.Init.MakeMining(ctx)
	if err != nil {
		return nil, err
	}
	return &countMining{Mining: m, marks: i.marks}, nil
}

type countMining struct {
	v32.Mining
	marks *marker
}

func (m *countMining) CreateNewBlock(ctx context.Context, o v32.BlockCreateOptions, cooldown bool) (v32.BlockTemplate, error) {
	t, err := m.Mining.CreateNewBlock(ctx, o, cooldown)
	if err != nil || t == nil {
		return t, err
	}
	return &countTemplate{BlockTemplate: t, marks: m.marks}, nil
}

type countTemplate struct {
	v32.BlockTemplate
	marks *marker
}

func (t *countTemplate) GetBlock(ctx context.Context) (*wire.MsgBlock, error) {
	t.marks.calls.Add(1)
	return t.BlockTemplate.GetBlock(ctx)
}

// GetBlockBytes passes on the demo node's serialized block, which the
// generated server prefers to encoding the block on every call.
func (t *countTemplate) GetBlockBytes(ctx context.Context) ([]byte, error) {
	t.marks.calls.Add(1)
	raw, ok := t.BlockTemplate.(interface {
		GetBlockBytes(ctx context.Context) ([]byte, error)
	})
	if !ok {
		return nil, fmt.Errorf("the demo node's template (%T) has no GetBlockBytes", t.BlockTemplate)
	}
	return raw.GetBlockBytes(ctx)
}

type markEcho struct{ m *marker }

func (e *markEcho) Destroy(context.Context) error { return nil }

func (e *markEcho) Echo(_ context.Context, s string) (string, error) {
	if strings.HasPrefix(s, markPrefix) {
		return e.m.mark(s), nil
	}
	e.m.calls.Add(1)
	return s, nil
}

// Block fills.
const (
	fill1MB = "1MB"
	fill4MB = "4MB"
)

// fillChain fills the demo node's mempool for a template of about the
// given size. 1MB: FillMempool's small dummy transactions. 4MB: blocks of
// those stop at the 4M weight limit near 1.7 MB, so a 4 MB block takes
// witness-heavy transactions (as real ~4 MB blocks are): 40 dummy segwit
// transactions each carrying an extra 97 kB witness item.
func fillChain(c *chain.Chain, fill string) error {
	switch fill {
	case "":
		return nil
	case fill1MB:
		c.FillMempool(1_000_000)
		return nil
	case fill4MB:
		for i := 0; i < 40; i++ {
			tx := chain.NewDummyTx(uint64(1<<40+i), true)
			item := bytes.Repeat([]byte{byte(i)}, 97_000)
			tx.TxIn[0].Witness = append(tx.TxIn[0].Witness, item)
			if err := c.AddTxWithFee(tx, btcutil.Amount(100_000+i), -1); err != nil {
				return fmt.Errorf("witness-heavy tx %d: %w", i, err)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown fill %q", fill)
}

func ipcServer(nc net.Conn, s spec) error {
	m := &marker{profile: s.Profile, hz: s.ProfHz, allocs: s.AllocProfile}
	var (
		boot func(*rt.Conn) *rt.Cap
		opts []rt.Option
	)
	switch s.Schema {
	case "rttest":
		boot = rttestBootstrap(m)
		opts = append(opts, rttest.WithTestInitBootstrap())
	case "v32":
		n := demonode.New()
		defer n.Chain().Close()
		if err := fillChain(n.Chain(), s.Fill); err != nil {
			return err
		}
		boot = func(*rt.Conn) *rt.Cap { return v32.InitServer(&benchInit{Init: n.Init(), marks: m}) }
	default:
		return fmt.Errorf("unknown schema %q", s.Schema)
	}
	conn := rt.Serve(nc, boot, opts...)
	<-conn.Done()
	return nil
}

// ---- IPC clients ----

// Tput is one throughput point: Threads goroutines (each on a Thread of
// its own) making calls back to back.
type Tput struct {
	Threads      int
	CallsPerS    float64
	CPUusPerCall float64
	N            int
}

// ClientResult is an IPC client's figures.
type ClientResult struct {
	Latency
	CPUusPerCall  float64 // client process CPU per sequential call
	AllocsPerCall float64 // client process
	BytesPerCall  float64
	Server        *ServerStats // when the server is ours (marks)
	Throughput    []Tput

	// getblock
	BlockBytes int
	BlockTxs   int
	DecodeUs   float64 // wire.MsgBlock.Deserialize of the same bytes, in process
	EncodeUs   float64 // wire.MsgBlock.Serialize, in process
}

// caller is one benchmarked call.
type caller struct {
	call  func(ctx context.Context, i int) error
	mark  func(ctx context.Context, m string) (string, error) // nil: no marks
	close func()
	block func() *wire.MsgBlock // getblock: the last block received
}

func ipcConnect(ctx context.Context, nc net.Conn, schema string) (*rt.Conn, error) {
	var opts []rt.Option
	if schema == "rttest" {
		opts = append(opts, rttest.WithTestInitBootstrap())
	}
	return rt.Connect(ctx, nc, opts...)
}

// newCaller connects and prepares the call the spec names: Calc.add,
// Calc.echo of Payload bytes (rttest), Echo.echo of Payload bytes (v32),
// or BlockTemplate.getBlock on a new template (v32, Op getblock).
func newCaller(ctx context.Context, conn *rt.Conn, s spec) (*caller, error) {
	if s.Op == "getblock" || s.Op == "getblockbytes" {
		return newBlockCaller(ctx, conn, s.Op == "getblockbytes")
	}
	switch s.Schema {
	case "rttest":
		calc, err := makeCalc(ctx, conn)
		if err != nil {
			return nil, err
		}
		c := &caller{close: func() { _ = calc.Destroy(ctx) }}
		if s.Payload == 0 {
			c.call = func(ctx context.Context, i int) error {
				r, err := calc.Add(ctx, int64(i), 1)
				if err == nil && r != int64(i)+1 {
					err = fmt.Errorf("add(%d, 1) = %d", i, r)
				}
				return err
			}
		} else {
			data := bytes.Repeat([]byte("x"), s.Payload)
			c.call = func(ctx context.Context, _ int) error {
				r, err := calc.Echo(ctx, data)
				if err == nil && len(r) != len(data) {
					err = fmt.Errorf("echo: %d bytes back, sent %d", len(r), len(data))
				}
				return err
			}
		}
		c.mark = func(ctx context.Context, m string) (string, error) {
			r, err := calc.Echo(ctx, []byte(m))
			return string(r), err
		}
		return c, nil
	case "v32":
		init := v32.NewInitClient(conn)
		echo, err := init.MakeEcho(ctx)
		if err != nil {
			init.Release()
			return nil, err
		}
		text := strings.Repeat("x", max(s.Payload, 1))
		return &caller{
			call: func(ctx context.Context, i int) error {
				r, err := echo.Echo(ctx, text)
				if err == nil && len(r) != len(text) {
					err = fmt.Errorf("echo: %d bytes back, sent %d", len(r), len(text))
				}
				return err
			},
			mark: func(ctx context.Context, m string) (string, error) { return echo.Echo(ctx, m) },
			close: func() {
				_ = echo.Destroy(ctx)
				init.Release()
			},
		}, nil
	}
	return nil, fmt.Errorf("unknown schema %q", s.Schema)
}

// newBlockCaller makes a template on the demo node and calls getBlock
// on it: the whole block decoded into a *wire.MsgBlock, or with raw its
// serialization as received (GetBlockBytes). Marks go through an Echo.
func newBlockCaller(ctx context.Context, conn *rt.Conn, raw bool) (*caller, error) {
	init := v32.NewInitClient(conn)
	mining, err := init.MakeMining(ctx)
	if err != nil {
		init.Release()
		return nil, err
	}
	tmpl, err := mining.CreateNewBlock(ctx, v32.DefaultBlockCreateOptions(), false)
	if err != nil {
		init.Release()
		return nil, err
	}
	echo, err := init.MakeEcho(ctx)
	if err != nil {
		init.Release()
		return nil, err
	}
	var (
		blk  *wire.MsgBlock
		data []byte
	)
	call := func(ctx context.Context, _ int) error {
		b, err := tmpl.GetBlock(ctx)
		if err == nil {
			blk = b
		}
		return err
	}
	if raw {
		client, ok := tmpl.(*v32.BlockTemplateClient)
		if !ok {
			return nil, fmt.Errorf("template is a %T, not a client", tmpl)
		}
		call = func(ctx context.Context, _ int) error {
			b, err := client.GetBlockBytes(ctx)
			if err == nil {
				data = b
			}
			return err
		}
	}
	return &caller{
		call: call,
		mark: func(ctx context.Context, m string) (string, error) { return echo.Echo(ctx, m) },
		block: func() *wire.MsgBlock {
			if raw {
				blk = new(wire.MsgBlock)
				if err := blk.Deserialize(bytes.NewReader(data)); err != nil {
					return nil
				}
			}
			return blk
		},
		close: func() {
			_ = tmpl.Destroy(ctx)
			_ = echo.Destroy(ctx)
			rt.Release(mining)
			init.Release()
		},
	}, nil
}

func ipcClient(nc net.Conn, s spec) (*ClientResult, error) {
	ctx := context.Background()
	conn, err := ipcConnect(ctx, nc, s.Schema)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	c, err := newCaller(ctx, conn, s)
	if err != nil {
		return nil, err
	}
	defer c.close()
	res := &ClientResult{}
	if err := latencyLoop(ctx, c, s, res); err != nil {
		return nil, err
	}
	if c.block != nil {
		blk := c.block()
		if blk == nil {
			return nil, errors.New("getBlock: no block, or bytes that do not decode")
		}
		res.BlockBytes, res.BlockTxs = blk.SerializeSize(), len(blk.Transactions)
		if res.EncodeUs, res.DecodeUs, err = blockCodecTimes(blk, max(s.N, 5)); err != nil {
			return nil, err
		}
	}
	for _, t := range s.Threads {
		tp, err := throughput(ctx, c, t, s.TputN)
		if err != nil {
			return nil, err
		}
		res.Throughput = append(res.Throughput, tp)
	}
	return res, nil
}

// latencyLoop times s.N sequential calls (or, with ProfSecs, as many as
// fit in that time, for a CPU profile) after a warm-up, with the client's
// CPU time and allocations, and the server's when it is ours.
func latencyLoop(ctx context.Context, c *caller, s spec, res *ClientResult) error {
	for i := 0; i < warmups(s.N); i++ {
		if err := c.call(ctx, i); err != nil {
			return err
		}
	}
	marks := s.Marks && c.mark != nil
	if marks {
		if _, err := c.mark(ctx, markStart); err != nil {
			return err
		}
	}
	if s.AllocProfile != "" {
		if err := writeAllocs(s.AllocProfile + "-0.pprof"); err != nil {
			return err
		}
	}
	var prof *os.File
	if s.Profile != "" {
		f, err := startProfile(s.Profile, s.ProfHz)
		if err != nil {
			return err
		}
		prof = f
	}
	n := s.N
	var deadline time.Time
	if s.ProfSecs > 0 {
		deadline = time.Now().Add(time.Duration(s.ProfSecs * float64(time.Second)))
		n = 1 << 30
	}
	lat := make([]time.Duration, 0, min(n, 1<<20))
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := c.call(ctx, i); err != nil {
			return err
		}
		d := time.Since(t0)
		if len(lat) < cap(lat) {
			lat = append(lat, d)
		}
		if !deadline.IsZero() && t0.After(deadline) {
			n = i + 1
			break
		}
	}
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)
	if prof != nil {
		pprof.StopCPUProfile()
		prof.Close()
	}
	if s.AllocProfile != "" {
		if err := writeAllocs(s.AllocProfile + "-1.pprof"); err != nil {
			return err
		}
	}
	res.Latency = summarize(lat)
	res.CPUusPerCall = float64(cpu.Nanoseconds()) / 1e3 / float64(n)
	res.AllocsPerCall = float64(ms1.Mallocs-ms0.Mallocs) / float64(n)
	res.BytesPerCall = float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(n)
	if marks {
		out, err := c.mark(ctx, markStop)
		if err != nil {
			return err
		}
		st, err := parseServerStats(out)
		if err != nil {
			return err
		}
		res.Server = st
	}
	return nil
}

// throughput runs n calls split over t goroutines, each with one call in
// flight at a time (rt leases each its own Thread of the peer's).
func throughput(ctx context.Context, c *caller, t, n int) (Tput, error) {
	per := max(1, n/t)
	run := func(calls int) (time.Duration, error) {
		var wg sync.WaitGroup
		errs := make(chan error, t)
		start := make(chan struct{})
		for g := 0; g < t; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				<-start
				for i := 0; i < calls; i++ {
					if err := c.call(ctx, g*calls+i); err != nil {
						errs <- err
						return
					}
				}
			}(g)
		}
		t0 := time.Now()
		close(start)
		wg.Wait()
		d := time.Since(t0)
		close(errs)
		return d, <-errs
	}
	if _, err := run(min(20, per)); err != nil { // t leases, warm
		return Tput{}, err
	}
	cpu0 := cpuTime()
	d, err := run(per)
	if err != nil {
		return Tput{}, err
	}
	cpu := cpuTime() - cpu0
	total := per * t
	return Tput{Threads: t, CallsPerS: float64(total) / d.Seconds(), CPUusPerCall: float64(cpu.Nanoseconds()) / 1e3 / float64(total), N: total}, nil
}

// blockCodecTimes times btcd's serialization and deserialization of blk
// in process, n times each, and returns the medians in µs.
func blockCodecTimes(blk *wire.MsgBlock, n int) (enc, dec float64, err error) {
	var buf bytes.Buffer
	et := make([]time.Duration, n)
	dt := make([]time.Duration, n)
	for i := range et {
		buf.Reset()
		t0 := time.Now()
		if err := blk.Serialize(&buf); err != nil {
			return 0, 0, err
		}
		et[i] = time.Since(t0)
		t0 = time.Now()
		var b wire.MsgBlock
		if err := b.Deserialize(bytes.NewReader(buf.Bytes())); err != nil {
			return 0, 0, err
		}
		dt[i] = time.Since(t0)
	}
	return summarize(et).P50us, summarize(dt).P50us, nil
}
