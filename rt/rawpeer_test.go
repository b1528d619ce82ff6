package rt_test

// A raw Cap'n Proto RPC peer for hostile-peer tests: it writes frames
// built by hand (or arbitrary bytes) onto a connection served by rt, and
// reads what comes back.

import (
	"net"
	"sync"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

func frameOf(t testing.TB, build func(m rpccp.Message) error) []byte {
	t.Helper()
	msg, seg := capnp.NewMultiSegmentMessage(nil)
	m, err := rpccp.NewRootMessage(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := build(m); err != nil {
		t.Fatal(err)
	}
	b, err := msg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rawBootstrap(t testing.TB, qid uint32) []byte {
	return frameOf(t, func(m rpccp.Message) error {
		b, err := m.NewBootstrap()
		if err != nil {
			return err
		}
		b.SetQuestionId(qid)
		return nil
	})
}

// rawCall calls method of the capability answered to question target,
// with params filled by params (nil: an empty struct).
func rawCall(t testing.TB, qid, target uint32, iface uint64, method uint16, size capnp.ObjectSize, params func(capnp.Struct) error) []byte {
	return rawCallAt(t, qid, target, nil, iface, method, size, params)
}

// rawCallAt is rawCall on the capability in pointer field path[0] (then
// path[1], ...) of question target's results.
func rawCallAt(t testing.TB, qid, target uint32, path []uint16, iface uint64, method uint16, size capnp.ObjectSize, params func(capnp.Struct) error) []byte {
	return rawCallTo(t, qid, func(tgt rpccp.MessageTarget) error {
		pa, err := tgt.NewPromisedAnswer()
		if err != nil {
			return err
		}
		pa.SetQuestionId(target)
		if len(path) > 0 {
			ops, err := pa.NewTransform(int32(len(path)))
			if err != nil {
				return err
			}
			for i, f := range path {
				ops.At(i).SetGetPointerField(f)
			}
		}
		return nil
	}, iface, method, size, params)
}

// rawCallImport calls method of the capability we imported as export.
func rawCallImport(t testing.TB, qid, export uint32, iface uint64, method uint16, size capnp.ObjectSize, params func(capnp.Struct) error) []byte {
	return rawCallTo(t, qid, func(tgt rpccp.MessageTarget) error {
		tgt.SetImportedCap(export)
		return nil
	}, iface, method, size, params)
}

func rawCallTo(t testing.TB, qid uint32, target func(rpccp.MessageTarget) error, iface uint64, method uint16, size capnp.ObjectSize, params func(capnp.Struct) error) []byte {
	return frameOf(t, func(m rpccp.Message) error {
		c, err := m.NewCall()
		if err != nil {
			return err
		}
		c.SetQuestionId(qid)
		c.SetInterfaceId(iface)
		c.SetMethodId(method)
		tgt, err := c.NewTarget()
		if err != nil {
			return err
		}
		if err := target(tgt); err != nil {
			return err
		}
		p, err := c.NewParams()
		if err != nil {
			return err
		}
		s, err := capnp.NewStruct(p.Segment(), size)
		if err != nil {
			return err
		}
		if params != nil {
			if err := params(s); err != nil {
				return err
			}
		}
		return p.SetContent(s.ToPtr())
	})
}

// promised targets question q's answer at path.
func promised(q uint32, path []uint16) func(rpccp.MessageTarget) error {
	return func(tgt rpccp.MessageTarget) error {
		pa, err := tgt.NewPromisedAnswer()
		if err != nil {
			return err
		}
		return writePath(pa, q, path)
	}
}

func writePath(pa rpccp.PromisedAnswer, q uint32, path []uint16) error {
	pa.SetQuestionId(q)
	if len(path) > 0 {
		ops, err := pa.NewTransform(int32(len(path)))
		if err != nil {
			return err
		}
		for i, f := range path {
			ops.At(i).SetGetPointerField(f)
		}
	}
	return nil
}

// rawContextCall is a call whose params' pointer 0 is a context struct
// naming as its thread the capability in pointer 0 of question
// threadQ's results (a receiverAnswer), as libmultiprocess pipelines
// makeThread.
func rawContextCall(t testing.TB, qid uint32, target func(rpccp.MessageTarget) error, iface uint64, method uint16, size capnp.ObjectSize, threadQ uint32, params func(capnp.Struct) error) []byte {
	return frameOf(t, func(m rpccp.Message) error {
		c, err := m.NewCall()
		if err != nil {
			return err
		}
		c.SetQuestionId(qid)
		c.SetInterfaceId(iface)
		c.SetMethodId(method)
		tgt, err := c.NewTarget()
		if err != nil {
			return err
		}
		if err := target(tgt); err != nil {
			return err
		}
		p, err := c.NewParams()
		if err != nil {
			return err
		}
		s, err := capnp.NewStruct(p.Segment(), size)
		if err != nil {
			return err
		}
		cs, err := capnp.NewStruct(p.Segment(), capnp.ObjectSize{PointerCount: 2})
		if err != nil {
			return err
		}
		if err := cs.SetPtr(0, capnp.NewInterface(p.Segment(), 0).ToPtr()); err != nil {
			return err
		}
		if err := s.SetPtr(0, cs.ToPtr()); err != nil {
			return err
		}
		if params != nil {
			if err := params(s); err != nil {
				return err
			}
		}
		if err := p.SetContent(s.ToPtr()); err != nil {
			return err
		}
		tbl, err := p.NewCapTable(1)
		if err != nil {
			return err
		}
		ra, err := tbl.At(0).NewReceiverAnswer()
		if err != nil {
			return err
		}
		return writePath(ra, threadQ, []uint16{0})
	})
}

func rawFinish(t testing.TB, qid uint32) []byte {
	return frameOf(t, func(m rpccp.Message) error {
		f, err := m.NewFinish()
		if err != nil {
			return err
		}
		f.SetQuestionId(qid)
		return nil
	})
}

// rawPeer is the far end of a connection rt serves TestInit on.
type rawPeer struct {
	nc       net.Conn
	server   *rt.Conn
	mu       sync.Mutex
	got      []rpccp.Message_Which
	aborts   []string
	returns  int               // Return messages
	excs     int               // of which exceptions
	reasons  map[uint32]string // answer ID -> reason of its exception
	answered map[uint32]bool   // answer IDs returned
	exports  map[uint32]uint32 // answer ID -> first capability exported in its results
	readDone chan struct{}
}

// newRawPeer serves TestInit with opts on one end of a socketpair and
// returns the other end, whose incoming messages it reads and records.
func newRawPeer(t testing.TB, opts ...rt.Option) *rawPeer {
	t.Helper()
	a, b := testutil.SocketPair(t)
	p := &rawPeer{nc: a, readDone: make(chan struct{})}
	p.server = rt.Serve(b, newInit(nil, nil).bootstrap(), append([]rt.Option{rt.WithInitInterfaceID(testInitID)}, opts...)...)
	go p.read()
	t.Cleanup(func() {
		p.nc.Close()
		p.server.Close()
		<-p.readDone
	})
	return p
}

func (p *rawPeer) read() {
	defer close(p.readDone)
	dec := capnp.NewDecoder(p.nc)
	for {
		msg, err := dec.Decode()
		if err != nil {
			return
		}
		m, err := rpccp.ReadRootMessage(msg)
		if err == nil {
			p.mu.Lock()
			p.got = append(p.got, m.Which())
			if m.Which() == rpccp.Message_Which_return {
				p.returns++
				if r, err := m.Return(); err == nil {
					if p.answered == nil {
						p.answered = map[uint32]bool{}
					}
					p.answered[r.AnswerId()] = true
				}
				if r, err := m.Return(); err == nil && r.Which() == rpccp.Return_Which_exception {
					p.excs++
					if e, err := r.Exception(); err == nil {
						if p.reasons == nil {
							p.reasons = map[uint32]string{}
						}
						p.reasons[r.AnswerId()], _ = e.Reason()
					}
				} else if err == nil && r.Which() == rpccp.Return_Which_results {
					if res, err := r.Results(); err == nil {
						if caps, err := res.CapTable(); err == nil && caps.Len() > 0 &&
							caps.At(0).Which() == rpccp.CapDescriptor_Which_senderHosted {
							if p.exports == nil {
								p.exports = map[uint32]uint32{}
							}
							p.exports[r.AnswerId()] = caps.At(0).SenderHosted()
						}
					}
				}
			}
			if m.Which() == rpccp.Message_Which_abort {
				if a, err := m.Abort(); err == nil {
					r, _ := a.Reason()
					p.aborts = append(p.aborts, r)
				}
			}
			p.mu.Unlock()
		}
		msg.Release()
	}
}

func (p *rawPeer) write(t testing.TB, frames ...[]byte) error {
	t.Helper()
	for _, f := range frames {
		if _, err := p.nc.Write(f); err != nil {
			return err
		}
	}
	return nil
}

func (p *rawPeer) returnCounts() (returns, exceptions int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.returns, p.excs
}

// waitReturns waits until the peer has received n Return messages. It
// fails the test when the connection ends first, or when none arrives
// for testutil.HangGuard.
func (p *rawPeer) waitReturns(t testing.TB, n int) {
	t.Helper()
	got, _ := p.returnCounts()
	last, since := got, time.Now()
	for got < n {
		select {
		case <-p.readDone:
			if got, _ = p.returnCounts(); got < n {
				t.Fatalf("connection ended after %d of %d returns; aborts: %q", got, n, p.abortReasons())
			}
			return
		case <-time.After(time.Millisecond):
		}
		if got, _ = p.returnCounts(); got != last {
			last, since = got, time.Now()
		} else if time.Since(since) > testutil.HangGuard {
			t.Fatalf("%d of %d returns, none for %v", got, n, testutil.HangGuard)
		}
	}
}

// export waits for the answer to question q and returns the capability
// exported in it.
func (p *rawPeer) export(t testing.TB, q uint32) uint32 {
	t.Helper()
	deadline := time.Now().Add(testutil.HangGuard)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		id, ok := p.exports[q]
		p.mu.Unlock()
		if ok {
			return id
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no capability returned for question %d", q)
	return 0
}

// exception waits for the answer to question q and returns its
// exception's reason ("" for results).
func (p *rawPeer) exception(t testing.TB, q uint32) string {
	t.Helper()
	deadline := time.Now().Add(testutil.HangGuard)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		r, done := p.reasons[q], p.answered[q]
		p.mu.Unlock()
		if done {
			return r
		}
		select {
		case <-p.readDone:
			t.Fatalf("connection ended before the answer to question %d; aborts: %q", q, p.abortReasons())
		case <-time.After(time.Millisecond):
		}
	}
	t.Fatalf("no answer to question %d", q)
	return ""
}

func (p *rawPeer) abortReasons() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.aborts...)
}

// waitServerDone waits for the server side to end the connection; it
// reports false when that takes testutil.HangGuard.
func (p *rawPeer) waitServerDone(t testing.TB) bool {
	t.Helper()
	select {
	case <-p.server.Done():
		return true
	case <-time.After(testutil.HangGuard):
		return false
	}
}
