package demonode

import (
	"context"
	"log/slog"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/ipc"
	"github.com/bitcoin-ipc/bitcoin-ipc/process"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// ExeName is the name the demo node serves under, as Core's node does:
// its default socket is <datadir>/node.sock.
const ExeName = "bitcoin-node"

// DemoMempoolTxs is how many transactions a demo node starts with.
const DemoMempoolTxs = 5

// ListenAndServe binds address ("unix", "unix:PATH") in the network data
// directory dir and serves the node there in the background, as
// bitcoin-node -ipcbind does. stop closes the listener, every connection,
// and removes the socket; after a client asked the node to stop (RPC
// "stop"), it first waits up to StopGrace for the clients to close their
// connections, so that the one that asked gets its answer.
func (n *Node) ListenAndServe(dir, address string, log *slog.Logger) (canonical string, stop func(), err error) {
	i := ipc.New(ExeName, "", n.Bootstrap, ipc.WithLogger(log), ipc.WithConnOptions(rt.WithServerErrors(CoreErrors)))
	canonical, err = i.ListenAddress(dir, address)
	if err != nil {
		return "", nil, err
	}
	return canonical, func() {
		select {
		case <-n.Stopped():
			ctx, cancel := context.WithTimeout(context.Background(), StopGrace)
			defer cancel()
			i.Shutdown(ctx)
		default:
			i.Close()
		}
	}, nil
}

// StopGrace bounds how long a node asked to stop over RPC waits for its
// clients to disconnect before it closes their connections.
const StopGrace = 10 * time.Second

// ServeSpawned serves a new demo node on the connection inherited from a
// parent when args are exactly [exe, -ipcfd, N], until the parent closes
// it; then the status is 0. handled is false for any other args.
func ServeSpawned(args []string, log *slog.Logger) (handled bool, status int, err error) {
	if _, ok, err := process.CheckSpawned(args); !ok || err != nil {
		return err != nil, 1, err
	}
	n := New()
	defer n.Chain().Close()
	if err := n.SeedMempool(DemoMempoolTxs); err != nil {
		return true, 1, err
	}
	i := ipc.New(ExeName, "", n.Bootstrap, ipc.WithLogger(log), ipc.WithConnOptions(rt.WithName(ExeName), rt.WithServerErrors(CoreErrors)))
	return i.StartSpawnedProcess(args)
}
