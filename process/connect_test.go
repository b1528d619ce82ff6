//go:build linux

package process

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// staleSocket leaves a socket file at path that nobody listens on.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("stale socket not left behind: %v", err)
	}
}

func TestConnectErrorNamesPath(t *testing.T) {
	dir := t.TempDir()
	addr := Address{Path: filepath.Join(dir, "node.sock")}
	_, err := Connect(context.Background(), addr, WithLogger(discard))
	if err == nil {
		t.Fatal("Connect to a missing socket succeeded")
	}
	want := "connect unix:" + addr.Path + ": no such file or directory"
	if err.Error() != want {
		t.Fatalf("error text %q, want %q", err.Error(), want)
	}
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("errors.Is(err, ENOENT) = false for %v", err)
	}
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Addr != addr || ce.Attempts != 1 {
		t.Fatalf("errors.As ConnectError: %#v", ce)
	}
}

func TestConnectRefusedStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.sock")
	staleSocket(t, path)
	_, err := Connect(context.Background(), Address{Path: path}, WithLogger(discard))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want ECONNREFUSED", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error text %q lacks path or reason", err)
	}
}

func TestConnectBadAddress(t *testing.T) {
	_, err := Connect(context.Background(), Address{})
	if !errors.Is(err, ErrBadAddress) {
		t.Fatalf("empty path: %v", err)
	}
	_, err = Connect(context.Background(), Address{Path: "/" + strings.Repeat("x", 200)})
	if !errors.Is(err, ErrPathTooLong) {
		t.Fatalf("long path: %v", err)
	}
}

func TestConnectRetryPathAppears(t *testing.T) {
	dir := t.TempDir()
	addr := Address{Path: filepath.Join(dir, "sub", "node.sock")}
	// The socket appears once Connect has failed and is about to retry:
	// only a retry can connect. Connect may retry for ever (ctx ends it).
	lnCh := make(chan *Listener, 1)
	var once sync.Once
	retrying := logHook(func(msg string) {
		if msg == "IPC connect failed, retrying" {
			once.Do(func() {
				l, err := ListenAt(addr, WithLogger(discard))
				if err != nil {
					t.Error(err)
				}
				lnCh <- l
			})
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	c, err := Connect(ctx, addr, WithRetry(math.MaxInt, 10*time.Millisecond), WithLogger(slog.New(retrying)))
	var l *Listener
	select {
	case l = <-lnCh:
	default:
	}
	if l != nil {
		defer l.Close()
	}
	if err != nil {
		t.Fatalf("Connect with retry: %v", err)
	}
	defer c.Close()
	if l == nil {
		t.Fatal("connected without a retry, before the socket existed?")
	}
	// The listener hands out the connection.
	sc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	sc.Close()
}

func TestConnectRetryGivesUp(t *testing.T) {
	addr := Address{Path: filepath.Join(t.TempDir(), "node.sock")}
	_, err := Connect(context.Background(), addr, WithRetry(3, time.Millisecond), WithLogger(discard))
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Attempts != 3 || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("err = %v (%#v), want ENOENT after 3 attempts", err, ce)
	}
	if !strings.Contains(err.Error(), "after 3 attempts") {
		t.Fatalf("error text %q does not mention the attempts", err)
	}
}

func TestConnectNoRetryOnPermanentError(t *testing.T) {
	// ENOTDIR (a path component is a file) is not transient.
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Connect(context.Background(), Address{Path: filepath.Join(file, "node.sock")},
		WithRetry(5, 200*time.Millisecond), WithLogger(discard))
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("err = %v, want ENOTDIR", err)
	}
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Attempts != 1 {
		t.Fatalf("permanent error was retried: %#v", err)
	}
}

func TestConnectContextCanceledDuringRetry(t *testing.T) {
	// The context ends while Connect waits an hour before its second
	// attempt: only honouring ctx ends that wait.
	addr := Address{Path: filepath.Join(t.TempDir(), "node.sock")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	retrying := logHook(func(msg string) {
		if msg == "IPC connect failed, retrying" {
			cancel()
		}
	})
	errc := make(chan error, 1)
	go func() {
		_, err := Connect(ctx, addr, WithRetry(1000, time.Hour), WithLogger(slog.New(retrying)))
		errc <- err
	}()
	var err error
	select {
	case err = <-errc:
	case <-time.After(testWait):
		t.Fatal("Connect ignored the context while it waited to retry")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Canceled", err)
	}
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("err = %v should still carry the last connect error", err)
	}
	if !strings.Contains(err.Error(), addr.Path) {
		t.Fatalf("error %q does not name the path", err)
	}
}

func TestConnectAddress(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	for _, a := range []string{"", "0"} {
		c, canon, err := ConnectAddress(ctx, dir, a)
		if c != nil || canon != "" || err != nil {
			t.Fatalf("ConnectAddress(%q) = %v, %q, %v; want nothing", a, c, canon, err)
		}
	}

	want := "unix:" + filepath.Join(dir, "node.sock")
	// auto, nothing there: quiet fallback.
	c, canon, err := ConnectAddress(ctx, dir, "auto", WithLogger(discard))
	if c != nil || err != nil || canon != want {
		t.Fatalf("auto with no socket = %v, %q, %v; want nil, %q, nil", c, canon, err, want)
	}
	// unix, nothing there: an error.
	_, canon, err = ConnectAddress(ctx, dir, "unix", WithLogger(discard))
	if !errors.Is(err, syscall.ENOENT) || canon != want {
		t.Fatalf("unix with no socket = %q, %v; want ENOENT", canon, err)
	}
	// auto, stale socket: quiet fallback.
	staleSocket(t, filepath.Join(dir, "node.sock"))
	c, _, err = ConnectAddress(ctx, dir, "auto", WithLogger(discard))
	if c != nil || err != nil {
		t.Fatalf("auto with stale socket = %v, %v", c, err)
	}
	// auto, live socket: connected.
	l, err := Listen(dir, "bitcoin-node", "unix", WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, canon, err = ConnectAddress(ctx, dir, "auto", WithLogger(discard))
	if err != nil || c == nil || canon != want {
		t.Fatalf("auto with live socket = %v, %q, %v", c, canon, err)
	}
	c.Close()
	// explicit relative path.
	c, canon, err = ConnectAddress(ctx, dir, "unix:node.sock", WithLogger(discard))
	if err != nil || canon != want {
		t.Fatalf("unix:node.sock = %q, %v", canon, err)
	}
	c.Close()
	// bad syntax.
	if _, _, err := ConnectAddress(ctx, dir, "tcp:1"); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("tcp:1: %v", err)
	}
	// auto, data directory is a file: ENOTDIR, quiet.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	c, _, err = ConnectAddress(ctx, file, "auto", WithLogger(discard))
	if c != nil || err != nil {
		t.Fatalf("auto with ENOTDIR = %v, %v", c, err)
	}
	// auto, path too long: quiet, canonical still reported.
	long := "/" + strings.Repeat("d", 120)
	c, canon, err = ConnectAddress(ctx, long, "auto")
	if c != nil || err != nil || canon != "unix:"+long+"/node.sock" {
		t.Fatalf("auto with long path = %v, %q, %v", c, canon, err)
	}
	// unix, path too long: an error.
	if _, _, err := ConnectAddress(ctx, long, "unix"); !errors.Is(err, ErrPathTooLong) {
		t.Fatalf("unix with long path: %v", err)
	}
}

// A regular file or a directory where the socket should be is named as
// such, at once, even with retries.
func TestConnectNotSocket(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir.sock")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for path, what := range map[string]string{file: "a regular file", sub: "a directory"} {
		_, err := Connect(context.Background(), Address{Path: path}, WithRetry(5, time.Hour))
		want := "connect unix:" + path + ": not a socket (" + what + ")"
		var ce *ConnectError
		if !errors.Is(err, ErrNotSocket) || !errors.As(err, &ce) || ce.Attempts != 1 || err.Error() != want {
			t.Errorf("got %v; want %q", err, want)
		}
	}
}

// Connecting through a world-writable directory warns; a private one
// does not.
func TestConnectWarnsWorldWritableDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "node.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for mode, warn := range map[os.FileMode]bool{0o777: true, 0o700: false} {
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		var buf strings.Builder
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
		c, err := Connect(context.Background(), Address{Path: path}, WithLogger(log))
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		got := strings.Contains(buf.String(), "level=WARN msg=\"IPC socket directory is world-writable") &&
			strings.Contains(buf.String(), "dir="+dir) && strings.Contains(buf.String(), "mode=0777")
		if got != warn {
			t.Errorf("mode %o: warning %v, want %v:\n%s", mode, got, warn, buf.String())
		}
	}
}
