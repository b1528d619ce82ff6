//go:build linux

package process

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Connect connects to the unix socket at addr, like Core's
// Process::connect. It honours ctx (cancellation and deadline) and, with
// WithRetry, retries transient failures with exponential backoff.
//
// Errors are *ConnectError values naming the socket and the reason, e.g.
// "connect unix:/home/u/.bitcoin/node.sock: no such file or directory",
// and wrap the system error (errors.Is(err, syscall.ENOENT),
// errors.Is(err, syscall.ECONNREFUSED), ...). An empty or over-long path is
// an *AddressError (ErrBadAddress / ErrPathTooLong). Something other than
// a socket at the path (a regular file, a directory) fails at once with
// "connect unix:/path: not a socket (a directory)", wrapping ErrNotSocket.
// A world-writable socket directory, where another user could have put
// the socket, is logged as a warning.
func Connect(ctx context.Context, addr Address, opts ...ConnectOption) (*net.UnixConn, error) {
	cfg := connectConfig{logger: slog.Default(), attempts: 1, backoff: DefaultRetryBackoff}
	for _, o := range opts {
		if o != nil {
			o.applyConnect(&cfg)
		}
	}
	if addr.Path == "" {
		return nil, badAddress(addr.String(), "empty unix socket path")
	}
	if len(addr.Path) >= MaxPathLen {
		return nil, pathTooLong(addr.String(), addr.Path)
	}

	warnWorldWritable(filepath.Dir(addr.Path), cfg.logger)
	var d net.Dialer
	backoff := cfg.backoff
	var last error
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, &ConnectError{Addr: addr, Attempts: attempt - 1, Err: err, LastErr: last}
		}
		c, err := d.DialContext(ctx, "unix", addr.Path)
		if err == nil {
			uc, ok := c.(*net.UnixConn)
			if !ok { // cannot happen with network "unix"
				c.Close()
				return nil, &ConnectError{Addr: addr, Attempts: attempt, Err: errors.New("unexpected connection type")}
			}
			cfg.logger.Debug("connected to IPC socket", "address", addr.String(), "attempts", attempt)
			return uc, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, &ConnectError{Addr: addr, Attempts: attempt, Err: ctxErr, LastErr: last}
		}
		if ns := notSocket(addr.Path); ns != nil {
			return nil, &ConnectError{Addr: addr, Attempts: attempt, Err: ns}
		}
		if attempt >= cfg.attempts || !retryable(err) {
			return nil, &ConnectError{Addr: addr, Attempts: attempt, Err: err}
		}
		last = err
		cfg.logger.Debug("IPC connect failed, retrying",
			"address", addr.String(), "attempt", attempt, "error", reason(err), "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &ConnectError{Addr: addr, Attempts: attempt, Err: ctx.Err(), LastErr: last}
		case <-t.C:
		}
		backoff = min(2*backoff, MaxRetryBackoff)
	}
}

// notSocket returns an error wrapping ErrNotSocket when something other
// than a socket is at path, nil otherwise (a socket, or nothing there).
func notSocket(path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Type() == fs.ModeSocket {
		return nil
	}
	what := "a regular file"
	switch {
	case fi.IsDir():
		what = "a directory"
	case !fi.Mode().IsRegular():
		what = "a special file"
	}
	return newError("not a socket ("+what+")", ErrNotSocket)
}

// warnWorldWritable logs a warning when dir is writable by every user:
// another user could have replaced the socket there with one of theirs.
func warnWorldWritable(dir string, log *slog.Logger) {
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm()&0o002 == 0 {
		return
	}
	log.Warn("IPC socket directory is world-writable: another user could have replaced the socket",
		"dir", dir, "mode", "0"+strconv.FormatUint(uint64(fi.Mode().Perm()), 8))
}

func retryable(err error) bool {
	return errors.Is(err, syscall.EAGAIN) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ENOENT)
}

// ConnectAddress implements bitcoin-cli's -ipcconnect convention (Core's
// Ipc::connectAddress) for the per-network data directory datadir:
//
//   - "" or "0": IPC disabled; returns (nil, "", nil) without connecting.
//   - "auto": connect to "unix" (<datadir>/node.sock). If nothing is there
//     (ECONNREFUSED, ENOENT, ENOTDIR) or the path is too long, it returns
//     (nil, canonical, nil) quietly so the caller can fall back to HTTP RPC.
//     Any other failure is returned as an error.
//   - anything else: ParseAddress(datadir, "bitcoin-node", address) and
//     Connect; every failure is an error.
//
// canonical is the resolved "unix:/abs/path" whenever one could be computed,
// also alongside an error, so callers can report it.
func ConnectAddress(ctx context.Context, datadir, address string, opts ...ConnectOption) (conn *net.UnixConn, canonical string, err error) {
	switch address {
	case "", "0":
		return nil, "", nil
	case "auto":
		addr, err := ParseAddress(datadir, "bitcoin-node", "unix")
		if err != nil {
			var ae *AddressError
			if errors.As(err, &ae) && errors.Is(err, ErrPathTooLong) {
				return nil, "unix:" + ae.Path, nil
			}
			return nil, "", err
		}
		c, err := Connect(ctx, addr, opts...)
		if err != nil {
			var ce *ConnectError
			if errors.As(err, &ce) && (errors.Is(ce.Err, syscall.ECONNREFUSED) ||
				errors.Is(ce.Err, syscall.ENOENT) || errors.Is(ce.Err, syscall.ENOTDIR)) {
				return nil, addr.String(), nil
			}
			return nil, addr.String(), err
		}
		return c, addr.String(), nil
	}
	addr, err := ParseAddress(datadir, "bitcoin-node", address)
	if err != nil {
		var ae *AddressError
		if errors.As(err, &ae) && ae.Path != "" {
			return nil, "unix:" + ae.Path, err
		}
		return nil, "", err
	}
	c, err := Connect(ctx, addr, opts...)
	if err != nil {
		return nil, addr.String(), err
	}
	return c, addr.String(), nil
}
