# A test schema that exercises every convention capnpc-go-ipc implements.
# golden/feature holds what the generators make of it; see golden/doc.go.

@0xdc7e019f90948196;

using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";
using Ipc = import "/bitcoinipc.capnp";

$Go.package("featurecapnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/golden/feature/featurecapnp");

const maxDouble @0xb6d9cab49f3d7c63 :Float64 = 1.7976931348623157e308;
# DBL_MAX, the "no timeout" default.

enum Color @0xe0b1b8a6fbd6e6a1 {
  # A plain enum.
  red @0;
  # The first colour.
  green @1;
  blueish @2 $Go.name("blue");
  # Renamed with $Go.name.
}

struct Pair @0xa5fe2ab6f6a2b9c3 (Key, Value) {
  # A generic map entry.
  key @0 :Key;
  value @1 :Value;
}

struct Wrapper @0xf1a0c2d3e4b5a697 (T) {
  # A generic struct that uses its parameter in a list and in another
  # generic struct.
  items @0 :List(Pair(Text, T));
  first @1 :Pair(Text, T);
}

struct Unused @0xcd5b9a4e3f2a1b0c (T) {
  # A generic struct that never uses its parameter.
  note @0 :Text;
}

struct Options @0x8e2f6d4c1b3a5978 $Proxy.wrap("feature::Options") {
  # Every kind of schema default.
  flag @0 :Bool = true $Proxy.name("m_flag");
  count @1 :Int32 = -7;
  ratio @2 :Float64 = 0.5;
  label @3 :Text = "hello";
  blob @4 :Data = 0x"cafe";
  color @5 :Color = green;
  timeout @6 :Float64 = .maxDouble $Ipc.domain(millis);
  delay @7 :Int64 = 30 $Ipc.domain(seconds);
  fee @8 :Int64 = 1000 $Ipc.domain(amount);
  ignored @9 :Data $Proxy.skip;
  # Skipped by mpgen; kept in the Go struct.
  optionalInt @10 :Int32;
  hasOptionalInt @11 :Bool;
  wait @12 :Float64 = 1500 $Ipc.domain(millis);
}

struct Everything @0x9a7c5e3b1d2f4860 {
  # Every $Ipc.domain kind, nested structs, lists and generics.
  hash @0 :Data $Ipc.domain(hash);
  tx @1 :Data $Ipc.domain(tx);
  block @2 :Data $Ipc.domain(block);
  header @3 :Data $Ipc.domain(header);
  txOut @4 :Data $Ipc.domain(txOut);
  json @5 :Text $Ipc.domain(json);
  amount @6 :Int64 $Ipc.domain(amount);
  millis @7 :Float64 $Ipc.domain(millis);
  seconds @8 :Int64 $Ipc.domain(seconds);
  script @9 :Data $Ipc.domain(script);
  raw @10 :Data $Ipc.domain(raw);
  hashes @11 :List(Data) $Ipc.domain(hash);
  amounts @12 :List(Int64) $Ipc.domain(amount);
  nested @13 :Nested;
  nestedList @14 :List(Nested);
  colors @15 :List(Color);
  matrix @16 :List(List(Int32));
  names @17 :List(Text);
  map @18 :List(Pair(Text, Data));
  deepMap @19 :List(Pair(Text, List(Pair(Text, List(Text)))));
  wrapped @20 :Wrapper(Text);
  unused @21 :Unused;
  callback @22 :Callback;
  string @23 :Text;
  # capnpc-go renames this accessor to String_.
  self @24 :Everything;
  # Recursive: struct fields are pointers.
  named @25 :List(Pair(Text, Callback));
  # Capabilities as generic arguments.

  struct Nested @0xb2c4d6e8f0a1b3c5 {
    inner @0 :Inner;
    flags @1 :List(Bool);

    struct Inner @0xc3d5e7f9a1b2c4d6 {
      value @0 :UInt64;
    }
  }
}

struct Choice @0xd4e6f8a0b2c3d5e7 {
  # A struct with an unnamed union.
  union {
    none @0 :Void;
    number @1 :Int32;
    text @2 :Text;
  }
  tag @3 :Text;
}

interface Callback @0xe5f7a9b1c3d4e6f8 $Proxy.wrap("ProxyCallback<std::function<int(int)>>") {
  # A callback: destroy plus call.
  destroy @0 (context :Proxy.Context) -> ();
  call @1 (context :Proxy.Context, arg :Int32) -> (result :Int32);
}

interface Base @0xf6a8b0c2d4e5f7a9 $Proxy.wrap("feature::Base") {
  destroy @0 (context :Proxy.Context) -> ();
  ping @1 (context :Proxy.Context) -> (result :Text);
}

interface Derived @0x87a9c1d3e5f6a8b0 extends(Base) $Proxy.wrap("feature::Derived") {
  # Inherits destroy and ping from Base.
  pong @0 (context :Proxy.Context, value :Int32) -> (result :Int32);
}

interface Feature @0x98b0d2e4f6a7b9c1 $Proxy.wrap("feature::Feature") {
  # One method per convention.

  construct @0 (threadMap :Proxy.ThreadMap) -> (threadMap :Proxy.ThreadMap);
  # Hidden; the runtime serves it.

  destroy @1 (context :Proxy.Context) -> ();

  noContext @2 (value :Int32) -> (result :Int32);
  # Runs on the event loop.

  multi @3 (context :Proxy.Context, a :Int32, b :Text) -> (other :Text, result :Bool, extra :UInt64);
  # result first, then the other outputs in ordinal order.

  optionalScalar @4 (context :Proxy.Context, x :Int32, hasX :Bool) -> (result :Int64, hasResult :Bool);
  # An optional result is *T, nil when hasResult is false.

  optionalPointer @5 (context :Proxy.Context) -> (result :Options, hasResult :Bool $Go.name("hasResultFlag"));

  presence @6 (context :Proxy.Context) -> (result :Options, data :Data, names :List(Text), cb :Callback);
  # Pointer results without a companion are optional by presence.

  want @7 (context :Proxy.Context, wantDetail :Bool) -> (detail :Everything, result :Bool);

  inOut @8 (context :Proxy.Context, x :Int32, sum :Int32) -> (sum :Int32);

  named @9 (context :Proxy.Context) -> () $Proxy.name("NamedOnServer");

  count @10 (context :Proxy.Context, items :List(Int32) $Proxy.count(2)) -> (result :Int32);
  # $Proxy.count has no effect on the Go signature.

  fails @11 (context :Proxy.Context, arg :Int32) -> (error :Text $Proxy.exception("std::exception"), detail :Choice $Proxy.exception("feature::Detail"), result :Int32);

  makeDerived @12 (context :Proxy.Context) -> (result :Derived);

  useBase @13 (context :Proxy.Context, base :Base) -> ();

  withCallback @14 (context :Proxy.Context, fn :Callback) -> (result :Int32);

  everything @15 (context :Proxy.Context, input :Everything, choice :Choice) -> (result :Everything);

  doStuffOld3 @16 (context :Proxy.Context) -> ();
  # The old version of doStuff.

  doStuff @17 (context :Proxy.Context, blockHash :Data $Ipc.domain(hash), wait :Float64 = 2.5 $Ipc.domain(millis), mode :Color = blueish) -> (result :List(Data) $Ipc.domain(tx));

  generic @18 (context :Proxy.Context, pairs :List(Pair(Text, Data)), unused :Unused(Text)) -> (result :Wrapper(Text));

  voidParam @19 (context :Proxy.Context, nothing :Void) -> ();

  reserved @20 (context :Proxy.Context, len :Int32, err :Text, string :Text) -> (result :Text);
  # Param names that collide with Go names get "Arg" appended.

  callbacks @21 (context :Proxy.Context, cbs :List(Callback)) -> (result :List(Base));

  rawForms @22 (context :Proxy.Context, block :Data $Ipc.domain(block), txs :List(Data) $Ipc.domain(tx), header :Data $Ipc.domain(header), hasHeader :Bool $Go.name("hasHeaderFlag"), blobs :List(Data)) -> (result :Data $Ipc.domain(block), out :Data $Ipc.domain(txOut), seen :Text);
  # Block, tx, header and txOut fields get a raw-bytes sibling method
  # (RawFormsBytes_ here, see rawFormsBytes) taking and returning them as
  # bytes; blobs keeps empty elements apart from null ones.

  rawFormsBytes @23 (context :Proxy.Context) -> ();
  # Has the name rawForms' sibling would get: the schema method keeps it.
}

interface PrinterInterface @0xa3d40c08861a20bb $Proxy.wrap("feature::Printer") {
  # Its Go name is Printer, from $Proxy.wrap.
  destroy @0 (context :Proxy.Context) -> ();
  print @1 (context :Proxy.Context, print :Text, type :Int32, printArg :Bool) -> (result :Bool, len :UInt32, hasLen :Bool);
  # print and type are Go names (printArg, typeArg); the schema's own
  # printArg then gets a number (printArg2).
}

interface Store @0x987c883d066a815d $Proxy.wrap("feature::Store") {
  # Its client is StoreProxyClient: the schema declares StoreClient.
  get @0 (context :Proxy.Context) -> (result :Int32);
}

interface StoreClient @0x9caff7fd6718fabc $Proxy.wrap("feature::StoreClient") {
  # Named like Store's client; its own client is StoreClientClient.
  attach @0 (context :Proxy.Context, store :Store, printer :PrinterInterface) -> ();
}
