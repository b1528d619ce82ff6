package model

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/std/capnp/schema"
)

// Annotation and node IDs the model recognises.
const (
	goPackageAnn = 0xbea97f1023792be0
	goImportAnn  = 0xe130b601260e44b5
	goNameAnn    = 0xc2b96012172f8df1

	proxyFileID     = 0xcc316e3f71a040fb
	proxyWrapAnn    = 0xe6f46079b7b1405e
	proxyCountAnn   = 0xd02682b319f69b38
	proxyExcAnn     = 0x996a183200992f88
	proxyNameAnn    = 0xb594888f63f4dbb9
	proxySkipAnn    = 0x824c08b82695d8dd
	proxyContextID  = 0x9c44e6645d0b22c6
	proxyThreadMap  = 0xee5e37179ad9dc9d
	ipcFileID       = 0xabcc9345b3a6cbae
	ipcDomainAnn    = 0x86f19f2feb8e6d44
	goStdFileID     = 0xd12a1c51fedd6c88
	cxxStdFileID    = 0xbdf87d7bb8304e81
	capnpImportPath = "capnproto.org/go/capnp/v3"
)

// capnpc-go renames struct fields whose Title'd name collides with a
// method of every generated struct type (nodes.go renameIdents).
var wireRenameIdents = map[string]bool{"IsValid": true, "Segment": true, "String": true, "Message": true, "Which": true}

// locError is an error at a schema location.
type locError struct {
	loc string
	msg string
}

func (e *locError) Error() string { return e.loc + ": " + e.msg }

func errAt(loc, format string, args ...any) error {
	return &locError{loc: loc, msg: fmt.Sprintf(format, args...)}
}

// node is a schema node plus the names capnpc-go gives it.
type node struct {
	schema.Node
	wireName string // capnpc-go's Go name, e.g. Mining_getTip_Params
	pkg      Package
	file     *node
	display  string // "mining.capnp:Mining"
	name     string // short display name: "Mining", "Outer.Inner"
	doc      string
	members  []string // member doc comments by index
	resolved bool
}

type builder struct {
	nodes map[uint64]*node
	model *Model
	errs  []error

	structs    map[uint64]*Struct
	enums      map[uint64]*Enum
	interfaces map[uint64]*Interface
	names      map[Package]map[string]string // top-level Go names -> location
}

func (b *builder) fail(err error) { b.errs = append(b.errs, err) }

// Build turns a CodeGeneratorRequest into the typed model. All errors
// found are returned together, each naming its schema location.
func Build(req schema.CodeGeneratorRequest) (*Model, error) {
	b := &builder{
		nodes:      make(map[uint64]*node),
		model:      &Model{GeneratorVersion: Version},
		structs:    make(map[uint64]*Struct),
		enums:      make(map[uint64]*Enum),
		interfaces: make(map[uint64]*Interface),
		names:      make(map[Package]map[string]string),
	}
	if v, err := req.CapnpVersion(); err == nil && v.IsValid() {
		b.model.CapnpVersion = fmt.Sprintf("%d.%d.%d", v.Major(), v.Minor(), v.Micro())
	}
	if err := b.index(req); err != nil {
		return nil, err
	}
	rfs, err := req.RequestedFiles()
	if err != nil {
		return nil, fmt.Errorf("reading requested files: %w", err)
	}
	// First declare every type of every requested file (so that files may
	// reference each other), then fill in fields and methods.
	var files []*SchemaFile
	for i := 0; i < rfs.Len(); i++ {
		rf := rfs.At(i)
		switch rf.Id() {
		case proxyFileID, ipcFileID, goStdFileID, cxxStdFileID:
			continue // runtime-owned or annotation-only schemas
		}
		fn := b.nodes[rf.Id()]
		if fn == nil {
			return nil, fmt.Errorf("requested file %#x not in request", rf.Id())
		}
		name, _ := rf.Filename()
		f := b.declareFile(fn, name)
		if f != nil {
			files = append(files, f)
		}
	}
	if len(b.errs) == 0 {
		for _, f := range files {
			b.defineFile(f)
		}
	}
	if len(b.errs) == 0 {
		b.finish(files)
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	b.model.Files = files
	return b.model, nil
}

// index reads every node, its doc comments, and capnpc-go's names.
func (b *builder) index(req schema.CodeGeneratorRequest) error {
	ns, err := req.Nodes()
	if err != nil {
		return fmt.Errorf("reading nodes: %w", err)
	}
	var files []*node
	for i := 0; i < ns.Len(); i++ {
		n := &node{Node: ns.At(i)}
		dn, _ := n.DisplayName()
		n.display = dn
		n.name = dn[n.DisplayNamePrefixLength():]
		if j := strings.IndexByte(dn, ':'); j >= 0 {
			n.name = dn[j+1:]
		}
		b.nodes[n.Id()] = n
		if n.Which() == schema.Node_Which_file {
			files = append(files, n)
		}
	}
	if si, err := req.SourceInfo(); err == nil {
		for i := 0; i < si.Len(); i++ {
			s := si.At(i)
			n := b.nodes[s.Id()]
			if n == nil {
				continue
			}
			d, _ := s.DocComment()
			n.doc = cleanDoc(d)
			ms, _ := s.Members()
			n.members = make([]string, ms.Len())
			for j := range n.members {
				d, _ := ms.At(j).DocComment()
				n.members[j] = cleanDoc(d)
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Id() < files[j].Id() })
	for _, f := range files {
		f.file = f
		anns, _ := f.Annotations()
		pkgName := annText(anns, goPackageAnn)
		imp := annText(anns, goImportAnn)
		f.pkg = Package{Path: imp, Name: pkgName}
		nested, _ := f.NestedNodes()
		for i := 0; i < nested.Len(); i++ {
			nn := nested.At(i)
			if c := b.nodes[nn.Id()]; c != nil {
				name, _ := nn.Name()
				b.resolveName(c, "", name, f)
			}
		}
	}
	return nil
}

// resolveName mirrors capnpc-go's resolveName (nodes.go) exactly.
func (b *builder) resolveName(n *node, base, name string, file *node) {
	anns, _ := n.Annotations()
	if r := annText(anns, goNameAnn); r != "" {
		name = r
	}
	if base == "" {
		n.wireName = title(name)
		if n.Which() == schema.Node_Which_annotation && n.wireName[0] != name[0] {
			n.wireName += "_"
		}
	} else {
		n.wireName = base + "_" + name
	}
	n.pkg = file.pkg
	n.file = file
	n.resolved = true
	nested, _ := n.NestedNodes()
	for i := 0; i < nested.Len(); i++ {
		nn := nested.At(i)
		if c := b.nodes[nn.Id()]; c != nil {
			cname, _ := nn.Name()
			b.resolveName(c, n.wireName, cname, file)
		}
	}
	switch n.Which() {
	case schema.Node_Which_structNode:
		fields, _ := n.StructNode().Fields()
		for i := 0; i < fields.Len(); i++ {
			f := fields.At(i)
			if f.Which() != schema.Field_Which_group {
				continue
			}
			if g := b.nodes[f.Group().TypeId()]; g != nil {
				fanns, _ := f.Annotations()
				fname, _ := f.Name()
				if r := annText(fanns, goNameAnn); r != "" {
					fname = r
				}
				b.resolveName(g, n.wireName, fname, file)
			}
		}
	case schema.Node_Which_interface:
		ms, _ := n.Interface().Methods()
		for i := 0; i < ms.Len(); i++ {
			m := ms.At(i)
			mname, _ := m.Name()
			manns, _ := m.Annotations()
			if r := annText(manns, goNameAnn); r != "" {
				mname = r
			}
			base := n.wireName + "_" + mname
			for _, x := range []struct {
				id   uint64
				name string
			}{{m.ParamStructType(), "Params"}, {m.ResultStructType(), "Results"}} {
				if c := b.nodes[x.id]; c != nil && c.ScopeId() == 0 {
					b.resolveName(c, base, x.name, file)
				}
			}
		}
	}
}

// title is strings.Title for the identifiers capnp allows (ASCII words).
func title(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}

func cleanDoc(d string) string { return strings.TrimSpace(d) }

func annText(anns capnp.StructList[schema.Annotation], id uint64) string {
	for i := 0; i < anns.Len(); i++ {
		a := anns.At(i)
		if a.Id() == id {
			v, _ := a.Value()
			t, _ := v.Text()
			return t
		}
	}
	return ""
}

func findAnn(anns capnp.StructList[schema.Annotation], id uint64) (schema.Value, bool) {
	for i := 0; i < anns.Len(); i++ {
		a := anns.At(i)
		if a.Id() == id {
			v, _ := a.Value()
			return v, true
		}
	}
	return schema.Value{}, false
}

// wireIdent is capnpc-go's Go identifier for a node.
func (b *builder) wireIdent(n *node, suffix string) GoIdent {
	return GoIdent{Path: n.pkg.Path, Name: n.wireName + suffix}
}

// domainPackage derives the companion package from the wire package:
// gen/v32/v32capnp -> gen/v32, package v32.
func domainPackage(wire Package) Package {
	dir := path.Dir(wire.Path)
	return Package{Path: dir, Name: path.Base(dir)}
}

// missingGoAnnotations says which of $Go.package and $Go.import a schema
// file lacks and what to add, with names derived from the file name.
func missingGoAnnotations(file string, pkg Package) string {
	var missing []string
	if pkg.Name == "" {
		missing = append(missing, "$Go.package")
	}
	if pkg.Path == "" {
		missing = append(missing, "$Go.import")
	}
	base := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, strings.TrimSuffix(path.Base(file), ".capnp"))
	if base == "" || base[0] >= '0' && base[0] <= '9' {
		base = "schema" + base
	}
	noun := "annotation"
	if len(missing) > 1 {
		noun += "s"
	}
	return fmt.Sprintf("no %s %s: add `using Go = import \"/go.capnp\"; $Go.package(\"%[3]scapnp\"); "+
		"$Go.import(\"example.com/%[3]s/%[3]scapnp\");` to the file (capnpc-go's wire package; "+
		"capnpc-go-ipc writes package %[3]s into its parent directory), and pass go-capnp's std "+
		"directory, which holds /go.capnp, with -I", strings.Join(missing, " and "), noun, base)
}

var oldRe = regexp.MustCompile(`^(.+)Old([0-9]+)$`)

func (b *builder) declareFile(fn *node, name string) *SchemaFile {
	if fn.pkg.Path == "" || fn.pkg.Name == "" {
		b.fail(errAt(name, "%s", missingGoAnnotations(name, fn.pkg)))
		return nil
	}
	base := strings.TrimSuffix(path.Base(name), ".capnp")
	f := &SchemaFile{
		ID:      fn.Id(),
		Path:    name,
		OutName: base + ".ipc.go",
		Doc:     fn.doc,
		Wire:    fn.pkg,
		Domain:  domainPackage(fn.pkg),
	}
	if f.Domain.Path == "." || f.Domain.Name == "" {
		b.fail(errAt(name, "cannot derive a domain package from $Go.import %q", fn.pkg.Path))
		return nil
	}
	b.declareNested(f, fn)
	return f
}

func (b *builder) declareNested(f *SchemaFile, parent *node) {
	nested, _ := parent.NestedNodes()
	for i := 0; i < nested.Len(); i++ {
		n := b.nodes[nested.At(i).Id()]
		if n == nil {
			continue
		}
		switch n.Which() {
		case schema.Node_Which_structNode:
			b.declareStruct(f, n)
		case schema.Node_Which_enum:
			b.declareEnum(f, n)
		case schema.Node_Which_interface:
			b.declareInterface(f, n)
		}
		b.declareNested(f, n)
	}
}

// claim records a top-level Go name in the domain package.
func (b *builder) claim(pkg Package, name, loc string) {
	m := b.names[pkg]
	if m == nil {
		m = make(map[string]string)
		b.names[pkg] = m
	}
	if prev, ok := m[name]; ok {
		b.fail(errAt(loc, "Go name %s already used by %s", name, prev))
		return
	}
	m[name] = loc
}

func (b *builder) declareStruct(f *SchemaFile, n *node) {
	sn := n.StructNode()
	if sn.IsGroup() {
		return
	}
	goName := n.wireName
	s := &Struct{
		ID:        n.Id(),
		Name:      n.name,
		Loc:       n.display,
		Doc:       n.doc,
		File:      f,
		Wire:      b.wireIdent(n, ""),
		WireNew:   GoIdent{Path: n.pkg.Path, Name: "New" + n.wireName},
		WireList:  b.wireIdent(n, "_List"),
		GoName:    goName,
		FromCapnp: goName + "FromCapnp",
		WireWhich: b.wireIdent(n, "_Which"),
	}
	anns, _ := n.Annotations()
	s.Wrap = annText(anns, proxyWrapAnn)
	if n.IsGeneric() {
		ps, _ := n.Parameters()
		for i := 0; i < ps.Len(); i++ {
			pn, _ := ps.At(i).Name()
			s.TypeParams = append(s.TypeParams, &TypeParam{
				Name: pn, Index: i,
				FromFn: lowerFirst(pn) + "FromPtr",
				ToFn:   lowerFirst(pn) + "ToPtr",
			})
		}
	}
	b.structs[s.ID] = s
	f.Structs = append(f.Structs, s)
	b.claim(f.Domain, s.GoName, s.Loc)
}

func (b *builder) declareEnum(f *SchemaFile, n *node) {
	e := &Enum{ID: n.Id(), Loc: n.display, Doc: n.doc, Wire: b.wireIdent(n, ""), GoName: n.wireName}
	es, _ := n.Enum().Enumerants()
	for i := 0; i < es.Len(); i++ {
		en := es.At(i)
		name, _ := en.Name()
		anns, _ := en.Annotations()
		wname := name
		if r := annText(anns, goNameAnn); r != "" {
			wname = r
		}
		v := &EnumValue{Name: name, Value: uint16(i),
			Wire:   GoIdent{Path: n.pkg.Path, Name: n.wireName + "_" + wname},
			GoName: e.GoName + title(wname)}
		if i < len(n.members) {
			v.Doc = n.members[i]
		}
		e.Values = append(e.Values, v)
		b.claim(f.Domain, v.GoName, n.display+"."+name)
	}
	b.enums[e.ID] = e
	f.Enums = append(f.Enums, e)
	b.claim(f.Domain, e.GoName, e.Loc)
}

func (b *builder) declareInterface(f *SchemaFile, n *node) {
	g := n.wireName
	i := &Interface{
		ID: n.Id(), Name: n.name, Loc: n.display, Doc: n.doc, File: f,
		Wire:          b.wireIdent(n, ""),
		GoName:        g,
		ClientName:    g + "Client",
		NewClient:     "New" + g + "Client",
		Server:        g + "Server",
		Desc:          lowerFirst(g) + "Desc",
		Unimplemented: "Unimplemented" + g + "Server",
		FuncName:      g + "Func",
		CapFn:         lowerFirst(g) + "Cap",
		FromCapFn:     lowerFirst(g) + "FromCap",
	}
	anns, _ := n.Annotations()
	i.Wrap = annText(anns, proxyWrapAnn)
	if n.IsGeneric() {
		b.fail(errAt(i.Loc, "generic interfaces are not supported"))
	}
	b.interfaces[i.ID] = i
	f.Interfaces = append(f.Interfaces, i)
	b.claim(f.Domain, i.GoName, i.Loc)
}

// derive claims a generated (non-schema) name: on a collision it appends
// underscores until the name is free, as capnpc-go does for its own names.
func (b *builder) derive(pkg Package, name, loc string) string {
	m := b.names[pkg]
	for m[name] != "" {
		name += "_"
	}
	b.claim(pkg, name, loc)
	return name
}

// deriveNames names everything generated around the schema's own names,
// in file order, so that the rule is deterministic.
func (b *builder) deriveNames(files []*SchemaFile) {
	for _, f := range files {
		d := f.Domain
		for _, s := range f.Structs {
			s.FromCapnp = b.derive(d, s.FromCapnp, s.Loc)
			if s.HasDefault {
				s.Default = b.derive(d, "Default"+s.GoName, s.Loc)
			}
		}
		for _, i := range f.Interfaces {
			for _, p := range []*string{&i.ClientName, &i.NewClient, &i.Server, &i.Desc, &i.Unimplemented, &i.CapFn, &i.FromCapFn} {
				*p = b.derive(d, *p, i.Loc)
			}
			if i.Callback {
				i.FuncName = b.derive(d, i.FuncName, i.Loc)
			}
			for _, m := range i.Methods {
				m.Var = b.derive(d, m.Var, m.Loc)
				if m.Kind == MethodPlain {
					m.Handler = b.derive(d, m.Handler, m.Loc)
				}
			}
		}
	}
}

func (b *builder) defineFile(f *SchemaFile) {
	for _, s := range f.Structs {
		b.defineStruct(s)
	}
	for _, i := range f.Interfaces {
		b.defineInterface(i)
	}
}

func (b *builder) defineStruct(s *Struct) {
	n := b.nodes[s.ID]
	sn := n.StructNode()
	s.Union = sn.DiscriminantCount() > 0
	fields, _ := sn.Fields()
	used := map[string]string{"ToCapnp": "method"}
	for i := 0; i < fields.Len(); i++ {
		sf := fields.At(i)
		fname, _ := sf.Name()
		loc := s.Loc + "." + fname
		if sf.Which() == schema.Field_Which_group {
			b.fail(errAt(loc, "groups are not supported"))
			continue
		}
		f := b.field(n, sf, i, s.Name, loc, s)
		if f == nil {
			continue
		}
		if f.Type.Kind == KindVoid && !f.InUnion {
			continue
		}
		if f.Default != nil {
			s.HasDefault = true
		}
		if prev, ok := used[f.GoName]; ok {
			b.fail(errAt(loc, "Go field name %s collides with %s", f.GoName, prev))
		}
		used[f.GoName] = f.Name
		s.Fields = append(s.Fields, f)
	}
}

// field reads one struct field. scope is the generic struct whose
// parameters the field may use (nil for method params/results).
func (b *builder) field(parent *node, sf schema.Field, index int, pathPrefix, loc string, scope *Struct) *Field {
	fname, _ := sf.Name()
	anns, _ := sf.Annotations()
	acc := fname
	if r := annText(anns, goNameAnn); r != "" {
		acc = r
	} else if wireRenameIdents[title(fname)] {
		acc = fname + "_"
	}
	f := &Field{
		Name:     fname,
		Path:     pathPrefix + "." + fname,
		Loc:      loc,
		Accessor: title(acc),
		GoName:   goFieldName(fname),
		Ordinal:  int(sf.Ordinal().Explicit()),
		Count:    -1,
	}
	if index < len(parent.members) {
		f.Doc = parent.members[index]
	}
	if sf.DiscriminantValue() != schema.Field_noDiscriminant {
		f.InUnion = true
		f.WhichConst = GoIdent{Path: parent.pkg.Path, Name: parent.wireName + "_Which_" + acc}
	}
	f.ProxyName = annText(anns, proxyNameAnn)
	_, f.Skip = findAnn(anns, proxySkipAnn)
	if v, ok := findAnn(anns, proxyExcAnn); ok {
		f.Exception, _ = v.Text()
		if f.Exception == "" {
			f.Exception = "std::exception"
		}
	}
	if v, ok := findAnn(anns, proxyCountAnn); ok {
		f.Count = int(v.Int32())
	}
	dom := DomainRaw
	if v, ok := findAnn(anns, ipcDomainAnn); ok {
		dom = Domain(v.Enum())
		if int(dom) >= len(domainNames) {
			b.fail(errAt(loc, "unknown $Ipc.domain value %d", dom))
			return nil
		}
	}
	st, err := sf.Slot().Type()
	if err != nil {
		b.fail(errAt(loc, "reading type: %v", err))
		return nil
	}
	t, err := b.typeOf(st, scope)
	if err != nil {
		b.fail(errAt(loc, "%v", err))
		return nil
	}
	if dom != DomainRaw {
		if err := applyDomain(t, dom); err != nil {
			b.fail(errAt(loc, "%v", err))
			return nil
		}
	}
	f.Type = t
	if f.IsPointer() {
		f.Ptr = uint16(sf.Slot().Offset())
	}
	if sf.Slot().HadExplicitDefault() {
		dv, _ := sf.Slot().DefaultValue()
		v, err := b.defaultValue(t, dv)
		if err != nil {
			b.fail(errAt(loc, "%v", err))
			return nil
		}
		f.Default = v
	}
	return f
}

// objectSize is the wire size of struct node n.
func objectSize(n *node) ObjectSize {
	sn := n.StructNode()
	return ObjectSize{DataSize: sn.DataWordCount() * 8, PointerCount: sn.PointerCount()}
}

// goFieldName is the exported Go name of a domain struct field.
func goFieldName(name string) string { return title(name) }

// applyDomain sets d on t, or on its innermost list element.
func applyDomain(t *Type, d Domain) error {
	for t.Kind == KindList {
		t = t.Elem
	}
	want := map[Domain]Kind{
		DomainHash: KindData, DomainTx: KindData, DomainBlock: KindData, DomainHeader: KindData,
		DomainTxOut: KindData, DomainScript: KindData, DomainJSON: KindText,
		DomainAmount: KindInt64, DomainSeconds: KindInt64, DomainMillis: KindFloat64,
	}[d]
	if t.Kind != want {
		return fmt.Errorf("$Ipc.domain(%s) needs a %s field (or a list of them), not %s", d, kindName(want), kindName(t.Kind))
	}
	t.Domain = d
	return nil
}

func kindName(k Kind) string {
	return [...]string{"Void", "Bool", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
		"Float32", "Float64", "Text", "Data", "List", "enum", "struct", "interface", "generic parameter", "AnyPointer"}[k]
}

var scalarKinds = map[schema.Type_Which]struct {
	kind Kind
	wire string
	list string
}{
	schema.Type_Which_void:    {KindVoid, "struct{}", "VoidList"},
	schema.Type_Which_bool:    {KindBool, "bool", "BitList"},
	schema.Type_Which_int8:    {KindInt8, "int8", "Int8List"},
	schema.Type_Which_int16:   {KindInt16, "int16", "Int16List"},
	schema.Type_Which_int32:   {KindInt32, "int32", "Int32List"},
	schema.Type_Which_int64:   {KindInt64, "int64", "Int64List"},
	schema.Type_Which_uint8:   {KindUint8, "uint8", "UInt8List"},
	schema.Type_Which_uint16:  {KindUint16, "uint16", "UInt16List"},
	schema.Type_Which_uint32:  {KindUint32, "uint32", "UInt32List"},
	schema.Type_Which_uint64:  {KindUint64, "uint64", "UInt64List"},
	schema.Type_Which_float32: {KindFloat32, "float32", "Float32List"},
	schema.Type_Which_float64: {KindFloat64, "float64", "Float64List"},
	schema.Type_Which_text:    {KindText, "string", "TextList"},
	schema.Type_Which_data:    {KindData, "[]byte", "DataList"},
}

// typeOf resolves a schema type. scope is the generic struct in which
// parameter references are legal.
func (b *builder) typeOf(st schema.Type, scope *Struct) (*Type, error) {
	if sk, ok := scalarKinds[st.Which()]; ok {
		return &Type{Kind: sk.kind, WireBuiltin: sk.wire}, nil
	}
	switch st.Which() {
	case schema.Type_Which_list:
		et, err := st.List().ElementType()
		if err != nil {
			return nil, err
		}
		elem, err := b.typeOf(et, scope)
		if err != nil {
			return nil, err
		}
		t := &Type{Kind: KindList, Elem: elem}
		switch {
		case elem.Kind == KindVoid:
			return nil, fmt.Errorf("List(Void) is not supported")
		case elem.Kind == KindEnum || elem.Kind == KindStruct || elem.Kind == KindInterface:
			var n *node
			switch elem.Kind {
			case KindEnum:
				n = b.nodes[elem.Enum.ID]
			case KindStruct:
				n = b.nodes[elem.Struct.ID]
			default:
				n = b.nodes[elem.Interface.ID]
			}
			t.Wire = b.wireIdent(n, "_List")
			t.WireNew = GoIdent{Path: n.pkg.Path, Name: "New" + n.wireName + "_List"}
		case elem.Kind == KindList || elem.Kind == KindTypeParam:
			t.Wire = GoIdent{Path: capnpImportPath, Name: "PointerList"}
			t.WireNew = GoIdent{Path: capnpImportPath, Name: "NewPointerList"}
		default:
			sk := scalarKinds[et.Which()]
			t.Wire = GoIdent{Path: capnpImportPath, Name: sk.list}
			t.WireNew = GoIdent{Path: capnpImportPath, Name: "New" + sk.list}
		}
		return t, nil
	case schema.Type_Which_enum:
		e := b.enums[st.Enum().TypeId()]
		if e == nil {
			return nil, fmt.Errorf("enum %s is not declared in a requested file", b.nodeName(st.Enum().TypeId()))
		}
		return &Type{Kind: KindEnum, Enum: e, Wire: e.Wire}, nil
	case schema.Type_Which_structType:
		id := st.StructType().TypeId()
		if id == proxyContextID {
			n := b.nodes[id]
			return &Type{Kind: KindStruct, Context: true, Wire: b.wireIdent(n, "")}, nil
		}
		s := b.structs[id]
		if s == nil {
			return nil, fmt.Errorf("struct %s is not declared in a requested file", b.nodeName(id))
		}
		t := &Type{Kind: KindStruct, Struct: s, Wire: s.Wire, WireNew: s.WireNew}
		if len(s.TypeParams) > 0 {
			brand, _ := st.StructType().Brand()
			args, err := b.brandArgs(s, brand, scope)
			if err != nil {
				return nil, err
			}
			t.Args = args
		}
		return t, nil
	case schema.Type_Which_interface:
		id := st.Interface().TypeId()
		if id == proxyThreadMap {
			return &Type{Kind: KindInterface, ThreadMap: true, Wire: b.wireIdent(b.nodes[id], "")}, nil
		}
		i := b.interfaces[id]
		if i == nil {
			return nil, fmt.Errorf("interface %s is not declared in a requested file", b.nodeName(id))
		}
		return &Type{Kind: KindInterface, Interface: i, Wire: i.Wire}, nil
	case schema.Type_Which_anyPointer:
		ap := st.AnyPointer()
		if ap.Which() == schema.Type_anyPointer_Which_parameter {
			p := ap.Parameter()
			if scope == nil || p.ScopeId() != scope.ID || int(p.ParameterIndex()) >= len(scope.TypeParams) {
				return nil, fmt.Errorf("generic parameter of %s used outside its struct", b.nodeName(p.ScopeId()))
			}
			tp := scope.TypeParams[p.ParameterIndex()]
			tp.Used = true
			return &Type{Kind: KindTypeParam, Param: tp, Wire: GoIdent{Path: capnpImportPath, Name: "Ptr"}}, nil
		}
		return nil, fmt.Errorf("AnyPointer fields are not supported")
	}
	return nil, fmt.Errorf("unsupported type %v", st.Which())
}

func (b *builder) nodeName(id uint64) string {
	if n := b.nodes[id]; n != nil {
		return n.display
	}
	return fmt.Sprintf("@%#x", id)
}

// brandArgs resolves the bindings of generic struct s in brand.
func (b *builder) brandArgs(s *Struct, brand schema.Brand, scope *Struct) ([]*Type, error) {
	args := make([]*Type, len(s.TypeParams))
	scopes, _ := brand.Scopes()
	for i := 0; i < scopes.Len(); i++ {
		sc := scopes.At(i)
		if sc.ScopeId() != s.ID {
			continue
		}
		if sc.Which() == schema.Brand_Scope_Which_inherit {
			if scope == nil || scope.ID != s.ID {
				return nil, fmt.Errorf("inherited brand of %s outside its scope", s.Name)
			}
			for j, tp := range s.TypeParams {
				tp.Used = true
				args[j] = &Type{Kind: KindTypeParam, Param: tp, Wire: GoIdent{Path: capnpImportPath, Name: "Ptr"}}
			}
			continue
		}
		binds, _ := sc.Bind()
		for j := 0; j < binds.Len() && j < len(args); j++ {
			bd := binds.At(j)
			if bd.Which() != schema.Brand_Binding_Which_type {
				continue
			}
			bt, _ := bd.Type()
			t, err := b.typeOf(bt, scope)
			if err != nil {
				return nil, fmt.Errorf("binding %s of %s: %v", s.TypeParams[j].Name, s.Name, err)
			}
			if t.Kind.IsScalar() || t.Kind == KindVoid {
				return nil, fmt.Errorf("binding %s of %s to %s: generic parameters must be pointer types", s.TypeParams[j].Name, s.Name, kindName(t.Kind))
			}
			args[j] = t
		}
	}
	return args, nil
}

// checkArgs reports generic parameters that are used but left unbound.
func checkArgs(t *Type) error {
	switch t.Kind {
	case KindList:
		return checkArgs(t.Elem)
	case KindStruct:
		if t.Struct == nil {
			return nil
		}
		for i, tp := range t.Struct.TypeParams {
			a := t.Args[i]
			if a == nil {
				if tp.Used {
					return fmt.Errorf("generic parameter %s of %s is unbound", tp.Name, t.Struct.Name)
				}
				continue
			}
			if err := checkArgs(a); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *builder) defaultValue(t *Type, dv schema.Value) (*Value, error) {
	v := &Value{Kind: t.Kind}
	switch t.Kind {
	case KindBool:
		v.Bool = dv.Bool()
	case KindInt8:
		v.Int = int64(dv.Int8())
	case KindInt16:
		v.Int = int64(dv.Int16())
	case KindInt32:
		v.Int = int64(dv.Int32())
	case KindInt64:
		v.Int = dv.Int64()
	case KindUint8:
		v.Uint = uint64(dv.Uint8())
	case KindUint16:
		v.Uint = uint64(dv.Uint16())
	case KindUint32:
		v.Uint = uint64(dv.Uint32())
	case KindUint64:
		v.Uint = dv.Uint64()
	case KindFloat32:
		v.Float = float64(dv.Float32())
	case KindFloat64:
		v.Float = dv.Float64()
	case KindEnum:
		i := int(dv.Enum())
		if i >= len(t.Enum.Values) {
			return nil, fmt.Errorf("default enumerant %d out of range", i)
		}
		v.Enum = t.Enum.Values[i]
	case KindText:
		if t.Domain != DomainRaw && t.Domain != DomainJSON {
			return nil, fmt.Errorf("defaults are not supported with $Ipc.domain(%s)", t.Domain)
		}
		v.Text, _ = dv.Text()
	case KindData:
		if t.Domain != DomainRaw && t.Domain != DomainScript {
			return nil, fmt.Errorf("defaults are not supported with $Ipc.domain(%s)", t.Domain)
		}
		v.Data, _ = dv.Data()
	case KindVoid:
		return nil, nil
	default:
		return nil, fmt.Errorf("defaults of %s fields are not supported", kindName(t.Kind))
	}
	return v, nil
}

func (b *builder) defineInterface(i *Interface) {
	n := b.nodes[i.ID]
	ms, _ := n.Interface().Methods()
	for k := 0; k < ms.Len(); k++ {
		if m := b.method(i, n, ms.At(k), k); m != nil {
			i.Methods = append(i.Methods, m)
		}
	}
	if len(i.Methods) > 0 && i.Methods[0].Index == 0 && i.Methods[0].Kind == MethodConstruct {
		i.Bootstrap = true
		i.BootstrapOption = "With" + i.GoName + "Bootstrap"
	}
	supers, _ := n.Interface().Superclasses()
	for k := 0; k < supers.Len(); k++ {
		sid := supers.At(k).Id()
		s := b.interfaces[sid]
		if s == nil {
			b.fail(errAt(i.Loc, "superclass %s is not declared in a requested file", b.nodeName(sid)))
			continue
		}
		if s.File.Domain != i.File.Domain {
			b.fail(errAt(i.Loc, "superclass %s is in another Go package", s.Loc))
			continue
		}
		i.Supers = append(i.Supers, s)
	}
}

var reservedClientMethods = map[string]bool{"Conn": true, "Cap": true, "Release": true, "AddCleanup": true}

func (b *builder) method(i *Interface, n *node, sm schema.Method, index int) *Method {
	name, _ := sm.Name()
	manns, _ := sm.Annotations()
	m := &Method{
		Interface: i,
		Name:      name,
		Index:     index,
		Loc:       i.Loc + "." + name,
		GoName:    title(name),
		Var:       "method" + i.GoName + title(name),
		ProxyName: annText(manns, proxyNameAnn),
	}
	if index < len(n.members) {
		m.Doc = n.members[index]
	}
	switch name {
	case "destroy":
		m.Kind = MethodDestroy
	case "construct":
		m.Kind = MethodConstruct
	default:
		m.Handler = lowerFirst(i.GoName) + title(name)
	}
	if sm := oldRe.FindStringSubmatch(name); sm != nil {
		m.Deprecated = fmt.Sprintf("Deprecated: %s is kept for wire compatibility with older peers (superseded by %s); it is never called implicitly.", m.GoName, title(sm[1]))
	}
	if reservedClientMethods[m.GoName] {
		b.fail(errAt(m.Loc, "method name %s collides with a method of %s", m.GoName, i.ClientName))
		return nil
	}
	if l, _ := sm.ImplicitParameters(); l.Len() > 0 {
		b.fail(errAt(m.Loc, "generic methods are not supported"))
		return nil
	}
	pn, rn := b.nodes[sm.ParamStructType()], b.nodes[sm.ResultStructType()]
	if pn == nil || rn == nil {
		b.fail(errAt(m.Loc, "params or results struct missing from the request"))
		return nil
	}
	if pn.IsGeneric() || rn.IsGeneric() {
		b.fail(errAt(m.Loc, "generic param or result structs are not supported"))
		return nil
	}
	m.WireParams, m.WireResults = b.wireIdent(pn, ""), b.wireIdent(rn, "")
	m.ParamsSize, m.ResultsSize = objectSize(pn), objectSize(rn)
	params := b.methodFields(m, pn, "params")
	results := b.methodFields(m, rn, "results")
	if params == nil || results == nil {
		return nil
	}
	b.mapMethod(m, params, results)
	if m.Kind == MethodPlain && m.Deprecated == "" {
		m.Bytes = bytesSibling(m)
	}
	return m
}

// rawType returns t with its tx, block, header or txOut domain (on t or
// its list elements) replaced by raw Data, or nil when t has none.
func rawType(t *Type) *Type {
	switch {
	case t.Kind == KindData && t.Domain.HasRaw():
		r := *t
		r.Domain = DomainRaw
		return &r
	case t.Kind == KindList:
		if e := rawType(t.Elem); e != nil {
			r := *t
			r.Elem = e
			return &r
		}
	}
	return nil
}

// bytesSibling returns m's raw-bytes sibling (see Method.Bytes), or nil
// when no param or result of m has a raw form.
func bytesSibling(m *Method) *Method {
	raw := false
	copyArgs := func(as []*Arg, seen map[*Arg]*Arg) []*Arg {
		out := make([]*Arg, len(as))
		for k, a := range as {
			c := *a
			if a.Role == ArgValue {
				if t := rawType(a.Field.Type); t != nil {
					f := *a.Field
					f.Type = t
					c.Field, c.Raw, raw = &f, true, true
				}
			}
			out[k], seen[a] = &c, &c
		}
		return out
	}
	seen := map[*Arg]*Arg{}
	s := *m
	s.GoName = m.GoName + "Bytes"
	s.Params = copyArgs(m.Params, seen)
	s.Results = copyArgs(m.Results, seen)
	if !raw {
		return nil
	}
	for _, a := range append(append([]*Arg{}, s.Params...), s.Results...) {
		if a.Has != nil {
			a.Has = seen[a.Has]
		}
		if a.Value != nil {
			a.Value = seen[a.Value]
		}
	}
	return &s
}

func (b *builder) methodFields(m *Method, n *node, which string) []*Field {
	fs, _ := n.StructNode().Fields()
	out := make([]*Field, 0, fs.Len())
	ok := true
	for k := 0; k < fs.Len(); k++ {
		sf := fs.At(k)
		fname, _ := sf.Name()
		loc := m.Loc + "." + fname
		if sf.Which() == schema.Field_Which_group {
			b.fail(errAt(loc, "groups are not supported in %s", which))
			ok = false
			continue
		}
		if sf.DiscriminantValue() != schema.Field_noDiscriminant {
			b.fail(errAt(loc, "unions are not supported in %s", which))
			ok = false
			continue
		}
		f := b.field(n, sf, k, m.Interface.Name+"."+m.Name, loc, nil)
		if f == nil {
			ok = false
			continue
		}
		if err := checkArgs(f.Type); err != nil {
			b.fail(errAt(loc, "%v", err))
			ok = false
			continue
		}
		out = append(out, f)
	}
	sort.SliceStable(out, func(x, y int) bool { return out[x].Ordinal < out[y].Ordinal })
	if !ok {
		return nil
	}
	return out
}

// reservedArgNames are identifiers that generated method bodies use, Go's
// keywords and predeclared names, and the import names of generated files.
var reservedArgNames = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range strings.Fields(`break case chan const continue default defer else fallthrough for func go goto if
		import interface map package range return select struct switch type var
		any append bool byte cap clear close comparable complex complex64 complex128 copy delete error false
		float32 float64 imag int int8 int16 int32 int64 iota len make max min new nil panic print println real
		recover rune string true uint uint8 uint16 uint32 uint64 uintptr
		ctx err call args res s c f p r impl v seg aerr ok fn
		capnp rt domain wire chainhash btcutil bytes time json context`) {
		m[s] = true
	}
	return m
}()

var tempNameRe = regexp.MustCompile(`^[a-z][0-9]+$`)

// argName is the Go name of a parameter or result for schema name n.
func argName(n string) string {
	if reservedArgNames[n] || tempNameRe.MatchString(n) {
		return n + "_"
	}
	return n
}

// mapMethod applies mpgen's FieldList conventions (protocol doc §2.3).
func (b *builder) mapMethod(m *Method, params, results []*Field) {
	byName := func(fs []*Field) map[string]*Field {
		x := make(map[string]*Field, len(fs))
		for _, f := range fs {
			x[f.Name] = f
		}
		return x
	}
	pn, rn := byName(params), byName(results)
	hidden := func(f *Field) bool { return f.Skip || f.Type.Kind == KindVoid }

	// Context and construct's ThreadMap.
	for _, f := range params {
		if f.Type.Context {
			if f.Name != "context" || m.HasContext {
				b.fail(errAt(f.Loc, "a Proxy.Context param must be the single field named context"))
			}
			m.HasContext = true
			m.ContextField = f
		}
	}
	if m.Kind == MethodConstruct {
		tp, tr := pn["threadMap"], rn["threadMap"]
		if tp == nil || tr == nil || !tp.Type.ThreadMap || !tr.Type.ThreadMap || len(params) != 1 || len(results) != 1 {
			b.fail(errAt(m.Loc, "construct must be (threadMap :Proxy.ThreadMap) -> (threadMap :Proxy.ThreadMap)"))
		}
		return
	}
	if m.Kind == MethodDestroy {
		for _, f := range append(append([]*Field{}, params...), results...) {
			if !f.Type.Context && !hidden(f) {
				b.fail(errAt(f.Loc, "destroy takes only a context and returns nothing"))
			}
		}
		return
	}
	for _, f := range append(append([]*Field{}, params...), results...) {
		if f.Type.ThreadMap {
			b.fail(errAt(f.Loc, "Proxy.ThreadMap fields are only supported in construct"))
			return
		}
		if f.Type.Context && f.Name != "context" {
			b.fail(errAt(f.Loc, "Proxy.Context fields are only supported as params.context"))
			return
		}
	}
	// Companions: hasX next to x (same struct), wantX param for result x.
	hasOf := map[*Field]*Field{}  // x -> hasX
	isComp := map[*Field]bool{}   // hasX / wantX fields
	wantOf := map[*Field]*Field{} // result x -> wantX param
	for _, set := range []map[string]*Field{pn, rn} {
		for _, f := range set {
			if !strings.HasPrefix(f.Name, "has") || len(f.Name) == 3 || f.Type.Kind != KindBool {
				continue
			}
			x := set[lowerFirst(f.Name[3:])]
			if x == nil || x == f || hidden(x) {
				continue
			}
			hasOf[x], isComp[f] = f, true
		}
	}
	for _, f := range params {
		if !strings.HasPrefix(f.Name, "want") || len(f.Name) == 4 || f.Type.Kind != KindBool {
			continue
		}
		if x := rn[lowerFirst(f.Name[4:])]; x != nil {
			wantOf[x], isComp[f] = f, true
		}
	}
	for _, f := range results {
		if f.Exception != "" {
			if f.Type.Kind != KindText && f.Type.Kind != KindStruct {
				b.fail(errAt(f.Loc, "$Proxy.exception fields must be Text or a struct"))
			}
			m.Exceptions = append(m.Exceptions, f)
			isComp[f] = true
		}
	}
	for _, f := range m.Exceptions {
		if f.Type.Kind == KindText && (m.ErrorField == nil || f.Exception == "std::exception" && m.ErrorField.Exception != "std::exception") {
			m.ErrorField = f
		}
	}

	names := map[string]bool{"ctx": true, "err": true}
	unique := func(n string) string {
		n = argName(n)
		for names[n] {
			n += "_"
		}
		names[n] = true
		return n
	}
	valueArg := func(f *Field, result bool) *Arg {
		a := &Arg{Role: ArgValue, Field: f, IsResult: result}
		if result {
			a.InOut = pn[f.Name] != nil && !isComp[pn[f.Name]]
		} else {
			a.InOut = rn[f.Name] != nil && !isComp[rn[f.Name]]
		}
		if hf := hasOf[f]; hf != nil {
			a.Has = &Arg{Role: ArgHas, Field: hf, Value: a, IsResult: result}
		} else if result && f.Type.Kind == KindStruct {
			a.Pointer = true
		}
		return a
	}
	// Params in ordinal order; hasX right after x, wantX at its position.
	for _, f := range params {
		switch {
		case f.Type.Context || hidden(f):
		case wantOf[rnField(rn, f)] == f:
			m.Params = append(m.Params, &Arg{Role: ArgWant, Field: f, GoName: unique(f.Name)})
		case isComp[f]:
		default:
			a := valueArg(f, false)
			a.GoName = unique(f.Name)
			m.Params = append(m.Params, a)
			if a.Has != nil {
				a.Has.GoName = unique(a.Has.Field.Name)
				m.Params = append(m.Params, a.Has)
			}
			if f.Default != nil {
				m.Defaults = append(m.Defaults, fmt.Sprintf("%s = %s", a.GoName, describeValue(f)))
			}
		}
	}
	// Results: result first, then other outputs in ordinal order.
	ordered := make([]*Field, 0, len(results))
	if r := rn["result"]; r != nil {
		ordered = append(ordered, r)
	}
	for _, f := range results {
		if f.Name != "result" {
			ordered = append(ordered, f)
		}
	}
	for _, f := range ordered {
		if hidden(f) || isComp[f] {
			continue
		}
		a := valueArg(f, true)
		n := f.Name
		if a.InOut {
			n += "Out"
		}
		a.GoName = unique(n)
		m.Results = append(m.Results, a)
		if a.Has != nil {
			a.Has.GoName = unique(a.Has.Field.Name)
			m.Results = append(m.Results, a.Has)
		}
	}
}

func rnField(rn map[string]*Field, want *Field) *Field {
	if !strings.HasPrefix(want.Name, "want") || len(want.Name) <= 4 {
		return nil
	}
	return rn[lowerFirst(want.Name[4:])]
}

// describeValue renders a default for documentation.
func describeValue(f *Field) string {
	v := f.Default
	switch v.Kind {
	case KindBool:
		return strconv.FormatBool(v.Bool)
	case KindInt8, KindInt16, KindInt32, KindInt64:
		switch f.Type.Domain {
		case DomainSeconds:
			return strconv.FormatInt(v.Int, 10) + "s"
		case DomainAmount:
			return strconv.FormatInt(v.Int, 10) + " sat"
		}
		return strconv.FormatInt(v.Int, 10)
	case KindUint8, KindUint16, KindUint32, KindUint64:
		return strconv.FormatUint(v.Uint, 10)
	case KindFloat32, KindFloat64:
		if f.Type.Domain == DomainMillis {
			if v.Float >= 9.223372036854775807e15 {
				return "domain.NoTimeout"
			}
			return strconv.FormatFloat(v.Float, 'g', -1, 64) + "ms"
		}
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	case KindEnum:
		return v.Enum.GoName
	case KindText:
		return strconv.Quote(v.Text)
	case KindData:
		return fmt.Sprintf("%x", v.Data)
	}
	return "?"
}

// finish computes facts that need every file defined.
func (b *builder) finish(files []*SchemaFile) {
	for _, f := range files {
		for _, s := range f.Structs {
			for _, fl := range s.Fields {
				if err := checkArgs(fl.Type); err != nil {
					b.fail(errAt(fl.Loc, "%v", err))
				}
			}
		}
	}
	// NeedsCaps: fixed point over struct fields.
	for changed := true; changed; {
		changed = false
		for _, f := range files {
			for _, s := range f.Structs {
				if s.NeedsCaps {
					continue
				}
				for _, fl := range s.Fields {
					if needsCaps(fl.Type) {
						s.NeedsCaps, changed = true, true
						break
					}
				}
			}
		}
	}
	for _, f := range files {
		for _, i := range f.Interfaces {
			b.methodSet(i, i, map[*Interface]bool{})
			own := map[string]bool{}
			for _, m := range i.All {
				if own[m.GoName] {
					b.fail(errAt(m.Loc, "method %s is declared twice in %s", m.GoName, i.Loc))
				}
				own[m.GoName] = true
				if m.Kind == MethodDestroy && i.Destroy == nil {
					i.Destroy = m
				}
			}

			i.Callback = len(i.Methods) > 0 && len(i.Supers) == 0
			hasCall := false
			for _, m := range i.Methods {
				switch {
				case m.Name == "call":
					hasCall = true
				case m.Kind != MethodDestroy:
					i.Callback = false
				}
			}
			i.Callback = i.Callback && hasCall
		}
	}
	// Raw-bytes siblings come after every schema method: a schema name
	// wins, and the sibling of a method gets underscores where it is
	// declared; a sibling that an inheriting interface cannot have is an
	// error.
	for _, f := range files {
		for _, i := range f.Interfaces {
			names := map[string]bool{}
			for _, m := range i.All {
				names[m.GoName] = true
			}
			for _, m := range i.Methods {
				if m.Bytes == nil {
					continue
				}
				for names[m.Bytes.GoName] || reservedClientMethods[m.Bytes.GoName] {
					m.Bytes.GoName += "_"
				}
				names[m.Bytes.GoName] = true
			}
		}
	}
	for _, f := range files {
		for _, i := range f.Interfaces {
			names := map[string]bool{}
			for _, m := range i.All {
				names[m.GoName] = true
			}
			for _, m := range i.All {
				if m.Bytes == nil {
					continue
				}
				if names[m.Bytes.GoName] {
					b.fail(errAt(m.Loc, "raw-bytes method %s collides with another method of %s", m.Bytes.GoName, i.Loc))
				}
				names[m.Bytes.GoName] = true
			}
		}
	}
	b.deriveNames(files)
}

func (b *builder) methodSet(root, i *Interface, seen map[*Interface]bool) {
	if seen[i] {
		return
	}
	seen[i] = true
	root.All = append(root.All, i.Methods...)
	for _, s := range i.Supers {
		b.methodSet(root, s, seen)
	}
}

func needsCaps(t *Type) bool {
	switch t.Kind {
	case KindInterface:
		return true
	case KindList:
		return needsCaps(t.Elem)
	case KindStruct:
		if t.Struct == nil {
			return false
		}
		if t.Struct.NeedsCaps {
			return true
		}
		for _, a := range t.Args {
			if a != nil && needsCaps(a) {
				return true
			}
		}
	}
	return false
}
