# Test schema for the runtime: exercises the thread model, callbacks,
# destroy, exceptions and methods without a context. The C++ interop peer
# (internal/testing/cpppeer) is built from the same file.

@0xf653fdaadce93115;

using Cxx = import "/capnp/c++.capnp";
using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";

$Cxx.namespace("rttest");
$Go.package("rttestcapnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/rttest/rttestcapnp");

interface TestInit $Proxy.wrap("TestInit") {
  # Bootstrap interface of the test peers.

  construct @0 (threadMap :Proxy.ThreadMap) -> (threadMap :Proxy.ThreadMap);
  # Swaps ThreadMaps.

  makeCalc @1 (context :Proxy.Context) -> (result :Calc);
  # A new Calc object.
}

interface Calc $Proxy.wrap("Calc") {
  # Methods that exercise one runtime feature each.

  destroy @0 (context :Proxy.Context) -> ();
  # Frees the object.

  add @1 (context :Proxy.Context, a :Int64, b :Int64) -> (result :Int64);
  # a + b.

  threadName @2 (context :Proxy.Context) -> (result :Text);
  # The name of the server thread that runs this call.

  fail @3 (context :Proxy.Context, kind :Int32, text :Text) -> ();
  # Fails: kind 0 with an error (failed), 1 with a panic, 2 overloaded,
  # 3 unimplemented, 4 disconnected.

  sleep @4 (context :Proxy.Context, millis :Int64) -> (result :Bool);
  # Waits millis milliseconds (or until cancelled; then result is false).

  callBack @5 (context :Proxy.Context, cb :Callback, depth :Int32) -> (result :Int32);
  # Calls cb.call(depth) and returns its result plus one.

  ping @6 (x :UInt64) -> (result :UInt64);
  # Returns x, without a context: runs without a thread.

  raise @7 (context :Proxy.Context, text :Text) -> (error :Text $Proxy.exception("std::exception"));
  # Throws text as a std::exception, returned in the error field.

  echo @8 (context :Proxy.Context, data :Data) -> (result :Data);
  # Returns data unchanged (payload benchmarks).
}

interface Callback $Proxy.wrap("Callback") {
  # Served by the caller of Calc.callBack.

  destroy @0 (context :Proxy.Context) -> ();
  # Frees the callback.

  call @1 (context :Proxy.Context, depth :Int32) -> (result :Int32);
  # Returns depth; implementations may call Calc.callBack again first.
}
