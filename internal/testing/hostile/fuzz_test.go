package hostile

import (
	"testing"

	"capnproto.org/go/capnp/v3"
)

// byteSource hands out fuzz bytes, then zeros.
type byteSource struct{ b []byte }

func (s *byteSource) next() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *byteSource) take(n int) []byte {
	n = min(n, len(s.b))
	out := s.b[:n]
	s.b = s.b[n:]
	return out
}

// randomPtr builds a pointer of a shape chosen by src: null, structs of
// any size, text, data, lists of bytes, words, structs and pointers,
// nested up to depth 3.
func randomPtr(seg *capnp.Segment, src *byteSource, depth int) capnp.Ptr {
	op := src.next() % 9
	if depth >= 3 && op > 1 {
		op %= 2
	}
	switch op {
	case 1:
		s, _ := capnp.NewStruct(seg, capnp.ObjectSize{})
		return s.ToPtr()
	case 2:
		sz := capnp.ObjectSize{DataSize: capnp.Size(src.next()%4) * 8, PointerCount: uint16(src.next() % 4)}
		s, err := capnp.NewStruct(seg, sz)
		if err != nil {
			return capnp.Ptr{}
		}
		for i := capnp.DataOffset(0); i < capnp.DataOffset(sz.DataSize); i++ {
			s.SetUint8(i, src.next())
		}
		for i := uint16(0); i < sz.PointerCount; i++ {
			s.SetPtr(i, randomPtr(seg, src, depth+1))
		}
		return s.ToPtr()
	case 3:
		t, err := capnp.NewText(seg, string(src.take(int(src.next()))))
		if err != nil {
			return capnp.Ptr{}
		}
		return t.ToPtr()
	case 4:
		d, err := capnp.NewData(seg, src.take(int(src.next())))
		if err != nil {
			return capnp.Ptr{}
		}
		return d.ToPtr()
	case 5:
		n := int32(src.next() % 8)
		l, err := capnp.NewCompositeList(seg, capnp.ObjectSize{DataSize: 8, PointerCount: 1}, n)
		if err != nil {
			return capnp.Ptr{}
		}
		for i := 0; i < int(n); i++ {
			l.Struct(i).SetUint64(0, uint64(src.next())<<56|uint64(src.next()))
			l.Struct(i).SetPtr(0, randomPtr(seg, src, depth+1))
		}
		return l.ToPtr()
	case 6:
		n := int32(src.next() % 8)
		l, err := capnp.NewPointerList(seg, n)
		if err != nil {
			return capnp.Ptr{}
		}
		for i := 0; i < int(n); i++ {
			l.Set(i, randomPtr(seg, src, depth+1))
		}
		return l.ToPtr()
	case 7:
		n := int32(src.next())
		l, err := capnp.NewUInt64List(seg, n)
		if err != nil {
			return capnp.Ptr{}
		}
		for i := 0; i < int(n); i++ {
			l.Set(i, uint64(src.next())*0x0101010101010101)
		}
		return l.ToPtr()
	case 8:
		l, err := capnp.NewUInt8List(seg, int32(src.next()))
		if err != nil {
			return capnp.Ptr{}
		}
		for i := 0; i < l.Len(); i++ {
			l.Set(i, src.next())
		}
		return l.ToPtr()
	}
	return capnp.Ptr{}
}

const (
	flagContext   = 1 << 0 // pointer 0 is an empty Proxy.Context: the call runs on the pool
	flagUnmarshal = 1 << 1 // the bytes are a Cap'n Proto message to copy pointers from
)

// fillParams fills the params struct s from data: its data section
// first, then its pointers.
func fillParams(s capnp.Struct, flags uint8, data []byte) error {
	src := &byteSource{b: data}
	size := s.Size()
	for i := capnp.DataOffset(0); i < capnp.DataOffset(size.DataSize); i++ {
		s.SetUint8(i, src.next())
	}
	if size.PointerCount == 0 {
		return nil
	}
	done := false
	if flags&flagUnmarshal != 0 {
		if msg, err := capnp.Unmarshal(src.b); err == nil {
			if root, err := msg.Root(); err == nil {
				if rs := root.Struct(); rs.IsValid() {
					for i := uint16(0); i < size.PointerCount; i++ {
						if p, err := rs.Ptr(i); err == nil {
							s.SetPtr(i, p)
						}
					}
				} else {
					s.SetPtr(uint16(flags>>4)%size.PointerCount, root)
				}
				done = true
			}
		}
	}
	if !done {
		for i := uint16(0); i < size.PointerCount; i++ {
			s.SetPtr(i, randomPtr(s.Segment(), src, 0))
		}
	}
	if flags&flagContext != 0 {
		ctx, err := capnp.NewStruct(s.Segment(), capnp.ObjectSize{PointerCount: 2})
		if err != nil {
			return err
		}
		s.SetPtr(0, ctx.ToPtr())
	}
	return nil
}

// FuzzGeneratedServers calls a method of a generated server (set: v32 or
// multiprocess; target: Init, Echo, Mining, BlockTemplate, Rpc / Init,
// Echo, Chain) with parameters built from data. The server must answer,
// no handler may panic, and the connection must either survive (and
// answer Echo) or be closed by the server.
func FuzzGeneratedServers(f *testing.F) {
	for si, set := range sets {
		for ti, tg := range set {
			for mi := range tg.methods {
				f.Add(uint8(si), uint8(ti), uint16(mi), uint8(flagContext), []byte{})
				f.Add(uint8(si), uint8(ti), uint16(mi), uint8(flagContext), []byte{1, 2, 3, 4, 5, 6, 7, 8, 2, 3, 4, 4, 16, 'a', 'b'})
			}
		}
	}
	f.Fuzz(func(t *testing.T, si, ti uint8, mi uint16, flags uint8, data []byte) {
		set := sets[int(si)%len(sets)]
		tg := set[int(ti)%len(set)]
		m := tg.methods[int(mi)%len(tg.methods)]
		p := getPeer(t, int(si)%len(sets))
		p.call(t, tg.kind, m, func(s capnp.Struct) error { return fillParams(s, flags, data) })
		p.check(t, m.String())
	})
}

// Every method of every fuzzed interface, with empty parameters, with a
// context and with random ones, is answered without a panic.
func TestEveryMethodAnswers(t *testing.T) {
	total := 0
	for si, set := range sets {
		p, err := newPeer(si)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range set {
			if len(tg.methods) == 0 {
				t.Fatalf("set %d target %d: no methods found", si, tg.kind)
			}
			for _, m := range tg.methods {
				if m.Name == "destroy" {
					continue // would end the object for the others
				}
				for _, flags := range []uint8{0, flagContext} {
					for _, data := range [][]byte{nil, []byte("\x05\x01\x02\x03\x04\x05\x06\x07\x08\x03\x10hello world, here")} {
						p.call(t, tg.kind, m, func(s capnp.Struct) error { return fillParams(s, flags, data) })
						if !p.check(t, m.String()) {
							t.Fatalf("%v closed the connection", m)
						}
						total++
					}
				}
			}
		}
		p.close()
	}
	t.Logf("%d calls", total)
}
