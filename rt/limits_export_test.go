package rt

// Test-only views of a connection's limit state, for rt_test.

// InFlightForTest is the number of incoming calls c is serving.
func InFlightForTest(c *Conn) int64 { return c.inFlight.Load() }

// SendQueueForTest is the bytes waiting in c's send queue now, and the
// most that ever waited.
func SendQueueForTest(c *Conn) (now, max int64) {
	c.codec.mu.Lock()
	now = c.codec.queued
	c.codec.mu.Unlock()
	return now, c.codec.maxQueued.Load()
}

// OpenCallsForTest is the calls the peer has open on c and the bytes of
// results kept for them.
func OpenCallsForTest(c *Conn) (calls int, bytes int64) {
	c.codec.open.mu.Lock()
	defer c.codec.open.mu.Unlock()
	return len(c.codec.open.ids), c.codec.open.bytes
}

// ThreadsForTest is the number of Threads the peer holds on c (makeThread
// and makePool).
func ThreadsForTest(c *Conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.threads) + len(c.pool)
}
