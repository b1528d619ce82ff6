package rt_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// connectResult runs rt.Connect on its own goroutine, so a hang fails the
// test instead of stalling it.
func connectResult(t *testing.T, ctx context.Context, opts ...rt.Option) error {
	t.Helper()
	a, b := testutil.SocketPair(t)
	t.Cleanup(func() { b.Close() })
	done := make(chan error, 1)
	go func() {
		c, err := rt.Connect(ctx, a, append([]rt.Option{rt.WithInitInterfaceID(testInitID)}, opts...)...)
		if c != nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(testutil.HangGuard):
		t.Fatal("Connect did not return")
		return nil
	}
}

// A peer that accepts and never answers: construct is bounded by
// WithCallTimeout, and by the deadline of ctx.
func TestConnectSilentPeer(t *testing.T) {
	err := connectResult(t, context.Background(), rt.WithCallTimeout(100*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "Init.construct: failed: context deadline exceeded" {
		t.Fatalf("WithCallTimeout: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = connectResult(t, ctx)
	if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "Init.construct: failed: context deadline exceeded" {
		t.Fatalf("ctx deadline: %v", err)
	}
}

// A peer that closes at once: the error names construct once, without a
// layer prefix of its own (callers add theirs).
func TestConnectClosedPeerError(t *testing.T) {
	a, b := testutil.SocketPair(t)
	b.Close()
	_, err := rt.Connect(testutil.Context(t), a, rt.WithInitInterfaceID(testInitID))
	if err == nil || !strings.HasPrefix(err.Error(), "Init.construct: disconnected: ") || strings.Count(err.Error(), "construct") != 1 || strings.Contains(err.Error(), "@0x") {
		t.Fatalf("got %v", err)
	}
}

// Each call is bounded by WithCallTimeout; ContextWithCallTimeout lifts the
// bound for one context.
func TestCallTimeout(t *testing.T) {
	p := newPair(t, nil, rt.WithCallTimeout(200*time.Millisecond))
	done := make(chan error, 1)
	go func() {
		_, err := p.calc.Sleep(context.Background(), hour)
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(testutil.HangGuard):
		t.Fatal("the bounded call did not return")
	}
	if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "Calc.sleep: failed: context deadline exceeded" {
		t.Fatalf("bounded call: %v", err)
	}
	// The sleep outlasts the connection's bound, which does not apply.
	ok, err := p.calc.Sleep(rt.ContextWithCallTimeout(context.Background(), 0), 400)
	if err != nil || !ok {
		t.Fatalf("unbounded call: %v %v", ok, err)
	}
	ok, err = p.calc.Sleep(rt.ContextWithCallTimeout(context.Background(), time.Hour), 400)
	if err != nil || !ok {
		t.Fatalf("call with a longer bound: %v %v", ok, err)
	}
}

// The peer's orderly close (the stream ends, as when a C++ client or a
// process exits) is no error: it is logged at Debug, not ERROR or WARN.
func TestOrderlyCloseNotLoggedAsError(t *testing.T) {
	var buf testutil.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, b := testutil.SocketPair(t)
	server := rt.Serve(b, newInit(nil, nil).bootstrap(), rt.WithLogger(log), rt.WithInitInterfaceID(testInitID))
	defer server.Close()
	client, err := rt.Connect(testutil.Context(t), a, rt.WithInitInterfaceID(testInitID))
	if err != nil {
		t.Fatal(err)
	}
	a.Close() // the stream ends without an abort message
	<-server.Done()
	client.Close()
	out := buf.String()
	if strings.Contains(out, "level=ERROR") || strings.Contains(out, "level=WARN") {
		t.Fatalf("orderly close logged as a failure:\n%s", out)
	}
	if !strings.Contains(out, "EOF") {
		t.Fatalf("the close is not logged at debug:\n%s", out)
	}
}
