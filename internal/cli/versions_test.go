package cli

import (
	"context"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/miner"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
)

var httpLine = regexp.MustCompile(`JSON-RPC over HTTP on 127\.0\.0\.1:(\d+) `)

// startServe runs `bitcoin-ipc -datadir=DIR serve -schema=SCHEMA
// -rpcport=0 EXTRA...` until the test ends, and returns DIR and the HTTP
// port once both the socket and the port are there. When serve has ended
// (exit 0), its cookie file is gone.
func startServe(t *testing.T, schema probe.Version, extra ...string) (dir, port string) {
	t.Helper()
	dir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb testutil.Buffer
	done := make(chan int, 1)
	go func() {
		args := append([]string{"-datadir=" + dir, "serve", "-schema=" + string(schema), "-rpcport=0"}, extra...)
		done <- Run(ctx, args, Env{Stdout: &out, Stderr: &errb})
	}()
	cookie := filepath.Join(dir, "regtest", ".cookie")
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve -schema=%s exit %d: %s", schema, code, errb.String())
		}
		if _, err := os.Stat(cookie); !os.IsNotExist(err) {
			t.Errorf("serve left its cookie file: %v", err)
		}
	})
	sock := filepath.Join(dir, "regtest", "node.sock")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		_, err := os.Stat(sock)
		if m := httpLine.FindStringSubmatch(out.String()); err == nil && m != nil {
			fi, err := os.Stat(cookie)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("cookie file: %v, %v", fi, err)
			}
			return dir, m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("serve -schema=%s exited %d: %s", schema, code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve -schema=%s did not start: %s", schema, out.String())
		}
	}
}

// Every client command against `serve -schema=v30`, `v31` and `v32`: the
// same commands and the same answers, but rpc, which needs v32's makeRpc.
func TestEveryRelease(t *testing.T) {
	// A block on the demo chain's genesis with a nonce that fails the
	// target: every demo node answers it high-hash.
	d := demonode.New()
	tmpl, err := d.Chain().CreateTemplate(demonodeOptions())
	d.Chain().Close()
	if err != nil {
		t.Fatal(err)
	}
	block := tmpl.Block()
	for i := uint32(0); ; i++ {
		block.Header.Nonce = i
		if h := block.Header.BlockHash(); h[31] >= 0x80 {
			break
		}
	}
	badBlock := hex.EncodeToString(miner.Serialize(block))

	for _, v := range demonode.Schemas {
		t.Run(string(v), func(t *testing.T) {
			dir, _ := startServe(t, v)
			base := []string{"-datadir=" + dir, "-regtest"}
			cmd := func(args ...string) result { return run(t, append(base, args...)...) }
			if r := cmd("probe"); r.code != 0 || r.stdout != string(v)+"\n" {
				t.Fatalf("probe: %+v", r)
			}
			if r := cmd("echo", "hello", "there"); r.code != 0 || r.stdout != "[\n  \"hello\",\n  \"there\"\n]\n" {
				t.Fatalf("echo: %+v", r)
			}
			if r := cmd("mining", "tip"); r.code != 0 || r.stdout != "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206 0\n" {
				t.Fatalf("mining tip: %+v", r)
			}
			r := cmd("mining", "template")
			for _, want := range []string{"block template for height 1", "txs:      6 (incl. coinbase)", "fees 15000 sat", "scriptSig prefix 51",
				"reward remaining 5000015000 sat, 1 required output(s)", "merkle path: 3 hash(es)"} {
				if r.code != 0 || !strings.Contains(r.stdout, want) {
					t.Fatalf("mining template lacks %q: %+v", want, r)
				}
			}
			if r := cmd("-json", "mining", "template"); r.code != 0 || !strings.Contains(r.stdout, `"height": 1`) || !strings.Contains(r.stdout, `"totalfees": 15000`) {
				t.Fatalf("mining template -json: %+v", r)
			}
			if r := cmd("mining", "check", badBlock); r.code != 1 || !strings.Contains(r.stderr, "invalid: high-hash") {
				t.Fatalf("mining check: %+v", r)
			}
			if r := cmd("-timeout=100ms", "mining", "wait-tip"); r.code != 0 || !strings.HasPrefix(r.stdout, "timeout: tip unchanged") {
				t.Fatalf("mining wait-tip: %+v", r)
			}
			if r := cmd("-timeout=100ms", "mining", "wait-next"); r.code != 0 || r.stdout != "no better template before the timeout\n" {
				t.Fatalf("mining wait-next: %+v", r)
			}
			if r := cmd("mining", "submit"); r.code != 0 || !strings.Contains(r.stdout, "accepted block") || !strings.Contains(r.stdout, "at height 1") {
				t.Fatalf("mining submit: %+v", r)
			}
			if r := cmd("mining", "tip"); r.code != 0 || !strings.HasSuffix(r.stdout, " 1\n") {
				t.Fatalf("mining tip after submit: %+v", r)
			}
			// rpc over IPC on v32; over HTTP on v30 and v31 (without -rpcport
			// here: the test's serve is on a port of its own, see TestRPCFallback).
			if r := cmd("-ipconly", "rpc", "getblockcount"); v == probe.V32 && (r.code != 0 || r.stdout != "1\n") ||
				v != probe.V32 && (r.code != 1 || r.stderr != "error: Init.makeRpc: not in the node's schema: the node speaks "+string(v)+"; v32 has it (-ipconly forbids the HTTP fallback)\n") {
				t.Fatalf("rpc -ipconly getblockcount: %+v", r)
			}
		})
	}
}

// rpc on every release: over IPC where the node has makeRpc (v32), else
// over HTTP as bitcoin-cli sends it, with the cookie or user/password;
// the same answers either way; a wrong password, a port with nothing
// behind it, -ipconly.
func TestRPCFallback(t *testing.T) {
	// A loopback port with nothing behind it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, closedPort, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()

	var ipcInfo string
	for _, v := range demonode.Schemas {
		t.Run(string(v), func(t *testing.T) {
			dir, port := startServe(t, v, "-rpcuser=alice", "-rpcpassword=wonderland")
			base := []string{"-datadir=" + dir, "-regtest", "-rpcport=" + port}
			cmd := func(args ...string) result { return run(t, append(base, args...)...) }
			path := "over HTTP: the node has no Init.makeRpc"
			if v == probe.V32 {
				path = "over IPC: Init.makeRpc, Rpc.executeRpc"
			}
			r := cmd("-debug=ipc", "rpc", "getblockcount")
			if r.code != 0 || r.stdout != "0\n" || !strings.Contains(r.stderr, "rpc "+path) {
				t.Fatalf("rpc getblockcount (%s): %+v", path, r)
			}
			cookie, err := os.ReadFile(filepath.Join(dir, "regtest", ".cookie"))
			if err != nil {
				t.Fatal(err)
			}
			_, secret, _ := strings.Cut(string(cookie), ":")
			// Over HTTP on every release with -ipcconnect=0: the cookie,
			// the cookie as user/password, the serve's own user/password,
			// -rpcconnect=host:port.
			for _, creds := range [][]string{
				nil,
				{"-rpcuser=__cookie__", "-rpcpassword=" + secret},
				{"-rpcuser=alice", "-rpcpassword=wonderland"},
				{"-rpccookiefile=" + filepath.Join(dir, "regtest", ".cookie")},
			} {
				r := cmd(append(append([]string{"-ipcconnect=0", "-debug=ipc"}, creds...), "rpc", "getblockcount")...)
				if r.code != 0 || r.stdout != "0\n" || !strings.Contains(r.stderr, "rpc over HTTP (-ipcconnect=0)") {
					t.Fatalf("rpc over HTTP with %v: %+v", creds, r)
				}
			}
			if r := run(t, "-datadir="+dir, "-regtest", "-ipcconnect=0", "-rpcconnect=127.0.0.1:"+port, "rpc", "getblockcount"); r.code != 0 || r.stdout != "0\n" {
				t.Fatalf("rpc with -rpcconnect=host:port: %+v", r)
			}
			// -ipcconnect=auto: the node's own path while it is on the
			// socket; HTTP where nothing is.
			if r := cmd("-ipcconnect=auto", "-debug=ipc", "rpc", "getblockcount"); r.code != 0 || r.stdout != "0\n" || !strings.Contains(r.stderr, "rpc "+path) {
				t.Fatalf("rpc -ipcconnect=auto with a node on the socket: %+v", r)
			}
			elsewhere := t.TempDir()
			if r := run(t, "-datadir="+elsewhere, "-regtest", "-rpcport="+port, "-rpccookiefile="+filepath.Join(dir, "regtest", ".cookie"), "-ipcconnect=auto", "-debug=ipc", "rpc", "getblockcount"); r.code != 0 || r.stdout != "0\n" || !strings.Contains(r.stderr, "rpc over HTTP: no node on the IPC socket") {
				t.Fatalf("rpc -ipcconnect=auto with no socket: %+v", r)
			}
			if r := run(t, "-datadir="+elsewhere, "-regtest", "-rpcport="+port, "-ipcconnect=auto", "-ipconly", "rpc", "getblockcount"); r.code != 1 || !strings.Contains(r.stderr, "no node at") {
				t.Fatalf("rpc -ipcconnect=auto -ipconly with no socket: %+v", r)
			}
			// The same answers over both paths (HTTP, and IPC or its
			// fallback), errors and exit codes included.
			for _, call := range [][]string{{"getblockchaininfo"}, {"getblockhash", "0"}, {"nosuchmethod"}, {"getblockcount", "extra"}} {
				viaNode := cmd(append([]string{"rpc"}, call...)...)
				viaHTTP := cmd(append([]string{"-ipcconnect=0", "rpc"}, call...)...)
				if viaNode != viaHTTP || viaNode.stdout == "" && viaNode.stderr == "" {
					t.Fatalf("rpc %v: %+v over the node's path, %+v over HTTP", call, viaNode, viaHTTP)
				}
			}
			info := cmd("rpc", "getblockchaininfo").stdout
			if ipcInfo == "" {
				ipcInfo = info
			} else if info != ipcInfo {
				t.Fatalf("getblockchaininfo differs between releases:\n%s\n%s", ipcInfo, info)
			}

			r = cmd("-ipconly", "-ipcconnect=0", "rpc", "getblockcount")
			if r.code != 1 || r.stderr != "error: -ipconly with -ipcconnect=0 leaves no way to reach the node\n" {
				t.Fatalf("-ipconly -ipcconnect=0: %+v", r)
			}
			r = cmd("-ipcconnect=0", "-rpcuser=__cookie__", "-rpcpassword=wrong", "rpc", "getblockcount")
			if r.code != 1 || r.stdout != "" || r.stderr != "error: Authorization failed: Incorrect rpcuser or rpcpassword\n" {
				t.Fatalf("wrong password: %+v", r)
			}
			r = run(t, "-datadir="+dir, "-regtest", "-ipcconnect=0", "-rpcport="+closedPort, "rpc", "getblockcount")
			if r.code != 1 || !strings.HasPrefix(r.stderr, "error: Could not connect to the server 127.0.0.1:"+closedPort+"\n\nMake sure") {
				t.Fatalf("a port with nothing behind it: %+v", r)
			}
			r = run(t, "-datadir="+t.TempDir(), "-regtest", "-ipcconnect=0", "-rpcport="+port, "rpc", "getblockcount")
			if r.code != 1 || !strings.HasPrefix(r.stderr, "error: Could not locate RPC credentials. No authentication cookie could be found") {
				t.Fatalf("no cookie: %+v", r)
			}
		})
	}
}
