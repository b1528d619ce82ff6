# Handler: the registration token returned by the handle* methods of
# Chain, Node and Wallet. Destroying or disconnecting it unregisters the
# callback it stands for.

@0xebd8f46e2f369076;

using Cxx = import "/capnp/c++.capnp";
using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";

$Cxx.namespace("ipc::capnp::messages");
$Proxy.include("interfaces/handler.h");
$Proxy.includeTypes("ipc/capnp/handler-types.h");
$Go.package("multiprocesscapnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/gen/multiprocess/multiprocesscapnp");

interface Handler @0xea08728d34263f55 $Proxy.wrap("interfaces::Handler") {
  # Keeps a callback or notification registration alive.

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object, which also unregisters the callback.

  disconnect @1 (context :Proxy.Context) -> ();
  # Unregisters the callback now; no further calls are made to it.
}
