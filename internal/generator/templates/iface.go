package templates

import (
	"strings"

	"github.com/dave/jennifer/jen"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator/model"
)

// visible are the methods of i that appear in Go (construct is hidden).
func visible(ms []*model.Method) []*model.Method {
	var out []*model.Method
	for _, m := range ms {
		if m.Kind != model.MethodConstruct {
			out = append(out, m)
		}
	}
	return out
}

func ctxParam() jen.Code { return jen.Id("ctx").Qual(pkgContext, "Context") }

func sigParams(m *model.Method) []jen.Code {
	ps := []jen.Code{ctxParam()}
	for _, a := range m.Params {
		ps = append(ps, jen.Id(a.GoName).Add(argType(a)))
	}
	return ps
}

// sigResults returns the named results, or a bare error.
func sigResults(m *model.Method) []jen.Code {
	if len(m.Results) == 0 {
		return []jen.Code{jen.Error()}
	}
	var rs []jen.Code
	for _, a := range m.Results {
		rs = append(rs, jen.Id(a.GoName).Add(argType(a)))
	}
	return append(rs, jen.Err().Error())
}

func callArgs(m *model.Method) []jen.Code {
	as := []jen.Code{jen.Id("ctx")}
	for _, a := range m.Params {
		as = append(as, jen.Id(a.GoName))
	}
	return as
}

func methodDoc(m *model.Method) []jen.Code {
	text := m.Doc
	add := func(s string) {
		if text != "" {
			text += "\n\n"
		}
		text += s
	}
	if len(m.Defaults) > 0 {
		s := "Schema defaults:"
		for i, d := range m.Defaults {
			if i > 0 {
				s += ","
			}
			s += " " + d
		}
		add(s + ".")
	}
	if m.Deprecated != "" {
		add(m.Deprecated)
	}
	if m.Bytes != nil {
		add(strings.Join(wrapText("An implementation that also has "+m.Bytes.GoName+" (as "+m.Interface.ClientName+
			" has) is served through it instead, with the raw bytes as received.", 76), "\n"))
	}
	return doc(text)
}

// emitMethodVars declares one rt.Method per own method.
func emitMethodVars(f *jen.File, i *model.Interface) {
	var defs []jen.Code
	for _, m := range i.Methods {
		fields := []jen.Code{
			kv("Interface", jen.Lit(i.Name)),
			kv("Name", jen.Lit(m.Name)),
			kv("InterfaceID", jen.Qual(i.TypeID.Path, i.TypeID.Name)),
			kv("ID", jen.Lit(m.Index)),
			kv("Params", objectSize(m.ParamsSize)),
			kv("Results", objectSize(m.ResultsSize)),
		}
		if m.HasContext {
			fields = append(fields, kv("HasContext", jen.True()), kv("ContextPtr", jen.Lit(int(m.ContextField.Ptr))))
		}
		switch m.Kind {
		case model.MethodDestroy:
			fields = append(fields, kv("Kind", jen.Qual(pkgRT, "MethodDestroy")))
		case model.MethodConstruct:
			fields = append(fields, kv("Kind", jen.Qual(pkgRT, "MethodConstruct")))
		}
		fields = append(fields,
			kv("ParamsID", jen.Qual(m.ParamsID.Path, m.ParamsID.Name)),
			kv("Schema", jen.Qual(m.WireParams.Path, "RegisterSchema")))
		defs = append(defs, jen.Id(m.Var).Op("=").Qual(pkgRT, "Method").Add(multi(fields...)))
	}
	if len(defs) > 0 {
		f.Var().Defs(defs...)
	}
}

// kv is a `key: value` element of a composite literal.
func kv(key string, value jen.Code) jen.Code { return jen.Id(key).Op(":").Add(value) }

// multi is a composite literal's braces with one element per line, in the
// order given (jen.Dict sorts its keys).
func multi(items ...jen.Code) jen.Code {
	return jen.Custom(jen.Options{Open: "{", Close: "}", Separator: ",", Multi: true}, items...)
}

// objectSize is a capnp.ObjectSize literal.
func objectSize(sz model.ObjectSize) jen.Code {
	var fields []jen.Code
	if sz.DataSize != 0 {
		fields = append(fields, kv("DataSize", jen.Lit(int(sz.DataSize))))
	}
	if sz.PointerCount != 0 {
		fields = append(fields, kv("PointerCount", jen.Lit(int(sz.PointerCount))))
	}
	return jen.Qual(pkgCapnp, "ObjectSize").Values(fields...)
}

// emitInterface emits the Go domain interface.
func emitInterface(f *jen.File, i *model.Interface) {
	docFor(f, i.GoName, i.Doc, i.GoName+" is the schema interface "+i.Name)
	var items []jen.Code
	for _, s := range i.Supers {
		items = append(items, jen.Id(s.GoName))
	}
	for _, m := range visible(i.Methods) {
		items = append(items, methodDoc(m)...)
		items = append(items, jen.Id(m.GoName).Params(sigParams(m)...).Params(sigResults(m)...))
	}
	f.Type().Id(i.GoName).Interface(items...)
}

// emitFunc emits the func type of a callback interface.
func emitFunc(f *jen.File, i *model.Interface) {
	var call *model.Method
	for _, m := range i.Methods {
		if m.Name == "call" {
			call = m
		}
	}
	f.Commentf("%s adapts a function to %s: Call calls it and Destroy does nothing.", i.FuncName, i.GoName)
	f.Type().Id(i.FuncName).Func().Params(sigParams(call)...).Params(sigResults(call)...)
	f.Var().Id("_").Id(i.GoName).Op("=").Id(i.FuncName).Parens(jen.Nil())
	f.Comment("Call calls fn.")
	f.Func().Params(jen.Id("fn").Id(i.FuncName)).Id(call.GoName).Params(sigParams(call)...).Params(sigResults(call)...).Block(
		jen.Return(jen.Id("fn").Call(callArgs(call)...)),
	)
	if i.Destroy != nil {
		f.Comment("Destroy does nothing.")
		f.Func().Params(jen.Id(i.FuncName)).Id("Destroy").Params(ctxParam()).Error().Block(jen.Return(jen.Nil()))
	}
}

// emitClient emits the client type, its methods and the capability
// helpers.
func emitClient(f *jen.File, i *model.Interface) {
	comments(f, i.ClientName+" calls a "+i.GoName+" through a capability (the peer's, or one served in this process).")
	f.Type().Id(i.ClientName).Struct(jen.Id("base").Op("*").Qual(pkgRT, "ClientBase"))
	f.Var().Id("_").Id(i.GoName).Op("=").Parens(jen.Op("*").Id(i.ClientName)).Parens(jen.Nil())
	if i.Bootstrap {
		comments(f, i.NewClient+" returns a client of the "+i.GoName+" that conn's peer serves (its bootstrap capability). "+
			"conn must have been made with "+i.BootstrapOption+" (rt's default is Bitcoin Core's Init).")
		f.Func().Id(i.NewClient).Params(jen.Id("conn").Op("*").Qual(pkgRT, "Conn")).Op("*").Id(i.ClientName).Block(
			jen.Return(jen.Op("&").Id(i.ClientName).Values(jen.Dict{
				jen.Id("base"): jen.Qual(pkgRT, "NewClientBase").Call(jen.Id("conn").Dot("Bootstrap").Call()),
			})),
		)
	} else {
		f.Commentf("%s wraps capability c, which the client then owns.", i.NewClient)
		f.Func().Id(i.NewClient).Params(jen.Id("c").Op("*").Qual(pkgRT, "Cap")).Op("*").Id(i.ClientName).Block(
			jen.Return(jen.Op("&").Id(i.ClientName).Values(jen.Dict{
				jen.Id("base"): jen.Qual(pkgRT, "NewClientBase").Call(jen.Id("c")),
			})),
		)
	}
	recv := func() *jen.Statement { return f.Func().Params(jen.Id("c").Op("*").Id(i.ClientName)) }
	f.Comment("Conn returns the connection the capability lives on (nil for one served in")
	f.Comment("this process).")
	recv().Id("Conn").Params().Op("*").Qual(pkgRT, "Conn").Block(jen.Return(jen.Id("c").Dot("base").Dot("Conn").Call()))
	f.Comment("Cap returns the capability (borrowed: AddRef it to keep it).")
	recv().Id("Cap").Params().Op("*").Qual(pkgRT, "Cap").Block(jen.Return(jen.Id("c").Dot("base").Dot("Cap").Call()))
	f.Comment("Release releases the capability without calling destroy.")
	recv().Id("Release").Params().Block(jen.Id("c").Dot("base").Dot("Release").Call())
	f.Comment("AddCleanup registers fn to run once when the client is destroyed or released.")
	recv().Id("AddCleanup").Params(jen.Id("fn").Func().Params()).Block(jen.Id("c").Dot("base").Dot("AddCleanup").Call(jen.Id("fn")))

	for _, m := range withBytes(visible(i.All)) {
		f.Commentf("%s calls %s.%s.", m.GoName, m.Interface.Name, m.Name)
		if raw := rawArgs(m); raw != "" {
			f.Comment("")
			for _, l := range wrapText(raw+" the raw serialization on the wire, neither decoded nor encoded "+
				"(bytes Bitcoin Core cannot deserialize get its error; valid bytes skip a decode and re-encode). "+
				"A nil slice is a null Data pointer, an empty non-nil one is empty Data.", 76) {
				f.Comment(l)
			}
		}
		if m.Deprecated != "" {
			f.Comment("")
			f.Comment(m.Deprecated)
		}
		if m.Kind == model.MethodDestroy {
			recv().Id(m.GoName).Params(ctxParam()).Error().Block(
				jen.Return(jen.Id("c").Dot("base").Dot("Destroy").Call(jen.Id("ctx"), jen.Op("&").Id(m.Var))),
			)
			continue
		}
		var rets []jen.Code
		for _, a := range m.Results {
			rets = append(rets, jen.Id(a.GoName))
		}
		params, results := clientClosures(m)
		call := jen.Id("c").Dot("base").Dot("Invoke").Call(jen.Id("ctx"), jen.Op("&").Id(m.Var), params, results)
		var body []jen.Code
		if len(m.Results) == 0 {
			body = []jen.Code{jen.Return(call)}
		} else {
			body = []jen.Code{jen.Err().Op("=").Add(call), jen.Return(append(rets, jen.Err())...)}
		}
		recv().Id(m.GoName).Params(sigParams(m)...).Params(sigResults(m)...).Block(body...)
	}

	// Helpers that pass domain values across as capabilities.
	comments(f, i.CapFn+" returns a capability to place into a message for v: a new reference to a client's own capability, else v served in this process; nil for nil.")
	f.Func().Id(i.CapFn).Params(jen.Id("v").Id(i.GoName)).Op("*").Qual(pkgRT, "Cap").Block(
		jen.If(jen.Id("v").Op("==").Nil()).Block(jen.Return(jen.Nil())),
		jen.If(jen.List(jen.Id("c"), jen.Id("ok")).Op(":=").Id("v").Assert(jen.Interface(
			jen.Id("Cap").Params().Op("*").Qual(pkgRT, "Cap"),
		)), jen.Id("ok")).Block(
			jen.Return(jen.Id("c").Dot("Cap").Call().Dot("AddRef").Call()),
		),
		jen.Return(jen.Id(i.Server).Call(jen.Id("v"))),
	)
	f.Commentf("%s wraps an owned capability received in a message; nil gives nil.", i.FromCapFn)
	f.Func().Id(i.FromCapFn).Params(jen.Id("c").Op("*").Qual(pkgRT, "Cap")).Id(i.GoName).Block(
		jen.If(jen.Id("c").Op("==").Nil()).Block(jen.Return(jen.Nil())),
		jen.Return(jen.Op("&").Id(i.ClientName).Values(jen.Dict{
			jen.Id("base"): jen.Qual(pkgRT, "NewClientBase").Call(jen.Id("c")),
		})),
	)
}

// comments emits text as comment lines wrapped at 76 bytes.
func comments(f *jen.File, text string) {
	for _, l := range wrapText(text, 76) {
		f.Comment(l)
	}
}

// withBytes returns ms with each method's raw-bytes sibling after it.
func withBytes(ms []*model.Method) []*model.Method {
	var out []*model.Method
	for _, m := range ms {
		out = append(out, m)
		if m.Bytes != nil {
			out = append(out, m.Bytes)
		}
	}
	return out
}

// rawArgs names the params and results of a raw-bytes sibling that are
// raw bytes ("block is", "mtx and mtxOut are"); empty for other methods.
func rawArgs(m *model.Method) string {
	var names []string
	for _, a := range append(append([]*model.Arg{}, m.Params...), m.Results...) {
		if a.Raw {
			names = append(names, a.GoName)
		}
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0] + " is"
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + " are"
}

// wrapText splits text into lines of at most width bytes at spaces (a
// longer word gets a line of its own).
func wrapText(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

// rawIface is the anonymous interface of m's raw-bytes sibling, which a
// server implementation may have.
func rawIface(m *model.Method) jen.Code {
	return jen.Interface(jen.Id(m.Bytes.GoName).Params(sigParams(m.Bytes)...).Params(sigResults(m.Bytes)...))
}

// emitBootstrap emits, for a connection's Init, the rt.Option that makes
// it the bootstrap interface (so construct names its interface ID).
func emitBootstrap(f *jen.File, i *model.Interface) {
	if !i.Bootstrap {
		return
	}
	f.Commentf("%s makes %s the bootstrap interface of a", i.BootstrapOption, i.GoName)
	f.Comment("connection: pass it to rt.Connect and rt.Serve (or ipc.WithConnOptions)")
	f.Commentf("on both sides, so that the connection's construct call is %s.construct.", i.Name)
	f.Func().Id(i.BootstrapOption).Params().Qual(pkgRT, "Option").Block(
		jen.Return(jen.Qual(pkgRT, "WithInitInterfaceID").Call(jen.Qual(i.TypeID.Path, i.TypeID.Name))),
	)
}

// clientClosures returns the params and results funcs a client method
// passes to rt.ClientBase.Invoke (nil when there is nothing to write or
// read; rt fills the context itself).
func clientClosures(m *model.Method) (params, results jen.Code) {
	params, results = jen.Nil(), jen.Nil()
	g := &fn{caps: jen.Id("p")}
	g.ret = func(err jen.Code) jen.Code { return jen.Return(err) }
	args := jen.Id("args")
	var place []jen.Code
	for _, a := range m.Params {
		switch a.Role {
		case model.ArgWant, model.ArgHas:
			place = append(place, jen.Add(args).Dot(a.Field.Setter).Call(jen.Id(a.GoName)))
		case model.ArgValue:
			enc := g.encode(a.Field.Type, jen.Id(a.GoName), &fieldSink{s: args, fl: a.Field}, a.Field.Path, false)
			if a.Has != nil {
				enc = []jen.Code{jen.If(jen.Id(a.Has.GoName)).Block(enc...)}
			}
			place = append(place, enc...)
		}
	}
	if len(place) > 0 {
		body := append([]jen.Code{
			jen.Id("args").Op(":=").Qual(m.WireParams.Path, m.WireParams.Name).Call(jen.Id("p").Dot("Struct").Call()),
		}, place...)
		body = append(body, jen.Return(jen.Nil()))
		params = jen.Func().Params(jen.Id("p").Op("*").Qual(pkgRT, "Params")).Error().Block(body...)
	}
	if len(m.Results) == 0 && len(m.Exceptions) == 0 {
		return params, results
	}
	g = &fn{caps: jen.Id("r"), keep: jen.Id("r").Dot("Keep"), n: g.n}
	g.ret = func(err jen.Code) jen.Code { return jen.Return(err) }
	res := jen.Id("res")
	body := []jen.Code{jen.Id("res").Op(":=").Qual(m.WireResults.Path, m.WireResults.Name).Call(jen.Id("r").Dot("Struct").Call())}
	for _, x := range m.Exceptions {
		t := g.tmp("x")
		text := jen.Id(t)
		if x.Type.Kind == model.KindStruct {
			text = jen.Id(t).Dot("String").Call()
		}
		body = append(body, jen.If(jen.Add(res).Dot(x.Haser).Call()).Block(
			jen.List(jen.Id(t), jen.Err()).Op(":=").Add(res).Dot(x.Accessor).Call(),
			g.check(x.Path),
			jen.Return(jen.Qual(pkgRT, "RemoteException").Call(jen.Op("&").Id(m.Var), text)),
		))
	}
	for _, a := range m.Results {
		if a.Role != model.ArgValue {
			continue
		}
		if a.HasField != nil {
			// Optional by its hasX flag: *T, nil when the flag is false.
			var dec []jen.Code
			if a.Field.Type.Kind == model.KindStruct {
				read, w := g.readField(res, a.Field)
				dec = append(read, g.decode(a.Field.Type, w, jen.Id(a.GoName), a.Field.Path, true, nil)...)
			} else {
				v := g.tmp("v")
				dec = append([]jen.Code{jen.Var().Id(v).Add(goType(a.Field.Type))}, g.decodeField(res, a.Field, jen.Id(v), false)...)
				dec = append(dec, jen.Id(a.GoName).Op("=").Op("&").Id(v))
			}
			body = append(body, jen.If(jen.Add(res).Dot(a.HasField.Accessor).Call()).Block(dec...))
			continue
		}
		body = append(body, g.decodeField(res, a.Field, jen.Id(a.GoName), a.Pointer)...)
	}
	body = append(body, jen.Return(jen.Nil()))
	return params, jen.Func().Params(jen.Id("r").Op("*").Qual(pkgRT, "Results")).Error().Block(body...)
}

// emitServer emits XServer, the rt.ServerDesc and one rt.Handler per own
// plain method (construct and destroy are rt's).
func emitServer(f *jen.File, i *model.Interface) {
	comments(f, i.Server+" returns a capability that serves impl in this process. Calls run on the threads named by their context.")
	f.Func().Id(i.Server).Params(jen.Id("impl").Id(i.GoName)).Op("*").Qual(pkgRT, "Cap").Block(
		jen.Return(jen.Qual(pkgRT, "Local").Call(jen.Op("&").Id(i.Desc), jen.Id("impl"))),
	)
	var methods []jen.Code
	for _, m := range i.All {
		d := []jen.Code{kv("Method", jen.Op("&").Id(m.Var))}
		if m.Kind == model.MethodPlain {
			d = append(d, kv("Handler", jen.Id(m.Handler)))
		}
		methods = append(methods, jen.Values(d...))
	}
	desc := []jen.Code{
		kv("Name", jen.Lit(i.Name)),
		kv("Methods", jen.Index().Qual(pkgRT, "MethodDesc").Add(multi(methods...))),
	}
	if i.Destroy != nil {
		desc = append(desc, kv("Destroy", jen.Func().Params(ctxParam(), jen.Id("impl").Any()).Error().Block(
			jen.Return(jen.Id("impl").Assert(jen.Id(i.GoName)).Dot(i.Destroy.GoName).Call(jen.Id("ctx"))))))
	}
	// Set in init: a handler may serve an interface value, whose server
	// refers to its desc, so a var initializer could be a cycle.
	f.Commentf("%s describes %s's methods, inherited ones included, to rt.", i.Desc, i.Name)
	f.Var().Id(i.Desc).Qual(pkgRT, "ServerDesc")
	f.Func().Id("init").Params().Block(jen.Id(i.Desc).Op("=").Qual(pkgRT, "ServerDesc").Add(multi(desc...)))

	for _, m := range i.Methods {
		if m.Kind != model.MethodPlain {
			continue
		}
		f.Commentf("%s serves %s.%s.", m.Handler, i.Name, m.Name)
		body := serverBody(m, jen.Id("impl").Assert(jen.Id(i.GoName)))
		if m.Bytes != nil {
			body = append([]jen.Code{jen.If(jen.List(jen.Id("impl"), jen.Id("ok")).Op(":=").Id("impl").Assert(rawIface(m)), jen.Id("ok")).Block(
				serverBody(m.Bytes, jen.Id("impl"))...)}, body...)
		}
		f.Func().Id(m.Handler).Params(ctxParam(), jen.Id("impl").Any(), jen.Id("call").Op("*").Qual(pkgRT, "Call")).Error().Block(body...)
	}
}

// serverBody is the body of a handler: it decodes the params, calls m on
// impl and encodes the results.
func serverBody(m *model.Method, impl jen.Code) []jen.Code {
	g := &fn{caps: jen.Id("call")}
	g.ret = func(err jen.Code) jen.Code { return jen.Return(err) }
	var body []jen.Code
	args := jen.Id("args")
	if len(m.Params) > 0 {
		body = append(body, jen.Id("args").Op(":=").Qual(m.WireParams.Path, m.WireParams.Name).Call(jen.Id("call").Dot("Args").Call()))
	}
	for _, a := range m.Params {
		switch a.Role {
		case model.ArgWant, model.ArgHas:
			body = append(body, jen.Id(a.GoName).Op(":=").Add(args).Dot(a.Field.Accessor).Call())
		case model.ArgValue:
			body = append(body, jen.Var().Id(a.GoName).Add(argType(a)))
		}
	}
	for _, a := range m.Params {
		if a.Role != model.ArgValue {
			continue
		}
		dec := g.decodeField(args, a.Field, jen.Id(a.GoName), false)
		if a.Has != nil {
			dec = []jen.Code{jen.If(jen.Id(a.Has.GoName)).Block(dec...)}
		}
		body = append(body, dec...)
	}
	var lhs []jen.Code
	for _, a := range m.Results {
		lhs = append(lhs, jen.Id(a.GoName))
	}
	lhs = append(lhs, jen.Err())
	invoke := jen.List(lhs...).Op(":=").Add(impl).Dot(m.GoName).Call(callArgs(m)...)
	onErr := []jen.Code{jen.Return(jen.Err())}
	if m.ErrorField != nil {
		onErr = []jen.Code{
			jen.List(jen.Id("s"), jen.Id("aerr")).Op(":=").Id("call").Dot("AllocResults").Call(),
			jen.If(jen.Id("aerr").Op("!=").Nil()).Block(jen.Return(jen.Id("aerr"))),
			jen.Return(jen.Qual(m.WireResults.Path, m.WireResults.Name).Call(jen.Id("s")).Dot(m.ErrorField.Setter).Call(jen.Err().Dot("Error").Call())),
		}
	}
	if len(m.Results) == 0 {
		// err may already be declared by the param decoding above.
		body = append(body, jen.If(invoke, jen.Err().Op("!=").Nil()).Block(onErr...))
	} else {
		body = append(body, invoke, jen.If(jen.Err().Op("!=").Nil()).Block(onErr...))
	}
	if len(m.Results) == 0 {
		return append(body, jen.Return(jen.Nil()))
	}
	body = append(body,
		jen.List(jen.Id("s"), jen.Err()).Op(":=").Id("call").Dot("AllocResults").Call(),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Err())),
		jen.Id("res").Op(":=").Qual(m.WireResults.Path, m.WireResults.Name).Call(jen.Id("s")),
	)
	res := jen.Id("res")
	for _, a := range m.Results {
		if a.Role != model.ArgValue {
			continue
		}
		sk := &fieldSink{s: res, fl: a.Field}
		if a.HasField != nil {
			present := jen.Id(a.GoName).Op("!=").Nil()
			val := jen.Op("*").Id(a.GoName)
			if a.Field.Type.Kind == model.KindStruct {
				val = jen.Parens(val) // (*result).ToCapnp
			}
			body = append(body,
				jen.Add(res).Dot(a.HasField.Setter).Call(present),
				jen.If(present).Block(g.encode(a.Field.Type, val, sk, a.Field.Path, false)...))
			continue
		}
		body = append(body, g.encode(a.Field.Type, jen.Id(a.GoName), sk, a.Field.Path, a.Pointer)...)
	}
	return append(body, jen.Return(jen.Nil()))
}

// emitUnimplemented emits the embeddable UnimplementedXServer.
func emitUnimplemented(f *jen.File, i *model.Interface) {
	f.Commentf("%s can be embedded in a %s implementation: every method", i.Unimplemented, i.GoName)
	f.Comment("returns rt.Unimplemented (and Destroy succeeds).")
	f.Type().Id(i.Unimplemented).Struct()
	f.Var().Id("_").Id(i.GoName).Op("=").Id(i.Unimplemented).Values()
	for _, m := range visible(i.All) {
		if m.Kind == model.MethodDestroy {
			f.Comment("Destroy does nothing.")
			f.Func().Params(jen.Id(i.Unimplemented)).Id(m.GoName).Params(ctxParam()).Error().Block(jen.Return(jen.Nil()))
			continue
		}
		f.Commentf("%s returns rt.Unimplemented.", m.GoName)
		body := []jen.Code{jen.Return(jen.Qual(pkgRT, "Unimplemented").Call(jen.Op("&").Id(m.Var)))}
		if len(m.Results) > 0 {
			body = []jen.Code{jen.Err().Op("=").Qual(pkgRT, "Unimplemented").Call(jen.Op("&").Id(m.Var)), jen.Return()}
		}
		f.Func().Params(jen.Id(i.Unimplemented)).Id(m.GoName).Params(sigParams(m)...).Params(sigResults(m)...).Block(body...)
	}
}
