package rt_test

// FuzzRawFrames writes arbitrary bytes onto the socket of a connection rt
// serves, then half-closes it: the server must neither panic nor hang, and
// must end the connection. TestRawFramesNoLeak runs the seeds and checks
// that nothing is left behind.

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
	"go.uber.org/goleak"

	"github.com/bitcoin-ipc/bitcoin-ipc/gen/mp"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest/rttestcapnp"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// fastSocketPair is a connected pair of unix stream sockets.
func fastSocketPair(t testing.TB) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conv := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "sock")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	return conv(fds[0]), conv(fds[1])
}

// rawFrameSeeds are well-formed conversations, their prefixes, and the
// classic malformed frames.
func rawFrameSeeds(t testing.TB) [][]byte {
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	hdr := func(words ...uint32) []byte {
		b := make([]byte, 4*len(words))
		for i, w := range words {
			binary.LittleEndian.PutUint32(b[4*i:], w)
		}
		return b
	}
	boot := rawBootstrap(t, 0)
	construct := rawCall(t, 1, 0, rttestcapnp.TestInit_TypeID, 0, capnp.ObjectSize{PointerCount: 1}, nil)
	makeCalcNoThread := rawCall(t, 2, 0, rttestcapnp.TestInit_TypeID, 1, capnp.ObjectSize{PointerCount: 1}, func(s capnp.Struct) error {
		ctx, err := capnp.NewStruct(s.Segment(), capnp.ObjectSize{PointerCount: 2})
		if err != nil {
			return err
		}
		return s.SetPtr(0, ctx.ToPtr())
	})
	makeThread := rawCallAt(t, 3, 1, []uint16{0}, mp.ThreadMap_TypeID, 0, capnp.ObjectSize{PointerCount: 1}, nil)
	makePool := rawCallAt(t, 4, 1, []uint16{0}, mp.ThreadMap_TypeID, 1, capnp.ObjectSize{DataSize: 8}, func(s capnp.Struct) error {
		s.SetUint32(0, 1_000_000)
		return nil
	})
	unknown := rawCall(t, 5, 0, 0x1234, 77, capnp.ObjectSize{}, nil)
	other := frameOf(t, func(m rpccp.Message) error {
		r, err := m.NewRelease()
		if err != nil {
			return err
		}
		r.SetId(42)
		r.SetReferenceCount(1 << 31)
		return nil
	})
	ret := frameOf(t, func(m rpccp.Message) error {
		r, err := m.NewReturn()
		if err != nil {
			return err
		}
		r.SetAnswerId(99)
		_, err = r.NewResults()
		return err
	})
	dis := frameOf(t, func(m rpccp.Message) error {
		d, err := m.NewDisembargo()
		if err != nil {
			return err
		}
		tgt, err := d.NewTarget()
		if err != nil {
			return err
		}
		tgt.SetImportedCap(7)
		d.Context().SetReceiverLoopback(3)
		return nil
	})
	abort := frameOf(t, func(m rpccp.Message) error {
		a, err := m.NewAbort()
		if err != nil {
			return err
		}
		return a.SetReason("bye")
	})
	conv := cat(boot, construct, makeCalcNoThread, makeThread, makePool, unknown, rawFinish(t, 5), other, ret, dis, rawFinish(t, 99), abort)
	seeds := [][]byte{
		nil,
		boot,
		conv,
		conv[:len(conv)/2],
		boot[:5],
		cat(boot, construct[:len(construct)-3]),
		// Segment count far over the limit (512).
		hdr(0xffffffff, 1),
		hdr(600, 0),
		// One segment declared far larger than the stream.
		hdr(0, 0x7fffffff),
		cat(hdr(0, 1<<20), make([]byte, 64)),
		// Several segments, sizes summing past the message limit.
		cat(hdr(3, 0x10000000, 0x10000000, 0x10000000, 0x10000000), make([]byte, 64)),
		// Empty message; root pointer out of the segment; far pointer to a
		// missing segment; struct pointer with a huge offset; list pointer
		// with a huge count.
		hdr(0, 0),
		cat(hdr(0, 1), []byte{0xfc, 0xff, 0xff, 0x7f, 0, 0, 1, 0}),
		cat(hdr(0, 1), []byte{0x02, 0, 0, 0, 9, 0, 0, 0}),
		cat(hdr(0, 2), []byte{0xf0, 0xff, 0xff, 0x7f, 1, 0, 1, 0}, make([]byte, 8)),
		cat(hdr(0, 2), []byte{0x01, 0, 0, 0, 0xfd, 0xff, 0xff, 0xff}, make([]byte, 8)),
		// A call whose root is a list, not a struct.
		cat(hdr(0, 2), []byte{0x01, 0, 0, 0, 0x0a, 0, 0, 0}, make([]byte, 8)),
	}
	// Each message of the conversation cut short.
	for _, m := range [][]byte{boot, construct, makeCalcNoThread, makeThread} {
		seeds = append(seeds, m[:len(m)-1], m[:8], m[:len(m)/2])
	}
	// Bit flips through a real call.
	for i := 0; i < len(construct); i += 7 {
		c := append([]byte(nil), cat(boot, construct)...)
		c[len(boot)+i] ^= 0xa5
		seeds = append(seeds, c)
	}
	return seeds
}

// serveRaw writes data to a connection served by rt, half-closes it and
// waits for the server to end the connection.
func serveRaw(t testing.TB, data []byte) {
	a, b := fastSocketPair(t)
	defer a.Close()
	server := rt.Serve(b, newInit(nil, nil).bootstrap(), rt.WithReadLimits(1<<20, 0, 0), rt.WithInitInterfaceID(testInitID))
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		buf := make([]byte, 32<<10)
		for {
			if _, err := a.Read(buf); err != nil {
				return
			}
		}
	}()
	a.SetWriteDeadline(time.Now().Add(10 * time.Second))
	a.Write(data) // the server may stop reading at any point
	a.CloseWrite()
	select {
	case <-server.Done():
	case <-time.After(hangGuard):
		t.Fatalf("server still running %v after the peer's EOF (input %x)", hangGuard, data)
	}
	a.Close()
	<-drained
}

func FuzzRawFrames(f *testing.F) {
	for _, s := range rawFrameSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		serveRaw(t, data)
	})
}

// The raw-frame seeds leave no goroutine behind.
func TestRawFramesNoLeak(t *testing.T) {
	baseline := goleak.IgnoreCurrent()
	for _, s := range rawFrameSeeds(t) {
		serveRaw(t, s)
	}
	goleak.VerifyNone(t, baseline)
}

// ---- hostile server: raw replies to rt.Connect ----

// rawReturn answers question id with a results struct of size whose
// pointer field i holds capability i, the capabilities described by caps.
func rawReturn(t testing.TB, id uint32, size capnp.ObjectSize, caps ...func(rpccp.CapDescriptor) error) []byte {
	return frameOf(t, func(m rpccp.Message) error {
		r, err := m.NewReturn()
		if err != nil {
			return err
		}
		r.SetAnswerId(id)
		p, err := r.NewResults()
		if err != nil {
			return err
		}
		s, err := capnp.NewStruct(p.Segment(), size)
		if err != nil {
			return err
		}
		for i := 0; i < len(caps) && i < int(size.PointerCount); i++ {
			if err := s.SetPtr(uint16(i), capnp.NewInterface(p.Segment(), capnp.CapabilityID(i)).ToPtr()); err != nil {
				return err
			}
		}
		if err := p.SetContent(s.ToPtr()); err != nil {
			return err
		}
		tbl, err := p.NewCapTable(int32(len(caps)))
		if err != nil {
			return err
		}
		for i, c := range caps {
			if err := c(tbl.At(i)); err != nil {
				return err
			}
		}
		return nil
	})
}

func rawBootstrapReturn(t testing.TB, id, export uint32) []byte {
	return frameOf(t, func(m rpccp.Message) error {
		r, err := m.NewReturn()
		if err != nil {
			return err
		}
		r.SetAnswerId(id)
		p, err := r.NewResults()
		if err != nil {
			return err
		}
		if err := p.SetContent(capnp.NewInterface(p.Segment(), 0).ToPtr()); err != nil {
			return err
		}
		tbl, err := p.NewCapTable(1)
		if err != nil {
			return err
		}
		tbl.At(0).SetSenderHosted(export)
		return nil
	})
}

func rawReplySeeds(t testing.TB) [][]byte {
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	hosted := func(id uint32) func(rpccp.CapDescriptor) error {
		return func(d rpccp.CapDescriptor) error { d.SetSenderHosted(id); return nil }
	}
	promise := func(id uint32) func(rpccp.CapDescriptor) error {
		return func(d rpccp.CapDescriptor) error { d.SetSenderPromise(id); return nil }
	}
	answer := func(q uint32) func(rpccp.CapDescriptor) error {
		return func(d rpccp.CapDescriptor) error {
			pa, err := d.NewReceiverAnswer()
			if err != nil {
				return err
			}
			pa.SetQuestionId(q)
			return nil
		}
	}
	boot := rawBootstrapReturn(t, 0, 0)
	construct := rawReturn(t, 1, capnp.ObjectSize{PointerCount: 1}, hosted(1))
	exc := frameOf(t, func(m rpccp.Message) error {
		r, err := m.NewReturn()
		if err != nil {
			return err
		}
		r.SetAnswerId(1)
		e, err := r.NewException()
		if err != nil {
			return err
		}
		return e.SetReason("no")
	})
	resolve := frameOf(t, func(m rpccp.Message) error {
		r, err := m.NewResolve()
		if err != nil {
			return err
		}
		r.SetPromiseId(2)
		c, err := r.NewCap()
		if err != nil {
			return err
		}
		c.SetReceiverHosted(0)
		return nil
	})
	// The calls rt makes: q0 bootstrap, q1 construct; makeCalc is q2 on
	// the bootstrap, preceded by makeThread q3? (order varies): answer
	// a few ids.
	makeCalc := func(id uint32) []byte { return rawReturn(t, id, capnp.ObjectSize{PointerCount: 1}, hosted(5)) }
	return [][]byte{
		nil,
		boot,
		cat(boot, construct),
		cat(boot, exc),
		cat(boot, rawReturn(t, 1, capnp.ObjectSize{PointerCount: 1}, promise(2)), resolve),
		cat(boot, rawReturn(t, 1, capnp.ObjectSize{PointerCount: 1}, answer(0))),
		cat(boot, rawReturn(t, 1, capnp.ObjectSize{PointerCount: 1}, answer(0), answer(0))),
		cat(boot, rawReturn(t, 1, capnp.ObjectSize{PointerCount: 1})),
		cat(boot, rawReturn(t, 1, capnp.ObjectSize{DataSize: 8})),
		cat(boot, construct, makeCalc(2), makeCalc(3), makeCalc(4)),
		cat(boot, construct, rawReturn(t, 7, capnp.ObjectSize{}), rawReturn(t, 1, capnp.ObjectSize{})),
		cat(boot, construct, rawCall(t, 0, 0, mp.ThreadMap_TypeID, 0, capnp.ObjectSize{PointerCount: 1}, nil)),
		cat(rawBootstrap(t, 0), boot, construct),
		construct,
	}
}

// connectRaw runs rt.Connect against a peer that sends data and then
// half-closes: Connect must return, and the connection must end.
func connectRaw(t testing.TB, data []byte) {
	a, b := fastSocketPair(t)
	defer b.Close()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		buf := make([]byte, 32<<10)
		for {
			if _, err := b.Read(buf); err != nil {
				return
			}
		}
	}()
	b.SetWriteDeadline(time.Now().Add(10 * time.Second))
	b.Write(data)
	b.CloseWrite()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rt.Connect(ctx, a, rt.WithInitInterfaceID(testInitID), rt.WithReadLimits(1<<20, 0, 0))
	if err == nil {
		if calc, err := makeCalc(ctx, conn); err == nil {
			calc.Add(ctx, 1, 2)
			calc.Release()
		}
		closed := make(chan struct{})
		go func() { conn.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(hangGuard):
			t.Fatalf("Close hangs (input %x)", data)
		}
	} else if ctx.Err() != nil {
		t.Fatalf("Connect waited for its deadline after the peer's EOF: %v (input %x)", err, data)
	}
	b.Close()
	<-drained
}

func FuzzRawReplies(f *testing.F) {
	for _, s := range rawReplySeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		connectRaw(t, data)
	})
}

// The raw-reply seeds leave no goroutine behind.
func TestRawRepliesNoLeak(t *testing.T) {
	baseline := goleak.IgnoreCurrent()
	for _, s := range rawReplySeeds(t) {
		connectRaw(t, s)
	}
	goleak.VerifyNone(t, baseline)
}
