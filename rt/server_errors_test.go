package rt_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// TestServerErrors: WithServerErrors rewrites the errors handlers return,
// and only those (a panic keeps the runtime's text).
func TestServerErrors(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	mapErr := func(m *rt.Method, err error) error {
		mu.Lock()
		seen = append(seen, m.String())
		mu.Unlock()
		return exception.Std("mapped " + err.Error())
	}
	p := newPair(t, []rt.Option{rt.WithServerErrors(mapErr)})
	ctx := testutil.Context(t)
	err := p.calc.Fail(ctx, 0, "boom")
	var e *exception.Error
	if !errors.As(err, &e) || e.Type != exception.Failed || e.Description != "std::exception: mapped boom" || e.What() != "mapped boom" {
		t.Fatalf("mapped error: %#v", err)
	}
	err = p.calc.Fail(ctx, 1, "boom") // panics
	if !errors.As(err, &e) || strings.Contains(e.Description, "mapped") || !strings.Contains(e.Description, "boom") {
		t.Fatalf("panic error: %#v", err)
	}
	if r, err := p.calc.Add(ctx, 2, 3); err != nil || r != 5 {
		t.Fatalf("add: %d, %v", r, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "Calc.fail" {
		t.Fatalf("hook saw %v", seen)
	}
}
