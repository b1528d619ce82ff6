// Package node is one Go API for every Bitcoin Core release: Dial connects
// to a node, tells which schema set it speaks (v30, v31 or v32, see package
// probe) and returns a handle whose Echo, Mining, BlockTemplate and Rpc are
// the same Go interfaces on every version.
//
// The releases differ on the wire, and each difference is handled here:
// makeMining is Init's @2 on v30 and @3 from v31 on (where @2 throws);
// v31 renumbered Mining and BlockTemplate; submitSolution is @9 on v30, @7
// on v31 and @10 on v32 (which answers @7 with an error); v30's
// createNewBlock and checkBlock take no context; and the option structs
// have no schema defaults in v30 but defaults in v31 and v32, against which
// a field is XOR-encoded. The option structs of this package are plain
// values that mean the same on every node: what a field holds is what the
// node reads (DefaultBlockCreateOptions and its siblings hold Core's
// defaults, sent explicitly to a v30 node).
//
// Mining and BlockTemplate carry the union of the releases' methods. A
// method that the node's release lacks is never sent: it returns an error
// for which errors.Is(err, ErrUnsupported) holds, an *UnsupportedError
// naming the release that has it.
//
// The generated packages (gen/v30, gen/v31, gen/v32) stay available for
// programs that target one release exactly.
package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/bitcoin-ipc/bitcoin-ipc/ipc"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// Version names a schema set: probe.V30, probe.V31, probe.V32 or
// probe.Multiprocess (served as v32: its Init, Mining and BlockTemplate
// keep v32's methods and ordinals).
type Version = probe.Version

// ErrUnsupported is matched (errors.Is) by the error of a method that the
// node's release does not have.
var ErrUnsupported = errors.New("not in the node's schema")

// UnsupportedError is a method the node's release lacks; nothing was sent.
type UnsupportedError struct {
	Method  string  // the schema method, e.g. "Mining.submitBlock"
	Version Version // the node's schema set
	Has     string  // the releases that have it, e.g. "v32" or "v31 and later"
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s: %v: the node speaks %s; %s has it", e.Method, ErrUnsupported, e.Version, e.Has)
}

// Is makes errors.Is(err, ErrUnsupported) hold.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// Node is a connection to a node whose schema set is known.
type Node struct {
	conn    *rt.Conn
	addr    string
	version Version
	owned   bool // Close closes conn
	init    initClient
}

// initClient is Init as every version offers it.
type initClient interface {
	makeEcho(ctx context.Context) (Echo, error)
	makeMining(ctx context.Context) (Mining, error)
	makeRpc(ctx context.Context) (Rpc, error)
	release()
}

// Dial connects to the node at address in the network data directory
// datadir, as ipc.Ipc.ConnectAddress does ("unix", "unix:PATH", "auto"),
// probes its schema set once, and returns the handle. opts configure the
// connection (ipc.WithTimeout, ipc.WithLogger, ...). Close the handle when
// done; that closes the connection.
func Dial(ctx context.Context, datadir, address string, opts ...ipc.Option) (*Node, error) {
	conn, canonical, err := ipc.New("bitcoin-ipc", "", nil, opts...).ConnectAddress(ctx, datadir, address)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if conn == nil {
		return nil, fmt.Errorf("node: no node at %s", canonical)
	}
	n, err := New(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	n.addr, n.owned = canonical, true
	return n, nil
}

// New probes the schema set of the node on conn and returns the handle.
// The caller keeps conn: Close releases what the handle holds but leaves
// conn open.
func New(ctx context.Context, conn *rt.Conn) (*Node, error) {
	v, err := probe.Probe(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	return NewVersion(conn, v)
}

// NewVersion returns the handle for a node on conn known to speak v,
// without probing.
func NewVersion(conn *rt.Conn, v Version) (*Node, error) {
	n := &Node{conn: conn, version: v}
	switch v {
	case probe.V30:
		n.init = newV30Init(conn)
	case probe.V31:
		n.init = newV31Init(conn)
	case probe.V32, probe.Multiprocess:
		n.init = newV32Init(conn, v)
	default:
		return nil, fmt.Errorf("node: unknown schema set %q", v)
	}
	return n, nil
}

// Version is the node's schema set.
func (n *Node) Version() Version { return n.version }

// Conn is the connection to the node.
func (n *Node) Conn() *rt.Conn { return n.conn }

// Address is the node's canonical address ("unix:/path/node.sock") when
// Dial made the connection, else empty.
func (n *Node) Address() string { return n.addr }

// Close releases the node's Init, and closes the connection if Dial made it.
func (n *Node) Close() error {
	n.init.release()
	if n.owned {
		return n.conn.Close()
	}
	return nil
}

// Echo returns the node's Echo (Init.makeEcho, the same in every release).
func (n *Node) Echo(ctx context.Context) (Echo, error) { return n.init.makeEcho(ctx) }

// Mining returns the node's Mining (Init.makeMining at the node's ordinal).
func (n *Node) Mining(ctx context.Context) (Mining, error) { return n.init.makeMining(ctx) }

// Rpc returns the node's Rpc (Init.makeRpc, v32 only: ErrUnsupported before).
func (n *Node) Rpc(ctx context.Context) (Rpc, error) { return n.init.makeRpc(ctx) }

func unsupported(method string, v Version, has string) error {
	return &UnsupportedError{Method: method, Version: v, Has: has}
}

// The answers of a node that returned a null capability.
var (
	errNoEcho   = errors.New("node: makeEcho returned no Echo")
	errNoMining = errors.New("node: makeMining returned no Mining")
	errNoRpc    = errors.New("node: makeRpc returned no Rpc")
)
