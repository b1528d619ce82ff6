//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
)

func mustListen(t *testing.T, path string, opts ...ListenOption) *Listener {
	t.Helper()
	l, err := ListenAt(Address{Path: path}, append([]ListenOption{WithLogger(discard)}, opts...)...)
	if err != nil {
		t.Fatalf("ListenAt(%s): %v", path, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func dial(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	c, err := Connect(context.Background(), Address{Path: path}, WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestListenAcceptRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l, err := Listen(dir, "bitcoin-node", "unix", WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if want := filepath.Join(dir, "node.sock"); l.Addr().Path != want {
		t.Fatalf("Addr() = %v, want %s", l.Addr(), want)
	}
	c := dial(t, l.Addr().Path)
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	cred, err := PeerCred(s)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Pid != int32(os.Getpid()) || cred.Uid != uint32(os.Geteuid()) || cred.Gid != uint32(os.Getegid()) {
		t.Fatalf("PeerCred = %+v, want our pid %d uid %d", cred, os.Getpid(), os.Geteuid())
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if _, err := PeerCred(nil); err == nil {
		t.Fatal("PeerCred(nil) succeeded")
	}
}

func TestListenRefusesLiveSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.sock")
	l1 := mustListen(t, path)
	accepted := make(chan struct{})
	go func() { // drain the probe connection
		if c, err := l1.Accept(); err == nil {
			c.Close()
		}
		close(accepted)
	}()
	var before syscall.Stat_t
	syscall.Lstat(path, &before)

	_, err := ListenAt(Address{Path: path}, WithLogger(discard))
	if !errors.Is(err, ErrAddressInUse) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second Listen: %v, want ErrAddressInUse", err)
	}
	var le *ListenError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "live process") {
		t.Fatalf("error text %q should name the path and the live listener", err)
	}
	var after syscall.Stat_t
	if err := syscall.Lstat(path, &after); err != nil || after.Ino != before.Ino {
		t.Fatalf("live socket file was touched: %v", err)
	}
	<-accepted
	// The first listener still works.
	dial(t, path)
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.sock")
	staleSocket(t, path)
	log, buf := testutil.Logger(slog.LevelDebug)
	l, err := ListenAt(Address{Path: path}, WithLogger(log))
	if err != nil {
		t.Fatalf("Listen over stale socket: %v", err)
	}
	defer l.Close()
	if !strings.Contains(buf.String(), "removed stale IPC socket") {
		t.Fatalf("no log record about the stale socket: %s", buf)
	}
	dial(t, path)
	if c, err := l.Accept(); err != nil {
		t.Fatal(err)
	} else {
		c.Close()
	}
}

func TestListenRefusesRegularFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.sock")
	if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ListenAt(Address{Path: path}, WithLogger(discard))
	if !errors.Is(err, ErrAddressInUse) || !strings.Contains(err.Error(), "regular file") {
		t.Fatalf("Listen over regular file: %v", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "precious" {
		t.Fatalf("regular file was modified: %q, %v", b, err)
	}
}

func TestListenRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.sock")
	target := filepath.Join(dir, "elsewhere.sock")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	_, err := ListenAt(Address{Path: path}, WithLogger(discard))
	if !errors.Is(err, ErrAddressInUse) || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("Listen over symlink: %v", err)
	}
	if got, err := os.Readlink(path); err != nil || got != target {
		t.Fatalf("symlink was modified: %q, %v", got, err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("symlink target was created: %v", err)
	}
}

func TestListenPathTooLong(t *testing.T) {
	dir := t.TempDir()
	_, err := Listen(dir, "bitcoin-node", "unix:"+strings.Repeat("x", MaxPathLen), WithLogger(discard))
	if !errors.Is(err, ErrPathTooLong) || !strings.Contains(err.Error(), "exceeded maximum socket path length") {
		t.Fatalf("Listen with long path: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("Listen created %v", entries)
	}
}

func TestListenBadAddress(t *testing.T) {
	_, err := Listen(t.TempDir(), "bitcoin-node", "tcp:8332", WithLogger(discard))
	if !errors.Is(err, ErrBadAddress) || err.Error() != "Unrecognized address 'tcp:8332'" {
		t.Fatalf("Listen with bad address: %v", err)
	}
}

// TestListenSocketMode checks the socket is 0600 and created directories
// are 0700 whatever the umask. It changes the process umask, so it must not
// run in parallel with other tests.
func TestListenSocketMode(t *testing.T) {
	for _, umask := range []int{0o000, 0o022, 0o077, 0o277} {
		t.Run(fmt.Sprintf("umask%04o", umask), func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "a", "b")
			path := filepath.Join(dir, "node.sock")
			old := syscall.Umask(umask)
			l, err := ListenAt(Address{Path: path}, WithLogger(discard))
			syscall.Umask(old)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
				t.Fatalf("socket mode %v, want Srw-------", fi.Mode())
			}
			for _, d := range []string{filepath.Join(base, "a"), dir} {
				fi, err := os.Stat(d)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o700 {
					t.Fatalf("created directory %s has mode %v, want 0700", d, fi.Mode().Perm())
				}
			}
			dial(t, path)
		})
	}
}

func TestListenWarnsOpenDirectory(t *testing.T) {
	for _, tc := range []struct {
		mode os.FileMode
		want string
	}{
		{0o777, "world-writable"},
		{0o755, "accessible to other users"},
	} {
		dir := filepath.Join(t.TempDir(), "shared")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, tc.mode); err != nil {
			t.Fatal(err)
		}
		log, buf := testutil.Logger(slog.LevelDebug)
		l, err := Listen(dir, "bitcoin-node", "unix", WithLogger(log))
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		if out := buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, tc.want) {
			t.Fatalf("mode %v: no warning containing %q in log:\n%s", tc.mode, tc.want, out)
		}
		if fi, _ := os.Stat(dir); fi.Mode().Perm() != tc.mode {
			t.Fatalf("existing directory mode changed to %v", fi.Mode().Perm())
		}
	}
}

func TestListenerCloseRemovesSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.sock")
	l, err := ListenAt(Address{Path: path}, WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	acceptErr := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		acceptErr <- err
	}()
	// Whether Accept is already waiting or not, Close makes it return
	// net.ErrClosed.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file still exists after Close: %v", err)
	}
	select {
	case err := <-acceptErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(testWait):
		t.Fatal("Accept did not return after Close")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestListenerCloseKeepsReplacedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.sock")
	l, err := ListenAt(Address{Path: path}, WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	// Someone else replaces the socket file.
	os.Remove(path)
	if err := os.WriteFile(path, []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "other" {
		t.Fatalf("Close removed a file it did not create: %q, %v", b, err)
	}
}

func TestListenerPeerCheckRejectsAndContinues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.sock")
	var n atomic.Int32
	log, buf := testutil.Logger(slog.LevelDebug)
	l := mustListen(t, path, WithLogger(log), WithPeerCheck(func(c Ucred) error {
		if n.Add(1) == 1 {
			return fmt.Errorf("%w: first one is unlucky", ErrPeerRejected)
		}
		return nil
	}))
	first := dial(t, path)
	second := dial(t, path)

	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The rejected connection was closed by the server.
	first.SetReadDeadline(time.Now().Add(testWait))
	if _, err := first.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("rejected client read: %v, want EOF", err)
	}
	// The accepted one is the second connection.
	if _, err := second.Write([]byte{7}); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	s.SetReadDeadline(time.Now().Add(testWait))
	if _, err := io.ReadFull(s, b); err != nil || b[0] != 7 {
		t.Fatalf("accepted connection is not the second client: %v", err)
	}
	out := buf.String()
	if !strings.Contains(out, "rejected IPC connection") || !strings.Contains(out, fmt.Sprintf("pid=%d", os.Getpid())) ||
		!strings.Contains(out, "first one is unlucky") {
		t.Fatalf("rejection not logged with pid and reason:\n%s", out)
	}
	if !strings.Contains(out, "level=DEBUG msg=\"accepted IPC connection\"") {
		t.Fatalf("accepted connection not logged at Debug:\n%s", out)
	}
}

func TestSameUID(t *testing.T) {
	me := uint32(os.Geteuid())
	if err := SameUID(Ucred{Pid: 1, Uid: me}); err != nil {
		t.Fatal(err)
	}
	if err := SameUID(Ucred{Pid: 1, Uid: me + 1}); !errors.Is(err, ErrPeerRejected) {
		t.Fatalf("SameUID(other) = %v", err)
	}
}

// TestListenerRejectsOtherUID runs a child as uid 65534 that connects to the
// listener and asserts the default peer check closes it and Accept moves on.
func TestListenerRejectsOtherUID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: running a peer under a different uid (65534) requires CAP_SETUID; this is an environment limitation")
	}
	// The child must be able to execute the binary and reach the socket, so
	// use a world-accessible directory (t.TempDir's parent is 0700).
	dir, err := os.MkdirTemp("", "process-uid-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "process.test")
	if err := copyFile(testExe(t), exe, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "node.sock")
	log, buf := testutil.Logger(slog.LevelDebug)
	l := mustListen(t, path, WithLogger(log))
	// Let the other uid connect at all, so the peer check is what stops it.
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	type result struct {
		c   *net.UnixConn
		err error
	}
	accepted := make(chan result, 4)
	go func() {
		for {
			c, err := l.Accept()
			accepted <- result{c, err}
			if err != nil {
				return
			}
		}
	}()

	cmd := exec.Command(exe)
	cmd.Env = childEnv("connect", envSock+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("cannot switch to uid 65534 here: %v", err)
		}
		t.Fatalf("uid 65534 child (%v) was not closed by the listener: %s", err, out)
	}
	if !strings.Contains(buf.String(), "uid=65534") || !strings.Contains(buf.String(), "rejected IPC connection") {
		t.Fatalf("rejection of uid 65534 not logged:\n%s", buf)
	}

	// A same-uid client is still served by the same Accept loop, and its
	// connection is the first Accept returns: the earlier one of uid 65534
	// was not handed out.
	dial(t, path)
	select {
	case r := <-accepted:
		if r.err != nil {
			t.Fatal(r.err)
		}
		defer r.c.Close()
		if cred, err := PeerCred(r.c); err != nil || cred.Uid != 0 {
			t.Fatalf("first accepted peer %+v, %v; want uid 0 (uid 65534 must not be handed out)", cred, err)
		}
	case <-time.After(testWait):
		t.Fatal("Accept did not return the same-uid connection")
	}

	// With AllowAnyUID the other uid is handed out.
	path2 := filepath.Join(dir, "any.sock")
	l2 := mustListen(t, path2, AllowAnyUID())
	os.Chmod(path2, 0o666)
	go func() {
		if c, err := l2.Accept(); err == nil {
			if cred, _ := PeerCred(c); cred.Uid == 65534 {
				c.Write([]byte{1}) // child exits 4 on data
			}
			c.Close()
		}
	}()
	cmd = exec.Command(exe)
	cmd.Env = childEnv("connect", envSock+"="+path2)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 {
		t.Fatalf("AllowAnyUID: child status %v, want exit 4 (served)", err)
	}
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// WithBacklog sets the listen(2) backlog (the listener logs it); the
// listener works as usual.
func TestListenWithBacklog(t *testing.T) {
	log, logs := testutil.Logger(slog.LevelDebug)
	l, err := Listen(t.TempDir(), "bitcoin-node", "unix", WithLogger(log), WithBacklog(3))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if out := logs.String(); !strings.Contains(out, "backlog=3") {
		t.Fatalf("backlog not 3:\n%s", out)
	}
	c := dial(t, l.Addr().Path)
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
