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
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
	"github.com/bitcoin-ipc/bitcoin-ipc/process"
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
	datadir          string
	chain            string
	regtest          bool
	testnet          bool
	testnet4         bool
	signet           bool
	ipcconnect       string
	ipcbind          string
	schema           string
	rpcuser          string
	rpcpassword      string
	rpccookiefile    string
	rpcconnect       string
	rpcport          portFlag
	ipconly          bool
	debug            debugFlag
	version          bool
	named            bool
	json             bool
	timeout          time.Duration
	rpcclienttimeout time.Duration
	help             bool
	node             demonode.Options // serve: the demo node's policy options
	minTxFee         string
	zmqpub           []demonode.ZMQOption // serve: -zmqpubTOPIC options
	zmq              string               // subscribe, wait-tip -follow: the publisher
	follow           bool                 // mining wait-tip -follow
}

// defaultRPCClientTimeout is bitcoin-cli's -rpcclienttimeout default.
const defaultRPCClientTimeout = 900 * time.Second

// helpAliases are the other spellings of -help; the option list omits them.
var helpAliases = map[string]bool{"h": true, "?": true}

func (o *options) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.datadir, "datadir", "", "data directory (default "+process.DefaultDataDir()+")")
	fs.StringVar(&o.chain, "chain", "", "chain: main, test, testnet4, signet, regtest")
	fs.BoolVar(&o.regtest, "regtest", false, "use the regtest chain")
	fs.BoolVar(&o.testnet, "testnet", false, "use the testnet3 chain")
	fs.BoolVar(&o.testnet4, "testnet4", false, "use the testnet4 chain")
	fs.BoolVar(&o.signet, "signet", false, "use the signet chain")
	fs.StringVar(&o.ipcconnect, "ipcconnect", "unix", "node address: unix (the network's node.sock), unix:PATH, auto (rpc: the socket when a node is there, else HTTP) or 0 (rpc: HTTP only)")
	fs.StringVar(&o.ipcbind, "ipcbind", "unix", "serve: address to listen on, unix or unix:PATH")
	fs.StringVar(&o.rpcuser, "rpcuser", "", "rpc over HTTP: user name (serve: accept it with -rpcpassword besides the cookie)")
	fs.StringVar(&o.rpcpassword, "rpcpassword", "", "rpc over HTTP: password (default: the cookie file's)")
	fs.StringVar(&o.rpccookiefile, "rpccookiefile", "", "rpc over HTTP: the cookie file, relative to the network data directory (default .cookie)")
	fs.StringVar(&o.rpcconnect, "rpcconnect", "127.0.0.1", "rpc over HTTP: the node's host, or host:port")
	fs.Var(&o.rpcport, "rpcport", "rpc over HTTP: the node's port (default: the network's, 18443 on regtest); serve: answer JSON-RPC over HTTP on this loopback port (0: any free one)")
	fs.BoolVar(&o.ipconly, "ipconly", false, "rpc: never fall back to HTTP when the node has no Init.makeRpc")
	fs.StringVar(&o.schema, "schema", string(probe.V32), "serve: the release whose schema the demo node speaks: v30, v31 or v32")
	fs.Var(&o.debug, "debug", "log debug output to stderr: -debug or -debug=1 (or all) for every category, -debug=ipc for IPC calls, -debug=0 (or none) for none")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.named, "named", false, "rpc: pass named arguments (name=value)")
	fs.BoolVar(&o.json, "json", false, "mining template, mining wait-tip -follow, subscribe: print JSON")
	o.rpcclienttimeout = defaultRPCClientTimeout
	fs.Var((*secondsFlag)(&o.timeout), "timeout", "mining wait-tip/wait-next: how long to wait, in `seconds` or as a duration like 1.5s (default 0: forever)")
	fs.Var((*secondsFlag)(&o.rpcclienttimeout), "rpcclienttimeout", "how long to wait for the node to connect and to answer each call, in `seconds` or as a duration like 1.5s; 0 for no limit")
	fs.BoolVar(&o.help, "help", false, "print this help, or with a command its help, and exit")
	for alias := range helpAliases {
		fs.BoolVar(&o.help, alias, false, "")
	}
	o.node = demonode.DefaultOptions()
	fs.StringVar(&o.minTxFee, "blockmintxfee", "", "serve: lowest fee rate in BTC/kvB for template transactions (default 0.00000001)")
	fs.Uint64Var(&o.node.BlockReservedWeight, "blockreservedweight", o.node.BlockReservedWeight, "serve: weight reserved for the coinbase in blocks the node builds")
	fs.Uint64Var(&o.node.BlockMaxWeight, "blockmaxweight", o.node.BlockMaxWeight, "serve: maximum template weight")
	o.zmqFlags(fs)
}

// debugFlag is -debug: a category list as in bitcoin-cli, where a bare
// -debug, 1 and all mean every category and 0 and none mean none.
type debugFlag struct {
	on  bool
	err error // the last refused value, reported as it is
}

// debugCategories are the categories bitcoin-ipc logs.
var debugCategories = []string{"ipc"}

func (d *debugFlag) String() string {
	if d != nil && d.on {
		return "1"
	}
	return ""
}

func (d *debugFlag) Set(v string) error {
	switch v {
	case "true", "1", "all":
		d.on = true
	case "0", "none", "false":
		d.on = false
	default:
		if !slices.Contains(debugCategories, v) {
			// The flag package words a refused boolean flag as an
			// "invalid boolean value"; Run reports d.err instead.
			d.err = fmt.Errorf("unsupported logging category -debug=%s (categories: %s; 1 or all for all, 0 or none for none)", v, strings.Join(debugCategories, ", "))
			return d.err
		}
		d.on = true
	}
	return nil
}

// IsBoolFlag lets a bare -debug mean every category.
func (d *debugFlag) IsBoolFlag() bool { return true }

// secondsFlag is a timeout as bitcoin-cli reads one, a number of seconds,
// or a Go duration such as 1.5s.
type secondsFlag time.Duration

func (s *secondsFlag) String() string {
	if s == nil {
		return "0"
	}
	d := time.Duration(*s)
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return d.String()
}

func (s *secondsFlag) Set(v string) error {
	d, err := parseSeconds(v)
	if err != nil {
		return err
	}
	*s = secondsFlag(d)
	return nil
}

// parseSeconds reads a non-negative number of seconds or a Go duration.
func parseSeconds(v string) (time.Duration, error) {
	bad := fmt.Errorf("want a number of seconds (e.g. 30) or a duration (e.g. 1.5s, 2m), not %q", v)
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || math.IsNaN(f) || f*float64(time.Second) > math.MaxInt64 {
			return 0, bad
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, bad
	}
	return d, nil
}

const usage = `Usage: bitcoin-ipc [options] <command> [args]
       bitcoin-ipc help <command>

Talks to bitcoin-node over Cap'n Proto IPC (the -ipcbind socket), or to the
bundled demo node.

Commands:
`

// command is one of the command's commands (or a mining subcommand):
// its usage line, its help, and how many arguments it takes (max -1: any).
type command struct {
	usage    string
	summary  string
	help     string
	min, max int
}

// commands are the commands, by name ("mining tip" for subcommands), in
// the order the usage lists them.
var commands = []struct {
	name string
	command
}{
	{"echo", command{"echo TEXT...", "echo each TEXT through Echo",
		"Calls Init.makeEcho, then Echo.echo once per argument. One argument is\nprinted as the node answers it; several are printed as a JSON array, as\nbitcoin-cli echo prints them.", 1, -1}},
	{"rpc", command{"rpc METHOD [ARGS...]", "run a JSON-RPC method through Rpc.executeRpc (as bitcoin-cli -ipcconnect)",
		"Sends a JSON-RPC request through Init.makeRpc and Rpc.executeRpc, as\nbitcoin-cli -ipcconnect does. A node without makeRpc (v30, v31), or\n-ipcconnect=0, gets it over HTTP as bitcoin-cli sends it (-rpcconnect,\n-rpcport, the cookie or -rpcuser/-rpcpassword); -ipconly forbids that. ARGS are JSON values,\nor strings where the method expects one; with -named they are\nname=value. The answer is printed as bitcoin-cli prints it; an RPC\nerror exits with abs(code).", 1, -1}},
	{"mining", command{"mining SUBCOMMAND", "the Mining interface (v30, v31 and v32 nodes): tip, wait-tip, template, check, submit, wait-next",
		"The Mining interface, through Init.makeMining, on v30, v31 and v32\nnodes alike (the version-neutral package node).", 1, -1}},
	{"mining tip", command{"mining tip", "the chain tip",
		"Prints the tip's hash and height (Mining.getTip).", 0, 0}},
	{"mining wait-tip", command{"mining wait-tip", "wait for the tip to change (-timeout), or follow it (-follow)",
		"Waits on a node thread of its own until the tip changes\n(Mining.waitTipChanged) and prints the new tip, or says the -timeout\npassed. The wait is bounded by -timeout plus -rpcclienttimeout.\nWith -follow it prints every new tip (hash and height, or -json) until\nSIGINT/SIGTERM, over IPC, or over ZMQ hashblock (hash only) with\n-zmq=ADDR when there is no IPC node or with -ipcconnect=0; -debug=ipc\ntells which. Missed tips are reported on stderr.", 0, 0}},
	{"mining template", command{"mining template", "summarise a new block template (-json for JSON)",
		"Asks for a block template (Mining.createNewBlock) and summarises it:\nheader fields, height, transactions, fees, sigops, coinbase constraints\nand merkle path; -json prints JSON.", 0, 0}},
	{"mining check", command{"mining check HEXBLOCK", "check a block without submitting it",
		"Checks a serialized block (Mining.checkBlock) and prints valid, or\nthe reason it is invalid (exit 1).", 1, 1}},
	{"mining submit", command{"mining submit", "mine the current template (regtest) and submit it",
		"Mines the current template in Go, paying to OP_TRUE, and submits the\nsolution (BlockTemplate.submitSolution). Meant for regtest.", 0, 0}},
	{"mining wait-next", command{"mining wait-next", "wait for a better template (-timeout)",
		"Waits on a node thread of its own for a better template\n(BlockTemplate.waitNext) and summarises it, or says the -timeout\npassed. The wait is bounded by -timeout plus -rpcclienttimeout.", 0, 0}},
	{"probe", command{"probe", "tell which schema version the node speaks (v30, v31, v32)",
		"Prints the schema set the node speaks: v30, v31, v32 or multiprocess.", 0, 0}},
	{"subscribe", command{"subscribe [TOPIC...]", "print the node's ZMQ notifications (-zmq=ADDR; -json)",
		"Subscribes to the node's ZMQ publisher at -zmq=tcp://HOST:PORT (its\n-zmqpub options) for TOPICs (hashblock, hashtx, rawblock, rawtx,\nsequence; default all) and prints one line per event, or one JSON\nobject with -json, until SIGINT/SIGTERM: TOPIC SEQ HASH [details],\nlost messages (gap ... resync), connections and reconnections (with\nbackoff), and messages that cannot be decoded.", 0, -1}},
	{"serve", command{"serve", "run the demo node on -ipcbind until SIGINT/SIGTERM",
		"Runs the bundled demo node, a simulated regtest chain, on -ipcbind\n(default: the regtest data directory's node.sock) until SIGINT, SIGTERM\nor RPC stop. It serves regtest only, speaking the schema of the release\n-schema names (v30, v31 or v32, the default). -zmqpubhashblock=ADDR and\nthe other -zmqpub options publish Core's ZMQ notifications on the\nloopback (tcp://127.0.0.1:PORT; port 0: any free one).", 0, 0}},
	{"demo", command{"demo", "the end-to-end demo: spawn the demo node, mine a block, shut down",
		"Spawns the demo node with -ipcfd, probes it, echoes, mines a block\nfrom a template, watches the tip move and shuts down.", 0, 0}},
	{"help", command{"help [COMMAND]", "this help, or the help of one command",
		"Prints the usage, or the help of one command (e.g. help mining tip).", 0, 2}},
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c.command, true
		}
	}
	return command{}, false
}

// checkArgs refuses a command line before any connection is made: an
// unknown command, or a wrong number of arguments.
func checkArgs(args []string) error {
	name, rest := args[0], args[1:]
	c, ok := lookup(name)
	if !ok || strings.Contains(name, " ") {
		return usageError{fmt.Sprintf("unknown command %q (see bitcoin-ipc -help)", name)}
	}
	if name == "mining" {
		if len(rest) == 0 {
			return usageError{"usage: bitcoin-ipc mining tip|wait-tip|template|check|submit|wait-next"}
		}
		if c, ok = lookup("mining " + rest[0]); !ok {
			return usageError{fmt.Sprintf("unknown mining command %q (see bitcoin-ipc help mining)", rest[0])}
		}
		rest = rest[1:]
	}
	if len(rest) < c.min || c.max >= 0 && len(rest) > c.max {
		if c.max == 0 {
			return usageError{fmt.Sprintf("%s takes no arguments", c.usage)}
		}
		return usageError{"usage: bitcoin-ipc " + c.usage}
	}
	return nil
}

// Run runs the command with args (without the program name) and returns
// its exit status.
func Run(ctx context.Context, args []string, env Env) int {
	var o options
	fs := flag.NewFlagSet("bitcoin-ipc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.flags(fs)
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		if o.debug.err != nil {
			err = o.debug.err
		}
		fmt.Fprintf(env.Stderr, "error: %v\n", err)
		return exitFailure
	}
	if o.help || len(rest) > 0 && rest[0] == "help" {
		if len(rest) > 0 && rest[0] == "help" {
			rest = rest[1:]
		}
		if err := printHelp(env.Stdout, fs, rest); err != nil {
			fmt.Fprintf(env.Stderr, "error: %v\n", err)
			return exitFailure
		}
		return exitOK
	}
	if o.version {
		fmt.Fprintf(env.Stdout, "bitcoin-ipc version v%s\n", Version)
		return exitOK
	}
	if len(rest) == 0 {
		printUsage(env.Stderr, fs)
		fmt.Fprintln(env.Stderr, "\nerror: too few parameters (need at least a command)")
		return exitFailure
	}
	err = checkArgs(rest)
	if err == nil {
		err = dispatch(ctx, &o, rest, env)
	}
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

// printUsage writes the usage: the commands and the options.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, usage)
	for _, c := range commands {
		if c.name != "mining" {
			fmt.Fprintf(w, "  %-25s %s\n", c.usage, c.summary)
		}
	}
	fmt.Fprint(w, "\nOptions:\n")
	fs.VisitAll(func(f *flag.Flag) {
		if helpAliases[f.Name] {
			return
		}
		name, use := flag.UnquoteUsage(f)
		line := "  -" + f.Name
		if name != "" {
			line += "=" + name
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			use += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, use)
	})
}

// printHelp writes the usage, or the help of one command: help echo,
// help mining, help mining tip.
func printHelp(w io.Writer, fs *flag.FlagSet, names []string) error {
	if len(names) == 0 {
		printUsage(w, fs)
		return nil
	}
	name := strings.Join(names, " ")
	c, ok := lookup(name)
	if !ok {
		return usageError{fmt.Sprintf("unknown command %q (see bitcoin-ipc -help)", name)}
	}
	fmt.Fprintf(w, "Usage: bitcoin-ipc [options] %s\n\n%s\n", c.usage, c.help)
	if name == "mining" {
		fmt.Fprint(w, "\nSubcommands:\n")
		for _, sub := range commands {
			if strings.HasPrefix(sub.name, "mining ") {
				fmt.Fprintf(w, "  %-25s %s\n", sub.usage, sub.summary)
			}
		}
	}
	return nil
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

// logger logs warnings to w, and with -debug everything down to Debug.
func (o *options) logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	if o.debug.on {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
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
	case "rpc":
		return rpcDispatch(ctx, o, args, env)
	case "subscribe":
		return subscribe(ctx, o, args[1:], env)
	case "mining":
		if args[1] == "wait-tip" && o.follow {
			return follow(ctx, o, env)
		}
		return withNode(ctx, o, env, func(n *node) error { return clientCommand(ctx, o, n, args, env) })
	case "echo", "probe":
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
	// The demo node is a regtest chain: it serves regtest, and refuses
	// to pose as another network.
	chain, err := process.ChainFromFlags(o.regtest, o.testnet, o.testnet4, o.signet, o.chain)
	if err != nil {
		return err
	}
	if (o.chain != "" || o.testnet || o.testnet4 || o.signet) && chain != "regtest" {
		return usageError{fmt.Sprintf("serve runs the demo node, a regtest chain; it cannot serve %s (use -regtest or no chain option)", chain)}
	}
	o.regtest, o.chain = true, ""
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
	if err := n.SetSchema(probe.Version(o.schema)); err != nil {
		return usageError{fmt.Sprintf("-schema=%s: the demo node speaks v30, v31 or v32", o.schema)}
	}
	if err := n.SeedMempool(demonode.DemoMempoolTxs); err != nil {
		return err
	}
	addr, stop, err := n.ListenAndServe(dir, o.ipcbind, o.logger(env.Stderr))
	if err != nil {
		return fmt.Errorf("Unable to bind to IPC address '%s'. %v", o.ipcbind, err)
	}
	defer stop()
	stopRPC, err := serveRPC(n, o, dir, env.Stdout)
	if err != nil {
		return err
	}
	defer stopRPC()
	stopZMQ, err := servingZMQ(n, o, env.Stdout)
	if err != nil {
		return err
	}
	defer stopZMQ()
	fmt.Fprintf(env.Stdout, "demo node listening for IPC requests on address %s (regtest, height %d, %s schema)\n", addr, n.Chain().Height(), n.Schema())
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
