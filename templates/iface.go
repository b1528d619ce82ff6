package templates

import (
	"strings"

	"github.com/dave/jennifer/jen"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/gen/model"
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
		defs = append(defs, jen.Id(m.Var).Op("=").Qual(pkgRT, "Method").Values(jen.Dict{
			jen.Id("File"):       jen.Lit(i.File.Path),
			jen.Id("Interface"):  jen.Lit(i.Name),
			jen.Id("Name"):       jen.Lit(m.Name),
			jen.Id("HasContext"): jen.Lit(m.HasContext),
			jen.Id("ParamsID"):   jen.Qual(m.WireParams.Path, m.WireParams.Name+"_TypeID"),
			jen.Id("ResultsID"):  jen.Qual(m.WireResults.Path, m.WireResults.Name+"_TypeID"),
			jen.Id("Schema"):     jen.Qual(m.WireParams.Path, "RegisterSchema"),
		}))
	}
	if len(defs) > 0 {
		f.Var().Defs(defs...)
	}
}

// emitInterface emits the Go domain interface.
func emitInterface(f *jen.File, i *model.Interface) {
	docFor(f, i.GoName, i.Doc, i.GoName+" is the schema interface "+i.Name+".")
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

// emitClient emits the client type and its methods.
func emitClient(f *jen.File, i *model.Interface) {
	wire := jen.Qual(i.Wire.Path, i.Wire.Name)
	f.Commentf("%s calls a remote %s over a *rt.Conn.", i.ClientName, i.GoName)
	f.Type().Id(i.ClientName).Struct(jen.Id("base").Op("*").Qual(pkgRT, "ClientBase"))
	f.Var().Id("_").Id(i.GoName).Op("=").Parens(jen.Op("*").Id(i.ClientName)).Parens(jen.Nil())
	f.Commentf("%s wraps capability c, which the client then owns.", i.NewClient)
	f.Func().Id(i.NewClient).Params(jen.Id("conn").Op("*").Qual(pkgRT, "Conn"), jen.Id("c").Add(wire)).Op("*").Id(i.ClientName).Block(
		jen.Return(jen.Op("&").Id(i.ClientName).Values(jen.Dict{
			jen.Id("base"): jen.Qual(pkgRT, "NewClientBase").Call(jen.Id("conn"), jen.Qual(pkgCapnp, "Client").Call(jen.Id("c"))),
		})),
	)
	recv := func() *jen.Statement { return f.Func().Params(jen.Id("c").Op("*").Id(i.ClientName)) }
	f.Comment("Conn returns the connection the client calls over.")
	recv().Id("Conn").Params().Op("*").Qual(pkgRT, "Conn").Block(jen.Return(jen.Id("c").Dot("base").Dot("Conn").Call()))
	f.Comment("Client returns the capability (borrowed: do not release it).")
	recv().Id("Client").Params().Qual(pkgCapnp, "Client").Block(jen.Return(jen.Id("c").Dot("base").Dot("Client").Call()))
	f.Comment("Capnp returns the typed wire capability (borrowed: do not release it).")
	recv().Id("Capnp").Params().Add(wire).Block(jen.Return(jen.Add(wire).Parens(jen.Id("c").Dot("base").Dot("Client").Call())))
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
				jen.Return(jen.Id("c").Dot("base").Dot("Destroy").Call(jen.Id("ctx"), jen.Op("&").Id(m.Var),
					jen.Func().Params(ctxParam(), jen.Id("tc").Op("*").Qual(pkgRT, "CallContext")).Error().Block(clientCallBody(m)...))),
			)
			continue
		}
		var rets []jen.Code
		for _, a := range m.Results {
			rets = append(rets, jen.Id(a.GoName))
		}
		call := jen.Id("c").Dot("base").Dot("Call").Call(jen.Id("ctx"), jen.Op("&").Id(m.Var),
			jen.Func().Params(ctxParam(), jen.Id("tc").Op("*").Qual(pkgRT, "CallContext")).Error().Block(clientCallBody(m)...))
		var body []jen.Code
		if len(m.Results) == 0 {
			body = []jen.Code{jen.Return(call)}
		} else {
			body = []jen.Code{jen.Err().Op("=").Add(call), jen.Return(append(rets, jen.Err())...)}
		}
		recv().Id(m.GoName).Params(sigParams(m)...).Params(sigResults(m)...).Block(body...)
	}

	// Helpers that pass domain values across as capabilities.
	f.Commentf("%s returns a capability for v to place into a message on conn: a client on", i.ToCapnp)
	f.Comment("the same connection passes its own capability (AddRef'd), anything else is served.")
	f.Func().Id(i.ToCapnp).Params(jen.Id("conn").Op("*").Qual(pkgRT, "Conn"), jen.Id("v").Id(i.GoName)).Add(wire).Block(
		jen.If(jen.Id("v").Op("==").Nil()).Block(jen.Return(jen.Add(wire).Values())),
		jen.If(jen.List(jen.Id("c"), jen.Id("ok")).Op(":=").Id("v").Assert(jen.Interface(
			jen.Id("Conn").Params().Op("*").Qual(pkgRT, "Conn"),
			jen.Id("Client").Params().Qual(pkgCapnp, "Client"),
		)), jen.Id("ok").Op("&&").Id("c").Dot("Conn").Call().Op("==").Id("conn")).Block(
			jen.Return(jen.Add(wire).Parens(jen.Id("c").Dot("Client").Call().Dot("AddRef").Call())),
		),
		jen.Return(jen.Id(i.ServerToCapnp).Call(jen.Id("v"))),
	)
	f.Commentf("%s wraps an owned capability received on conn; null gives nil.", i.FromCapnp)
	f.Func().Id(i.FromCapnp).Params(jen.Id("conn").Op("*").Qual(pkgRT, "Conn"), jen.Id("c").Add(wire)).Id(i.GoName).Block(
		jen.If(jen.Op("!").Id("c").Dot("IsValid").Call()).Block(jen.Id("c").Dot("Release").Call(), jen.Return(jen.Nil())),
		jen.Return(jen.Id(i.NewClient).Call(jen.Id("conn"), jen.Id("c"))),
	)
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
// it the bootstrap interface (so construct names its interface ID) and a
// constructor of the peer's bootstrap client.
func emitBootstrap(f *jen.File, i *model.Interface) {
	if i.BootstrapOption == "" {
		return
	}
	wire := jen.Qual(i.Wire.Path, i.Wire.Name)
	f.Commentf("%s makes %s the bootstrap interface of a", i.BootstrapOption, i.GoName)
	f.Comment("connection: pass it to rt.Connect and rt.Serve (or ipc.WithConnOptions)")
	f.Commentf("on both sides, so that the connection's construct call is %s.construct.", i.Name)
	f.Func().Id(i.BootstrapOption).Params().Qual(pkgRT, "Option").Block(
		jen.Return(jen.Qual(pkgRT, "WithInitInterfaceID").Call(jen.Qual(i.Wire.Path, i.Wire.Name+"_TypeID"))),
	)
	f.Commentf("%s returns a client of the %s that conn's peer", i.ClientFromConn, i.GoName)
	f.Commentf("serves (its bootstrap capability). conn must have been made with %s", i.BootstrapOption)
	f.Comment("(rt's default is Bitcoin Core's Init).")
	f.Func().Id(i.ClientFromConn).Params(ctxParam(), jen.Id("conn").Op("*").Qual(pkgRT, "Conn")).Op("*").Id(i.ClientName).Block(
		jen.Return(jen.Id(i.NewClient).Call(jen.Id("conn"), jen.Add(wire).Parens(jen.Id("conn").Dot("Bootstrap").Call(jen.Id("ctx"))))),
	)
}

func methodNeedsConn(m *model.Method) bool {
	for _, a := range append(append([]*model.Arg{}, m.Params...), m.Results...) {
		if a.Role == model.ArgValue && needsConn(a.Field.Type) {
			return true
		}
	}
	return false
}

// clientCallBody is the body of the func passed to ClientBase.Call.
func clientCallBody(m *model.Method) []jen.Code {
	g := &fn{conn: jen.Id("conn")}
	g.ret = func(err jen.Code) jen.Code { return jen.Return(err) }
	var body []jen.Code
	if methodNeedsConn(m) {
		body = append(body, jen.Id("conn").Op(":=").Id("c").Dot("base").Dot("Conn").Call())
	}
	// Params.
	var place []jen.Code
	p := jen.Id("p")
	if m.HasContext {
		place = append(place,
			jen.List(jen.Id("cp"), jen.Err()).Op(":=").Add(p).Dot("New"+m.ContextField.Accessor).Call(),
			jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Err())),
			jen.If(jen.Err().Op(":=").Id("tc").Dot("Fill").Call(jen.Id("cp")), jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Err())),
		)
	}
	for _, a := range m.Params {
		switch a.Role {
		case model.ArgWant, model.ArgHas:
			place = append(place, jen.Add(p).Dot("Set"+a.Field.Accessor).Call(jen.Id(a.GoName)))
		case model.ArgValue:
			enc := g.encode(a.Field.Type, jen.Id(a.GoName), &fieldSink{s: p, acc: a.Field.Accessor}, a.Field.Path, false)
			if a.Has != nil {
				enc = []jen.Code{jen.If(jen.Id(a.Has.GoName)).Block(enc...)}
			}
			place = append(place, enc...)
		}
	}
	paramsFn := jen.Nil()
	if len(place) > 0 {
		place = append(place, jen.Return(jen.Nil()))
		paramsFn = jen.Func().Params(jen.Id("p").Qual(m.WireParams.Path, m.WireParams.Name)).Error().Block(place...)
	}
	body = append(body,
		jen.List(jen.Id("fut"), jen.Id("release")).Op(":=").Id("c").Dot("Capnp").Call().Dot(m.WireName).Call(jen.Id("ctx"), paramsFn),
		jen.Defer().Id("release").Call(),
	)
	if len(m.Results) == 0 && len(m.Exceptions) == 0 {
		return append(body,
			jen.List(jen.Id("_"), jen.Err()).Op(":=").Id("fut").Dot("Struct").Call(),
			jen.Return(jen.Err()))
	}
	body = append(body,
		jen.List(jen.Id("res"), jen.Err()).Op(":=").Id("fut").Dot("Struct").Call(),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Err())),
	)
	res := jen.Id("res")
	for _, x := range m.Exceptions {
		t := g.tmp("x")
		text := jen.Id(t)
		if x.Type.Kind == model.KindStruct {
			text = jen.Id(t).Dot("String").Call()
		}
		body = append(body, jen.If(jen.Add(res).Dot("Has"+x.Accessor).Call()).Block(
			jen.List(jen.Id(t), jen.Err()).Op(":=").Add(res).Dot(x.Accessor).Call(),
			g.check(x.Path),
			jen.Return(jen.Qual(pkgRT, "RemoteException").Call(jen.Op("&").Id(m.Var), text)),
		))
	}
	for _, a := range m.Results {
		if a.Role != model.ArgValue {
			continue
		}
		dec := g.decodeField(res, a.Field, jen.Id(a.GoName), a.Pointer)
		if a.Has != nil {
			body = append(body,
				jen.Id(a.Has.GoName).Op("=").Add(res).Dot(a.Has.Field.Accessor).Call(),
				jen.If(jen.Id(a.Has.GoName)).Block(dec...))
			continue
		}
		body = append(body, dec...)
	}
	return append(body, jen.Return(jen.Nil()))
}

// emitServer emits the server adapter.
func emitServer(f *jen.File, i *model.Interface) {
	wire := jen.Qual(i.Wire.Path, i.Wire.Name)
	f.Commentf("%s serves impl as a %s capability. Calls run on the", i.ServerToCapnp, i.Name)
	f.Comment("threads named by their context (see rt.ServerBase.Handle).")
	f.Func().Id(i.ServerToCapnp).Params(jen.Id("impl").Id(i.GoName)).Add(wire).Block(
		jen.Return(jen.Qual(i.WireToCli.Path, i.WireToCli.Name).Call(jen.Op("&").Id(i.ServerType).Values(jen.Dict{jen.Id("impl"): jen.Id("impl")}))),
	)
	f.Commentf("%s adapts a %s to capnpc-go's %s_Server.", i.ServerType, i.GoName, i.Wire.Name)
	f.Type().Id(i.ServerType).Struct(
		jen.Qual(pkgRT, "ServerBase"),
		jen.Id("impl").Id(i.GoName),
	)
	recv := func() *jen.Statement { return f.Func().Params(jen.Id("s").Op("*").Id(i.ServerType)) }
	f.Comment("Shutdown runs when the capability is released; it destroys impl if")
	f.Comment("the peer did not.")
	destroy := jen.Nil()
	if i.Destroy != nil {
		destroy = jen.Id("s").Dot("impl").Dot("Destroy")
	}
	recv().Id("Shutdown").Params().Block(jen.Id("s").Dot("ServerBase").Dot("Shutdown").Call(destroy))

	for _, m := range i.All {
		f.Commentf("%s serves %s.%s.", m.WireName, m.Interface.Name, m.Name)
		call := jen.Id("call")
		params := []jen.Code{ctxParam(), jen.Id("call").Qual(m.WireCall.Path, m.WireCall.Name)}
		getCtx := jen.Nil()
		if m.HasContext {
			getCtx = jen.Id("call").Dot("Args").Call().Dot(m.ContextField.Accessor)
		}
		switch m.Kind {
		case model.MethodConstruct:
			recv().Id(m.WireName).Params(params...).Error().Block(jen.Return(
				jen.Id("s").Dot("ServerBase").Dot("HandleConstruct").Call(jen.Id("ctx"), jen.Add(call).Dot("Call"),
					jen.Add(call).Dot("Args").Call().Dot("ThreadMap").Call(),
					jen.Func().Params(jen.Id("tm").Qual(pkgMP, "ThreadMap")).Error().Block(
						jen.List(jen.Id("res"), jen.Err()).Op(":=").Add(call).Dot("AllocResults").Call(),
						jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Err())),
						jen.Return(jen.Id("res").Dot("SetThreadMap").Call(jen.Id("tm"))),
					))))
		case model.MethodDestroy:
			recv().Id(m.WireName).Params(params...).Error().Block(jen.Return(
				jen.Id("s").Dot("ServerBase").Dot("HandleDestroy").Call(jen.Id("ctx"), jen.Add(call).Dot("Call"),
					jen.Op("&").Id(m.Var), getCtx, jen.Id("s").Dot("impl").Dot("Destroy"))))
		default:
			body := serverBody(m, jen.Id("s").Dot("impl"))
			if m.Bytes != nil {
				body = append([]jen.Code{jen.If(jen.List(jen.Id("impl"), jen.Id("ok")).Op(":=").Id("s").Dot("impl").Assert(rawIface(m)), jen.Id("ok")).Block(
					serverBody(m.Bytes, jen.Id("impl"))...)}, body...)
			}
			recv().Id(m.WireName).Params(params...).Error().Block(jen.Return(
				jen.Id("s").Dot("ServerBase").Dot("Handle").Call(jen.Id("ctx"), jen.Add(call).Dot("Call"),
					jen.Op("&").Id(m.Var), getCtx,
					jen.Func().Params(ctxParam()).Error().Block(body...))))
		}
	}
}

// serverBody is the body of the func passed to ServerBase.Handle: it
// decodes the params, calls m on impl and encodes the results.
func serverBody(m *model.Method, impl jen.Code) []jen.Code {
	g := &fn{conn: jen.Id("conn")}
	g.ret = func(err jen.Code) jen.Code { return jen.Return(err) }
	var body []jen.Code
	if methodNeedsConn(m) {
		body = append(body, jen.Id("conn").Op(":=").Qual(pkgRT, "ConnFromContext").Call(jen.Id("ctx")))
	}
	args := jen.Id("args")
	if len(m.Params) > 0 {
		body = append(body, jen.Id("args").Op(":=").Id("call").Dot("Args").Call())
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
			jen.List(jen.Id("res"), jen.Id("aerr")).Op(":=").Id("call").Dot("AllocResults").Call(),
			jen.If(jen.Id("aerr").Op("!=").Nil()).Block(jen.Return(jen.Id("aerr"))),
			jen.Return(jen.Id("res").Dot("Set" + m.ErrorField.Accessor).Call(jen.Err().Dot("Error").Call())),
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
		jen.List(jen.Id("res"), jen.Err()).Op(":=").Id("call").Dot("AllocResults").Call(),
		jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Err())),
	)
	res := jen.Id("res")
	for _, a := range m.Results {
		if a.Role != model.ArgValue {
			continue
		}
		enc := g.encode(a.Field.Type, jen.Id(a.GoName), &fieldSink{s: res, acc: a.Field.Accessor}, a.Field.Path, a.Pointer)
		if a.Has != nil {
			body = append(body,
				jen.Add(res).Dot("Set"+a.Has.Field.Accessor).Call(jen.Id(a.Has.GoName)),
				jen.If(jen.Id(a.Has.GoName)).Block(enc...))
			continue
		}
		body = append(body, enc...)
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
