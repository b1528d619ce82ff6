// Package testutil holds the scaffolding the module's tests share: a Go
// client and server connected over a unix socketpair, a log buffer that
// goroutines may write to, a listener that models a node which accepts and
// never answers and one that closes every connection at once, and waits
// bounded only to catch a hang.
//
// The in-package tests of rt and rt/internal/engine cannot import it (it
// imports rt); they keep their own socketpair.
package testutil

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// HangGuard bounds every wait of this package: it only catches a hang, it
// is no budget for how long something may take.
const HangGuard = 2 * time.Minute

// Context returns a context that ends with the test, or after HangGuard.
func Context(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), HangGuard)
	tb.Cleanup(cancel)
	return ctx
}

// WaitFor polls cond until it holds; it fails the test after HangGuard.
func WaitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(HangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("condition not reached in %v", HangGuard)
		}
		time.Sleep(time.Millisecond)
	}
}

// Recv waits for a value on ch; it fails the test, naming what, after
// HangGuard.
func Recv[T any](tb testing.TB, ch <-chan T, what string) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(HangGuard):
		tb.Fatalf("%s: nothing after %v", what, HangGuard)
		var zero T
		return zero
	}
}

// Buffer is a bytes.Buffer that goroutines may write to while the test
// reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Logger returns a text logger at level that writes into a new Buffer.
func Logger(level slog.Level) (*slog.Logger, *Buffer) {
	buf := &Buffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level})), buf
}

// SocketPair returns the two ends of an AF_UNIX stream socketpair; both
// are closed when the test ends.
func SocketPair(tb testing.TB) (net.Conn, net.Conn) {
	tb.Helper()
	a, b := closedAtEnd(tb, NewSocketPair)
	return a, b
}

// NewSocketPair is SocketPair for a harness that outlives one test, or a
// loop that must not keep descriptors until the test ends: the caller
// closes both ends.
func NewSocketPair() (*net.UnixConn, *net.UnixConn, error) {
	fa, fb, err := newFilePair()
	if err != nil {
		return nil, nil, err
	}
	defer fa.Close()
	defer fb.Close()
	a, err := net.FileConn(fa)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	b, err := net.FileConn(fb)
	if err != nil {
		a.Close()
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return a.(*net.UnixConn), b.(*net.UnixConn), nil
}

// FilePair returns the two ends of an AF_UNIX stream socketpair as files,
// one of them to hand to a child process (exec.Cmd.ExtraFiles); both are
// closed in this process when the test ends.
func FilePair(tb testing.TB) (*os.File, *os.File) {
	tb.Helper()
	return closedAtEnd(tb, newFilePair)
}

// closedAtEnd makes a pair with newPair, failing the test on an error,
// and closes both ends when the test ends.
func closedAtEnd[T io.Closer](tb testing.TB, newPair func() (T, T, error)) (T, T) {
	tb.Helper()
	a, b, err := newPair()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

func newFilePair() (*os.File, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "socketpair-a"), os.NewFile(uintptr(fds[1]), "socketpair-b"), nil
}

// Connect serves boot (the bootstrap Init) with rt.Serve on one end of a
// socketpair and connects to it with rt.Connect (bootstrap and
// Init.construct) from the other. Both connections are closed when the
// test ends.
func Connect(tb testing.TB, boot func(*rt.Conn) *rt.Cap, serverOpts []rt.Option, clientOpts ...rt.Option) (client, server *rt.Conn) {
	tb.Helper()
	a, b := SocketPair(tb)
	server = rt.Serve(b, boot, serverOpts...)
	tb.Cleanup(func() { server.Close() })
	client, err := rt.Connect(Context(tb), a, clientOpts...)
	if err != nil {
		tb.Fatalf("rt.Connect: %v", err)
	}
	tb.Cleanup(func() { client.Close() })
	return client, server
}

// SilentSocket listens on a unix socket in a fresh directory that accepts
// connections and never reads or answers them, as a stopped node does once
// the kernel has accepted. It returns the directory and the socket's path.
func SilentSocket(tb testing.TB) (dir, path string) {
	tb.Helper()
	dir, path, ln := listenUnix(tb, "silent.sock")
	conns := make(chan net.Conn, 16)
	go func() {
		defer close(conns)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		for c := range conns {
			c.Close()
		}
	})
	return dir, path
}

// ClosingSocket listens on a unix socket in a fresh directory that closes
// every connection as soon as it accepts it. It returns the directory and
// the socket's path.
func ClosingSocket(tb testing.TB) (dir, path string) {
	tb.Helper()
	dir, path, ln := listenUnix(tb, "closing.sock")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		<-done
	})
	return dir, path
}

func listenUnix(tb testing.TB, name string) (dir, path string, ln net.Listener) {
	tb.Helper()
	dir = tb.TempDir()
	path = filepath.Join(dir, name)
	ln, err := net.Listen("unix", path)
	if err != nil {
		tb.Fatal(err)
	}
	return dir, path, ln
}
