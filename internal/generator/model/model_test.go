package model_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/std/capnp/schema"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator/model"
)

func build(t *testing.T, path string) (*model.Model, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := capnp.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		t.Fatal(err)
	}
	req, err := schema.ReadRootCodeGeneratorRequest(msg)
	if err != nil {
		t.Fatal(err)
	}
	return model.Build(req)
}

func mustBuild(t *testing.T, path string) *model.Model {
	m, err := build(t, path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const featureReq = "../../../golden/testdata/feature/feature.capnp.bin"

func iface(t *testing.T, m *model.Model, name string) *model.Interface {
	for _, f := range m.Files {
		for _, i := range f.Interfaces {
			if i.Name == name {
				return i
			}
		}
	}
	t.Fatalf("no interface %s", name)
	return nil
}

func strct(t *testing.T, m *model.Model, name string) *model.Struct {
	for _, f := range m.Files {
		for _, s := range f.Structs {
			if s.Name == name {
				return s
			}
		}
	}
	t.Fatalf("no struct %s", name)
	return nil
}

func method(t *testing.T, i *model.Interface, name string) *model.Method {
	for _, m := range i.All {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no method %s.%s", i.Name, name)
	return nil
}

func argNames(as []*model.Arg) string {
	var s []string
	for _, a := range as {
		s = append(s, a.GoName)
	}
	return strings.Join(s, ",")
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestFileAndPackages(t *testing.T) {
	m := mustBuild(t, featureReq)
	eq(t, "files", len(m.Files), 1)
	f := m.Files[0]
	eq(t, "OutName", f.OutName, "feature.ipc.go")
	eq(t, "Wire", f.Wire.Path, "github.com/bitcoin-ipc/bitcoin-ipc/golden/feature/featurecapnp")
	eq(t, "Domain", f.Domain, model.Package{Path: "github.com/bitcoin-ipc/bitcoin-ipc/golden/feature", Name: "feature"})
	eq(t, "CapnpVersion", m.CapnpVersion, "0.9.2")
}

func TestInterfaceNames(t *testing.T) {
	m := mustBuild(t, featureReq)
	i := iface(t, m, "Feature")
	eq(t, "GoName", i.GoName, "Feature")
	eq(t, "ClientName", i.ClientName, "FeatureClient")
	eq(t, "NewClient", i.NewClient, "NewFeatureClient")
	eq(t, "Server", i.Server, "FeatureServer")
	eq(t, "Desc", i.Desc, "featureDesc")
	eq(t, "CapFn", i.CapFn, "featureCap")
	eq(t, "FromCapFn", i.FromCapFn, "featureFromCap")
	eq(t, "Unimplemented", i.Unimplemented, "UnimplementedFeatureServer")
	eq(t, "Wire", i.Wire.Name, "Feature")
	eq(t, "TypeID", i.TypeID.Name, "Feature_TypeID")
	eq(t, "ParamsID", method(t, i, "optionalPointer").ParamsID.Name, "Feature_optionalPointer_Params_TypeID")
	eq(t, "Wrap", i.Wrap, "feature::Feature")
	eq(t, "Callback", i.Callback, false)
	eq(t, "Destroy", i.Destroy.Name, "destroy")

	op := method(t, i, "optionalPointer")
	eq(t, "GoName", op.GoName, "OptionalPointer")
	eq(t, "WireParams", op.WireParams.Name, "Feature_optionalPointer_Params")
	eq(t, "WireResults", op.WireResults.Name, "Feature_optionalPointer_Results")
	eq(t, "Var", op.Var, "methodFeatureOptionalPointer")
	eq(t, "Handler", op.Handler, "featureOptionalPointer")
	eq(t, "Index", op.Index, 5)
	eq(t, "ParamsSize", op.ParamsSize, model.ObjectSize{PointerCount: 1})
	eq(t, "ResultsSize", op.ResultsSize, model.ObjectSize{DataSize: 8, PointerCount: 1})
	eq(t, "ContextPtr", op.ContextField.Ptr, uint16(0))
	pr := method(t, i, "presence")
	eq(t, "interface result ptr", pr.Results[3].Field.Ptr, uint16(3))
	eq(t, "destroy Handler", method(t, i, "destroy").Handler, "")
	eq(t, "HasContext", op.HasContext, true)
	eq(t, "Loc", op.Loc, "feature.capnp:Feature.optionalPointer")
}

// TestNamingRule covers the interface naming rule: the $Proxy.wrap class
// name wins when it is free, and the client of X is XProxyClient when the
// schema declares XClient.
func TestNamingRule(t *testing.T) {
	m := mustBuild(t, featureReq)
	p := iface(t, m, "PrinterInterface")
	eq(t, "wrap name", p.GoName, "Printer")
	eq(t, "wrap client", p.ClientName, "PrinterClient")
	eq(t, "wrap server", p.Server, "PrinterServer")
	eq(t, "wrap method var", method(t, p, "print").Var, "methodPrinterPrint")
	s := iface(t, m, "Store")
	eq(t, "taken client", s.ClientName, "StoreProxyClient")
	eq(t, "taken client constructor", s.NewClient, "NewStoreProxyClient")
	sc := iface(t, m, "StoreClient")
	eq(t, "schema XClient", sc.GoName, "StoreClient")
	eq(t, "its client", sc.ClientName, "StoreClientClient")
	eq(t, "callback keeps schema name", iface(t, m, "Callback").GoName, "Callback")
}

func TestConventions(t *testing.T) {
	m := mustBuild(t, featureReq)
	i := iface(t, m, "Feature")

	eq(t, "construct kind", method(t, i, "construct").Kind, model.MethodConstruct)
	eq(t, "BootstrapOption", i.BootstrapOption, "WithFeatureBootstrap")
	eq(t, "Bootstrap", i.Bootstrap, true)
	eq(t, "Derived BootstrapOption", iface(t, m, "Derived").BootstrapOption, "")
	eq(t, "Derived Bootstrap", iface(t, m, "Derived").Bootstrap, false)
	eq(t, "destroy kind", method(t, i, "destroy").Kind, model.MethodDestroy)
	eq(t, "noContext", method(t, i, "noContext").HasContext, false)

	multi := method(t, i, "multi")
	eq(t, "multi results", argNames(multi.Results), "result,other,extra")

	os := method(t, i, "optionalScalar")
	eq(t, "optionalScalar params", argNames(os.Params), "x,hasX")
	eq(t, "optionalScalar results", argNames(os.Results), "result")
	eq(t, "optional scalar result is *T", os.Results[0].Pointer, true)
	eq(t, "optional scalar result flag", os.Results[0].HasField.Name, "hasResult")
	eq(t, "hasX role", os.Params[1].Role, model.ArgHas)
	eq(t, "x has", os.Params[0].Has, os.Params[1])

	op := method(t, i, "optionalPointer")
	eq(t, "optional struct is *T", op.Results[0].Pointer, true)
	eq(t, "$Go.name on companion", op.Results[0].HasField.Accessor, "HasResultFlag")
	eq(t, "companion setter", op.Results[0].HasField.Setter, "SetHasResultFlag")
	eq(t, "value accessor", op.Results[0].Field.Accessor, "Result")
	eq(t, "value setter", op.Results[0].Field.Setter, "SetResult")
	eq(t, "value presence", op.Results[0].Field.Haser, "HasResult")
	eq(t, "value allocator", op.Results[0].Field.Newer, "NewResult")

	pr := method(t, i, "presence")
	eq(t, "presence results", argNames(pr.Results), "result,data,names,cb")
	eq(t, "struct result by presence", pr.Results[0].Pointer, true)

	w := method(t, i, "want")
	eq(t, "want params", argNames(w.Params), "wantDetail")
	eq(t, "want role", w.Params[0].Role, model.ArgWant)
	eq(t, "want results", argNames(w.Results), "result,detail")

	io := method(t, i, "inOut")
	eq(t, "inOut params", argNames(io.Params), "x,sum")
	eq(t, "inOut results", argNames(io.Results), "sumOut")
	eq(t, "inOut flag", io.Results[0].InOut && io.Params[1].InOut, true)

	eq(t, "$Proxy.name on method", method(t, i, "named").ProxyName, "NamedOnServer")

	f := method(t, i, "fails")
	eq(t, "exceptions", len(f.Exceptions), 2)
	eq(t, "error field", f.ErrorField.Name, "error")
	eq(t, "fails results", argNames(f.Results), "result")

	old := method(t, i, "doStuffOld3")
	eq(t, "deprecated", strings.HasPrefix(old.Deprecated, "Deprecated: DoStuffOld3"), true)
	eq(t, "not deprecated", method(t, i, "doStuff").Deprecated, "")
	ds := method(t, i, "doStuff")
	eq(t, "defaults doc", strings.Join(ds.Defaults, "; "), "wait = 2.5ms; mode = ColorBlue")
	eq(t, "hash domain", ds.Params[0].Field.Type.Domain, model.DomainHash)
	eq(t, "list elem domain", ds.Results[0].Field.Type.Elem.Domain, model.DomainTx)

	eq(t, "void param hidden", argNames(method(t, i, "voidParam").Params), "")
	eq(t, "reserved names", argNames(method(t, i, "reserved").Params), "lenArg,errArg,stringArg")
	pr2 := method(t, iface(t, m, "PrinterInterface"), "print")
	eq(t, "Go names and a numbered one", argNames(pr2.Params), "printArg,typeArg,printArg2")
	eq(t, "Go name as result", argNames(pr2.Results), "result,lenArg")
	eq(t, "count annotation", method(t, i, "count").Params[0].Field.Count, 2)
	eq(t, "doc comment", method(t, i, "noContext").Doc, "Runs on the event loop.")
}

func TestBytesSiblings(t *testing.T) {
	m := mustBuild(t, featureReq)
	i := iface(t, m, "Feature")

	rf := method(t, i, "rawForms")
	b := rf.Bytes
	if b == nil {
		t.Fatal("rawForms has no raw-bytes sibling")
	}
	eq(t, "sibling name (schema's rawFormsBytes keeps RawFormsBytes)", b.GoName, "RawFormsBytes_")
	eq(t, "schema method name", method(t, i, "rawFormsBytes").GoName, "RawFormsBytes")
	eq(t, "shared wire method", b.Var, rf.Var)
	eq(t, "sibling params", argNames(b.Params), argNames(rf.Params))
	var raw []string
	for _, a := range append(append([]*model.Arg{}, b.Params...), b.Results...) {
		if a.Raw {
			raw = append(raw, a.GoName)
		}
	}
	eq(t, "raw args", strings.Join(raw, ","), "block,txs,header,result,out")
	eq(t, "raw block domain", b.Params[0].Field.Type.Domain, model.DomainRaw)
	eq(t, "raw list elem domain", b.Params[1].Field.Type.Elem.Domain, model.DomainRaw)
	eq(t, "typed block domain kept", rf.Params[0].Field.Type.Domain, model.DomainBlock)
	eq(t, "companion relinked", b.Params[2].Has, b.Params[3])
	eq(t, "companion's value relinked", b.Params[3].Value, b.Params[2])
	eq(t, "plain Data list not raw", b.Params[4].Raw, false)

	eq(t, "list result sibling", method(t, i, "doStuff").Bytes.GoName, "DoStuffBytes")
	for _, name := range []string{"multi", "everything", "destroy", "doStuffOld3", "presence"} {
		if method(t, i, name).Bytes != nil {
			t.Errorf("%s has a raw-bytes sibling", name)
		}
	}
}

func TestInheritanceAndCallbacks(t *testing.T) {
	m := mustBuild(t, featureReq)
	d := iface(t, m, "Derived")
	eq(t, "supers", len(d.Supers), 1)
	eq(t, "all methods", len(d.All), 3)
	eq(t, "inherited destroy", d.Destroy.Interface.Name, "Base")
	eq(t, "inherited wire params", method(t, d, "ping").WireParams.Name, "Base_ping_Params")
	c := iface(t, m, "Callback")
	eq(t, "callback", c.Callback, true)
	eq(t, "FuncName", c.FuncName, "CallbackFunc")
}

func TestStructs(t *testing.T) {
	m := mustBuild(t, featureReq)
	e := strct(t, m, "Everything")
	eq(t, "NeedsCaps", e.NeedsCaps, true)
	byName := map[string]*model.Field{}
	for _, f := range e.Fields {
		byName[f.Name] = f
	}
	eq(t, "renamed accessor", byName["string"].Accessor, "String_")
	eq(t, "GoName", byName["string"].GoName, "String")
	eq(t, "path", byName["hash"].Path, "Everything.hash")
	eq(t, "generic args", len(byName["map"].Type.Elem.Args), 2)
	eq(t, "list of list wire", byName["matrix"].Type.Wire.Name, "PointerList")
	eq(t, "struct list wire", byName["nestedList"].Type.Wire.Name, "Everything_Nested_List")

	n := strct(t, m, "Everything.Nested.Inner")
	eq(t, "nested GoName", n.GoName, "Everything_Nested_Inner")

	o := strct(t, m, "Options")
	eq(t, "HasDefault", o.HasDefault, true)
	eq(t, "Default", o.Default, "DefaultOptions")
	eq(t, "NeedsCaps", o.NeedsCaps, false)
	for _, f := range o.Fields {
		if f.Name == "ignored" {
			eq(t, "skip kept in struct", f.Skip, true)
		}
		if f.Name == "flag" {
			eq(t, "$Proxy.name", f.ProxyName, "m_flag")
			eq(t, "default", f.Default.Bool, true)
		}
	}
	ch := strct(t, m, "Choice")
	eq(t, "union", ch.Union, true)
	eq(t, "which const", ch.Fields[1].WhichConst.Name, "Choice_Which_number")

	p := strct(t, m, "Pair")
	eq(t, "type params", len(p.TypeParams), 2)
	u := strct(t, m, "Unused")
	eq(t, "unused param", u.TypeParams[0].Used, false)
}

func TestEnum(t *testing.T) {
	m := mustBuild(t, featureReq)
	e := m.Files[0].Enums[0]
	eq(t, "GoName", e.GoName, "Color")
	eq(t, "$Go.name value wire", e.Values[2].Wire.Name, "Color_blue")
	eq(t, "value GoName", e.Values[2].GoName, "ColorBlue")
	eq(t, "value doc", e.Values[0].Doc, "The first colour.")
}

// TestNameCollision: interface ChainClient takes the name that Chain's
// client would get, so Chain's client is ChainProxyClient.
func TestNameCollision(t *testing.T) {
	p := "../../../golden/requests/multiprocess.bin"
	m := mustBuild(t, p)
	eq(t, "Chain client", iface(t, m, "Chain").ClientName, "ChainProxyClient")
	eq(t, "Chain client constructor", iface(t, m, "Chain").NewClient, "NewChainProxyClient")
	eq(t, "ChainClient interface", iface(t, m, "ChainClient").GoName, "ChainClient")
	eq(t, "ChainClient client", iface(t, m, "ChainClient").ClientName, "ChainClientClient")
}

func TestErrorsNameLocation(t *testing.T) {
	_, err := build(t, "../../../golden/testdata/bad/bad.capnp.bin")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"bad.capnp:Bad.ptr: AnyPointer fields are not supported",
		"bad.capnp:Worse.take.x: AnyPointer fields are not supported",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRealSets(t *testing.T) {
	for _, set := range []string{"v30", "v31", "v32", "multiprocess"} {
		p := "../../../golden/requests/" + set + ".bin"
		if _, err := os.Stat(p); err != nil {
			continue
		}
		m := mustBuild(t, p)
		eq(t, set+" Init BootstrapOption", iface(t, m, "Init").BootstrapOption, "WithInitBootstrap")
		eq(t, set+" Echo BootstrapOption", iface(t, m, "Echo").BootstrapOption, "")
		if set == "v32" {
			gt := method(t, iface(t, m, "Mining"), "getTip")
			eq(t, "getTip results", argNames(gt.Results), "result")
			eq(t, "getTip is *BlockRef", gt.Results[0].Pointer, true)
			eq(t, "getTip has accessor", gt.Results[0].HasField.Accessor, "HasResultFlag")
			eq(t, "Init construct", method(t, iface(t, m, "Init"), "construct").Kind, model.MethodConstruct)
			eq(t, "makeMiningOld2 deprecated", method(t, iface(t, m, "Init"), "makeMiningOld2").Deprecated != "", true)
		}
		var docs []string
		for _, f := range m.Files {
			if f.PackageDoc != "" {
				docs = append(docs, f.Path)
			}
		}
		eq(t, set+" package comment, once, on the bootstrap's file", strings.Join(docs, ","), "init.capnp")
		if set == "multiprocess" {
			eq(t, "ChainNotifications from wrap", iface(t, m, "ChainNotifications").GoName, "ChainNotifications")
		}
		if set == "v30" {
			eq(t, "v30 createNewBlock no context", method(t, iface(t, m, "Mining"), "createNewBlock").HasContext, false)
		}
	}
}
