package rt_test

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

func listenTest(t *testing.T, opts ...rt.ListenOption) (*rt.Server, string) {
	t.Helper()
	srv, path, _ := listenWatched(t, opts...)
	return srv, path
}

// listenWatched is listenTest with the server's listener wrapped in an
// acceptWatch.
func listenWatched(t *testing.T, opts ...rt.ListenOption) (*rt.Server, string, *acceptWatch) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var srv *rt.Server
	w := &acceptWatch{Listener: ln, open: func() int { return srv.Conns() }}
	srv = rt.NewServer(w, newInit(nil, nil).bootstrap(),
		append([]rt.ListenOption{rt.ConnOptions(rt.WithInitInterfaceID(testInitID))}, opts...)...)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, path, w
}

// servesCalc dials the listener at path and makes one call on it.
func servesCalc(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	conn, calc, err := dialCalc(t, ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := calc.Add(ctx, 1, 1); err != nil {
		t.Fatal(err)
	}
}

// acceptWatch is a listener that, each time Serve asks for the next
// connection, records how many connections the server had open then.
type acceptWatch struct {
	net.Listener
	open func() int
	mu   sync.Mutex
	seen []int
}

func (w *acceptWatch) Accept() (net.Conn, error) {
	w.mu.Lock()
	w.seen = append(w.seen, w.open())
	w.mu.Unlock()
	return w.Listener.Accept()
}

// checkLimit fails t if Serve asked for a connection while limit or
// more were open.
func (w *acceptWatch) checkLimit(t *testing.T, limit int) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, n := range w.seen {
		if n >= limit {
			t.Fatalf("Accept %d asked for while %d connections were open, limit %d", i+1, n, limit)
		}
	}
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
	ctx := testutil.Context(t)
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
	testutil.WaitFor(t, func() bool { return srv.Conns() == 3 })
	srv.DisconnectIncoming()
	testutil.WaitFor(t, func() bool { return srv.Conns() == 0 })
	// Still accepting after DisconnectIncoming.
	servesCalc(t, ctx, path)
}

// With MaxConnections(1) the server does not accept a second connection
// while the first is open: it asks its listener for the next connection
// only once the first has closed, and then serves the waiting one.
func TestListenMaxConnections(t *testing.T) {
	_, path, w := listenWatched(t, rt.MaxConnections(1))
	ctx := testutil.Context(t)
	c1, calc1, err := dialCalc(t, ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := calc1.Add(ctx, 1, 1); err != nil {
		t.Fatal(err)
	}
	// The second connection is made (it waits in the listener's backlog)
	// while the first is open; it is served once the first closes.
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		conn, err := rt.Connect(ctx, nc, rt.WithInitInterfaceID(testInitID))
		if err != nil {
			second <- err
			return
		}
		defer conn.Close()
		calc, err := makeCalc(ctx, conn)
		if err == nil {
			_, err = calc.Add(ctx, 1, 1)
		}
		second <- err
	}()
	c1.Close()
	if err := testutil.Recv(t, second, "second connection"); err != nil {
		t.Fatalf("second connection after the first closed: %v", err)
	}
	w.checkLimit(t, 1)
}

// Shutdown stops accepting at once, leaves open connections working until
// their clients close them, and closes the rest when its ctx is done.
func TestListenShutdown(t *testing.T) {
	srv, path := listenTest(t)
	ctx := testutil.Context(t)
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
