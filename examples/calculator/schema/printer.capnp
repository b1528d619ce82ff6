# Printer: writes lines of text on the standard output of the process that
# serves it (the printer worker of the calculator example).

@0x9559b15ba2485573;

using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";

$Go.package("calccapnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/examples/calculator/calc/calccapnp");

interface Printer $Proxy.wrap("calc::Printer") {
  destroy @0 (context :Proxy.Context) -> ();
  # Releases the printer.

  print @1 (context :Proxy.Context, line :Text) -> ();
  # Writes line and a newline.
}
