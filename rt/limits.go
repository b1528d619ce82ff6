package rt

// Resource limits that keep a hostile or stalled peer from exhausting this
// process (see SECURITY.md). Each connection's transport goes through a
// limitCodec, which bounds what go-capnp would otherwise keep without
// limit:
//
//   - the outgoing queue: go-capnp queues every message it sends on an
//     unbounded queue and writes it from one goroutine; when the peer stops
//     reading, that queue grows for as long as we keep producing (calls
//     retried after a timeout, answers to a peer that floods calls). The
//     codec takes each message off go-capnp's queue at once (a direct,
//     non-blocking write when the socket has room, else a copy into its own
//     queue drained by a writer goroutine) and closes the connection when
//     more than WithSendQueueLimit bytes are waiting: every pending call
//     then fails with ErrDisconnected instead of memory growing.
//   - the answer table: go-capnp keeps each incoming call, and then its
//     result message, until the peer sends Finish. The codec tracks the
//     question IDs the peer has open and the size of the results we
//     returned for them, and aborts the connection when a peer keeps more
//     than WithMaxOpenCalls of them, or more than that many bytes of
//     results, unfinished.
//   - incoming messages: their size, traversal and nesting depth are
//     checked against WithReadLimits (Cap'n Proto's defaults).
//
// The codec also refuses, by aborting the connection, the messages that
// crash or deadlock go-capnp v3.1.0-alpha.2 (found by FuzzRawFrames and
// FuzzRawReplies; see checkCall, checkCapRefs, askedQuestions): a message
// without a struct body, a call targeting its own answer, calls pipelined
// on unresolved results other than rt's own construct and makeThread, an
// unresolved result referred to twice, a capability referring to an
// unknown answer, and Returns for questions not asked or already
// answered. libmultiprocess and rt peers send none of these.
//
// And ServerBase.Handle refuses more than WithMaxInFlight calls being
// served at once on one connection, with an overloaded exception.
//
// go-capnp's own per-capability flow control (Client.SetFlowLimiter) is
// deliberately not used: it accounts a message only after queueing it, so
// it bounds neither many concurrent callers nor calls abandoned through
// their context, and flowcontrol.NewFixedLimiter panics on a message
// larger than its budget (a 4 MB block would crash the caller).

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/exc"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/mp"
)

// Default limits. The read limits are Cap'n Proto's own (C++ and go-capnp).
const (
	DefaultMaxInFlight       = 1024
	DefaultSendQueueLimit    = 64 << 20
	DefaultMaxOpenCalls      = 1 << 16
	DefaultMaxOpenCallBytes  = 256 << 20
	DefaultMaxMessageSize    = 64 << 20
	DefaultTraversalLimit    = 64 << 20
	DefaultNestingDepthLimit = 64
)

type limits struct {
	maxInFlight    int
	sendQueue      int64
	openCalls      int
	openCallBytes  int64
	maxMessageSize uint64
	traversal      uint64
	depth          uint
}

func defaultLimits() limits {
	return limits{
		maxInFlight:    DefaultMaxInFlight,
		sendQueue:      DefaultSendQueueLimit,
		openCalls:      DefaultMaxOpenCalls,
		openCallBytes:  DefaultMaxOpenCallBytes,
		maxMessageSize: DefaultMaxMessageSize,
		traversal:      DefaultTraversalLimit,
		depth:          DefaultNestingDepthLimit,
	}
}

// WithMaxInFlight bounds the incoming calls this side serves at once on
// the connection (running, or queued on one of its Threads; default
// 1024). Further calls fail at once with an overloaded exception.
// n <= 0 means no limit.
func WithMaxInFlight(n int) Option { return func(o *options) { o.limits.maxInFlight = n } }

// WithSendQueueLimit bounds the bytes of outgoing messages waiting for
// the peer to read them (default 64 MiB). A message is always accepted
// when nothing is waiting; beyond the limit the peer is taken as stalled
// and the connection is closed (pending calls fail with ErrDisconnected).
func WithSendQueueLimit(bytes int64) Option {
	return func(o *options) { o.limits.sendQueue = bytes }
}

// WithMaxOpenCalls bounds the calls the peer may keep open on this side:
// received and not yet finished by the peer (libmultiprocess and
// go-capnp peers finish each call shortly after its answer arrives), and
// the total size of the results kept for them until they are finished
// (defaults 65536 calls and 256 MiB). A peer over either limit has the
// connection aborted.
func WithMaxOpenCalls(calls int, resultBytes int64) Option {
	return func(o *options) { o.limits.openCalls, o.limits.openCallBytes = calls, resultBytes }
}

// WithReadLimits sets the limits for each incoming message: its size, the
// bytes a reader may traverse in it and how deeply its pointers may nest
// (defaults 64 MiB, 64 MiB and 64, as in Cap'n Proto). A message over the
// size limit aborts the connection; reading past the traversal or depth
// limit fails the call that reads it, or aborts the connection when the
// message's own header (its kind, a pipelined call's target) is out of
// reach. Zero keeps a default.
func WithReadLimits(maxMessageSize, traversal uint64, depth uint) Option {
	return func(o *options) {
		if maxMessageSize > 0 {
			o.limits.maxMessageSize = maxMessageSize
		}
		if traversal > 0 {
			o.limits.traversal = traversal
		}
		if depth > 0 {
			o.limits.depth = depth
		}
	}
}

// ---- in-flight calls ----

// enterCall counts an incoming call being served; false when the
// connection is at its limit.
func (c *Conn) enterCall() bool {
	n := c.inFlight.Add(1)
	if max := c.opts.limits.maxInFlight; max > 0 && n > int64(max) {
		c.inFlight.Add(-1)
		return false
	}
	return true
}

func (c *Conn) exitCall() { c.inFlight.Add(-1) }

func (c *Conn) overloadedText() string {
	return fmt.Sprintf("too many calls in flight on this connection (limit %d)", c.opts.limits.maxInFlight)
}

// fromCapnp is exception.FromCapnp, except that a call go-capnp could not
// send because the peer is gone (it reports any send error as failed, and
// as if the peer had raised it) is disconnected.
func (c *Conn) fromCapnp(err error, iface, method string) error {
	err = exception.FromCapnp(err, iface, method)
	if err == nil || errors.Is(err, exception.ErrDisconnected) {
		return err
	}
	var e *exception.Error
	if !errors.As(err, &e) {
		return err
	}
	gone := false
	// A send aborted at shutdown: a disconnected exception inside the
	// failed one go-capnp wraps it in.
	for u := errors.Unwrap(error(e)); u != nil; u = errors.Unwrap(u) {
		if ce, ok := u.(*exc.Exception); ok && ce.Type == exc.Disconnected {
			gone = true
		}
	}
	// A write that failed because the peer is gone.
	if c.codec.writeFailed() && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, errSendQueueFull)) {
		gone = true
	}
	if !gone {
		return err
	}
	return exception.New(exception.Disconnected, iface, method, "connection closed: "+e.Description)
}

// ---- transport ----

// nonBlockingWriter returns a function that writes bufs without blocking
// (the bytes written, 0 when the peer's buffer is full), or nil when rwc
// does not support it; limits_linux.go provides it for sockets.
var nonBlockingWriter = func(io.ReadWriteCloser) func([][]byte) (int, error) { return nil }

var errSendQueueFull = errors.New("ipc: peer is not reading: send queue limit exceeded, connection closed")

// limitCodec is the rpc transport codec of a connection: Cap'n Proto's
// stream framing (as rpc.NewStreamTransport) with the limits above.
type limitCodec struct {
	rwc   io.ReadWriteCloser
	dec   *capnp.Decoder
	lim   limits
	log   func(msg string, args ...any)
	try   func(bufs [][]byte) (int, error) // non-blocking write; nil if unsupported
	open  openCalls
	asked askedQuestions

	initID uint64 // the bootstrap interface, whose method 0 is construct

	mu      sync.Mutex
	queue   [][]byte // waiting for the writer, in order
	queued  int64    // bytes in queue
	writing bool     // a direct write or the writer goroutine owns rwc's write side
	err     error    // sticky write error; set, nothing more is sent

	closeOnce sync.Once
	closeErr  error
	maxQueued atomic.Int64 // high-water mark of queued, for tests

	// readDone is closed once no more messages will be read: Decode
	// failed (EOF, a limit) or the codec was closed (see callNested).
	readDone chan struct{}
	readOnce sync.Once
}

func newLimitCodec(rwc io.ReadWriteCloser, o *options, log func(string, ...any)) *limitCodec {
	dec := capnp.NewDecoder(rwc)
	dec.MaxMessageSize = o.limits.maxMessageSize
	return &limitCodec{
		rwc:    rwc,
		dec:    dec,
		lim:    o.limits,
		log:    log,
		try:    nonBlockingWriter(rwc),
		open:   openCalls{ids: make(map[uint32]openCall)},
		initID: o.initID,

		readDone: make(chan struct{}),
	}
}

// Decode reads the next message, applies the read limits to it and
// accounts the calls the peer opens and finishes.
func (lc *limitCodec) Decode() (*capnp.Message, error) {
	msg, err := lc.dec.Decode()
	if err != nil {
		lc.stopReading()
		return nil, err
	}
	msg.TraverseLimit = lc.lim.traversal
	msg.DepthLimit = lc.lim.depth
	if err := lc.account(msg); err != nil {
		msg.Release()
		lc.stopReading()
		return nil, err
	}
	return msg, nil
}

// writeFailed reports whether a write failed, or the codec was closed.
func (lc *limitCodec) writeFailed() bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.err != nil
}

func (lc *limitCodec) stopReading() { lc.readOnce.Do(func() { close(lc.readDone) }) }

// askedQuestions are the questions we asked, until the peer returned
// them and we finished them. go-capnp v3.1.0-alpha.2 panics (resolving a
// promise twice) on a Return for a question it has not sent yet, or on a
// second Return, so such Returns abort the connection instead.
type askedQuestions struct {
	mu sync.Mutex
	qs map[uint32]uint8 // bits: askedReturned, askedFinished
}

const (
	askedReturned = 1 << iota
	askedFinished
)

func (a *askedQuestions) ask(q uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.qs == nil {
		a.qs = make(map[uint32]uint8)
	}
	a.qs[q] = 0
}

func (a *askedQuestions) finish(q uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st, ok := a.qs[q]; ok {
		if st&askedReturned != 0 {
			delete(a.qs, q)
		} else {
			a.qs[q] = st | askedFinished
		}
	}
}

func (a *askedQuestions) returned(q uint32) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.qs[q]
	switch {
	case !ok:
		return fmt.Errorf("ipc: protocol violation: Return for question %d, which was not asked", q)
	case st&askedReturned != 0:
		return fmt.Errorf("ipc: protocol violation: second Return for question %d", q)
	case st&askedFinished != 0:
		delete(a.qs, q)
	default:
		a.qs[q] = st | askedReturned
	}
	return nil
}

// openCalls are the questions the peer has open on us: what each one
// called, and the size of the result we sent for it (0 until then).
type openCalls struct {
	mu    sync.Mutex
	ids   map[uint32]openCall
	bytes int64
	boot  map[uint32]bool // export IDs we answered bootstrap with
	tmaps map[uint32]bool // export IDs we answered construct with (ThreadMaps)
}

type openCall struct {
	kind     callKind
	bytes    int64
	returned bool            // we sent its Return: its result has resolved
	refs     map[string]bool // pipelined capabilities the peer referenced (receiverAnswer)
}

// callKind is what an open question called, as far as pipelining goes.
type callKind uint8

const (
	callOther      callKind = iota
	callBootstrap           // answered at once with the bootstrap capability
	callConstruct           // method 0 of the bootstrap: result 0 is our ThreadMap
	callMakeThread          // ThreadMap.makeThread: result 0 is a Thread
)

// callKindOf classifies a call by its target and method. rt serves
// Init.construct (method 0 of the bootstrap) and ThreadMap.makeThread,
// and always answers them with a capability in field 0, or fails them.
func (lc *limitCodec) callKindOf(call rpccp.Call) callKind {
	tgt, err := call.Target()
	if err != nil || call.MethodId() != 0 {
		return callOther
	}
	makeThread := call.InterfaceId() == mp.ThreadMap_TypeID
	o := &lc.open
	o.mu.Lock()
	defer o.mu.Unlock()
	switch tgt.Which() {
	case rpccp.MessageTarget_Which_importedCap:
		// Export IDs are reused once released: the interface must match
		// too (an rt bootstrap is an Init unless WithInitInterfaceID).
		switch id := tgt.ImportedCap(); {
		case o.boot[id] && call.InterfaceId() == lc.initID:
			return callConstruct
		case o.tmaps[id] && makeThread:
			return callMakeThread
		}
	case rpccp.MessageTarget_Which_promisedAnswer:
		pa, err := tgt.PromisedAnswer()
		if err != nil {
			return callOther
		}
		t, ok := o.ids[pa.QuestionId()]
		path, ok2 := pipelinePath(pa)
		switch {
		case !ok || !ok2:
		case t.kind == callBootstrap && len(path) == 0:
			return callConstruct
		case t.kind == callConstruct && len(path) == 1 && path[0] == 0 && makeThread:
			return callMakeThread
		}
	}
	return callOther
}

// pipelinePath is the pointer path of a promised answer target.
func pipelinePath(pa rpccp.PromisedAnswer) ([]uint16, bool) {
	ops, err := pa.Transform()
	if err != nil {
		return nil, false
	}
	var path []uint16
	for i := 0; i < ops.Len(); i++ {
		switch op := ops.At(i); op.Which() {
		case rpccp.PromisedAnswer_Op_Which_noop:
		case rpccp.PromisedAnswer_Op_Which_getPointerField:
			path = append(path, op.GetPointerField())
		default:
			return nil, false
		}
	}
	return path, true
}

func (lc *limitCodec) account(msg *capnp.Message) error {
	m, err := rpccp.ReadRootMessage(msg)
	if err != nil {
		return nil // go-capnp reports it
	}
	switch m.Which() {
	case rpccp.Message_Which_unimplemented, rpccp.Message_Which_abort,
		rpccp.Message_Which_bootstrap, rpccp.Message_Which_call, rpccp.Message_Which_return,
		rpccp.Message_Which_finish, rpccp.Message_Which_resolve, rpccp.Message_Which_release,
		rpccp.Message_Which_disembargo:
	default:
		// Level 2-4 and unknown kinds, which no two-party peer sends:
		// go-capnp would copy the whole message back as "unimplemented".
		return fmt.Errorf("ipc: protocol violation: unsupported message kind %v", m.Which())
	}
	body, err := capnp.Struct(m).Ptr(0)
	if err != nil {
		// Out of the read limits: even the header is unreadable.
		return fmt.Errorf("ipc: reading a %v message: %w", m.Which(), err)
	}
	if !body.Struct().IsValid() {
		// Every message kind has a struct body; go-capnp dereferences a
		// missing one (a Return without it crashes the process).
		return fmt.Errorf("ipc: protocol violation: %v message without a struct body", m.Which())
	}
	var (
		id   uint32
		kind callKind
	)
	switch m.Which() {
	case rpccp.Message_Which_call:
		call, err := m.Call()
		if err != nil {
			return nil
		}
		id = call.QuestionId()
		if err := lc.checkCall(call); err != nil {
			return err
		}
		if p, err := call.Params(); err == nil {
			if err := lc.checkCapTable(p); err != nil {
				return err
			}
		}
		kind = lc.callKindOf(call)
	case rpccp.Message_Which_return:
		r, err := m.Return()
		if err != nil {
			return nil
		}
		if err := lc.asked.returned(r.AnswerId()); err != nil {
			return err
		}
		if r.Which() == rpccp.Return_Which_results {
			if p, err := r.Results(); err == nil {
				return lc.checkCapTable(p)
			}
		}
		return nil
	case rpccp.Message_Which_resolve:
		if r, err := m.Resolve(); err == nil && r.Which() == rpccp.Resolve_Which_cap {
			if d, err := r.Cap(); err == nil {
				return lc.checkCapRefs([]rpccp.CapDescriptor{d})
			}
		}
		return nil
	case rpccp.Message_Which_bootstrap:
		b, err := m.Bootstrap()
		if err != nil {
			return nil
		}
		id, kind = b.QuestionId(), callBootstrap
	case rpccp.Message_Which_finish:
		f, err := m.Finish()
		if err != nil {
			return nil
		}
		o := &lc.open
		o.mu.Lock()
		if c, ok := o.ids[f.QuestionId()]; ok {
			// (dropping c.refs with it)
			o.bytes -= c.bytes
			delete(o.ids, f.QuestionId())
		}
		o.mu.Unlock()
		return nil
	default:
		return nil
	}
	o := &lc.open
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, dup := o.ids[id]; !dup { // a duplicate is go-capnp's to refuse
		o.ids[id] = openCall{kind: kind}
	}
	if max := lc.lim.openCalls; max > 0 && len(o.ids) > max {
		return fmt.Errorf("ipc: peer keeps more than %d calls unfinished (limit exceeded)", max)
	}
	if max := lc.lim.openCallBytes; max > 0 && o.bytes > max {
		return fmt.Errorf("ipc: peer keeps %d bytes of results unfinished (limit %d)", o.bytes, max)
	}
	return nil
}

// checkCapTable applies checkCapRefs to a payload's capabilities.
func (lc *limitCodec) checkCapTable(p rpccp.Payload) error {
	caps, err := p.CapTable()
	if err != nil || caps.Len() == 0 {
		return nil
	}
	ds := make([]rpccp.CapDescriptor, caps.Len())
	for i := range ds {
		ds[i] = caps.At(i)
	}
	return lc.checkCapRefs(ds)
}

// checkCapRefs refuses a capability that refers to a still unresolved
// result of ours (receiverAnswer) a second time, by the same path: go-capnp
// v3.1.0-alpha.2 then returns from Future.Client with the promise's mutex
// still held, and the next Return on the connection deadlocks it for good
// (its goroutines, its objects, and Close with them). libmultiprocess and
// rt clients refer to a pipelined Thread once; once we have sent the
// result, further references are safe.
func (lc *limitCodec) checkCapRefs(ds []rpccp.CapDescriptor) error {
	o := &lc.open
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, d := range ds {
		if d.Which() != rpccp.CapDescriptor_Which_receiverAnswer {
			continue
		}
		pa, err := d.ReceiverAnswer()
		if err != nil {
			continue
		}
		c, ok := o.ids[pa.QuestionId()]
		if !ok {
			// go-capnp would fail the message, and leaks a capability of
			// ours doing so when it is a Return.
			return fmt.Errorf("ipc: protocol violation: capability refers to unknown answer %d", pa.QuestionId())
		}
		if c.returned || c.kind == callBootstrap {
			continue // already resolved
		}
		path, ok := pipelinePath(pa)
		if !ok {
			continue
		}
		key := fmt.Sprint(path)
		if c.refs[key] {
			return fmt.Errorf("ipc: unsupported: unresolved answer %d referenced twice by path %v", pa.QuestionId(), path)
		}
		if c.refs == nil {
			c.refs = make(map[string]bool)
		}
		c.refs[key] = true
		o.ids[pa.QuestionId()] = c
	}
	return nil
}

// checkCall refuses calls that crash go-capnp v3.1.0-alpha.2 (the RPC
// layer panics on its receive or server goroutine, taking the process
// down): the codec turns them into an aborted connection first.
//
//   - A call whose target is its own answer calls a nil pipeline caller.
//   - A call pipelined on a result (a promisedAnswer target) that is still
//     being computed is queued, and delivered when the result is ready;
//     if it then lands on something that does not take it (null, not a
//     capability, a method the capability does not have), the answer
//     queue calls a nil PipelineCaller. So calls may target a promised
//     answer only where that cannot happen: the bootstrap answer (ready at
//     once), ThreadMap methods on construct's result 0 and Thread.getName
//     on makeThread's result 0, which rt serves and always sets (or
//     fails). libmultiprocess and rt clients pipeline nothing else; they
//     pass pipelined Threads as parameters, which is not affected.
func (lc *limitCodec) checkCall(call rpccp.Call) error {
	tgt, err := call.Target()
	if err != nil || tgt.Which() != rpccp.MessageTarget_Which_promisedAnswer {
		return nil
	}
	pa, err := tgt.PromisedAnswer()
	if err != nil {
		return nil
	}
	q := pa.QuestionId()
	if q == call.QuestionId() {
		return fmt.Errorf("ipc: protocol violation: call %d targets its own answer", q)
	}
	lc.open.mu.Lock()
	target, open := lc.open.ids[q]
	lc.open.mu.Unlock()
	if !open {
		return nil // unknown or finished: go-capnp fails the call
	}
	if _, err := pa.Transform(); err != nil {
		// Out of the read limits: the target cannot be checked.
		return fmt.Errorf("ipc: reading the target of pipelined call %d (%x.%d): %w", call.QuestionId(), call.InterfaceId(), call.MethodId(), err)
	}
	path, ok := pipelinePath(pa)
	iface, method := call.InterfaceId(), call.MethodId()
	switch {
	case !ok:
	case target.kind == callBootstrap:
		return nil
	case target.kind == callConstruct && len(path) == 1 && path[0] == 0 &&
		iface == mp.ThreadMap_TypeID && method <= 1: // makeThread, makePool
		return nil
	case target.kind == callMakeThread && len(path) == 1 && path[0] == 0 &&
		iface == mp.Thread_TypeID && method == 0: // getName
		return nil
	}
	return fmt.Errorf("ipc: unsupported: call %x.%d pipelined on field %v of unresolved answer %d",
		iface, method, path, q)
}

// Encode sends m. It never blocks on the peer: what the socket does not
// take at once is queued, up to the send queue limit.
func (lc *limitCodec) Encode(m *capnp.Message) error {
	bufs, size, err := frame(m)
	if err != nil {
		return err
	}
	lc.noteSent(m, size)

	lc.mu.Lock()
	if lc.err != nil {
		err := lc.err
		lc.mu.Unlock()
		return err
	}
	if !lc.writing && len(lc.queue) == 0 && lc.try != nil {
		// Fast path: one non-blocking writev, no copy.
		lc.writing = true
		lc.mu.Unlock()
		n, err := lc.try(bufs)
		lc.mu.Lock()
		if err != nil {
			lc.writing = false
			lc.fail(err)
			lc.mu.Unlock()
			return err
		}
		if n == size {
			lc.writing = false
			if len(lc.queue) > 0 { // queued by a concurrent Encode meanwhile
				lc.writing = true
				go lc.writer()
			}
			lc.mu.Unlock()
			return nil
		}
		// The rest goes first in the queue; we still own the write side.
		rest := flatten(bufs, n, size)
		lc.queue = append([][]byte{rest}, lc.queue...)
		lc.queued += int64(len(rest))
		lc.noteQueued()
		go lc.writer()
		lc.mu.Unlock()
		return nil
	}
	if lc.queued > 0 && lc.lim.sendQueue > 0 && lc.queued+int64(size) > lc.lim.sendQueue {
		queued := lc.queued
		lc.fail(errSendQueueFull)
		lc.mu.Unlock()
		lc.log("IPC peer stopped reading: closing connection", "queued", queued, "limit", lc.lim.sendQueue)
		lc.closeRWC()
		return errSendQueueFull
	}
	lc.queue = append(lc.queue, flatten(bufs, 0, size))
	lc.queued += int64(size)
	lc.noteQueued()
	if !lc.writing {
		lc.writing = true
		go lc.writer()
	}
	lc.mu.Unlock()
	return nil
}

// noteSent records what an outgoing message means for the accounting: a
// question we ask or finish, or the size of a result we return for a
// call the peer still has open.
func (lc *limitCodec) noteSent(m *capnp.Message, size int) {
	rm, err := rpccp.ReadRootMessage(m)
	if err != nil {
		return
	}
	switch rm.Which() {
	case rpccp.Message_Which_call:
		if c, err := rm.Call(); err == nil {
			lc.asked.ask(c.QuestionId())
		}
		return
	case rpccp.Message_Which_bootstrap:
		if b, err := rm.Bootstrap(); err == nil {
			lc.asked.ask(b.QuestionId())
		}
		return
	case rpccp.Message_Which_finish:
		if f, err := rm.Finish(); err == nil {
			lc.asked.finish(f.QuestionId())
		}
		return
	case rpccp.Message_Which_return:
	default:
		return
	}
	ret, err := rm.Return()
	if err != nil {
		return
	}
	o := &lc.open
	o.mu.Lock()
	defer o.mu.Unlock()
	n, ok := o.ids[ret.AnswerId()]
	if !ok {
		return
	}
	o.bytes += int64(size) - n.bytes
	n.bytes = int64(size)
	n.returned, n.refs = true, nil
	o.ids[ret.AnswerId()] = n
	// Remember the exports of the bootstrap (construct is called on it)
	// and of construct's ThreadMap (makeThread is called on it).
	var exports *map[uint32]bool
	switch n.kind {
	case callBootstrap:
		exports = &o.boot
	case callConstruct:
		exports = &o.tmaps
	}
	if exports != nil && ret.Which() == rpccp.Return_Which_results {
		if p, err := ret.Results(); err == nil {
			if caps, err := p.CapTable(); err == nil && caps.Len() == 1 {
				if c := caps.At(0); c.Which() == rpccp.CapDescriptor_Which_senderHosted {
					if *exports == nil {
						*exports = make(map[uint32]bool)
					}
					(*exports)[c.SenderHosted()] = true
				}
			}
		}
	}
}

func (lc *limitCodec) noteQueued() {
	if q := lc.queued; q > lc.maxQueued.Load() {
		lc.maxQueued.Store(q)
	}
}

// fail makes err sticky and drops the queue. lc.mu is held.
func (lc *limitCodec) fail(err error) {
	if lc.err == nil {
		lc.err = err
	}
	lc.queue = nil
	lc.queued = 0
}

// writer drains the queue to the socket, batching what has accumulated
// into one write, until the queue is empty or a write fails.
func (lc *limitCodec) writer() {
	for {
		lc.mu.Lock()
		if lc.err != nil || len(lc.queue) == 0 {
			lc.writing = false
			lc.mu.Unlock()
			return
		}
		batch := net.Buffers(lc.queue)
		var n int64
		for _, b := range batch {
			n += int64(len(b))
		}
		lc.queue = nil
		lc.mu.Unlock()

		_, err := batch.WriteTo(lc.rwc)

		lc.mu.Lock()
		lc.queued -= n
		if err != nil {
			lc.fail(err)
			lc.writing = false
			lc.mu.Unlock()
			return
		}
		lc.mu.Unlock()
	}
}

// Close closes the stream (once; later calls return nil).
func (lc *limitCodec) Close() error {
	lc.mu.Lock()
	lc.fail(net.ErrClosed)
	lc.mu.Unlock()
	lc.stopReading()
	return lc.closeRWC()
}

func (lc *limitCodec) closeRWC() error {
	lc.closeOnce.Do(func() { lc.closeErr = lc.rwc.Close() })
	return lc.closeErr
}

// frame returns the stream framing of m (header, then segments) without
// copying, and its total size.
func frame(m *capnp.Message) ([][]byte, int, error) {
	nsegs := m.NumSegments()
	if nsegs == 0 {
		return nil, 0, errors.New("encode: message has no segments")
	}
	if nsegs > 512 {
		return nil, 0, errors.New("encode: too many segments")
	}
	hdr := make([]byte, 0, ((nsegs+2)*4+7)&^7)
	hdr = appendU32(hdr, uint32(nsegs-1))
	bufs := make([][]byte, 1, nsegs+1)
	size := 0
	for i := int64(0); i < nsegs; i++ {
		s, err := m.Segment(capnp.SegmentID(i))
		if err != nil {
			return nil, 0, err
		}
		d := s.Data()
		hdr = appendU32(hdr, uint32(len(d)/8))
		bufs = append(bufs, d)
		size += len(d)
	}
	if len(hdr)%8 != 0 {
		hdr = appendU32(hdr, 0)
	}
	bufs[0] = hdr
	return bufs, size + len(hdr), nil
}

func appendU32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

// flatten copies bufs from byte offset off on into one slice.
func flatten(bufs [][]byte, off, size int) []byte {
	out := make([]byte, 0, size-off)
	for _, b := range bufs {
		if off >= len(b) {
			off -= len(b)
			continue
		}
		out = append(out, b[off:]...)
		off = 0
	}
	return out
}
