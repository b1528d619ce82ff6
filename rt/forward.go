package rt

import (
	"fmt"

	"capnproto.org/go/capnp/v3"

	"github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine"
)

// forwarder stands in, on one connection, for a capability of another
// (target): each call is sent again to target, its params and results
// copied, and the capabilities in them forwarded the same way. It is how
// a Printer one worker gave us reaches another worker.
type forwarder struct {
	target *Cap
}

// Dispatch forwards one call; the call and its answer wait on a goroutine
// of their own, so the connection's reader goes on.
func (f *forwarder) Dispatch(call *engine.Call) {
	go func() { call.Return(f.forward(call)) }()
}

// forward makes the call on target and copies the results back.
func (f *forwarder) forward(call *engine.Call) error {
	from := connOf(call.Conn())
	args := call.Args()
	req, err := f.target.c.NewRequest(call.InterfaceID, call.MethodID, args.Size())
	if err != nil {
		return fmt.Errorf("forward %#x.%d: %w", call.InterfaceID, call.MethodID, err)
	}
	err = copyStruct(req.Params(), args, func(id capnp.CapabilityID) capnp.CapabilityID {
		cl := sendable(f.target.conn, newCap(from, call.ArgCap(id)))
		defer cl.Release()
		return req.AddCap(cl)
	})
	if err != nil {
		req.Discard()
		return fmt.Errorf("forward %#x.%d: params: %w", call.InterfaceID, call.MethodID, err)
	}
	ans := req.Send()
	defer ans.Release()
	res, err := ans.Wait(call.Context())
	if err != nil {
		return err
	}
	out, err := call.AllocResults(res.Size())
	if err != nil {
		return err
	}
	err = copyStruct(out, res, func(id capnp.CapabilityID) capnp.CapabilityID {
		cl := sendable(from, newCap(f.target.conn, ans.Cap(id)))
		defer cl.Release()
		return call.AddResultCap(cl)
	})
	if err != nil {
		return fmt.Errorf("forward %#x.%d: results: %w", call.InterfaceID, call.MethodID, err)
	}
	return nil
}

// Shutdown drops the target once nothing refers to the forwarder.
func (f *forwarder) Shutdown() { f.target.Release() }

// copyStruct deep-copies src into dst (of src's size, in another
// message), pointing each capability at the id capID gives for src's.
func copyStruct(dst, src capnp.Struct, capID func(capnp.CapabilityID) capnp.CapabilityID) error {
	if err := dst.CopyFrom(src); err != nil {
		return err
	}
	return fixCaps(dst, src, capID)
}

// fixCaps walks src and its copy dst together and rewrites dst's
// capability pointers (a copy across messages gives them ids of the
// destination message's own, unused table).
func fixCaps(dst, src capnp.Struct, capID func(capnp.CapabilityID) capnp.CapabilityID) error {
	for i := uint16(0); i < src.Size().PointerCount; i++ {
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
			if err := fixCaps(dp.Struct(), sp.Struct(), capID); err != nil {
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
				if err := fixCaps(dl.Struct(j), sl.Struct(j), capID); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
