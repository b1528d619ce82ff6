package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

// Limits bound what a peer can make the engine read, hold and queue.
// For the count limits, zero means the default and a negative value no
// limit.
type Limits struct {
	// MaxMessageSize is the largest frame (header and segments) read, in
	// bytes. Zero means 64 MiB, Cap'n Proto C++'s default traversal limit.
	MaxMessageSize uint64
	// MaxSegments is the most segments a frame may have. Zero means 512.
	MaxSegments int
	// TraverseLimit and DepthLimit are set on every message read (see
	// capnp.Message). Zero means capnp's defaults: 64 MiB and 64.
	TraverseLimit uint64
	DepthLimit    uint
	// MaxQueuedBytes bounds the frames waiting behind a write in flight.
	// A sender other than the connection's reader waits while the queue
	// is over it. Zero means 16 MiB.
	MaxQueuedBytes int
	// MaxSendQueue bounds the same queue for every sender, the reader's
	// replies included: a frame that would take the queue past it ends the
	// connection (ErrSendQueue), as a peer that does not read. A frame is
	// always accepted when no write is in flight. Zero means 64 MiB.
	MaxSendQueue int
	// MaxInFlight bounds the calls from the peer being served at once
	// (delivered and not yet returned). A call past it is answered at once
	// with an overloaded exception; the connection goes on. Zero means
	// 1024.
	MaxInFlight int
	// MaxOpenAnswers bounds the calls (and bootstraps) the peer has open on
	// this side: received and not yet finished by its Finish. A peer that
	// goes past it has the connection aborted. Zero means 65536.
	MaxOpenAnswers int
	// MaxOpenQuestions bounds the calls this side has open on the peer
	// (sent and not yet returned). A call past it fails at once with an
	// overloaded exception, without being sent. Zero means 65536.
	MaxOpenQuestions int
}

// Defaults of Limits.
const (
	DefaultMaxInFlight      = 1024
	DefaultMaxOpenAnswers   = 1 << 16
	DefaultMaxOpenQuestions = 1 << 16
	DefaultMaxSendQueue     = 64 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxMessageSize == 0 {
		l.MaxMessageSize = 64 << 20
	}
	if l.MaxSegments == 0 {
		l.MaxSegments = 512
	}
	if l.MaxQueuedBytes == 0 {
		l.MaxQueuedBytes = 16 << 20
	}
	if l.MaxSendQueue == 0 {
		l.MaxSendQueue = DefaultMaxSendQueue
	}
	if l.MaxInFlight == 0 {
		l.MaxInFlight = DefaultMaxInFlight
	}
	if l.MaxOpenAnswers == 0 {
		l.MaxOpenAnswers = DefaultMaxOpenAnswers
	}
	if l.MaxOpenQuestions == 0 {
		l.MaxOpenQuestions = DefaultMaxOpenQuestions
	}
	return l
}

// over reports whether n is past the limit max (negative: no limit).
func over(n, max int) bool { return max >= 0 && n > max }

// ErrFrame is the class of framing errors: a frame that breaks the
// stream format or the read limits.
var ErrFrame = errors.New("bad frame")

// ErrSendQueue is why a connection ended whose peer did not read what was
// sent to it (Limits.MaxSendQueue).
var ErrSendQueue = errors.New("send queue full")

// messages are the outgoing messages the writer has written and released,
// for newMessage to reuse.
var messages = sync.Pool{New: func() any { return new(capnp.Message) }}

// maxRecycled is the largest message recycle keeps: releasing an arena
// zeroes it for go-capnp's buffer pool, which for a large payload (a 4 MB
// block) costs more than the garbage collector's fresh memory.
const maxRecycled = 1 << 20

// recycle releases msg, which nothing refers to any more, and keeps it
// for reuse; a message larger than maxRecycled is left to the garbage
// collector.
func recycle(msg *capnp.Message) {
	if size, err := msg.TotalSize(); err != nil || size > maxRecycled {
		return
	}
	msg.Release()
	messages.Put(msg)
}

// readFrame reads one frame from r into a single buffer and decodes its
// segment table. hdr is scratch space for the first word.
func readFrame(r io.Reader, lim *Limits, hdr *[8]byte) (*capnp.Message, error) {
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	return readFrameRest(r, lim, hdr)
}

// readMessage reads the next frame into a message, as readFrame does,
// except for a Finish or Release in the layout capnp writes them in (and
// writer.enqueueSmall): that is read into s and reported with small set
// and no message.
func readMessage(r io.Reader, lim *Limits, s *[smallFrameSize]byte) (msg *capnp.Message, small bool, err error) {
	hdr := (*[8]byte)(s[:8])
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, false, err
	}
	if binary.LittleEndian.Uint64(hdr[:]) != 4<<32 || lim.MaxMessageSize < smallFrameSize {
		msg, err := readFrameRest(r, lim, hdr)
		return msg, false, err
	}
	if _, err := io.ReadFull(r, s[8:]); err != nil {
		return nil, false, unexpectedEOF(err)
	}
	if isSmall(s) {
		return nil, true, nil
	}
	buf := make([]byte, smallFrameSize)
	copy(buf, s[:])
	if msg, err = capnp.Unmarshal(buf); err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrFrame, err)
	}
	msg.TraverseLimit = lim.TraverseLimit
	msg.DepthLimit = lim.DepthLimit
	return msg, false, nil
}

// isSmall reports whether the frame in s is a Finish or Release laid out
// as writer.enqueueSmall writes it; smallFields reads it.
func isSmall(s *[smallFrameSize]byte) bool {
	le := binary.LittleEndian
	which := le.Uint64(s[16:])
	return le.Uint64(s[8:]) == 1<<32|1<<48 && le.Uint64(s[24:]) == 1<<32 &&
		(which == uint64(rpccp.Message_Which_finish) || which == uint64(rpccp.Message_Which_release))
}

// smallFields are the union member and the two 32-bit halves of the data
// word of a frame isSmall accepted.
func smallFields(s *[smallFrameSize]byte) (rpccp.Message_Which, uint32, uint32) {
	le := binary.LittleEndian
	return rpccp.Message_Which(le.Uint16(s[16:])), le.Uint32(s[32:]), le.Uint32(s[36:])
}

// readFrameRest reads the rest of a frame whose first word is in hdr.
func readFrameRest(r io.Reader, lim *Limits, hdr *[8]byte) (*capnp.Message, error) {
	nseg := uint64(binary.LittleEndian.Uint32(hdr[0:])) + 1
	if nseg > uint64(lim.MaxSegments) {
		return nil, fmt.Errorf("%w: %d segments, limit %d", ErrFrame, nseg, lim.MaxSegments)
	}
	hdrLen := (4 + 4*nseg + 7) &^ 7
	// The sizes after the first are in the rest of the header; read them
	// into the frame buffer once its length is known. First, bound the
	// header itself.
	rest := make([]byte, hdrLen-8)
	if _, err := io.ReadFull(r, rest); err != nil {
		return nil, unexpectedEOF(err)
	}
	total := uint64(binary.LittleEndian.Uint32(hdr[4:])) * 8
	for i := uint64(1); i < nseg; i++ {
		total += uint64(binary.LittleEndian.Uint32(rest[4*(i-1):])) * 8
		if total > lim.MaxMessageSize {
			break
		}
	}
	if total+hdrLen > lim.MaxMessageSize {
		return nil, fmt.Errorf("%w: frame larger than %d bytes", ErrFrame, lim.MaxMessageSize)
	}
	if total == 0 {
		return nil, fmt.Errorf("%w: empty message", ErrFrame)
	}
	buf := make([]byte, hdrLen+total)
	copy(buf, hdr[:])
	copy(buf[8:], rest)
	if _, err := io.ReadFull(r, buf[hdrLen:]); err != nil {
		return nil, unexpectedEOF(err)
	}
	msg, err := capnp.Unmarshal(buf)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFrame, err)
	}
	msg.TraverseLimit = lim.TraverseLimit
	msg.DepthLimit = lim.DepthLimit
	return msg, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// writer writes frames from the goroutine that produced them, except
// the connection's reader's. While one goroutine writes, others append
// their frames to a queue and return; the writing goroutine writes the
// queue in one writev before it leaves. A frame the reader queues while
// no write is in flight is written by the writer's own goroutine
// (flushAsync), started with the first such frame and parked until the
// next one, so that the reader never waits on the peer.
type writer struct {
	w       io.Writer
	max     int // senders other than the reader wait above it
	hardMax int // a frame past it fails the writer

	kick  chan struct{} // wakes the writer goroutine to flush
	quit  chan struct{} // closed by fail: the writer goroutine ends
	ended func(error)   // ends the connection (a failed write, or end)

	mu      sync.Mutex
	room    sync.Cond // signalled when queued shrinks or err is set
	writing bool
	queue   batch
	spare   batch
	queued  int
	// abandoned is the bytes of calls that gave up waiting for room since
	// the last write: what they would have queued.
	abandoned int
	err       error
	inflight  net.Buffers // the flusher's batch (a field, so that it does not escape per write)
	started   bool        // the writer goroutine runs
	// end, once set, is why the connection ends once the queue is
	// written (see endAfterFlush); frames queued later are dropped.
	end error
}

// batch is frames queued for one writev: the buffers (headers and
// segments), the headers' backing store, and the messages to release
// once written.
type batch struct {
	bufs  net.Buffers
	hdrs  []byte
	owned []*capnp.Message
}

// newWriter makes a writer on w; ended is called, once, from the
// goroutine that finds the writer failed or ending (see endAfterFlush).
func newWriter(w io.Writer, maxQueued, hardMax int, ended func(error)) *writer {
	wr := &writer{w: w, max: maxQueued, hardMax: hardMax, ended: ended,
		kick: make(chan struct{}, 1), quit: make(chan struct{})}
	wr.room.L = &wr.mu
	return wr
}

// flushAsync does the flush enqueue asked for on the writer goroutine,
// starting it the first time.
func (w *writer) flushAsync() {
	w.mu.Lock()
	if !w.started {
		w.started = true
		go w.run()
	}
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default: // a kick is pending: that flush writes this frame too
	}
}

// run is the writer goroutine: it flushes when kicked, until the writer
// fails.
func (w *writer) run() {
	for {
		select {
		case <-w.kick:
			if err := w.flush(); err != nil {
				w.ended(err)
				return
			}
		case <-w.quit:
			return
		}
	}
}

// appendFrame appends msg's frame to b: its header, stored in hdrs, and
// its segments, not copied.
func appendFrame(b net.Buffers, hdrs []byte, msg *capnp.Message) (net.Buffers, []byte, int, error) {
	n := msg.NumSegments()
	hl := int((4 + 4*n + 7) &^ 7)
	start := len(hdrs)
	// Headers written earlier keep their bytes if this append moves hdrs.
	hdrs = append(hdrs, make([]byte, hl)...)
	hdr := hdrs[start : start+hl : start+hl]
	binary.LittleEndian.PutUint32(hdr, uint32(n-1))
	size := hl
	b = append(b, hdr)
	for i := int64(0); i < n; i++ {
		seg, err := msg.Segment(capnp.SegmentID(i))
		if err != nil {
			return b, hdrs, 0, err
		}
		d := seg.Data()
		binary.LittleEndian.PutUint32(hdr[4+4*i:], uint32(len(d)/8))
		b = append(b, d)
		size += len(d)
	}
	return b, hdrs, size, nil
}

// waitRoom waits while a write is in flight and the queue is over its
// bound. Senders other than the connection's reader call it before they
// take the connection's lock, so that the reader never waits on the peer.
// It gives up when ctx ends (a peer that stops reading must not hold a
// caller past its deadline) and returns ctx's error then, counting the
// frame of size bytes the caller would have queued: once the queue and
// the calls that gave up meanwhile pass the hard bound, the peer is taken
// as not reading and the writer fails with ErrSendQueue, as if they had
// queued (otherwise the writing goroutine would wait on the peer for
// ever).
func (w *writer) waitRoom(ctx context.Context, size int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.full() {
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.room.Broadcast()
		w.mu.Unlock()
	})
	defer stop()
	for w.full() {
		if err := ctx.Err(); err != nil {
			w.abandoned += size
			if over(w.queued+w.abandoned, w.hardMax) {
				w.err = fmt.Errorf("%w: over %d bytes wait for the peer to read", ErrSendQueue, w.hardMax)
				w.queue = batch{}
				w.room.Broadcast()
				return w.err
			}
			return err
		}
		w.room.Wait()
	}
	return nil
}

// full reports whether a sender must wait for room (w.mu held).
func (w *writer) full() bool { return w.writing && w.queued > w.max && w.err == nil }

// enqueue appends msg's frame to the queue. It reports whether the caller
// must call flush (no write was in flight). The caller holds the
// connection's lock, so frames queue in the order the connection's state
// changed. After enqueue, msg must not change; if release is set, the
// writer releases msg once it is written and newMessage may reuse it, so
// nothing may refer to it then.
func (w *writer) enqueue(msg *capnp.Message, release bool) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return false, w.err
	}
	if w.end != nil {
		// The connection ends after the Abort queued: nothing follows it.
		if release {
			recycle(msg)
		}
		return false, nil
	}
	var size int
	var err error
	w.queue.bufs, w.queue.hdrs, size, err = appendFrame(w.queue.bufs, w.queue.hdrs, msg)
	if err != nil {
		return false, fmt.Errorf("encode frame: %w", err)
	}
	if release {
		w.queue.owned = append(w.queue.owned, msg)
	}
	return w.queuedLocked(size)
}

// queuedLocked accounts a frame of size bytes just queued: it fails the
// writer past the hard bound, and reports whether the caller must flush.
func (w *writer) queuedLocked(size int) (bool, error) {
	if w.writing && over(w.queued+size, w.hardMax) {
		w.err = fmt.Errorf("%w: over %d bytes wait for the peer to read", ErrSendQueue, w.hardMax)
		w.queue = batch{}
		w.room.Broadcast()
		return false, w.err
	}
	w.queued += size
	if w.writing {
		return false, nil
	}
	w.writing = true
	return true, nil
}

// smallFrameSize is the length of a frame built by enqueueSmall.
const smallFrameSize = 40

// enqueueSmall queues, without a capnp.Message, the frame of a Message
// whose union member which is a struct of one data word, lo in its low
// and hi in its high 32 bits: Finish (questionId, flags) and Release (id,
// referenceCount). The frame is written into the writer's header slab.
func (w *writer) enqueueSmall(which rpccp.Message_Which, lo, hi uint32) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return false, w.err
	}
	if w.end != nil {
		return false, nil
	}
	start := len(w.queue.hdrs)
	w.queue.hdrs = append(w.queue.hdrs, make([]byte, smallFrameSize)...)
	f := w.queue.hdrs[start : start+smallFrameSize : start+smallFrameSize]
	le := binary.LittleEndian
	le.PutUint32(f[0:], 0)           // one segment
	le.PutUint32(f[4:], 4)           // of four words:
	le.PutUint64(f[8:], 1<<32|1<<48) // root: struct at +0, 1 data word, 1 pointer
	le.PutUint64(f[16:], uint64(which))
	le.PutUint64(f[24:], 1<<32) // member: struct at +0, 1 data word, no pointer
	le.PutUint64(f[32:], uint64(hi)<<32|uint64(lo))
	w.queue.bufs = append(w.queue.bufs, f)
	return w.queuedLocked(smallFrameSize)
}

// releaseWritten releases msg, a message enqueued earlier without
// release, once every frame queued so far is written.
func (w *writer) releaseWritten(msg *capnp.Message) {
	w.mu.Lock()
	if w.writing {
		w.queue.owned = append(w.queue.owned, msg)
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	recycle(msg)
}

// flush writes the queue, and whatever queues meanwhile, until it is
// empty. Only the caller that enqueue told to flush calls it.
func (w *writer) flush() error {
	w.mu.Lock()
	for len(w.queue.bufs) > 0 && w.err == nil {
		b := w.queue
		w.queue, w.spare = w.spare, batch{}
		w.queued = 0
		w.room.Broadcast()
		w.mu.Unlock()
		w.inflight = b.bufs
		_, err := w.inflight.WriteTo(w.w)
		w.inflight = nil
		clear(b.bufs)
		for _, m := range b.owned {
			recycle(m)
		}
		clear(b.owned)
		w.mu.Lock()
		w.spare = batch{bufs: b.bufs[:0], hdrs: b.hdrs[:0], owned: b.owned[:0]}
		if err != nil && w.err == nil {
			w.err = err
		}
		if err == nil {
			w.abandoned = 0 // the peer reads
		}
	}
	w.writing = false
	err := w.err
	if err == nil && w.end != nil {
		// Everything up to the Abort is written: the connection ends.
		err = w.end
		w.err = err
	}
	w.room.Broadcast()
	w.mu.Unlock()
	return err
}

// endAfterFlush ends the connection with err once the frames queued so
// far (an Abort last) are written, without waiting for that: frames
// queued after it are dropped, and the goroutine that writes the last
// frame calls ended(err). flush reports whether the caller must flush
// (as enqueue); if nothing is queued or in flight, ended runs at once.
func (w *writer) endAfterFlush(err error, flush bool) {
	w.mu.Lock()
	if w.err != nil || w.end != nil {
		w.mu.Unlock()
		return
	}
	w.end = err
	idle := !w.writing
	w.mu.Unlock()
	if flush {
		w.flushAsync()
	} else if idle {
		w.ended(err)
	}
}

// fail makes every later send fail with err and wakes waiting senders.
func (w *writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.queue = batch{}
	w.room.Broadcast()
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	w.mu.Unlock()
}
