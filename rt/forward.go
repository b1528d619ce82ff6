package rt

import (
	"context"
	"fmt"

	"capnproto.org/go/capnp/v3"

	"github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine"
)

// forwarder stands in, on one connection, for a capability of another
// (target), as a libmultiprocess process serves a proxy it holds: a call
// runs on the Thread its context names, and from there is made again on
// target with threads of target's connection; params and results are
// copied, and the capabilities in them are passed on the same way. It is
// how a Printer that one worker gave us reaches another worker.
type forwarder struct {
	target *Cap
}

// Dispatch schedules one call like a served method. The forwarder does
// not know the schema: the context is the first pointer field of the
// params that is a struct of two pointers, the first naming one of this
// connection's Threads (or none, with a callbackThread, when the
// connection has a makePool pool).
func (f *forwarder) Dispatch(ec *engine.Call) {
	from := connOf(ec.Conn())
	m := &Method{
		Interface:   fmt.Sprintf("%#x", ec.InterfaceID),
		Name:        fmt.Sprintf("@%d", ec.MethodID),
		InterfaceID: ec.InterfaceID,
		ID:          ec.MethodID,
		Params:      ec.Args().Size(),
	}
	var cs capnp.Struct
	if i, s, ok := from.findContext(ec); ok {
		m.HasContext, m.ContextPtr, cs = true, i, s
	}
	from.schedule(&request{call: Call{c: ec, conn: from, method: m}, fwd: f, conn: from}, cs)
}

// forward makes the call on target and copies the results back.
func (f *forwarder) forward(ctx context.Context, ec *engine.Call, m *Method) error {
	from := connOf(ec.Conn())
	args := ec.Args()
	return f.target.Conn().invoke(ctx, f.target.c, m, func(p *Params) error {
		dst := p.Struct()
		var own capnp.Ptr // the context invoke wrote
		if m.HasContext {
			own, _ = dst.Ptr(m.ContextPtr)
		}
		if err := dst.CopyFrom(args); err != nil {
			return err
		}
		if m.HasContext {
			if err := dst.SetPtr(m.ContextPtr, own); err != nil {
				return err
			}
		}
		return fixCaps(dst, args, m.HasContext, m.ContextPtr, func(id capnp.CapabilityID) capnp.CapabilityID {
			return p.AddCap(newCap(ec.ArgCap(id)))
		})
	}, func(r *Results) error {
		res := r.Struct()
		out, err := ec.AllocResults(res.Size())
		if err != nil {
			return err
		}
		if err := out.CopyFrom(res); err != nil {
			return err
		}
		return fixCaps(out, res, false, 0, func(id capnp.CapabilityID) capnp.CapabilityID {
			cl := sendable(from, r.Cap(id))
			defer cl.Release()
			return ec.AddResultCap(cl)
		})
	})
}

// Shutdown drops the target once nothing refers to the forwarder.
func (f *forwarder) Shutdown() { f.target.Release() }

// findContext finds the context struct of a call to a forwarder (see
// forwarder.Dispatch).
func (c *Conn) findContext(ec *engine.Call) (uint16, capnp.Struct, bool) {
	if c == nil {
		return 0, capnp.Struct{}, false
	}
	args := ec.Args()
	for i := uint16(0); i < args.Size().PointerCount; i++ {
		p, err := args.Ptr(i)
		s := p.Struct()
		if err != nil || !s.IsValid() || s.Size() != (capnp.ObjectSize{PointerCount: 2}) {
			continue
		}
		if c.isThread(ec.ArgPtrCap(s, 0)) || (!s.HasPtr(0) && s.HasPtr(1) && c.hasPool()) {
			return i, s, true
		}
	}
	return 0, capnp.Struct{}, false
}

// isThread reports whether cl (released here) is one of c's Threads, or
// a promise for one the caller pipelined.
func (c *Conn) isThread(cl *engine.Client) bool {
	if cl == nil {
		return false
	}
	defer cl.Release()
	if cl.IsPromise() {
		return true
	}
	t, _ := cl.Server().(*thread)
	return t != nil && t.conn == c
}

// hasPool reports whether the peer made a makePool pool.
func (c *Conn) hasPool() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pool) > 0
}

// fixCaps walks src and its copy dst (a copy across messages gives
// capability pointers ids of the destination message's own, unused
// table) and points dst's capabilities at the ids capID gives for src's.
// With skip, pointer field skipAt of the top struct is left alone.
func fixCaps(dst, src capnp.Struct, skip bool, skipAt uint16, capID func(capnp.CapabilityID) capnp.CapabilityID) error {
	for i := uint16(0); i < src.Size().PointerCount; i++ {
		if skip && i == skipAt {
			continue
		}
		sp, err := src.Ptr(i)
		if err != nil {
			return err
		}
		switch {
		case !sp.IsValid():
		case sp.Interface().IsValid():
			id := capID(sp.Interface().Capability())
			if err := dst.SetPtr(i, capnp.NewInterface(dst.Segment(), id).ToPtr()); err != nil {
				return err
			}
		case sp.Struct().IsValid():
			dp, err := dst.Ptr(i)
			if err != nil {
				return err
			}
			if err := fixCaps(dp.Struct(), sp.Struct(), false, 0, capID); err != nil {
				return err
			}
		case sp.List().IsValid():
			dp, err := dst.Ptr(i)
			if err != nil {
				return err
			}
			sl, dl := sp.List(), dp.List()
			if sl.Len() == 0 || sl.Struct(0).Size().PointerCount == 0 {
				continue // no pointers: data, text, primitives
			}
			for j := 0; j < sl.Len(); j++ {
				if err := fixCaps(dl.Struct(j), sl.Struct(j), false, 0, capID); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
