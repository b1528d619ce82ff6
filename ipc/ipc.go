// Package ipc is the facade over bitcoin-ipc's pieces, the Go form of
// Bitcoin Core's interfaces::Ipc: spawn a child process and connect to it,
// serve as a spawned child, connect to or listen on unix: addresses, and
// share an application Context with every connection.
//
// It is schema-agnostic: it returns *rt.Conn, and the generated package of
// the node's schema set turns that into a typed Init client, e.g.
// v32.NewInitClient(conn) (see the examples).
package ipc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/process"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// Ipc ties a process's local Init to the connections it makes and accepts.
type Ipc struct {
	exeName string
	argv0   string
	init    func(*rt.Conn) *rt.Cap
	ctx     *rt.Context
	log     *slog.Logger
	opts    []rt.Option
	argv    process.Argv
	timeout time.Duration

	mu        sync.Mutex
	servers   []*rt.Server
	listeners []*process.Listener
}

// Option configures an Ipc.
type Option func(*Ipc)

// WithLogger sets the logger for the Ipc and its connections.
func WithLogger(l *slog.Logger) Option { return func(i *Ipc) { i.log = l } }

// WithConnOptions applies runtime options to every connection.
func WithConnOptions(opts ...rt.Option) Option {
	return func(i *Ipc) { i.opts = append(i.opts, opts...) }
}

// WithArgv sets the shape of a spawned child's command line, for both
// SpawnProcess and StartSpawnedProcess (default process.ArgvIPCFD, Bitcoin
// Core's "exe -ipcfd N"; process.ArgvFD is libmultiprocess's "exe N").
func WithArgv(a process.Argv) Option { return func(i *Ipc) { i.argv = a } }

// WithTimeout bounds how long ConnectAddress waits for the socket and for
// Init.construct, and each call on the connections it makes (see
// rt.WithCallTimeout): a peer that accepts and never answers, or a stopped
// one, makes them fail with an error matching context.DeadlineExceeded
// instead of hanging. 0, the default, means no bound.
func WithTimeout(d time.Duration) Option { return func(i *Ipc) { i.timeout = d } }

// New makes the Ipc of a process named exeName (e.g. "bitcoin-node"),
// started as argv0, serving init (may be nil for a pure client) to peers.
func New(exeName, argv0 string, init func(*rt.Conn) *rt.Cap, opts ...Option) *Ipc {
	i := &Ipc{exeName: exeName, argv0: argv0, init: init, ctx: &rt.Context{}}
	for _, o := range opts {
		o(i)
	}
	if i.log == nil {
		i.log = slog.New(slog.DiscardHandler)
	}
	return i
}

func (i *Ipc) connOpts() []rt.Option {
	return append([]rt.Option{rt.WithLogger(i.log), rt.WithName(i.exeName), rt.WithContext(i.ctx), rt.WithCallTimeout(i.timeout)}, i.opts...)
}

// Context returns the application Context shared with every connection.
func (i *Ipc) Context() *rt.Context { return i.ctx }

// SpawnProcess starts the sibling executable exeName (next to argv0, see
// process.ExePath) as `exe -ipcfd N` (or as WithArgv says) and connects to
// it; opts come after the Ipc's own. When the connection ends, the child
// is waited for and its exit status logged.
func (i *Ipc) SpawnProcess(ctx context.Context, exeName string, opts ...process.SpawnOption) (*rt.Conn, *process.Child, error) {
	exe := process.ExePath(i.argv0, exeName)
	child, err := process.Spawn(ctx, exe, append([]process.SpawnOption{process.WithArgv(i.argv)}, opts...)...)
	if err != nil {
		return nil, nil, err
	}
	i.log.Debug("Process launched", "exe", exeName, "pid", child.Pid)
	conn, err := rt.Connect(ctx, child.Conn, i.connOpts()...)
	if err != nil {
		child.Conn.Close()
		st, _ := child.Wait()
		return nil, nil, fmt.Errorf("ipc: connecting to spawned %s (pid %d, %s): %w", exeName, child.Pid, st, err)
	}
	conn.AddCleanup(func() {
		st, err := child.Wait()
		i.log.Debug("Process exited", "exe", exeName, "pid", child.Pid, "status", st.String(), "err", err)
	})
	return conn, child, nil
}

// StartSpawnedProcess serves init on the connection inherited from a parent
// when args are exactly [exe, "-ipcfd", N] (or the shape WithArgv sets). It returns handled=false for any
// other args. Otherwise it ignores SIGINT (the parent decides when to stop),
// serves until the parent closes the connection, and returns exit status 0.
func (i *Ipc) StartSpawnedProcess(args []string) (handled bool, exitStatus int, err error) {
	nc, ok, err := process.StartSpawned(args, i.log, process.WithArgv(i.argv))
	if err != nil {
		return true, 1, err
	}
	if !ok {
		return false, 0, nil
	}
	if i.init == nil {
		nc.Close()
		return true, 1, errors.New("ipc: spawned, but this process serves no Init")
	}
	conn := rt.Serve(nc, i.init, i.connOpts()...)
	<-conn.Done()
	return true, 0, nil
}

// ConnectAddress connects to a node at address ("unix", "unix:PATH", "auto",
// or ""/"0" for none) relative to the network data directory datadir. It
// returns a nil Conn without error for ""/"0", and for "auto" when no node
// listens there. canonical is the unix:/abs/path tried. Errors of the
// socket are process's (*process.ConnectError, "connect unix:/path: ...");
// a failed handshake reads "ipc: connect unix:/path: Init.construct: ...".
func (i *Ipc) ConnectAddress(ctx context.Context, datadir, address string, opts ...process.ConnectOption) (conn *rt.Conn, canonical string, err error) {
	dialCtx := ctx
	if i.timeout > 0 {
		var cancel context.CancelFunc
		dialCtx, cancel = context.WithTimeout(ctx, i.timeout)
		defer cancel()
	}
	opts = append([]process.ConnectOption{process.WithLogger(i.log)}, opts...)
	nc, canonical, err := process.ConnectAddress(dialCtx, datadir, address, opts...)
	if err != nil || nc == nil {
		return nil, canonical, err
	}
	conn, err = rt.Connect(ctx, nc, i.connOpts()...)
	if err != nil {
		return nil, canonical, fmt.Errorf("ipc: connect %s: %w", canonical, err)
	}
	return conn, canonical, nil
}

// ListenAddress binds address (as ConnectAddress resolves it, with this
// process's own name) and serves init to every connection, in the
// background. It returns the canonical address.
func (i *Ipc) ListenAddress(datadir, address string, opts ...process.ListenOption) (string, error) {
	if i.init == nil {
		return "", errors.New("ipc: this process serves no Init")
	}
	ln, err := process.Listen(datadir, i.exeName, address, append([]process.ListenOption{process.WithLogger(i.log)}, opts...)...)
	if err != nil {
		return "", err
	}
	srv := rt.NewServer(listener{ln}, i.init, rt.ConnOptions(i.connOpts()...))
	i.mu.Lock()
	i.servers = append(i.servers, srv)
	i.listeners = append(i.listeners, ln)
	i.mu.Unlock()
	go func() {
		if err := srv.Serve(); err != nil {
			i.log.Error("ipc: accepting connections", "addr", ln.Addr().String(), "err", err)
		}
	}()
	i.log.Info("Listening for IPC requests", "address", ln.Addr().String())
	return ln.Addr().String(), nil
}

// DisconnectIncoming closes every connection accepted on a listening
// address (not the parent connection of a spawned process).
func (i *Ipc) DisconnectIncoming() {
	i.mu.Lock()
	servers := append([]*rt.Server(nil), i.servers...)
	i.mu.Unlock()
	for _, s := range servers {
		s.DisconnectIncoming()
	}
}

// AddCleanup runs fn when proxy (any generated client) is destroyed or
// released.
func (i *Ipc) AddCleanup(proxy interface{ AddCleanup(func()) }, fn func()) {
	proxy.AddCleanup(fn)
}

// Close stops listening, closes accepted connections and removes sockets.
func (i *Ipc) Close() error {
	return i.stopServers(func(s *rt.Server) error { return s.Close() })
}

// Shutdown stops listening and waits for the connections it accepted to
// end by themselves, closing those still open when ctx is done (see
// rt.Server.Shutdown).
func (i *Ipc) Shutdown(ctx context.Context) error {
	return i.stopServers(func(s *rt.Server) error { return s.Shutdown(ctx) })
}

func (i *Ipc) stopServers(stop func(*rt.Server) error) error {
	i.mu.Lock()
	servers := i.servers
	i.servers = nil
	i.listeners = nil
	i.mu.Unlock()
	var errs []error
	for _, s := range servers {
		errs = append(errs, stop(s))
	}
	return errors.Join(errs...)
}

// listener adapts process.Listener to net.Listener.
type listener struct{ l *process.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.l.Accept()
	if err != nil {
		return nil, err
	}
	return c, nil
}
func (l listener) Close() error { return l.l.Close() }
func (l listener) Addr() net.Addr {
	return &net.UnixAddr{Name: l.l.Addr().Path, Net: "unix"}
}
