package main

// The Go side of the rttest schema for the benchmarks: a TestInit/Calc
// implementation served through the generated rttest package, whose
// client the Go children use too, so that Go<->Go, Go<->C++ and C++<->C++
// all run the same Calc methods.

import (
	"bytes"
	"context"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

type initServer struct {
	rttest.UnimplementedTestInitServer
	marks *marker
}

func (s *initServer) MakeCalc(context.Context) (rttest.Calc, error) {
	return &calcServer{marks: s.marks}, nil
}

// calcServer implements the benchmarked Calc methods; the others answer
// unimplemented.
type calcServer struct {
	rttest.UnimplementedCalcServer
	marks *marker
}

func (s *calcServer) Add(_ context.Context, a, b int64) (int64, error) {
	s.marks.calls.Add(1)
	return a + b, nil
}

// Echo returns data; a mark (see marker) answers with the server's
// figures instead.
func (s *calcServer) Echo(_ context.Context, data []byte) ([]byte, error) {
	if bytes.HasPrefix(data, []byte(markPrefix)) {
		return []byte(s.marks.mark(string(data))), nil
	}
	s.marks.calls.Add(1)
	return data, nil
}

// rttestBootstrap serves TestInit on a connection.
func rttestBootstrap(m *marker) func(*rt.Conn) *rt.Cap {
	return func(*rt.Conn) *rt.Cap { return rttest.TestInitServer(&initServer{marks: m}) }
}

// makeCalc asks the peer's TestInit for a Calc.
func makeCalc(ctx context.Context, conn *rt.Conn) (rttest.Calc, error) {
	init := rttest.NewTestInitClient(conn)
	defer init.Release()
	return init.MakeCalc(ctx)
}
