package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/ipc"
	nodeapi "github.com/bitcoin-ipc/bitcoin-ipc/node"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
	"github.com/bitcoin-ipc/bitcoin-ipc/process"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// node is a connection to a node, with its schema version and the
// version-neutral handle every command goes through.
type node struct {
	conn    *rt.Conn
	addr    string
	version probe.Version
	h       *nodeapi.Node
	// callTimeout is -rpcclienttimeout, the bound of each call.
	callTimeout time.Duration
}

func (n *node) close() {
	if n.h != nil {
		n.h.Close()
	}
	n.conn.Close()
}

// timeoutError is a wait for the node that ran out: it names the socket,
// how long it waited and the option that set it.
type timeoutError struct {
	addr string
	wait time.Duration
	why  string // the option(s) that bound the wait
	err  error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("no answer from the node at %s within %s (%s): %v", e.addr, e.wait, e.why, e.err)
}

func (e *timeoutError) Unwrap() error { return e.err }

// timedOut turns err into a *timeoutError when the bound of wait ran out
// (and not ctx, the command's own context).
func timedOut(ctx context.Context, err error, addr string, wait time.Duration, why string) error {
	if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var te *timeoutError
	if errors.As(err, &te) {
		return err
	}
	// The call that ran out, without the layers that name the socket.
	inner := err
	var ie *exception.Error
	if errors.As(err, &ie) {
		inner = ie
	}
	return &timeoutError{addr: addr, wait: wait, why: why, err: inner}
}

// errNoNode is withNode's error when -ipcconnect=auto finds no node.
var errNoNode = errors.New("no node")

// withNode connects to -ipcconnect, probes the schema version, and runs fn.
// Connecting, Init.construct and each call are bounded by -rpcclienttimeout.
func withNode(ctx context.Context, o *options, env Env, fn func(*node) error) error {
	dir, err := o.netDataDir()
	if err != nil {
		return err
	}
	if o.ipcconnect == "" || o.ipcconnect == "0" {
		return usageError{"IPC is disabled (-ipcconnect=0); bitcoin-ipc has no other way to reach the node"}
	}
	i := ipc.New("bitcoin-ipc", "", nil, ipc.WithLogger(o.logger(env.Stderr)), ipc.WithTimeout(o.rpcclienttimeout))
	conn, canonical, err := i.ConnectAddress(ctx, dir, o.ipcconnect)
	if err != nil {
		var ae *process.AddressError
		if errors.As(err, &ae) {
			return err
		}
		if err := timedOut(ctx, err, canonical, o.rpcclienttimeout, "-rpcclienttimeout"); errors.As(err, new(*timeoutError)) {
			return err
		}
		if isConnRefused(err) {
			return fmt.Errorf("Could not connect to the node's IPC socket (%w)\n\nIs bitcoin-node running with -ipcbind=unix, and is -datadir/-chain (or -ipcconnect=unix:PATH) right?", err)
		}
		return fmt.Errorf("Could not connect to the node's IPC socket (%v)", err)
	}
	if conn == nil {
		return fmt.Errorf("%w at %s", errNoNode, canonical)
	}
	n := &node{conn: conn, addr: canonical, callTimeout: o.rpcclienttimeout}
	defer func() { n.close() }()
	n.version, err = probe.Probe(ctx, conn)
	if err != nil {
		return timedOut(ctx, fmt.Errorf("%s: %w", canonical, err), canonical, o.rpcclienttimeout, "-rpcclienttimeout")
	}
	if n.h, err = nodeapi.NewVersion(conn, n.version); err != nil {
		return err
	}
	return timedOut(ctx, fn(n), canonical, o.rpcclienttimeout, "-rpcclienttimeout")
}

// waitContext bounds a call that asks the node to wait for up to wait
// (0: for ever) by wait plus -rpcclienttimeout, as the time a node takes
// to answer comes on top of the wait. It returns the bound (0: none).
func (n *node) waitContext(ctx context.Context, wait time.Duration) (context.Context, time.Duration) {
	bound := time.Duration(0)
	if n.callTimeout > 0 {
		bound = n.callTimeout
		if wait > 0 {
			bound += wait
		}
	}
	return rt.ContextWithCallTimeout(ctx, bound), bound
}

// waitTimedOut names the bound of a wait call that ran out.
func (n *node) waitTimedOut(ctx context.Context, err error, bound, wait time.Duration) error {
	why := "-rpcclienttimeout"
	if wait > 0 {
		why = "-timeout plus -rpcclienttimeout"
	}
	return timedOut(ctx, err, n.addr, bound, why)
}
