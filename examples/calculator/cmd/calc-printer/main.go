// Command calc-printer is the printer worker of the calculator example. It
// only runs as a child of calc, which starts it as "calc-printer FD" (the
// bare descriptor number, as libmultiprocess's example workers take it),
// and serves calc.Init on that connection: makePrinter returns a Printer
// that writes on this process's standard output.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/bitcoin-ipc/bitcoin-ipc/examples/calculator/calc"
	"github.com/bitcoin-ipc/bitcoin-ipc/ipc"
	"github.com/bitcoin-ipc/bitcoin-ipc/process"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

type initServer struct{ calc.UnimplementedInitServer }

func (initServer) MakePrinter(context.Context) (calc.Printer, error) { return printer{}, nil }

type printer struct{}

func (printer) Print(_ context.Context, line string) error {
	_, err := fmt.Println("printer:", line)
	return err
}

func (printer) Destroy(context.Context) error { return nil }

func main() {
	i := ipc.New("calc-printer", os.Args[0],
		func(*rt.Conn) *rt.Cap { return calc.InitServer(initServer{}) },
		ipc.WithArgv(process.ArgvFD), ipc.WithConnOptions(calc.WithInitBootstrap()))
	handled, status, err := i.StartSpawnedProcess(os.Args)
	if !handled {
		fmt.Fprintln(os.Stderr, "usage: calc-printer FD (started by calc)")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "calc-printer:", err)
	}
	os.Exit(status)
}
