package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	"github.com/bitcoin-ipc/bitcoin-ipc/miner"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
)

// startServe runs `bitcoin-ipc -datadir=DIR serve -schema=SCHEMA` until the
// test ends, and returns DIR once the socket is there.
func startServe(t *testing.T, schema probe.Version) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"-datadir=" + dir, "serve", "-schema=" + string(schema)}, Env{Stdout: &out, Stderr: &errb})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve -schema=%s exit %d: %s", schema, code, errb.String())
		}
	})
	sock := filepath.Join(dir, "regtest", "node.sock")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return dir
		}
		select {
		case code := <-done:
			t.Fatalf("serve -schema=%s exited %d: %s", schema, code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve -schema=%s did not bind", schema)
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
			dir := startServe(t, v)
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
			r = cmd("rpc", "getblockcount")
			if v == probe.V32 {
				if r.code != 0 || r.stdout != "1\n" {
					t.Fatalf("rpc getblockcount: %+v", r)
				}
				return
			}
			if r.code != 1 || r.stdout != "" || r.stderr != "error: Init.makeRpc: not in the node's schema: the node speaks "+string(v)+"; v32 has it\n" {
				t.Fatalf("rpc getblockcount on %s: %+v", v, r)
			}
		})
	}
}
