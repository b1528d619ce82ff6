//go:build linux

package process

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	socketMode = 0o600
	dirMode    = 0o700
)

// Ucred holds a peer's credentials as reported by SO_PEERCRED: the process
// id, effective user id and effective group id of the process that created
// the connection, captured at connect time.
type Ucred struct {
	Pid      int32
	Uid, Gid uint32
}

// PeerCred returns the credentials of the process at the other end of c.
func PeerCred(c *net.UnixConn) (Ucred, error) {
	if c == nil {
		return Ucred{}, errors.New("process: PeerCred of nil connection")
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return Ucred{}, err
	}
	var uc *unix.Ucred
	var serr error
	if err := rc.Control(func(fd uintptr) {
		uc, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Ucred{}, err
	}
	if serr != nil {
		return Ucred{}, os.NewSyscallError("getsockopt SO_PEERCRED", serr)
	}
	return Ucred{Pid: uc.Pid, Uid: uc.Uid, Gid: uc.Gid}, nil
}

// SameUID is the default peer check of a Listener: it accepts a peer whose
// effective UID equals this process's effective UID and otherwise returns an
// error wrapping ErrPeerRejected.
func SameUID(c Ucred) error {
	if euid := os.Geteuid(); c.Uid != uint32(euid) {
		return fmt.Errorf("%w: peer uid %d (pid %d) differs from this process's uid %d",
			ErrPeerRejected, c.Uid, c.Pid, euid)
	}
	return nil
}

// Listener accepts IPC connections on a unix socket created by Listen.
// It is safe for concurrent use.
type Listener struct {
	ln       *net.UnixListener
	addr     Address
	dev, ino uint64
	check    func(Ucred) error
	logger   *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

// Listen binds a unix socket for -ipcbind=address, like Core's
// Process::bind followed by Protocol::listen, with these safety differences:
//
// Address. address is resolved with ParseAddress(datadir, exeName, address);
// datadir is the per-network data directory, exeName the local executable
// ("bitcoin-node" -> node.sock).
//
// Directories. Missing parent directories are created with mode 0700, and
// each directory created here is then fchmod'ed to exactly 0700, whatever
// the umask. An existing socket directory is left alone, but a Warn record
// is logged when it is writable or accessible by other users.
//
// Existing path. If a socket file exists at the path it is probed with a
// connect. If a process accepts (or the accept queue is full), Listen refuses
// with ErrAddressInUse and leaves the file alone: unlike Core it never steals
// the address of a live node. (The live process sees one connection that is
// closed immediately.) If the connect is refused the socket is stale: it is
// removed (after checking it is still the same inode) and a new one is bound.
// A regular file, symbolic link, directory or anything else at the path is
// never removed; Listen refuses with ErrAddressInUse and says what is there.
// Two processes racing for the same stale path can still interfere in a
// small window; Bitcoin Core's data directory lock prevents that in practice.
//
// Permissions. The socket file is created with mode 0600 regardless of
// umask, without ever having a wider mode: the socket's inode is fchmod'ed
// to 0600 before bind(2), and Linux creates the file with that mode masked
// by the umask, so it can only be narrower. If the umask removed owner bits
// (e.g. umask 0277), the mode is then raised to exactly 0600 through an
// O_PATH descriptor that is verified to be the socket just created.
//
// Backlog. listen(2) is called with the kernel maximum (the value of
// net.core.somaxconn, which is what Go's net.Listen uses; syscall.SOMAXCONN
// when it cannot be read), instead of Core's 5. See WithBacklog.
//
// Peers. Accept hands out only connections from peers that pass the peer
// check, by default SameUID; see WithPeerCheck and AllowAnyUID.
//
// Errors are *AddressError (bad address, path too long) or *ListenError.
func Listen(datadir, exeName, address string, opts ...ListenOption) (*Listener, error) {
	addr, err := ParseAddress(datadir, exeName, address)
	if err != nil {
		return nil, err
	}
	return ListenAt(addr, opts...)
}

// ListenAt is Listen for an already resolved address. A relative path is
// made absolute first.
func ListenAt(addr Address, opts ...ListenOption) (*Listener, error) {
	cfg := listenConfig{logger: slog.Default(), check: SameUID, probeTimeout: time.Second}
	for _, o := range opts {
		if o != nil {
			o.applyListen(&cfg)
		}
	}
	if cfg.backlog <= 0 {
		cfg.backlog = maxBacklog()
	}
	if addr.Path == "" {
		return nil, badAddress(addr.String(), "empty unix socket path")
	}
	if len(addr.Path) >= MaxPathLen {
		return nil, pathTooLong(addr.String(), addr.Path)
	}
	path, err := filepath.Abs(addr.Path) // also cleans
	if err != nil {
		return nil, badAddress(addr.String(), fmt.Sprintf("cannot make socket path %q absolute: %v", addr.Path, err))
	}
	if len(path) >= MaxPathLen {
		return nil, pathTooLong(addr.String(), path)
	}
	addr = Address{Path: path}
	log := cfg.logger

	dir := filepath.Dir(path)
	if err := makePrivateDirs(dir, log); err != nil {
		return nil, &ListenError{Addr: addr, Reason: "cannot create socket directory: " + err.Error(), Err: err}
	}
	checkDirPerms(dir, log)

	if err := clearPath(addr, &cfg); err != nil {
		return nil, err
	}

	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &ListenError{Addr: addr, Reason: "socket: " + err.Error(), Err: os.NewSyscallError("socket", err)}
	}
	closeFD := true
	defer func() {
		if closeFD {
			unix.Close(fd)
		}
	}()
	// The mode of the socket inode (masked by the umask) becomes the mode of
	// the file bind creates. Setting it first means the file never exists
	// with a mode wider than 0600.
	if err := unix.Fchmod(fd, socketMode); err != nil {
		return nil, &ListenError{Addr: addr, Reason: "fchmod socket: " + err.Error(), Err: os.NewSyscallError("fchmod", err)}
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return nil, &ListenError{Addr: addr,
				Reason: "another process created this path while it was being bound; refusing to replace it",
				Err:    ErrAddressInUse, Sys: os.NewSyscallError("bind", err)}
		}
		return nil, &ListenError{Addr: addr, Reason: "bind: " + err.Error(), Err: os.NewSyscallError("bind", err)}
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return nil, &ListenError{Addr: addr, Reason: "stat after bind: " + err.Error(), Err: os.NewSyscallError("lstat", err)}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, &ListenError{Addr: addr, Reason: "path was replaced by a non-socket right after bind", Err: ErrAddressInUse}
	}
	dev, ino := uint64(st.Dev), uint64(st.Ino)
	removeOurs := func() { removeIfSame(path, dev, ino) }
	if st.Mode&0o7777 != socketMode {
		if err := fixSocketMode(path, dev, ino); err != nil {
			removeOurs()
			return nil, &ListenError{Addr: addr, Reason: "cannot set socket mode 0600: " + err.Error(), Err: err}
		}
	}
	if err := unix.Listen(fd, cfg.backlog); err != nil {
		removeOurs()
		return nil, &ListenError{Addr: addr, Reason: "listen: " + err.Error(), Err: os.NewSyscallError("listen", err)}
	}
	f := os.NewFile(uintptr(fd), "ipc-listener")
	closeFD = false
	nl, err := net.FileListener(f) // dups the descriptor (close-on-exec)
	f.Close()
	if err != nil {
		removeOurs()
		return nil, &ListenError{Addr: addr, Reason: err.Error(), Err: err}
	}
	ul, ok := nl.(*net.UnixListener)
	if !ok { // cannot happen for an AF_UNIX socket
		nl.Close()
		removeOurs()
		return nil, &ListenError{Addr: addr, Reason: "unexpected listener type", Err: errors.New("unexpected listener type")}
	}
	log.Info("Listening for IPC requests", "address", addr.String(), "backlog", cfg.backlog)
	return &Listener{ln: ul, addr: addr, dev: dev, ino: ino, check: cfg.check, logger: log}, nil
}

// Addr returns the address the listener is bound to.
func (l *Listener) Addr() Address { return l.addr }

// Accept waits for the next connection whose peer passes the peer check.
// Connections that fail the check (or whose credentials cannot be read) are
// closed, logged at Warn with the peer's pid and uid, and skipped. Accepted
// connections are logged at Debug. After Close, Accept returns an error
// satisfying errors.Is(err, net.ErrClosed).
func (l *Listener) Accept() (*net.UnixConn, error) {
	for {
		c, err := l.ln.AcceptUnix()
		if err != nil {
			return nil, err
		}
		cred, err := PeerCred(c)
		if err != nil {
			l.logger.Warn("rejected IPC connection: cannot read peer credentials",
				"address", l.addr.String(), "error", err)
			c.Close()
			continue
		}
		if l.check != nil {
			if err := l.check(cred); err != nil {
				l.logger.Warn("rejected IPC connection",
					"address", l.addr.String(), "pid", cred.Pid, "uid", cred.Uid, "gid", cred.Gid, "error", err)
				c.Close()
				continue
			}
		}
		l.logger.Debug("accepted IPC connection",
			"address", l.addr.String(), "pid", cred.Pid, "uid", cred.Uid, "gid", cred.Gid)
		return c, nil
	}
}

// Close stops listening and removes the socket file, provided it is still
// the file this listener created (same device and inode); a file that has
// been replaced in the meantime is left alone. Connections already accepted
// are not affected. Close is idempotent.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		// Unlink first so that clients see ENOENT ("not running") rather
		// than ECONNREFUSED on a dead socket.
		var errs []error
		if err := removeIfSame(l.addr.Path, l.dev, l.ino); err != nil {
			errs = append(errs, err)
		}
		if err := l.ln.Close(); err != nil {
			errs = append(errs, err)
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// removeIfSame unlinks path if it is a socket with the given device and
// inode. A missing or different file is not an error.
func removeIfSame(path string, dev, ino uint64) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || uint64(st.Dev) != dev || uint64(st.Ino) != ino {
		return nil
	}
	if err := unix.Unlink(path); err != nil && !errors.Is(err, unix.ENOENT) {
		return &fs.PathError{Op: "unlink", Path: path, Err: err}
	}
	return nil
}

// clearPath makes sure nothing but a stale socket was at the path, removing
// a stale socket. It returns a *ListenError when Listen must refuse.
func clearPath(addr Address, cfg *listenConfig) error {
	path := addr.Path
	for range 3 {
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return &ListenError{Addr: addr, Reason: "cannot inspect existing path: " + err.Error(),
				Err: os.NewSyscallError("lstat", err)}
		}
		inUse := func(what string, sys error) error {
			return &ListenError{Addr: addr, Reason: what, Err: ErrAddressInUse, Sys: sys}
		}
		eaddrinuse := os.NewSyscallError("bind", syscall.EADDRINUSE)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFSOCK:
			// Probe below.
		case unix.S_IFREG:
			return inUse(fmt.Sprintf("a regular file (%d bytes) already exists at this path; refusing to remove it", st.Size), eaddrinuse)
		case unix.S_IFLNK:
			target, _ := os.Readlink(path)
			return inUse(fmt.Sprintf("a symbolic link (-> %q) already exists at this path; refusing to follow or remove it", target), eaddrinuse)
		case unix.S_IFDIR:
			return inUse("a directory already exists at this path; refusing to remove it", eaddrinuse)
		default:
			return inUse(fmt.Sprintf("a %s already exists at this path; refusing to remove it",
				fileTypeName(st.Mode)), eaddrinuse)
		}

		d := net.Dialer{Timeout: cfg.probeTimeout}
		c, err := d.Dial("unix", path)
		switch {
		case err == nil:
			c.Close()
			return inUse("a live process is listening on this socket; refusing to remove it (is another node already running with this address?)", eaddrinuse)
		case errors.Is(err, syscall.EAGAIN):
			return inUse("a live process is listening on this socket (its accept queue is full); refusing to remove it", eaddrinuse)
		case errors.Is(err, syscall.ENOENT):
			continue // vanished meanwhile: look again
		case errors.Is(err, syscall.ECONNREFUSED):
			// Stale. Remove it only if it is still the file we probed.
			if err := removeIfSame(path, uint64(st.Dev), uint64(st.Ino)); err != nil {
				return &ListenError{Addr: addr, Reason: "cannot remove stale socket: " + err.Error(), Err: err}
			}
			cfg.logger.Info("removed stale IPC socket", "address", addr.String())
			continue // verify the path is now free
		default:
			return inUse(fmt.Sprintf("a socket file already exists at this path and probing it failed (%s); refusing to remove it",
				reason(err)), err)
		}
	}
	return &ListenError{Addr: addr, Reason: "the path keeps changing while it is being cleared; giving up",
		Err: ErrAddressInUse, Sys: os.NewSyscallError("bind", syscall.EADDRINUSE)}
}

func fileTypeName(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "named pipe"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return "non-socket file (mode " + strconv.FormatUint(uint64(mode), 8) + ")"
}

// fixSocketMode sets the socket file at path to exactly 0600, after checking
// through an O_PATH descriptor that it is the socket we bound, so the chmod
// cannot be redirected by a replaced file or symlink.
func fixSocketMode(path string, dev, ino uint64) error {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || uint64(st.Dev) != dev || uint64(st.Ino) != ino {
		return fmt.Errorf("%s was replaced after bind", path)
	}
	err = unix.Fchmodat(fd, "", socketMode, unix.AT_EMPTY_PATH) // fchmodat2, Linux 6.6+
	if err != nil {
		// Older kernels: chmod through the descriptor's /proc magic link,
		// which refers to the very inode we verified.
		err = unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), socketMode)
	}
	if err != nil {
		return &fs.PathError{Op: "chmod", Path: path, Err: err}
	}
	return nil
}

// makePrivateDirs creates dir and any missing parents with mode exactly
// 0700. Directories that already exist are not modified.
func makePrivateDirs(dir string, log *slog.Logger) error {
	var missing []string
	for d := dir; ; {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: d, Err: syscall.ENOTDIR}
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		if err := unix.Mkdir(d, dirMode); err != nil {
			if errors.Is(err, unix.EEXIST) { // created concurrently: not ours
				if fi, serr := os.Stat(d); serr == nil && fi.IsDir() {
					continue
				}
			}
			return &fs.PathError{Op: "mkdir", Path: d, Err: err}
		}
		// The umask may have removed owner bits; set exactly 0700 on the
		// directory we just created (opened without following symlinks).
		fd, err := unix.Open(d, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == nil {
			err = unix.Fchmod(fd, dirMode)
			unix.Close(fd)
		}
		if err != nil {
			return &fs.PathError{Op: "chmod", Path: d, Err: err}
		}
		log.Debug("created IPC socket directory", "dir", d, "mode", "0700")
	}
	return nil
}

// checkDirPerms logs a warning when the socket directory is open to other
// users. The socket itself is 0600, so others cannot connect, but in a
// world-writable directory they could delete or replace it.
func checkDirPerms(dir string, log *slog.Logger) {
	fi, err := os.Stat(dir)
	if err != nil {
		return
	}
	perm := fi.Mode().Perm()
	mode := "0" + strconv.FormatUint(uint64(perm), 8)
	switch {
	case perm&0o002 != 0:
		msg := "IPC socket directory is world-writable: other users could delete or replace the socket"
		if fi.Mode()&fs.ModeSticky != 0 {
			msg = "IPC socket directory is world-writable (sticky): other users could create files in it before the socket exists"
		}
		log.Warn(msg, "dir", dir, "mode", mode)
	case perm&0o005 != 0:
		log.Warn("IPC socket directory is accessible to other users; the socket is 0600 but consider a 0700 directory",
			"dir", dir, "mode", mode)
	}
}

// maxBacklog returns the kernel's maximum listen backlog, as Go's
// net.Listen computes it.
func maxBacklog() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return syscall.SOMAXCONN
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return syscall.SOMAXCONN
	}
	// Before Linux 4.1 the backlog was stored in a uint16.
	return min(n, 1<<16-1)
}
