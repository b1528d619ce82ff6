# Echo: a trivial interface for testing that an IPC connection works.

@0x888b4f7f51e691f7;

using Cxx = import "/capnp/c++.capnp";
using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";

$Cxx.namespace("ipc::capnp::messages");
$Proxy.include("interfaces/echo.h");
$Proxy.includeTypes("ipc/capnp/echo-types.h");
$Go.package("multiprocesscapnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/gen/multiprocess/multiprocesscapnp");

interface Echo @0xd36b89640dc94399 $Proxy.wrap("interfaces::Echo") {
  # Answers with what it is sent.

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  echo @1 (context :Proxy.Context, echo :Text) -> (result :Text);
  # Returns its argument unchanged.
}
