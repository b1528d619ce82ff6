//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// SpawnedFD is the descriptor number a spawned child receives its end of
// the socketpair on (the first entry of exec.Cmd.ExtraFiles).
const SpawnedFD = 3

// ExitStatus describes how a child process ended.
type ExitStatus struct {
	// Code is the exit code if the child exited normally, -1 if it was
	// terminated by a signal.
	Code int
	// Signal is the signal that terminated the child, 0 if it exited.
	Signal syscall.Signal
}

// Success reports whether the child exited normally with code 0.
func (s ExitStatus) Success() bool { return s.Code == 0 && s.Signal == 0 }

// String returns e.g. "exit status 3" or "terminated by signal 9 (killed)".
func (s ExitStatus) String() string {
	if s.Signal != 0 {
		return fmt.Sprintf("terminated by signal %d (%v)", int(s.Signal), s.Signal)
	}
	return "exit status " + strconv.Itoa(s.Code)
}

func exitStatusOf(ws syscall.WaitStatus) ExitStatus {
	if ws.Signaled() {
		return ExitStatus{Code: -1, Signal: ws.Signal()}
	}
	return ExitStatus{Code: ws.ExitStatus()}
}

// Child is a process started by Spawn.
type Child struct {
	// Conn is the parent's end of the socketpair. Closing it tells a
	// well-behaved child to shut down (its serve loop sees EOF). It reads
	// EOF when the child exits.
	Conn *net.UnixConn
	// Pid is the child's process id.
	Pid int

	cmd     *exec.Cmd
	exe     string
	logger  *slog.Logger
	done    chan struct{}
	status  ExitStatus
	waitErr error
}

// ExePath returns the path of the sibling executable name: the file name in
// the directory of the running program, as Core's Process::spawn finds it
// from argv0.
//
// If argv0 has a slash (e.g. "./bin/parent" or "/opt/x/parent"), the result
// is name in argv0's directory, made absolute (relative to the current
// working directory), so Spawn runs exactly that file and never searches
// PATH: ExePath("./parent", "worker") is "$PWD/worker". If argv0 is a bare
// name, the program was found on PATH as a shell finds it: ExePath looks
// argv0 up on PATH the same way and takes its directory; if that fails (the
// name is not on PATH, e.g. argv0 was set by the caller), it uses the
// directory of os.Executable. Only when neither works is name returned
// unchanged, and Spawn then looks it up on PATH.
func ExePath(argv0, name string) string {
	if strings.Contains(argv0, "/") {
		return sibling(argv0, name)
	}
	if argv0 != "" {
		if p, err := exec.LookPath(argv0); err == nil {
			return sibling(p, name)
		}
	}
	if p, err := os.Executable(); err == nil {
		return sibling(p, name)
	}
	return name
}

// sibling joins name to the directory of path, absolute when possible.
func sibling(path, name string) string {
	p := filepath.Join(filepath.Dir(path), name)
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	if !strings.Contains(p, "/") {
		p = "." + string(filepath.Separator) + p
	}
	return p
}

// Spawn starts exePath as an IPC child, like Core's Process::spawn: it
// creates an AF_UNIX SOCK_STREAM socketpair (close-on-exec), passes one end
// to the child as descriptor 3 and runs it with argv exactly
// [exePath, "-ipcfd", "3"], or [exePath, "3"] with WithArgv(ArgvFD). The child inherits no other descriptors besides
// stdin (/dev/null), stdout and stderr. The parent's end is returned as
// Child.Conn; the parent closes its copy of the child's end right after the
// start, so Conn reads EOF as soon as the child exits.
//
// A bare name without a slash is looked up on PATH (as execvp does); a
// relative path is made absolute. Unlike Core, a failed exec (missing file,
// not executable, bad format) is returned as a *SpawnError instead of a child
// that exits 127.
//
// ctx only bounds the start: cancelling it later does not affect the child.
// The parent controls the child's lifetime by closing Conn (see Stop) or by
// signalling it (Signal, Kill). The child is reaped in the background; Wait
// and Done report its exit.
func Spawn(ctx context.Context, exePath string, opts ...SpawnOption) (*Child, error) {
	cfg := spawnConfig{logger: slog.Default(), stdout: os.Stdout, stderr: os.Stderr}
	for _, o := range opts {
		if o != nil {
			o.applySpawn(&cfg)
		}
	}
	if exePath == "" {
		return nil, &SpawnError{Exe: exePath, Err: errors.New("empty executable path")}
	}
	args, err := cfg.argv.build(exePath, SpawnedFD)
	if err != nil {
		return nil, &SpawnError{Exe: exePath, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, &SpawnError{Exe: exePath, Err: err}
	}
	path := exePath
	if !strings.Contains(path, "/") {
		p, err := exec.LookPath(path)
		if err != nil {
			return nil, &SpawnError{Exe: exePath, Err: err}
		}
		path = p
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}

	args[0] = path

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &SpawnError{Exe: path, Err: os.NewSyscallError("socketpair", err)}
	}
	parentEnd := os.NewFile(uintptr(fds[0]), "ipc-parent")
	childEnd := os.NewFile(uintptr(fds[1]), "ipc-child")
	// The parent must not keep the child's end open, or Conn would never
	// see EOF when the child dies.
	defer childEnd.Close()

	fc, err := net.FileConn(parentEnd) // dups the descriptor
	parentEnd.Close()
	if err != nil {
		return nil, &SpawnError{Exe: path, Err: err}
	}
	conn, ok := fc.(*net.UnixConn)
	if !ok { // cannot happen for an AF_UNIX socket
		fc.Close()
		return nil, &SpawnError{Exe: path, Err: errors.New("unexpected connection type")}
	}

	cmd := &exec.Cmd{
		Path:       path,
		Args:       args,
		Env:        cfg.env,
		Dir:        cfg.dir,
		Stdout:     cfg.stdout,
		Stderr:     cfg.stderr,
		ExtraFiles: []*os.File{childEnd}, // becomes fd 3 in the child
		// Bound the wait for stdout/stderr copying when those are not
		// *os.File and a grandchild keeps the pipe open.
		WaitDelay: time.Second,
	}
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, &SpawnError{Exe: path, Err: err}
	}
	c := &Child{
		Conn:   conn,
		Pid:    cmd.Process.Pid,
		cmd:    cmd,
		exe:    path,
		logger: cfg.logger,
		done:   make(chan struct{}),
	}
	c.logger.Debug("Process launched", "exe", path, "pid", c.Pid)
	go c.reap()
	return c, nil
}

func (c *Child) reap() {
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = nil // a non-zero exit is reported through the status
	}
	if ps := c.cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
			c.status = exitStatusOf(ws)
		}
	}
	c.waitErr = err
	c.logger.Debug("Process exited", "exe", c.exe, "pid", c.Pid, "status", c.status.String())
	close(c.done)
}

// Wait blocks until the child has exited and returns its exit status
// (Core's waitSpawned, but decoded). A non-zero exit is not an error; the
// error is non-nil only if waiting itself failed (e.g. copying the child's
// output). Wait may be called any number of times, from any goroutine.
func (c *Child) Wait() (ExitStatus, error) {
	<-c.done
	return c.status, c.waitErr
}

// Done returns a channel that is closed when the child has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Signal sends sig to the child. After the child has exited it returns
// os.ErrProcessDone; it never signals an unrelated process that reused the
// pid.
func (c *Child) Signal(sig os.Signal) error { return c.cmd.Process.Signal(sig) }

// Kill sends SIGKILL to the child.
func (c *Child) Kill() error { return c.Signal(syscall.SIGKILL) }

// Stop shuts the child down the way Core's parent does: it closes Conn,
// which makes a well-behaved child exit, and waits. If ctx ends first, the
// child is killed with SIGKILL. It returns the exit status.
func (c *Child) Stop(ctx context.Context) (ExitStatus, error) {
	c.Conn.Close()
	select {
	case <-c.done:
	case <-ctx.Done():
		c.logger.Warn("child did not exit after its connection was closed; killing it",
			"exe", c.exe, "pid", c.Pid, "error", ctx.Err())
		if err := c.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return ExitStatus{}, err
		}
		<-c.done
	}
	return c.Wait()
}

// Argv is the shape of a spawned child's command line: how the number of
// the descriptor that carries the connection is passed to it. Parent and
// child must agree on it (WithArgv on both sides).
type Argv int

const (
	// ArgvIPCFD is Bitcoin Core's shape, [exe, "-ipcfd", N]: the default.
	ArgvIPCFD Argv = iota
	// ArgvFD is the bare number, [exe, N], as libmultiprocess's example
	// programs (mpexample spawning mpcalculator and mpprinter) pass it.
	ArgvFD
)

// String returns "exe -ipcfd N" or "exe N".
func (a Argv) String() string {
	switch a {
	case ArgvIPCFD:
		return "exe -ipcfd N"
	case ArgvFD:
		return "exe N"
	}
	return "Argv(" + strconv.Itoa(int(a)) + ")"
}

// build returns the command line of a child started as exe with fd.
func (a Argv) build(exe string, fd int) ([]string, error) {
	switch a {
	case ArgvIPCFD:
		return []string{exe, "-ipcfd", strconv.Itoa(fd)}, nil
	case ArgvFD:
		return []string{exe, strconv.Itoa(fd)}, nil
	}
	return nil, fmt.Errorf("unknown argv shape %d", int(a))
}

// CheckSpawned reports whether args (normally os.Args) is the command line
// of a spawned child: exactly [exe, "-ipcfd", N], or [exe, N] with
// WithArgv(ArgvFD). Any other shape, including "-ipcfd" together with other
// arguments, returns (0, false, nil), so a spawned child never gets
// out-of-band configuration. If the shape matches but N is not a
// non-negative decimal integer, the error is "Invalid -ipcfd number 'N' (…)"
// (for ArgvFD "Invalid fd number 'N' (…)") wrapping ErrInvalidIPCFD.
func CheckSpawned(args []string, opts ...SpawnedOption) (fd int, ok bool, err error) {
	var cfg spawnedConfig
	for _, o := range opts {
		if o != nil {
			o.applySpawned(&cfg)
		}
	}
	var n, what string
	switch cfg.argv {
	case ArgvIPCFD:
		if len(args) != 3 || args[1] != "-ipcfd" {
			return 0, false, nil
		}
		n, what = args[2], "-ipcfd number"
	case ArgvFD:
		if len(args) != 2 {
			return 0, false, nil
		}
		n, what = args[1], "fd number"
	default:
		return 0, false, newError(fmt.Sprintf("unknown argv shape %d", int(cfg.argv)), ErrInvalidIPCFD)
	}
	fd, err = parseFD(what, n)
	if err != nil {
		return 0, false, err
	}
	return fd, true, nil
}

func parseFD(what, s string) (int, error) {
	bad := func(why string) error {
		return newError(fmt.Sprintf("Invalid %s '%s' (%s)", what, s, why), ErrInvalidIPCFD)
	}
	digits := s
	if strings.HasPrefix(s, "-") {
		digits = s[1:]
	}
	if digits == "" {
		return 0, bad("not a number")
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, bad("not a decimal integer")
		}
	}
	if digits != s {
		return 0, bad("negative")
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, bad("out of range")
	}
	return int(n), nil
}

// SpawnedConn turns the inherited descriptor fd into a connection. It checks
// that fd is an AF_UNIX SOCK_STREAM socket (ErrNotSocket otherwise), marks it
// close-on-exec so it does not leak into grandchildren, and takes ownership:
// fd itself is closed (the connection uses a duplicate). If fd is a standard
// stream (0-2), /dev/null is put in its place.
func SpawnedConn(fd int) (*net.UnixConn, error) {
	if fd < 0 {
		return nil, newError(fmt.Sprintf("ipc fd %d: negative descriptor", fd), ErrInvalidIPCFD)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, newError(fmt.Sprintf("ipc fd %d: %v", fd, err), os.NewSyscallError("fstat", err))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, newError(fmt.Sprintf("ipc fd %d: not a socket", fd), ErrNotSocket)
	}
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return nil, newError(fmt.Sprintf("ipc fd %d: %v", fd, err), os.NewSyscallError("getsockopt SO_DOMAIN", err))
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return nil, newError(fmt.Sprintf("ipc fd %d: %v", fd, err), os.NewSyscallError("getsockopt SO_TYPE", err))
	}
	if domain != unix.AF_UNIX || typ != unix.SOCK_STREAM {
		return nil, newError(fmt.Sprintf("ipc fd %d: socket is not AF_UNIX SOCK_STREAM (domain %d, type %d)", fd, domain, typ),
			ErrNotSocket)
	}
	// Move the socket to a fresh close-on-exec descriptor >= 3 so that it
	// does not leak into grandchildren, then release the inherited number.
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, newError(fmt.Sprintf("ipc fd %d: %v", fd, err), os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err))
	}
	if fd <= 2 {
		// Keep the standard stream slot occupied by something harmless.
		if null, err := unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
			unix.Dup3(null, fd, 0)
			unix.Close(null)
		}
	} else {
		unix.Close(fd)
	}
	f := os.NewFile(uintptr(nfd), "ipcfd-"+strconv.Itoa(fd))
	c, err := net.FileConn(f) // dups again; f is closed below
	f.Close()
	if err != nil {
		return nil, newError(fmt.Sprintf("ipc fd %d: %v", fd, err), err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, newError(fmt.Sprintf("ipc fd %d: unexpected connection type", fd), ErrNotSocket)
	}
	return uc, nil
}

// IgnoreInterrupt makes SIGINT harmless in a spawned child: each SIGINT is
// logged ("SIGINT received — waiting for parent to shut down") and otherwise
// ignored, because the parent controls shutdown (a terminal's Ctrl-C reaches
// the whole process group). The child should exit with status 0 once the
// parent's connection closes, i.e. when its serve loop returns. A nil logger
// means slog.Default(). The returned function restores default SIGINT
// handling.
func IgnoreInterrupt(logger *slog.Logger) (stop func()) {
	logger = orDefault(logger)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt)
	quit := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				logger.Info("SIGINT received — waiting for parent to shut down")
			case <-quit:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(quit)
		})
	}
}

// StartSpawned is the child-side counterpart of Spawn (Core's
// startSpawnedProcess). Call it first thing in main with os.Args. If the
// process was not spawned it returns (nil, false, nil) and changes nothing.
// Otherwise it returns the connection to the parent, with SIGINT already
// being ignored (IgnoreInterrupt). The caller should serve that single
// connection and exit with status 0 when it closes. opts are CheckSpawned's
// (WithArgv for a parent that passes the bare descriptor number).
func StartSpawned(args []string, logger *slog.Logger, opts ...SpawnedOption) (conn *net.UnixConn, ok bool, err error) {
	fd, ok, err := CheckSpawned(args, opts...)
	if err != nil || !ok {
		return nil, false, err
	}
	conn, err = SpawnedConn(fd)
	if err != nil {
		return nil, false, err
	}
	IgnoreInterrupt(logger)
	return conn, true, nil
}
