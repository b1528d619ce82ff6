package rt_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

func listenTest(t *testing.T, opts ...rt.ListenOption) (*rt.Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := rt.NewServer(ln, newInit(nil, nil).bootstrap(),
		append([]rt.ListenOption{rt.ConnOptions(rt.WithInitInterfaceID(testInitID))}, opts...)...)
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

func dialCalc(t *testing.T, ctx context.Context, path string) (*rt.Conn, *rttest.CalcClient, error) {
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

// Shutdown stops accepting at once, leaves open connections working until
// their clients close them, and closes the rest when its ctx is done.
func TestListenShutdown(t *testing.T) {
	srv, path := listenTest(t)
	ctx := ctxT(t)
	conn1, calc1, err := dialCalc(t, ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	conn2, calc2, err := dialCalc(t, ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()

	stopCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(stopCtx) }()

	// Still answering the open connections while it waits for them.
	if r, err := calc1.Add(ctx, 1, 2); err != nil || r != 3 {
		t.Fatalf("call during shutdown: %d, %v", r, err)
	}
	for {
		nc, err := net.Dial("unix", path)
		if err != nil {
			break // the socket no longer accepts
		}
		nc.Close()
	}
	conn1.Close()
	if _, err := calc2.Add(ctx, 2, 2); err != nil {
		t.Fatalf("the other connection, after the first closed: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a connection still open", err)
	default:
	}
	stop() // ctx done: the remaining connection is closed.
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := calc2.Add(ctx, 1, 1); err == nil {
		t.Fatal("a call after Shutdown's ctx ended succeeded")
	}
	if n := srv.Conns(); n != 0 {
		t.Fatalf("%d connections left", n)
	}
}
