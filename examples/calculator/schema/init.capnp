# Init: the bootstrap interface each worker of the calculator example serves
# to its parent. Method @0 is construct, which makes it a connection's Init.

@0x8fbd3334c1b35043;

using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";
using Printer = import "printer.capnp";
using Calculator = import "calculator.capnp";

$Go.package("calccapnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/examples/calculator/calc/calccapnp");

interface Init $Proxy.wrap("calc::Init") {
  construct @0 (threadMap :Proxy.ThreadMap) -> (threadMap :Proxy.ThreadMap);
  # Exchanges the two sides' ThreadMaps (the runtime calls it).

  makePrinter @1 (context :Proxy.Context) -> (result :Printer.Printer);
  # A Printer on this process's standard output (printer worker).

  makeCalculator @2 (context :Proxy.Context, printer :Printer.Printer) -> (result :Calculator.Calculator);
  # A Calculator that prints through printer (calculator worker).
}
