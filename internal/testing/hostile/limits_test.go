package hostile

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// Reading past the traversal limit fails the call that reads, with an
// error naming the field; the connection survives.
func TestTraversalLimit(t *testing.T) {
	p, err := newPeer(0, rt.WithReadLimits(0, 64<<10, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	ctx := context.Background()
	_, err = p.ping(ctx, strings.Repeat("x", 100<<10))
	var e *exception.Error
	if !errors.As(err, &e) || e.Type != exception.Failed ||
		!strings.Contains(e.Description, "Echo.echo.echo") || !strings.Contains(e.Description, "traversal limit") {
		t.Fatalf("echo over the traversal limit: %v", err)
	}
	if r, err := p.ping(ctx, "small"); err != nil || r != "small" {
		t.Fatalf("after the refused call: %q, %v", r, err)
	}
}

// A message nested deeper than the depth limit fails what reads it. When
// the RPC engine cannot read a message itself (its root, the call in it,
// the call's params), the connection is aborted, and the server logs why;
// when only the arguments are out of reach, rt fails the call and the
// connection goes on. The connection set-up (bootstrap, construct, then
// makeEcho on the new Init) meets the limit at each depth in turn, so each
// depth has one outcome. (With the default limit, 64, no schema here comes
// close: the deepest read is 5.)
func TestDepthLimit(t *testing.T) {
	const reached = "depth limit reached"
	for _, tc := range []struct {
		depth uint
		abort bool   // the server aborts the connection
		fail  string // the failed call, when the server fails a call instead
	}{
		{depth: 1, abort: true},           // the root itself
		{depth: 2, abort: true},           // the call in it
		{depth: 3, abort: true},           // the call's params
		{depth: 4, fail: "Init.makeEcho"}, // the Proxy.Context in them
		{depth: 5},
	} {
		serverLog := &logCapture{level: slog.LevelDebug}
		p, err := newPeer(0, rt.WithReadLimits(0, 0, tc.depth), rt.WithLogger(slog.New(serverLog)))
		var e *exception.Error
		switch {
		case tc.abort:
			if !errors.Is(err, exception.ErrDisconnected) {
				t.Errorf("depth %d: %v, want the connection aborted", tc.depth, err)
			}
			// newPeer closed the server, after it logged why it closed.
			if log := serverLog.text(); !strings.Contains(log, "IPC connection closed") || !strings.Contains(log, reached) {
				t.Errorf("depth %d: server log %q, want the connection closed for %q", tc.depth, log, reached)
			}
		case tc.fail != "":
			if !errors.As(err, &e) || e.Type != exception.Failed ||
				!strings.HasPrefix(err.Error(), tc.fail+": ") || !strings.Contains(e.Description, reached) {
				t.Errorf("depth %d: %v, want %s failed with %q", tc.depth, err, tc.fail, reached)
			}
		case err != nil:
			t.Errorf("depth %d: %v", tc.depth, err)
		default:
			if r, err := p.ping(context.Background(), "deep enough"); err != nil || r != "deep enough" {
				t.Errorf("depth %d: echo: %q, %v", tc.depth, r, err)
			}
			p.close()
		}
	}
}
