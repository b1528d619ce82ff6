package chain

import (
	"context"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

type tipResult struct {
	hash   chainhash.Hash
	height int32
	ok     bool
}

// waitTipAsync runs WaitTipChanged in a goroutine and waits until it is
// registered as a waiter.
func waitTipAsync(t *testing.T, ctx context.Context, c *Chain, current chainhash.Hash, timeout time.Duration) <-chan tipResult {
	t.Helper()
	c.mu.Lock()
	before := c.tipWaiters
	c.mu.Unlock()
	done := make(chan tipResult, 1)
	go func() {
		h, height, ok := c.WaitTipChanged(ctx, current, timeout)
		done <- tipResult{h, height, ok}
	}()
	waitUntil(t, c, func() bool { return c.tipWaiters > before })
	return done
}

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testWait):
		t.Fatal("waiter did not return")
		panic("unreachable")
	}
}

func TestWaitTipChanged(t *testing.T) {
	ctx := context.Background()

	t.Run("wakes on new block", func(t *testing.T) {
		c := New()
		genesis, _ := c.Tip()
		// An hour-long wait: only the block can end it within testWait.
		done := waitTipAsync(t, ctx, c, genesis, time.Hour)
		b := candidateBlock(t, mustTemplate(t, c, DefaultTemplateOptions()))
		if ok, reason, _ := c.SubmitBlock(b); !ok {
			t.Fatal(reason)
		}
		r := receive(t, done)
		if !r.ok || r.hash != b.BlockHash() || r.height != 1 {
			t.Fatalf("result %+v", r)
		}
	})

	t.Run("already changed", func(t *testing.T) {
		c := New()
		genesis, _ := c.Tip()
		// An hour-long wait that must not wait at all.
		done := make(chan tipResult, 1)
		go func() {
			h, height, ok := c.WaitTipChanged(ctx, chainhash.Hash{}, time.Hour)
			done <- tipResult{h, height, ok}
		}()
		if r := receive(t, done); !r.ok || r.hash != genesis || r.height != 0 {
			t.Fatalf("must return the tip at once: %+v", r)
		}
	})

	t.Run("timeout returns current tip", func(t *testing.T) {
		c := New()
		genesis, _ := c.Tip()
		start := time.Now()
		h, height, ok := c.WaitTipChanged(ctx, genesis, 50*time.Millisecond)
		if !ok || h != genesis || height != 0 {
			t.Fatal("timeout must return the current tip with ok")
		}
		if time.Since(start) < 50*time.Millisecond {
			t.Fatal("returned before the timeout")
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		c := New()
		genesis, _ := c.Tip()
		done := waitTipAsync(t, ctx, c, genesis, 0) // forever
		c.Interrupt()
		if r := receive(t, done); r.ok || r.hash != (chainhash.Hash{}) {
			t.Fatalf("interrupted wait returned %+v", r)
		}
		// The interrupt was consumed: the next wait times out normally.
		if _, _, ok := c.WaitTipChanged(ctx, genesis, 10*time.Millisecond); !ok {
			t.Fatal("interrupt leaked into the next wait")
		}
	})

	t.Run("interrupt before wait", func(t *testing.T) {
		c := New()
		genesis, _ := c.Tip()
		c.Interrupt()
		if _, _, ok := c.WaitTipChanged(ctx, genesis, time.Minute); ok {
			t.Fatal("pending interrupt ignored")
		}
		if _, _, ok := c.WaitTipChanged(ctx, genesis, 10*time.Millisecond); !ok {
			t.Fatal("pending interrupt not consumed")
		}
	})

	t.Run("context cancelled", func(t *testing.T) {
		c := New()
		genesis, _ := c.Tip()
		cctx, cancel := context.WithCancel(ctx)
		done := waitTipAsync(t, cctx, c, genesis, 0)
		cancel()
		if r := receive(t, done); r.ok {
			t.Fatal("cancelled wait returned ok")
		}
	})

	t.Run("close", func(t *testing.T) {
		c := New()
		genesis, _ := c.Tip()
		done := waitTipAsync(t, ctx, c, genesis, 0)
		c.Close()
		if r := receive(t, done); r.ok {
			t.Fatal("wait on closed chain returned ok")
		}
		if _, _, ok := c.WaitTipChanged(ctx, genesis, time.Minute); ok {
			t.Fatal("wait after Close returned ok")
		}
	})
}

type nextResult struct {
	tmpl *Template
	ok   bool
}

func waitNextAsync(t *testing.T, ctx context.Context, c *Chain, tmpl *Template, timeout time.Duration, threshold int64) <-chan nextResult {
	t.Helper()
	c.mu.Lock()
	before := tmpl.waiters
	c.mu.Unlock()
	done := make(chan nextResult, 1)
	go func() {
		next, ok := c.WaitNext(ctx, tmpl, timeout, threshold)
		done <- nextResult{next, ok}
	}()
	waitUntil(t, c, func() bool { return tmpl.waiters > before })
	return done
}

// TestWaits: Waits counts the pending waits of both kinds and signals every
// start and end, whatever ends the wait.
func TestWaits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := New()
	counts := func(wantTip, wantNext int) func() bool {
		return func() bool { return c.tipWaiters == wantTip && c.nextWaiters == wantNext }
	}
	if tip, next, _ := c.Waits(); tip != 0 || next != 0 {
		t.Fatalf("Waits = %d, %d on a new chain", tip, next)
	}
	tmpl := mustTemplate(t, c, DefaultTemplateOptions())
	tipHash, _ := c.Tip()

	// Each start closes the channel Waits returned before it.
	_, _, changed := c.Waits()
	next1 := waitNextAsync(t, ctx, c, tmpl, 0, MaxMoney)
	select {
	case <-changed:
	default:
		t.Fatal("a starting WaitNext did not signal")
	}
	cancelled, cancelNext := context.WithCancel(ctx)
	next2 := waitNextAsync(t, cancelled, c, tmpl, 0, MaxMoney)
	tipDone := waitTipAsync(t, ctx, c, tipHash, 0)
	if tip, next, _ := c.Waits(); tip != 1 || next != 2 {
		t.Fatalf("Waits = %d, %d; want 1, 2", tip, next)
	}

	// Ends count whatever caused them: a cancelled context, Interrupt,
	// InterruptWait.
	cancelNext()
	if r := receive(t, next2); r.ok {
		t.Fatal("cancelled WaitNext returned a template")
	}
	waitUntil(t, c, counts(1, 1))
	c.Interrupt()
	if r := receive(t, tipDone); r.ok {
		t.Fatal("interrupted WaitTipChanged returned ok")
	}
	waitUntil(t, c, counts(0, 1))
	tmpl.InterruptWait()
	if r := receive(t, next1); r.ok {
		t.Fatal("interrupted WaitNext returned a template")
	}
	if tip, next, _ := c.Waits(); tip != 0 || next != 0 {
		t.Fatalf("Waits = %d, %d after every wait returned", tip, next)
	}
}

func TestWaitNext(t *testing.T) {
	ctx := context.Background()

	t.Run("tip change", func(t *testing.T) {
		c := New()
		tmpl := mustTemplate(t, c, DefaultTemplateOptions())
		done := waitNextAsync(t, ctx, c, tmpl, time.Minute, MaxMoney)
		hashes, err := c.GenerateToScript(1, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := receive(t, done)
		if !r.ok || r.tmpl.PrevHash() != hashes[0] || r.tmpl.Height() != 2 {
			t.Fatalf("WaitNext after new tip: %+v", r)
		}
		if r.tmpl.Options() != tmpl.Options() {
			t.Fatal("new template must keep the options")
		}
	})

	t.Run("fee rise", func(t *testing.T) {
		c := New()
		tmpl := mustTemplate(t, c, DefaultTemplateOptions())
		done := waitNextAsync(t, ctx, c, tmpl, time.Minute, 1)
		if err := c.AddTxWithFee(NewDummyTx(1, true), 500, -1); err != nil {
			t.Fatal(err)
		}
		r := receive(t, done)
		if !r.ok || len(r.tmpl.Block().Transactions) != 2 || r.tmpl.TotalFees() != 500 {
			t.Fatalf("WaitNext after fee rise: %+v", r)
		}
	})

	t.Run("fee rise below threshold times out", func(t *testing.T) {
		c := New()
		tmpl := mustTemplate(t, c, DefaultTemplateOptions())
		done := waitNextAsync(t, ctx, c, tmpl, 100*time.Millisecond, 1000)
		if err := c.AddTxWithFee(NewDummyTx(1, false), 500, -1); err != nil {
			t.Fatal(err)
		}
		if r := receive(t, done); r.ok || r.tmpl != nil {
			t.Fatal("fees below the threshold must not trigger")
		}
	})

	t.Run("timeout", func(t *testing.T) {
		c := New()
		tmpl := mustTemplate(t, c, DefaultTemplateOptions())
		start := time.Now()
		next, ok := c.WaitNext(ctx, tmpl, 50*time.Millisecond, 1)
		if ok || next != nil || time.Since(start) < 50*time.Millisecond {
			t.Fatal("WaitNext must time out with nil")
		}
	})

	t.Run("zero threshold returns a fresh template", func(t *testing.T) {
		c := New()
		if err := c.AddTx(NewDummyTx(1, false)); err != nil {
			t.Fatal(err)
		}
		tmpl := mustTemplate(t, c, DefaultTemplateOptions())
		next, ok := c.WaitNext(ctx, tmpl, time.Minute, 0)
		if !ok || next == tmpl || len(next.Block().Transactions) != 2 {
			t.Fatal("threshold 0 must return a new template at once")
		}
	})

	t.Run("interruptWait", func(t *testing.T) {
		c := New()
		tmpl := mustTemplate(t, c, DefaultTemplateOptions())
		done := waitNextAsync(t, ctx, c, tmpl, 0, 1)
		tmpl.InterruptWait()
		if r := receive(t, done); r.ok || r.tmpl != nil {
			t.Fatal("interrupted WaitNext returned a template")
		}
		// Another template's waiter is not affected.
		other := mustTemplate(t, c, DefaultTemplateOptions())
		otherDone := waitNextAsync(t, ctx, c, other, 0, MaxMoney)
		c.InterruptWait(tmpl) // nobody waits on tmpl: stays pending
		if _, err := c.GenerateToScript(1, nil); err != nil {
			t.Fatal(err)
		}
		if r := receive(t, otherDone); !r.ok {
			t.Fatal("other template's waiter was interrupted")
		}
		if next, ok := c.WaitNext(ctx, tmpl, time.Minute, 1); ok || next != nil {
			t.Fatal("pending InterruptWait ignored")
		}
	})

	t.Run("context cancelled", func(t *testing.T) {
		c := New()
		tmpl := mustTemplate(t, c, DefaultTemplateOptions())
		cctx, cancel := context.WithCancel(ctx)
		done := waitNextAsync(t, cctx, c, tmpl, 0, 1)
		cancel()
		if r := receive(t, done); r.ok {
			t.Fatal("cancelled WaitNext returned ok")
		}
	})

	t.Run("close", func(t *testing.T) {
		c := New()
		tmpl := mustTemplate(t, c, DefaultTemplateOptions())
		done := waitNextAsync(t, ctx, c, tmpl, 0, 1)
		c.Close()
		if r := receive(t, done); r.ok {
			t.Fatal("WaitNext on closed chain returned ok")
		}
	})
}

// TestConcurrentUse exercises the chain from several goroutines at once
// (meaningful under -race).
func TestConcurrentUse(t *testing.T) {
	c := New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 4)
	go func() {
		_, err := c.GenerateToScript(20, nil)
		errs <- err
	}()
	go func() {
		for i := 0; i < 200; i++ {
			_ = c.AddTx(NewDummyTx(uint64(i), i%3 == 0))
		}
		errs <- nil
	}()
	go func() {
		for i := 0; i < 20; i++ {
			tmpl, err := c.CreateTemplate(DefaultTemplateOptions())
			if err != nil {
				errs <- err
				return
			}
			_ = tmpl.Block()
			_ = c.BlockchainInfo()
		}
		errs <- nil
	}()
	go func() {
		tip, _ := c.Tip()
		for i := 0; i < 5; i++ {
			tip, _, _ = c.WaitTipChanged(ctx, tip, 20*time.Millisecond)
		}
		errs <- nil
	}()
	for i := 0; i < 4; i++ {
		if err := receive(t, errs); err != nil {
			t.Fatal(err)
		}
	}
	if c.Height() != 20 {
		t.Fatalf("height %d", c.Height())
	}
}
