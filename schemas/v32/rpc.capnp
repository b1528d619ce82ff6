# Rpc: runs JSON-RPC requests inside the node, the path bitcoin-cli takes
# with -ipcconnect.

@0x9c3505dc45e146ac;

using Cxx = import "/capnp/c++.capnp";
using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";
using Ipc = import "/bitcoinipc.capnp";

$Cxx.namespace("ipc::capnp::messages");
$Proxy.include("interfaces/rpc.h");
$Proxy.includeTypes("ipc/capnp/rpc-types.h");
$Go.package("v32capnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/gen/v32/v32capnp");

interface Rpc @0xacb1d37f0a713129 $Proxy.wrap("interfaces::Rpc") {
  # Executes JSON-RPC requests without an HTTP server in between.

  executeRpc @0 (context :Proxy.Context, request :Text $Ipc.domain(json), uri :Text, user :Text) -> (result :Text $Ipc.domain(json));
  # Runs one JSON-RPC request object (or batch) as if it had arrived over
  # HTTP at `uri` (for example "/" or "/wallet/<name>") from `user`, and
  # returns the JSON-RPC reply object.
}
