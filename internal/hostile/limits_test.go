package hostile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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

// A message nested deeper than the depth limit where the RPC layer reads
// it fails the call with "depth limit reached", or, when even the call's
// header is out of reach, aborts the connection; never a hang. (With the
// default limit, 64, no schema here comes close: the deepest read is 5.)
func TestDepthLimit(t *testing.T) {
	for depth := uint(1); depth <= 5; depth++ {
		start := time.Now()
		p, err := newPeer(0, rt.WithReadLimits(0, 0, depth))
		d := time.Since(start)
		switch {
		case err == nil:
			if depth < 5 {
				t.Errorf("depth %d: construct succeeded", depth)
			}
			p.close()
		case strings.Contains(err.Error(), "depth limit reached"):
			t.Logf("depth %d: call failed: %v", depth, err)
		case errors.Is(err, exception.ErrDisconnected):
			t.Logf("depth %d: connection closed: %v", depth, err)
		default:
			t.Errorf("depth %d: %v", depth, err)
		}
		if d > 10*time.Second {
			t.Errorf("depth %d: took %v", depth, d)
		}
	}
}
