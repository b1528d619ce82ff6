# Types shared by several of Bitcoin Core's IPC interfaces.

@0xcd2c6232cb484a28;

using Cxx = import "/capnp/c++.capnp";
using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";
using Ipc = import "/bitcoinipc.capnp";

$Cxx.namespace("ipc::capnp::messages");
$Proxy.includeTypes("ipc/capnp/common-types.h");
$Go.package("v30capnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/gen/v30/v30capnp");

struct BlockRef @0xb3be4b8949350369 $Proxy.wrap("interfaces::BlockRef") {
  # Identifies a block of the active chain.

  hash @0 :Data $Ipc.domain(hash);
  # The block hash, 32 bytes in internal (little-endian) byte order.

  height @1 :Int32;
  # The block's height in the active chain.
}
