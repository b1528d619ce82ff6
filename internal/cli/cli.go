// Package cli is the bitcoin-ipc command: bitcoin-cli's conventions over
// Bitcoin Core's IPC interfaces, plus the bundled demo node.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	"github.com/bitcoin-ipc/bitcoin-ipc/process"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// Version is the command's version.
const Version = "0.1.0"

// Exit codes, as bitcoin-cli uses them.
const (
	exitOK      = 0
	exitFailure = 1 // bad usage, no connection, failed call
)

// usageError is a command line mistake: the message and exit status 1.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitError carries a specific exit status (RPC errors use abs(code)).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

// Env is what the command runs with; tests substitute their own.
type Env struct {
	Stdout, Stderr io.Writer
	// Exe is this binary, spawned as the demo node; os.Executable() if empty.
	Exe string
}

// options are the bitcoin-cli style flags.
type options struct {
	datadir    string
	chain      string
	regtest    bool
	testnet    bool
	testnet4   bool
	signet     bool
	ipcconnect string
	ipcbind    string
	debug      string
	version    bool
	named      bool
	json       bool
	timeout    time.Duration
	help       bool
	node       demonode.Options // serve: the demo node's policy options
	minTxFee   string
}

func (o *options) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.datadir, "datadir", "", "data directory (default "+process.DefaultDataDir()+")")
	fs.StringVar(&o.chain, "chain", "", "chain: main, test, testnet4, signet, regtest")
	fs.BoolVar(&o.regtest, "regtest", false, "use the regtest chain")
	fs.BoolVar(&o.testnet, "testnet", false, "use the testnet3 chain")
	fs.BoolVar(&o.testnet4, "testnet4", false, "use the testnet4 chain")
	fs.BoolVar(&o.signet, "signet", false, "use the signet chain")
	fs.StringVar(&o.ipcconnect, "ipcconnect", "unix", "node address: unix (the network's node.sock) or unix:PATH")
	fs.StringVar(&o.ipcbind, "ipcbind", "unix", "serve: address to listen on, unix or unix:PATH")
	fs.StringVar(&o.debug, "debug", "", "debug=ipc logs every IPC call to stderr")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.named, "named", false, "rpc: pass named arguments (name=value)")
	fs.BoolVar(&o.json, "json", false, "mining template: print JSON")
	fs.DurationVar(&o.timeout, "timeout", 0, "mining wait-tip/wait-next: how long to wait (default: forever)")
	fs.BoolVar(&o.help, "help", false, "show help")
	o.node = demonode.DefaultOptions()
	fs.StringVar(&o.minTxFee, "blockmintxfee", "", "serve: lowest fee rate in BTC/kvB for template transactions (default 0.00000001)")
	fs.Uint64Var(&o.node.BlockReservedWeight, "blockreservedweight", o.node.BlockReservedWeight, "serve: weight reserved for the coinbase in blocks the node builds")
	fs.Uint64Var(&o.node.BlockMaxWeight, "blockmaxweight", o.node.BlockMaxWeight, "serve: maximum template weight")
}

const usage = `Usage: bitcoin-ipc [options] <command> [args]

Talks to bitcoin-node over Cap'n Proto IPC (the -ipcbind socket), or to the
bundled demo node.

Commands:
  echo TEXT                 echo TEXT through Echo
  rpc METHOD [ARGS...]      run a JSON-RPC method through Rpc.executeRpc (as bitcoin-cli -ipcconnect)
  mining tip                the chain tip
  mining wait-tip           wait for the tip to change (-timeout)
  mining template           summarise a new block template (-json for JSON)
  mining check HEXBLOCK     check a block without submitting it
  mining submit             mine the current template (regtest) and submit it
  mining wait-next          wait for a better template (-timeout)
  probe                     tell which schema version the node speaks (v30, v31, v32)
  serve                     run the demo node on -ipcbind until SIGINT/SIGTERM
  demo                      the end-to-end demo: spawn the demo node, mine a block, shut down

Options:
`

// Run runs the command with args (without the program name) and returns
// its exit status.
func Run(ctx context.Context, args []string, env Env) int {
	var o options
	fs := flag.NewFlagSet("bitcoin-ipc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.flags(fs)
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		fmt.Fprintf(env.Stderr, "error: %v\n", err)
		return exitFailure
	}
	if o.help || len(rest) == 0 && !o.version {
		fmt.Fprint(env.Stdout, usage)
		fs.SetOutput(env.Stdout)
		fs.PrintDefaults()
		if o.help {
			return exitOK
		}
		return exitFailure
	}
	if o.version {
		fmt.Fprintf(env.Stdout, "bitcoin-ipc version v%s\n", Version)
		return exitOK
	}
	err = dispatch(ctx, &o, rest, env)
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		fmt.Fprintln(env.Stderr, ee.err)
		return ee.code
	}
	fmt.Fprintf(env.Stderr, "error: %v\n", err)
	return exitFailure
}

// parseInterleaved parses flags before and after the command words; after
// "rpc METHOD" everything is an argument to the method, as in bitcoin-cli.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		rest = append(rest, args[0])
		args = args[1:]
		if len(rest) == 2 && rest[0] == "rpc" {
			return append(rest, args...), nil
		}
	}
}

func (o *options) logger(w io.Writer) *slog.Logger {
	if o.debug == "ipc" || o.debug == "1" {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (o *options) netDataDir() (string, error) {
	chain, err := process.ChainFromFlags(o.regtest, o.testnet, o.testnet4, o.signet, o.chain)
	if err != nil {
		return "", err
	}
	dd := o.datadir
	if dd == "" {
		dd = process.DefaultDataDir()
	}
	return process.NetworkDataDir(dd, chain)
}

func dispatch(ctx context.Context, o *options, args []string, env Env) error {
	switch args[0] {
	case "echo", "rpc", "mining", "probe":
		return withNode(ctx, o, env, func(n *node) error { return clientCommand(ctx, o, n, args, env) })
	case "serve":
		return serve(ctx, o, env)
	case "demo":
		return demo(ctx, o, env)
	}
	return usageError{fmt.Sprintf("unknown command %q (see bitcoin-ipc -help)", args[0])}
}

// serve runs the demo node on -ipcbind until SIGINT, SIGTERM or RPC stop.
func serve(ctx context.Context, o *options, env Env) error {
	if o.chain == "" && !o.regtest && !o.testnet && !o.testnet4 && !o.signet {
		o.regtest = true // the demo node is a regtest chain
	}
	dir, err := o.netDataDir()
	if err != nil {
		return err
	}
	if o.minTxFee != "" {
		if o.node.BlockMinTxFee, err = demonode.ParseBlockMinTxFee(o.minTxFee); err != nil {
			return err
		}
	}
	n, err := demonode.NewWithOptions(o.node)
	if err != nil {
		return err
	}
	defer n.Chain().Close()
	if err := n.SeedMempool(demonode.DemoMempoolTxs); err != nil {
		return err
	}
	addr, stop, err := n.ListenAndServe(dir, o.ipcbind, o.logger(env.Stderr))
	if err != nil {
		return fmt.Errorf("Unable to bind to IPC address '%s'. %v", o.ipcbind, err)
	}
	defer stop()
	fmt.Fprintf(env.Stdout, "demo node listening for IPC requests on address %s (regtest, height %d)\n", addr, n.Chain().Height())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case s := <-sig:
		fmt.Fprintf(env.Stdout, "received %v, shutting down\n", s)
	case <-n.Stopped():
		fmt.Fprintln(env.Stdout, "stop requested over RPC, shutting down")
	case <-ctx.Done():
	}
	return nil
}

// ServeSpawned serves the demo node on an inherited -ipcfd when args are
// exactly [exe, -ipcfd, N]; handled is false otherwise.
func ServeSpawned(args []string, stderr io.Writer) (handled bool, status int) {
	handled, status, err := demonode.ServeSpawned(args, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
	}
	return handled, status
}

func isConnRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

var _ = rt.LevelTrace
