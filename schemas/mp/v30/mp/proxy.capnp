# libmultiprocess's runtime schema (mp/proxy.capnp), as served by Bitcoin
# Core 30.x and 31.x. This variant predates ThreadMap.makePool.
#
# Written for bitcoin-ipc from the published wire facts: the file ID, type
# IDs, ordinals and annotation IDs below are what make it interoperate.

@0xcc316e3f71a040fb;

using Cxx = import "/capnp/c++.capnp";
using Go = import "/go.capnp";

$Cxx.namespace("mp");
$Go.package("mp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/gen/mp");

annotation include @0xb899f3c154fdb458 (file) :Text;
# C++ header added to the generated proxy declarations.

annotation includeTypes @0xbcec15648e8a0cf1 (file) :Text;
# C++ header holding the type converters the file needs.

annotation wrap @0xe6f46079b7b1405e (struct, interface) :Text;
# Names the C++ class or struct that an interface or struct stands for.
# Interfaces without it get no generated proxy.

annotation count @0xd02682b319f69b38 (struct, interface, param) :Int32;
# How many native arguments one field stands for. count(0) marks fields
# that the runtime fills in itself (Context, ThreadMap).

annotation exception @0x996a183200992f88 (param) :Text;
# Marks a result field that carries an exception thrown by the callee.

annotation name @0xb594888f63f4dbb9 (field, method) :Text;
# The native name of a field or the server-side method it calls.

annotation skip @0x824c08b82695d8dd (field) :Void;
# The field is neither written nor read by generated code.

interface ThreadMap @0xee5e37179ad9dc9d $count(0) {
  # Creates execution threads on the side that serves it. Exchanged in
  # Init.construct.

  makeThread @0 (name :Text) -> (result :Thread);
  # Starts a named worker; calls whose context names it run there, one at
  # a time, in arrival order.
}

interface Thread @0x81c1e2600d0b56c5 {
  # A worker created by ThreadMap.makeThread, valid only on the connection
  # that created it.

  getName @0 () -> (result :Text);
  # The worker's descriptive name.
}

struct Context @0x9c44e6645d0b22c6 $count(0) {
  # Sent as the first parameter of every method that runs on a worker.

  thread @0 :Thread;
  # The callee's worker to run the call on (one of the callee's own).

  callbackThread @1 :Thread;
  # The caller's thread, on which callbacks made during the call run.
}
