package templates

import (
	"strconv"

	"github.com/dave/jennifer/jen"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator/model"
)

// fn is the state of one generated function body: a temp-name counter,
// how to return an error, and the expression holding the rt.Caps of the
// message being read or written (interface-typed fields go through it).
type fn struct {
	n    int
	ret  func(err jen.Code) jen.Code
	caps jen.Code
	// keep, when set, keeps a raw Data value of the message being read
	// (rt.Results.Keep: the received bytes, not a copy); else Data is
	// cloned.
	keep jen.Code
}

func (f *fn) tmp(prefix string) string {
	f.n++
	return prefix + strconv.Itoa(f.n)
}

// fail returns err wrapped with the field path.
func (f *fn) fail(path string, err jen.Code) jen.Code {
	return f.ret(jen.Qual(pkgDomain, "Wrap").Call(jen.Lit(path), err))
}

// check is `if err != nil { return ... }`.
func (f *fn) check(path string) jen.Code {
	return jen.If(jen.Err().Op("!=").Nil()).Block(f.fail(path, jen.Err()))
}

// hasErr reports whether capnpc-go's getter for a field of kind k returns
// an error.
func getterErr(t *model.Type) bool {
	switch t.Kind {
	case model.KindText, model.KindData, model.KindList, model.KindStruct, model.KindTypeParam:
		return true
	}
	return false
}

// readField reads field fl of wire struct s into a fresh variable and
// returns the statements and the variable.
func (f *fn) readField(s jen.Code, fl *model.Field) ([]jen.Code, jen.Code) {
	if fl.Type.Kind == model.KindInterface {
		// The raw pointer: capnpc-go's accessor would go through the
		// message's CapTable, which rt does not fill.
		w := f.tmp("w")
		return []jen.Code{
			jen.List(jen.Id(w), jen.Err()).Op(":=").Qual(pkgCapnp, "Struct").Call(s).Dot("Ptr").Call(jen.Lit(int(fl.Ptr))),
			f.check(fl.Path),
		}, jen.Id(w)
	}
	if fl.Type.Kind == model.KindList && fl.Type.Elem.Kind == model.KindInterface {
		// A list of capabilities, as a raw pointer list (capnpc-go's
		// capability list type is go-capnp's RPC layer).
		p, w := f.tmp("p"), f.tmp("w")
		return []jen.Code{
			jen.List(jen.Id(p), jen.Err()).Op(":=").Qual(pkgCapnp, "Struct").Call(s).Dot("Ptr").Call(jen.Lit(int(fl.Ptr))),
			f.check(fl.Path),
			jen.Id(w).Op(":=").Qual(pkgCapnp, "PointerList").Call(jen.Id(p).Dot("List").Call()),
		}, jen.Id(w)
	}
	get := jen.Add(s).Dot(fl.Accessor).Call()
	if !getterErr(fl.Type) {
		return nil, get
	}
	w := f.tmp("w")
	return []jen.Code{
		jen.List(jen.Id(w), jen.Err()).Op(":=").Add(get),
		f.check(fl.Path),
	}, jen.Id(w)
}

// decodeField decodes field fl of s into dst. ptr: dst is a pointer to a
// struct (nil when the field is null).
func (f *fn) decodeField(s jen.Code, fl *model.Field, dst jen.Code, ptr bool) []jen.Code {
	stmts, w := f.readField(s, fl)
	var present jen.Code
	if ptr {
		present = jen.Add(s).Dot(fl.Haser).Call()
	}
	return append(stmts, f.decode(fl.Type, w, dst, fl.Path, ptr, present)...)
}

// decode converts wire value w (of t's wire type) into dst.
func (f *fn) decode(t *model.Type, w, dst jen.Code, path string, ptr bool, present jen.Code) []jen.Code {
	assign := func(v jen.Code) []jen.Code { return []jen.Code{jen.Add(dst).Op("=").Add(v)} }
	viaErr := func(call jen.Code) []jen.Code {
		v := f.tmp("v")
		return []jen.Code{
			jen.List(jen.Id(v), jen.Err()).Op(":=").Add(call),
			f.check(path),
			jen.Add(dst).Op("=").Id(v),
		}
	}
	switch t.Kind {
	case model.KindInt64:
		switch t.Domain {
		case model.DomainAmount:
			return assign(jen.Qual(pkgBtcutil, "Amount").Call(w))
		case model.DomainSeconds:
			return assign(jen.Qual(pkgDomain, "Seconds").Call(w))
		}
		return assign(w)
	case model.KindFloat64:
		if t.Domain == model.DomainMillis {
			return assign(jen.Qual(pkgDomain, "Millis").Call(w))
		}
		return assign(w)
	case model.KindText:
		if t.Domain == model.DomainJSON {
			return viaErr(jen.Qual(pkgDomain, "JSON").Call(jen.Lit(path), w))
		}
		return assign(w)
	case model.KindData:
		name := map[model.Domain]string{model.DomainHash: "Hash", model.DomainTx: "Tx", model.DomainBlock: "Block",
			model.DomainHeader: "Header", model.DomainTxOut: "TxOut"}[t.Domain]
		if name == "" {
			if f.keep != nil {
				return assign(jen.Add(f.keep).Call(w))
			}
			return assign(jen.Qual(pkgBytes, "Clone").Call(w))
		}
		return viaErr(jen.Qual(pkgDomain, name).Call(jen.Lit(path), w))
	case model.KindStruct:
		args := []jen.Code{}
		if t.Struct.NeedsCaps {
			args = append(args, f.caps)
		}
		args = append(args, w)
		args = append(args, f.paramConverters(t, true)...)
		v := f.tmp("v")
		body := []jen.Code{
			jen.List(jen.Id(v), jen.Err()).Op(":=").Add(typeArgs(jen.Id(t.Struct.FromCapnp), t)).Call(args...),
			f.check(path),
		}
		if ptr {
			body = append(body, jen.Add(dst).Op("=").Op("&").Id(v))
			if present != nil {
				return []jen.Code{jen.If(present).Block(body...)}
			}
			return body
		}
		return append(body, jen.Add(dst).Op("=").Id(v))
	case model.KindList:
		l, i := f.tmp("l"), f.tmp("i")
		elem := t.Elem
		var read []jen.Code
		var e jen.Code
		at := jen.Id(l).Dot("At").Call(jen.Id(i))
		if elem.Kind == model.KindInterface {
			at = jen.Qual(pkgCapnp, "PointerList").Call(jen.Id(l)).Dot("At").Call(jen.Id(i))
		}
		switch elem.Kind {
		case model.KindText, model.KindData, model.KindList, model.KindTypeParam, model.KindInterface:
			ev := f.tmp("e")
			read = []jen.Code{jen.List(jen.Id(ev), jen.Err()).Op(":=").Add(at), f.check(path)}
			e = jen.Id(ev)
			if elem.Kind == model.KindList {
				e = wireType(elem).Call(jen.Id(ev).Dot("List").Call())
			}
		default:
			e = at
		}
		loop := append(read, f.decode(elem, e, jen.Add(dst).Index(jen.Id(i)), path, false, nil)...)
		return []jen.Code{
			jen.If(jen.Id(l).Op(":=").Add(w), jen.Id(l).Dot("IsValid").Call()).Block(
				jen.Add(dst).Op("=").Make(goType(t), jen.Id(l).Dot("Len").Call()),
				jen.For(jen.Id(i).Op(":=").Lit(0), jen.Id(i).Op("<").Id(l).Dot("Len").Call(), jen.Id(i).Op("++")).Block(loop...),
			),
		}
	case model.KindInterface:
		// w is the raw capnp.Ptr; a null pointer leaves dst nil.
		q := f.tmp("q")
		return []jen.Code{jen.If(jen.Id(q).Op(":=").Add(w).Dot("Interface").Call(), jen.Id(q).Dot("IsValid").Call()).Block(
			jen.Add(dst).Op("=").Id(t.Interface.FromCapFn).Call(jen.Add(f.caps).Dot("Cap").Call(jen.Id(q).Dot("Capability").Call())),
		)}
	case model.KindTypeParam:
		return viaErr(jen.Id(t.Param.FromFn).Call(w))
	}
	// Other scalars and enums need no conversion.
	return assign(w)
}

// paramConverters returns the converter closures passed to a generic
// struct's FromCapnp (from=true) or ToCapnp.
func (f *fn) paramConverters(t *model.Type, from bool) []jen.Code {
	var out []jen.Code
	for i, tp := range t.Struct.TypeParams {
		if !tp.Used {
			continue
		}
		a := t.Args[i]
		if from {
			out = append(out, f.fromPtrFunc(a))
		} else {
			out = append(out, f.toPtrFunc(a))
		}
	}
	return out
}

// fromPtrFunc is `func(p capnp.Ptr) (T, error)` decoding a of a generic
// field.
func (f *fn) fromPtrFunc(a *model.Type) jen.Code {
	if a.Kind == model.KindTypeParam {
		return jen.Id(a.Param.FromFn)
	}
	v := f.tmp("v")
	saved := f.ret
	f.ret = func(err jen.Code) jen.Code { return jen.Return(jen.Id(v), err) }
	p := jen.Id("p")
	var w jen.Code
	switch a.Kind {
	case model.KindText:
		w = jen.Add(p).Dot("Text").Call()
	case model.KindData:
		w = jen.Add(p).Dot("Data").Call()
	case model.KindStruct:
		w = wireType(a).Call(jen.Add(p).Dot("Struct").Call())
	case model.KindList:
		w = wireType(a).Call(jen.Add(p).Dot("List").Call())
	case model.KindInterface:
		w = p
	}
	body := []jen.Code{jen.Var().Id(v).Add(goType(a))}
	body = append(body, f.decode(a, w, jen.Id(v), "", false, nil)...)
	body = append(body, jen.Return(jen.Id(v), jen.Nil()))
	f.ret = saved
	return jen.Func().Params(jen.Id("p").Qual(pkgCapnp, "Ptr")).Params(goType(a), jen.Error()).Block(body...)
}

// toPtrFunc is `func(seg *capnp.Segment, x T) (capnp.Ptr, error)`.
func (f *fn) toPtrFunc(a *model.Type) jen.Code {
	if a.Kind == model.KindTypeParam {
		return jen.Id(a.Param.ToFn)
	}
	saved := f.ret
	f.ret = func(err jen.Code) jen.Code { return jen.Return(jen.Qual(pkgCapnp, "Ptr").Values(), err) }
	x, out := f.tmp("x"), f.tmp("p")
	body := []jen.Code{jen.Var().Id(out).Qual(pkgCapnp, "Ptr")}
	body = append(body, f.encode(a, jen.Id(x), &ptrSink{seg: jen.Id("seg"), out: out}, "", false)...)
	body = append(body, jen.Return(jen.Id(out), jen.Nil()))
	f.ret = saved
	return jen.Func().Params(jen.Id("seg").Op("*").Qual(pkgCapnp, "Segment"), jen.Id(x).Add(goType(a))).
		Params(jen.Qual(pkgCapnp, "Ptr"), jen.Error()).Block(body...)
}

// A sink is where an encoded wire value goes.
type sink interface {
	set(f *fn, t *model.Type, w jen.Code, path string) []jen.Code
	// setPtr stores a capnp.Ptr (an interface pointer).
	setPtr(f *fn, ptr jen.Code, path string) []jen.Code
	newStruct(f *fn, t *model.Type, path string) ([]jen.Code, jen.Code)
	newList(f *fn, t *model.Type, n jen.Code, path string) ([]jen.Code, jen.Code)
	segment() jen.Code
}

// fieldSink is a field of a wire struct.
type fieldSink struct {
	s  jen.Code
	fl *model.Field
}

func (k *fieldSink) setPtr(f *fn, ptr jen.Code, path string) []jen.Code {
	return []jen.Code{jen.If(jen.Err().Op(":=").Qual(pkgCapnp, "Struct").Call(k.s).Dot("SetPtr").Call(jen.Lit(int(k.fl.Ptr)), ptr), jen.Err().Op("!=").Nil()).Block(f.fail(path, jen.Err()))}
}

func (k *fieldSink) set(f *fn, t *model.Type, w jen.Code, path string) []jen.Code {
	call := jen.Add(k.s).Dot(k.fl.Setter).Call(w)
	if t.Kind.IsScalar() {
		return []jen.Code{call}
	}
	return []jen.Code{jen.If(jen.Err().Op(":=").Add(call), jen.Err().Op("!=").Nil()).Block(f.fail(path, jen.Err()))}
}

func (k *fieldSink) newStruct(f *fn, t *model.Type, path string) ([]jen.Code, jen.Code) {
	e := f.tmp("e")
	return []jen.Code{jen.List(jen.Id(e), jen.Err()).Op(":=").Add(k.s).Dot(k.fl.Newer).Call(), f.check(path)}, jen.Id(e)
}

func (k *fieldSink) newList(f *fn, t *model.Type, n jen.Code, path string) ([]jen.Code, jen.Code) {
	l := f.tmp("l")
	if t.Elem.Kind == model.KindInterface {
		// A raw pointer list: capnpc-go's capability list type is go-capnp's
		// RPC layer.
		return append([]jen.Code{
			jen.List(jen.Id(l), jen.Err()).Op(":=").Qual(pkgCapnp, "NewPointerList").Call(k.segment(), jen.Int32().Call(n)),
			f.check(path),
		}, k.setPtr(f, jen.Id(l).Dot("ToPtr").Call(), path)...), jen.Id(l)
	}
	return []jen.Code{jen.List(jen.Id(l), jen.Err()).Op(":=").Add(k.s).Dot(k.fl.Newer).Call(jen.Int32().Call(n)), f.check(path)}, jen.Id(l)
}

func (k *fieldSink) segment() jen.Code { return jen.Add(k.s).Dot("Segment").Call() }

// listSink is element i of wire list l.
type listSink struct {
	l, i jen.Code
}

func (k *listSink) setPtr(f *fn, ptr jen.Code, path string) []jen.Code {
	return []jen.Code{jen.If(jen.Err().Op(":=").Qual(pkgCapnp, "PointerList").Call(k.l).Dot("Set").Call(k.i, ptr), jen.Err().Op("!=").Nil()).Block(f.fail(path, jen.Err()))}
}

func (k *listSink) set(f *fn, t *model.Type, w jen.Code, path string) []jen.Code {
	if t.Kind == model.KindData && (t.Domain == model.DomainRaw || t.Domain == model.DomainScript) {
		// capnp.DataList.Set would store an empty slice as null: nil stays
		// null, an empty non-nil slice is empty Data. (Domain encoders
		// never give an empty non-nil slice.)
		d, x := f.tmp("d"), f.tmp("x")
		return []jen.Code{
			jen.If(jen.Id(d).Op(":=").Add(w), jen.Id(d).Op("!=").Nil()).Block(
				jen.List(jen.Id(x), jen.Err()).Op(":=").Qual(pkgCapnp, "NewData").Call(k.segment(), jen.Id(d)),
				f.check(path),
				jen.If(jen.Err().Op(":=").Qual(pkgCapnp, "PointerList").Call(k.l).Dot("Set").Call(k.i, jen.Id(x).Dot("ToPtr").Call()), jen.Err().Op("!=").Nil()).Block(f.fail(path, jen.Err())),
			),
		}
	}
	call := jen.Add(k.l).Dot("Set").Call(k.i, w)
	if t.Kind.IsScalar() {
		return []jen.Code{call}
	}
	return []jen.Code{jen.If(jen.Err().Op(":=").Add(call), jen.Err().Op("!=").Nil()).Block(f.fail(path, jen.Err()))}
}

func (k *listSink) newStruct(f *fn, t *model.Type, path string) ([]jen.Code, jen.Code) {
	return nil, jen.Add(k.l).Dot("At").Call(k.i)
}

func (k *listSink) newList(f *fn, t *model.Type, n jen.Code, path string) ([]jen.Code, jen.Code) {
	l := f.tmp("l")
	return []jen.Code{
		jen.List(jen.Id(l), jen.Err()).Op(":=").Qual(t.WireNew.Path, t.WireNew.Name).Call(k.segment(), jen.Int32().Call(n)),
		f.check(path),
		jen.If(jen.Err().Op(":=").Add(k.l).Dot("Set").Call(k.i, jen.Id(l).Dot("ToPtr").Call()), jen.Err().Op("!=").Nil()).Block(f.fail(path, jen.Err())),
	}, jen.Id(l)
}

func (k *listSink) segment() jen.Code { return jen.Add(k.l).Dot("Segment").Call() }

// ptrSink assigns a capnp.Ptr variable (generic fields).
type ptrSink struct {
	seg jen.Code
	out string
}

func (k *ptrSink) set(f *fn, t *model.Type, w jen.Code, path string) []jen.Code {
	switch t.Kind {
	case model.KindText:
		x := f.tmp("x")
		return []jen.Code{
			jen.List(jen.Id(x), jen.Err()).Op(":=").Qual(pkgCapnp, "NewText").Call(k.seg, w),
			f.check(path),
			jen.Id(k.out).Op("=").Id(x).Dot("ToPtr").Call(),
		}
	case model.KindData:
		// nil stays a null pointer, as plain Data fields do.
		d, x := f.tmp("d"), f.tmp("x")
		return []jen.Code{
			jen.If(jen.Id(d).Op(":=").Add(w), jen.Id(d).Op("!=").Nil()).Block(
				jen.List(jen.Id(x), jen.Err()).Op(":=").Qual(pkgCapnp, "NewData").Call(k.seg, jen.Id(d)),
				f.check(path),
				jen.Id(k.out).Op("=").Id(x).Dot("ToPtr").Call(),
			),
		}
	}
	return []jen.Code{jen.Id(k.out).Op("=").Add(w)}
}

func (k *ptrSink) setPtr(f *fn, ptr jen.Code, path string) []jen.Code {
	return []jen.Code{jen.Id(k.out).Op("=").Add(ptr)}
}

func (k *ptrSink) newStruct(f *fn, t *model.Type, path string) ([]jen.Code, jen.Code) {
	e := f.tmp("e")
	return []jen.Code{
		jen.List(jen.Id(e), jen.Err()).Op(":=").Qual(t.WireNew.Path, t.WireNew.Name).Call(k.seg),
		f.check(path),
		jen.Id(k.out).Op("=").Qual(pkgCapnp, "Struct").Call(jen.Id(e)).Dot("ToPtr").Call(),
	}, jen.Id(e)
}

func (k *ptrSink) newList(f *fn, t *model.Type, n jen.Code, path string) ([]jen.Code, jen.Code) {
	l := f.tmp("l")
	return []jen.Code{
		jen.List(jen.Id(l), jen.Err()).Op(":=").Qual(t.WireNew.Path, t.WireNew.Name).Call(k.seg, jen.Int32().Call(n)),
		f.check(path),
		jen.Id(k.out).Op("=").Id(l).Dot("ToPtr").Call(),
	}, jen.Id(l)
}

func (k *ptrSink) segment() jen.Code { return k.seg }

// encode writes domain value v (of t's domain type; *T when ptr) to sk.
func (f *fn) encode(t *model.Type, v jen.Code, sk sink, path string, ptr bool) []jen.Code {
	set := func(w jen.Code) []jen.Code { return sk.set(f, t, w, path) }
	viaErr := func(call jen.Code) []jen.Code {
		b := f.tmp("b")
		return append([]jen.Code{jen.List(jen.Id(b), jen.Err()).Op(":=").Add(call), f.check(path)}, set(jen.Id(b))...)
	}
	switch t.Kind {
	case model.KindInt64:
		switch t.Domain {
		case model.DomainAmount:
			return set(jen.Int64().Call(v))
		case model.DomainSeconds:
			return set(jen.Qual(pkgDomain, "SecondsInt").Call(v))
		}
	case model.KindFloat64:
		if t.Domain == model.DomainMillis {
			return set(jen.Qual(pkgDomain, "MillisFloat").Call(v))
		}
	case model.KindText:
		if t.Domain == model.DomainJSON {
			return set(jen.Qual(pkgDomain, "JSONText").Call(v))
		}
	case model.KindData:
		switch t.Domain {
		case model.DomainHash:
			return set(jen.Qual(pkgDomain, "HashBytes").Call(v))
		case model.DomainTx:
			return viaErr(jen.Qual(pkgDomain, "TxBytes").Call(v))
		case model.DomainBlock:
			return viaErr(jen.Qual(pkgDomain, "BlockBytes").Call(v))
		case model.DomainHeader:
			return viaErr(jen.Qual(pkgDomain, "HeaderBytes").Call(v))
		case model.DomainTxOut:
			return viaErr(jen.Qual(pkgDomain, "TxOutBytes").Call(v))
		}
	case model.KindStruct:
		stmts, e := sk.newStruct(f, t, path)
		args := []jen.Code{}
		if t.Struct.NeedsCaps {
			args = append(args, f.caps)
		}
		args = append(args, e)
		args = append(args, f.paramConverters(t, false)...)
		stmts = append(stmts, jen.If(jen.Err().Op(":=").Add(v).Dot("ToCapnp").Call(args...), jen.Err().Op("!=").Nil()).Block(f.fail(path, jen.Err())))
		if ptr {
			return []jen.Code{jen.If(jen.Add(v).Op("!=").Nil()).Block(stmts...)}
		}
		return stmts
	case model.KindList:
		stmts, l := sk.newList(f, t, jen.Len(v), path)
		i, x := f.tmp("i"), f.tmp("x")
		body := f.encode(t.Elem, jen.Id(x), &listSink{l: l, i: jen.Id(i)}, path, false)
		stmts = append(stmts, jen.For(jen.List(jen.Id(i), jen.Id(x)).Op(":=").Range().Add(v)).Block(body...))
		return []jen.Code{jen.If(jen.Add(v).Op("!=").Nil()).Block(stmts...)}
	case model.KindInterface:
		// A null capability stays a null pointer; AddCap owns c.
		c := f.tmp("c")
		ptr := jen.Qual(pkgCapnp, "NewInterface").Call(sk.segment(), jen.Add(f.caps).Dot("AddCap").Call(jen.Id(c))).Dot("ToPtr").Call()
		return []jen.Code{jen.If(jen.Id(c).Op(":=").Id(t.Interface.CapFn).Call(v), jen.Id(c).Op("!=").Nil()).Block(sk.setPtr(f, ptr, path)...)}
	case model.KindTypeParam:
		p := f.tmp("p")
		return append([]jen.Code{
			jen.List(jen.Id(p), jen.Err()).Op(":=").Id(t.Param.ToFn).Call(sk.segment(), v),
			f.check(path),
		}, set(jen.Id(p))...)
	}
	return set(v)
}

// typeArgs instantiates a generic struct's function explicitly (unused
// parameters cannot be inferred).
func typeArgs(id *jen.Statement, t *model.Type) *jen.Statement {
	if len(t.Struct.TypeParams) == 0 {
		return id
	}
	var args []jen.Code
	for _, a := range t.Args {
		if a == nil {
			args = append(args, jen.Struct())
		} else {
			args = append(args, goType(a))
		}
	}
	return id.Types(args...)
}
