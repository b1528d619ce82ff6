package engine

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

// Options configure a Conn.
type Options struct {
	// Bootstrap is the capability the peer gets from a Bootstrap message;
	// nil answers Bootstrap with an exception. The Conn takes its own
	// reference.
	Bootstrap *Client
	// Limits bound what the peer can make the Conn read and queue.
	Limits Limits
}

// Conn is one two-party Cap'n Proto RPC connection.
type Conn struct {
	rwc     io.ReadWriteCloser
	w       *writer
	handled chan struct{} // see changed
	lim     Limits

	bootstrap *node
	done      chan struct{}

	mu     sync.Mutex
	closed bool
	err    error // the error calls get once closed

	questions []*Answer // by question id; nil = free
	freeQ     []uint32
	answers   map[uint32]*answer
	imports   map[uint32]*importEntry
	exports   []*exportEntry // by export id; nil = free
	freeE     []uint32
	exportOf  map[*node]uint32
	embargoes []*node // by embargo id; nil = free
	freeEmb   []uint32
}

// answer is the callee's side of a question the peer asked.
type answer struct {
	id       uint32
	call     *Call
	returned bool
	finished bool // Finish arrived

	content  capnp.Ptr
	caps     []*node // result caps; the answer holds a reference to each
	err      error
	exports  []uint32 // export ids sent in the Return (for releaseResultCaps)
	promises []*node  // kindLocalPromise nodes on this answer, by path
}

type importEntry struct {
	n       *node
	remote  uint32 // how many times the peer sent it: the Release count
	promise bool
}

type exportEntry struct {
	n    *node
	refs uint32
}

// Stats counts a Conn's table entries.
type Stats struct {
	Questions, Answers, Imports, Exports, Embargoes int
}

// New starts serving the protocol on rwc with one reader goroutine.
func New(rwc io.ReadWriteCloser, opts Options) *Conn {
	c := &Conn{
		rwc:      rwc,
		lim:      opts.Limits.withDefaults(),
		done:     make(chan struct{}),
		handled:  make(chan struct{}, 1),
		answers:  make(map[uint32]*answer),
		imports:  make(map[uint32]*importEntry),
		exportOf: make(map[*node]uint32),
	}
	c.w = newWriter(rwc, c.lim.MaxQueuedBytes)
	if opts.Bootstrap != nil {
		c.bootstrap = opts.Bootstrap.n
		c.bootstrap.addRef()
	}
	go c.readLoop()
	return c
}

// Stats returns the current sizes of the tables.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{Answers: len(c.answers), Imports: len(c.imports)}
	for _, q := range c.questions {
		if q != nil {
			s.Questions++
		}
	}
	for _, e := range c.exports {
		if e != nil {
			s.Exports++
		}
	}
	for _, e := range c.embargoes {
		if e != nil {
			s.Embargoes++
		}
	}
	return s
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended (nil while it runs).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close sends Abort, ends the connection and fails what is pending.
func (c *Conn) Close() error {
	c.abort(&Exception{Type: rpccp.Exception_Type_disconnected, Reason: "connection closed"})
	<-c.done
	return nil
}

// Bootstrap asks the peer for its bootstrap capability; the result is a
// promise usable at once.
func (c *Conn) Bootstrap() *Client {
	msg, root, err := newMessage()
	if err != nil {
		return ErrorClient(err)
	}
	bs, err := root.NewBootstrap()
	if err != nil {
		return ErrorClient(fmt.Errorf("new bootstrap: %w", err))
	}
	a := &Answer{done: make(chan struct{}), refs: 1}
	c.mu.Lock()
	if c.closed {
		err := c.err
		c.mu.Unlock()
		return ErrorClient(err)
	}
	a.conn = c
	a.id = c.allocQuestion(a)
	bs.SetQuestionId(a.id)
	flush, err := c.w.enqueue(msg, true)
	c.mu.Unlock()
	if err != nil {
		c.shutdown(err)
	}
	c.afterUnlock(flush)
	cl := a.Pipeline()
	a.Release()
	return cl
}

func newMessage() (*capnp.Message, rpccp.Message, error) {
	msg, seg, err := capnp.NewMessage(capnp.SingleSegment(nil))
	if err != nil {
		return nil, rpccp.Message{}, fmt.Errorf("new message: %w", err)
	}
	root, err := rpccp.NewRootMessage(seg)
	if err != nil {
		return nil, rpccp.Message{}, fmt.Errorf("new message: %w", err)
	}
	return msg, root, nil
}

// sendLocked queues msg (c.mu held) and reports whether the caller must
// flush once it unlocks. A failed write ends the connection.
func (c *Conn) sendLocked(msg *capnp.Message) bool {
	return c.sendOwnedLocked(msg, false)
}

// sendOwnedLocked is sendLocked for a message nothing else refers to:
// the writer releases it once written.
func (c *Conn) sendOwnedLocked(msg *capnp.Message, release bool) bool {
	flush, err := c.w.enqueue(msg, release)
	if err != nil {
		go c.shutdown(err)
	}
	return flush
}

// afterUnlock writes the queue if sendLocked said so.
func (c *Conn) afterUnlock(flush bool) {
	if !flush {
		return
	}
	if err := c.w.flush(); err != nil {
		c.shutdown(err)
	}
}

func (c *Conn) allocQuestion(a *Answer) uint32 {
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
	c.questions[id] = nil
	c.freeQ = append(c.freeQ, id)
}

// changed tells a test waiting on the tables (Stats) that they may have
// changed: after each message read, and after a release.
func (c *Conn) changed() {
	select {
	case c.handled <- struct{}{}:
	default:
	}
}

// ---- reading ----

func (c *Conn) readLoop() {
	var hdr [8]byte
	for {
		msg, err := readFrame(c.rwc, &c.lim, &hdr)
		if err != nil {
			if errors.Is(err, ErrFrame) {
				c.abort(fmt.Errorf("%w: %v", ErrProtocol, err))
			} else {
				c.shutdown(err)
			}
			return
		}
		if err := c.handle(msg); err != nil {
			c.abort(err)
			return
		}
		c.changed()
		select {
		case <-c.done:
			return
		default:
		}
	}
}

// handle processes one message; an error aborts the connection.
func (c *Conn) handle(msg *capnp.Message) error {
	root, err := rpccp.ReadRootMessage(msg)
	if err != nil {
		return fmt.Errorf("%w: read message: %v", ErrProtocol, err)
	}
	switch root.Which() {
	case rpccp.Message_Which_call:
		call, err := root.Call()
		if err != nil {
			return fmt.Errorf("%w: read call: %v", ErrProtocol, err)
		}
		return c.handleCall(msg, call)
	case rpccp.Message_Which_return:
		ret, err := root.Return()
		if err != nil {
			return fmt.Errorf("%w: read return: %v", ErrProtocol, err)
		}
		return c.handleReturn(msg, ret)
	case rpccp.Message_Which_finish:
		fin, err := root.Finish()
		if err != nil {
			return fmt.Errorf("%w: read finish: %v", ErrProtocol, err)
		}
		return c.handleFinish(fin.QuestionId(), fin.ReleaseResultCaps())
	case rpccp.Message_Which_release:
		rel, err := root.Release()
		if err != nil {
			return fmt.Errorf("%w: read release: %v", ErrProtocol, err)
		}
		return c.handleRelease(rel.Id(), rel.ReferenceCount())
	case rpccp.Message_Which_bootstrap:
		bs, err := root.Bootstrap()
		if err != nil {
			return fmt.Errorf("%w: read bootstrap: %v", ErrProtocol, err)
		}
		return c.handleBootstrap(bs.QuestionId())
	case rpccp.Message_Which_resolve:
		res, err := root.Resolve()
		if err != nil {
			return fmt.Errorf("%w: read resolve: %v", ErrProtocol, err)
		}
		return c.handleResolve(res)
	case rpccp.Message_Which_disembargo:
		d, err := root.Disembargo()
		if err != nil {
			return fmt.Errorf("%w: read disembargo: %v", ErrProtocol, err)
		}
		return c.handleDisembargo(d)
	case rpccp.Message_Which_abort:
		ex, err := root.Abort()
		e := &Exception{Type: rpccp.Exception_Type_disconnected, Reason: "peer aborted"}
		if err == nil {
			e = readException(ex)
			e.Reason = "peer aborted: " + e.Reason
		}
		c.shutdown(e)
		return nil
	case rpccp.Message_Which_unimplemented:
		return c.handleUnimplemented(root)
	default:
		return c.sendUnimplemented(root)
	}
}

// sendUnimplemented echoes a message of a kind the engine does not know.
func (c *Conn) sendUnimplemented(m rpccp.Message) error {
	msg, root, err := newMessage()
	if err != nil {
		return err
	}
	if err := root.SetUnimplemented(m); err != nil {
		// A copy that breaks the limits: echo what is left of it.
		root.SetUnimplemented(rpccp.Message{})
	}
	c.mu.Lock()
	flush := c.sendOwnedLocked(msg, true)
	c.mu.Unlock()
	c.afterUnlock(flush)
	return nil
}

// handleUnimplemented: the peer did not understand something we sent. A
// call it did not understand fails; anything else is dropped.
func (c *Conn) handleUnimplemented(root rpccp.Message) error {
	inner, err := root.Unimplemented()
	if err != nil || inner.Which() != rpccp.Message_Which_call {
		return nil
	}
	call, err := inner.Call()
	if err != nil {
		return nil
	}
	c.mu.Lock()
	id := call.QuestionId()
	if int(id) >= len(c.questions) || c.questions[id] == nil || c.questions[id].returned {
		c.mu.Unlock()
		return nil
	}
	a := c.questions[id]
	done := c.completeQuestionLocked(a, capnp.Ptr{}, nil,
		&Exception{Type: rpccp.Exception_Type_unimplemented, Reason: "peer does not implement the call message"}, true)
	c.mu.Unlock()
	done()
	return nil
}

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
	c.mu.Unlock()
	if terr != nil {
		call.Return(terr)
		return nil
	}
	deliverCall(n, call)
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

func readTransform(pa rpccp.PromisedAnswer) ([]uint16, error) {
	ops, err := pa.Transform()
	if err != nil {
		return nil, &Exception{Type: rpccp.Exception_Type_failed, Reason: "bad transform: " + err.Error()}
	}
	var path []uint16
	for i := range ops.Len() {
		op := ops.At(i)
		switch op.Which() {
		case rpccp.PromisedAnswer_Op_Which_noop:
		case rpccp.PromisedAnswer_Op_Which_getPointerField:
			path = append(path, op.GetPointerField())
		default:
			return nil, &Exception{Type: rpccp.Exception_Type_unimplemented, Reason: "unknown transform op"}
		}
	}
	return path, nil
}

// answerCapLocked is the capability at path of an answer: the result
// itself once returned (and no promise on it still holds calls), else
// the promise node for that path.
func (c *Conn) answerCapLocked(ans *answer, path []uint16) (*node, error) {
	for _, p := range ans.promises {
		if equalPath(p.path, path) {
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

func equalPath(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// importLocked turns a received CapDescriptor into a node with one
// reference for the caller (nil for none).
func (c *Conn) importLocked(d rpccp.CapDescriptor) *node {
	switch d.Which() {
	case rpccp.CapDescriptor_Which_none:
		return nil
	case rpccp.CapDescriptor_Which_senderHosted, rpccp.CapDescriptor_Which_senderPromise:
		promise := d.Which() == rpccp.CapDescriptor_Which_senderPromise
		var id uint32
		if promise {
			id = d.SenderPromise()
		} else {
			id = d.SenderHosted()
		}
		if e := c.imports[id]; e != nil {
			e.remote++
			e.n.refs++
			return e.n
		}
		n := &node{conn: c, refs: 1, kind: kindImport, importID: id, imported: true}
		c.imports[id] = &importEntry{n: n, remote: 1, promise: promise}
		return n
	case rpccp.CapDescriptor_Which_receiverHosted:
		id := d.ReceiverHosted()
		if int(id) >= len(c.exports) || c.exports[id] == nil {
			return errNode(fmt.Sprintf("no export %d", id))
		}
		n := c.exports[id].n
		c.addRefLocked(n)
		return n
	case rpccp.CapDescriptor_Which_receiverAnswer:
		pa, err := d.ReceiverAnswer()
		if err != nil {
			return errNode("bad receiverAnswer: " + err.Error())
		}
		path, err := readTransform(pa)
		if err != nil {
			return &node{kind: kindError, err: err, refs: 1}
		}
		ans := c.answers[pa.QuestionId()]
		if ans == nil {
			return errNode(fmt.Sprintf("no answer %d", pa.QuestionId()))
		}
		n, err := c.answerCapLocked(ans, path)
		if err != nil {
			return &node{kind: kindError, err: err, refs: 1}
		}
		if n != nil {
			c.addRefLocked(n)
		}
		return n
	default:
		return &node{kind: kindError, refs: 1, err: &Exception{Type: rpccp.Exception_Type_unimplemented, Reason: "unsupported capability descriptor"}}
	}
}

func errNode(reason string) *node {
	return &node{kind: kindError, refs: 1, err: &Exception{Type: rpccp.Exception_Type_failed, Reason: reason}}
}

// addRefLocked adds a reference to n, which is local or of c.
func (c *Conn) addRefLocked(n *node) {
	if n.conn == nil {
		n.addRef()
		return
	}
	n.refs++
}

// writeCapTable describes nodes into payload's cap table (exporting what
// needs it) and returns the export ids it sent.
func (c *Conn) writeCapTable(payload rpccp.Payload, nodes []*node) ([]uint32, error) {
	if len(nodes) == 0 {
		return nil, nil
	}
	var tbl rpccp.CapDescriptor_List
	if payload.HasCapTable() {
		tbl, _ = payload.CapTable()
	}
	if tbl.Len() != len(nodes) {
		var err error
		if tbl, err = payload.NewCapTable(int32(len(nodes))); err != nil {
			return nil, fmt.Errorf("new cap table: %w", err)
		}
	}
	var exported []uint32
	for i, n := range nodes {
		id, ok, err := c.describeLocked(tbl.At(i), n)
		if err != nil {
			return exported, err
		}
		if ok {
			exported = append(exported, id)
		}
	}
	return exported, nil
}

// describeLocked writes the descriptor of n; it reports the export id if
// it exported n.
func (c *Conn) describeLocked(d rpccp.CapDescriptor, n *node) (uint32, bool, error) {
	for n != nil && n.conn == c && n.kind == kindResolved && !n.holding {
		n = n.target
	}
	if n == nil {
		d.SetNone()
		return 0, false, nil
	}
	if n.conn != nil && n.conn != c {
		return 0, false, errors.New("capabilities of another connection cannot be passed on yet")
	}
	if n.conn == c {
		switch n.kind {
		case kindImport:
			d.SetReceiverHosted(n.importID)
			return 0, false, nil
		case kindRemotePromise:
			pa, err := d.NewReceiverAnswer()
			if err != nil {
				return 0, false, err
			}
			return 0, false, writePromisedAnswer(pa, n.q.id, n.path)
		}
	}
	id, ok := c.exportOf[n]
	if ok {
		c.exports[id].refs++
	} else {
		c.addRefLocked(n)
		e := &exportEntry{n: n, refs: 1}
		if k := len(c.freeE); k > 0 {
			id = c.freeE[k-1]
			c.freeE = c.freeE[:k-1]
			c.exports[id] = e
		} else {
			c.exports = append(c.exports, e)
			id = uint32(len(c.exports) - 1)
		}
		c.exportOf[n] = id
	}
	if n.conn == c && n.kind == kindLocalPromise {
		n.exported = true
		d.SetSenderPromise(id)
	} else {
		d.SetSenderHosted(id)
	}
	return id, true, nil
}

func writePromisedAnswer(pa rpccp.PromisedAnswer, qid uint32, path []uint16) error {
	pa.SetQuestionId(qid)
	if len(path) == 0 {
		return nil
	}
	ops, err := pa.NewTransform(int32(len(path)))
	if err != nil {
		return err
	}
	for i, f := range path {
		ops.At(i).SetGetPointerField(f)
	}
	return nil
}

// sendCallLocked sends r as a call on n (an import or a remote promise
// of c) with a as its question. References r no longer needs go to drop.
func (c *Conn) sendCallLocked(n *node, r *Request, a *Answer, drop *[]*node) (bool, error) {
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

// ---- the caller's side ----

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
		a.msg = msg
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
			f()
		}
		for _, w := range waiters {
			w()
		}
		releaseAll(orphans)
	}
}

// pointsHere reports whether calls on t run in this process (not on the
// peer of c), so that calls sent earlier through the peer can be
// overtaken.
func (c *Conn) pointsHere(t *node) bool {
	for t != nil && t.conn == c && t.kind == kindResolved {
		t = t.target
	}
	if t == nil {
		return false
	}
	return t.conn != c || t.kind == kindLocalPromise || t.kind == kindLocal
}

// embargoLocked holds the calls to p (resolved into this process) until
// a Disembargo sent now through the peer comes back.
func (c *Conn) embargoLocked(p *node, target func(rpccp.MessageTarget) error) bool {
	msg, root, err := newMessage()
	if err != nil {
		return false
	}
	d, err := root.NewDisembargo()
	if err != nil {
		return false
	}
	t, err := d.NewTarget()
	if err != nil || target(t) != nil {
		return false
	}
	var id uint32
	if k := len(c.freeEmb); k > 0 {
		id = c.freeEmb[k-1]
		c.freeEmb = c.freeEmb[:k-1]
		c.embargoes[id] = p
	} else {
		c.embargoes = append(c.embargoes, p)
		id = uint32(len(c.embargoes) - 1)
	}
	d.Context().SetSenderLoopback(id)
	p.holding = true
	return c.sendOwnedLocked(msg, true)
}

func (c *Conn) sendFinishLocked(id uint32, releaseCaps bool) bool {
	msg, root, err := newMessage()
	if err != nil {
		return false
	}
	fin, err := root.NewFinish()
	if err != nil {
		return false
	}
	fin.SetQuestionId(id)
	fin.SetReleaseResultCaps(releaseCaps)
	return c.sendOwnedLocked(msg, true)
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

// releaseLocked drops one reference to n (of c); references n held go to
// drop, to be released after unlocking.
func (c *Conn) releaseLocked(n *node, drop *[]*node) bool {
	n.refs--
	if n.refs > 0 {
		return false
	}
	flush := false
	if n.imported {
		if e := c.imports[n.importID]; e != nil && e.n == n {
			delete(c.imports, n.importID)
			if !c.closed {
				flush = c.sendReleaseLocked(n.importID, e.remote)
			}
		}
	}
	switch n.kind {
	case kindResolved:
		if !n.holding {
			*drop = append(*drop, n.target)
			n.target = nil
			n.kind = kindError
			n.err = errors.New("released")
		}
	case kindRemotePromise:
		if n.q != nil {
			flush = c.dropQuestionRefLocked(n.q) || flush
			for i, p := range n.q.pipes {
				if p == n {
					n.q.pipes = append(n.q.pipes[:i], n.q.pipes[i+1:]...)
					break
				}
			}
		}
	}
	return flush
}

func (c *Conn) sendReleaseLocked(id, count uint32) bool {
	msg, root, err := newMessage()
	if err != nil {
		return false
	}
	rel, err := root.NewRelease()
	if err != nil {
		return false
	}
	rel.SetId(id)
	rel.SetReferenceCount(count)
	return c.sendOwnedLocked(msg, true)
}

// ---- the callee's side ----

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
		flush := false
		if merr == nil {
			flush = c.sendOwnedLocked(msg, true)
		}
		waiters := c.failPromisesLocked(ans, &Exception{Type: rpccp.Exception_Type_failed, Reason: "call canceled"})
		c.mu.Unlock()
		c.afterUnlock(flush)
		releaseAll(caps)
		for _, w := range waiters {
			w()
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
	// forwarded ones precede any Disembargo the peer sends on it).
	for _, p := range promises {
		c.drain(p)
	}
	c.mu.Lock()
	flush := false
	for _, p := range promises {
		if p.exported {
			flush = c.sendResolveLocked(p) || flush
		}
	}
	ans.promises = nil
	if !c.closed {
		flush = c.sendLocked(msg) || flush
	}
	c.mu.Unlock()
	c.afterUnlock(flush)
	for _, w := range waiters {
		w()
	}
}

// failPromisesLocked breaks the promises on an answer that will have no
// results.
func (c *Conn) failPromisesLocked(ans *answer, err error) []func() {
	var waiters []func()
	for _, p := range ans.promises {
		waiters = append(waiters, p.waiters...)
		p.waiters = nil
		p.kind, p.target = kindResolved, &node{kind: kindError, err: err, refs: 1}
		held := p.held
		p.held, p.holding = nil, false
		for _, call := range held {
			waiters = append(waiters, func() { call.Return(err) })
		}
	}
	ans.promises = nil
	return waiters
}

// drain delivers the calls held on p to its target, in order, then lets
// later calls through directly.
func (c *Conn) drain(p *node) {
	c.mu.Lock()
	for len(p.held) > 0 {
		held := p.held
		p.held = nil
		t := p.target
		c.mu.Unlock()
		for _, call := range held {
			deliverCall(t, call)
		}
		c.mu.Lock()
	}
	p.holding = false
	var drop *node
	if p.refs <= 0 && p.kind == kindResolved {
		// Nobody holds the promise (it only routed calls): let go of its
		// target.
		drop, p.target = p.target, nil
		p.kind, p.err = kindError, errors.New("released")
	}
	c.mu.Unlock()
	drop.release()
}

// sendResolveLocked tells the peer what an exported promise resolved to.
func (c *Conn) sendResolveLocked(p *node) bool {
	id, ok := c.exportOf[p]
	if !ok {
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
	var err error
	if releaseCaps {
		for _, e := range ans.exports {
			if err = c.releaseExportLocked(e, 1, &drop); err != nil {
				break
			}
		}
	}
	c.mu.Unlock()
	releaseAll(drop)
	return err
}

func (c *Conn) handleRelease(id, count uint32) error {
	c.mu.Lock()
	var drop []*node
	err := c.releaseExportLocked(id, count, &drop)
	c.mu.Unlock()
	releaseAll(drop)
	return err
}

func (c *Conn) releaseExportLocked(id, count uint32, drop *[]*node) error {
	if int(id) >= len(c.exports) || c.exports[id] == nil {
		return fmt.Errorf("%w: release of unknown export %d", ErrProtocol, id)
	}
	e := c.exports[id]
	if count > e.refs {
		return fmt.Errorf("%w: release of export %d: %d references, %d held", ErrProtocol, id, count, e.refs)
	}
	e.refs -= count
	if e.refs == 0 {
		c.exports[id] = nil
		c.freeE = append(c.freeE, id)
		delete(c.exportOf, e.n)
		*drop = append(*drop, e.n)
	}
	return nil
}

// handleResolve: an import that was a promise resolved.
func (c *Conn) handleResolve(res rpccp.Resolve) error {
	c.mu.Lock()
	id := res.PromiseId()
	var t *node
	switch res.Which() {
	case rpccp.Resolve_Which_cap:
		d, err := res.Cap()
		if err != nil {
			c.mu.Unlock()
			return fmt.Errorf("%w: read resolve: %v", ErrProtocol, err)
		}
		t = c.importLocked(d)
	case rpccp.Resolve_Which_exception:
		ex, err := res.Exception()
		if err != nil {
			c.mu.Unlock()
			return fmt.Errorf("%w: read resolve: %v", ErrProtocol, err)
		}
		t = &node{kind: kindError, refs: 1, err: readException(ex)}
	default:
		c.mu.Unlock()
		return c.sendUnimplementedResolve(res)
	}
	e := c.imports[id]
	if e == nil || !e.promise || e.n.kind != kindImport {
		// Released already (or not a promise): drop the new reference.
		c.mu.Unlock()
		if t != nil {
			t.release()
		}
		if e != nil && !e.promise {
			return fmt.Errorf("%w: resolve of import %d, not a promise", ErrProtocol, id)
		}
		return nil
	}
	n := e.n
	e.promise = false
	waiters := n.waiters
	n.waiters = nil
	flush := false
	if t == nil {
		t = &node{kind: kindError, refs: 1, err: fmt.Errorf("%w: promise resolved to null", ErrNull)}
	}
	n.kind, n.target = kindResolved, t
	if n.called && c.pointsHere(t) {
		flush = c.embargoLocked(n, func(tg rpccp.MessageTarget) error {
			tg.SetImportedCap(id)
			return nil
		})
	}
	c.mu.Unlock()
	c.afterUnlock(flush)
	for _, w := range waiters {
		w()
	}
	return nil
}

func (c *Conn) sendUnimplementedResolve(res rpccp.Resolve) error {
	root, err := rpccp.ReadRootMessage(res.Message())
	if err != nil {
		return nil
	}
	return c.sendUnimplemented(root)
}

func (c *Conn) handleDisembargo(d rpccp.Disembargo) error {
	ctx := d.Context()
	switch ctx.Which() {
	case rpccp.Disembargo_context_Which_senderLoopback:
		tg, err := d.Target()
		if err != nil {
			return fmt.Errorf("%w: read disembargo: %v", ErrProtocol, err)
		}
		c.mu.Lock()
		n, terr := c.targetLocked(tg)
		for terr == nil && n != nil && n.conn == c && n.kind == kindResolved && !n.holding {
			n = n.target
		}
		if terr != nil || n == nil || n.conn != c || (n.kind != kindImport && n.kind != kindRemotePromise) {
			c.mu.Unlock()
			return fmt.Errorf("%w: disembargo target does not point back to the sender", ErrProtocol)
		}
		msg, root, err := newMessage()
		if err != nil {
			c.mu.Unlock()
			return err
		}
		out, err := root.NewDisembargo()
		if err == nil {
			var t rpccp.MessageTarget
			if t, err = out.NewTarget(); err == nil {
				if n.kind == kindImport {
					t.SetImportedCap(n.importID)
				} else {
					var pa rpccp.PromisedAnswer
					if pa, err = t.NewPromisedAnswer(); err == nil {
						err = writePromisedAnswer(pa, n.q.id, n.path)
					}
				}
			}
		}
		if err != nil {
			c.mu.Unlock()
			return err
		}
		out.Context().SetReceiverLoopback(ctx.SenderLoopback())
		flush := c.sendOwnedLocked(msg, true)
		c.mu.Unlock()
		c.afterUnlock(flush)
		return nil
	case rpccp.Disembargo_context_Which_receiverLoopback:
		id := ctx.ReceiverLoopback()
		c.mu.Lock()
		if int(id) >= len(c.embargoes) || c.embargoes[id] == nil {
			c.mu.Unlock()
			return fmt.Errorf("%w: unknown embargo %d", ErrProtocol, id)
		}
		p := c.embargoes[id]
		c.embargoes[id] = nil
		c.freeEmb = append(c.freeEmb, id)
		c.mu.Unlock()
		c.drain(p)
		return nil
	default:
		root, err := rpccp.ReadRootMessage(d.Message())
		if err != nil {
			return nil
		}
		return c.sendUnimplemented(root)
	}
}

// ---- ending ----

// abort sends Abort with err and ends the connection.
func (c *Conn) abort(err error) {
	c.mu.Lock()
	if !c.closed {
		if msg, root, merr := newMessage(); merr == nil {
			if ex, xerr := root.NewAbort(); xerr == nil {
				setException(ex, err)
				flush := c.sendOwnedLocked(msg, true)
				c.mu.Unlock()
				c.afterUnlock(flush)
				c.shutdown(err)
				return
			}
		}
	}
	c.mu.Unlock()
	c.shutdown(err)
}

// shutdown ends the connection: pending questions fail, every import is
// dropped without Release (the peer is gone), every export and answer is
// freed, and held calls fail.
func (c *Conn) shutdown(cause error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	var e *Exception
	if !errors.As(cause, &e) || e.Type != rpccp.Exception_Type_disconnected {
		e = &Exception{Type: rpccp.Exception_Type_disconnected, Reason: "connection closed: " + cause.Error(), cause: cause}
	}
	c.err = e
	var after []func()
	var drop []*node
	for _, a := range c.questions {
		if a != nil && !a.returned {
			a.finishSent = true
			after = append(after, c.completeQuestionLocked(a, capnp.Ptr{}, nil, e, false))
		}
	}
	for _, ans := range c.answers {
		if ans.call != nil && ans.call.cancel != nil {
			ans.call.cancel()
		}
		drop = append(drop, ans.caps...)
		ans.caps = nil
		after = append(after, c.failPromisesLocked(ans, e)...)
	}
	c.answers = map[uint32]*answer{}
	for id, imp := range c.imports {
		if imp.n.kind == kindImport {
			imp.n.kind, imp.n.err = kindError, e
		}
		imp.n.imported = false
		delete(c.imports, id)
	}
	for i, ex := range c.exports {
		if ex != nil {
			drop = append(drop, ex.n)
			c.exports[i] = nil
		}
	}
	c.exportOf = map[*node]uint32{}
	for i, p := range c.embargoes {
		if p != nil {
			held := p.held
			p.held, p.holding = nil, false
			for _, call := range held {
				after = append(after, func() { call.Return(e) })
			}
			c.embargoes[i] = nil
		}
	}
	bs := c.bootstrap
	c.bootstrap = nil
	c.mu.Unlock()
	c.w.fail(e)
	c.rwc.Close()
	for _, f := range after {
		f()
	}
	releaseAll(drop)
	if bs != nil {
		bs.release()
	}
	close(c.done)
}
