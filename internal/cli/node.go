package cli

import (
	"context"
	"errors"
	"fmt"

	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/v32/v32capnp"
	"github.com/bitcoin-ipc/bitcoin-ipc/ipc"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
	"github.com/bitcoin-ipc/bitcoin-ipc/process"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// node is a connection to a node, with its schema version.
type node struct {
	conn    *rt.Conn
	addr    string
	version probe.Version
	init    *v32.InitClient
}

func (n *node) close() {
	if n.init != nil {
		n.init.Release()
	}
	n.conn.Close()
}

// needV32 refuses commands the node's schema cannot run.
func (n *node) needV32(what string) error {
	if n.version != probe.V32 && n.version != probe.Multiprocess {
		return fmt.Errorf("%s needs a node that speaks the v32 schema (Bitcoin Core master); the node at %s speaks %s", what, n.addr, n.version)
	}
	return nil
}

// withNode connects to -ipcconnect, probes the schema version, and runs fn.
func withNode(ctx context.Context, o *options, env Env, fn func(*node) error) error {
	dir, err := o.netDataDir()
	if err != nil {
		return err
	}
	if o.ipcconnect == "" || o.ipcconnect == "0" {
		return usageError{"IPC is disabled (-ipcconnect=0); bitcoin-ipc has no other way to reach the node"}
	}
	i := ipc.New("bitcoin-ipc", "", nil, ipc.WithLogger(o.logger(env.Stderr)))
	conn, canonical, err := i.ConnectAddress(ctx, dir, o.ipcconnect)
	if err != nil {
		var ae *process.AddressError
		if errors.As(err, &ae) {
			return err
		}
		return fmt.Errorf("Could not connect to the node's IPC socket (%v)\n\nIs bitcoin-node running with -ipcbind=unix, and is -datadir/-chain (or -ipcconnect=unix:PATH) right?", err)
	}
	if conn == nil {
		return fmt.Errorf("no node at %s", canonical)
	}
	n := &node{conn: conn, addr: canonical}
	defer func() { n.close() }()
	n.version, err = probe.Probe(ctx, conn)
	if err != nil {
		return fmt.Errorf("%s: %w", canonical, err)
	}
	// Init's construct and makeEcho are the same in every version, so the
	// v32 client serves echo on any node; needV32 guards the rest.
	n.init = v32.NewInitClient(conn, v32capnp.Init(conn.Bootstrap(ctx)))
	return fn(n)
}
