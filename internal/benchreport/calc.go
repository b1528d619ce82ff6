package main

// Hand-written equivalents of what capnpc-go-ipc generates, for the parts
// of the rttest schema the benchmarks use (as rt/helpers_test.go has them
// for the runtime tests): a Go TestInit/Calc server on rt.ServerBase and a
// Calc client on rt.ClientBase, so that Go<->Go, Go<->C++ and C++<->C++
// all run the same Calc methods.

import (
	"bytes"
	"context"

	"capnproto.org/go/capnp/v3"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

var (
	mMakeCalc = &rt.Method{File: "rttest.capnp", Interface: "TestInit", Name: "makeCalc", HasContext: true}
	mDestroy  = &rt.Method{File: "rttest.capnp", Interface: "Calc", Name: "destroy", HasContext: true}
	mAdd      = &rt.Method{File: "rttest.capnp", Interface: "Calc", Name: "add", HasContext: true}
	mEcho     = &rt.Method{File: "rttest.capnp", Interface: "Calc", Name: "echo", HasContext: true}
	mOther    = &rt.Method{File: "rttest.capnp", Interface: "Calc", Name: "(not benchmarked)", HasContext: true}
)

// testInitID is TestInit's interface ID, whose method 0 is construct.
const testInitID = rttest.TestInit_TypeID

// ---- server ----

type initServer struct {
	rt.ServerBase
	marks *marker
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
		return res.SetResult(rttest.Calc_ServerToClient(&calcServer{marks: s.marks}))
	})
}

type calcServer struct {
	rt.ServerBase
	marks *marker
}

func (s *calcServer) Shutdown() { s.ServerBase.Shutdown(nil) }

func (s *calcServer) Destroy(ctx context.Context, call rttest.Calc_destroy) error {
	return s.HandleDestroy(ctx, call.Call, mDestroy, call.Args().Context, nil)
}

func (s *calcServer) Add(ctx context.Context, call rttest.Calc_add) error {
	return s.Handle(ctx, call.Call, mAdd, call.Args().Context, func(ctx context.Context) error {
		s.marks.calls.Add(1)
		res, err := call.AllocResults()
		if err != nil {
			return err
		}
		res.SetResult(call.Args().A() + call.Args().B())
		return nil
	})
}

// Echo returns data; a mark (see marker) answers with the server's
// figures instead.
func (s *calcServer) Echo(ctx context.Context, call rttest.Calc_echo) error {
	return s.Handle(ctx, call.Call, mEcho, call.Args().Context, func(ctx context.Context) error {
		d, err := call.Args().Data()
		if err != nil {
			return err
		}
		if bytes.HasPrefix(d, []byte(markPrefix)) {
			d = []byte(s.marks.mark(string(d)))
		} else {
			s.marks.calls.Add(1)
		}
		res, err := call.AllocResults()
		if err != nil {
			return err
		}
		return res.SetResult(d)
	})
}

func (s *calcServer) ThreadName(ctx context.Context, call rttest.Calc_threadName) error {
	return rt.Unimplemented(mOther)
}

func (s *calcServer) Fail(ctx context.Context, call rttest.Calc_fail) error {
	return rt.Unimplemented(mOther)
}

func (s *calcServer) Sleep(ctx context.Context, call rttest.Calc_sleep) error {
	return rt.Unimplemented(mOther)
}

func (s *calcServer) CallBack(ctx context.Context, call rttest.Calc_callBack) error {
	return rt.Unimplemented(mOther)
}

func (s *calcServer) Ping(ctx context.Context, call rttest.Calc_ping) error {
	return rt.Unimplemented(mOther)
}

func (s *calcServer) Raise(ctx context.Context, call rttest.Calc_raise) error {
	return rt.Unimplemented(mOther)
}

// rttestBootstrap serves TestInit on a connection.
func rttestBootstrap(m *marker) func(*rt.Conn) capnp.Client {
	return func(*rt.Conn) capnp.Client {
		return capnp.Client(rttest.TestInit_ServerToClient(&initServer{marks: m}))
	}
}

// ---- client ----

type calcClient struct{ *rt.ClientBase }

func (c *calcClient) cap() rttest.Calc { return rttest.Calc(c.Client()) }

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

// makeCalc asks the peer's TestInit for a Calc.
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
		calc = &calcClient{rt.NewClientBase(conn, capnp.Client(res.Result().AddRef()))}
		return nil
	})
	return calc, err
}
