package engine

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	"capnproto.org/go/capnp/v3"
)

// The methods of mirror, a server both ends of a connection serve.
const (
	mirrorID     uint64 = 0x9a3c_51e2_77d0_4b18 // any id: no schema is involved
	mirrorEcho          = 0                     // (data) -> (data), returned in Dispatch
	mirrorBounce        = 1                     // (data, cb) -> cb.echo(data), from a goroutine
	mirrorFill          = 2                     // (data) -> (data repeated to fillSize), returned in Dispatch
)

// fillSize is the size of fill's results.
const fillSize = 4 << 20

var szMirror = capnp.ObjectSize{PointerCount: 2}

// mirror answers echo and fill inline, on the goroutine that delivers
// the call (for a call from the peer, the connection's reader, which then
// queues the Return itself), and bounce by calling echo on the callback
// it is given and returning what that returns.
type mirror struct{ wg *sync.WaitGroup }

func (m mirror) Dispatch(c *Call) {
	if c.InterfaceID != mirrorID {
		c.Return(fmt.Errorf("mirror: no interface %#x", c.InterfaceID))
		return
	}
	switch c.MethodID {
	case mirrorEcho:
		p, err := c.Args().Ptr(0)
		if err != nil {
			c.Return(err)
			return
		}
		c.Return(returnData(c, p.Data()))
	case mirrorFill:
		p, err := c.Args().Ptr(0)
		if err != nil || len(p.Data()) == 0 {
			c.Return(fmt.Errorf("mirror: fill: no pattern (%v)", err))
			return
		}
		c.Return(returnData(c, bytes.Repeat(p.Data(), fillSize/len(p.Data()))))
	case mirrorBounce:
		p, err := c.Args().Ptr(0)
		if err != nil {
			c.Return(err)
			return
		}
		cb := c.ArgPtrCap(c.Args(), 1)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer cb.Release()
			got, err := echo(c.Context(), cb, p.Data())
			if err != nil {
				c.Return(fmt.Errorf("mirror: bounce: %w", err))
				return
			}
			c.Return(returnData(c, got))
		}()
	default:
		c.Return(fmt.Errorf("mirror: no method %d", c.MethodID))
	}
}

func returnData(c *Call, d []byte) error {
	res, err := c.AllocResults(szMirror)
	if err != nil {
		return err
	}
	return res.SetData(0, d)
}

// echo calls mirror's echo on cl with data and returns a copy of the
// data it returned.
func echo(ctx context.Context, cl *Client, data []byte) ([]byte, error) {
	return callMirror(ctx, cl, mirrorEcho, data, nil)
}

// callMirror calls method of mirror on cl with data (and cb, for bounce).
func callMirror(ctx context.Context, cl *Client, method uint16, data []byte, cb *Client) ([]byte, error) {
	req, err := cl.NewRequest(mirrorID, method, szMirror)
	if err != nil {
		return nil, err
	}
	if err := req.Params().SetData(0, data); err != nil {
		req.Discard()
		return nil, err
	}
	if err := req.SetCap(req.Params(), 1, cb); err != nil {
		req.Discard()
		return nil, err
	}
	a := req.Send()
	defer a.Release()
	select {
	case <-a.Done():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res, err := a.Results()
	if err != nil {
		return nil, err
	}
	p, err := res.Ptr(0)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(p.Data()), nil
}

// mirrorPair connects two Conns over ab, each serving a mirror as its
// bootstrap, and returns each side's bootstrap of the other.
func mirrorPair(t *testing.T, a, b net.Conn) (ca, cb *Conn, peerOfA, peerOfB *Client) {
	t.Helper()
	var wg sync.WaitGroup
	sa, sb := NewLocal(mirror{&wg}), NewLocal(mirror{&wg})
	ca, cb = New(a, Options{Bootstrap: sa}), New(b, Options{Bootstrap: sb})
	sa.Release()
	sb.Release()
	peerOfA, peerOfB = ca.Bootstrap(), cb.Bootstrap()
	t.Cleanup(func() {
		peerOfA.Release()
		peerOfB.Release()
		ca.Close()
		cb.Close()
		wg.Wait()
	})
	return ca, cb, peerOfA, peerOfB
}

// Over net.Pipe, which has no buffer, both ends call each other at once,
// many times: echoes returned by the callee's reader, and bounces whose
// handler calls back into the caller. No end's reader waits for the
// other to read, so all of them complete.
func TestPipeCallsBothWays(t *testing.T) {
	ctx := testCtx(t)
	a, b := net.Pipe()
	_, _, peerOfA, peerOfB := mirrorPair(t, a, b)
	const callers, calls = 1, 500
	errs := make(chan error, 2*callers)
	var wg sync.WaitGroup
	for side, peer := range []*Client{peerOfA, peerOfB} {
		local := NewLocal(mirror{&wg})
		defer local.Release()
		for g := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range calls {
					data := []byte(fmt.Sprintf("side %d caller %d call %d", side, g, i))
					method, cb := uint16(mirrorEcho), (*Client)(nil)
					if i%2 == 1 {
						method, cb = mirrorBounce, local
					}
					got, err := callMirror(ctx, peer, method, data, cb)
					if err != nil {
						errs <- fmt.Errorf("side %d caller %d call %d (method %d): %w", side, g, i, method, err)
						return
					}
					if !bytes.Equal(got, data) {
						errs <- fmt.Errorf("side %d caller %d call %d: got %q, want %q", side, g, i, got, data)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Over a socketpair, both ends ask each other at once for results of
// several MiB, which each callee's reader queues itself: neither reader
// waits for the other's to read.
func TestLargePayloadsBothWays(t *testing.T) {
	ctx := testCtx(t)
	a, b := socketPair(t)
	_, _, peerOfA, peerOfB := mirrorPair(t, a, b)
	const callers, calls = 2, 3
	errs := make(chan error, 2*callers)
	var wg sync.WaitGroup
	for side, peer := range []*Client{peerOfA, peerOfB} {
		for g := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range calls {
					pattern := []byte{byte(side), byte(g), byte(i), 0x5a}
					got, err := callMirror(ctx, peer, mirrorFill, pattern, nil)
					if err != nil {
						errs <- fmt.Errorf("side %d caller %d call %d: %w", side, g, i, err)
						return
					}
					if want := bytes.Repeat(pattern, fillSize/len(pattern)); !bytes.Equal(got, want) {
						errs <- fmt.Errorf("side %d caller %d call %d: fill returned %d bytes, want %d equal ones", side, g, i, len(got), len(want))
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
