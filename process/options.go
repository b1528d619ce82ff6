//go:build linux

package process

import (
	"io"
	"log/slog"
	"time"
)

// ConnectOption configures Connect and ConnectAddress.
type ConnectOption interface{ applyConnect(*connectConfig) }

// ListenOption configures Listen and ListenAt.
type ListenOption interface{ applyListen(*listenConfig) }

// SpawnOption configures Spawn.
type SpawnOption interface{ applySpawn(*spawnConfig) }

// SpawnedOption configures the child side: CheckSpawned and StartSpawned.
type SpawnedOption interface{ applySpawned(*spawnedConfig) }

// ArgvOption is accepted by both sides of a spawn, Spawn and
// CheckSpawned/StartSpawned, which must agree on it.
type ArgvOption interface {
	SpawnOption
	SpawnedOption
}

// Option is accepted by Connect, Listen and Spawn alike.
type Option interface {
	ConnectOption
	ListenOption
	SpawnOption
}

type connectConfig struct {
	logger   *slog.Logger
	attempts int
	backoff  time.Duration
}

type listenConfig struct {
	logger       *slog.Logger
	check        func(Ucred) error
	backlog      int
	probeTimeout time.Duration
}

type spawnConfig struct {
	logger *slog.Logger
	stdout io.Writer
	stderr io.Writer
	env    []string
	dir    string
	argv   Argv
}

type spawnedConfig struct {
	argv Argv
}

type connectOptionFunc func(*connectConfig)

func (f connectOptionFunc) applyConnect(c *connectConfig) { f(c) }

type listenOptionFunc func(*listenConfig)

func (f listenOptionFunc) applyListen(c *listenConfig) { f(c) }

type spawnOptionFunc func(*spawnConfig)

func (f spawnOptionFunc) applySpawn(c *spawnConfig) { f(c) }

type loggerOption struct{ l *slog.Logger }

func (o loggerOption) applyConnect(c *connectConfig) { c.logger = orDefault(o.l) }
func (o loggerOption) applyListen(c *listenConfig)   { c.logger = orDefault(o.l) }
func (o loggerOption) applySpawn(c *spawnConfig)     { c.logger = orDefault(o.l) }

// WithLogger sets the logger used by Connect, Listen (and the Listener) and
// Spawn (and the Child). The default, and the value used for a nil logger,
// is slog.Default(). Debug records describe normal operation (who connected,
// which process was launched); Warn records flag rejected peers and unsafe
// socket directories.
func WithLogger(l *slog.Logger) Option { return loggerOption{l} }

func orDefault(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// Retry defaults and limits.
const (
	DefaultRetryBackoff = 10 * time.Millisecond
	MaxRetryBackoff     = time.Second
)

// WithRetry makes Connect try up to attempts times in total, sleeping
// initialBackoff after the first failure and doubling the pause each time
// (capped at MaxRetryBackoff). Only transient failures are retried:
// EAGAIN (the listener's accept queue is full; Core's backlog is 5),
// ECONNREFUSED (a stale socket, e.g. the node is restarting) and ENOENT (the
// node has not created its socket yet). The context bounds the whole loop.
// attempts < 1 is treated as 1; initialBackoff <= 0 means
// DefaultRetryBackoff.
func WithRetry(attempts int, initialBackoff time.Duration) ConnectOption {
	return connectOptionFunc(func(c *connectConfig) {
		if attempts < 1 {
			attempts = 1
		}
		if initialBackoff <= 0 {
			initialBackoff = DefaultRetryBackoff
		}
		c.attempts, c.backoff = attempts, initialBackoff
	})
}

// WithPeerCheck replaces the listener's peer check. The function is called
// with the credentials of every accepted connection; a non-nil error makes
// the listener close the connection, log it at Warn and accept the next one.
// A nil function accepts every peer (same as AllowAnyUID). The function may
// be called concurrently when several goroutines call Accept. To add a rule
// on top of the default, call SameUID from it.
func WithPeerCheck(check func(Ucred) error) ListenOption {
	return listenOptionFunc(func(c *listenConfig) { c.check = check })
}

// AllowAnyUID disables the default same-UID peer check. Access control then
// rests on the socket's 0600 mode and its directory's permissions alone.
func AllowAnyUID() ListenOption {
	return listenOptionFunc(func(c *listenConfig) { c.check = nil })
}

// WithBacklog sets the listen(2) backlog. The default is the kernel maximum
// (net.core.somaxconn, as Go's net.Listen uses), falling back to
// syscall.SOMAXCONN; the kernel caps larger values. Values < 1 are ignored.
func WithBacklog(n int) ListenOption {
	return listenOptionFunc(func(c *listenConfig) {
		if n > 0 {
			c.backlog = n
		}
	})
}

// WithStdout sets the child's standard output (default: this process's
// stdout, as a Core child inherits it). nil means /dev/null.
func WithStdout(w io.Writer) SpawnOption {
	return spawnOptionFunc(func(c *spawnConfig) { c.stdout = w })
}

// WithStderr sets the child's standard error (default: this process's
// stderr). nil means /dev/null.
func WithStderr(w io.Writer) SpawnOption {
	return spawnOptionFunc(func(c *spawnConfig) { c.stderr = w })
}

// WithEnv sets the child's complete environment (default: this process's
// environment). It replaces, it does not append: pass
// append(os.Environ(), "K=V") to add a variable.
func WithEnv(env []string) SpawnOption {
	return spawnOptionFunc(func(c *spawnConfig) { c.env = env })
}

// WithDir sets the child's working directory (default: this process's).
func WithDir(dir string) SpawnOption {
	return spawnOptionFunc(func(c *spawnConfig) { c.dir = dir })
}

type argvOption Argv

func (o argvOption) applySpawn(c *spawnConfig)     { c.argv = Argv(o) }
func (o argvOption) applySpawned(c *spawnedConfig) { c.argv = Argv(o) }

// WithArgv sets the shape of the child's command line (default ArgvIPCFD,
// Bitcoin Core's "exe -ipcfd N"). Pass the same value to Spawn in the
// parent and to StartSpawned (or CheckSpawned) in the child.
func WithArgv(a Argv) ArgvOption { return argvOption(a) }
