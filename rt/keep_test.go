package rt_test

import (
	"context"
	"sync/atomic"
	"testing"

	"capnproto.org/go/capnp/v3"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest/rttestcapnp"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

var methodEcho = rt.Method{Interface: "Calc", Name: "echo", InterfaceID: rttestcapnp.Calc_TypeID, ID: 8,
	Params: capnp.ObjectSize{PointerCount: 2}, Results: capnp.ObjectSize{PointerCount: 1},
	HasContext: true, ContextPtr: 0}

// echoKeep calls echo(data) through base and returns Results.Keep of the
// result, and whether it shares the results' bytes.
func echoKeep(ctx context.Context, t *testing.T, base *rt.ClientBase, data string) (kept []byte, shared bool) {
	t.Helper()
	err := base.Invoke(ctx, &methodEcho, func(p *rt.Params) error {
		return rttestcapnp.Calc_echo_Params(p.Struct()).SetData([]byte(data))
	}, func(r *rt.Results) error {
		b, err := rttestcapnp.Calc_echo_Results(r.Struct()).Result()
		if err != nil {
			return err
		}
		kept = r.Keep(b)
		shared = len(b) > 0 && &kept[0] == &b[0]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return kept, shared
}

// Results.Keep hands out the received bytes themselves for a call to the
// peer (they stay intact after later calls, and appending to them cannot
// reach past them), and a copy for a call in this process, whose results
// message is reused.
func TestResultsKeep(t *testing.T) {
	p := newPair(t, nil)
	ctx := ctxT(t)
	base := rt.NewClientBase(p.calc.Cap().AddRef())
	defer base.Release()
	kept, shared := echoKeep(ctx, t, base, "the first payload")
	if !shared || cap(kept) != len(kept) {
		t.Fatalf("remote results: shared %v, cap %d len %d; want the received bytes, capacity cut", shared, cap(kept), len(kept))
	}
	echoKeep(ctx, t, base, "a second, other payload")
	if string(kept) != "the first payload" {
		t.Fatalf("kept bytes changed to %q", kept)
	}

	local := rt.NewClientBase(rttest.CalcServer(&calcImpl{destroyed: new(atomic.Int32), hooks: &hooks{}}))
	defer local.Release()
	kept, shared = echoKeep(ctx, t, local, "a local payload")
	if shared || string(kept) != "a local payload" {
		t.Fatalf("local results: shared %v, %q; want a copy", shared, kept)
	}
}

// BenchmarkEcho4MB is a 4 MB echo through Invoke Go↔Go (both sides in
// this process), the result read with Keep or copied as generated code
// did before Keep.
func BenchmarkEcho4MB(b *testing.B) {
	p := newPair(b, nil)
	ctx := context.Background()
	base := rt.NewClientBase(p.calc.Cap().AddRef())
	defer base.Release()
	data := make([]byte, 4<<20)
	for _, keep := range []bool{true, false} {
		name := "keep"
		if !keep {
			name = "clone"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				err := base.Invoke(ctx, &methodEcho, func(p *rt.Params) error {
					return rttestcapnp.Calc_echo_Params(p.Struct()).SetData(data)
				}, func(r *rt.Results) error {
					res, err := rttestcapnp.Calc_echo_Results(r.Struct()).Result()
					if keep {
						res = r.Keep(res)
					} else {
						res = append([]byte(nil), res...)
					}
					if len(res) != len(data) {
						b.Fatalf("echo returned %d bytes", len(res))
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
