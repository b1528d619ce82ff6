// Command calc is the parent of the calculator example. It spawns its
// sibling programs calc-printer and calc-calculator (found next to its own
// executable, started as "NAME FD"), gets a Printer from the printer
// worker, passes it into the calculator worker's makeCalculator, and has
// the calculator evaluate each argument ("2 + 3"; a few examples when there
// are none). The calculator prints every answer through the Printer, so
// the printer worker's lines show the capability's path:
// calc-calculator → calc → calc-printer.
//
//	go build -o bin/ ./examples/calculator/cmd/...
//	bin/calc "2 + 3" "6 * 7"
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/bitcoin-ipc/bitcoin-ipc/examples/calculator/calc"
	"github.com/bitcoin-ipc/bitcoin-ipc/ipc"
	"github.com/bitcoin-ipc/bitcoin-ipc/process"
)

func main() {
	if err := run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "calc:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	exprs := args[1:]
	if len(exprs) == 0 {
		exprs = []string{"2 + 3", "6 * 7", "1 / 0"}
	}
	i := ipc.New("calc", args[0], nil, ipc.WithArgv(process.ArgvFD), ipc.WithConnOptions(calc.WithInitBootstrap()))

	pconn, pchild, err := i.SpawnProcess(ctx, "calc-printer")
	if err != nil {
		return err
	}
	defer pconn.Close()
	pinit := calc.NewInitClient(pconn)
	defer pinit.Release()
	printer, err := pinit.MakePrinter(ctx)
	if err != nil {
		return fmt.Errorf("makePrinter: %w", err)
	}

	cconn, cchild, err := i.SpawnProcess(ctx, "calc-calculator")
	if err != nil {
		return err
	}
	defer cconn.Close()
	fmt.Printf("calc: spawned calc-printer (pid %d) and calc-calculator (pid %d)\n", pchild.Pid, cchild.Pid)
	cinit := calc.NewInitClient(cconn)
	defer cinit.Release()
	calculator, err := cinit.MakeCalculator(ctx, printer)
	if err != nil {
		return fmt.Errorf("makeCalculator: %w", err)
	}

	for _, e := range exprs {
		r, err := calculator.Evaluate(ctx, e)
		if err != nil {
			fmt.Printf("calc: %s: %v\n", e, err)
			continue
		}
		fmt.Printf("calc: %s -> %d\n", e, r)
	}

	if err := calculator.Destroy(ctx); err != nil {
		return fmt.Errorf("Calculator.destroy: %w", err)
	}
	if err := printer.Destroy(ctx); err != nil {
		return fmt.Errorf("Printer.destroy: %w", err)
	}
	// Closing a worker's connection tells it to exit.
	for _, w := range []struct {
		name  string
		conn  interface{ Close() error }
		child *process.Child
	}{{"calc-calculator", cconn, cchild}, {"calc-printer", pconn, pchild}} {
		w.conn.Close()
		st, err := w.child.Wait()
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		fmt.Printf("calc: %s %s\n", w.name, st)
	}
	return nil
}
