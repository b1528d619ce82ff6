package probe_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/multiprocess"
	v30 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v30"
	v31 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v31"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// Each node serves one schema set's Init, with every make method it has
// implemented: the probe must tell the sets apart by which methods exist
// (an unknown method is answered "unimplemented" by the RPC layer itself,
// as a Bitcoin Core node of that version answers it).

type v30Init struct{ v30.UnimplementedInitServer }

func (v30Init) MakeEcho(context.Context) (v30.Echo, error) { return v30.UnimplementedEchoServer{}, nil }
func (v30Init) MakeMining(context.Context) (v30.Mining, error) {
	return v30.UnimplementedMiningServer{}, nil
}

type v31Init struct{ v31.UnimplementedInitServer }

func (v31Init) MakeEcho(context.Context) (v31.Echo, error) { return v31.UnimplementedEchoServer{}, nil }
func (v31Init) MakeMining(context.Context) (v31.Mining, error) {
	return v31.UnimplementedMiningServer{}, nil
}

type v32Init struct {
	v32.UnimplementedInitServer
	rpcErr error // what MakeRpc fails with, if not nil
}

func (v32Init) MakeEcho(context.Context) (v32.Echo, error) { return v32.UnimplementedEchoServer{}, nil }
func (v32Init) MakeMining(context.Context) (v32.Mining, error) {
	return v32.UnimplementedMiningServer{}, nil
}
func (i v32Init) MakeRpc(context.Context) (v32.Rpc, error) {
	if i.rpcErr != nil {
		return nil, i.rpcErr
	}
	return v32.UnimplementedRpcServer{}, nil
}

type mpInit struct {
	multiprocess.UnimplementedInitServer
}

func (mpInit) MakeEcho(context.Context) (multiprocess.Echo, error) {
	return multiprocess.UnimplementedEchoServer{}, nil
}
func (mpInit) MakeMining(context.Context) (multiprocess.Mining, error) {
	return multiprocess.UnimplementedMiningServer{}, nil
}
func (mpInit) MakeRpc(context.Context) (multiprocess.Rpc, error) {
	return multiprocess.UnimplementedRpcServer{}, nil
}
func (mpInit) MakeChain(context.Context) (multiprocess.Chain, error) {
	return multiprocess.UnimplementedChainServer{}, nil
}

// connect serves boot over a socketpair and returns an rt client
// connected to it.
func connect(t *testing.T, boot func() *rt.Cap) *rt.Conn {
	t.Helper()
	conn, _ := testutil.Connect(t, func(*rt.Conn) *rt.Cap { return boot() }, nil)
	return conn
}

func TestProbe(t *testing.T) {
	for _, tc := range []struct {
		want probe.Version
		boot func() *rt.Cap
	}{
		{probe.V30, func() *rt.Cap { return v30.InitServer(v30Init{}) }},
		{probe.V31, func() *rt.Cap { return v31.InitServer(v31Init{}) }},
		{probe.V32, func() *rt.Cap { return v32.InitServer(v32Init{}) }},
		{probe.Multiprocess, func() *rt.Cap { return multiprocess.InitServer(mpInit{}) }},
	} {
		t.Run(string(tc.want), func(t *testing.T) {
			conn := connect(t, tc.boot)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			got, err := probe.Probe(ctx, conn)
			if err != nil || got != tc.want {
				t.Fatalf("Probe = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// A probe call that fails for another reason than a missing method is an
// error, not an answer.
func TestProbeError(t *testing.T) {
	conn := connect(t, func() *rt.Cap {
		return v32.InitServer(v32Init{rpcErr: errors.New("node shutting down")})
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := probe.Probe(ctx, conn)
	var e *exception.Error
	if !errors.As(err, &e) || e.Type != exception.Failed || !strings.HasPrefix(err.Error(), "probe: ") ||
		!strings.Contains(err.Error(), "node shutting down") {
		t.Fatalf("Probe = %q, %v; want a probe: error carrying the node's failure", got, err)
	}
}

// Servers that implement only some of Init's methods: the stubs answer
// "method not implemented" for methods their schema has, which is not the
// RPC layer's answer for a method the schema lacks. None of them is taken
// for an older version.
type v32EchoOnly struct{ v32.UnimplementedInitServer }

func (v32EchoOnly) MakeEcho(context.Context) (v32.Echo, error) {
	return v32.UnimplementedEchoServer{}, nil
}

type v31EchoOnly struct{ v31.UnimplementedInitServer }

func (v31EchoOnly) MakeEcho(context.Context) (v31.Echo, error) {
	return v31.UnimplementedEchoServer{}, nil
}

type v30EchoOnly struct{ v30.UnimplementedInitServer }

func (v30EchoOnly) MakeEcho(context.Context) (v30.Echo, error) {
	return v30.UnimplementedEchoServer{}, nil
}

// cppInit answers makeRpc (@4) as Cap'n Proto C++ does: for a method its
// schema declares but the server lacks (declared), or for an ordinal its
// schema does not have; makeMining (@3) is implemented.
type cppInit struct {
	v32.UnimplementedInitServer
	declared bool
}

func (i cppInit) MakeRpc(context.Context) (v32.Rpc, error) {
	text := "Method not implemented.; interfaceName = capnp/init.capnp:Init; typeId = 9815657002616023653; methodId = 4"
	if i.declared {
		text = "Method not implemented.; interfaceName = capnp/init.capnp:Init; typeId = 9815657002616023653; methodName = makeRpc; methodId = 4"
	}
	return nil, exception.New(exception.Unimplemented, "Init", "makeRpc", text)
}

func (cppInit) MakeMining(context.Context) (v32.Mining, error) {
	return v32.UnimplementedMiningServer{}, nil
}

func TestProbePartialServers(t *testing.T) {
	for _, tc := range []struct {
		name string
		want probe.Version
		boot func() *rt.Cap
	}{
		{"v32 echo only", probe.V32, func() *rt.Cap { return v32.InitServer(v32EchoOnly{}) }},
		{"v31 echo only", probe.V31, func() *rt.Cap { return v31.InitServer(v31EchoOnly{}) }},
		{"v30 echo only", probe.V30, func() *rt.Cap { return v30.InitServer(v30EchoOnly{}) }},
		{"C++ makeRpc declared", probe.V32, func() *rt.Cap { return v32.InitServer(cppInit{declared: true}) }},
		{"C++ makeRpc unknown", probe.V31, func() *rt.Cap { return v32.InitServer(cppInit{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := connect(t, tc.boot)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			got, err := probe.Probe(ctx, conn)
			if err != nil || got != tc.want {
				t.Fatalf("Probe = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
