package v32

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/server"

	"github.com/bitcoin-ipc/bitcoin-ipc/gen/v32/v32capnp"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

type fwdEcho struct{ UnimplementedEchoServer }

func (fwdEcho) Echo(_ context.Context, s string) (string, error) { return "A:" + s, nil }

type fwdInit struct{ UnimplementedInitServer }

func (fwdInit) MakeEcho(context.Context) (Echo, error) { return fwdEcho{}, nil }

func connectPair(t *testing.T) *rt.Conn {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			rt.Serve(c, func(*rt.Conn) capnp.Client { return capnp.Client(InitServerToCapnp(fwdInit{})) })
		}
	}()
	nc, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rt.Connect(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// A proxy received on one connection is never forwarded raw into another:
// there it is served as a local object, so that calls through it carry
// that connection's threads (libmultiprocess does the same).
func TestCapabilityNotForwardedAcrossConnections(t *testing.T) {
	ctx := context.Background()
	connA, connB := connectPair(t), connectPair(t)
	init := NewInitClient(connA, v32capnp.Init(connA.Bootstrap(ctx)))
	defer init.Release()
	e, err := init.MakeEcho(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same := echoToCapnp(connA, e)
	defer same.Release()
	if !capnp.Client(same).IsSame(e.(*EchoClient).Client()) {
		t.Error("on its own connection a client must pass its own capability")
	}
	other := echoToCapnp(connB, e)
	defer other.Release()
	snap := capnp.Client(other).Snapshot()
	_, local := server.IsServer(snap.Brand())
	snap.Release()
	if !local {
		t.Fatal("a client of connection A was forwarded raw into connection B")
	}
	// The local wrapper still reaches the object on A.
	wrapped := NewEchoClient(connB, other.AddRef())
	r, err := wrapped.Echo(ctx, "x")
	wrapped.Release()
	if err != nil || r != "A:x" {
		t.Fatalf("through the wrapper: %q %v", r, err)
	}
}
