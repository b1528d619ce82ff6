package rt_test

// Hand-written equivalents of what capnpc-go-ipc generates, for the test
// schema in internal/rttest: servers on rt.ServerBase and clients on
// rt.ClientBase. The runtime tests and the C++ interop tests share them.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/mp"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

var (
	mMakeCalc   = &rt.Method{File: "rttest.capnp", Interface: "TestInit", Name: "makeCalc", HasContext: true}
	mDestroy    = &rt.Method{File: "rttest.capnp", Interface: "Calc", Name: "destroy", HasContext: true}
	mAdd        = &rt.Method{File: "rttest.capnp", Interface: "Calc", Name: "add", HasContext: true, ParamsID: rttest.Calc_add_Params_TypeID, Schema: rttest.RegisterSchema}
	mThreadName = &rt.Method{File: "rttest.capnp", Interface: "Calc", Name: "threadName", HasContext: true}
	mFail       = &rt.Method{File: "rttest.capnp", Interface: "Calc", Name: "fail", HasContext: true}
	mSleep      = &rt.Method{File: "rttest.capnp", Interface: "Calc", Name: "sleep", HasContext: true}
	mCallBack   = &rt.Method{File: "rttest.capnp", Interface: "Calc", Name: "callBack", HasContext: true}
	mPing       = &rt.Method{File: "rttest.capnp", Interface: "Calc", Name: "ping"}
	mRaise      = &rt.Method{File: "rttest.capnp", Interface: "Calc", Name: "raise", HasContext: true}
	mEcho       = &rt.Method{File: "rttest.capnp", Interface: "Calc", Name: "echo", HasContext: true}
	mCbDestroy  = &rt.Method{File: "rttest.capnp", Interface: "Callback", Name: "destroy", HasContext: true}
	mCbCall     = &rt.Method{File: "rttest.capnp", Interface: "Callback", Name: "call", HasContext: true}
)

// ---- servers ----

type initServer struct {
	rt.ServerBase
	destroyed *atomic.Int32 // counts Calc destroys (explicit or on release)
}

func (s *initServer) Construct(ctx context.Context, call rttest.TestInit_construct) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return s.HandleConstruct(ctx, call.Call, call.Args().ThreadMap(), res.SetThreadMap)
}

func (s *initServer) MakeCalc(ctx context.Context, call rttest.TestInit_makeCalc) error {
	return s.Handle(ctx, call.Call, mMakeCalc, call.Args().Context, func(ctx context.Context) error {
		res, err := call.AllocResults()
		if err != nil {
			return err
		}
		return res.SetResult(rttest.Calc_ServerToClient(&calcServer{destroyed: s.destroyed}))
	})
}

type calcServer struct {
	rt.ServerBase
	destroyed *atomic.Int32
}

func (s *calcServer) destroy(context.Context) error {
	if s.destroyed != nil {
		s.destroyed.Add(1)
	}
	return nil
}

func (s *calcServer) Shutdown() { s.ServerBase.Shutdown(s.destroy) }

func (s *calcServer) Destroy(ctx context.Context, call rttest.Calc_destroy) error {
	return s.HandleDestroy(ctx, call.Call, mDestroy, call.Args().Context, s.destroy)
}

func (s *calcServer) Add(ctx context.Context, call rttest.Calc_add) error {
	return s.Handle(ctx, call.Call, mAdd, call.Args().Context, func(ctx context.Context) error {
		res, err := call.AllocResults()
		if err != nil {
			return err
		}
		res.SetResult(call.Args().A() + call.Args().B())
		return nil
	})
}

func (s *calcServer) ThreadName(ctx context.Context, call rttest.Calc_threadName) error {
	return s.Handle(ctx, call.Call, mThreadName, call.Args().Context, func(ctx context.Context) error {
		name, err := rt.CurrentThreadName(ctx)
		if err != nil {
			return err
		}
		res, err := call.AllocResults()
		if err != nil {
			return err
		}
		return res.SetResult(name)
	})
}

func (s *calcServer) Fail(ctx context.Context, call rttest.Calc_fail) error {
	return s.Handle(ctx, call.Call, mFail, call.Args().Context, func(ctx context.Context) error {
		text, _ := call.Args().Text()
		switch call.Args().Kind() {
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
	})
}

func (s *calcServer) Sleep(ctx context.Context, call rttest.Calc_sleep) error {
	return s.Handle(ctx, call.Call, mSleep, call.Args().Context, func(ctx context.Context) error {
		d := time.Duration(call.Args().Millis()) * time.Millisecond
		t := time.NewTimer(d)
		defer t.Stop()
		ok := true
		select {
		case <-t.C:
		case <-ctx.Done():
			ok = false
		}
		res, err := call.AllocResults()
		if err != nil {
			return err
		}
		res.SetResult(ok)
		return nil
	})
}

func (s *calcServer) CallBack(ctx context.Context, call rttest.Calc_callBack) error {
	return s.Handle(ctx, call.Call, mCallBack, call.Args().Context, func(ctx context.Context) error {
		cb := newCallbackClient(rt.ConnFromContext(ctx), call.Args().Cb().AddRef())
		defer cb.Release()
		r, err := cb.Call(ctx, call.Args().Depth())
		if err != nil {
			return err
		}
		res, err := call.AllocResults()
		if err != nil {
			return err
		}
		res.SetResult(r + 1)
		return nil
	})
}

func (s *calcServer) Ping(ctx context.Context, call rttest.Calc_ping) error {
	return s.Handle(ctx, call.Call, mPing, nil, func(ctx context.Context) error {
		res, err := call.AllocResults()
		if err != nil {
			return err
		}
		res.SetResult(call.Args().X())
		return nil
	})
}

func (s *calcServer) Raise(ctx context.Context, call rttest.Calc_raise) error {
	return s.Handle(ctx, call.Call, mRaise, call.Args().Context, func(ctx context.Context) error {
		text, _ := call.Args().Text()
		res, err := call.AllocResults()
		if err != nil {
			return err
		}
		return res.SetError(text)
	})
}

func (s *calcServer) Echo(ctx context.Context, call rttest.Calc_echo) error {
	return s.Handle(ctx, call.Call, mEcho, call.Args().Context, func(ctx context.Context) error {
		d, _ := call.Args().Data()
		res, err := call.AllocResults()
		if err != nil {
			return err
		}
		return res.SetResult(d)
	})
}

// callbackServer answers Callback.call; when calc is set and depth > 0 it
// first calls calc.callBack(self, depth-1), nesting the chain.
type callbackServer struct {
	rt.ServerBase
	calc      func(ctx context.Context) *calcClient
	self      func() rttest.Callback
	destroyed atomic.Int32
}

func (s *callbackServer) Shutdown() { s.ServerBase.Shutdown(nil) }

func (s *callbackServer) Destroy(ctx context.Context, call rttest.Callback_destroy) error {
	return s.HandleDestroy(ctx, call.Call, mCbDestroy, call.Args().Context, func(context.Context) error {
		s.destroyed.Add(1)
		return nil
	})
}

func (s *callbackServer) Call(ctx context.Context, call rttest.Callback_call) error {
	return s.Handle(ctx, call.Call, mCbCall, call.Args().Context, func(ctx context.Context) error {
		depth := call.Args().Depth()
		r := depth
		if depth > 0 && s.calc != nil {
			var err error
			r, err = s.calc(ctx).CallBack(ctx, s.self(), depth-1)
			if err != nil {
				return err
			}
		}
		res, err := call.AllocResults()
		if err != nil {
			return err
		}
		res.SetResult(r)
		return nil
	})
}

// ---- clients ----

type calcClient struct{ *rt.ClientBase }

func newCalcClient(conn *rt.Conn, c rttest.Calc) *calcClient {
	return &calcClient{rt.NewClientBase(conn, capnp.Client(c))}
}

func (c *calcClient) cap() rttest.Calc { return rttest.Calc(c.Client()) }

func (c *calcClient) Destroy(ctx context.Context) error {
	return c.ClientBase.Destroy(ctx, mDestroy, func(ctx context.Context, tc *rt.CallContext) error {
		fut, rel := c.cap().Destroy(ctx, func(p rttest.Calc_destroy_Params) error {
			pc, err := p.NewContext()
			if err != nil {
				return err
			}
			return tc.Fill(pc)
		})
		defer rel()
		_, err := fut.Struct()
		return err
	})
}

func (c *calcClient) Add(ctx context.Context, a, b int64) (r int64, err error) {
	err = c.Call(ctx, mAdd, func(ctx context.Context, tc *rt.CallContext) error {
		fut, rel := c.cap().Add(ctx, func(p rttest.Calc_add_Params) error {
			pc, err := p.NewContext()
			if err != nil {
				return err
			}
			p.SetA(a)
			p.SetB(b)
			return tc.Fill(pc)
		})
		defer rel()
		res, err := fut.Struct()
		if err != nil {
			return err
		}
		r = res.Result()
		return nil
	})
	return r, err
}

func (c *calcClient) ThreadName(ctx context.Context) (r string, err error) {
	err = c.Call(ctx, mThreadName, func(ctx context.Context, tc *rt.CallContext) error {
		fut, rel := c.cap().ThreadName(ctx, func(p rttest.Calc_threadName_Params) error {
			pc, err := p.NewContext()
			if err != nil {
				return err
			}
			return tc.Fill(pc)
		})
		defer rel()
		res, err := fut.Struct()
		if err != nil {
			return err
		}
		r, err = res.Result()
		return err
	})
	return r, err
}

func (c *calcClient) Fail(ctx context.Context, kind int32, text string) error {
	return c.Call(ctx, mFail, func(ctx context.Context, tc *rt.CallContext) error {
		fut, rel := c.cap().Fail(ctx, func(p rttest.Calc_fail_Params) error {
			pc, err := p.NewContext()
			if err != nil {
				return err
			}
			p.SetKind(kind)
			if err := p.SetText(text); err != nil {
				return err
			}
			return tc.Fill(pc)
		})
		defer rel()
		_, err := fut.Struct()
		return err
	})
}

func (c *calcClient) Sleep(ctx context.Context, d time.Duration) (ok bool, err error) {
	err = c.Call(ctx, mSleep, func(ctx context.Context, tc *rt.CallContext) error {
		fut, rel := c.cap().Sleep(ctx, func(p rttest.Calc_sleep_Params) error {
			pc, err := p.NewContext()
			if err != nil {
				return err
			}
			p.SetMillis(d.Milliseconds())
			return tc.Fill(pc)
		})
		defer rel()
		res, err := fut.Struct()
		if err != nil {
			return err
		}
		ok = res.Result()
		return nil
	})
	return ok, err
}

func (c *calcClient) CallBack(ctx context.Context, cb rttest.Callback, depth int32) (r int32, err error) {
	err = c.Call(ctx, mCallBack, func(ctx context.Context, tc *rt.CallContext) error {
		fut, rel := c.cap().CallBack(ctx, func(p rttest.Calc_callBack_Params) error {
			pc, err := p.NewContext()
			if err != nil {
				return err
			}
			p.SetDepth(depth)
			if err := p.SetCb(cb.AddRef()); err != nil {
				return err
			}
			return tc.Fill(pc)
		})
		defer rel()
		res, err := fut.Struct()
		if err != nil {
			return err
		}
		r = res.Result()
		return nil
	})
	return r, err
}

func (c *calcClient) Ping(ctx context.Context, x uint64) (r uint64, err error) {
	err = c.Call(ctx, mPing, func(ctx context.Context, tc *rt.CallContext) error {
		fut, rel := c.cap().Ping(ctx, func(p rttest.Calc_ping_Params) error {
			p.SetX(x)
			return nil
		})
		defer rel()
		res, err := fut.Struct()
		if err != nil {
			return err
		}
		r = res.Result()
		return nil
	})
	return r, err
}

func (c *calcClient) Raise(ctx context.Context, text string) error {
	return c.Call(ctx, mRaise, func(ctx context.Context, tc *rt.CallContext) error {
		fut, rel := c.cap().Raise(ctx, func(p rttest.Calc_raise_Params) error {
			pc, err := p.NewContext()
			if err != nil {
				return err
			}
			if err := p.SetText(text); err != nil {
				return err
			}
			return tc.Fill(pc)
		})
		defer rel()
		res, err := fut.Struct()
		if err != nil {
			return err
		}
		if res.HasError() {
			e, _ := res.Error()
			return rt.RemoteException(mRaise, e)
		}
		return nil
	})
}

func (c *calcClient) Echo(ctx context.Context, data []byte) (r []byte, err error) {
	err = c.Call(ctx, mEcho, func(ctx context.Context, tc *rt.CallContext) error {
		fut, rel := c.cap().Echo(ctx, func(p rttest.Calc_echo_Params) error {
			pc, err := p.NewContext()
			if err != nil {
				return err
			}
			if err := p.SetData(data); err != nil {
				return err
			}
			return tc.Fill(pc)
		})
		defer rel()
		res, err := fut.Struct()
		if err != nil {
			return err
		}
		d, err := res.Result()
		r = append([]byte(nil), d...)
		return err
	})
	return r, err
}

type callbackClient struct{ *rt.ClientBase }

func newCallbackClient(conn *rt.Conn, c rttest.Callback) *callbackClient {
	return &callbackClient{rt.NewClientBase(conn, capnp.Client(c))}
}

func (c *callbackClient) Call(ctx context.Context, depth int32) (r int32, err error) {
	err = c.ClientBase.Call(ctx, mCbCall, func(ctx context.Context, tc *rt.CallContext) error {
		fut, rel := rttest.Callback(c.Client()).Call(ctx, func(p rttest.Callback_call_Params) error {
			pc, err := p.NewContext()
			if err != nil {
				return err
			}
			p.SetDepth(depth)
			return tc.Fill(pc)
		})
		defer rel()
		res, err := fut.Struct()
		if err != nil {
			return err
		}
		r = res.Result()
		return nil
	})
	return r, err
}

func makeCalc(ctx context.Context, conn *rt.Conn) (*calcClient, error) {
	boot := rttest.TestInit(conn.Bootstrap(ctx))
	defer boot.Release()
	var calc *calcClient
	base := rt.NewClientBase(conn, capnp.Client(boot.AddRef()))
	defer base.Release()
	err := base.Call(ctx, mMakeCalc, func(ctx context.Context, tc *rt.CallContext) error {
		fut, rel := boot.MakeCalc(ctx, func(p rttest.TestInit_makeCalc_Params) error {
			pc, err := p.NewContext()
			if err != nil {
				return err
			}
			return tc.Fill(pc)
		})
		defer rel()
		res, err := fut.Struct()
		if err != nil {
			return err
		}
		calc = newCalcClient(conn, res.Result().AddRef())
		return nil
	})
	return calc, err
}

// ---- fixtures ----

var testInitID uint64 = rttest.TestInit_TypeID

type pair struct {
	client, server *rt.Conn
	calc           *calcClient
	destroyed      atomic.Int32
}

// newPair connects a Go client to a Go server over a socketpair.
func newPair(t testing.TB, serverOpts []rt.Option, clientOpts ...rt.Option) *pair {
	t.Helper()
	a, b := socketPair(t)
	p := &pair{}
	p.server = rt.Serve(b, func(*rt.Conn) capnp.Client {
		return capnp.Client(rttest.TestInit_ServerToClient(&initServer{destroyed: &p.destroyed}))
	}, serverOpts...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	p.client, err = rt.Connect(ctx, a, append([]rt.Option{rt.WithInitInterfaceID(testInitID)}, clientOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	p.calc, err = makeCalc(ctx, p.client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.calc.Release()
		p.client.Close()
		p.server.Close()
	})
	return p
}

func socketPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("unix", fmt.Sprintf("%s/s.sock", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	a, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return a, <-ch
}

var _ = mp.Thread{}

func mpThread(c capnp.Client) mp.Thread { return mp.Thread(c) }
