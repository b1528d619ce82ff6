package rt_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

func listenTest(t *testing.T, opts ...rt.ListenOption) (*rt.Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := rt.NewServer(ln, func(*rt.Conn) capnp.Client {
		return capnp.Client(rttest.TestInit_ServerToClient(&initServer{}))
	}, opts...)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, path
}

func dialCalc(t *testing.T, ctx context.Context, path string) (*rt.Conn, *calcClient, error) {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		return nil, nil, err
	}
	conn, err := rt.Connect(ctx, nc, rt.WithInitInterfaceID(testInitID))
	if err != nil {
		return nil, nil, err
	}
	calc, err := makeCalc(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, calc, nil
}

func TestListenServesEachConnection(t *testing.T) {
	srv, path := listenTest(t)
	ctx := ctxT(t)
	for i := 0; i < 3; i++ {
		conn, calc, err := dialCalc(t, ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := calc.Add(ctx, int64(i), 1); err != nil || r != int64(i)+1 {
			t.Fatalf("Add: %d %v", r, err)
		}
		defer conn.Close()
	}
	waitFor(t, func() bool { return srv.Conns() == 3 })
	srv.DisconnectIncoming()
	waitFor(t, func() bool { return srv.Conns() == 0 })
	// Still accepting after DisconnectIncoming.
	conn, calc, err := dialCalc(t, ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := calc.Add(ctx, 1, 1); err != nil {
		t.Fatal(err)
	}
}

func TestListenMaxConnections(t *testing.T) {
	srv, path := listenTest(t, rt.MaxConnections(1))
	ctx := ctxT(t)
	c1, _, err := dialCalc(t, ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	// The second connection is not served while the first is open.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	second := make(chan error, 1)
	go func() {
		conn, calc, err := dialCalc(t, ctx, path)
		if err == nil {
			_, err = calc.Add(ctx, 1, 1)
			conn.Close()
		}
		second <- err
	}()
	select {
	case err := <-second:
		t.Fatalf("second connection served while the first is open (err %v)", err)
	case <-short.Done():
	}
	if srv.Conns() != 1 {
		t.Fatalf("%d connections open, want 1", srv.Conns())
	}
	c1.Close()
	select {
	case err := <-second:
		if err != nil {
			t.Fatalf("second connection after the first closed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second connection not served after the first closed")
	}
}
