# Calculator: evaluates arithmetic and reports each answer through the
# Printer it was made with.

@0xb85821a8c7e00a38;

using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";

$Go.package("calccapnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/examples/calculator/calc/calccapnp");

interface Calculator $Proxy.wrap("calc::Calculator") {
  destroy @0 (context :Proxy.Context) -> ();
  # Releases the calculator; the Printer stays its owner's.

  evaluate @1 (context :Proxy.Context, expression :Text) -> (result :Int64);
  # Evaluates "A op B" (integers; op is one of + - * /), prints
  # "A op B = R" through the Printer and returns R.
}
