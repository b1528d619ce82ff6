package rt_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// pingBackCalc keeps the callback its CallBack gets; Ping(1) calls it
// (a call without a context calling back into the peer).
type pingBackCalc struct {
	calcImpl
	mu sync.Mutex
	cb rttest.Callback
}

func (s *pingBackCalc) CallBack(ctx context.Context, cb rttest.Callback, depth int32) (int32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cb = cb
	return 0, nil
}

func (s *pingBackCalc) Ping(ctx context.Context, x uint64) (uint64, error) {
	if x != 1 {
		return x, nil
	}
	s.mu.Lock()
	cb := s.cb
	s.mu.Unlock()
	r, err := cb.Call(ctx, 0)
	return uint64(r) + 10, err
}

// pingCallback answers Callback.call by calling calc.ping(2) first.
type pingCallback struct{ calc *rttest.CalcClient }

func (s *pingCallback) Destroy(context.Context) error { return nil }

func (s *pingCallback) Call(ctx context.Context, depth int32) (int32, error) {
	r, err := s.calc.Ping(ctx, 2)
	return int32(r), err
}

// Calls without a context run one at a time on the connection's loop;
// one that waits on a call into the peer lets the loop run the next:
// ping(1) calls back into the client, whose callback calls ping(2) on the
// same connection, and both return.
func TestLoopRunsCallsWhileOneWaits(t *testing.T) {
	srv := &pingBackCalc{}
	p := newPairHooks(t, &hooks{makeCalc: func(context.Context) (rttest.Calc, error) {
		srv.calcImpl.destroyed = new(atomic.Int32)
		srv.calcImpl.hooks = &hooks{}
		return srv, nil
	}}, nil)
	ctx := ctxT(t)
	cb := rttest.NewCallbackClient(rttest.CallbackServer(&pingCallback{calc: p.calc}))
	if _, err := p.calc.CallBack(ctx, cb, 0); err != nil {
		t.Fatal(err)
	}
	defer rt.Release(cb)
	r, err := p.calc.Ping(ctx, 1)
	if err != nil || r != 12 {
		t.Fatalf("Ping(1) = %d, %v; want 12", r, err)
	}
	srv.mu.Lock()
	rt.Release(srv.cb)
	srv.mu.Unlock()
}
