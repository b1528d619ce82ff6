package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	"github.com/bitcoin-ipc/bitcoin-ipc/miner"
)

func TestMain(m *testing.M) {
	// Spawned by TestDemo as the demo node.
	if handled, status := ServeSpawned(os.Args, os.Stderr); handled {
		os.Exit(status)
	}
	// Started by TestStoppedNode as `bitcoin-ipc -datadir=DIR serve`.
	if dir := os.Getenv(envServeDatadir); dir != "" {
		os.Exit(Run(context.Background(), []string{"-datadir=" + dir, "serve"}, Env{Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	os.Exit(m.Run())
}

// testWait bounds every wait in these tests. It only has to catch a hang:
// a loaded machine makes the tests slower, never makes them fail.
const testWait = 2 * time.Minute

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	code := Run(ctx, args, Env{Stdout: &out, Stderr: &errb, Exe: os.Args[0]})
	return result{code, out.String(), errb.String()}
}

// startNode serves a demo node on <datadir>/regtest/node.sock, logging to
// log (none if nil).
func startNode(t *testing.T, log *slog.Logger) (string, *demonode.Node) {
	t.Helper()
	dir := t.TempDir()
	n := demonode.New()
	if err := n.SeedMempool(3); err != nil {
		t.Fatal(err)
	}
	addr, stop, err := n.ListenAndServe(filepath.Join(dir, "regtest"), "unix", log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(addr, "/regtest/node.sock") {
		t.Fatalf("address %s", addr)
	}
	t.Cleanup(func() {
		stop()
		n.Chain().Close()
	})
	return dir, n
}

func TestDemo(t *testing.T) {
	r := run(t, "demo")
	if r.code != 0 {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"spawned demo node", "speaks the v32 schema", `echo: "hello from Go"`, "submitSolution: accepted", "waitTipChanged woke: new tip height 1", "tip: height 0 -> 1", "demo node exited: exit status 0", "demo complete"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo transcript lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestEchoAndProbe(t *testing.T) {
	dir, _ := startNode(t, nil)
	r := run(t, "-datadir="+dir, "-regtest", "echo", "hello there")
	if r.code != 0 || r.stdout != "hello there\n" {
		t.Fatalf("echo: %+v", r)
	}
	r = run(t, "-datadir="+dir, "-chain=regtest", "probe")
	if r.code != 0 || r.stdout != "v32\n" {
		t.Fatalf("probe: %+v", r)
	}
	sock := filepath.Join(dir, "regtest", "node.sock")
	r = run(t, "-ipcconnect=unix:"+sock, "echo", "by path")
	if r.code != 0 || r.stdout != "by path\n" {
		t.Fatalf("echo by path: %+v", r)
	}
}

func TestRPC(t *testing.T) {
	dir, n := startNode(t, nil)
	base := []string{"-datadir=" + dir, "-regtest", "rpc"}
	r := run(t, append(base, "getblockcount")...)
	if r.code != 0 || r.stdout != "0\n" {
		t.Fatalf("getblockcount: %+v", r)
	}
	r = run(t, append(base, "getblockhash", "0")...)
	if r.code != 0 || r.stdout != "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206\n" {
		t.Fatalf("getblockhash: %+v", r)
	}
	r = run(t, append(base, "generatetodescriptor", "2", "raw(51)")...)
	if r.code != 0 || strings.Count(r.stdout, "\"") != 4 || n.Chain().Height() != 2 {
		t.Fatalf("generatetodescriptor: %+v", r)
	}
	hash, _ := n.Chain().HashAtHeight(2)
	r = run(t, "-datadir="+dir, "-regtest", "-named", "rpc", "getblockheader", "blockhash="+hash.String(), "verbose=false")
	if r.code != 0 || len(strings.TrimSpace(r.stdout)) != 160 {
		t.Fatalf("getblockheader -named: %+v", r)
	}
	r = run(t, append(base, "getblockchaininfo")...)
	if r.code != 0 || !strings.Contains(r.stdout, "\"chain\": \"regtest\"") || !strings.Contains(r.stdout, "\"blocks\": 2") {
		t.Fatalf("getblockchaininfo: %+v", r)
	}
	r = run(t, append(base, "nosuchmethod")...)
	if r.code != 32601 || r.stderr != "error code: -32601\nerror message:\nMethod not found\n" {
		t.Fatalf("unknown method: %+v", r)
	}
	r = run(t, append(base, "getblockhash", "abc")...)
	if r.code != 1 || !strings.Contains(r.stderr, "Error parsing JSON") {
		t.Fatalf("bad JSON argument: %+v", r)
	}
}

// requestLog is a slog handler that reports each request for method the
// server logs, on got.
type requestLog struct {
	method string
	got    chan struct{}
}

func newRequestLog(method string) *requestLog {
	return &requestLog{method: method, got: make(chan struct{}, 16)}
}

func (h *requestLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelDebug }
func (h *requestLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "IPC server request" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "method" && a.Value.String() == h.method {
			select {
			case h.got <- struct{}{}:
			default:
			}
		}
		return true
	})
	return nil
}
func (h *requestLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *requestLog) WithGroup(string) slog.Handler      { return h }

// drain forgets the requests reported so far.
func (h *requestLog) drain() {
	for {
		select {
		case <-h.got:
		default:
			return
		}
	}
}

func TestMining(t *testing.T) {
	waits := newRequestLog("Mining.waitTipChanged")
	dir, n := startNode(t, slog.New(waits))
	m := func(args ...string) result {
		return run(t, append([]string{"-datadir=" + dir, "-regtest", "mining"}, args...)...)
	}
	r := m("tip")
	if r.code != 0 || r.stdout != "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206 0\n" {
		t.Fatalf("tip: %+v", r)
	}
	r = m("template")
	for _, want := range []string{"block template for height 1", "txs:      4 (incl. coinbase)", "fees 6000 sat", "scriptSig prefix 51", "1 required output(s)", "merkle path: 2 hash(es)"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("template lacks %q: %+v", want, r)
		}
	}
	r = m("-json", "template")
	if r.code != 0 || !strings.Contains(r.stdout, `"height": 1`) || !strings.Contains(r.stdout, `"totalfees": 6000`) {
		t.Fatalf("template -json: %+v", r)
	}
	r = m("-timeout=100ms", "wait-tip")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "timeout: tip unchanged") {
		t.Fatalf("wait-tip timeout: %+v", r)
	}
	r = m("-timeout=100ms", "wait-next")
	if r.code != 0 || r.stdout != "no better template before the timeout\n" {
		t.Fatalf("wait-next timeout: %+v", r)
	}
	r = m("submit")
	if r.code != 0 || !strings.Contains(r.stdout, "accepted block") || n.Chain().Height() != 1 {
		t.Fatalf("submit: %+v", r)
	}
	// The node's own checks accepted the mined block; it is now the tip.
	tip, _ := n.Chain().Tip()
	if !strings.Contains(r.stdout, tip.String()) {
		t.Fatalf("submitted %s, tip is %s", r.stdout, tip)
	}

	// wait-tip wakes when a block arrives. The block comes once the node
	// got the waitTipChanged call, which names the tip wait-tip read
	// before: whether the node is already waiting then or not, the tip it
	// reports is the new one.
	waits.drain()
	done := make(chan result, 1)
	go func() { done <- m("wait-tip") }()
	select {
	case <-waits.got:
	case r := <-done:
		t.Fatalf("wait-tip returned before the node got its call: %+v", r)
	case <-time.After(testWait):
		t.Fatal("the node got no waitTipChanged call")
	}
	if _, err := n.Chain().GenerateToScript(1, []byte{0x51}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.code != 0 || !strings.HasSuffix(r.stdout, " 2\n") {
			t.Fatalf("wait-tip: %+v", r)
		}
	case <-time.After(testWait):
		t.Fatal("wait-tip did not wake")
	}
}

func TestMiningCheck(t *testing.T) {
	dir, n := startNode(t, nil)
	tmpl, err := n.Chain().CreateTemplate(demonodeOptions())
	if err != nil {
		t.Fatal(err)
	}
	block := tmpl.Block()
	block.Header.Nonce = 0
	for i := uint32(0); ; i++ { // find a nonce that fails the target
		block.Header.Nonce = i
		h := block.Header.BlockHash()
		if h[31] >= 0x80 {
			break
		}
	}
	r := run(t, "-datadir="+dir, "-regtest", "mining", "check", hex.EncodeToString(miner.Serialize(block)))
	if r.code != 1 || !strings.Contains(r.stderr, "invalid: high-hash") {
		t.Fatalf("check of a bad block: %+v", r)
	}
	r = run(t, "-datadir="+dir, "-regtest", "mining", "check", "zz")
	if r.code != 1 || !strings.Contains(r.stderr, "block must be hex") {
		t.Fatalf("check of non-hex: %+v", r)
	}
}

func TestServe(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"-datadir=" + dir, "serve", "-ipcbind=unix:custom.sock"}, Env{Stdout: &out, Stderr: &errb})
	}()
	sock := filepath.Join(dir, "regtest", "custom.sock")
	deadline := time.Now().Add(testWait)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not bind")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := run(t, "-ipcconnect=unix:"+sock, "rpc", "getblockcount")
	if r.code != 0 || r.stdout != "0\n" {
		t.Fatalf("rpc against serve: %+v", r)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exit %d: %s", code, errb.String())
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
	// RPC stop ends serve too.
	go func() {
		done <- Run(context.Background(), []string{"-datadir=" + dir, "serve"}, Env{Stdout: &out, Stderr: &errb})
	}()
	sock = filepath.Join(dir, "regtest", "node.sock")
	for deadline = time.Now().Add(testWait); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not bind")
		}
	}
	if r := run(t, "-datadir="+dir, "-regtest", "rpc", "stop"); r.code != 0 || r.stdout != "Bitcoin Core stopping\n" {
		t.Fatalf("rpc stop: %+v", r)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exit %d", code)
		}
	case <-time.After(testWait):
		t.Fatal("serve did not stop")
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-datadir=" + dir, "-regtest", "echo", "x"}, 1, filepath.Join(dir, "regtest", "node.sock") + ": no such file or directory"},
		{[]string{"-ipcconnect=unix:" + filepath.Join(dir, "nope", "x.sock"), "probe"}, 1, "x.sock: no such file or directory"},
		{[]string{"-ipcconnect=tcp:1234", "probe"}, 1, "Unrecognized address 'tcp:1234'"},
		{[]string{"-ipcconnect=unix:/" + strings.Repeat("a", 120), "probe"}, 1, "exceeded maximum socket path length"},
		{[]string{"-regtest", "-testnet", "probe"}, 1, "Invalid combination"},
		{[]string{"frobnicate"}, 1, "unknown command \"frobnicate\""},
		{[]string{"-nosuchflag", "probe"}, 1, "flag provided but not defined: -nosuchflag"},
		{[]string{"-ipcconnect=0", "probe"}, 1, "IPC is disabled"},
	}
	for _, c := range cases {
		r := run(t, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, r.code, r.stderr, c.code, c.want)
		}
	}
	if r := run(t, "-version"); r.code != 0 || !strings.HasPrefix(r.stdout, "bitcoin-ipc version v") {
		t.Errorf("-version: %+v", r)
	}
	dir2, _ := startNode(t, nil)
	for _, args := range [][]string{{"echo"}, {"rpc"}, {"mining"}, {"mining", "dig"}, {"mining", "check"}, {"probe", "x"}} {
		r := run(t, append([]string{"-datadir=" + dir2, "-regtest"}, args...)...)
		if r.code != 1 || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

// TestServePolicyOptions: serve takes Core's mining policy options and
// refuses bad values with Core's startup errors before binding.
func TestServePolicyOptions(t *testing.T) {
	for _, c := range []struct{ arg, want string }{
		{"-blockmaxweight=4000001", "Specified -blockmaxweight (4000001) exceeds consensus maximum block weight (4000000)"},
		{"-blockreservedweight=1999", "Specified -blockreservedweight (1999) is lower than minimum safety value of (2000)"},
		{"-blockmintxfee=abc", "Invalid amount for -blockmintxfee=<amount>: 'abc'"},
	} {
		dir := t.TempDir()
		var out, errb bytes.Buffer
		code := Run(context.Background(), []string{"-datadir=" + dir, "serve", c.arg}, Env{Stdout: &out, Stderr: &errb})
		if code != 1 || errb.String() != "error: "+c.want+"\n" {
			t.Errorf("serve %s: exit %d, stderr %q, want %q", c.arg, code, errb.String(), c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "regtest", "node.sock")); !os.IsNotExist(err) {
			t.Errorf("serve %s bound its socket", c.arg)
		}
	}
}
