package engine

// The caller's side: questions, their Return, Finish.

import (
	"fmt"

	"capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

// sendCallLocked sends r as a call on n (an import or a remote promise
// of c) with a as its question. References r no longer needs go to drop.
func (c *Conn) sendCallLocked(n *node, r *Request, a *Answer, drop *[]*node) (bool, error) {
	if err := c.questionRoomLocked(); err != nil {
		return false, err
	}
	target, err := r.call.NewTarget()
	if err != nil {
		return false, fmt.Errorf("new target: %w", err)
	}
	switch n.kind {
	case kindImport:
		target.SetImportedCap(n.importID)
	case kindRemotePromise:
		pa, err := target.NewPromisedAnswer()
		if err != nil {
			return false, fmt.Errorf("new target: %w", err)
		}
		if err := writePromisedAnswer(pa, n.q.id, n.path); err != nil {
			return false, fmt.Errorf("new target: %w", err)
		}
	}
	payload, err := r.call.Params()
	if err != nil {
		return false, fmt.Errorf("params: %w", err)
	}
	if _, err := c.writeCapTable(payload, r.caps); err != nil {
		return false, err
	}
	n.called = true
	a.conn = c
	a.id = c.allocQuestion(a)
	r.call.SetQuestionId(a.id)
	r.call.SendResultsTo().SetCaller()
	*drop = append(*drop, r.caps...)
	r.caps = nil
	return c.sendOwnedLocked(r.msg, r.owned), nil
}

func (c *Conn) handleReturn(msg *capnp.Message, ret rpccp.Return) error {
	c.mu.Lock()
	id := ret.AnswerId()
	if int(id) >= len(c.questions) || c.questions[id] == nil || c.questions[id].returned {
		c.mu.Unlock()
		return fmt.Errorf("%w: return for unknown question %d", ErrProtocol, id)
	}
	a := c.questions[id]
	var content capnp.Ptr
	var caps []*node
	var err error
	switch ret.Which() {
	case rpccp.Return_Which_results:
		payload, perr := ret.Results()
		if perr == nil {
			content, perr = payload.Content()
		}
		var descs rpccp.CapDescriptor_List
		if perr == nil {
			descs, perr = payload.CapTable()
		}
		if perr != nil {
			c.mu.Unlock()
			return fmt.Errorf("%w: read results: %v", ErrProtocol, perr)
		}
		if !a.finishSent && descs.Len() > 0 {
			// After Finish(releaseResultCaps) the peer releases them itself.
			caps = make([]*node, descs.Len())
			for i := range descs.Len() {
				caps[i] = c.importLocked(descs.At(i))
			}
		}
		a.msg, a.received = msg, true
	case rpccp.Return_Which_exception:
		ex, xerr := ret.Exception()
		if xerr != nil {
			err = &Exception{Type: rpccp.Exception_Type_failed, Reason: "unreadable exception: " + xerr.Error()}
		} else {
			err = readException(ex)
		}
	case rpccp.Return_Which_canceled:
		err = &Exception{Type: rpccp.Exception_Type_failed, Reason: "call canceled"}
	case rpccp.Return_Which_resultsSentElsewhere:
		err = &Exception{Type: rpccp.Exception_Type_failed, Reason: "results sent elsewhere"}
	default:
		err = &Exception{Type: rpccp.Exception_Type_unimplemented, Reason: "unsupported return kind"}
	}
	done := c.completeQuestionLocked(a, content, caps, err, !ret.NoFinishNeeded())
	c.mu.Unlock()
	done()
	return nil
}

// completeQuestionLocked records a question's outcome, resolves the
// promises pipelined on it (embargoing those that now point into this
// process and carried calls), sends Finish and frees the id. The returned
// func, called after unlocking, flushes and wakes the waiters.
func (c *Conn) completeQuestionLocked(a *Answer, content capnp.Ptr, caps []*node, err error, finish bool) func() {
	a.returned = true
	a.content, a.results, a.caps, a.err = content, content.Struct(), caps, err
	var flush bool
	var waiters []func()
	for _, p := range a.pipes {
		if p.kind != kindRemotePromise {
			continue
		}
		waiters = append(waiters, p.waiters...)
		p.waiters = nil
		if err != nil {
			p.kind, p.err = kindError, err
			continue
		}
		t, terr := capAt(content, caps, p.path)
		if terr != nil {
			p.kind, p.err = kindError, &Exception{Type: rpccp.Exception_Type_failed, Reason: terr.Error()}
			continue
		}
		if t == nil {
			p.kind, p.err = kindError, fmt.Errorf("%w: pipelined result is null", ErrNull)
			continue
		}
		c.addRefLocked(t)
		p.kind, p.target = kindResolved, t
		if p.called && c.pointsHere(t) {
			flush = c.embargoLocked(p, func(tg rpccp.MessageTarget) error {
				pa, err := tg.NewPromisedAnswer()
				if err != nil {
					return err
				}
				return writePromisedAnswer(pa, a.id, p.path)
			}) || flush
		}
	}
	a.pipes = nil
	if finish && !a.finishSent {
		a.finishSent = true
		flush = c.sendFinishLocked(a.id, false) || flush
	}
	c.freeQuestion(a.id)
	var orphans []*node
	if a.released {
		// Nobody will read them: the caller released the Answer already.
		orphans, a.caps = a.caps, nil
	}
	f := a.onDone
	a.onDone = nil
	return func() {
		c.afterUnlock(flush)
		close(a.done)
		if f != nil {
			runSafe(f)
		}
		for _, w := range waiters {
			runSafe(w)
		}
		releaseAll(orphans)
	}
}

func (c *Conn) sendFinishLocked(id uint32, releaseCaps bool) bool {
	// releaseResultCaps defaults to true: it is stored inverted. The
	// other flag (requireEarlyCancellationWorkaround) keeps its default.
	var flags uint32
	if !releaseCaps {
		flags = 1
	}
	return c.sendSmallLocked(rpccp.Message_Which_finish, id, flags)
}

// sendSmallLocked queues a Finish or Release (see writer.enqueueSmall).
func (c *Conn) sendSmallLocked(which rpccp.Message_Which, lo, hi uint32) bool {
	flush, err := c.w.enqueueSmall(which, lo, hi)
	if err != nil {
		go c.shutdown(err)
	}
	return flush
}

// dropQuestionRefLocked drops one holder of an unreturned question; the
// last one cancels it with Finish.
func (c *Conn) dropQuestionRefLocked(a *Answer) bool {
	a.refs--
	if a.refs > 0 || a.returned || a.finishSent || c.closed {
		return false
	}
	a.finishSent = true
	return c.sendFinishLocked(a.id, true)
}

// questionRoomLocked fails when a new question would pass
// Limits.MaxOpenQuestions.
func (c *Conn) questionRoomLocked() error {
	if over(c.openQ+1, c.lim.MaxOpenQuestions) {
		return &Exception{Type: rpccp.Exception_Type_overloaded,
			Reason: fmt.Sprintf("too many calls open on the peer (limit %d)", c.lim.MaxOpenQuestions)}
	}
	return nil
}

func (c *Conn) allocQuestion(a *Answer) uint32 {
	c.openQ++
	if n := len(c.freeQ); n > 0 {
		id := c.freeQ[n-1]
		c.freeQ = c.freeQ[:n-1]
		c.questions[id] = a
		return id
	}
	c.questions = append(c.questions, a)
	return uint32(len(c.questions) - 1)
}

func (c *Conn) freeQuestion(id uint32) {
	c.openQ--
	c.questions[id] = nil
	c.freeQ = append(c.freeQ, id)
}
