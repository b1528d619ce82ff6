package rt

import "sync"

// executor runs the calls posted to one Thread one at a time, in the order
// they were posted, like a libmultiprocess server thread. While a running
// call waits on an outgoing IPC call it yields the executor, so that calls
// posted meanwhile (callbacks, and calls the peer nests inside its own
// callbacks) run instead of deadlocking; when the outgoing call returns, the
// waiting call takes the executor back before any newly queued call. This
// is libmultiprocess's Waiter, on goroutines.
type executor struct {
	mu         sync.Mutex
	busy       bool
	closed     bool
	head, tail *request // the queue, linked through request.next
	resumers   []chan struct{}
	// An idle executor keeps the goroutine that ran its last call, parked
	// on wake, for the next call: no goroutine is started per call.
	parked bool
	wake   chan *request // receives nil when the executor closes
}

// post queues r and returns at once. It reports false when the executor
// was closed, in which case r never runs.
func (e *executor) post(r *request) bool {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return false
	}
	if e.busy {
		if e.tail == nil {
			e.head = r
		} else {
			e.tail.next = r
		}
		e.tail = r
		e.mu.Unlock()
		return true
	}
	e.busy = true
	if e.parked {
		// wake holds one request, and only the parked goroutine takes it.
		e.parked = false
		e.mu.Unlock()
		e.wake <- r
		return true
	}
	e.mu.Unlock()
	go e.loop(r)
	return true
}

// pop takes the first queued request (nil for none); e.mu is held.
func (e *executor) pop() *request {
	r := e.head
	if r != nil {
		e.head, r.next = r.next, nil
		if e.head == nil {
			e.tail = nil
		}
	}
	return r
}

// loop runs r, then whatever is queued, until the executor is idle or
// handed to a resumer.
func (e *executor) loop(r *request) {
	for r != nil {
		r.run()
		var wake chan *request
		if r, wake = e.next(); wake != nil {
			// Parked: wait for the next call, or nil when the executor
			// closes.
			r = <-wake
		}
	}
}

// next hands the executor on after a call finished: to a call waiting to
// resume first, else to the next queued call (returned for the current
// goroutine to run), else it goes idle. When no goroutine is parked yet,
// the current one parks: next returns the channel it waits on.
func (e *executor) next() (*request, chan *request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n := len(e.resumers); n > 0 {
		ch := e.resumers[n-1]
		e.resumers = e.resumers[:n-1]
		close(ch)
		return nil, e.parkLocked()
	}
	if r := e.pop(); r != nil {
		return r, nil
	}
	e.busy = false
	return nil, e.parkLocked()
}

// parkLocked makes the calling goroutine the parked one, returning the
// channel to wait on, or nil when one is parked already or the executor
// is closed.
func (e *executor) parkLocked() chan *request {
	if e.closed || e.parked {
		return nil
	}
	if e.wake == nil {
		e.wake = make(chan *request, 1)
	}
	e.parked = true
	return e.wake
}

// yield is called by the running call before it blocks on an outgoing IPC
// call: the next queued call starts on a new goroutine, or the executor
// goes idle.
func (e *executor) yield() {
	e.mu.Lock()
	if r := e.pop(); r != nil {
		e.mu.Unlock()
		go e.loop(r)
		return
	}
	e.busy = false
	e.mu.Unlock()
}

// resume takes the executor back after an outgoing call returned, waiting
// for the call that holds it to finish. Resumers are served newest first,
// as nested waits unwind.
func (e *executor) resume() {
	e.mu.Lock()
	if !e.busy {
		e.busy = true
		e.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	e.resumers = append(e.resumers, ch)
	e.mu.Unlock()
	<-ch
}

// close stops the executor from accepting calls. Queued calls still run.
func (e *executor) close() {
	e.mu.Lock()
	e.closed = true
	if e.parked {
		e.parked = false
		close(e.wake)
	}
	e.mu.Unlock()
}
