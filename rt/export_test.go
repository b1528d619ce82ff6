package rt

import "github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine"

// Test-only views of a connection's state, for rt_test.

// StatsForTest is the engine's table sizes of c.
func StatsForTest(c *Conn) engine.Stats { return c.e.Stats() }

// InFlightForTest is the number of incoming calls c is serving (running
// or queued on one of its Threads).
func InFlightForTest(c *Conn) int { return c.e.Stats().InFlight }

// ThreadsForTest is the number of Threads the peer holds on c (makeThread
// and makePool).
func ThreadsForTest(c *Conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.threads) + len(c.pool)
}
