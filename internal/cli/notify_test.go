package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/zmqnotify"
)

// running is the commands started by background; waitFor fails as soon
// as one of them ends before it is stopped.
type running struct {
	t     *testing.T
	ended chan struct{}
	once  sync.Once
}

// background runs the command until stop is called, which returns its
// exit code.
func (r *running) background(args ...string) (out, errb *testutil.Buffer, stop func() int) {
	r.t.Helper()
	out, errb = &testutil.Buffer{}, &testutil.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code := Run(ctx, args, Env{Stdout: out, Stderr: errb})
		if ctx.Err() == nil {
			r.once.Do(func() { close(r.ended) })
		}
		done <- code
	}()
	return out, errb, func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(testWait):
			r.t.Fatalf("%v did not end", args)
			return -1
		}
	}
}

// waitFor waits until cond holds, checking it as the commands make
// progress (the deadline only catches a hang).
func (r *running) waitFor(what string, cond func() bool) {
	r.t.Helper()
	for deadline := time.Now().Add(testWait); !cond(); time.Sleep(time.Millisecond) {
		select {
		case <-r.ended:
			r.t.Fatalf("a command ended while waiting for %s", what)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("never: %s", what)
		}
	}
}

func publishing(t *testing.T, n *demonode.Node, topics ...zmqnotify.Topic) *demonode.ZMQPublisher {
	t.Helper()
	var opts []demonode.ZMQOption
	for _, tp := range topics {
		opts = append(opts, demonode.ZMQOption{Topic: tp, Address: "tcp://127.0.0.1:0"})
	}
	p, err := n.PublishZMQ(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestSubscribe(t *testing.T) {
	_, n := startNode(t, nil)
	p := publishing(t, n, zmqnotify.HashBlock, zmqnotify.Sequence, zmqnotify.RawTx)
	addr := p.Addr(zmqnotify.HashBlock)
	r := &running{t: t, ended: make(chan struct{})}
	out, errb, stop := r.background("subscribe", "-zmq="+addr, "hashblock", "sequence")
	jout, _, jstop := r.background("-json", "subscribe", "-zmq="+addr, "rawtx")
	r.waitFor("subscriptions", func() bool {
		return p.Subscribed(zmqnotify.HashBlock) && p.Subscribed(zmqnotify.Sequence) && p.Subscribed(zmqnotify.RawTx)
	})
	hashes, err := n.Chain().GenerateToScript(1, opTrue)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := n.Chain().BlockByHash(hashes[0])
	cb := block.Transactions[0].TxHash()
	r.waitFor("the hashblock line", func() bool { return strings.Contains(out.String(), "hashblock 0") })
	r.waitFor("the rawtx objects", func() bool { return strings.Count(jout.String(), "\n") == 1+len(block.Transactions) })
	if code := stop(); code != 0 {
		t.Fatalf("subscribe exit %d: %s", code, errb.String())
	}
	jstop()
	want := fmt.Sprintf("connected to %s\nsequence 0 %s C\nhashblock 0 %s\n", addr, hashes[0], hashes[0])
	if out.String() != want {
		t.Fatalf("subscribe printed\n%s\nwant\n%s", out, want)
	}
	lines := strings.Split(jout.String(), "\n")
	if !strings.HasPrefix(lines[0], `{"event":"connected"`) || !strings.HasPrefix(lines[1], fmt.Sprintf(`{"event":"message","topic":"rawtx","seq":0,"hash":"%s","hex":"`, cb)) {
		t.Fatalf("subscribe -json printed\n%s", jout)
	}
}

func TestSubscribeRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"subscribe", "hashblock"},
		{"subscribe", "-zmq=tcp://127.0.0.1:1", "hashblocks"},
		{"subscribe", "-zmq=127.0.0.1:1"},
	} {
		if r := run(t, args...); r.code != 1 || !strings.Contains(r.stderr, "error:") {
			t.Errorf("%v: %+v", args, r)
		}
	}
}

func TestServeZMQ(t *testing.T) {
	dir := t.TempDir()
	if r := run(t, "-datadir="+dir, "serve", "-zmqpubhashblock=tcp://0.0.0.0:28332"); r.code != 1 || !strings.Contains(r.stderr, "not a loopback address") {
		t.Fatalf("serve on 0.0.0.0: %+v", r)
	}
	r := &running{t: t, ended: make(chan struct{})}
	out, errb, stop := r.background("-datadir="+dir, "serve", "-zmqpubhashblock=tcp://127.0.0.1:0", "-zmqpubrawblock=tcp://127.0.0.1:0")
	var addr string
	r.waitFor("serve publishing", func() bool {
		for _, l := range strings.Split(out.String(), "\n") {
			if a, ok := strings.CutPrefix(l, "demo node publishing rawblock on "); ok {
				addr = a
			}
		}
		return addr != "" && strings.Contains(out.String(), "demo node publishing hashblock on tcp://127.0.0.1:") && strings.Contains(out.String(), "listening")
	})
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	events, err := zmqnotify.Subscribe(ctx, addr, []zmqnotify.Topic{zmqnotify.RawBlock})
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-events; ev.Kind != zmqnotify.EventConnected {
		t.Fatalf("subscribing to serve: %+v", ev)
	}
	cancel()
	if code := stop(); code != 0 {
		t.Fatalf("serve exit %d: %s", code, errb.String())
	}
}

// mining wait-tip -follow prints every tip, over IPC, and over ZMQ with
// -ipcconnect=0 or when there is no IPC node.
func TestFollow(t *testing.T) {
	dir, n := startNode(t, nil)
	noNode := t.TempDir()
	if err := os.MkdirAll(filepath.Join(noNode, "regtest"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		via  string
	}{
		{"ipc", []string{"-datadir=" + dir, "-regtest"}, "tips over IPC"},
		{"ipcconnect=0", []string{"-datadir=" + dir, "-regtest", "-ipcconnect=0"}, "tips over ZMQ"},
		{"no node", []string{"-datadir=" + noNode, "-regtest"}, "tips over ZMQ"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A publisher of its own, whose subscription can only be
			// this command's.
			p := publishing(t, n, zmqnotify.HashBlock)
			args := append(c.args, "-zmq="+p.Addr(zmqnotify.HashBlock), "-debug=ipc", "mining", "wait-tip", "-follow")
			r := &running{t: t, ended: make(chan struct{})}
			out, errb, stop := r.background(args...)
			r.waitFor(c.via, func() bool { return strings.Contains(errb.String(), c.via) })
			if c.via == "tips over ZMQ" {
				r.waitFor("the subscription", func() bool { return p.Subscribed(zmqnotify.HashBlock) })
			}
			var want strings.Builder
			for i := 0; i < 3; i++ {
				hashes, err := n.Chain().GenerateToScript(1, opTrue)
				if err != nil {
					t.Fatal(err)
				}
				if c.via == "tips over IPC" {
					fmt.Fprintf(&want, "%s %d\n", hashes[0], n.Chain().Height())
				} else {
					fmt.Fprintf(&want, "%s\n", hashes[0])
				}
				r.waitFor("tip "+hashes[0].String(), func() bool { return out.String() == want.String() })
			}
			if code := stop(); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
		})
	}
}
