package rt_test

// The Calc.add round trip through rt (generated proxies, leases,
// executors) against the bare engine (rt/internal/engine) it runs on,
// Go↔Go over a Unix socket, in one run: what rt adds to each call.
//
//	go test -run '^$' -bench RTVsEngine -benchmem ./rt/
//
// Both sides run in this process, so allocs/op counts client and server.
// Both are Calc.add with a context on a server Thread executor.

import (
	"context"
	"errors"
	"testing"

	"capnproto.org/go/capnp/v3"

	"github.com/bitcoin-ipc/bitcoin-ipc/gen/mp"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest/rttestcapnp"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine"
)

// benchThread is an engine-side server Thread: one executor goroutine.
type benchThread struct{ ch chan func() }

func (t *benchThread) Dispatch(c *engine.Call) { c.Return(errors.New("no methods")) }
func (t *benchThread) Shutdown()               { close(t.ch) }

// benchCalc serves Calc.add on the Thread its context names.
type benchCalc struct{}

func (benchCalc) Dispatch(c *engine.Call) {
	if c.InterfaceID != rttestcapnp.Calc_TypeID || c.MethodID != 1 {
		c.Return(errors.New("no such method"))
		return
	}
	args := c.Args()
	ctxp, err := args.Ptr(0)
	if err != nil {
		c.Return(err)
		return
	}
	th := c.ArgPtrCap(ctxp.Struct(), 0)
	th.OnResolved(func() {
		t, ok := th.Server().(*benchThread)
		th.Release()
		if !ok {
			c.Return(errors.New("invalid thread handle"))
			return
		}
		t.ch <- func() {
			res, err := c.AllocResults(capnp.ObjectSize{DataSize: 8})
			if err == nil {
				res.SetUint64(0, args.Uint64(0)+args.Uint64(8))
			}
			c.Return(err)
		}
	})
}

func newBenchThread() *engine.Client {
	t := &benchThread{ch: make(chan func(), 16)}
	go func() {
		for f := range t.ch {
			f()
		}
	}()
	return engine.NewLocal(t)
}

// benchBoot answers makeThread-less setups: the bootstrap is a ThreadMap
// of one method (makeThread) and Calc at once, by interface id.
type benchBoot struct{}

func (benchBoot) Dispatch(c *engine.Call) {
	switch c.InterfaceID {
	case mp.ThreadMap_TypeID:
		th := newBenchThread()
		defer th.Release()
		res, err := c.AllocResults(capnp.ObjectSize{PointerCount: 1})
		if err == nil {
			err = c.SetResultCap(res, 0, th)
		}
		c.Return(err)
	default:
		benchCalc{}.Dispatch(c)
	}
}

func engineAdd(ctx context.Context, calc, thread *engine.Client, a, b uint64) (uint64, error) {
	req, err := calc.NewRequest(rttestcapnp.Calc_TypeID, 1, capnp.ObjectSize{DataSize: 16, PointerCount: 1})
	if err != nil {
		return 0, err
	}
	p := req.Params()
	cctx, err := capnp.NewStruct(p.Segment(), capnp.ObjectSize{PointerCount: 2})
	if err != nil {
		return 0, err
	}
	if err := p.SetPtr(0, cctx.ToPtr()); err != nil {
		return 0, err
	}
	if err := req.SetCap(cctx, 0, thread); err != nil {
		return 0, err
	}
	p.SetUint64(0, a)
	p.SetUint64(8, b)
	ans := req.Send()
	defer ans.Release()
	res, err := ans.Wait(ctx)
	if err != nil {
		return 0, err
	}
	return res.Uint64(0), nil
}

func BenchmarkRTVsEngine(b *testing.B) {
	ctx := context.Background()
	b.Run("rt", func(b *testing.B) {
		p := newPair(b, nil)
		if _, err := p.calc.Add(ctx, 1, 1); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if r, err := p.calc.Add(ctx, int64(i), 1); err != nil || r != int64(i)+1 {
				b.Fatal(r, err)
			}
		}
	})
	b.Run("engine", func(b *testing.B) {
		x, y := socketPair(b)
		boot := engine.NewLocal(benchBoot{})
		server := engine.New(y, engine.Options{Bootstrap: boot})
		boot.Release()
		client := engine.New(x, engine.Options{})
		defer server.Close()
		defer client.Close()
		calc := client.Bootstrap()
		defer calc.Release()
		req, err := calc.NewRequest(mp.ThreadMap_TypeID, 0, capnp.ObjectSize{PointerCount: 1})
		if err != nil {
			b.Fatal(err)
		}
		ans := req.Send()
		thread := ans.Pipeline(0)
		ans.Release()
		defer thread.Release()
		if _, err := engineAdd(ctx, calc, thread, 1, 1); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if r, err := engineAdd(ctx, calc, thread, uint64(i), 1); err != nil || r != uint64(i)+1 {
				b.Fatal(r, err)
			}
		}
	})
}
