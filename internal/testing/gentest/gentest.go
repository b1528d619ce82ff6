// Package gentest holds what the round-trip tests of the generated packages
// (gen/v30, gen/v31, gen/v32, gen/multiprocess) share: a Go client and a Go
// server connected over a unix socketpair, sample Bitcoin values, a counter
// of the requests a connection sends, and a table runner that compares what
// the client got and what the server saw.
package gentest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// Context is a context that ends with the test (or after 30 s).
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Connect serves boot (the set's Init) on one end of an AF_UNIX socketpair
// and connects (rt.Connect: bootstrap + Init.construct) from the other.
// Both connections are closed when the test ends.
func Connect(t testing.TB, boot func(*rt.Conn) *rt.Cap, clientOpts ...rt.Option) (client, server *rt.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := fileConn(t, fds[0], "client"), fileConn(t, fds[1], "server")
	server = rt.Serve(b, boot, rt.WithName("gentest-server"))
	t.Cleanup(func() { server.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err = rt.Connect(ctx, a, append([]rt.Option{rt.WithName("gentest-client")}, clientOpts...)...)
	if err != nil {
		t.Fatalf("rt.Connect: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client, server
}

func fileConn(t testing.TB, fd int, name string) net.Conn {
	t.Helper()
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	nc, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// Hash is a hash whose bytes are seed, seed+1, ...
func Hash(seed byte) chainhash.Hash {
	var h chainhash.Hash
	for i := range h {
		h[i] = seed + byte(i)
	}
	return h
}

// Tx is a one-input, two-output segwit transaction that depends on seed.
func Tx(seed byte) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(wire.NewOutPoint(ptr(Hash(seed)), uint32(seed)), []byte{0x51, seed}, wire.TxWitness{{seed, 2, 3}, {4}})
	in.Sequence = 0xfffffffd
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(int64(seed)*1000+1, []byte{0x00, 0x14, seed}))
	tx.AddTxOut(wire.NewTxOut(546, []byte{0x6a, 0x01, seed}))
	tx.LockTime = 800000 + uint32(seed)
	return tx
}

// Block is a block with a coinbase-like first transaction and ntx-1 more.
func Block(seed byte, ntx int) *wire.MsgBlock {
	hdr := wire.NewBlockHeader(0x20000000, ptr(Hash(seed)), ptr(Hash(seed+1)), 0x1d00ffff, 12345+uint32(seed))
	hdr.Timestamp = time.Unix(1700000000+int64(seed), 0)
	blk := wire.NewMsgBlock(hdr)
	for i := range ntx {
		blk.AddTransaction(Tx(seed + byte(i)))
	}
	return blk
}

func ptr[T any](v T) *T { return &v }

// Sends counts, per method ("Echo.destroy"), the requests a connection
// sends, from the connection's debug log. Pass Sends.Option() to Connect.
type Sends struct {
	mu sync.Mutex
	n  map[string]int
}

// Option makes a connection report its requests to s.
func (s *Sends) Option() rt.Option { return rt.WithLogger(slog.New(sendsHandler{s})) }

// Count is how many requests of method were sent.
func (s *Sends) Count(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[method]
}

type sendsHandler struct{ s *Sends }

func (h sendsHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelDebug }

func (h sendsHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "IPC client send request" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "method" {
			h.s.mu.Lock()
			if h.s.n == nil {
				h.s.n = make(map[string]int)
			}
			h.s.n[a.Value.String()]++
			h.s.mu.Unlock()
			return false
		}
		return true
	})
	return nil
}

func (h sendsHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h sendsHandler) WithGroup(string) slog.Handler      { return h }

// Recorder keeps what server implementations saw, by key
// ("Interface.method"), for the test to compare.
type Recorder struct {
	mu sync.Mutex
	m  map[string][]any
}

// Put records the values seen under key (replacing earlier ones).
func (r *Recorder) Put(key string, v ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string][]any)
	}
	r.m[key] = v
}

func (r *Recorder) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, key)
}

// Get returns what was recorded under key.
func (r *Recorder) Get(key string) []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[key]
}

// Case is one method call through a generated client.
type Case struct {
	Name string                                   // "Interface.method"; the server records under it
	Call func(ctx context.Context) ([]any, error) // the call; returns the results the client got
	Want []any                                    // results the client must see
	Seen []any                                    // params the server must have seen (Recorder key Name); nil: not checked
	Also map[string][]any                         // more Recorder keys to check (e.g. what a callback's caller got)
}

// Run runs each case as a subtest and compares, with reflect.DeepEqual,
// the results with Want and what rec holds under the case's name with Seen
// (and under the keys of Also). Those keys are cleared before the call, so
// that a server that records nothing fails.
func Run(t *testing.T, ctx context.Context, rec *Recorder, cases []Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			rec.forget(c.Name)
			for key := range c.Also {
				rec.forget(key)
			}
			got, err := c.Call(ctx)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			if !reflect.DeepEqual(got, c.Want) {
				t.Errorf("%s results:\n got  %s\n want %s", c.Name, Show(got), Show(c.Want))
			}
			if c.Seen != nil {
				if seen := rec.Get(c.Name); !reflect.DeepEqual(seen, c.Seen) {
					t.Errorf("%s params seen by the server:\n got  %s\n want %s", c.Name, Show(seen), Show(c.Seen))
				}
			}
			for key, want := range c.Also {
				if seen := rec.Get(key); !reflect.DeepEqual(seen, want) {
					t.Errorf("%s: recorded %s:\n got  %s\n want %s", c.Name, key, Show(seen), Show(want))
				}
			}
		})
	}
}

// Expect checks what rec holds under key.
func Expect(t testing.TB, rec *Recorder, key string, want ...any) {
	t.Helper()
	if seen := rec.Get(key); !reflect.DeepEqual(seen, want) {
		t.Errorf("recorded %s:\n got  %s\n want %s", key, Show(seen), Show(want))
	}
}

// Show formats values for failure messages, dereferencing pointers and
// printing transactions and blocks by hash.
func Show(vs []any) string {
	var b bytes.Buffer
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		switch x := v.(type) {
		case *wire.MsgTx:
			if x != nil {
				fmt.Fprintf(&b, "tx(%s)", x.TxHash())
				continue
			}
		case *wire.MsgBlock:
			if x != nil {
				fmt.Fprintf(&b, "block(%s, %d txs)", x.BlockHash(), len(x.Transactions))
				continue
			}
		}
		fmt.Fprintf(&b, "%+v", deref(v))
	}
	return "[" + b.String() + "]"
}

func deref(v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		return rv.Elem().Interface()
	}
	return v
}
