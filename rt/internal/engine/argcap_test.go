package engine

import (
	"sync/atomic"
	"testing"

	"capnproto.org/go/capnp/v3"
)

// shutdownCounter is a capability that counts its Shutdowns.
type shutdownCounter struct{ down atomic.Int32 }

func (s *shutdownCounter) Dispatch(c *Call) { c.Return(nil) }
func (s *shutdownCounter) Shutdown()        { s.down.Add(1) }

// argPeek takes the params' capability (pointer 0) with ArgPtrCapTo and
// reports what it found; pointer 1 is null.
type argPeek struct {
	got  Server
	null bool
}

func (p *argPeek) Dispatch(c *Call) {
	var cl, none Client
	if c.ArgPtrCapTo(&cl, c.Args(), 0) {
		p.got = cl.Server()
		cl.Release()
	}
	p.null = !c.ArgPtrCapTo(&none, c.Args(), 1)
	c.Return(nil)
}

// ArgPtrCapTo fills the caller's Client with a reference of its own: the
// capability is the one sent, and once the caller and the server have
// released theirs it shuts down (the counts balance).
func TestArgPtrCapTo(t *testing.T) {
	target := &shutdownCounter{}
	tc := NewLocal(target)
	peek := &argPeek{}
	pc := NewLocal(peek)
	defer pc.Release()
	req, err := pc.NewRequest(1, 0, capnp.ObjectSize{PointerCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := req.SetCap(req.Params(), 0, tc); err != nil {
		t.Fatal(err)
	}
	ans := req.Send()
	if _, err := ans.Wait(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	ans.Release()
	if peek.got != target {
		t.Fatalf("ArgPtrCapTo found %v, want the capability sent", peek.got)
	}
	if !peek.null {
		t.Fatal("ArgPtrCapTo reported a capability for a null pointer")
	}
	if n := target.down.Load(); n != 0 {
		t.Fatalf("shut down %d times while the caller holds it", n)
	}
	tc.Release()
	if n := target.down.Load(); n != 1 {
		t.Fatalf("shut down %d times after the last release, want 1", n)
	}
}
