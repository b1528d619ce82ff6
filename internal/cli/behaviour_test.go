package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
)

const usageHead = "Usage: bitcoin-ipc [options] <command> [args]\n"

// -h, -help, -? and help print the usage and exit 0; help COMMAND explains
// one command; an unknown one is an error.
func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "-?", "help", "--help"} {
		r := run(t, arg)
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, usageHead) ||
			!strings.Contains(r.stdout, "\nCommands:\n  echo TEXT...") || !strings.Contains(r.stdout, "\n  -rpcclienttimeout=") ||
			!strings.Contains(r.stdout, "(default 900)") || strings.Contains(r.stdout, "  -h\n") || strings.Contains(r.stdout, "  -?\n") {
			t.Errorf("%s: %+v", arg, r)
		}
	}
	cases := map[string]string{
		"echo":             "Usage: bitcoin-ipc [options] echo TEXT...\n\nCalls Init.makeEcho, then Echo.echo once per argument.",
		"mining tip":       "Usage: bitcoin-ipc [options] mining tip\n\nPrints the tip's hash and height (Mining.getTip).\n",
		"mining":           "Usage: bitcoin-ipc [options] mining SUBCOMMAND\n\nThe Mining interface",
		"rpc":              "Usage: bitcoin-ipc [options] rpc METHOD [ARGS...]\n\n",
		"serve":            "Usage: bitcoin-ipc [options] serve\n\n",
		"help":             "Usage: bitcoin-ipc [options] help [COMMAND]\n\n",
		"mining wait-next": "Usage: bitcoin-ipc [options] mining wait-next\n\n",
	}
	for name, want := range cases {
		r := run(t, append([]string{"help"}, strings.Fields(name)...)...)
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, want) {
			t.Errorf("help %s: %+v", name, r)
		}
	}
	if r := run(t, "help", "mining"); !strings.Contains(r.stdout, "\nSubcommands:\n  mining tip ") {
		t.Errorf("help mining lists no subcommands: %+v", r)
	}
	if r := run(t, "-help", "probe"); r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: bitcoin-ipc [options] probe\n") {
		t.Errorf("-help probe: %+v", r)
	}
	for _, args := range [][]string{{"help", "frobnicate"}, {"help", "mining", "dig"}, {"help", "mining", "tip", "x"}} {
		r := run(t, args...)
		want := "error: unknown command \"" + strings.Join(args[1:], " ") + "\" (see bitcoin-ipc -help)\n"
		if r.code != 1 || r.stdout != "" || r.stderr != want {
			t.Errorf("%v: %+v", args, r)
		}
	}
	if r := run(t); r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, usageHead) ||
		!strings.HasSuffix(r.stderr, "\nerror: too few parameters (need at least a command)\n") {
		t.Errorf("no command: %+v", r)
	}
}

// probeLogged matches the probe's answers in a -debug log.
var probeLogged = regexp.MustCompile(`level=DEBUG msg="IPC probe answer: method present" conn=\d+ method=Init.makeRpc\n(?s:.*)level=DEBUG msg="IPC probe answer: method absent \(unimplemented\)" conn=\d+ method=Init.makeChain\n`)

// -debug alone, -debug=1 and -debug=all log every category; -debug=0 and
// none nothing; an unknown category is an error. The probe's expected
// "unimplemented" answers are logged as probe answers, not as failures.
func TestDebugFlag(t *testing.T) {
	dir, _ := startNode(t, nil)
	for _, d := range []string{"-debug", "-debug=1", "-debug=all", "-debug=ipc", "-debug=true"} {
		r := run(t, "-datadir="+dir, "-regtest", d, "probe")
		if r.code != 0 || r.stdout != "v32\n" || !strings.Contains(r.stderr, "level=DEBUG msg=\"IPC client send request\"") {
			t.Errorf("%s: %+v", d, r)
			continue
		}
		if !probeLogged.MatchString(r.stderr) {
			t.Errorf("%s: probe answers not logged:\n%s", d, r.stderr)
		}
		for _, bad := range []string{"failed", "level=ERROR", "level=WARN"} {
			if strings.Contains(r.stderr, bad) {
				t.Errorf("%s: %q logged:\n%s", d, bad, r.stderr)
			}
		}
	}
	for _, d := range []string{"-debug=0", "-debug=none", "-debug=false"} {
		if r := run(t, "-datadir="+dir, "-regtest", d, "probe"); r.code != 0 || r.stdout != "v32\n" || r.stderr != "" {
			t.Errorf("%s: %+v", d, r)
		}
	}
	r := run(t, "-datadir="+dir, "-regtest", "-debug=foo", "probe")
	want := "error: unsupported logging category -debug=foo (categories: ipc; 1 or all for all, 0 or none for none)\n"
	if r.code != 1 || r.stdout != "" || r.stderr != want {
		t.Errorf("-debug=foo: %+v", r)
	}
}

func TestParseSeconds(t *testing.T) {
	good := map[string]time.Duration{
		"30": 30 * time.Second, "0": 0, "1.5": 1500 * time.Millisecond, "0.25": 250 * time.Millisecond,
		"1.5s": 1500 * time.Millisecond, "2m": 2 * time.Minute, "100ms": 100 * time.Millisecond, "900": 900 * time.Second,
	}
	for in, want := range good {
		if d, err := parseSeconds(in); err != nil || d != want {
			t.Errorf("%q: %v %v, want %v", in, d, err, want)
		}
	}
	for _, in := range []string{"", "abc", "-1", "-1s", "NaN", "Inf", "1e300", "5x"} {
		d, err := parseSeconds(in)
		if err == nil || err.Error() != "want a number of seconds (e.g. 30) or a duration (e.g. 1.5s, 2m), not \""+in+"\"" {
			t.Errorf("%q: %v %v", in, d, err)
		}
	}
}

// Every timeout flag reads a number as seconds, or a duration, and says
// what it expects of a bad value.
func TestTimeoutFlags(t *testing.T) {
	dir, _ := startNode(t, nil)
	base := []string{"-datadir=" + dir, "-regtest"}
	for _, v := range []string{"0.1", "100ms"} {
		r := run(t, append(base, "-timeout="+v, "mining", "wait-tip")...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "timeout: tip unchanged") || r.stderr != "" {
			t.Errorf("-timeout=%s wait-tip: %+v", v, r)
		}
		r = run(t, append(base, "-timeout="+v, "mining", "wait-next")...)
		if r.code != 0 || r.stdout != "no better template before the timeout\n" {
			t.Errorf("-timeout=%s wait-next: %+v", v, r)
		}
	}
	for _, v := range []string{"60", "1.5m", "0"} {
		if r := run(t, append(base, "-rpcclienttimeout="+v, "echo", "x")...); r.code != 0 || r.stdout != "x\n" {
			t.Errorf("-rpcclienttimeout=%s: %+v", v, r)
		}
	}
	for _, flag := range []string{"timeout", "rpcclienttimeout"} {
		r := run(t, append(base, "-"+flag+"=soon", "probe")...)
		want := "error: invalid value \"soon\" for flag -" + flag + ": want a number of seconds (e.g. 30) or a duration (e.g. 1.5s, 2m), not \"soon\"\n"
		if r.code != 1 || r.stderr != want {
			t.Errorf("-%s=soon: %+v", flag, r)
		}
	}
}

// A wait call is bounded by its wait plus -rpcclienttimeout; a wait for
// ever by -rpcclienttimeout alone; -rpcclienttimeout=0 bounds nothing.
func TestWaitBound(t *testing.T) {
	cases := []struct{ client, wait, bound time.Duration }{
		{900 * time.Second, 0, 900 * time.Second},
		{900 * time.Second, time.Hour, time.Hour + 900*time.Second},
		{0, time.Hour, 0},
		{0, 0, 0},
	}
	for _, c := range cases {
		n := &node{callTimeout: c.client}
		if _, b := n.waitContext(t.Context(), c.wait); b != c.bound {
			t.Errorf("%+v: bound %v", c, b)
		}
	}
}

// Against a node that never answers, the command gives up after
// -rpcclienttimeout and says where and how long it waited. (run's own
// deadline is a minute: reaching it would give another message.)
func TestNeverHangs(t *testing.T) {
	_, sock := testutil.SilentSocket(t)
	for _, args := range [][]string{{"probe"}, {"echo", "x"}, {"rpc", "getblockcount"}, {"mining", "tip"}} {
		r := run(t, append([]string{"-rpcclienttimeout=1", "-ipcconnect=unix:" + sock}, args...)...)
		want := "error: no answer from the node at unix:" + sock + " within 1s (-rpcclienttimeout): Init.construct: failed: context deadline exceeded\n"
		if r.code != 1 || r.stdout != "" || r.stderr != want {
			t.Errorf("%v: exit %d, stdout %q\nstderr %q\nwant   %q", args, r.code, r.stdout, r.stderr, want)
		}
	}
}

// envServeDatadir makes the test binary run `serve` on that data directory.
const envServeDatadir = "BITCOIN_IPC_TEST_SERVE_DATADIR"

// A node process that is stopped (SIGSTOP): the kernel still accepts the
// connection, nothing answers, and the command gives up after
// -rpcclienttimeout. Once the node continues, it serves again.
func TestStoppedNode(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envServeDatadir+"="+dir)
	var out testutil.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		<-exited
	})
	// Wait for the node to listen: its first line says so.
	sock := filepath.Join(dir, "regtest", "node.sock")
	for deadline := time.Now().Add(time.Minute); !strings.Contains(out.String(), "listening for IPC requests"); time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("serve exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", out.String())
		}
	}
	base := []string{"-datadir=" + dir, "-regtest", "-rpcclienttimeout=1"}
	if r := run(t, append(base, "probe")...); r.code != 0 || r.stdout != "v32\n" {
		t.Fatalf("probe of the running node: %+v", r)
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, cmd.Process.Pid)
	r := run(t, append(base, "echo", "x")...)
	want := "error: no answer from the node at unix:" + sock + " within 1s (-rpcclienttimeout): Init.construct: failed: context deadline exceeded\n"
	if r.code != 1 || r.stdout != "" || r.stderr != want {
		t.Errorf("stopped node: %+v\nwant stderr %q", r, want)
	}
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "-datadir="+dir, "-regtest", "echo", "again"); r.code != 0 || r.stdout != "again\n" {
		t.Errorf("node continued: %+v", r)
	}
}

// waitStopped waits until the kernel reports process pid stopped (state T
// in /proc/PID/stat): a signalled process can run on for a moment, and
// answer one more request, on a loaded machine.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	path := fmt.Sprintf("/proc/%d/stat", pid)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(path)
		if err != nil {
			return // no procfs: nothing to wait on
		}
		// The state follows the command name, which is in parentheses.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'T' {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d not stopped: %s", pid, b)
		}
	}
}

// A peer that closes the connection at once: one prefix per layer.
func TestClosedByPeerError(t *testing.T) {
	_, sock := testutil.ClosingSocket(t)
	r := run(t, "-ipcconnect=unix:"+sock, "probe")
	prefix := "error: Could not connect to the node's IPC socket (ipc: connect unix:" + sock + ": Init.construct: disconnected: "
	if r.code != 1 || !strings.HasPrefix(r.stderr, prefix) || strings.Count(r.stderr, "construct") != 1 || strings.Count(r.stderr, sock) != 1 {
		t.Fatalf("%+v", r)
	}
}

// A regular file or a directory where the socket should be is "not a
// socket"; a world-writable socket directory is warned about, without
// -debug.
func TestSocketPathChecks(t *testing.T) {
	dir := t.TempDir()
	net := filepath.Join(dir, "regtest")
	if err := os.MkdirAll(filepath.Join(net, "node.sock"), 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, "-datadir="+dir, "-regtest", "probe")
	if want := "error: Could not connect to the node's IPC socket (connect unix:" + filepath.Join(net, "node.sock") + ": not a socket (a directory))\n"; r.code != 1 || r.stderr != want {
		t.Errorf("directory: %+v\nwant stderr %q", r, want)
	}
	r = run(t, "-ipcconnect=unix:"+file, "probe")
	if want := "error: Could not connect to the node's IPC socket (connect unix:" + file + ": not a socket (a regular file))\n"; r.code != 1 || r.stderr != want {
		t.Errorf("file: %+v\nwant stderr %q", r, want)
	}

	ndir, _ := startNode(t, nil)
	if err := os.Chmod(filepath.Join(ndir, "regtest"), 0o777); err != nil {
		t.Fatal(err)
	}
	r = run(t, "-datadir="+ndir, "-regtest", "probe")
	if r.code != 0 || r.stdout != "v32\n" || strings.Count(r.stderr, "\n") != 1 ||
		!strings.Contains(r.stderr, `level=WARN msg="IPC socket directory is world-writable: another user could have replaced the socket" dir=`+filepath.Join(ndir, "regtest")+" mode=0777") {
		t.Errorf("world-writable directory: %+v", r)
	}
	if err := os.Chmod(filepath.Join(ndir, "regtest"), 0o700); err != nil {
		t.Fatal(err)
	}
	if r = run(t, "-datadir="+ndir, "-regtest", "probe"); r.code != 0 || r.stderr != "" {
		t.Errorf("private directory: %+v", r)
	}
}

// echo echoes every argument; commands that take no arguments refuse
// extra ones, before connecting; rpc passes them to the node, which
// refuses them as Core does; serve serves regtest only.
func TestArguments(t *testing.T) {
	dir, _ := startNode(t, nil)
	base := []string{"-datadir=" + dir, "-regtest"}
	r := run(t, append(base, "echo", "a", "b <&> ü")...)
	if r.code != 0 || r.stderr != "" || r.stdout != "[\n  \"a\",\n  \"b <&> ü\"\n]\n" {
		t.Errorf("echo a b: %+v", r)
	}
	r = run(t, append(base, "echo", "one arg")...)
	if r.code != 0 || r.stderr != "" || r.stdout != "one arg\n" {
		t.Errorf("echo with one argument: %+v", r)
	}
	r = run(t, append(base, "rpc", "getblockcount", "extra")...)
	if r.code != 1 || r.stdout != "" || r.stderr != "error code: -1\nerror message:\ngetblockcount\n\nThe height of the demo chain's tip (the genesis block is at height 0).\n" {
		t.Errorf("rpc getblockcount extra: %+v", r)
	}

	// No node here: the arguments are refused before any connection.
	empty := []string{"-datadir=" + t.TempDir(), "-regtest"}
	refused := map[string]string{
		"serve extra":            "serve takes no arguments",
		"demo extra":             "demo takes no arguments",
		"probe extra":            "probe takes no arguments",
		"mining tip extra":       "mining tip takes no arguments",
		"mining wait-tip extra":  "mining wait-tip takes no arguments",
		"mining template extra":  "mining template takes no arguments",
		"mining submit extra":    "mining submit takes no arguments",
		"mining wait-next extra": "mining wait-next takes no arguments",
		"mining check":           "usage: bitcoin-ipc mining check HEXBLOCK",
		"mining check aa bb":     "usage: bitcoin-ipc mining check HEXBLOCK",
		"echo":                   "usage: bitcoin-ipc echo TEXT...",
		"rpc":                    "usage: bitcoin-ipc rpc METHOD [ARGS...]",
		"mining":                 "usage: bitcoin-ipc mining tip|wait-tip|template|check|submit|wait-next",
		"mining dig":             "unknown mining command \"dig\" (see bitcoin-ipc help mining)",
		"frobnicate":             "unknown command \"frobnicate\" (see bitcoin-ipc -help)",
		"-schema=v29 serve":      "-schema=v29: the demo node speaks v30, v31 or v32",
		"-testnet serve":         "serve runs the demo node, a regtest chain; it cannot serve test (use -regtest or no chain option)",
	}
	for line, want := range refused {
		args := strings.Fields(line)
		if args[0] == "-testnet" {
			r = run(t, "-datadir="+t.TempDir(), "-testnet", "serve")
		} else {
			r = run(t, append(empty, args...)...)
		}
		if r.code != 1 || r.stdout != "" || r.stderr != "error: "+want+"\n" {
			t.Errorf("%s: %+v", line, r)
		}
	}
	for _, chain := range []string{"-testnet4", "-signet", "-chain=main", "-chain=signet"} {
		r := run(t, "-datadir="+t.TempDir(), chain, "serve")
		if r.code != 1 || !strings.Contains(r.stderr, "it cannot serve") {
			t.Errorf("%s serve: %+v", chain, r)
		}
	}
}
