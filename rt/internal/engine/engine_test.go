package engine

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

// The libmultiprocess start, all pipelined: makeThread on the unreturned
// construct answer, makeCalc on the unreturned bootstrap with the
// unreturned makeThread answer as context.thread (receiverAnswer in
// params), add on the unreturned makeCalc answer. Then every reference is
// released and both sides' tables are empty.
func TestPipelinedStartAndRefcounts(t *testing.T) {
	srv := newServer()
	client, server := goPair(t, srv)
	s := startSession(t, client)
	if got := s.add(t, 2, 40); got != 42 {
		t.Fatalf("add = %d, want 42", got)
	}
	for i := range int64(5) {
		if got := s.add(t, i, 1); got != i+1 {
			t.Fatalf("add = %d, want %d", got, i+1)
		}
	}
	// ping (no context) runs inline on the server's reader.
	req, err := s.calc.NewRequest(calcID, 6, szData8)
	if err != nil {
		t.Fatal(err)
	}
	req.Params().SetUint64(0, 7)
	a := req.Send()
	res, err := a.Wait(testCtx(t))
	if err != nil || res.Uint64(0) != 7 {
		t.Fatalf("ping = %d, %v", res.Uint64(0), err)
	}
	a.Release()

	if n := srv.threads.Load(); n != 1 {
		t.Fatalf("%d server threads, want 1", n)
	}
	st := server.Stats()
	if st.Exports != 4 { // TestInit, ThreadMap, Thread, Calc
		t.Fatalf("server exports %d, want 4 (%+v)", st.Exports, st)
	}
	s.release()
	waitStats(t, client, Stats{})
	waitStats(t, server, Stats{})
	if n := srv.threads.Load(); n != 0 {
		t.Fatalf("%d server threads after release, want 0", n)
	}
	if n := srv.calcs.Load(); n != 0 {
		t.Fatalf("%d Calc objects after release, want 0", n)
	}
}

func TestExceptions(t *testing.T) {
	srv := newServer()
	client, _ := goPair(t, srv)
	s := startSession(t, client)
	defer s.release()
	types := []rpccp.Exception_Type{rpccp.Exception_Type_failed, rpccp.Exception_Type_failed,
		rpccp.Exception_Type_overloaded, rpccp.Exception_Type_unimplemented, rpccp.Exception_Type_disconnected}
	for kind, want := range types {
		req, err := s.calc.NewRequest(calcID, 3, szData8P2)
		if err != nil {
			t.Fatal(err)
		}
		s.fillContext(t, req, req.Params(), nil)
		req.Params().SetUint32(0, uint32(kind))
		req.Params().SetText(1, "boom")
		a := req.Send()
		_, err = a.Wait(testCtx(t))
		a.Release()
		var e *Exception
		if !errors.As(err, &e) || e.Type != want || e.Reason != "boom" {
			t.Fatalf("fail kind %d: %v (%#v), want type %v reason boom", kind, err, e, want)
		}
	}
	// A method the server lacks.
	req, _ := s.calc.NewRequest(calcID, 99, szNone)
	a := req.Send()
	_, err := a.Wait(testCtx(t))
	a.Release()
	var e *Exception
	if !errors.As(err, &e) || e.Type != rpccp.Exception_Type_unimplemented {
		t.Fatalf("unknown method: %v", err)
	}
	if got := s.add(t, 1, 1); got != 2 {
		t.Fatalf("add after errors = %d", got)
	}
}

// A Go callback passed in params (senderHosted), called back by the
// server with nested calls that re-enter the server's thread; after the
// call both sides release everything.
func TestCallbacksNested(t *testing.T) {
	srv := newServer()
	client, server := goPair(t, srv)
	s := startSession(t, client)
	var live atomic.Int32
	local := newThread("client-main", &live)
	localCap := NewLocal(local)
	local.self = localCap.n
	var calls atomic.Int32
	cb := NewLocal(&callback{s: s, t: t, calls: &calls})
	const depth = 3
	req, err := s.calc.NewRequest(calcID, 5, szData8P2)
	if err != nil {
		t.Fatal(err)
	}
	s.fillContext(t, req, req.Params(), localCap)
	req.SetCap(req.Params(), 1, cb)
	req.Params().SetUint32(0, depth)
	a := req.Send()
	local.wait(a) // the caller's thread serves callbacks while it waits
	res, err := a.Results()
	if err != nil {
		t.Fatal(err)
	}
	if got := int32(res.Uint32(0)); got != depth+1 {
		t.Fatalf("callBack = %d, want %d", got, depth+1)
	}
	if n := calls.Load(); n != depth+1 {
		t.Fatalf("callback ran %d times, want %d", n, depth+1)
	}
	a.Release()
	cb.Release()
	localCap.Release()
	s.release()
	waitStats(t, client, Stats{})
	waitStats(t, server, Stats{})
	if live.Load() != 0 {
		t.Fatal("client thread not shut down after its last reference")
	}
}

// callback is the client's Callback: call(depth) calls Calc.callBack
// again (on the thread that called it) until depth is 0.
type callback struct {
	s     *session
	t     *testing.T
	calls *atomic.Int32
}

func (cb *callback) Dispatch(c *Call) {
	if c.InterfaceID != callbackID || c.MethodID != 1 {
		c.Return(errors.New("no such method"))
		return
	}
	cb.calls.Add(1)
	args := c.Args()
	ctxp, _ := args.Ptr(0)
	th := c.ArgPtrCap(ctxp.Struct(), 0)
	serverThread := c.ArgPtrCap(ctxp.Struct(), 1)
	th.OnResolved(func() {
		t, ok := th.Server().(*thread)
		th.Release()
		if !ok {
			serverThread.Release()
			c.Return(errors.New("invalid thread handle"))
			return
		}
		t.ch <- func() {
			defer serverThread.Release()
			depth := args.Uint32(0)
			res, err := c.AllocResults(szData8)
			if err != nil {
				c.Return(err)
				return
			}
			if depth == 0 {
				c.Return(nil)
				return
			}
			req, err := cb.s.calc.NewRequest(calcID, 5, szData8P2)
			if err != nil {
				c.Return(err)
				return
			}
			ctx, _ := capnp.NewStruct(req.Params().Segment(), szPtr2)
			req.Params().SetPtr(0, ctx.ToPtr())
			req.SetCap(ctx, 0, serverThread)
			t.self.addRef()
			self := &Client{n: t.self}
			req.SetCap(ctx, 1, self)
			self.Release()
			me := NewLocal(cb)
			req.SetCap(req.Params(), 1, me)
			me.Release()
			req.Params().SetUint32(0, depth-1)
			a := req.Send()
			t.wait(a)
			r, err := a.Results()
			if err == nil {
				res.SetUint32(0, r.Uint32(0))
			}
			a.Release()
			c.Return(err)
		}
	})
}

// A pending call fails with a disconnected error when the connection
// ends; the server's call sees its context canceled; tables empty.
func TestDisconnectFailsPending(t *testing.T) {
	srv := newServer()
	srv.holdSleeps = true
	client, server := goPair(t, srv)
	s := startSession(t, client)
	// Once add returned, makeCalc's Return (and its pipelined calls'
	// delivery) is done on the server thread.
	s.add(t, 1, 1)
	req, _ := s.calc.NewRequest(calcID, 4, szData8P1)
	s.fillContext(t, req, req.Params(), nil)
	a := req.Send()
	call := <-srv.sleeps
	ctx := call.Context()
	server.Close()
	if _, err := a.Wait(testCtx(t)); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("pending call after disconnect: %v, want disconnected", err)
	}
	a.Release()
	<-ctx.Done()
	call.Return(nil) // after the end: dropped
	<-client.Done()
	// New calls fail at once.
	if got := addErr(t, s); !errors.Is(got, ErrDisconnected) {
		t.Fatalf("call after disconnect: %v", got)
	}
	s.release()
	if st := client.Stats(); st != (Stats{}) {
		t.Fatalf("client tables after disconnect: %+v", st)
	}
	if st := server.Stats(); st != (Stats{}) {
		t.Fatalf("server tables after disconnect: %+v", st)
	}
	// The server's reader may still be finishing the call it delivered
	// last (it lets go of that call's target once Dispatch has returned),
	// after the connection's end: wait for the objects to go, failing
	// only when they never do.
	waitUntil(t, func() bool { return srv.threads.Load() == 0 && srv.calcs.Load() == 0 }, func() string {
		return fmt.Sprintf("server objects after disconnect: %d threads, %d calcs", srv.threads.Load(), srv.calcs.Load())
	})
}

func addErr(t *testing.T, s *session) error {
	req, err := s.calc.NewRequest(calcID, 1, szAdd)
	if err != nil {
		return err
	}
	s.fillContext(t, req, req.Params(), nil)
	a := req.Send()
	defer a.Release()
	_, err = a.Wait(testCtx(t))
	return err
}

// Releasing an Answer before its Return sends Finish: the server's call
// context is canceled, and its late Return is dropped (canceled).
func TestCancelSendsFinish(t *testing.T) {
	srv := newServer()
	srv.holdSleeps = true
	client, server := goPair(t, srv)
	s := startSession(t, client)
	// Once add returned, makeCalc's Return (and its pipelined calls'
	// delivery) is done on the server thread.
	s.add(t, 1, 1)
	req, _ := s.calc.NewRequest(calcID, 4, szData8P1)
	s.fillContext(t, req, req.Params(), nil)
	a := req.Send()
	call := <-srv.sleeps
	ctx := call.Context()
	a.Release()
	<-ctx.Done()
	call.Return(nil)
	if got := s.add(t, 1, 2); got != 3 {
		t.Fatalf("add after cancel = %d", got)
	}
	s.release()
	waitStats(t, client, Stats{})
	waitStats(t, server, Stats{})
}

// A 4 MiB payload goes through (one frame, several segments).
func TestLargePayload(t *testing.T) {
	srv := newServer()
	client, _ := goPair(t, srv)
	s := startSession(t, client)
	defer s.release()
	data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	req, _ := s.calc.NewRequest(calcID, 8, szPtr2)
	s.fillContext(t, req, req.Params(), nil)
	if err := req.Params().SetData(1, data); err != nil {
		t.Fatal(err)
	}
	a := req.Send()
	defer a.Release()
	res, err := a.Wait(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := res.Ptr(0)
	if !bytes.Equal(p.Data(), data) {
		t.Fatalf("echo returned %d bytes, want %d equal ones", len(p.Data()), len(data))
	}
}

// Calls on a local capability run without a connection.
func TestLocalCalls(t *testing.T) {
	srv := newServer()
	calc := NewLocal(&calcServer{s: srv})
	srv.calcs.Add(1)
	req, _ := calc.NewRequest(calcID, 6, szData8)
	req.Params().SetUint64(0, 9)
	a := req.Send()
	res, err := a.Wait(testCtx(t))
	if err != nil || res.Uint64(0) != 9 {
		t.Fatalf("local ping = %d, %v", res.Uint64(0), err)
	}
	a.Release()
	calc.Release()
	if srv.calcs.Load() != 0 {
		t.Fatal("local server not shut down")
	}
	var nilClient *Client
	req, _ = nilClient.NewRequest(calcID, 6, szData8)
	a = req.Send()
	if _, err := a.Wait(testCtx(t)); !errors.Is(err, ErrNull) {
		t.Fatalf("call on null: %v", err)
	}
	a.Release()
}

func TestNoBootstrap(t *testing.T) {
	a, b := socketPair(t)
	c1, c2 := New(a, Options{}), New(b, Options{})
	defer c1.Close()
	defer c2.Close()
	boot := c1.Bootstrap()
	defer boot.Release()
	req, _ := boot.NewRequest(initID, 0, szPtr1)
	ans := req.Send()
	defer ans.Release()
	if _, err := ans.Wait(testCtx(t)); err == nil || !strings.Contains(err.Error(), "no bootstrap") {
		t.Fatalf("call on missing bootstrap: %v", err)
	}
}
