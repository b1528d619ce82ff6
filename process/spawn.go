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

// ExePath returns the path of the sibling executable name, found the way
// Core's Process::spawn finds it: next to the parent's argv0 (the directory
// of argv0 joined with name). If argv0 has no directory component, name is
// looked up on PATH; if it is not found there, name is returned unchanged
// (Spawn will then report the failure).
func ExePath(argv0, name string) string {
	if strings.Contains(argv0, "/") {
		return filepath.Join(filepath.Dir(argv0), name)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return name
}

// Spawn starts exePath as an IPC child, like Core's Process::spawn: it
// creates an AF_UNIX SOCK_STREAM socketpair (close-on-exec), passes one end
// to the child as descriptor 3 and runs it with argv exactly
// [exePath, "-ipcfd", "3"]. The child inherits no other descriptors besides
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
		Args:       []string{path, "-ipcfd", strconv.Itoa(SpawnedFD)},
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

// CheckSpawned reports whether args (normally os.Args) is the command line
// of a spawned child: exactly [exe, "-ipcfd", N]. Any other shape, including
// "-ipcfd" together with other arguments, returns (0, false, nil), so a
// spawned child never gets out-of-band configuration. If the shape matches
// but N is not a non-negative decimal integer, the error is
// "Invalid -ipcfd number 'N' (…)" wrapping ErrInvalidIPCFD.
func CheckSpawned(args []string) (fd int, ok bool, err error) {
	if len(args) != 3 || args[1] != "-ipcfd" {
		return 0, false, nil
	}
	fd, err = parseFD(args[2])
	if err != nil {
		return 0, false, err
	}
	return fd, true, nil
}

func parseFD(s string) (int, error) {
	bad := func(why string) error {
		return newError(fmt.Sprintf("Invalid -ipcfd number '%s' (%s)", s, why), ErrInvalidIPCFD)
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
// connection and exit with status 0 when it closes.
func StartSpawned(args []string, logger *slog.Logger) (conn *net.UnixConn, ok bool, err error) {
	fd, ok, err := CheckSpawned(args)
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
