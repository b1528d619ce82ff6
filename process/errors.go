//go:build linux

package process

import (
	"errors"
	"strconv"
	"syscall"
)

// Sentinel errors. Every error returned by this package that falls into one
// of these classes wraps the corresponding sentinel, so callers can test with
// errors.Is. Errors caused by a system call additionally wrap the
// syscall.Errno (for example syscall.ENOENT or syscall.ECONNREFUSED).
var (
	// ErrBadAddress: the address is not of the form "unix", "unix:" or
	// "unix:PATH" (or cannot be turned into a socket path).
	ErrBadAddress = errors.New("unrecognized IPC address")
	// ErrPathTooLong: the socket path does not fit in sockaddr_un.sun_path.
	ErrPathTooLong = errors.New("unix socket path too long")
	// ErrAddressInUse: Listen refused to take over an existing path (a live
	// socket, a regular file, a symlink, ...).
	ErrAddressInUse = errors.New("IPC address already in use")
	// ErrUnknownChain: the chain name is not main, test, testnet4, signet or
	// regtest.
	ErrUnknownChain = errors.New("unknown chain")
	// ErrConflictingChain: more than one chain was selected.
	ErrConflictingChain = errors.New("conflicting chain selection")
	// ErrInvalidIPCFD: the N in "-ipcfd N" is not a valid descriptor number.
	ErrInvalidIPCFD = errors.New("invalid -ipcfd number")
	// ErrNotSocket: an inherited descriptor is not an AF_UNIX stream socket.
	ErrNotSocket = errors.New("not a unix stream socket")
	// ErrPeerRejected: a connecting peer failed the listener's peer check.
	ErrPeerRejected = errors.New("IPC peer rejected")
)

// MaxPathLen is the size of sockaddr_un.sun_path on Linux (108). Like Bitcoin
// Core, this package requires socket paths to be strictly shorter, leaving
// room for the terminating NUL.
const MaxPathLen = len(syscall.RawSockaddrUnix{}.Path)

// AddressError is returned when an address cannot be parsed or resolved. It
// wraps ErrBadAddress or ErrPathTooLong. Its message follows Bitcoin Core:
// "Unrecognized address '…'" or
// `Unix address path "…" exceeded maximum socket path length`.
type AddressError struct {
	Address string // the address as given by the caller
	Path    string // the resolved socket path, when one was computed
	Err     error  // ErrBadAddress or ErrPathTooLong
	msg     string
}

func (e *AddressError) Error() string { return e.msg }
func (e *AddressError) Unwrap() error { return e.Err }

func badAddress(address, msg string) *AddressError {
	return &AddressError{Address: address, Err: ErrBadAddress, msg: msg}
}

func pathTooLong(address, path string) *AddressError {
	return &AddressError{
		Address: address,
		Path:    path,
		Err:     ErrPathTooLong,
		msg: "Unix address path " + strconv.Quote(path) +
			" exceeded maximum socket path length (" + strconv.Itoa(len(path)) +
			" bytes, limit " + strconv.Itoa(MaxPathLen-1) + ")",
	}
}

// ConnectError is returned by Connect. Its message names the socket and the
// reason, e.g. "connect unix:/x/node.sock: no such file or directory".
// It wraps the underlying error, so errors.Is(err, syscall.ENOENT) and
// errors.Is(err, syscall.ECONNREFUSED) work, and errors.Is(err,
// context.Canceled) when the context ended the attempt.
type ConnectError struct {
	Addr     Address
	Attempts int   // number of connect attempts made
	Err      error // the final cause: a connect failure or a context error
	// LastErr is the last connect failure when Err is a context error that
	// interrupted a retry loop; nil otherwise.
	LastErr error
}

func (e *ConnectError) Error() string {
	s := "connect " + e.Addr.String() + ": " + reason(e.Err)
	if e.Attempts > 1 {
		s += " (after " + strconv.Itoa(e.Attempts) + " attempts"
		if e.LastErr != nil {
			s += "; last error: " + reason(e.LastErr)
		}
		s += ")"
	} else if e.LastErr != nil {
		s += " (last error: " + reason(e.LastErr) + ")"
	}
	return s
}

func (e *ConnectError) Unwrap() []error { return nonNil(e.Err, e.LastErr) }

// ListenError is returned by Listen when the address cannot be bound. The
// message names the socket and says why, e.g.
// "listen unix:/x/node.sock: a live process is listening on this socket; …".
// Refusals wrap ErrAddressInUse and syscall.EADDRINUSE; system call failures
// wrap the syscall.Errno.
type ListenError struct {
	Addr   Address
	Reason string // human-readable explanation
	Err    error  // the error class (e.g. ErrAddressInUse) or underlying error
	Sys    error  // underlying system error, if any
}

func (e *ListenError) Error() string {
	r := e.Reason
	if r == "" {
		r = reason(e.Err)
	}
	return "listen " + e.Addr.String() + ": " + r
}

func (e *ListenError) Unwrap() []error { return nonNil(e.Err, e.Sys) }

// SpawnError is returned by Spawn, e.g.
// "spawn /usr/bin/bitcoin-node: no such file or directory". It wraps the
// underlying error (so errors.Is(err, fs.ErrNotExist) works for a missing
// executable and fs.ErrPermission for one that is not executable).
type SpawnError struct {
	Exe string
	Err error
}

func (e *SpawnError) Error() string { return "spawn " + e.Exe + ": " + reason(e.Err) }
func (e *SpawnError) Unwrap() error { return e.Err }

// msgError is an error with a fixed message that wraps other errors
// (sentinels and causes) without repeating their text.
type msgError struct {
	msg  string
	errs []error
}

func (e *msgError) Error() string   { return e.msg }
func (e *msgError) Unwrap() []error { return e.errs }

func newError(msg string, wraps ...error) error {
	return &msgError{msg: msg, errs: nonNil(wraps...)}
}

// reason returns the most specific human-readable cause: the errno text when
// the chain contains a syscall.Errno, otherwise the error's own text.
func reason(err error) string {
	if err == nil {
		return "<nil>"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

func nonNil(errs ...error) []error {
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}
