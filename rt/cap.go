package rt

import (
	"bytes"

	"capnproto.org/go/capnp/v3"

	"github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine"
)

// Cap is one owned reference to a capability: the peer's, one served in
// this process, or a promise for one. A nil *Cap is the null capability.
type Cap struct {
	c *engine.Client
}

// newCap wraps an owned engine reference; nil stays the null capability.
func newCap(c *engine.Client) *Cap {
	if c == nil {
		return nil
	}
	return &Cap{c: c}
}

// AddRef returns a new reference to the same capability.
func (c *Cap) AddRef() *Cap {
	if c == nil {
		return nil
	}
	return &Cap{c: c.c.AddRef()}
}

// Release drops this reference. Later calls of Release do nothing.
func (c *Cap) Release() {
	if c != nil {
		c.c.Release()
	}
}

// client is c's engine reference (nil for the null capability).
func (c *Cap) client() *engine.Client {
	if c == nil {
		return nil
	}
	return c.c
}

// IsValid reports whether c is a capability (not the null one).
func (c *Cap) IsValid() bool { return c != nil && c.c != nil }

// Conn is the connection the capability lives on; nil for one served in
// this process.
func (c *Cap) Conn() *Conn {
	return connOf(c.unwrap().Conn())
}

// unwrap returns the engine reference calls on c go to (borrowed): c's
// own, or, when c is a proxy this process serves for a capability of
// another connection, that capability's.
func (c *Cap) unwrap() *engine.Client {
	cl := c.client()
	for {
		f, ok := cl.Server().(*forwarder)
		if !ok {
			return cl
		}
		cl = f.target.c
	}
}

// Caps is the capability table of one message being read or written.
// Generated code uses it to carry interface-typed fields (and structs
// containing them).
type Caps interface {
	// Conn is the connection the message travels on (nil for a call in
	// this process).
	Conn() *Conn
	// Cap returns an owned reference to capability id of the message being
	// read (nil for a null or missing one).
	Cap(id capnp.CapabilityID) *Cap
	// AddCap puts c into the message being written, taking ownership of c,
	// and returns the id to point at with capnp.NewInterface. A capability
	// of another connection is passed as a local proxy that forwards each
	// call to it.
	AddCap(c *Cap) capnp.CapabilityID
}

// sendable returns the engine reference to put into a message going out
// on conn (nil: a call in this process), taking ownership of c: a
// capability of another connection becomes a local proxy forwarding to
// it.
func sendable(conn *Conn, c *Cap) *engine.Client {
	if c == nil || conn == nil {
		return c.client()
	}
	if t := c.unwrap(); t != c.c {
		// A proxy of ours goes as what it stands for.
		t = t.AddRef()
		c.Release()
		c = &Cap{c: t}
	}
	if other := c.c.Conn(); other != nil && other != conn.e {
		return engine.NewLocal(&forwarder{target: c})
	}
	return c.c
}

var (
	_ Caps = (*Params)(nil)
	_ Caps = (*Results)(nil)
	_ Caps = (*Call)(nil)
)

// Params is the params of a call being written (implements Caps).
type Params struct {
	req  *engine.Request
	conn *Conn
}

// Struct is the params struct.
func (p *Params) Struct() capnp.Struct { return p.req.Params() }

// Conn is the connection the call goes to; nil for a capability served in
// this process.
func (p *Params) Conn() *Conn { return p.conn }

// Cap returns nil: the params are being written, not read.
func (p *Params) Cap(capnp.CapabilityID) *Cap { return nil }

// AddCap puts c into the params (see Caps).
func (p *Params) AddCap(c *Cap) capnp.CapabilityID {
	cl := sendable(p.conn, c)
	id := p.req.AddCap(cl)
	cl.Release()
	return id
}

// Results is the results of a call being read (implements Caps).
type Results struct {
	ans  *engine.Answer
	conn *Conn
	res  capnp.Struct
}

// Struct is the results struct.
func (r *Results) Struct() capnp.Struct { return r.res }

// Conn is the connection the call went to; nil for a capability served in
// this process.
func (r *Results) Conn() *Conn { return r.conn }

// Cap returns an owned reference to the results' capability id.
func (r *Results) Cap(id capnp.CapabilityID) *Cap { return newCap(r.ans.Cap(id)) }

// Keep returns b, the bytes of a Data or Text field of the results, for
// the caller to keep after Invoke returns: b itself (its capacity cut to
// its length) when the results were read from the peer, whose frame
// nothing reuses (keeping b keeps that frame), else a copy. A large
// payload reaches the caller without being copied.
func (r *Results) Keep(b []byte) []byte {
	if b != nil && r.ans.Received() {
		return b[:len(b):len(b)]
	}
	return bytes.Clone(b)
}

// AddCap releases c and returns 0: the results are read, not written.
func (r *Results) AddCap(c *Cap) capnp.CapabilityID {
	c.Release()
	return 0
}
