package v32

import (
	"context"
	"testing"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

type fwdEcho struct{ UnimplementedEchoServer }

func (fwdEcho) Echo(_ context.Context, s string) (string, error) { return "A:" + s, nil }

type fwdInit struct{ UnimplementedInitServer }

func (fwdInit) MakeEcho(context.Context) (Echo, error) { return fwdEcho{}, nil }

// proxyInit hands out the Echo it holds (a client of another connection).
type proxyInit struct {
	UnimplementedInitServer
	e Echo
}

func (i proxyInit) MakeEcho(context.Context) (Echo, error) { return i.e, nil }

// The capability helpers: a local implementation is served in this
// process (no connection), a client passes a reference to its own
// capability, and a received capability becomes a client.
func TestCapabilityHelpers(t *testing.T) {
	ctx := context.Background()
	if echoCap(nil) != nil || echoFromCap(nil) != nil {
		t.Fatal("nil must map to the null capability and back")
	}
	local := echoCap(fwdEcho{})
	if !local.IsValid() || local.Conn() != nil {
		t.Fatalf("a local implementation: valid %v, conn %p; want a local capability", local.IsValid(), local.Conn())
	}
	lc := echoFromCap(local)
	r, err := lc.Echo(ctx, "x")
	rt.Release(lc)
	if err != nil || r != "A:x" {
		t.Fatalf("through a local capability: %q %v", r, err)
	}

	conn, _ := testutil.Connect(t, func(*rt.Conn) *rt.Cap { return InitServer(fwdInit{}) }, nil)
	init := NewInitClient(conn)
	defer init.Release()
	e, err := init.MakeEcho(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Release(e)
	c := echoCap(e)
	if c.Conn() != conn {
		t.Fatalf("a client's capability lives on %p, want its connection %p", c.Conn(), conn)
	}
	again := echoFromCap(c)
	r, err = again.Echo(ctx, "y")
	rt.Release(again)
	if err != nil || r != "A:y" {
		t.Fatalf("through a second reference: %q %v", r, err)
	}
	// The first client still works after the second is released.
	if r, err := e.Echo(ctx, "z"); err != nil || r != "A:z" {
		t.Fatalf("after releasing another reference: %q %v", r, err)
	}
}

// A client of connection A returned on connection B reaches the object on
// A: rt forwards it (libmultiprocess serves it as a local object too).
func TestCapabilityForwardedAcrossConnections(t *testing.T) {
	ctx := context.Background()
	connA, _ := testutil.Connect(t, func(*rt.Conn) *rt.Cap { return InitServer(fwdInit{}) }, nil)
	initA := NewInitClient(connA)
	defer initA.Release()
	e, err := initA.MakeEcho(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Release(e)
	connB, _ := testutil.Connect(t, func(*rt.Conn) *rt.Cap { return InitServer(proxyInit{e: e}) }, nil)
	initB := NewInitClient(connB)
	defer initB.Release()
	wrapped, err := initB.MakeEcho(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Release(wrapped)
	if wc, ok := wrapped.(*EchoClient); !ok || wc.Conn() != connB {
		t.Fatalf("got %T, want a client on connection B", wrapped)
	}
	if r, err := wrapped.Echo(ctx, "x"); err != nil || r != "A:x" {
		t.Fatalf("through connection B: %q %v", r, err)
	}
}
