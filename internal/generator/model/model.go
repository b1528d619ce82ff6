// Package model is capnpc-go-ipc's typed model of a CodeGeneratorRequest:
// files, interfaces, methods, structs, fields and enums with every Go name,
// capnpc-go wire accessor and IPC convention (docs/generated-code.md)
// already decided. The emitters in internal/generator/templates read only this model; they
// never look at a schema.Node.
package model

// GoIdent is a Go identifier and the import path of its package.
type GoIdent struct {
	Path string // import path; empty for builtins
	Name string
}

// Package is a Go package.
type Package struct {
	Path string
	Name string
}

// Model is everything generated from one CodeGeneratorRequest.
type Model struct {
	CapnpVersion     string // "0.9.2"
	GeneratorVersion string
	Files            []*SchemaFile // requested files that get a companion, in request order
}

// SchemaFile is one requested .capnp file and its companion Go file.
type SchemaFile struct {
	ID      uint64
	Path    string // as requested, e.g. "mining.capnp"
	OutName string // "mining.ipc.go", relative to the domain package directory
	Doc     string
	// PackageDoc is the package comment, set on exactly one file of each
	// domain package (the one declaring the bootstrap interface, else the
	// first requested file); empty on the others.
	PackageDoc string
	Wire       Package // capnpc-go's package ($Go.package / $Go.import)
	Domain     Package // the companion package
	Enums      []*Enum
	Structs    []*Struct
	Interfaces []*Interface
}

// Domain is an $Ipc.domain kind (schemas/include/bitcoinipc.capnp).
type Domain int

// Domain kinds, numbered as in the Domain enum of bitcoinipc.capnp.
const (
	DomainRaw Domain = iota
	DomainHash
	DomainTx
	DomainBlock
	DomainHeader
	DomainTxOut
	DomainJSON
	DomainAmount
	DomainMillis
	DomainSeconds
	DomainScript
)

var domainNames = [...]string{"raw", "hash", "tx", "block", "header", "txOut", "json", "amount", "millis", "seconds", "script"}

func (d Domain) String() string {
	if int(d) < len(domainNames) {
		return domainNames[d]
	}
	return "domain(?)"
}

// Kind is the kind of a schema type.
type Kind int

// Type kinds.
const (
	KindVoid Kind = iota
	KindBool
	KindInt8
	KindInt16
	KindInt32
	KindInt64
	KindUint8
	KindUint16
	KindUint32
	KindUint64
	KindFloat32
	KindFloat64
	KindText
	KindData
	KindList
	KindEnum
	KindStruct
	KindInterface
	KindTypeParam  // a generic struct's parameter, a capnp.Ptr on the wire
	KindAnyPointer // unsupported in domain code; kept for error reporting
)

// HasRaw reports whether d is decoded into a btcd type whose consensus
// serialization a caller may want to send or receive as raw bytes.
func (d Domain) HasRaw() bool {
	return d == DomainTx || d == DomainBlock || d == DomainHeader || d == DomainTxOut
}

// IsScalar reports whether values of kind k live in the data section.
func (k Kind) IsScalar() bool { return k >= KindBool && k <= KindFloat64 || k == KindEnum }

// Type is a field's type, with its domain conversion and generic bindings.
type Type struct {
	Kind      Kind
	Domain    Domain     // for lists: see Elem
	Elem      *Type      // KindList
	Enum      *Enum      // KindEnum
	Struct    *Struct    // KindStruct
	Args      []*Type    // KindStruct: bound parameters, one per Struct.TypeParams
	Interface *Interface // KindInterface
	Param     *TypeParam // KindTypeParam
	Context   bool       // the struct is mp.Context (hidden, filled by the runtime)
	ThreadMap bool       // the interface is mp.ThreadMap (construct only)

	// Wire is capnpc-go's Go type for this type, e.g. capnp.DataList,
	// v32capnp.BlockRef or v32capnp.BlockRef_List; empty for builtins, which
	// have WireBuiltin set instead ("bool", "int64", "string", "[]byte").
	Wire        GoIdent
	WireBuiltin string
	// WireNew allocates a new value of a pointer type in a segment:
	// NewBlockRef, capnp.NewDataList, v32capnp.NewBlockRef_List.
	WireNew GoIdent
}

// TypeParam is a parameter of a generic struct.
type TypeParam struct {
	Name   string // schema name, also the Go type parameter name
	Index  int
	Used   bool   // some field uses it (else its Go argument is struct{})
	FromFn string // converter parameter names in FromCapnp/ToCapnp
	ToFn   string
}

// Value is a schema default value.
type Value struct {
	Kind  Kind
	Bool  bool
	Int   int64
	Uint  uint64
	Float float64
	Text  string
	Data  []byte
	Enum  *EnumValue
}

// Enum is a schema enum; the companion aliases the wire type.
type Enum struct {
	ID     uint64
	Loc    string
	Doc    string
	Wire   GoIdent
	GoName string
	Values []*EnumValue
}

// EnumValue is one enumerant.
type EnumValue struct {
	Name   string
	Doc    string
	Value  uint16
	Wire   GoIdent // v32capnp.Color_red
	GoName string  // ColorRed
}

// Struct is a schema struct and its Go domain struct.
type Struct struct {
	ID         uint64
	Name       string // schema name, e.g. "BlockRef" or "Outer.Inner"
	Loc        string // "common.capnp:BlockRef"
	Doc        string
	File       *SchemaFile
	Wire       GoIdent // v32capnp.BlockRef
	WireNew    GoIdent // v32capnp.NewBlockRef
	WireList   GoIdent // v32capnp.BlockRef_List
	GoName     string  // BlockRef
	FromCapnp  string  // BlockRefFromCapnp
	Default    string  // DefaultBlockRef, when HasDefaults
	Wrap       string  // $Proxy.wrap
	TypeParams []*TypeParam
	Fields     []*Field // ordinal order; $Proxy.skip fields are kept (see doc)
	HasDefault bool
	NeedsCaps  bool    // some field (transitively) holds an interface: converters take an rt.Caps
	Union      bool    // has an unnamed union
	WireWhich  GoIdent // v32capnp.Expected_Which
}

// Field is a field of a struct, or of a method's params or results.
type Field struct {
	Name       string // schema name
	Path       string // "Mining.getTip.result", "BlockRef.hash"
	Loc        string // "mining.capnp:Mining.getTip.result"
	Accessor   string // capnpc-go getter: Result
	Setter     string // capnpc-go setter: SetResult
	Haser      string // capnpc-go presence test of a pointer field: HasResult
	Newer      string // capnpc-go allocator of a struct or list field: NewResult
	GoName     string // exported domain struct field name
	Type       *Type
	Ordinal    int
	Doc        string
	Default    *Value
	Skip       bool
	ProxyName  string
	Exception  string // $Proxy.exception type, "" if none
	Count      int    // $Proxy.count, -1 when absent
	Ptr        uint16 // pointer index in the wire struct, for pointer fields
	InUnion    bool
	WhichConst GoIdent // v32capnp.Expected_Which_value
}

// IsPointer reports whether f is stored in the pointer section.
func (f *Field) IsPointer() bool { return !f.Type.Kind.IsScalar() && f.Type.Kind != KindVoid }

// Interface is a schema interface and everything generated for it.
type Interface struct {
	ID     uint64
	Name   string
	Loc    string
	Doc    string
	File   *SchemaFile
	Wrap   string
	Wire   GoIdent // v32capnp.Mining
	TypeID GoIdent // v32capnp.Mining_TypeID: the interface ID rt.Method names

	GoName        string // Mining: the domain interface (the $Proxy.wrap class name when it is free, else the schema name)
	ClientName    string // MiningClient, or MiningProxyClient when the schema declares MiningClient
	NewClient     string // "New"+ClientName: NewMiningClient(c *rt.Cap), or (conn *rt.Conn) for the bootstrap interface
	Server        string // MiningServer: MiningServer(impl) *rt.Cap
	Desc          string // miningDesc: the rt.ServerDesc
	Unimplemented string // UnimplementedMiningServer
	FuncName      string // MiningFunc, callbacks only
	CapFn         string // miningCap(v Mining) *rt.Cap: a capability to place in a message
	FromCapFn     string // miningFromCap(c *rt.Cap) Mining: a received capability as a Mining

	// Bootstrap is set for an interface whose method @0 is construct: a
	// connection's Init (libmultiprocess's bootstrap convention). Its
	// NewClient takes the *rt.Conn and bootstraps by itself, and it gets
	// BootstrapOption (WithInitBootstrap), the rt.Option naming it the
	// bootstrap interface; BootstrapOption is empty for every other one.
	Bootstrap       bool
	BootstrapOption string

	Supers   []*Interface
	Methods  []*Method // own methods, in declaration order
	All      []*Method // own then inherited (capnpc-go's methodSet order)
	Callback bool      // only destroy + call
	Destroy  *Method   // nil when the interface has no destroy (own or inherited)
}

// MethodKind tells the runtime-handled methods apart (rt.MethodKind).
type MethodKind int

// Method kinds.
const (
	MethodPlain MethodKind = iota
	MethodDestroy
	MethodConstruct
)

// Method is an interface method.
type Method struct {
	Interface  *Interface // the declaring interface
	Name       string     // schema name
	Index      int        // method ID on the wire
	Loc        string     // "mining.capnp:Mining.getTip"
	Doc        string
	Deprecated string // non-empty for *Old<N>: the deprecation notice
	Kind       MethodKind
	ProxyName  string
	HasContext bool

	GoName      string  // GetTip
	WireParams  GoIdent // v32capnp.Mining_getTip_Params
	WireResults GoIdent
	ParamsID    GoIdent    // v32capnp.Mining_getTip_Params_TypeID, for rt.Method.ParamsID
	ParamsSize  ObjectSize // of the params struct
	ResultsSize ObjectSize // of the results struct
	Var         string     // package-level rt.Method var: methodMiningGetTip
	Handler     string     // rt.Handler func serving it: miningGetTip (none for construct and destroy)

	ContextField *Field // params.context, when HasContext (its Ptr is rt.Method.ContextPtr)
	Params       []*Arg // Go parameters after ctx
	Results      []*Arg // Go results before err
	Exceptions   []*Field
	ErrorField   *Field   // exception field a server writes handler errors into
	Defaults     []string // "cooldown = true": param defaults, for docs

	// Bytes is the raw-bytes sibling of a method with tx, block, header or
	// txOut params or results (directly or as list elements): the same
	// call with those as []byte ([][]byte), sent and returned as they are
	// on the wire. Its GoName is GoName+"Bytes" (underscores added on a
	// collision); every other field is shared with this method. Clients
	// have it as a method; a server implementation may have it too, and
	// its handler then calls it instead of the typed method. It is not
	// part of the domain interface, nor of UnimplementedXServer. Nil for
	// other methods, destroy, construct and deprecated methods.
	Bytes *Method
}

// ObjectSize is the size of a wire struct (capnp.ObjectSize).
type ObjectSize struct {
	DataSize     uint16 // bytes
	PointerCount uint16
}

// ArgRole is what a Go parameter or result stands for.
type ArgRole int

// Arg roles.
const (
	ArgValue ArgRole = iota // a field's value
	ArgHas                  // the bool of an optional value (hasX companion)
	ArgWant                 // a wantX param
)

// Arg is one Go parameter or result of a domain method.
type Arg struct {
	GoName  string
	Role    ArgRole
	Field   *Field // wire field (the hasX / wantX field for those roles)
	Has     *Arg   // ArgValue param: the companion bool, if optional
	Value   *Arg   // ArgHas: the value it qualifies
	Pointer bool   // ArgValue result returned as *T: nil when null, or when HasField is false
	// HasField is the hasX flag of an optional result: the Go result is
	// *T (Pointer is set), nil when the flag is false. Optional results
	// have this one shape; only params take a separate bool (Has).
	HasField *Field
	InOut    bool // the field is both a param and a result
	IsResult bool
	Raw      bool // in a Method.Bytes sibling: raw bytes in place of the domain type
}

// Version is capnpc-go-ipc's version, written into every generated header.
const Version = "v0.1.0"
