package rt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	rttest "github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest/rttestcapnp"
)

// records is a slog handler that keeps every record, with its attributes
// as "key=value" text.
type records struct {
	level slog.Level
	mu    sync.Mutex
	lines []string
}

func (r *records) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }

func (r *records) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%v %s", rec.Level, rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, b.String())
	r.mu.Unlock()
	return nil
}

func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// find returns the first line with all of parts.
func (r *records) find(parts ...string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
next:
	for _, l := range r.lines {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		return l
	}
	return ""
}

// goCalc serves rttest's TestInit in Go and returns a Calc of it.
func goCalc(t testing.TB, srvOpts, cliOpts []Option) (*Conn, *ClientBase) {
	t.Helper()
	a, b := socketPair(t)
	var destroyed atomic.Int32
	srv := Serve(b, func(*Conn) *Cap { return Local(&iInitDesc, &destroyed) },
		append([]Option{WithInitInterfaceID(rttest.TestInit_TypeID)}, srvOpts...)...)
	ctx := testContext(t)
	cli, err := Connect(ctx, a, append([]Option{WithInitInterfaceID(rttest.TestInit_TypeID)}, cliOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	init := NewClientBase(cli.Bootstrap())
	calc, err := invokeCap(ctx, init, &iMakeCalc, nil)
	init.Release()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		calc.Release()
		cli.Close()
		srv.Close()
	})
	return cli, calc
}

func TestEngineLogs(t *testing.T) {
	srvLog, cliLog := &records{level: LevelTrace}, &records{level: slog.LevelDebug}
	_, calc := goCalc(t, []Option{WithLogger(slog.New(srvLog))}, []Option{WithLogger(slog.New(cliLog))})
	if r, err := calcAdd(testContext(t), calc, 2, 40); err != nil || r != 42 {
		t.Fatalf("add = %d, %v", r, err)
	}
	if l := cliLog.find("DEBUG IPC client send request", "method=Calc.add"); l == "" {
		t.Errorf("no client log of the call in:\n%s", strings.Join(cliLog.lines, "\n"))
	}
	if l := srvLog.find("DEBUG IPC server request", "method=Calc.add", "thread=", "(from go-"); l == "" {
		t.Errorf("no server log of the call, with its thread, in:\n%s", strings.Join(srvLog.lines, "\n"))
	}
	if l := srvLog.find("IPC server request args", "method=Calc.add", "a = 2", "b = 40"); l == "" {
		t.Errorf("no trace log of the arguments in:\n%s", strings.Join(srvLog.lines, "\n"))
	}
	if l := cliLog.find("args"); l != "" {
		t.Errorf("arguments logged at Debug: %s", l)
	}
}

func TestEngineMaxInFlight(t *testing.T) {
	srvLog := &records{level: slog.LevelDebug}
	_, calc := goCalc(t, []Option{WithMaxInFlight(1), WithLogger(slog.New(srvLog))}, nil)
	ctx := testContext(t)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slept := make(chan error, 1)
	go func() {
		slept <- calc.Invoke(sctx, &cSleep, func(p *Params) error {
			rttest.Calc_sleep_Params(p.Struct()).SetMillis(1 << 40)
			return nil
		}, nil)
	}()
	// Once the server runs the sleep (it logs the request as it starts
	// it), the sleep holds the only slot until it is cancelled.
	for srvLog.find("IPC server request", "method=Calc.sleep") == "" {
		select {
		case err := <-slept:
			t.Fatalf("sleep returned before the server ran it: %v", err)
		case <-ctx.Done():
			t.Fatal("the server never ran the sleep")
		case <-time.After(time.Millisecond):
		}
	}
	if _, err := calcAdd(ctx, calc, 1, 1); !errors.Is(err, exception.ErrOverloaded) {
		t.Fatalf("call past the limit: %v", err)
	}
	cancel()
	if err := <-slept; !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep: %v", err)
	}
}

func TestEngineServerErrors(t *testing.T) {
	var seen atomic.Pointer[Method]
	_, calc := goCalc(t, []Option{WithServerErrors(func(m *Method, err error) error {
		seen.Store(m)
		return exception.Std("wrapped: " + err.Error())
	})}, nil)
	err := calcFail(testContext(t), calc, 0, "boom")
	var e *exception.Error
	if !errors.As(err, &e) || e.Description != "std::exception: wrapped: boom" || e.What() != "wrapped: boom" || !e.Remote {
		t.Fatalf("fail: %#v", err)
	}
	if seen.Load() != &cFail {
		t.Errorf("WithServerErrors got method %v", seen.Load())
	}
	// A panic is the runtime's, not passed to WithServerErrors.
	err = calcFail(testContext(t), calc, 1, "boom")
	if !errors.As(err, &e) || e.Description != "panic: boom" {
		t.Fatalf("panic: %#v", err)
	}
}

func TestEngineClientCleanups(t *testing.T) {
	_, calc := goCalc(t, nil, nil)
	var order []int
	calc.AddCleanup(func() { order = append(order, 1) })
	calc.AddCleanup(func() { order = append(order, 2) })
	if err := calc.Destroy(testContext(t), &cDestroy); err != nil {
		t.Fatal(err)
	}
	calc.Release() // nothing more: already destroyed
	calc.AddCleanup(func() { order = append(order, 3) })
	if fmt.Sprint(order) != "[2 1 3]" {
		t.Errorf("cleanups ran %v, want [2 1 3]", order)
	}
	if calc.IsValid() || calc.Cap() != nil {
		t.Error("a destroyed client still holds its capability")
	}
}
