package templates

import (
	"github.com/dave/jennifer/jen"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator/model"
)

// emitEnum aliases a wire enum and its values.
func emitEnum(f *jen.File, e *model.Enum) {
	docFor(f, e.GoName, e.Doc, e.GoName+" is the schema enum "+e.GoName)
	f.Type().Id(e.GoName).Op("=").Qual(e.Wire.Path, e.Wire.Name)
	var vals []jen.Code
	for _, v := range e.Values {
		vals = append(vals, doc(v.Doc)...)
		vals = append(vals, jen.Id(v.GoName).Op("=").Qual(v.Wire.Path, v.Wire.Name))
	}
	f.Comment(e.GoName + " values.")
	f.Const().Defs(vals...)
}

func typeParamDecl(s *model.Struct) jen.Code {
	var ps []jen.Code
	for _, p := range s.TypeParams {
		ps = append(ps, jen.Id(p.Name))
	}
	return jen.List(ps...).Any()
}

// emitStruct emits the domain struct, its conversions and its defaults.
func emitStruct(f *jen.File, s *model.Struct) {
	text := goDoc(s.GoName, s.Doc, s.GoName+" is the schema struct "+s.Name)
	if s.HasDefault {
		text += "\n\nThe zero value means zeros on the wire; " + s.Default + " returns the schema's defaults."
	}
	for _, c := range doc(text) {
		f.Add(c)
	}
	var fields []jen.Code
	for _, fl := range s.Fields {
		if fl.Type.Kind == model.KindVoid {
			continue
		}
		fields = append(fields, doc(fl.Doc)...)
		fields = append(fields, jen.Id(fl.GoName).Add(fieldType(fl.Type)))
	}
	if s.Union {
		fields = append(fields, jen.Comment("Which selects the union member that is set."))
		fields = append(fields, jen.Id("Which").Qual(s.WireWhich.Path, s.WireWhich.Name))
	}
	decl := f.Type().Id(s.GoName)
	if len(s.TypeParams) > 0 {
		decl.Types(typeParamDecl(s))
	}
	decl.Struct(fields...)

	emitFromCapnp(f, s)
	emitToCapnp(f, s)
	if s.HasDefault {
		emitDefault(f, s)
	}
}

// capsParam is the rt.Caps parameter of the converters of a struct that
// holds interfaces.
func capsParam(s *model.Struct) []jen.Code {
	if s.NeedsCaps {
		return []jen.Code{jen.Id("caps").Qual(pkgRT, "Caps")}
	}
	return nil
}

func emitFromCapnp(f *jen.File, s *model.Struct) {
	self := selfStructType(s)
	params := capsParam(s)
	params = append(params, jen.Id("s").Qual(s.Wire.Path, s.Wire.Name))
	for _, p := range s.TypeParams {
		if p.Used {
			params = append(params, jen.Id(p.FromFn).Func().Params(jen.Qual(pkgCapnp, "Ptr")).Params(jen.Id(p.Name), jen.Error()))
		}
	}
	g := &fn{caps: jen.Id("caps")}
	g.ret = func(err jen.Code) jen.Code { return jen.Return(jen.Add(self).Values(), err) }
	body := []jen.Code{jen.Var().Id("v").Add(self)}
	var cases []jen.Code
	for _, fl := range s.Fields {
		dst := jen.Id("v").Dot(fl.GoName)
		var stmts []jen.Code
		if fl.Type.Kind != model.KindVoid {
			stmts = g.decodeField(jen.Id("s"), fl, dst, fl.Type.Kind == model.KindStruct)
		}
		if fl.InUnion {
			cases = append(cases, jen.Case(jen.Qual(fl.WhichConst.Path, fl.WhichConst.Name)).Block(stmts...))
			continue
		}
		body = append(body, stmts...)
	}
	if s.Union {
		body = append(body,
			jen.Id("v").Dot("Which").Op("=").Id("s").Dot("Which").Call(),
			jen.Switch(jen.Id("v").Dot("Which")).Block(cases...))
	}
	body = append(body, jen.Return(jen.Id("v"), jen.Nil()))
	f.Commentf("%s converts a wire %s into its domain form.", s.FromCapnp, s.Name)
	decl := f.Func().Id(s.FromCapnp)
	if len(s.TypeParams) > 0 {
		decl.Types(typeParamDecl(s))
	}
	decl.Params(params...).Params(self, jen.Error()).Block(body...)
}

func emitToCapnp(f *jen.File, s *model.Struct) {
	params := capsParam(s)
	params = append(params, jen.Id("s").Qual(s.Wire.Path, s.Wire.Name))
	for _, p := range s.TypeParams {
		if p.Used {
			params = append(params, jen.Id(p.ToFn).Func().Params(jen.Op("*").Qual(pkgCapnp, "Segment"), jen.Id(p.Name)).Params(jen.Qual(pkgCapnp, "Ptr"), jen.Error()))
		}
	}
	g := &fn{caps: jen.Id("caps")}
	g.ret = func(err jen.Code) jen.Code { return jen.Return(err) }
	var body, cases []jen.Code
	for _, fl := range s.Fields {
		var stmts []jen.Code
		if fl.Type.Kind == model.KindVoid {
			stmts = []jen.Code{jen.Id("s").Dot(fl.Setter).Call()}
		} else {
			stmts = g.encode(fl.Type, jen.Id("v").Dot(fl.GoName), &fieldSink{s: jen.Id("s"), fl: fl}, fl.Path, fl.Type.Kind == model.KindStruct)
		}
		if fl.InUnion {
			cases = append(cases, jen.Case(jen.Qual(fl.WhichConst.Path, fl.WhichConst.Name)).Block(stmts...))
			continue
		}
		body = append(body, stmts...)
	}
	if s.Union {
		body = append(body, jen.Switch(jen.Id("v").Dot("Which")).Block(cases...))
	}
	body = append(body, jen.Return(jen.Nil()))
	f.Commentf("ToCapnp writes v into the wire struct s.")
	f.Func().Params(jen.Id("v").Add(selfStructType(s))).Id("ToCapnp").Params(params...).Error().Block(body...)
}

func emitDefault(f *jen.File, s *model.Struct) {
	var vals []jen.Code
	for _, fl := range s.Fields {
		if fl.Default != nil && fl.Type.Kind != model.KindVoid {
			vals = append(vals, jen.Id(fl.GoName).Op(":").Add(defaultValue(fl)))
		}
	}
	f.Commentf("%s returns a %s holding the schema's default values.", s.Default, s.GoName)
	decl := f.Func().Id(s.Default)
	if len(s.TypeParams) > 0 {
		decl.Types(typeParamDecl(s))
	}
	decl.Params().Add(selfStructType(s)).Block(jen.Return(jen.Add(selfStructType(s)).Values(vals...)))
}
