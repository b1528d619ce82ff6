package rt

// Interop of rt on the engine with the C++ peer (internal/testing/cpppeer:
// plain Cap'n Proto C++ following libmultiprocess's conventions), through
// hand-written Methods and ServerDescs for the rttest schema (capnpc-go's
// struct accessors only). The peer is built once per process; building it
// needs capnp, g++, pkg-config and libcapnp-dev, and the tests fail
// without them.

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/cpppeer"
	rttest "github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest/rttestcapnp"
)

var (
	iConstruct = Method{Interface: "TestInit", Name: "construct", InterfaceID: rttest.TestInit_TypeID, ID: 0,
		Params: p1, Results: p1, Kind: MethodConstruct}
	iMakeCalc = Method{Interface: "TestInit", Name: "makeCalc", InterfaceID: rttest.TestInit_TypeID, ID: 1,
		Params: p1, Results: p1, HasContext: true}

	cDestroy = Method{Interface: "Calc", Name: "destroy", InterfaceID: rttest.Calc_TypeID, ID: 0,
		Params: p1, HasContext: true, Kind: MethodDestroy}
	cAdd = Method{Interface: "Calc", Name: "add", InterfaceID: rttest.Calc_TypeID, ID: 1,
		Params: capnp.ObjectSize{DataSize: 16, PointerCount: 1}, Results: capnp.ObjectSize{DataSize: 8}, HasContext: true,
		ParamsID: rttest.Calc_add_Params_TypeID, Schema: rttest.RegisterSchema}
	cThreadName = Method{Interface: "Calc", Name: "threadName", InterfaceID: rttest.Calc_TypeID, ID: 2,
		Params: p1, Results: p1, HasContext: true}
	cFail = Method{Interface: "Calc", Name: "fail", InterfaceID: rttest.Calc_TypeID, ID: 3,
		Params: capnp.ObjectSize{DataSize: 8, PointerCount: 2}, HasContext: true}
	cSleep = Method{Interface: "Calc", Name: "sleep", InterfaceID: rttest.Calc_TypeID, ID: 4,
		Params: capnp.ObjectSize{DataSize: 8, PointerCount: 1}, Results: capnp.ObjectSize{DataSize: 8}, HasContext: true}
	cCallBack = Method{Interface: "Calc", Name: "callBack", InterfaceID: rttest.Calc_TypeID, ID: 5,
		Params: capnp.ObjectSize{DataSize: 8, PointerCount: 2}, Results: capnp.ObjectSize{DataSize: 8}, HasContext: true}
	cPing = Method{Interface: "Calc", Name: "ping", InterfaceID: rttest.Calc_TypeID, ID: 6,
		Params: capnp.ObjectSize{DataSize: 8}, Results: capnp.ObjectSize{DataSize: 8}}
	cRaise = Method{Interface: "Calc", Name: "raise", InterfaceID: rttest.Calc_TypeID, ID: 7,
		Params: p2, Results: p1, HasContext: true}
	cEcho = Method{Interface: "Calc", Name: "echo", InterfaceID: rttest.Calc_TypeID, ID: 8,
		Params: p2, Results: p1, HasContext: true}

	bDestroy = Method{Interface: "Callback", Name: "destroy", InterfaceID: rttest.Callback_TypeID, ID: 0,
		Params: p1, HasContext: true, Kind: MethodDestroy}
	bCall = Method{Interface: "Callback", Name: "call", InterfaceID: rttest.Callback_TypeID, ID: 1,
		Params: capnp.ObjectSize{DataSize: 8, PointerCount: 1}, Results: capnp.ObjectSize{DataSize: 8}, HasContext: true}
)

var iInitDesc, iCalcDesc, iCallbackDesc ServerDesc

func init() {
	iInitDesc = ServerDesc{Name: "TestInit", Methods: []MethodDesc{
		{Method: &iConstruct},
		{Method: &iMakeCalc, Handler: func(ctx context.Context, impl any, call *Call) error {
			return setCap(call, Local(&iCalcDesc, &iCalc{destroyed: impl.(*atomic.Int32)}))
		}},
	}}
	iCalcDesc = ServerDesc{Name: "Calc", Methods: []MethodDesc{
		{Method: &cDestroy},
		{Method: &cAdd, Handler: func(ctx context.Context, impl any, call *Call) error {
			a := rttest.Calc_add_Params(call.Args())
			res, err := call.AllocResults()
			if err == nil {
				rttest.Calc_add_Results(res).SetResult(a.A() + a.B())
			}
			return err
		}},
		{Method: &cThreadName, Handler: func(ctx context.Context, impl any, call *Call) error {
			name, err := CurrentThreadName(ctx)
			if err != nil {
				return err
			}
			return setText(call, name)
		}},
		{Method: &cFail, Handler: func(ctx context.Context, impl any, call *Call) error {
			a := rttest.Calc_fail_Params(call.Args())
			text, _ := a.Text()
			switch a.Kind() {
			case 1:
				panic(text)
			case 2:
				return exception.New(exception.Overloaded, "", "", text)
			case 3:
				return exception.New(exception.Unimplemented, "", "", text)
			case 4:
				return exception.New(exception.Disconnected, "", "", text)
			}
			return errors.New(text)
		}},
		{Method: &cSleep, Handler: func(ctx context.Context, impl any, call *Call) error {
			t := time.NewTimer(time.Duration(rttest.Calc_sleep_Params(call.Args()).Millis()) * time.Millisecond)
			defer t.Stop()
			ok := true
			select {
			case <-t.C:
			case <-ctx.Done():
				ok = false
			}
			res, err := call.AllocResults()
			if err == nil {
				rttest.Calc_sleep_Results(res).SetResult(ok)
			}
			return err
		}},
		{Method: &cCallBack, Handler: func(ctx context.Context, impl any, call *Call) error {
			a := rttest.Calc_callBack_Params(call.Args())
			p, err := call.Args().Ptr(1)
			if err != nil {
				return err
			}
			cb := NewClientBase(call.Cap(p.Interface().Capability()))
			defer cb.Release()
			r, err := callbackCall(ctx, cb, a.Depth())
			if err != nil {
				return err
			}
			res, err := call.AllocResults()
			if err == nil {
				rttest.Calc_callBack_Results(res).SetResult(r + 1)
			}
			return err
		}},
		{Method: &cPing, Handler: func(ctx context.Context, impl any, call *Call) error {
			res, err := call.AllocResults()
			if err == nil {
				rttest.Calc_ping_Results(res).SetResult(rttest.Calc_ping_Params(call.Args()).X())
			}
			return err
		}},
		{Method: &cRaise, Handler: func(ctx context.Context, impl any, call *Call) error {
			text, _ := rttest.Calc_raise_Params(call.Args()).Text()
			return setText(call, text)
		}},
		{Method: &cEcho, Handler: func(ctx context.Context, impl any, call *Call) error {
			d, _ := rttest.Calc_echo_Params(call.Args()).Data()
			res, err := call.AllocResults()
			if err == nil {
				err = rttest.Calc_echo_Results(res).SetResult(d)
			}
			return err
		}},
	}, Destroy: func(ctx context.Context, impl any) error {
		impl.(*iCalc).destroyed.Add(1)
		return nil
	}}
	iCallbackDesc = ServerDesc{Name: "Callback", Methods: []MethodDesc{
		{Method: &bDestroy},
		{Method: &bCall, Handler: func(ctx context.Context, impl any, call *Call) error {
			cb := impl.(*iCallback)
			cb.calls.Add(1)
			r := rttest.Callback_call_Params(call.Args()).Depth()
			if r > 0 && cb.calc != nil {
				var err error
				if r, err = calcCallBack(ctx, cb.calc, cb.self, r-1); err != nil {
					return err
				}
			}
			res, err := call.AllocResults()
			if err == nil {
				rttest.Callback_call_Results(res).SetResult(r)
			}
			return err
		}},
	}, Destroy: func(ctx context.Context, impl any) error {
		impl.(*iCallback).destroyed.Add(1)
		return nil
	}}
}

type iCalc struct{ destroyed *atomic.Int32 }

// iCallback answers Callback.call; with calc set and depth > 0 it first
// calls calc.callBack(self, depth-1), nesting the chain.
type iCallback struct {
	calc      *ClientBase
	self      *Cap
	calls     atomic.Int32
	destroyed atomic.Int32
}

func callbackCall(ctx context.Context, cb *ClientBase, depth int32) (int32, error) {
	var r int32
	err := cb.Invoke(ctx, &bCall, func(p *Params) error {
		rttest.Callback_call_Params(p.Struct()).SetDepth(depth)
		return nil
	}, func(res *Results) error {
		r = rttest.Callback_call_Results(res.Struct()).Result()
		return nil
	})
	return r, err
}

// calcCallBack calls calc.callBack with a new reference to cb.
func calcCallBack(ctx context.Context, calc *ClientBase, cb *Cap, depth int32) (int32, error) {
	var r int32
	err := calc.Invoke(ctx, &cCallBack, func(p *Params) error {
		s := p.Struct()
		rttest.Calc_callBack_Params(s).SetDepth(depth)
		return s.SetPtr(1, capnp.NewInterface(s.Segment(), p.AddCap(cb.AddRef())).ToPtr())
	}, func(res *Results) error {
		r = rttest.Calc_callBack_Results(res.Struct()).Result()
		return nil
	})
	return r, err
}

func calcAdd(ctx context.Context, calc *ClientBase, a, b int64) (int64, error) {
	var r int64
	err := calc.Invoke(ctx, &cAdd, func(p *Params) error {
		s := rttest.Calc_add_Params(p.Struct())
		s.SetA(a)
		s.SetB(b)
		return nil
	}, func(res *Results) error {
		r = rttest.Calc_add_Results(res.Struct()).Result()
		return nil
	})
	return r, err
}

func calcFail(ctx context.Context, calc *ClientBase, kind int32, text string) error {
	return calc.Invoke(ctx, &cFail, func(p *Params) error {
		s := rttest.Calc_fail_Params(p.Struct())
		s.SetKind(kind)
		return s.SetText(text)
	}, nil)
}

// ---- running the peer ----

type cppProc struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startCppPeer runs the peer in mode on f (its fd 3; closed here).
func startCppPeer(t *testing.T, f *os.File, mode string, args ...string) *cppProc {
	t.Helper()
	bin, err := cpppeer.Build()
	if err != nil {
		t.Fatalf("building the C++ interop peer (needs capnp, g++, pkg-config, libcapnp-dev): %v", err)
	}
	p := &cppProc{done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{mode, "3"}, args...)...)
	p.cmd.ExtraFiles = []*os.File{f}
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	err = p.cmd.Start()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func unixFiles(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "ipc-a"), os.NewFile(uintptr(fds[1]), "ipc-b")
}

func fileConn(t *testing.T, f *os.File) net.Conn {
	t.Helper()
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// cppServer runs `peer serve` and connects to it; it returns a Calc.
func cppServer(t *testing.T, opts ...Option) (*Conn, *ClientBase, *cppProc) {
	t.Helper()
	ours, theirs := unixFiles(t)
	proc := startCppPeer(t, theirs, "serve")
	ctx := testContext(t)
	conn, err := Connect(ctx, fileConn(t, ours), append([]Option{WithInitInterfaceID(rttest.TestInit_TypeID)}, opts...)...)
	if err != nil {
		t.Fatalf("connect to the C++ peer: %v\n%s", err, proc.out.String())
	}
	init := NewClientBase(conn.Bootstrap())
	calc, err := invokeCap(ctx, init, &iMakeCalc, nil)
	init.Release()
	if err != nil {
		t.Fatalf("makeCalc: %v\n%s", err, proc.out.String())
	}
	t.Cleanup(func() {
		calc.Release()
		conn.Close()
	})
	return conn, calc, proc
}

func TestEngineInteropGoClientCppServer(t *testing.T) {
	conn, calc, proc := cppServer(t)
	ctx := testContext(t)

	t.Run("basic", func(t *testing.T) {
		if r, err := calcAdd(ctx, calc, 2, 40); err != nil || r != 42 {
			t.Fatalf("add = %d, %v", r, err)
		}
		name, err := invokeText(ctx, calc, &cThreadName, "")
		if err != nil || !strings.HasPrefix(name, "cpppeer-") || !strings.Contains(name, "(from go-") {
			t.Errorf("threadName = %q, %v", name, err)
		}
		var x uint64
		err = calc.Invoke(ctx, &cPing, func(p *Params) error {
			rttest.Calc_ping_Params(p.Struct()).SetX(7)
			return nil
		}, func(r *Results) error {
			x = rttest.Calc_ping_Results(r.Struct()).Result()
			return nil
		})
		if err != nil || x != 7 {
			t.Errorf("ping = %d, %v", x, err)
		}
		if text, err := invokeText(ctx, calc, &cRaise, "thrown"); err != nil || text != "thrown" {
			t.Errorf("raise: error field %q, %v", text, err)
		}
		data := bytes.Repeat([]byte("0123456789"), 10000)
		var got []byte
		err = calc.Invoke(ctx, &cEcho, func(p *Params) error {
			return rttest.Calc_echo_Params(p.Struct()).SetData(data)
		}, func(r *Results) error {
			d, err := rttest.Calc_echo_Results(r.Struct()).Result()
			got = bytes.Clone(d)
			return err
		})
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("echo: %d bytes, %v", len(got), err)
		}
	})

	t.Run("pinned", func(t *testing.T) {
		th, err := conn.NewThread()
		if err != nil {
			t.Fatal(err)
		}
		defer th.Release()
		n1, err := invokeText(WithThread(ctx, th), calc, &cThreadName, "")
		if err != nil {
			t.Fatal(err)
		}
		if n2, err := th.Name(ctx); err != nil || n1 != n2 {
			t.Fatalf("Thread.getName = %q, %v; the call ran on %q", n2, err, n1)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, c := range []struct {
			kind int32
			is   error
			desc string
		}{
			{0, exception.ErrFailed, "std::exception: boom"},
			{1, exception.ErrFailed, "boom"},
			{2, exception.ErrOverloaded, "boom"},
			{3, exception.ErrUnimplemented, "boom"},
			{4, exception.ErrDisconnected, "boom"},
		} {
			err := calcFail(ctx, calc, c.kind, "boom")
			var e *exception.Error
			if !errors.Is(err, c.is) || !errors.As(err, &e) || e.Description != c.desc || e.What() != "boom" ||
				e.Interface != "Calc" || e.Method != "fail" {
				t.Errorf("kind %d: %#v", c.kind, err)
			}
		}
		if r, err := calcAdd(ctx, calc, 1, 1); err != nil || r != 2 {
			t.Fatalf("after errors: %d, %v", r, err)
		}
	})

	t.Run("callback", func(t *testing.T) {
		plain := &iCallback{}
		pc := Local(&iCallbackDesc, plain)
		defer pc.Release()
		if r, err := calcCallBack(ctx, calc, pc, 5); err != nil || r != 6 {
			t.Fatalf("callBack = %d, %v", r, err)
		}
		// Go -> C++ -> Go -> C++ ...: each Go level calls the C++ server
		// again, on the C++ thread waiting for it.
		cb := &iCallback{calc: calc}
		cc := Local(&iCallbackDesc, cb)
		defer cc.Release()
		cb.self = cc
		if r, err := calcCallBack(ctx, calc, cc, 4); err != nil || r != 5 {
			t.Fatalf("nested callBack = %d, %v", r, err)
		}
		if n := cb.calls.Load(); n != 5 {
			t.Errorf("callback ran %d times, want 5", n)
		}
	})

	t.Run("destroy", func(t *testing.T) {
		init := NewClientBase(conn.Bootstrap())
		c2, err := invokeCap(ctx, init, &iMakeCalc, nil)
		init.Release()
		if err != nil {
			t.Fatal(err)
		}
		if err := c2.Destroy(ctx, &cDestroy); err != nil {
			t.Fatal(err)
		}
		if _, err := calcAdd(ctx, c2, 1, 2); !errors.Is(err, exception.ErrDestroyed) {
			t.Fatalf("call after destroy: %v", err)
		}
	})

	t.Run("pool", func(t *testing.T) {
		_, pc, _ := cppServer(t, WithServerPool(2))
		name, err := invokeText(ctx, pc, &cThreadName, "")
		if err != nil || !strings.Contains(name, "(from pool/") {
			t.Fatalf("call ran on %q, %v; want a pool thread", name, err)
		}
	})

	t.Run("abandoned", func(t *testing.T) {
		// The C++ server does not cancel a sleep: an abandoned call keeps
		// its thread busy, and the next call must not be given it.
		if _, err := calcAdd(ctx, calc, 0, 0); err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithCancel(ctx)
		slept := make(chan error, 1)
		go func() {
			slept <- calc.Invoke(sctx, &cSleep, func(p *Params) error {
				rttest.Calc_sleep_Params(p.Struct()).SetMillis(time.Hour.Milliseconds())
				cancel() // abandoned as soon as it is sent
				return nil
			}, nil)
		}()
		if err := <-slept; !errors.Is(err, context.Canceled) {
			t.Fatalf("abandoned sleep: %v", err)
		}
		if r, err := calcAdd(ctx, calc, 1, 2); err != nil || r != 3 {
			t.Fatalf("add after an abandoned call: %d, %v", r, err)
		}
	})

	t.Run("kill", func(t *testing.T) {
		slept := make(chan error, 1)
		sent := make(chan struct{})
		go func() {
			slept <- calc.Invoke(ctx, &cSleep, func(p *Params) error {
				rttest.Calc_sleep_Params(p.Struct()).SetMillis(time.Hour.Milliseconds())
				close(sent)
				return nil
			}, nil)
		}()
		<-sent
		proc.cmd.Process.Kill()
		if err := <-slept; !errors.Is(err, exception.ErrDisconnected) {
			t.Fatalf("pending call after SIGKILL: %v", err)
		}
		<-conn.Done()
		if _, err := calcAdd(ctx, calc, 1, 1); !errors.Is(err, exception.ErrDisconnected) {
			t.Fatalf("call after the peer died: %v", err)
		}
	})
}

func TestEngineInteropCppClientGoServer(t *testing.T) {
	for _, sc := range [][]string{{"basic"}, {"errors"}, {"callback", "3"}, {"threads"}, {"pipeline"}} {
		t.Run(sc[0], func(t *testing.T) {
			ours, theirs := unixFiles(t)
			var destroyed atomic.Int32
			conn := Serve(fileConn(t, ours), func(*Conn) *Cap { return Local(&iInitDesc, &destroyed) },
				WithInitInterfaceID(rttest.TestInit_TypeID))
			defer conn.Close()
			proc := startCppPeer(t, theirs, "client", sc...)
			select {
			case <-proc.done:
			case <-testContext(t).Done():
				t.Fatalf("C++ client %v hangs:\n%s", sc, proc.out.String())
			}
			out := proc.out.String()
			if proc.err != nil || !strings.Contains(out, "OK "+sc[0]+"\n") {
				t.Fatalf("C++ client %v: %v\n%s", sc, proc.err, out)
			}
			<-conn.Done()
			if sc[0] == "basic" && destroyed.Load() != 1 {
				t.Errorf("Calc destroyed %d times", destroyed.Load())
			}
		})
	}
}
