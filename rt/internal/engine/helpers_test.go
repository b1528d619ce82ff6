package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"

	"github.com/bitcoin-ipc/bitcoin-ipc/gen/mp"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest/rttestcapnp"
)

// testWait bounds every wait in these tests; it only catches hangs.
const testWait = 2 * time.Minute

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

// socketPair is a connected AF_UNIX stream pair.
func socketPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var cs [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = c
	}
	return cs[0], cs[1]
}

// Sizes of the rttest and mp params and results structs.
var (
	szPtr1    = capnp.ObjectSize{PointerCount: 1}
	szPtr2    = capnp.ObjectSize{PointerCount: 2}
	szAdd     = capnp.ObjectSize{DataSize: 16, PointerCount: 1}
	szData8   = capnp.ObjectSize{DataSize: 8}
	szData8P1 = capnp.ObjectSize{DataSize: 8, PointerCount: 1}
	szData8P2 = capnp.ObjectSize{DataSize: 8, PointerCount: 2}
	szNone    = capnp.ObjectSize{}
)

const (
	calcID     uint64 = rttestcapnp.Calc_TypeID
	initID     uint64 = rttestcapnp.TestInit_TypeID
	callbackID uint64 = rttestcapnp.Callback_TypeID
	tmID       uint64 = mp.ThreadMap_TypeID
	threadID   uint64 = mp.Thread_TypeID
)

// ---- a Go server of the rttest schema, libmultiprocess-shaped ----

// thread is a server Thread: an executor that runs its calls one at a
// time, in order; while one of them waits on an outgoing call it runs
// the calls posted meanwhile (libmultiprocess's Waiter), so callbacks can
// re-enter it.
type thread struct {
	self *node // its capability (no reference)
	name string
	ch   chan func()
	live *atomic.Int32
	once sync.Once
}

func newThread(name string, live *atomic.Int32) *thread {
	t := &thread{name: name, ch: make(chan func(), 16), live: live}
	live.Add(1)
	go func() {
		for f := range t.ch {
			f()
		}
	}()
	return t
}

func (t *thread) Dispatch(c *Call) {
	if c.InterfaceID != threadID || c.MethodID != 0 {
		c.Return(&Exception{Type: rpccp.Exception_Type_unimplemented, Reason: "Thread: no such method"})
		return
	}
	res, err := c.AllocResults(szPtr1)
	if err == nil {
		err = res.SetText(0, t.name)
	}
	c.Return(err)
}

// Shutdown ends the executor once its last reference is gone.
func (t *thread) Shutdown() {
	t.once.Do(func() {
		close(t.ch)
		t.live.Add(-1)
	})
}

// wait waits for a, running calls posted to t meanwhile.
func (t *thread) wait(a *Answer) {
	for {
		select {
		case <-a.Done():
			return
		case f := <-t.ch:
			f()
		}
	}
}

type threadMap struct {
	live *atomic.Int32
	n    atomic.Int32
}

func (m *threadMap) Dispatch(c *Call) {
	if c.InterfaceID != tmID || c.MethodID != 0 {
		c.Return(&Exception{Type: rpccp.Exception_Type_unimplemented, Reason: "ThreadMap: no such method"})
		return
	}
	name, _ := c.Args().Ptr(0)
	t := newThread(fmt.Sprintf("go-worker-%d (from %s)", m.n.Add(1), name.Text()), m.live)
	th := NewLocal(t)
	t.self = th.n
	defer th.Release()
	res, err := c.AllocResults(szPtr1)
	if err == nil {
		err = c.SetResultCap(res, 0, th)
	}
	c.Return(err)
}

// server serves TestInit, Calc and Callback's counterpart for tests.
type server struct {
	threads atomic.Int32 // live Thread executors
	calcs   atomic.Int32 // live Calc objects
	calls   atomic.Int32
	tm      *threadMap
	sleeps  chan *Call // sleep calls, when holdSleeps
	// holdSleeps hands sleep calls to the test (sleeps) instead of
	// running them.
	holdSleeps bool
}

func newServer() *server {
	s := &server{sleeps: make(chan *Call, 4)}
	s.tm = &threadMap{live: &s.threads}
	return s
}

type initServer struct{ s *server }

func (i initServer) Dispatch(c *Call) {
	switch {
	case c.InterfaceID == initID && c.MethodID == 0:
		res, err := c.AllocResults(szPtr1)
		if err == nil {
			tm := NewLocal(i.s.tm)
			err = c.SetResultCap(res, 0, tm)
			tm.Release()
		}
		c.Return(err)
	case c.InterfaceID == initID && c.MethodID == 1:
		i.s.onThread(c, func(*thread) error {
			res, err := c.AllocResults(szPtr1)
			if err != nil {
				return err
			}
			calc := NewLocal(&calcServer{s: i.s})
			i.s.calcs.Add(1)
			defer calc.Release()
			return c.SetResultCap(res, 0, calc)
		})
	default:
		c.Return(&Exception{Type: rpccp.Exception_Type_unimplemented, Reason: "TestInit: no such method"})
	}
}

// onThread runs f for c on the Thread its context (pointer 0) names,
// once that capability is resolved.
func (s *server) onThread(c *Call, f func(*thread) error) {
	ctxp, err := c.Args().Ptr(0)
	if err != nil {
		c.Return(err)
		return
	}
	th := c.ArgPtrCap(ctxp.Struct(), 0)
	if th == nil {
		c.Return(errors.New("no thread specified"))
		return
	}
	th.OnResolved(func() {
		t, ok := th.Server().(*thread)
		th.Release()
		if !ok {
			c.Return(errors.New("invalid thread handle"))
			return
		}
		t.ch <- func() { c.Return(f(t)) }
	})
}

type calcServer struct {
	s         *server
	destroyed atomic.Bool
}

func (k *calcServer) Shutdown() { k.s.calcs.Add(-1) }

func (k *calcServer) Dispatch(c *Call) {
	k.s.calls.Add(1)
	if c.InterfaceID != calcID {
		c.Return(&Exception{Type: rpccp.Exception_Type_unimplemented, Reason: "Calc: unknown interface"})
		return
	}
	args := c.Args()
	switch c.MethodID {
	case 6: // ping, no context: inline
		res, err := c.AllocResults(szData8)
		if err == nil {
			res.SetUint64(0, args.Uint64(0))
		}
		c.Return(err)
	case 0:
		k.s.onThread(c, func(*thread) error { k.destroyed.Store(true); return nil })
	case 1:
		k.s.onThread(c, func(*thread) error {
			res, err := c.AllocResults(szData8)
			if err == nil {
				res.SetUint64(0, uint64(int64(args.Uint64(0))+int64(args.Uint64(8))))
			}
			return err
		})
	case 2:
		k.s.onThread(c, func(t *thread) error {
			res, err := c.AllocResults(szPtr1)
			if err == nil {
				err = res.SetText(0, t.name)
			}
			return err
		})
	case 3:
		k.s.onThread(c, func(*thread) error {
			p, _ := args.Ptr(1)
			types := []rpccp.Exception_Type{rpccp.Exception_Type_failed, rpccp.Exception_Type_failed,
				rpccp.Exception_Type_overloaded, rpccp.Exception_Type_unimplemented, rpccp.Exception_Type_disconnected}
			kind := int(int32(args.Uint32(0)))
			if kind < 0 || kind >= len(types) {
				kind = 0
			}
			return &Exception{Type: types[kind], Reason: p.Text()}
		})
	case 4: // sleep
		if k.s.holdSleeps {
			// Held by the test until it returns it.
			k.s.sleeps <- c
			return
		}
		k.s.onThread(c, func(*thread) error {
			res, err := c.AllocResults(szData8)
			if err != nil {
				return err
			}
			select {
			case <-time.After(time.Duration(args.Uint64(0)) * time.Millisecond):
				res.SetBit(0, true)
			case <-c.Context().Done():
			}
			return nil
		})
	case 7: // raise: the error goes into the results
		k.s.onThread(c, func(*thread) error {
			p, _ := args.Ptr(1)
			res, err := c.AllocResults(szPtr1)
			if err == nil {
				err = res.SetText(0, p.Text())
			}
			return err
		})
	case 5:
		k.s.onThread(c, func(t *thread) error {
			ctxp, _ := args.Ptr(0)
			cb := c.ArgPtrCap(args, 1)
			cbThread := c.ArgPtrCap(ctxp.Struct(), 1)
			defer cb.Release()
			defer cbThread.Release()
			t.self.addRef() // a reference to t's own capability
			self := &Client{n: t.self}
			defer self.Release()
			req, err := cb.NewRequest(callbackID, 1, szData8P1)
			if err != nil {
				return err
			}
			cctx, err := capnp.NewStruct(req.Params().Segment(), szPtr2)
			if err != nil {
				return err
			}
			req.Params().SetPtr(0, cctx.ToPtr())
			req.SetCap(cctx, 0, cbThread)
			req.SetCap(cctx, 1, self)
			req.Params().SetUint32(0, args.Uint32(0))
			a := req.Send()
			defer a.Release()
			t.wait(a)
			r, err := a.Results()
			if err != nil {
				return err
			}
			res, err := c.AllocResults(szData8)
			if err == nil {
				res.SetUint32(0, r.Uint32(0)+1)
			}
			return err
		})
	case 8:
		k.s.onThread(c, func(*thread) error {
			d, _ := args.Ptr(1)
			res, err := c.AllocResults(szPtr1)
			if err == nil {
				err = res.SetData(0, d.Data())
			}
			return err
		})
	default:
		c.Return(&Exception{Type: rpccp.Exception_Type_unimplemented, Reason: fmt.Sprintf("Calc: no method %d", c.MethodID)})
	}
}

// ---- the client side ----

// session is a Go client of a TestInit server: the pipelined start of a
// libmultiprocess client (construct, makeThread, makeCalc, nothing waited
// for).
type session struct {
	conn   *Conn
	init   *Client
	tm     *Client
	thread *Client
	calc   *Client
}

func startSession(t testing.TB, conn *Conn) *session {
	t.Helper()
	s := &session{conn: conn, init: conn.Bootstrap()}
	req, err := s.init.NewRequest(initID, 0, szPtr1)
	if err != nil {
		t.Fatal(err)
	}
	a := req.Send()
	s.tm = a.Pipeline(0)
	a.Release()

	req, err = s.tm.NewRequest(tmID, 0, szPtr1)
	if err != nil {
		t.Fatal(err)
	}
	req.Params().SetText(0, "engine-test")
	a = req.Send()
	s.thread = a.Pipeline(0)
	a.Release()

	req, err = s.init.NewRequest(initID, 1, szPtr1)
	if err != nil {
		t.Fatal(err)
	}
	s.fillContext(t, req, req.Params(), nil)
	a = req.Send()
	s.calc = a.Pipeline(0)
	a.Release()
	return s
}

// fillContext sets pointer 0 of params to a Context on s.thread.
func (s *session) fillContext(t testing.TB, req *Request, params capnp.Struct, cb *Client) {
	t.Helper()
	ctx, err := capnp.NewStruct(params.Segment(), szPtr2)
	if err != nil {
		t.Fatal(err)
	}
	if err := params.SetPtr(0, ctx.ToPtr()); err != nil {
		t.Fatal(err)
	}
	if err := req.SetCap(ctx, 0, s.thread); err != nil {
		t.Fatal(err)
	}
	if err := req.SetCap(ctx, 1, cb); err != nil {
		t.Fatal(err)
	}
}

func (s *session) add(t testing.TB, a, b int64) int64 {
	t.Helper()
	req, err := s.calc.NewRequest(calcID, 1, szAdd)
	if err != nil {
		t.Fatal(err)
	}
	s.fillContext(t, req, req.Params(), nil)
	req.Params().SetUint64(0, uint64(a))
	req.Params().SetUint64(8, uint64(b))
	ans := req.Send()
	defer ans.Release()
	res, err := ans.Wait(testCtx(t))
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	return int64(res.Uint64(0))
}

func (s *session) release() {
	s.calc.Release()
	s.thread.Release()
	s.tm.Release()
	s.init.Release()
}

// goPair is a Go client conn and a Go server conn (serving srv) on a
// socketpair.
func goPair(t testing.TB, srv *server) (client, server *Conn) {
	t.Helper()
	a, b := socketPair(t)
	boot := NewLocal(initServer{s: srv})
	server = New(b, Options{Bootstrap: boot})
	boot.Release()
	client = New(a, Options{})
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// waitUntil polls cond until it holds, for state that settles after the
// connection has ended (no message signals it); it fails with what after
// testWait, so that only a hang fails it.
func waitUntil(t testing.TB, cond func() bool, what func() string) {
	t.Helper()
	for deadline := time.Now().Add(testWait); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what())
		}
	}
}

// waitStats waits until c's tables are want (they change as messages
// arrive); it fails after testWait.
func waitStats(t testing.TB, c *Conn, want Stats) {
	t.Helper()
	deadline := time.After(testWait)
	for {
		got := c.Stats()
		if got == want {
			return
		}
		// The tables reach their final state in the reader goroutine (or
		// synchronously in a Release): wait for its next message.
		select {
		case <-c.handled:
		case <-c.Done():
			if got := c.Stats(); got != want {
				t.Fatalf("connection ended (%v) with stats %+v, want %+v", c.Err(), got, want)
			}
			return
		case <-deadline:
			t.Fatalf("stats %+v, want %+v", got, want)
		}
	}
}
