package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

// nodeKind is what a capability node stands for.
type nodeKind uint8

const (
	kindLocal         nodeKind = iota // a Server in this process
	kindImport                        // exported by the peer (importID)
	kindRemotePromise                 // a result of one of our unreturned questions (q, path)
	kindLocalPromise                  // a result of one of our unreturned answers (ans, path)
	kindResolved                      // a promise that resolved to target
	kindError                         // broken: calls fail with err
)

// node is one capability. A node of a connection (conn != nil) changes
// only under conn.mu; a local node (conn == nil) never changes but for
// its reference count.
type node struct {
	conn *Conn
	refs int32 // handles and holders; atomic for local nodes, else under conn.mu
	kind nodeKind

	server Server // kindLocal

	importID uint32 // kindImport

	q    *Answer  // kindRemotePromise
	ans  *answer  // kindLocalPromise
	path []uint16 // kindRemotePromise, kindLocalPromise

	target *node // kindResolved: holds one reference
	err    error // kindError

	imported bool    // has an entry in conn.imports (Release when dropped)
	called   bool    // a call went to the promise before it resolved
	holding  bool    // calls wait in held (a local promise, an embargo, a drain)
	held     []*Call // calls waiting, in order
	waiters  []func()
	exported bool // exported to the peer as a senderPromise: resolving it sends Resolve
	// echoes are senderLoopback Disembargo echoes that arrived while the
	// calls held here were still being delivered: they go out after them.
	echoes []*capnp.Message
}

// Client is one reference to a capability: the peer's (imported), one in
// this process (NewLocal), or a promise for one (a pipelined result). A
// nil *Client is the null capability. Each Client is released once; the
// capability lives while any reference does.
type Client struct {
	n        *node
	released atomic.Bool
}

// NewLocal makes a capability of s. When its last reference goes and s
// has a Shutdown() method, Shutdown is called.
func NewLocal(s Server) *Client {
	return &Client{n: &node{kind: kindLocal, server: s, refs: 1}}
}

// ErrorClient is a capability whose calls fail with err.
func ErrorClient(err error) *Client {
	return &Client{n: &node{kind: kindError, err: err, refs: 1}}
}

func (n *node) addRef() {
	if n.conn == nil {
		atomic.AddInt32(&n.refs, 1)
		return
	}
	n.conn.mu.Lock()
	n.refs++
	n.conn.mu.Unlock()
}

// release drops one reference.
func (n *node) release() {
	if n == nil {
		return
	}
	if n.conn == nil {
		if atomic.AddInt32(&n.refs, -1) == 0 {
			if s, ok := n.server.(interface{ Shutdown() }); ok {
				runSafe(s.Shutdown)
			}
		}
		return
	}
	c := n.conn
	c.mu.Lock()
	var drop []*node
	flush := c.releaseLocked(n, &drop)
	c.mu.Unlock()
	c.afterUnlock(flush)
	for _, d := range drop {
		d.release()
	}
	c.changed()
}

// AddRef returns a new reference to the same capability.
func (c *Client) AddRef() *Client {
	if c == nil {
		return nil
	}
	c.n.addRef()
	return &Client{n: c.n}
}

// Release drops this reference. Later calls of Release do nothing.
func (c *Client) Release() {
	if c == nil || c.released.Swap(true) {
		return
	}
	c.n.release()
}

// final follows resolved promises to the node calls go to now.
func (n *node) final() *node {
	for n != nil {
		if n.conn == nil {
			p, ok := n.server.(*pipe)
			if !ok {
				return n
			}
			t, ok := p.next(nil)
			if !ok {
				return n
			}
			n = t
			continue
		}
		c := n.conn
		c.mu.Lock()
		if n.kind != kindResolved {
			c.mu.Unlock()
			return n
		}
		next := n.target
		c.mu.Unlock()
		n = next
	}
	return n
}

// Server returns the local object behind c once c is resolved to a
// capability of this process, or nil. A libmultiprocess server uses it to
// find the Thread a context names.
func (c *Client) Server() Server {
	if c == nil {
		return nil
	}
	// Only a node of no connection can be local, and only its kind is
	// fixed: a connection's node changes under its lock.
	if n := c.n.final(); n != nil && n.conn == nil && n.kind == kindLocal {
		if _, ok := n.server.(*pipe); ok {
			return nil // not resolved yet
		}
		return n.server
	}
	return nil
}

// Conn is the connection c's capability lives on, following resolved
// promises; nil for a capability of this process (or a local promise).
func (c *Client) Conn() *Conn {
	if c == nil {
		return nil
	}
	if n := c.n.final(); n != nil {
		return n.conn
	}
	return nil
}

// IsPromise reports whether c is a promise that has not resolved yet.
func (c *Client) IsPromise() bool {
	if c == nil {
		return false
	}
	for n := c.n; n != nil; {
		if n.conn == nil {
			p, ok := n.server.(*pipe)
			if !ok {
				return false
			}
			t, ok := p.next(nil)
			if !ok {
				return true
			}
			n = t
			continue
		}
		conn := n.conn
		conn.mu.Lock()
		if n.kind == kindResolved {
			next := n.target
			conn.mu.Unlock()
			n = next
			continue
		}
		p := !conn.closed && promiseKind(n)
		conn.mu.Unlock()
		return p
	}
	return false
}

// promiseKind reports whether n (of a connection, whose lock is held) is
// an unresolved promise.
func promiseKind(n *node) bool {
	switch n.kind {
	case kindRemotePromise, kindLocalPromise:
		return true
	case kindImport:
		e := n.conn.imports[n.importID]
		return e != nil && e.n == n && e.promise
	}
	return false
}

// OnResolved calls f once c is no longer a promise: at once (in this
// goroutine) if it is not one, else from the goroutine that resolves it.
// f must not block.
func (c *Client) OnResolved(f func()) {
	n := c.n
	for n != nil {
		if n.conn == nil {
			p, ok := n.server.(*pipe)
			if !ok {
				break
			}
			t, ok := p.next(func() { c.OnResolved(f) })
			if !ok {
				return
			}
			n = t
			continue
		}
		conn := n.conn
		conn.mu.Lock()
		if n.kind == kindResolved {
			next := n.target
			conn.mu.Unlock()
			n = next
			continue
		}
		if !conn.closed && promiseKind(n) {
			n.waiters = append(n.waiters, func() { c.OnResolved(f) })
			conn.mu.Unlock()
			return
		}
		conn.mu.Unlock()
		break
	}
	f()
}

// Request is an outgoing call whose params the caller fills before Send.
type Request struct {
	target *node
	msg    *capnp.Message
	call   rpccp.Call
	params capnp.Struct
	caps   []*node  // the params' cap table; each holds a reference
	capBuf [2]*node // room for caps (a context's thread and callbackThread)
	sent   bool
	owned  bool // msg is the Request's own (not a received call forwarded)
}

// NewRequest starts a call of method on interfaceID with params of size sz.
func (c *Client) NewRequest(interfaceID uint64, method uint16, sz capnp.ObjectSize) (*Request, error) {
	msg, root, err := newMessage()
	if err != nil {
		return nil, err
	}
	call, err := root.NewCall()
	if err != nil {
		return nil, fmt.Errorf("new call: %w", err)
	}
	call.SetInterfaceId(interfaceID)
	call.SetMethodId(method)
	payload, err := call.NewParams()
	if err != nil {
		return nil, fmt.Errorf("new params: %w", err)
	}
	params, err := capnp.NewStruct(payload.Segment(), sz)
	if err != nil {
		return nil, fmt.Errorf("new params: %w", err)
	}
	if err := payload.SetContent(params.ToPtr()); err != nil {
		return nil, fmt.Errorf("new params: %w", err)
	}
	var n *node
	if c != nil {
		n = c.n
		n.addRef()
	}
	r := &Request{target: n, msg: msg, call: call, params: params, owned: true}
	r.caps = r.capBuf[:0]
	return r, nil
}

// Params is the params struct to fill.
func (r *Request) Params() capnp.Struct { return r.params }

// AddCap adds a reference to cl to the params' cap table and returns the
// id to point at with capnp.NewInterface. The caller keeps its own
// reference. A nil cl gets an entry that reads as the null capability.
func (r *Request) AddCap(cl *Client) capnp.CapabilityID {
	var n *node
	if cl != nil {
		n = cl.n
		n.addRef()
	}
	r.caps = append(r.caps, n)
	return capnp.CapabilityID(len(r.caps) - 1)
}

// SetCap points pointer field i of s at cl (see AddCap); a nil cl leaves
// the field null.
func (r *Request) SetCap(s capnp.Struct, i uint16, cl *Client) error {
	if cl == nil {
		return nil
	}
	return s.SetPtr(i, capnp.NewInterface(r.params.Segment(), r.AddCap(cl)).ToPtr())
}

// Send sends the call. The Request must not be used afterwards. The
// Answer must be released.
func (r *Request) Send() *Answer { return r.SendContext(context.Background()) }

// SendContext is Send, except that while the call waits for room in its
// connection's send queue (the peer reads too slowly, Limits.MaxQueuedBytes)
// it gives up when ctx ends: the call is not sent and its Answer fails
// with ctx's error.
func (r *Request) SendContext(ctx context.Context) *Answer {
	a := &Answer{done: make(chan struct{}), refs: 1}
	r.sent = true
	target := r.target
	r.target = nil
	deliverRequest(ctx, target, r, a)
	target.release()
	return a
}

// release drops the request's references (when it was never sent, or
// once its message no longer goes out).
func (r *Request) release() {
	for _, n := range r.caps {
		n.release()
	}
	r.caps = nil
	if !r.sent {
		r.target.release()
		r.target = nil
	}
}

// Discard drops a request that will not be sent.
func (r *Request) Discard() { r.release() }

// Answer is the result of a call: a question to the peer or a call on a
// local capability.
type Answer struct {
	conn *Conn  // nil for a local call
	id   uint32 // question id, when conn != nil
	done chan struct{}

	// Under conn.mu (or set once before done is closed, for local calls):
	returned   bool
	finishSent bool
	refs       int  // the caller's reference plus unresolved pipelined promises
	released   bool // the caller released the Answer
	pipes      []*node
	onDone     func()

	// Set before done is closed:
	msg     *capnp.Message
	content capnp.Ptr
	results capnp.Struct
	caps    []*node // result cap table; the Answer holds a reference to each
	err     error
	// received: the results were read from the peer (see Received).
	received bool

	localMu     sync.Mutex // guards returned and onDone of a local call
	releaseOnce sync.Once
}

// Done is closed once the results or the error are there.
func (a *Answer) Done() <-chan struct{} { return a.done }

// Wait waits for the results until ctx ends. The results stay valid until
// the Answer is released.
func (a *Answer) Wait(ctx context.Context) (capnp.Struct, error) {
	select {
	case <-a.done:
		return a.results, a.err
	default:
	}
	select {
	case <-a.done:
		return a.results, a.err
	case <-ctx.Done():
		return capnp.Struct{}, ctx.Err()
	}
}

// Received reports whether the results were read from the peer: then
// they live in a frame buffer of their own that nothing reuses, so slices
// of their data stay valid after Release. Results of a call in this
// process live in a message that is reused. Call it only after Done is
// closed.
func (a *Answer) Received() bool { return a.received }

// Results returns the results; call it only after Done is closed.
func (a *Answer) Results() (capnp.Struct, error) { return a.results, a.err }

// OnDone calls f once the Answer is done: at once if it is, else from
// the goroutine that completes it (the connection's reader for a remote
// call). f must not block.
func (a *Answer) OnDone(f func()) {
	if a.conn == nil {
		select {
		case <-a.done:
			f()
		default:
			a.onDoneLocal(f)
		}
		return
	}
	a.conn.mu.Lock()
	if a.returned {
		a.conn.mu.Unlock()
		f()
		return
	}
	prev := a.onDone
	if prev == nil {
		a.onDone = f
	} else {
		a.onDone = func() { prev(); f() }
	}
	a.conn.mu.Unlock()
}

func (a *Answer) onDoneLocal(f func()) {
	a.localMu.Lock()
	if a.returned {
		a.localMu.Unlock()
		f()
		return
	}
	prev := a.onDone
	if prev == nil {
		a.onDone = f
	} else {
		a.onDone = func() { prev(); f() }
	}
	a.localMu.Unlock()
}

// Cap returns the result capability with id as a new reference (nil if
// there is none or the call failed).
func (a *Answer) Cap(id capnp.CapabilityID) *Client {
	<-a.done
	if a.err != nil || int(id) >= len(a.caps) || a.caps[id] == nil {
		return nil
	}
	n := a.caps[id]
	n.addRef()
	return &Client{n: n}
}

// PtrCap returns the capability that pointer field i of the results
// points at, as a new reference; the Answer must be done.
func (a *Answer) PtrCap(i uint16) *Client {
	<-a.done
	if a.err != nil {
		return ErrorClient(a.err)
	}
	p, err := a.results.Ptr(i)
	if err != nil || !p.Interface().IsValid() {
		return nil
	}
	return a.Cap(p.Interface().Capability())
}

// Pipeline returns the capability at path (pointer field indexes from the
// results struct) as a new reference, before the results are there: calls
// on it go to the peer at once, as calls on the promised answer. For a
// call to a local capability that has not returned, the calls are queued
// and delivered, in order, when it returns.
func (a *Answer) Pipeline(path ...uint16) *Client {
	if a.conn == nil {
		select {
		case <-a.done:
		default:
			return newPipe(a, slices.Clone(path))
		}
	}
	if a.conn != nil {
		c := a.conn
		c.mu.Lock()
		if !a.returned && !c.closed {
			n := &node{conn: c, refs: 1, kind: kindRemotePromise, q: a, path: slices.Clone(path)}
			a.pipes = append(a.pipes, n)
			a.refs++
			c.mu.Unlock()
			return &Client{n: n}
		}
		c.mu.Unlock()
	}
	<-a.done
	if a.err != nil {
		return ErrorClient(a.err)
	}
	n, err := capAt(a.content, a.caps, path)
	if err != nil {
		return ErrorClient(err)
	}
	if n == nil {
		return nil
	}
	n.addRef()
	return &Client{n: n}
}

// Release drops the results and their capabilities; if they are not
// there yet and no pipelined promise needs them, the call is canceled
// (Finish).
func (a *Answer) Release() {
	a.releaseOnce.Do(func() {
		if a.conn == nil {
			select {
			case <-a.done:
				for _, n := range a.caps {
					n.release()
				}
			default:
				// A local call still running: its result caps are dropped when
				// it completes.
				a.onDoneLocal(func() {
					for _, n := range a.caps {
						n.release()
					}
				})
			}
			return
		}
		c := a.conn
		c.mu.Lock()
		var drop []*node
		a.released = true
		flush := c.dropQuestionRefLocked(a)
		var msg *capnp.Message
		if a.returned {
			drop = append(drop, a.caps...)
			a.caps = nil
			msg, a.msg = a.msg, nil
		}
		c.mu.Unlock()
		if msg != nil {
			// The frame's buffer is not reused: results a caller kept stay
			// intact; only the arena goes back.
			msg.Release()
		}
		c.afterUnlock(flush)
		for _, n := range drop {
			n.release()
		}
	})
}

// complete finishes a local call's Answer.
func (a *Answer) completeLocal(msg *capnp.Message, content capnp.Ptr, caps []*node, err error) {
	a.msg, a.content, a.results, a.caps, a.err = msg, content, content.Struct(), caps, err
	a.localMu.Lock()
	a.returned = true
	f := a.onDone
	a.onDone = nil
	a.localMu.Unlock()
	close(a.done)
	if f != nil {
		runSafe(f)
	}
}

// capAt follows path (pointer fields) from s to an interface pointer and
// returns the node of caps it names (nil for a null pointer).
func capAt(p capnp.Ptr, caps []*node, path []uint16) (*node, error) {
	for _, i := range path {
		st := p.Struct()
		if !st.IsValid() {
			return nil, nil
		}
		var err error
		if p, err = st.Ptr(i); err != nil {
			return nil, fmt.Errorf("pipelined field: %w", err)
		}
	}
	if !p.IsValid() {
		return nil, nil
	}
	iface := p.Interface()
	if !iface.IsValid() {
		return nil, fmt.Errorf("pipelined field is not a capability")
	}
	id := iface.Capability()
	if int(id) >= len(caps) {
		return nil, fmt.Errorf("capability %d not in the cap table (%d)", id, len(caps))
	}
	return caps[id], nil
}

// frameSize is about the bytes msg's frame takes in the send queue.
func frameSize(msg *capnp.Message) int {
	n, err := msg.TotalSize()
	if err != nil {
		return 0
	}
	return int(n) + 8*int(msg.NumSegments())
}

// deliverRequest routes an outgoing call to where n points now.
func deliverRequest(ctx context.Context, n *node, r *Request, a *Answer) {
	for {
		if n == nil {
			r.release()
			a.fail(fmt.Errorf("%w: call on a null capability", ErrNull))
			return
		}
		c := n.conn
		if c == nil {
			if n.kind == kindError {
				r.release()
				a.fail(n.err)
				return
			}
			dispatch(n.server, localCall(r, a))
			return
		}
		if err := c.w.waitRoom(ctx, frameSize(r.msg)); err != nil {
			r.release()
			if errors.Is(err, ErrSendQueue) {
				c.shutdown(err)
				err = c.Err()
			}
			a.fail(err)
			return
		}
		c.mu.Lock()
		if c.closed {
			err := c.err
			c.mu.Unlock()
			r.release()
			a.fail(err)
			return
		}
		switch n.kind {
		case kindResolved:
			if n.holding {
				n.held = append(n.held, localCall(r, a))
				c.mu.Unlock()
				return
			}
			next := n.target
			c.mu.Unlock()
			n = next
			continue
		case kindLocalPromise:
			n.held = append(n.held, localCall(r, a))
			c.mu.Unlock()
			return
		case kindError:
			c.mu.Unlock()
			r.release()
			a.fail(n.err)
			return
		case kindLocal:
			c.mu.Unlock()
			dispatch(n.server, localCall(r, a))
			return
		}
		var drop []*node
		flush, err := c.sendCallLocked(n, r, a, &drop)
		c.mu.Unlock()
		c.afterUnlock(flush)
		releaseAll(drop)
		if err != nil {
			r.release()
			a.fail(err)
		}
		return
	}
}

// fail completes an Answer that never became a question with err.
func (a *Answer) fail(err error) {
	a.completeLocal(nil, capnp.Ptr{}, nil, err)
}
