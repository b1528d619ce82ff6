package engine

import (
	"fmt"
	"testing"

	"capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

// frame encodes one message built by build.
func frame(tb testing.TB, build func(m rpccp.Message) error) []byte {
	msg, root, err := newMessage()
	if err != nil {
		tb.Fatal(err)
	}
	if err := build(root); err != nil {
		tb.Fatal(err)
	}
	b, err := msg.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzConn feeds arbitrary bytes to a serving connection: whatever they
// are, the engine must not panic or hang, and once the peer is gone its
// tables are empty.
func FuzzConn(f *testing.F) {
	bootstrap := frame(f, func(m rpccp.Message) error { bs, err := m.NewBootstrap(); bs.SetQuestionId(0); return err })
	call := frame(f, func(m rpccp.Message) error {
		c, _ := m.NewCall()
		c.SetQuestionId(1)
		tg, _ := c.NewTarget()
		pa, _ := tg.NewPromisedAnswer()
		writePromisedAnswer(pa, 0, nil)
		c.SetInterfaceId(calcID)
		c.SetMethodId(6)
		pl, _ := c.NewParams()
		s, _ := capnp.NewStruct(pl.Segment(), szData8)
		pl.SetContent(s.ToPtr())
		tbl, _ := pl.NewCapTable(2)
		tbl.At(0).SetReceiverHosted(0)
		ra, _ := tbl.At(1).NewReceiverAnswer()
		return writePromisedAnswer(ra, 0, []uint16{0, 1})
	})
	finish := frame(f, func(m rpccp.Message) error { fin, err := m.NewFinish(); fin.SetQuestionId(1); return err })
	release := frame(f, func(m rpccp.Message) error { r, err := m.NewRelease(); r.SetReferenceCount(1); return err })
	disembargo := frame(f, func(m rpccp.Message) error {
		d, _ := m.NewDisembargo()
		tg, _ := d.NewTarget()
		tg.SetImportedCap(0)
		d.Context().SetSenderLoopback(1)
		return nil
	})
	resolve := frame(f, func(m rpccp.Message) error {
		r, _ := m.NewResolve()
		d, err := r.NewCap()
		d.SetSenderPromise(3)
		return err
	})
	f.Add(bootstrap)
	f.Add(append(append(append([]byte{}, bootstrap...), call...), finish...))
	f.Add(append(append([]byte{}, bootstrap...), release...))
	f.Add(append(append([]byte{}, bootstrap...), disembargo...))
	f.Add(resolve)
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		srv := newServer()
		boot := NewLocal(initServer{s: srv})
		a, b := socketPair(t)
		conn := New(a, Options{Bootstrap: boot})
		boot.Release()
		go func() {
			b.Write(data)
			b.Close()
		}()
		<-conn.Done()
		// A call delivered before the end may still be running; it
		// leaves the tables when it returns. Fail only if it never does.
		waitUntil(t, func() bool { return conn.Stats() == (Stats{}) },
			func() string { return fmt.Sprintf("tables after the peer left: %+v", conn.Stats()) })
	})
}
