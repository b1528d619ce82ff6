package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

// bootRaw has the raw peer bootstrap as question 0 and, if finish,
// finish it keeping the export.
func bootRaw(p *rawPeer, finish bool) {
	p.t.Helper()
	p.send(func(m rpccp.Message) error { bs, err := m.NewBootstrap(); bs.SetQuestionId(0); return err })
	p.expectReturn(0)
	if finish {
		p.send(func(m rpccp.Message) error {
			f, err := m.NewFinish()
			f.SetQuestionId(0)
			f.SetReleaseResultCaps(false) // keep the bootstrap export
			return err
		})
	}
}

func noParams(rpccp.Payload) {}

func (h *holder) next(t *testing.T) *Call {
	t.Helper()
	select {
	case c := <-h.held:
		return c
	case <-time.After(testWait):
		t.Fatal("the held call never arrived")
		return nil
	}
}

func exceptionType(t *testing.T, ret rpccp.Return) rpccp.Exception_Type {
	t.Helper()
	if ret.Which() != rpccp.Return_Which_exception {
		t.Fatalf("return is %v, want an exception", ret.Which())
	}
	ex, _ := ret.Exception()
	return ex.Type()
}

// A call past MaxInFlight is answered overloaded at once; the connection
// stays, and once a call returns the next one is served.
func TestMaxInFlight(t *testing.T) {
	h := &holder{held: make(chan *Call, 4)}
	boot := NewLocal(h)
	defer boot.Release()
	p, conn := newRawPeer(t, Options{Bootstrap: boot, Limits: Limits{MaxInFlight: 2}})
	bootRaw(p, true)
	callBoot(p, 1, 0, noParams)
	callBoot(p, 2, 0, noParams)
	first := h.next(t)
	h.next(t)
	callBoot(p, 3, 0, noParams)
	if got := exceptionType(t, p.expectReturn(3)); got != rpccp.Exception_Type_overloaded {
		t.Fatalf("third call: %v exception, want overloaded", got)
	}
	first.Return(nil)
	if ret := p.expectReturn(1); ret.Which() != rpccp.Return_Which_results {
		t.Fatalf("first call: %v", ret.Which())
	}
	callBoot(p, 4, 0, noParams)
	h.next(t).Return(nil)
	if ret := p.expectReturn(4); ret.Which() != rpccp.Return_Which_results {
		t.Fatalf("call after one returned: %v", ret.Which())
	}
	if conn.Err() != nil {
		t.Fatalf("connection ended: %v", conn.Err())
	}
}

// A peer keeping more than MaxOpenAnswers calls unfinished has the
// connection aborted.
func TestMaxOpenAnswers(t *testing.T) {
	h := &holder{held: make(chan *Call, 4)}
	boot := NewLocal(h)
	defer boot.Release()
	p, conn := newRawPeer(t, Options{Bootstrap: boot, Limits: Limits{MaxOpenAnswers: 2}})
	bootRaw(p, false) // the bootstrap stays open
	callBoot(p, 1, 0, noParams)
	h.next(t)
	callBoot(p, 2, 0, noParams)
	p.expectAbort()
	<-conn.Done()
	if !errors.Is(conn.Err(), ErrLimit) {
		t.Fatalf("connection ended with %v, want ErrLimit", conn.Err())
	}
}

// A call past MaxOpenQuestions fails overloaded without being sent; once
// a question returns, the next call goes out.
func TestMaxOpenQuestions(t *testing.T) {
	p, conn := newRawPeer(t, Options{Limits: Limits{MaxOpenQuestions: 1}})
	boot := conn.Bootstrap()
	defer boot.Release()
	p.bootstrapAnswer(0)
	a1 := ping(t, boot, 1)
	defer a1.Release()
	call, _ := p.expect(rpccp.Message_Which_call).Call()
	a2 := ping(t, boot, 2)
	_, err := a2.Wait(testCtx(t))
	a2.Release()
	var ex *Exception
	if !errors.As(err, &ex) || ex.Type != rpccp.Exception_Type_overloaded {
		t.Fatalf("call past the limit: %v, want overloaded", err)
	}
	qid := call.QuestionId()
	p.send(func(m rpccp.Message) error {
		ret, _ := m.NewReturn()
		ret.SetAnswerId(qid)
		_, err := ret.NewResults()
		return err
	})
	if _, err := a1.Wait(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	p.expect(rpccp.Message_Which_finish)
	a3 := ping(t, boot, 3)
	defer a3.Release()
	p.expect(rpccp.Message_Which_call)
}

// bigReturner holds calls until n have arrived, then returns each with
// size bytes of data, each from a goroutine of its own.
type bigReturner struct {
	n, size int
	mu      sync.Mutex
	calls   []*Call
}

func (b *bigReturner) Dispatch(c *Call) {
	b.mu.Lock()
	b.calls = append(b.calls, c)
	all := len(b.calls) == b.n
	b.mu.Unlock()
	if !all {
		return
	}
	for _, c := range b.calls {
		go func() {
			res, err := c.AllocResults(szPtr1)
			if err == nil {
				err = res.SetData(0, make([]byte, b.size))
			}
			c.Return(err)
		}()
	}
}

// A peer that does not read has the connection ended once more than
// MaxSendQueue bytes wait behind the write in flight.
func TestMaxSendQueue(t *testing.T) {
	const calls = 16
	boot := NewLocal(&bigReturner{n: calls, size: 1 << 20})
	defer boot.Release()
	p, conn := newRawPeer(t, Options{Bootstrap: boot, Limits: Limits{MaxSendQueue: 4 << 20}})
	bootRaw(p, true)
	for i := range calls {
		callBoot(p, uint32(1+i), 0, noParams)
	}
	// The peer reads nothing more.
	select {
	case <-conn.Done():
	case <-time.After(testWait):
		t.Fatal("the connection outlived a peer that does not read")
	}
	if !errors.Is(conn.Err(), ErrSendQueue) {
		t.Fatalf("connection ended with %v, want ErrSendQueue", conn.Err())
	}
}

// A peer that stops reading while this side keeps calling, each call
// given up after a short deadline: the calls waiting for room give up
// with their context, and once what they would have queued passes
// MaxSendQueue the connection ends with ErrSendQueue, which also frees
// the caller whose write the peer never reads (it would wait for ever).
func TestStalledPeerCallersGiveUp(t *testing.T) {
	p, conn := newRawPeer(t, Options{Limits: Limits{MaxQueuedBytes: 256 << 10, MaxSendQueue: 1 << 20}})
	boot := conn.Bootstrap()
	defer boot.Release()
	p.bootstrapAnswer(7)
	// The peer reads nothing more.
	var wg sync.WaitGroup
	var gaveUp atomic.Int32
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for conn.Err() == nil {
				req, err := boot.NewRequest(1, 0, szPtr1)
				if err != nil {
					return
				}
				req.Params().SetData(0, make([]byte, 64<<10))
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
				a := req.SendContext(ctx)
				if _, err := a.Wait(ctx); errors.Is(err, context.DeadlineExceeded) {
					gaveUp.Add(1)
				}
				a.Release()
				cancel()
			}
		}()
	}
	select {
	case <-conn.Done():
	case <-time.After(testWait):
		t.Fatal("the connection outlived a peer that does not read")
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(testWait):
		t.Fatal("a caller is still held by a peer that does not read")
	}
	if !errors.Is(conn.Err(), ErrSendQueue) {
		t.Fatalf("connection ended with %v, want ErrSendQueue", conn.Err())
	}
	t.Logf("%d calls gave up before the connection ended", gaveUp.Load())
}
