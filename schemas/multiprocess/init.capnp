# Init: the bootstrap interface that bitcoin-node serves on every IPC
# connection. Its methods create the node's other interfaces. This is the
# multiprocess layout: master's methods plus makeChain, makeNode and
# makeWalletLoader.

@0xf2c5cfa319406aa6;

using Cxx = import "/capnp/c++.capnp";
using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";
using Chain = import "chain.capnp";
using Common = import "common.capnp";
using Echo = import "echo.capnp";
using Mining = import "mining.capnp";
using Node = import "node.capnp";
using Rpc = import "rpc.capnp";
using Wallet = import "wallet.capnp";

$Cxx.namespace("ipc::capnp::messages");
$Proxy.include("interfaces/echo.h");
$Proxy.include("interfaces/init.h");
$Proxy.include("interfaces/mining.h");
$Proxy.includeTypes("ipc/capnp/init-types.h");
$Go.package("multiprocesscapnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/gen/multiprocess/multiprocesscapnp");

interface Init @0x8838c700ba5cba65 $Proxy.wrap("interfaces::Init") {
  # Bootstrap interface of a bitcoin-node IPC connection.

  construct @0 (threadMap :Proxy.ThreadMap) -> (threadMap :Proxy.ThreadMap);
  # Swaps thread maps: the caller passes its own and receives the node's,
  # on which it creates the threads that run its calls.

  makeEcho @1 (context :Proxy.Context) -> (result :Echo.Echo);
  # Returns an Echo interface, for testing the connection.

  makeMining @3 (context :Proxy.Context) -> (result :Mining.Mining);
  # Returns the Mining interface used by mining software.

  makeRpc @4 (context :Proxy.Context) -> (result :Rpc.Rpc);
  # Returns the Rpc interface, which runs JSON-RPC requests.

  makeChain @5 (context :Proxy.Context) -> (result :Chain.Chain);
  # Returns the Chain interface, for a wallet or other chain client.

  makeNode @6 (context :Proxy.Context) -> (result :Node.Node);
  # Returns the Node interface, for a user interface controlling the node.

  makeWalletLoader @7 (context :Proxy.Context, globalArgs :Common.GlobalArgs, chain :Chain.Chain) -> (result :Wallet.WalletLoader);
  # Starts a wallet loader in the served process, configured with
  # globalArgs and working on top of the given chain.

  makeMiningOld2 @2 () -> ();
  # The v30 position of makeMining. Always fails with "Old
  # mining interface (@2) not supported. Please update your client!".
}
