# Init: the bootstrap interface that bitcoin-node serves on every IPC
# connection. Its methods create the node's other interfaces.

@0xf2c5cfa319406aa6;

using Cxx = import "/capnp/c++.capnp";
using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";
using Echo = import "echo.capnp";
using Mining = import "mining.capnp";

$Cxx.namespace("ipc::capnp::messages");
$Proxy.include("interfaces/echo.h");
$Proxy.include("interfaces/init.h");
$Proxy.include("interfaces/mining.h");
$Proxy.includeTypes("ipc/capnp/init-types.h");
$Go.package("v31capnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/gen/v31/v31capnp");

interface Init @0x8838c700ba5cba65 $Proxy.wrap("interfaces::Init") {
  # Bootstrap interface of a bitcoin-node IPC connection.

  construct @0 (threadMap :Proxy.ThreadMap) -> (threadMap :Proxy.ThreadMap);
  # Swaps thread maps: the caller passes its own and receives the node's,
  # on which it creates the threads that run its calls.

  makeEcho @1 (context :Proxy.Context) -> (result :Echo.Echo);
  # Returns an Echo interface, for testing the connection.

  makeMining @3 (context :Proxy.Context) -> (result :Mining.Mining);
  # Returns the Mining interface used by mining software.

  makeMiningOld2 @2 () -> ();
  # The v30 position of makeMining. Always fails with "Old
  # mining interface (@2) not supported. Please update your client!".
}
