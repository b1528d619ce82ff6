package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

// Server is a capability implemented in this process. Dispatch is called
// synchronously on the goroutine that delivers the call (for a call from
// the peer, the connection's reader) and must not block: it decides where
// the call runs (inline, on an executor, on a goroutine of its own) and
// that code calls c.Return exactly once. No goroutine is started per call.
type Server interface {
	Dispatch(c *Call)
}

// Call is an incoming call: from the peer, or from a Client in this
// process.
type Call struct {
	InterfaceID uint64
	MethodID    uint16

	conn  *Conn   // a call from the peer
	ans   *answer // its answer entry
	local *Answer // a call from this process

	msg     *capnp.Message // holds the params
	rcall   rpccp.Call
	args    capnp.Struct
	argCaps []*node // the params' cap table; the Call holds a reference to each

	resMsg  *capnp.Message
	content capnp.Ptr
	results capnp.Struct
	resCaps []*node

	ctx      context.Context
	cancel   context.CancelFunc
	returned atomic.Bool
	inFlight bool // counted in conn.inFlight (under conn.mu)
}

// localCall turns a Request to a local capability into a Call.
func localCall(r *Request, a *Answer) *Call {
	c := &Call{
		InterfaceID: r.call.InterfaceId(),
		MethodID:    r.call.MethodId(),
		local:       a,
		msg:         r.msg,
		rcall:       r.call,
		args:        r.params,
		argCaps:     r.caps,
	}
	r.caps = nil
	return c
}

// Conn is the connection the call came from; nil for a call made in this
// process.
func (c *Call) Conn() *Conn { return c.conn }

// Args is the params struct. It stays valid until Return.
func (c *Call) Args() capnp.Struct { return c.args }

// ArgCap returns a new reference to the params' capability id (nil for a
// null or missing one). The caller releases it.
func (c *Call) ArgCap(id capnp.CapabilityID) *Client {
	if int(id) >= len(c.argCaps) || c.argCaps[id] == nil {
		return nil
	}
	n := c.argCaps[id]
	n.addRef()
	return &Client{n: n}
}

// ArgPtrCap returns a new reference to the capability that pointer field
// i of s (the params or a struct inside them) points at, or nil.
func (c *Call) ArgPtrCap(s capnp.Struct, i uint16) *Client {
	p, err := s.Ptr(i)
	if err != nil || !p.Interface().IsValid() {
		return nil
	}
	return c.ArgCap(p.Interface().Capability())
}

// ArgPtrCapTo is ArgPtrCap into dst, a Client the caller provides (one
// never used, or released), so that taking the reference allocates
// nothing. It reports false, leaving dst alone, when there is no
// capability.
func (c *Call) ArgPtrCapTo(dst *Client, s capnp.Struct, i uint16) bool {
	p, err := s.Ptr(i)
	if err != nil || !p.Interface().IsValid() {
		return false
	}
	id := p.Interface().Capability()
	if int(id) >= len(c.argCaps) || c.argCaps[id] == nil {
		return false
	}
	n := c.argCaps[id]
	n.addRef()
	dst.n = n
	dst.released.Store(false)
	return true
}

// Context is canceled when the caller no longer waits for the results
// (Finish before Return) or the connection ends.
func (c *Call) Context() context.Context {
	if c.conn == nil {
		return context.Background()
	}
	c.conn.mu.Lock()
	defer c.conn.mu.Unlock()
	if c.ctx == nil {
		c.ctx, c.cancel = context.WithCancel(context.Background())
		if c.conn.closed || c.ans.finished {
			c.cancel()
		}
	}
	return c.ctx
}

// AllocResults makes the results struct, of size sz.
func (c *Call) AllocResults(sz capnp.ObjectSize) (capnp.Struct, error) {
	msg, root, err := newMessage()
	if err != nil {
		return capnp.Struct{}, err
	}
	ret, err := root.NewReturn()
	if err != nil {
		return capnp.Struct{}, fmt.Errorf("new return: %w", err)
	}
	payload, err := ret.NewResults()
	if err != nil {
		return capnp.Struct{}, fmt.Errorf("new results: %w", err)
	}
	s, err := capnp.NewStruct(payload.Segment(), sz)
	if err != nil {
		return capnp.Struct{}, fmt.Errorf("new results: %w", err)
	}
	if err := payload.SetContent(s.ToPtr()); err != nil {
		return capnp.Struct{}, fmt.Errorf("new results: %w", err)
	}
	c.resMsg, c.content, c.results = msg, s.ToPtr(), s
	return s, nil
}

// AddResultCap adds a reference to cl to the results' cap table and
// returns its id (see Request.AddCap).
func (c *Call) AddResultCap(cl *Client) capnp.CapabilityID {
	var n *node
	if cl != nil {
		n = cl.n
		n.addRef()
	}
	c.resCaps = append(c.resCaps, n)
	return capnp.CapabilityID(len(c.resCaps) - 1)
}

// SetResultCap points pointer field i of s (the results or a struct in
// them) at cl; a nil cl leaves it null.
func (c *Call) SetResultCap(s capnp.Struct, i uint16, cl *Client) error {
	if cl == nil {
		return nil
	}
	return s.SetPtr(i, capnp.NewInterface(s.Segment(), c.AddResultCap(cl)).ToPtr())
}

// Return sends the results (err == nil) or err to the caller. Only the
// first Return of a Call counts.
func (c *Call) Return(err error) {
	if c.returned.Swap(true) {
		return
	}
	if err == nil && c.resMsg == nil {
		if _, aerr := c.AllocResults(capnp.ObjectSize{}); aerr != nil {
			err = aerr
		}
	}
	// The params' capabilities go before the results do, so that a
	// caller that has the results sees them released.
	args := c.argCaps
	c.argCaps = nil
	releaseAll(args)
	if c.local != nil {
		if err != nil {
			for _, n := range c.resCaps {
				n.release()
			}
			c.local.completeLocal(nil, capnp.Ptr{}, nil, err)
			return
		}
		caps := c.resCaps
		c.resCaps = nil
		c.local.completeLocal(c.resMsg, c.content, caps, nil)
		return
	}
	c.conn.returnAnswer(c, err)
	if c.msg != nil {
		// The params are done with. The frame's buffer is not reused, so
		// slices a callee kept stay intact; only the arena goes back.
		c.msg.Release()
		c.msg = nil
	}
}

// forwardTo sends a call to a capability of the peer (import or remote
// promise) and returns its results once they are there: the call's
// message goes out again with a new question id, target and cap table.
func (c *Call) forwardTo(conn *Conn, n *node) (bool, []*node, error) {
	// A received frame has no room to grow: the call goes out from a
	// copy with room for the new target and cap table.
	msg, root, err := writableCopy(c.msg, rewriteRoom(n.path, c.argCaps))
	if err != nil {
		return false, nil, fmt.Errorf("forward call: %w", err)
	}
	rcall, err := root.Call()
	if err != nil {
		return false, nil, fmt.Errorf("forward call: %w", err)
	}
	req := &Request{msg: msg, call: rcall, caps: c.argCaps, sent: true, owned: true}
	c.argCaps = nil
	a := &Answer{done: make(chan struct{}), refs: 1}
	a.onDone = func() { c.returnFrom(a) }
	var drop []*node
	flush, err := conn.sendCallLocked(n, req, a, &drop)
	if err != nil {
		c.argCaps, req.caps = req.caps, nil
	}
	return flush, drop, err
}

// returnFrom returns the results of a forwarded call.
func (c *Call) returnFrom(a *Answer) {
	defer a.Release()
	if a.err != nil {
		c.Return(a.err)
		return
	}
	msg, root, err := writableCopy(a.msg, rewriteRoom(nil, a.caps))
	if err != nil {
		c.Return(fmt.Errorf("forward results: %w", err))
		return
	}
	ret, err := root.Return()
	var payload rpccp.Payload
	if err == nil {
		payload, err = ret.Results()
	}
	var content capnp.Ptr
	if err == nil {
		content, err = payload.Content()
	}
	if err != nil {
		c.Return(fmt.Errorf("forward results: %w", err))
		return
	}
	c.resMsg, c.content, c.results = msg, content, content.Struct()
	c.resCaps = make([]*node, len(a.caps))
	for i, n := range a.caps {
		if n != nil {
			n.addRef()
		}
		c.resCaps[i] = n
	}
	c.Return(nil)
}

// rewriteRoom bounds the bytes a forwarded message needs for a new
// target (promisedAnswer with path) and cap table (a receiverAnswer with
// a transform at most per capability).
func rewriteRoom(path []uint16, caps []*node) int {
	room := 64 + 8*len(path)
	for _, n := range caps {
		room += 32
		if n != nil {
			room += 8 * len(n.path)
		}
	}
	return room
}

// writableCopy copies a received message into one that can grow by room
// bytes, and returns its root.
func writableCopy(msg *capnp.Message, room int) (*capnp.Message, rpccp.Message, error) {
	n := msg.NumSegments()
	segs := make([][]byte, n)
	for i := range n {
		seg, err := msg.Segment(capnp.SegmentID(i))
		if err != nil {
			return nil, rpccp.Message{}, err
		}
		d := seg.Data()
		extra := 0
		if i == n-1 {
			extra = (room + 7) &^ 7
		}
		segs[i] = make([]byte, len(d), len(d)+extra)
		copy(segs[i], d)
	}
	out, _, err := capnp.NewMessage(capnp.MultiSegment(segs))
	if err != nil {
		return nil, rpccp.Message{}, err
	}
	root, err := rpccp.ReadRootMessage(out)
	return out, root, err
}

// deliverCall routes an incoming call to where n points now.
func deliverCall(n *node, call *Call) {
	for {
		if n == nil {
			call.Return(fmt.Errorf("%w: call on a null capability", ErrNull))
			return
		}
		c := n.conn
		if c == nil {
			if n.kind == kindError {
				call.Return(n.err)
				return
			}
			dispatch(n.server, call)
			return
		}
		c.mu.Lock()
		if c.closed {
			err := c.err
			c.mu.Unlock()
			call.Return(err)
			return
		}
		switch n.kind {
		case kindResolved:
			if n.holding {
				n.held = append(n.held, call)
				c.mu.Unlock()
				return
			}
			next := n.target
			c.mu.Unlock()
			n = next
			continue
		case kindLocalPromise:
			n.held = append(n.held, call)
			c.mu.Unlock()
			return
		case kindError:
			c.mu.Unlock()
			call.Return(n.err)
			return
		case kindLocal:
			c.mu.Unlock()
			dispatch(n.server, call)
			return
		}
		flush, drop, err := call.forwardTo(c, n)
		c.mu.Unlock()
		c.afterUnlock(flush)
		releaseAll(drop)
		if err != nil {
			call.Return(err)
		}
		return
	}
}

// dispatch hands call to s. A panic in Dispatch fails the call with a
// failed exception naming the method; the goroutine that delivered the
// call (the connection's reader, for a call from the peer) goes on.
func dispatch(s Server, call *Call) {
	defer func() {
		if v := recover(); v != nil {
			call.Return(&Exception{Type: rpccp.Exception_Type_failed,
				Reason: fmt.Sprintf("method %#x.%d panicked: %v", call.InterfaceID, call.MethodID, v)})
		}
	}()
	s.Dispatch(call)
}

// runSafe runs a callback of the caller's (Answer.OnDone,
// Client.OnResolved, a Server's Shutdown). A panic in it is recovered and
// dropped, so that it does not end the goroutine that delivered it, which
// may be a connection's reader.
func runSafe(f func()) {
	defer func() { _ = recover() }()
	f()
}

func releaseAll(ns []*node) {
	for _, n := range ns {
		n.release()
	}
}

// ErrNull is the class of errors of calls on the null capability.
var ErrNull = errors.New("null capability")

// ErrLimit is the class of errors of a peer that went past one of the
// Limits that end the connection.
var ErrLimit = errors.New("over a connection limit")

// ErrProtocol is the class of errors of a peer that broke the protocol;
// the connection is aborted.
var ErrProtocol = errors.New("protocol error")

// Exception is an error that travels as a Cap'n Proto exception.
type Exception struct {
	Type   rpccp.Exception_Type
	Reason string
	cause  error
}

func (e *Exception) Error() string { return e.Reason }

// Unwrap returns the local cause, if any (a connection's read error).
func (e *Exception) Unwrap() error { return e.cause }

// ErrDisconnected matches (errors.Is) the errors of calls that failed
// because the connection ended.
var ErrDisconnected = errors.New("disconnected")

// Is makes errors.Is(err, ErrDisconnected) hold for disconnected
// exceptions.
func (e *Exception) Is(target error) bool {
	return target == ErrDisconnected && e.Type == rpccp.Exception_Type_disconnected
}

func setException(ex rpccp.Exception, err error) {
	var e *Exception
	if errors.As(err, &e) {
		ex.SetType(e.Type)
	} else {
		ex.SetType(rpccp.Exception_Type_failed)
	}
	ex.SetReason(err.Error())
}

func readException(ex rpccp.Exception) *Exception {
	reason, _ := ex.Reason()
	return &Exception{Type: ex.Type(), Reason: reason}
}
