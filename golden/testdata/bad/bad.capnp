# A schema capnpc-go-ipc must reject, with the element's location.
@0xc98e3a7fd76c1786;

using Go = import "/go.capnp";
$Go.package("badcapnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/golden/bad/badcapnp");

struct Bad @0xa1b2c3d4e5f60718 {
  ptr @0 :AnyPointer;
}

interface Worse @0xb2c3d4e5f6071829 {
  take @0 (x :AnyPointer) -> ();
}
