package engine

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

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
	// Owner is free for the user of the Conn (rt keeps its own connection
	// here); Conn.Owner returns it.
	Owner any
}

// Conn is one two-party Cap'n Proto RPC connection.
type Conn struct {
	rwc     io.ReadWriteCloser
	w       *writer
	handled chan struct{} // see changed
	// handling is set while the reader handles a message: frames queued
	// meanwhile, by the reader or by anyone, are written by the writer
	// goroutine (afterUnlock), so that the reader never waits on the peer.
	handling atomic.Bool
	lim      Limits
	owner    any

	bootstrap *node
	done      chan struct{}

	mu     sync.Mutex
	closed bool
	err    error // the error calls get once closed

	questions []*Answer // by question id; nil = free
	freeQ     []uint32
	openQ     int // questions in use
	inFlight  int // calls from the peer delivered and not yet returned
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

	msg      *capnp.Message // the Return sent, released at Finish
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

// Stats counts a Conn's table entries, and the calls from the peer
// being served (InFlight: delivered and not yet returned).
type Stats struct {
	Questions, Answers, Imports, Exports, Embargoes int
	InFlight                                        int
}

// New starts serving the protocol on rwc with one reader goroutine.
func New(rwc io.ReadWriteCloser, opts Options) *Conn {
	c := &Conn{
		rwc:      rwc,
		lim:      opts.Limits.withDefaults(),
		owner:    opts.Owner,
		done:     make(chan struct{}),
		handled:  make(chan struct{}, 1),
		answers:  make(map[uint32]*answer),
		imports:  make(map[uint32]*importEntry),
		exportOf: make(map[*node]uint32),
	}
	c.w = newWriter(rwc, c.lim.MaxQueuedBytes, c.lim.MaxSendQueue, c.shutdown)
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
	s := Stats{Answers: len(c.answers), Imports: len(c.imports), InFlight: c.inFlight}
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

// Owner returns Options.Owner.
func (c *Conn) Owner() any { return c.owner }

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
	c.abort(&Exception{Type: rpccp.Exception_Type_disconnected, Reason: "connection closed"}, false)
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
	if err := c.questionRoomLocked(); err != nil {
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
	msg := messages.Get().(*capnp.Message)
	seg, err := msg.Reset(capnp.SingleSegment(nil))
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

// afterUnlock writes the queue if sendLocked said so: in this goroutine,
// or, while the reader handles a message (it may be the caller), on the
// writer goroutine.
func (c *Conn) afterUnlock(flush bool) {
	if !flush {
		return
	}
	if c.handling.Load() {
		c.w.flushAsync()
		return
	}
	if err := c.w.flush(); err != nil {
		c.shutdown(err)
	}
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

// readBufferSize is the reader's buffer: the frames that arrived together
// are read with one read. A frame larger than what is buffered is read
// straight into its own buffer.
const readBufferSize = 32 << 10

func (c *Conn) readLoop() {
	var scratch [smallFrameSize]byte
	r := bufio.NewReaderSize(c.rwc, readBufferSize)
	for {
		msg, small, err := readMessage(r, &c.lim, &scratch)
		if err != nil {
			if errors.Is(err, ErrFrame) {
				c.abort(fmt.Errorf("%w: %v", ErrProtocol, err), true)
			} else {
				c.shutdown(err)
			}
			return
		}
		c.handling.Store(true)
		if small {
			err = c.handleSmall(smallFields(&scratch))
		} else {
			err = c.handle(msg)
		}
		if err != nil {
			c.abort(err, true)
			return
		}
		c.handling.Store(false)
		c.changed()
		select {
		case <-c.done:
			return
		default:
		}
	}
}

// handleSmall processes a Finish or Release read without a message (see
// readMessage).
func (c *Conn) handleSmall(which rpccp.Message_Which, lo, hi uint32) error {
	if which == rpccp.Message_Which_finish {
		// releaseResultCaps (default true) is stored inverted in bit 0.
		return c.handleFinish(lo, hi&1 == 0)
	}
	return c.handleRelease(lo, hi)
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

// sendUnimplemented echoes a message of a kind the engine does not know:
// its kind only, not its content. Copying the content follows pointers
// without the read limits, and the peer's bytes may point back into
// themselves (through a far pointer): the copy would never end. No peer
// needs more than the kind of a message of these kinds back.
func (c *Conn) sendUnimplemented(m rpccp.Message) error {
	msg, root, err := newMessage()
	if err != nil {
		return err
	}
	echo, err := root.NewUnimplemented()
	if err != nil {
		recycle(msg)
		return err
	}
	capnp.Struct(echo).SetUint16(0, uint16(m.Which()))
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

// ---- ending ----

// abort sends Abort with err and ends the connection. From the reader,
// it returns at once: the connection ends once the Abort is written
// (writer.endAfterFlush), and the reader reads no more.
func (c *Conn) abort(err error, reader bool) {
	c.mu.Lock()
	if !c.closed {
		if msg, root, merr := newMessage(); merr == nil {
			if ex, xerr := root.NewAbort(); xerr == nil {
				setException(ex, err)
				flush := c.sendOwnedLocked(msg, true)
				c.mu.Unlock()
				if reader {
					c.w.endAfterFlush(err, flush)
					return
				}
				c.afterUnlock(flush)
				c.shutdown(err)
				return
			}
		}
	}
	c.mu.Unlock()
	c.shutdown(err)
}

// causeText describes why the transport ended without the socket's
// addresses: a *net.OpError's text names them, and the layers above name
// the socket once already.
func causeText(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
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
		e = &Exception{Type: rpccp.Exception_Type_disconnected, Reason: "connection closed: " + causeText(cause), cause: cause}
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
		waiters, _ := c.failPromisesLocked(ans, e) // closed: nothing is sent
		after = append(after, waiters...)
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
