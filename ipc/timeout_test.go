package ipc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/ipc"
)

// connectResult runs ConnectAddress on its own goroutine, so that a hang
// fails the test instead of stalling it.
func connectResult(t *testing.T, i *ipc.Ipc, dir, address string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		conn, _, err := i.ConnectAddress(context.Background(), dir, address)
		if conn != nil {
			conn.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("ConnectAddress did not return")
		return nil
	}
}

// WithTimeout bounds the handshake with a peer that never answers; the
// error names the socket and the call once each.
func TestConnectAddressTimeout(t *testing.T) {
	dir, sock := testutil.SilentSocket(t)
	err := connectResult(t, ipc.New("test", "", nil, ipc.WithTimeout(100*time.Millisecond)), dir, "unix:"+sock)
	want := "ipc: connect unix:" + sock + ": Init.construct: failed: context deadline exceeded"
	if !errors.Is(err, context.DeadlineExceeded) || err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

// A peer that closes at once: one prefix per layer.
func TestConnectAddressClosedError(t *testing.T) {
	dir, sock := testutil.ClosingSocket(t)
	err := connectResult(t, ipc.New("test", "", nil), dir, "unix:"+sock)
	prefix := "ipc: connect unix:" + sock + ": Init.construct: disconnected: "
	if err == nil || !strings.HasPrefix(err.Error(), prefix) || strings.Count(err.Error(), "construct") != 1 || strings.Count(err.Error(), "ipc:") != 1 || strings.Contains(err.Error(), "@0x") {
		t.Fatalf("got %v\nwant %s...", err, prefix)
	}
}
