package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"testing"

	"capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

// gateWriter blocks its first Write until gate is closed.
type gateWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	entered chan struct{}
	gate    chan struct{}
	first   bool
	writes  int
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	first := !g.first
	g.first = true
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.gate
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writes++
	return g.buf.Write(p)
}

func textMessage(t *testing.T, s string) *capnp.Message {
	msg, seg, err := capnp.NewMessage(capnp.SingleSegment(nil))
	if err != nil {
		t.Fatal(err)
	}
	st, err := capnp.NewRootStruct(seg, szPtr1)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetText(0, s); err != nil {
		t.Fatal(err)
	}
	return msg
}

// While one goroutine writes, others queue their frames and return at
// once; the writing goroutine writes them all, in order, before it
// leaves. A sender that waits for room waits while the queue is over its
// bound and a write is in flight.
func TestWriterQueuesBehindWriteInFlight(t *testing.T) {
	g := &gateWriter{entered: make(chan struct{}), gate: make(chan struct{})}
	w := newWriter(g, 1, -1, func(error) {}) // any queued frame is over the bound
	flushed := make(chan error)
	go func() {
		flush, err := w.enqueue(textMessage(t, "first"), true)
		if err != nil || !flush {
			flushed <- err
			return
		}
		flushed <- w.flush()
	}()
	<-g.entered // the first write is in flight, blocked
	for _, s := range []string{"second", "third", "fourth"} {
		flush, err := w.enqueue(textMessage(t, s), true)
		if err != nil || flush {
			t.Fatalf("enqueue behind a write in flight: flush %v, %v", flush, err)
		}
	}
	roomed := make(chan struct{})
	go func() {
		w.waitRoom(context.Background(), 0)
		close(roomed)
	}()
	select {
	case <-roomed:
		t.Fatal("waitRoom returned while the queue is over its bound and the write is blocked")
	default:
	}
	// A sender whose context ends stops waiting (the write is still
	// blocked).
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error)
	go func() { gaveUp <- w.waitRoom(ctx, 0) }()
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("waitRoom with an ended context: %v", err)
	}
	close(g.gate)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	<-roomed
	lim := Limits{}.withDefaults()
	var hdr [8]byte
	for _, want := range []string{"first", "second", "third", "fourth"} {
		msg, err := readFrame(&g.buf, &lim, &hdr)
		if err != nil {
			t.Fatal(err)
		}
		root, _ := msg.Root()
		p, _ := root.Struct().Ptr(0)
		if p.Text() != want {
			t.Fatalf("frame %q, want %q", p.Text(), want)
		}
	}
	if _, err := readFrame(&g.buf, &lim, &hdr); err != io.EOF {
		t.Fatalf("after the frames: %v", err)
	}
}

// A frame of several segments is written from its segments and read
// back into one buffer.
func TestMultiSegmentFrame(t *testing.T) {
	msg, seg, err := capnp.NewMessage(capnp.MultiSegment(nil))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := capnp.NewRootStruct(seg, szPtr2)
	big := bytes.Repeat([]byte{7}, 1<<20)
	st.SetData(0, big)
	st.SetText(1, "tail")
	if msg.NumSegments() < 2 {
		t.Fatalf("%d segments, want several", msg.NumSegments())
	}
	var buf bytes.Buffer
	bufs, _, _, err := appendFrame(nil, nil, msg)
	if err != nil {
		t.Fatal(err)
	}
	bufs.WriteTo(&buf)
	lim := Limits{}.withDefaults()
	var hdr [8]byte
	got, err := readFrame(&buf, &lim, &hdr)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := got.Root()
	d, _ := root.Struct().Ptr(0)
	tail, _ := root.Struct().Ptr(1)
	if !bytes.Equal(d.Data(), big) || tail.Text() != "tail" {
		t.Fatal("multi-segment frame changed on the way")
	}
}

// The Finish and Release frames the writer builds without a
// capnp.Message are the frames capnp encodes for the same messages, and
// read back as them.
func TestSmallFrames(t *testing.T) {
	type frame struct {
		which  rpccp.Message_Which
		lo, hi uint32
		build  func(m rpccp.Message) error
	}
	var frames []frame
	for _, qid := range []uint32{0, 7, 1<<32 - 1} {
		for _, release := range []bool{false, true} {
			var flags uint32
			if !release {
				flags = 1
			}
			frames = append(frames, frame{rpccp.Message_Which_finish, qid, flags, func(m rpccp.Message) error {
				f, err := m.NewFinish()
				f.SetQuestionId(qid)
				f.SetReleaseResultCaps(release)
				return err
			}})
		}
		frames = append(frames, frame{rpccp.Message_Which_release, qid, qid / 3, func(m rpccp.Message) error {
			r, err := m.NewRelease()
			r.SetId(qid)
			r.SetReferenceCount(qid / 3)
			return err
		}})
	}
	for _, f := range frames {
		w := newWriter(io.Discard, 1, -1, func(error) {})
		if _, err := w.enqueueSmall(f.which, f.lo, f.hi); err != nil {
			t.Fatal(err)
		}
		got := bytes.Join(w.queue.bufs, nil)
		msg, root, err := newMessage()
		if err != nil {
			t.Fatal(err)
		}
		if err := f.build(root); err != nil {
			t.Fatal(err)
		}
		bufs, _, _, err := appendFrame(nil, nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		if want := bytes.Join(bufs, nil); !bytes.Equal(got, want) {
			t.Fatalf("%v %d %d: frame\n%x\nwant\n%x", f.which, f.lo, f.hi, got, want)
		}
		lim := Limits{}.withDefaults()
		var hdr [8]byte
		rmsg, err := readFrame(bytes.NewReader(got), &lim, &hdr)
		if err != nil {
			t.Fatal(err)
		}
		m, err := rpccp.ReadRootMessage(rmsg)
		if err != nil || m.Which() != f.which {
			t.Fatalf("read back %v (%v), want %v", m.Which(), err, f.which)
		}
		if f.which == rpccp.Message_Which_finish {
			fin, _ := m.Finish()
			if fin.QuestionId() != f.lo || fin.ReleaseResultCaps() != (f.hi == 0) || !fin.RequireEarlyCancellationWorkaround() {
				t.Fatalf("finish read back as %d %v", fin.QuestionId(), fin.ReleaseResultCaps())
			}
		}
	}
}

// releaseWritten releases a message that is still queued only once it
// is written, and at once when nothing is queued.
func TestReleaseWritten(t *testing.T) {
	g := &gateWriter{entered: make(chan struct{}), gate: make(chan struct{})}
	w := newWriter(g, 1<<20, -1, func(error) {})
	flushed := make(chan error)
	go func() {
		flush, err := w.enqueue(textMessage(t, "first"), true)
		if err != nil || !flush {
			flushed <- err
			return
		}
		flushed <- w.flush()
	}()
	<-g.entered // a write is in flight
	queued := textMessage(t, "queued")
	if _, err := w.enqueue(queued, false); err != nil {
		t.Fatal(err)
	}
	w.releaseWritten(queued)
	if queued.Arena == nil {
		t.Fatal("a queued message was released before it was written")
	}
	close(g.gate)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if queued.Arena != nil {
		t.Fatal("a written message was not released")
	}
	lim := Limits{}.withDefaults()
	var hdr [8]byte
	for _, want := range []string{"first", "queued"} {
		msg, err := readFrame(&g.buf, &lim, &hdr)
		if err != nil {
			t.Fatal(err)
		}
		root, _ := msg.Root()
		if p, _ := root.Struct().Ptr(0); p.Text() != want {
			t.Fatalf("frame %q, want %q", p.Text(), want)
		}
	}
	idle := textMessage(t, "idle")
	w.releaseWritten(idle)
	if idle.Arena != nil {
		t.Fatal("releaseWritten with nothing queued did not release")
	}
}

// readMessage reads a Finish or Release frame in capnp's layout without a
// message, and every other frame of the same length as a message.
func TestReadSmallFrames(t *testing.T) {
	lim := Limits{}.withDefaults()
	var s [smallFrameSize]byte
	frame := func(which rpccp.Message_Which, lo, hi uint32) []byte {
		w := newWriter(io.Discard, 1, -1, func(error) {})
		if _, err := w.enqueueSmall(which, lo, hi); err != nil {
			t.Fatal(err)
		}
		return bytes.Join(w.queue.bufs, nil)
	}
	for _, f := range []struct {
		which  rpccp.Message_Which
		lo, hi uint32
	}{{rpccp.Message_Which_finish, 3, 1}, {rpccp.Message_Which_finish, 9, 0}, {rpccp.Message_Which_release, 5, 2}} {
		msg, small, err := readMessage(bytes.NewReader(frame(f.which, f.lo, f.hi)), &lim, &s)
		if err != nil || !small || msg != nil {
			t.Fatalf("%v: small %v, message %v, %v", f.which, small, msg != nil, err)
		}
		if which, lo, hi := smallFields(&s); which != f.which || lo != f.lo || hi != f.hi {
			t.Fatalf("read %v %d %d, want %v %d %d", which, lo, hi, f.which, f.lo, f.hi)
		}
	}
	// The same layout with another member is a message.
	b := frame(rpccp.Message_Which_finish, 4, 0)
	binary.LittleEndian.PutUint16(b[16:], uint16(rpccp.Message_Which_bootstrap))
	r := bytes.NewReader(append(b, frame(rpccp.Message_Which_release, 1, 1)...))
	msg, small, err := readMessage(r, &lim, &s)
	if err != nil || small {
		t.Fatalf("bootstrap frame: small %v, %v", small, err)
	}
	root, err := rpccp.ReadRootMessage(msg)
	if err != nil || root.Which() != rpccp.Message_Which_bootstrap {
		t.Fatalf("bootstrap frame read as %v, %v", root.Which(), err)
	}
	if bs, _ := root.Bootstrap(); bs.QuestionId() != 4 {
		t.Fatalf("bootstrap question %d, want 4", bs.QuestionId())
	}
	// And the stream goes on with the next frame.
	if _, small, err := readMessage(r, &lim, &s); err != nil || !small {
		t.Fatalf("frame after: small %v, %v", small, err)
	}
}

// A frame handed to the writer goroutine (flushAsync) is written there:
// the goroutine that queued it goes on while the write is blocked, frames
// queued meanwhile follow it, and endAfterFlush ends the writer only
// once everything queued before it is written, dropping what comes
// after.
func TestWriterGoroutine(t *testing.T) {
	g := &gateWriter{entered: make(chan struct{}), gate: make(chan struct{})}
	ended := make(chan error, 1)
	w := newWriter(g, 1<<20, -1, func(err error) { ended <- err })
	flush, err := w.enqueue(textMessage(t, "first"), true)
	if err != nil || !flush {
		t.Fatalf("enqueue with no write in flight: flush %v, %v", flush, err)
	}
	w.flushAsync() // returns although the write blocks
	<-g.entered
	if flush, err := w.enqueue(textMessage(t, "second"), true); err != nil || flush {
		t.Fatalf("enqueue behind the writer goroutine: flush %v, %v", flush, err)
	}
	end := errors.New("the end")
	w.endAfterFlush(end, false)
	if flush, err := w.enqueue(textMessage(t, "dropped"), true); err != nil || flush {
		t.Fatalf("enqueue after endAfterFlush: flush %v, %v", flush, err)
	}
	select {
	case err := <-ended:
		t.Fatalf("ended (%v) before the queue was written", err)
	default:
	}
	close(g.gate)
	if err := <-ended; err != end {
		t.Fatalf("ended with %v, want %v", err, end)
	}
	w.fail(end) // as the connection's shutdown does: nothing is left running
	lim := Limits{}.withDefaults()
	var hdr [8]byte
	for _, want := range []string{"first", "second"} {
		msg, err := readFrame(&g.buf, &lim, &hdr)
		if err != nil {
			t.Fatal(err)
		}
		root, _ := msg.Root()
		if got, _ := root.Struct().Ptr(0); got.Text() != want {
			t.Fatalf("frame %q, want %q", got.Text(), want)
		}
	}
	if g.buf.Len() != 0 {
		t.Fatalf("%d bytes written after the frames before the end", g.buf.Len())
	}
}
