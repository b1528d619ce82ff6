// Command calc-calculator is the calculator worker of the calculator
// example. It only runs as a child of calc, which starts it as
// "calc-calculator FD", and serves calc.Init on that connection:
// makeCalculator returns a Calculator that prints each answer through the
// Printer it is given (which calc got from calc-printer).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/bitcoin-ipc/bitcoin-ipc/examples/calculator/calc"
	"github.com/bitcoin-ipc/bitcoin-ipc/ipc"
	"github.com/bitcoin-ipc/bitcoin-ipc/process"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

type initServer struct{ calc.UnimplementedInitServer }

func (initServer) MakeCalculator(_ context.Context, p calc.Printer) (calc.Calculator, error) {
	if p == nil {
		return nil, errors.New("makeCalculator: no printer")
	}
	return &calculator{printer: p}, nil
}

type calculator struct{ printer calc.Printer }

// Evaluate computes "A op B" and prints it through the caller's Printer.
func (c *calculator) Evaluate(ctx context.Context, expression string) (int64, error) {
	r, err := evaluate(expression)
	if err != nil {
		return 0, err
	}
	if err := c.printer.Print(ctx, fmt.Sprintf("%s = %d", expression, r)); err != nil {
		return 0, fmt.Errorf("printing: %w", err)
	}
	return r, nil
}

// Destroy releases the Printer; destroying it is its owner's business.
func (c *calculator) Destroy(context.Context) error {
	rt.Release(c.printer)
	return nil
}

func evaluate(expression string) (int64, error) {
	f := strings.Fields(expression)
	if len(f) != 3 {
		return 0, fmt.Errorf("%q: want A op B", expression)
	}
	a, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", expression, err)
	}
	b, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", expression, err)
	}
	switch f[1] {
	case "+":
		return a + b, nil
	case "-":
		return a - b, nil
	case "*":
		return a * b, nil
	case "/":
		if b == 0 {
			return 0, fmt.Errorf("%q: division by zero", expression)
		}
		return a / b, nil
	}
	return 0, fmt.Errorf("%q: unknown operator %q", expression, f[1])
}

func main() {
	i := ipc.New("calc-calculator", os.Args[0],
		func(*rt.Conn) *rt.Cap { return calc.InitServer(initServer{}) },
		ipc.WithArgv(process.ArgvFD), ipc.WithConnOptions(calc.WithInitBootstrap()))
	handled, status, err := i.StartSpawnedProcess(os.Args)
	if !handled {
		fmt.Fprintln(os.Stderr, "usage: calc-calculator FD (started by calc)")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "calc-calculator:", err)
	}
	os.Exit(status)
}
