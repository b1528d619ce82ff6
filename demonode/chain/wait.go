package chain

import (
	"context"
	"math"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// MaxTimeout is the longest finite timeout (100 years, the clamp Core
// applies). Longer timeouts, and timeouts <= 0, mean "wait forever".
const MaxTimeout = 100 * 365 * 24 * time.Hour

// TimeoutFromMillis converts a Core IPC timeout (milliseconds as a float64,
// DBL_MAX meaning forever) to this package's convention: NaN, +Inf and values
// above MaxTimeout become 0 (forever); values <= 0 become 1ns, which makes a
// wait check its condition once and return, as Core does for a zero timeout.
func TimeoutFromMillis(ms float64) time.Duration {
	switch {
	case math.IsNaN(ms) || ms > float64(MaxTimeout/time.Millisecond):
		return 0
	case ms <= 0:
		return time.Nanosecond
	default:
		d := time.Duration(ms * float64(time.Millisecond))
		if d <= 0 {
			d = time.Nanosecond
		}
		return d
	}
}

// deadline returns a channel that fires after timeout, or nil (never) for the
// "forever" values, and a function releasing the timer.
func deadline(timeout time.Duration) (<-chan time.Time, func()) {
	if timeout <= 0 || timeout > MaxTimeout {
		return nil, func() {}
	}
	t := time.NewTimer(timeout)
	return t.C, func() { t.Stop() }
}

type waitOutcome int

const (
	waitDone waitOutcome = iota
	waitTimeout
	waitCancelled
)

// waitLocked blocks until cond (evaluated with c.mu held, after every change
// of the chain or mempool and after interrupts) returns true, the timer
// fires or ctx is done. c.mu must be held; it is held again on return. On a
// timeout cond is evaluated one last time.
func (c *Chain) waitLocked(ctx context.Context, timer <-chan time.Time, cond func() bool) waitOutcome {
	for {
		if cond() {
			return waitDone
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
			c.mu.Lock()
		case <-timer:
			c.mu.Lock()
			if cond() {
				return waitDone
			}
			return waitTimeout
		case <-ctx.Done():
			c.mu.Lock()
			return waitCancelled
		}
	}
}

// WaitTipChanged waits until the tip differs from current and returns it
// (immediately if it already differs), like Core's waitTipChanged. On timeout
// it returns the current tip with ok = true. It returns ok = false when ctx
// is done, when Interrupt is called, or when the chain is closed. See the
// package documentation for the timeout convention.
func (c *Chain) WaitTipChanged(ctx context.Context, current chainhash.Hash, timeout time.Duration) (hash chainhash.Hash, height int32, ok bool) {
	if ctx == nil {
		ctx = context.Background()
	}
	timer, stop := deadline(timeout)
	defer stop()

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return chainhash.Hash{}, 0, false
	}
	if c.interruptPending {
		c.interruptPending = false
		return chainhash.Hash{}, 0, false
	}
	gen := c.interruptGen
	c.tipWaiters++
	c.broadcastLocked()
	defer func() {
		c.tipWaiters--
		c.broadcastLocked()
	}()

	interrupted := func() bool { return c.closed || c.interruptGen != gen }
	outcome := c.waitLocked(ctx, timer, func() bool {
		tip, _ := c.tipLocked()
		return interrupted() || tip != current
	})
	if outcome == waitCancelled || interrupted() {
		return chainhash.Hash{}, 0, false
	}
	hash, height = c.tipLocked()
	return hash, height, true
}

// Interrupt makes the pending WaitTipChanged calls return ok = false, like
// Core's Mining.interrupt(). If none is pending, the next WaitTipChanged
// returns ok = false at once (Core keeps the flag until a wait consumes it).
func (c *Chain) Interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tipWaiters > 0 {
		c.interruptGen++
	} else {
		c.interruptPending = true
	}
	c.broadcastLocked()
}

// WaitNext waits for a better template than tmpl, like Core's
// BlockTemplate.waitNext: it returns a new template (built with tmpl's
// options) as soon as the tip is no longer tmpl's parent, or when the fees
// of a fresh template reach tmpl's fees plus feeThreshold; mempool changes
// are checked as they happen (and once at the start). A feeThreshold >=
// MaxMoney disables the fee trigger; 0 returns a fresh template at once. It
// returns nil, false on timeout, when ctx is done, after InterruptWait(tmpl),
// and when the chain is closed. See the package documentation for the
// timeout convention.
func (c *Chain) WaitNext(ctx context.Context, tmpl *Template, timeout time.Duration, feeThreshold int64) (*Template, bool) {
	if tmpl == nil || tmpl.chain != c {
		return nil, false
	}
	if ctx == nil {
		ctx = context.Background()
	}
	timer, stop := deadline(timeout)
	defer stop()

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, false
	}
	if tmpl.interruptPending {
		tmpl.interruptPending = false
		return nil, false
	}
	gen := tmpl.waitGen
	tmpl.waiters++
	c.nextWaiters++
	c.broadcastLocked()
	defer func() {
		tmpl.waiters--
		c.nextWaiters--
		c.broadcastLocked()
	}()

	interrupted := func() bool { return c.closed || tmpl.waitGen != gen }
	feesEnabled := feeThreshold < MaxMoney
	checkedSeq := c.pool.seq - 1 // force a first fee check
	var next *Template
	outcome := c.waitLocked(ctx, timer, func() bool {
		if interrupted() {
			return true
		}
		if tip, _ := c.tipLocked(); tip != tmpl.prevHash {
			next = c.createTemplateLocked(tmpl.opts)
			return true
		}
		if feesEnabled && c.pool.seq != checkedSeq {
			checkedSeq = c.pool.seq
			if _, fees := c.selectLocked(tmpl.opts); fees >= tmpl.totalFees+feeThreshold {
				next = c.createTemplateLocked(tmpl.opts)
				return true
			}
		}
		return false
	})
	if outcome == waitCancelled || interrupted() || next == nil {
		return nil, false
	}
	return next, true
}

// InterruptWait makes the pending WaitNext on tmpl return nil, like Core's
// BlockTemplate.interruptWait(). If none is pending, the next WaitNext on
// tmpl returns nil at once.
func (c *Chain) InterruptWait(tmpl *Template) {
	if tmpl == nil || tmpl.chain != c {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if tmpl.waiters > 0 {
		tmpl.waitGen++
	} else {
		tmpl.interruptPending = true
	}
	c.broadcastLocked()
}

// Waits reports how many WaitTipChanged and WaitNext calls are pending (a
// call that returned, for whatever reason, no longer counts), and a channel
// that is closed at the next change of the chain, the mempool or the
// pending waits. It lets a caller follow the waits by events, without
// polling: a node serving IPC clients can show that a wait it started for
// a client has ended.
func (c *Chain) Waits() (tip, next int, changed <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tipWaiters, c.nextWaiters, c.changed
}

// Close makes every pending and future WaitTipChanged and WaitNext return
// ok = false at once (like a node shutting down). The chain stays usable
// otherwise.
func (c *Chain) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.broadcastLocked()
	}
}
