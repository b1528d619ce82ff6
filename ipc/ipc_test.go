package ipc_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/ipc"
	"github.com/bitcoin-ipc/bitcoin-ipc/process"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// TestMain makes the test binary its own spawned child: with argv
// [exe, -ipcfd, N] (or [exe, N] when IPC_TEST_ARGV=fd) it serves a demo node, then exits with the status in
// IPC_TEST_EXIT (default: what StartSpawnedProcess returns).
func TestMain(m *testing.M) {
	n := demonode.New()
	var opts []ipc.Option
	if os.Getenv("IPC_TEST_ARGV") == "fd" {
		opts = append(opts, ipc.WithArgv(process.ArgvFD))
	}
	i := ipc.New("bitcoin-node", os.Args[0], n.Bootstrap, opts...)
	handled, status, err := i.StartSpawnedProcess(os.Args)
	if handled {
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
		}
		if s := os.Getenv("IPC_TEST_EXIT"); s != "" {
			status, _ = strconv.Atoi(s)
		}
		os.Exit(status)
	}
	if os.Getenv("IPC_TEST_ARGV") != "" {
		os.Stderr.WriteString("not spawned: " + strings.Join(os.Args, " ") + "\n")
		os.Exit(91) // a child that did not recognise its command line
	}
	n.Chain().Close()
	os.Exit(m.Run())
}

// testWait bounds every wait in these tests. It only has to catch a hang:
// a loaded machine makes the tests slower, never makes them fail.
const testWait = 2 * time.Minute

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

// spawnEcho spawns this test binary as a child of i, echoes text through
// it and closes the connection, which tells the child to exit.
func spawnEcho(ctx context.Context, t *testing.T, i *ipc.Ipc, text string) *process.Child {
	t.Helper()
	conn, child, err := i.SpawnProcess(ctx, filepath.Base(os.Args[0]))
	if err != nil {
		t.Fatal(err)
	}
	init := v32.NewInitClient(conn)
	e, err := init.MakeEcho(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := e.Echo(ctx, text); err != nil || r != text {
		t.Fatalf("echo: %q %v", r, err)
	}
	init.Release()
	conn.Close()
	return child
}

func TestSpawnCallExit(t *testing.T) {
	for _, status := range []string{"", "3"} {
		t.Run("exit"+status, func(t *testing.T) {
			ctx := ctxT(t)
			t.Setenv("IPC_TEST_EXIT", status)
			var logs testutil.Buffer
			i := ipc.New("bitcoin-gui", os.Args[0], nil, ipc.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			child := spawnEcho(ctx, t, i, "spawned")
			st, err := child.Wait()
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			if status != "" {
				want, _ = strconv.Atoi(status)
			}
			if st.Code != want {
				t.Fatalf("child exit status %v, want %d", st, want)
			}
			waitFor(t, func() bool { return strings.Contains(logs.String(), "Process exited") })
			if !strings.Contains(logs.String(), "pid="+strconv.Itoa(child.Pid)) {
				t.Fatalf("exit not logged with the pid:\n%s", logs.String())
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(testWait); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached in %v", testWait)
		}
	}
}

// TestSpawnBareFD spawns with libmultiprocess's [exe, N] command line: the
// child's Ipc is told the same shape and serves the parent.
func TestSpawnBareFD(t *testing.T) {
	ctx := ctxT(t)
	t.Setenv("IPC_TEST_ARGV", "fd")
	i := ipc.New("bitcoin-gui", os.Args[0], nil, ipc.WithArgv(process.ArgvFD))
	child := spawnEcho(ctx, t, i, "bare fd")
	if st, err := child.Wait(); err != nil || !st.Success() {
		t.Fatalf("child: %v, %v", st, err)
	}

	// The child side alone: [exe, N] is spawned, Core's shape is not.
	c := ipc.New("x", "x", demonode.New().Bootstrap, ipc.WithArgv(process.ArgvFD))
	if handled, _, err := c.StartSpawnedProcess([]string{"x", "-ipcfd", "3"}); handled || err != nil {
		t.Errorf("[x -ipcfd 3] with ArgvFD: handled=%v err=%v", handled, err)
	}
	if handled, status, err := c.StartSpawnedProcess([]string{"x", "nope"}); !handled || status == 0 || !errors.Is(err, process.ErrInvalidIPCFD) {
		t.Errorf("[x nope] with ArgvFD: handled=%v status=%d err=%v", handled, status, err)
	}
}

// sendLog is a slog handler that reports on sent each request for method
// that a client logs as it sends it.
type sendLog struct {
	method string
	sent   chan struct{}
}

func (h *sendLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelDebug }
func (h *sendLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "IPC client send request" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "method" && a.Value.String() == h.method {
			select {
			case h.sent <- struct{}{}:
			default:
			}
		}
		return true
	})
	return nil
}
func (h *sendLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *sendLog) WithGroup(string) slog.Handler      { return h }

// A call pending when the child dies fails with Disconnected. The kill
// comes once the client is sending the call; should it still reach the
// socket after the kill, the call fails the same way.
func TestChildKilledMidCall(t *testing.T) {
	ctx := ctxT(t)
	waits := &sendLog{method: "Mining.waitTipChanged", sent: make(chan struct{}, 1)}
	i := ipc.New("bitcoin-gui", os.Args[0], nil, ipc.WithLogger(slog.New(waits)))
	conn, child, err := i.SpawnProcess(ctx, filepath.Base(os.Args[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	init := v32.NewInitClient(conn)
	defer init.Release()
	m, err := init.MakeMining(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tip, err := m.GetTip(ctx)
	if err != nil || tip == nil {
		t.Fatalf("getTip = %v, %v", tip, err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := m.WaitTipChanged(ctx, tip.Hash, time.Hour)
		errc <- err
	}()
	select {
	case <-waits.sent:
	case err := <-errc:
		t.Fatalf("waitTipChanged returned before the kill: %v", err)
	}
	if err := child.Kill(); err != nil {
		t.Fatal(err)
	}
	// The wait is an hour long and ctx has not ended: only the
	// disconnection can end the call.
	select {
	case err := <-errc:
		if !errors.Is(err, exception.ErrDisconnected) {
			t.Fatalf("pending call after kill: %v", err)
		}
	case <-time.After(testWait):
		t.Fatal("pending call did not fail after the child was killed")
	}
	st, _ := child.Wait()
	if st.Signal == 0 {
		t.Fatalf("child status %v, want killed by a signal", st)
	}
}

func TestStartSpawnedProcessIgnoresOtherArgs(t *testing.T) {
	i := ipc.New("bitcoin-node", os.Args[0], demonode.New().Bootstrap)
	for _, args := range [][]string{{"x"}, {"x", "-ipcfd"}, {"x", "-ipcfd", "3", "-regtest"}, {"x", "-regtest"}} {
		handled, _, err := i.StartSpawnedProcess(args)
		if handled || err != nil {
			t.Errorf("%v: handled=%v err=%v", args, handled, err)
		}
	}
	handled, status, err := i.StartSpawnedProcess([]string{"x", "-ipcfd", "nope"})
	if !handled || status == 0 || !errors.Is(err, process.ErrInvalidIPCFD) {
		t.Fatalf("bad fd: handled=%v status=%d err=%v", handled, status, err)
	}
}

func TestListenConnectAddress(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	n := demonode.New()
	defer n.Chain().Close()
	server := ipc.New("bitcoin-node", "", n.Bootstrap)
	defer server.Close()
	// The application Context reaches every accepted connection.
	accepted := make(chan *rt.Conn, 2)
	server.Context().Value = n
	server.Context().OnConnect = func(c *rt.Conn) { accepted <- c }
	addr, err := server.ListenAddress(dir, "unix")
	if err != nil {
		t.Fatal(err)
	}
	if addr != "unix:"+filepath.Join(dir, "node.sock") {
		t.Fatalf("listen address %s", addr)
	}
	client := ipc.New("bitcoin-ipc", "", nil)
	conn, canonical, err := client.ConnectAddress(ctx, dir, "unix")
	if err != nil || canonical != addr {
		t.Fatalf("connect: %v %s", err, canonical)
	}
	select {
	case c := <-accepted:
		if c.Context() != server.Context() || c.Context().Value != n {
			t.Fatal("the accepted connection does not share the server's Context")
		}
	case <-time.After(testWait):
		t.Fatal("OnConnect did not run for the accepted connection")
	}
	init := v32.NewInitClient(conn)
	e, err := init.MakeEcho(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cleaned := make(chan struct{})
	client.AddCleanup(e.(*v32.EchoClient), func() { close(cleaned) })
	if r, err := e.Echo(ctx, "listen"); err != nil || r != "listen" {
		t.Fatalf("echo %q %v", r, err)
	}
	rt.Release(e)
	<-cleaned

	// DisconnectIncoming drops the connection; the listener stays.
	server.DisconnectIncoming()
	select {
	case <-conn.Done():
	case <-time.After(testWait):
		t.Fatal("DisconnectIncoming left the connection open")
	}
	conn2, _, err := client.ConnectAddress(ctx, dir, "unix")
	if err != nil {
		t.Fatal(err)
	}
	conn2.Close()

	// "", "0": no connection; "auto" with no node: none, quietly.
	for _, a := range []string{"", "0"} {
		if c, _, err := client.ConnectAddress(ctx, dir, a); c != nil || err != nil {
			t.Errorf("%q: %v %v", a, c, err)
		}
	}
	if c, canon, err := client.ConnectAddress(ctx, t.TempDir(), "auto"); c != nil || err != nil || !strings.HasSuffix(canon, "node.sock") {
		t.Errorf("auto without a node: %v %q %v", c, canon, err)
	}
	server.Close()
	if _, err := os.Stat(filepath.Join(dir, "node.sock")); !os.IsNotExist(err) {
		t.Fatalf("socket not removed on Close: %v", err)
	}
}

// BenchmarkSpawnToFirstCall measures spawning the demo node over -ipcfd,
// Init.construct, and one echo: the cost of SpawnProcess for a user.
func BenchmarkSpawnToFirstCall(b *testing.B) {
	ctx := ctxT(b)
	i := ipc.New("bitcoin-gui", os.Args[0], nil)
	for b.Loop() {
		conn, child, err := i.SpawnProcess(ctx, filepath.Base(os.Args[0]))
		if err != nil {
			b.Fatal(err)
		}
		init := v32.NewInitClient(conn)
		e, err := init.MakeEcho(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.Echo(ctx, "x"); err != nil {
			b.Fatal(err)
		}
		init.Release()
		conn.Close()
		child.Wait()
	}
}
