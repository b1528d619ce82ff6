package templates

import (
	"math"
	"strconv"

	"github.com/dave/jennifer/jen"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator/model"
)

// goType is the domain Go type of t in value form (struct values, not
// pointers).
func goType(t *model.Type) *jen.Statement {
	switch t.Kind {
	case model.KindBool:
		return jen.Bool()
	case model.KindInt8:
		return jen.Int8()
	case model.KindInt16:
		return jen.Int16()
	case model.KindInt32:
		return jen.Int32()
	case model.KindInt64:
		switch t.Domain {
		case model.DomainAmount:
			return jen.Qual(pkgBtcutil, "Amount")
		case model.DomainSeconds:
			return jen.Qual(pkgTime, "Duration")
		}
		return jen.Int64()
	case model.KindUint8:
		return jen.Uint8()
	case model.KindUint16:
		return jen.Uint16()
	case model.KindUint32:
		return jen.Uint32()
	case model.KindUint64:
		return jen.Uint64()
	case model.KindFloat32:
		return jen.Float32()
	case model.KindFloat64:
		if t.Domain == model.DomainMillis {
			return jen.Qual(pkgTime, "Duration")
		}
		return jen.Float64()
	case model.KindText:
		if t.Domain == model.DomainJSON {
			return jen.Qual(pkgJSON, "RawMessage")
		}
		return jen.String()
	case model.KindData:
		switch t.Domain {
		case model.DomainHash:
			return jen.Qual(pkgChainhash, "Hash")
		case model.DomainTx:
			return jen.Op("*").Qual(pkgWire, "MsgTx")
		case model.DomainBlock:
			return jen.Op("*").Qual(pkgWire, "MsgBlock")
		case model.DomainHeader:
			return jen.Qual(pkgWire, "BlockHeader")
		case model.DomainTxOut:
			return jen.Op("*").Qual(pkgWire, "TxOut")
		}
		return jen.Index().Byte()
	case model.KindList:
		return jen.Index().Add(goType(t.Elem))
	case model.KindEnum:
		return jen.Id(t.Enum.GoName)
	case model.KindStruct:
		return structType(t)
	case model.KindInterface:
		return jen.Id(t.Interface.GoName)
	case model.KindTypeParam:
		return jen.Id(t.Param.Name)
	}
	panic("templates: no Go type for kind " + strconv.Itoa(int(t.Kind)))
}

// structType is a struct reference with its type arguments.
func structType(t *model.Type) *jen.Statement {
	s := jen.Id(t.Struct.GoName)
	if len(t.Struct.TypeParams) == 0 {
		return s
	}
	var args []jen.Code
	for i, a := range t.Args {
		if a == nil {
			args = append(args, jen.Struct())
			continue
		}
		_ = i
		args = append(args, goType(a))
	}
	return s.Types(args...)
}

// fieldType is the type of a domain struct field: struct-typed fields are
// pointers (nil when null), which also allows recursive structs.
func fieldType(t *model.Type) *jen.Statement {
	if t.Kind == model.KindStruct {
		return jen.Op("*").Add(goType(t))
	}
	return goType(t)
}

// argType is the Go type of a method parameter or result.
func argType(a *model.Arg) *jen.Statement {
	switch a.Role {
	case model.ArgHas, model.ArgWant:
		return jen.Bool()
	}
	if a.Pointer {
		return jen.Op("*").Add(goType(a.Field.Type))
	}
	return goType(a.Field.Type)
}

// wireType is capnpc-go's Go type for t.
func wireType(t *model.Type) *jen.Statement {
	switch t.WireBuiltin {
	case "":
		return jen.Qual(t.Wire.Path, t.Wire.Name)
	case "[]byte":
		return jen.Index().Byte()
	default:
		return jen.Id(t.WireBuiltin)
	}
}

// selfStructType is the receiver type of a struct's own methods.
func selfStructType(s *model.Struct) *jen.Statement {
	st := jen.Id(s.GoName)
	if len(s.TypeParams) == 0 {
		return st
	}
	var ps []jen.Code
	for _, p := range s.TypeParams {
		ps = append(ps, jen.Id(p.Name))
	}
	return st.Types(ps...)
}

// defaultValue renders a schema default as a Go expression of the field's
// domain type.
func defaultValue(f *model.Field) jen.Code {
	v, t := f.Default, f.Type
	switch v.Kind {
	case model.KindBool:
		return jen.Lit(v.Bool)
	case model.KindInt8, model.KindInt16, model.KindInt32, model.KindInt64:
		if t.Domain == model.DomainSeconds {
			return jen.Id(strconv.FormatInt(v.Int, 10)).Op("*").Qual(pkgTime, "Second")
		}
		return jen.Id(strconv.FormatInt(v.Int, 10))
	case model.KindUint8, model.KindUint16, model.KindUint32, model.KindUint64:
		return jen.Id(strconv.FormatUint(v.Uint, 10))
	case model.KindFloat32, model.KindFloat64:
		if t.Domain == model.DomainMillis {
			if v.Float >= float64(math.MaxInt64)/1e6 {
				return jen.Qual(pkgDomain, "NoTimeout")
			}
			return jen.Qual(pkgDomain, "Millis").Call(jen.Id(strconv.FormatFloat(v.Float, 'g', -1, 64)))
		}
		return jen.Id(strconv.FormatFloat(v.Float, 'g', -1, 64))
	case model.KindEnum:
		return jen.Id(v.Enum.GoName)
	case model.KindText:
		if t.Domain == model.DomainJSON {
			return jen.Qual(pkgJSON, "RawMessage").Call(jen.Lit(v.Text))
		}
		return jen.Lit(v.Text)
	case model.KindData:
		var bs []jen.Code
		for _, b := range v.Data {
			bs = append(bs, jen.Id("0x"+strconv.FormatUint(uint64(b)|0x100, 16)[1:]))
		}
		return jen.Index().Byte().Values(bs...)
	}
	panic("templates: unsupported default")
}
