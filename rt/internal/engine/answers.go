package engine

// The callee's side: answers, Bootstrap, Call, Return, Finish.

import (
	"errors"
	"fmt"

	"capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

func (c *Conn) handleCall(msg *capnp.Message, rc rpccp.Call) error {
	qid := rc.QuestionId()
	payload, err := rc.Params()
	if err != nil {
		return fmt.Errorf("%w: read params: %v", ErrProtocol, err)
	}
	content, err := payload.Content()
	if err != nil {
		return fmt.Errorf("%w: read params: %v", ErrProtocol, err)
	}
	descs, err := payload.CapTable()
	if err != nil {
		return fmt.Errorf("%w: read cap table: %v", ErrProtocol, err)
	}
	target, err := rc.Target()
	if err != nil {
		return fmt.Errorf("%w: read target: %v", ErrProtocol, err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	if _, dup := c.answers[qid]; dup {
		c.mu.Unlock()
		return fmt.Errorf("%w: call reuses question %d", ErrProtocol, qid)
	}
	if err := c.answerRoomLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	ans := &answer{id: qid}
	c.answers[qid] = ans
	call := &Call{
		InterfaceID: rc.InterfaceId(),
		MethodID:    rc.MethodId(),
		conn:        c,
		ans:         ans,
		msg:         msg,
		rcall:       rc,
		args:        content.Struct(),
	}
	ans.call = call
	if n := descs.Len(); n > 0 {
		call.argCaps = make([]*node, n)
		for i := range n {
			call.argCaps[i] = c.importLocked(descs.At(i))
		}
	}
	n, terr := c.targetLocked(target)
	if terr == nil && over(c.inFlight+1, c.lim.MaxInFlight) {
		terr = &Exception{Type: rpccp.Exception_Type_overloaded,
			Reason: fmt.Sprintf("too many calls in flight on this connection (limit %d)", c.lim.MaxInFlight)}
	}
	if terr == nil {
		c.inFlight++
		call.inFlight = true
		if n != nil {
			// Held until delivered: a promise the call targets may be let
			// go (drain) as soon as the lock is released.
			c.addRefLocked(n)
		}
	}
	c.mu.Unlock()
	if terr != nil {
		call.Return(terr)
		return nil
	}
	deliverCall(n, call)
	n.release()
	return nil
}

// answerRoomLocked fails when a new answer would pass
// Limits.MaxOpenAnswers: the connection is aborted.
func (c *Conn) answerRoomLocked() error {
	if over(len(c.answers)+1, c.lim.MaxOpenAnswers) {
		return fmt.Errorf("%w: the peer keeps more than %d calls open", ErrLimit, c.lim.MaxOpenAnswers)
	}
	return nil
}

// targetLocked finds the node a MessageTarget names.
func (c *Conn) targetLocked(t rpccp.MessageTarget) (*node, error) {
	switch t.Which() {
	case rpccp.MessageTarget_Which_importedCap:
		id := t.ImportedCap()
		if int(id) >= len(c.exports) || c.exports[id] == nil {
			return nil, &Exception{Type: rpccp.Exception_Type_failed, Reason: fmt.Sprintf("no export %d", id)}
		}
		return c.exports[id].n, nil
	case rpccp.MessageTarget_Which_promisedAnswer:
		pa, err := t.PromisedAnswer()
		if err != nil {
			return nil, &Exception{Type: rpccp.Exception_Type_failed, Reason: "bad promised answer: " + err.Error()}
		}
		path, err := readTransform(pa)
		if err != nil {
			return nil, err
		}
		ans := c.answers[pa.QuestionId()]
		if ans == nil {
			return nil, &Exception{Type: rpccp.Exception_Type_failed, Reason: fmt.Sprintf("no answer %d", pa.QuestionId())}
		}
		return c.answerCapLocked(ans, path)
	default:
		return nil, &Exception{Type: rpccp.Exception_Type_unimplemented, Reason: "unknown message target"}
	}
}

// answerCapLocked is the capability at path of an answer: the result
// itself once returned (and no promise on it still holds calls), else
// the promise node for that path. A promise that has delivered its held
// calls stays in ans.promises until returnAnswer is done with it, and
// may have been let go already: calls then go to the result.
func (c *Conn) answerCapLocked(ans *answer, path []uint16) (*node, error) {
	for _, p := range ans.promises {
		if equalPath(p.path, path) && (!ans.returned || p.holding) {
			return p, nil
		}
	}
	if ans.returned {
		if ans.err != nil {
			return nil, ans.err
		}
		n, err := capAt(ans.content, ans.caps, path)
		if err != nil {
			return nil, &Exception{Type: rpccp.Exception_Type_failed, Reason: err.Error()}
		}
		return n, nil
	}
	p := &node{conn: c, kind: kindLocalPromise, ans: ans, path: path, holding: true}
	ans.promises = append(ans.promises, p)
	return p, nil
}

func (c *Conn) handleBootstrap(qid uint32) error {
	msg, root, err := newMessage()
	if err != nil {
		return err
	}
	ret, err := root.NewReturn()
	if err != nil {
		return err
	}
	ret.SetAnswerId(qid)
	ret.SetReleaseParamCaps(false)
	c.mu.Lock()
	flush, err := c.bootstrapLocked(qid, ret)
	if err == nil {
		flush = c.sendLocked(msg)
	}
	c.mu.Unlock()
	c.afterUnlock(flush)
	return err
}

func (c *Conn) bootstrapLocked(qid uint32, ret rpccp.Return) (bool, error) {
	if _, dup := c.answers[qid]; dup {
		return false, fmt.Errorf("%w: bootstrap reuses question %d", ErrProtocol, qid)
	}
	if err := c.answerRoomLocked(); err != nil {
		return false, err
	}
	ans := &answer{id: qid, returned: true}
	c.answers[qid] = ans
	if c.bootstrap == nil {
		ans.err = &Exception{Type: rpccp.Exception_Type_failed, Reason: "no bootstrap capability"}
		ex, err := ret.NewException()
		if err != nil {
			return false, err
		}
		setException(ex, ans.err)
		return false, nil
	}
	payload, err := ret.NewResults()
	if err != nil {
		return false, err
	}
	iface := capnp.NewInterface(payload.Segment(), 0)
	if err := payload.SetContent(iface.ToPtr()); err != nil {
		return false, err
	}
	c.addRefLocked(c.bootstrap)
	ans.content, ans.caps = iface.ToPtr(), []*node{c.bootstrap}
	ans.exports, err = c.writeCapTable(payload, ans.caps)
	return false, err
}

// returnAnswer sends a call's Return (the callee's goroutine).
func (c *Conn) returnAnswer(call *Call, err error) {
	ans := call.ans
	var msg *capnp.Message
	var ret rpccp.Return
	if err == nil {
		msg = call.resMsg
		root, rerr := rpccp.ReadRootMessage(msg)
		if rerr == nil {
			ret, rerr = root.Return()
		}
		if rerr != nil {
			err = fmt.Errorf("results: %w", rerr)
		}
	}
	if err != nil {
		var root rpccp.Message
		var merr error
		msg, root, merr = newMessage()
		if merr == nil {
			ret, merr = root.NewReturn()
		}
		if merr != nil {
			c.shutdown(merr)
			return
		}
		ex, xerr := ret.NewException()
		if xerr != nil {
			c.shutdown(xerr)
			return
		}
		setException(ex, err)
	}
	ret.SetAnswerId(ans.id)
	ret.SetReleaseParamCaps(false)
	ret.SetNoFinishNeeded(false)
	caps := call.resCaps
	call.resCaps = nil

	c.mu.Lock()
	if call.inFlight {
		call.inFlight = false
		c.inFlight--
	}
	if c.closed {
		c.mu.Unlock()
		releaseAll(caps)
		return
	}
	if ans.finished {
		// The caller gave up: tell it so and keep nothing.
		msg, root, merr := newMessage()
		if merr == nil {
			if r, rerr := root.NewReturn(); rerr == nil {
				r.SetAnswerId(ans.id)
				r.SetReleaseParamCaps(false)
				r.SetCanceled()
			}
		}
		delete(c.answers, ans.id)
		waiters, flush := c.failPromisesLocked(ans, &Exception{Type: rpccp.Exception_Type_failed, Reason: "call canceled"})
		if merr == nil {
			flush = c.sendOwnedLocked(msg, true) || flush
		}
		c.mu.Unlock()
		c.afterUnlock(flush)
		releaseAll(caps)
		for _, w := range waiters {
			runSafe(w)
		}
		return
	}
	if err == nil {
		payload, perr := ret.Results()
		if perr == nil {
			ans.exports, perr = c.writeCapTable(payload, caps)
		}
		if perr != nil {
			err = perr
			// Fall back to an exception.
			c.mu.Unlock()
			releaseAll(caps)
			call.resMsg = nil
			c.returnAnswer(call, fmt.Errorf("return: %w", perr))
			return
		}
	}
	ans.returned = true
	ans.call = nil
	ans.content, ans.caps, ans.err = call.content, caps, err
	if err != nil {
		ans.caps = nil
	}
	promises := ans.promises
	var waiters []func()
	for _, p := range promises {
		waiters = append(waiters, p.waiters...)
		p.waiters = nil
		if err != nil {
			p.kind, p.err = kindResolved, nil
			p.target = &node{kind: kindError, err: err, refs: 1}
			continue
		}
		t, terr := capAt(ans.content, ans.caps, p.path)
		if terr != nil {
			t = &node{kind: kindError, refs: 1, err: &Exception{Type: rpccp.Exception_Type_failed, Reason: terr.Error()}}
		} else if t == nil {
			t = &node{kind: kindError, refs: 1, err: fmt.Errorf("%w: pipelined result is null", ErrNull)}
		} else {
			c.addRefLocked(t)
		}
		p.kind, p.target = kindResolved, t
	}
	c.mu.Unlock()
	// Calls pipelined on the answer go first (before the Return, so that
	// forwarded ones precede any Disembargo the peer sends on it); the
	// Resolve of an exported promise follows its first held calls.
	for _, p := range promises {
		c.drain(p, true)
	}
	c.mu.Lock()
	ans.promises = nil
	flush := false
	if !c.closed {
		flush = c.sendLocked(msg)
		if c.answers[ans.id] == ans {
			ans.msg = msg
		}
	}
	c.mu.Unlock()
	c.afterUnlock(flush)
	for _, w := range waiters {
		runSafe(w)
	}
}

// failPromisesLocked breaks the promises on an answer that will have no
// results; an exported one resolves to the exception (the Resolve is
// queued: it reports whether to flush).
func (c *Conn) failPromisesLocked(ans *answer, err error) ([]func(), bool) {
	var waiters []func()
	flush := false
	for _, p := range ans.promises {
		waiters = append(waiters, p.waiters...)
		p.waiters = nil
		p.kind, p.target = kindResolved, &node{kind: kindError, err: err, refs: 1}
		held := p.held
		p.held, p.holding = nil, false
		for _, call := range held {
			waiters = append(waiters, func() { call.Return(err) })
		}
		flush = c.sendResolveLocked(p) || flush
		flush = c.sendEchoesLocked(p) || flush
	}
	ans.promises = nil
	return waiters, flush
}

// drain delivers the calls held on p to its target, in order, then lets
// later calls through directly. With resolve, p has just resolved: if it
// is exported, its Resolve goes out once the calls held when it resolved
// are delivered, before calls that arrive meanwhile (the peer sends them
// until it reads the Resolve; were they to go first, a peer that keeps
// calling would never hear of the resolution). Disembargo echoes that
// waited on p go out last, after every held call.
func (c *Conn) drain(p *node, resolve bool) {
	c.mu.Lock()
	for {
		if held := p.held; len(held) > 0 {
			p.held = nil
			t := p.target
			c.mu.Unlock()
			for _, call := range held {
				deliverCall(t, call)
			}
			c.mu.Lock()
		}
		if resolve {
			resolve = false
			if flush := c.sendResolveLocked(p); flush {
				c.mu.Unlock()
				c.afterUnlock(flush)
				c.mu.Lock()
			}
		}
		if len(p.held) == 0 {
			break
		}
	}
	p.holding = false
	flush := c.sendEchoesLocked(p)
	var drop *node
	if p.refs <= 0 && p.kind == kindResolved {
		// Nobody holds the promise (it only routed calls): let go of its
		// target.
		drop, p.target = p.target, nil
		p.kind, p.err = kindError, errors.New("released")
	}
	c.mu.Unlock()
	c.afterUnlock(flush)
	drop.release()
}

// sendEchoesLocked queues the Disembargo echoes that waited on p.
func (c *Conn) sendEchoesLocked(p *node) bool {
	flush := false
	for _, msg := range p.echoes {
		if !c.closed {
			flush = c.sendOwnedLocked(msg, true) || flush
		}
	}
	p.echoes = nil
	return flush
}

// sendResolveLocked tells the peer what an exported promise resolved to,
// once: the peer holds the export, or dropped it (no Resolve then).
func (c *Conn) sendResolveLocked(p *node) bool {
	if !p.exported {
		return false
	}
	p.exported = false
	id, ok := c.exportOf[p]
	if !ok || c.closed {
		return false
	}
	msg, root, err := newMessage()
	if err != nil {
		return false
	}
	res, err := root.NewResolve()
	if err != nil {
		return false
	}
	res.SetPromiseId(id)
	t := p.target
	if t != nil && t.kind == kindError && t.conn == nil {
		ex, err := res.NewException()
		if err != nil {
			return false
		}
		setException(ex, t.err)
	} else {
		d, err := res.NewCap()
		if err != nil {
			return false
		}
		if _, _, err := c.describeLocked(d, t); err != nil {
			return false
		}
	}
	return c.sendOwnedLocked(msg, true)
}

func (c *Conn) handleFinish(id uint32, releaseCaps bool) error {
	c.mu.Lock()
	ans := c.answers[id]
	if ans == nil {
		c.mu.Unlock()
		return fmt.Errorf("%w: finish for unknown question %d", ErrProtocol, id)
	}
	if !ans.returned {
		ans.finished = true
		if ans.call != nil && ans.call.cancel != nil {
			ans.call.cancel()
		}
		c.mu.Unlock()
		return nil
	}
	delete(c.answers, id)
	var drop []*node
	drop = append(drop, ans.caps...)
	ans.caps = nil
	// The Return's arena can be reused once it is written.
	msg := ans.msg
	ans.msg, ans.content = nil, capnp.Ptr{}
	var err error
	if releaseCaps {
		for _, e := range ans.exports {
			if err = c.releaseExportLocked(e, 1, &drop); err != nil {
				break
			}
		}
	}
	c.mu.Unlock()
	if msg != nil {
		// The Return may still wait in the queue (a Finish that canceled
		// the call crossed it).
		c.w.releaseWritten(msg)
	}
	releaseAll(drop)
	return err
}
