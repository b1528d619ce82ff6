package engine

import (
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

// panicker panics in Dispatch for method 6 with a param of 0, and
// answers the param otherwise.
type panicker struct{}

func (panicker) Dispatch(c *Call) {
	x := c.Args().Uint64(0)
	if x == 0 {
		panic("boom")
	}
	res, err := c.AllocResults(szData8)
	if err == nil {
		res.SetUint64(0, x)
	}
	c.Return(err)
}

// expectReturn reads the next message, a Return for qid, and returns it.
func (p *rawPeer) expectReturn(qid uint32) rpccp.Return {
	p.t.Helper()
	ret, err := p.expect(rpccp.Message_Which_return).Return()
	if err != nil || ret.AnswerId() != qid {
		p.t.Fatalf("return for %d (%v), want %d", ret.AnswerId(), err, qid)
	}
	return ret
}

// A panic in a Server's Dispatch, for a call from the peer or from this
// process, fails that call with a failed exception naming the method;
// the connection and the capability go on serving.
func TestDispatchPanic(t *testing.T) {
	boot := NewLocal(panicker{})
	defer boot.Release()
	p, conn := newRawPeer(t, Options{Bootstrap: boot})
	p.send(func(m rpccp.Message) error { bs, err := m.NewBootstrap(); bs.SetQuestionId(0); return err })
	p.expectReturn(0)
	p.callExport(1, 0, 0)
	ret := p.expectReturn(1)
	if ret.Which() != rpccp.Return_Which_exception {
		t.Fatalf("return of the panicking call is %v, want an exception", ret.Which())
	}
	ex, _ := ret.Exception()
	reason, _ := ex.Reason()
	if ex.Type() != rpccp.Exception_Type_failed || !strings.Contains(reason, "panicked: boom") || !strings.Contains(reason, ".6 ") {
		t.Fatalf("exception %v %q, want failed naming method 6 and the panic", ex.Type(), reason)
	}
	p.callExport(2, 0, 7)
	ret = p.expectReturn(2)
	if ret.Which() != rpccp.Return_Which_results {
		t.Fatalf("call after the panic: %v, want results", ret.Which())
	}
	if conn.Err() != nil {
		t.Fatalf("connection ended: %v", conn.Err())
	}

	a := ping(t, boot, 0)
	_, err := a.Wait(testCtx(t))
	a.Release()
	if err == nil || !strings.Contains(err.Error(), "panicked: boom") {
		t.Fatalf("local call of a panicking method: %v", err)
	}
	a = ping(t, boot, 5)
	res, err := a.Wait(testCtx(t))
	a.Release()
	if err != nil || res.Uint64(0) != 5 {
		t.Fatalf("local call after the panic = %d, %v", res.Uint64(0), err)
	}
}

// A panic in a callback the connection's reader runs (Answer.OnDone)
// does not end the reader: later Returns are still delivered.
func TestCallbackPanic(t *testing.T) {
	p, conn := newRawPeer(t, Options{})
	boot := conn.Bootstrap()
	defer boot.Release()
	p.bootstrapAnswer(0)
	returnPing := func() {
		call, _ := p.expect(rpccp.Message_Which_call).Call()
		qid := call.QuestionId()
		p.send(func(m rpccp.Message) error {
			ret, _ := m.NewReturn()
			ret.SetAnswerId(qid)
			_, err := ret.NewResults()
			return err
		})
	}
	a := ping(t, boot, 1)
	a.OnDone(func() { panic("callback") })
	returnPing()
	if _, err := a.Wait(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	a.Release()
	p.expect(rpccp.Message_Which_finish)
	a = ping(t, boot, 2)
	returnPing()
	if _, err := a.Wait(testCtx(t)); err != nil {
		t.Fatalf("call after a panicking callback: %v", err)
	}
	a.Release()
}

// shutRecorder is a recorder that counts its Shutdown.
type shutRecorder struct {
	recorder
	shut atomic.Int32
}

func (r *shutRecorder) Shutdown() { r.shut.Add(1) }

// Calls pipelined on the result of a call to a local capability that
// has not returned do not wait for it: they queue, and are delivered in
// order when it returns, before any later call. The promise is a promise
// until then, and its reference to the result goes with its last
// reference.
func TestLocalPipelining(t *testing.T) {
	h := &holder{held: make(chan *Call, 1)}
	maker := NewLocal(h)
	defer maker.Release()
	rec := &shutRecorder{}
	recCl := NewLocal(rec)

	req, _ := maker.NewRequest(calcID, 0, szNone)
	a := req.Send()
	held := h.next(t)
	promise := a.Pipeline(0)
	if !promise.IsPromise() || promise.Server() != nil {
		t.Fatal("a pipelined result of an unreturned local call is not a promise")
	}
	resolved := make(chan struct{})
	promise.OnResolved(func() { close(resolved) })
	p1 := ping(t, promise, 1) // does not wait for the call
	p2 := ping(t, promise, 2)
	if got := rec.seen(); len(got) != 0 {
		t.Fatalf("calls delivered before the result: %v", got)
	}

	res, err := held.AllocResults(szPtr1)
	if err == nil {
		err = held.SetResultCap(res, 0, recCl)
	}
	held.Return(err)
	recCl.Release()
	p3 := ping(t, promise, 3)
	for _, p := range []*Answer{p1, p2, p3} {
		if _, err := p.Wait(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		p.Release()
	}
	if got := rec.seen(); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("calls arrived as %v, want [1 2 3]", got)
	}
	select {
	case <-resolved:
	default:
		t.Fatal("OnResolved did not run on resolution")
	}
	if promise.IsPromise() || promise.Server() != Server(rec) {
		t.Fatal("the resolved promise does not lead to its result")
	}
	a.Release()
	if rec.shut.Load() != 0 {
		t.Fatal("result shut down while the promise holds it")
	}
	promise.Release()
	if rec.shut.Load() != 1 {
		t.Fatalf("result shut down %d times after its last reference, want 1", rec.shut.Load())
	}

	// A failed call fails the calls pipelined on it.
	req, _ = maker.NewRequest(calcID, 0, szNone)
	a = req.Send()
	held = h.next(t)
	promise = a.Pipeline(0)
	p1 = ping(t, promise, 4)
	held.Return(errors.New("no result"))
	if _, err := p1.Wait(testCtx(t)); err == nil || err.Error() != "no result" {
		t.Fatalf("call on the result of a failed call: %v", err)
	}
	p1.Release()
	promise.Release()
	a.Release()
}
