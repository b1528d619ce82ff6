//go:build linux

package process

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
)

func TestSpawnEchoRoundTrip(t *testing.T) {
	log, logs := testutil.Logger(slog.LevelDebug)
	c := spawnChild(t, "echo", WithLogger(log))
	if c.Pid <= 0 {
		t.Fatalf("Pid = %d", c.Pid)
	}
	msg := []byte("hello, node")
	if _, err := c.Conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	c.Conn.SetReadDeadline(time.Now().Add(testWait))
	if _, err := io.ReadFull(c.Conn, buf); err != nil || string(buf) != string(msg) {
		t.Fatalf("echo = %q, %v", buf, err)
	}
	// Closing the parent's end makes the child exit cleanly.
	c.Conn.Close()
	st := waitChild(t, c, testWait)
	if !st.Success() || st.Code != 0 || st.Signal != 0 || st.String() != "exit status 0" {
		t.Fatalf("status = %+v (%v), want exit 0", st, st)
	}
	// Wait is repeatable.
	if st2, err := c.Wait(); err != nil || st2 != st {
		t.Fatalf("second Wait = %v, %v", st2, err)
	}
	if out := logs.String(); !strings.Contains(out, "Process launched") ||
		!strings.Contains(out, "pid="+strconv.Itoa(c.Pid)) || !strings.Contains(out, "Process exited") {
		t.Fatalf("launch/exit not logged:\n%s", out)
	}
}

func TestSpawnArgvIsExact(t *testing.T) {
	c := spawnChild(t, "argv")
	c.Conn.SetReadDeadline(time.Now().Add(testWait))
	b, err := io.ReadAll(c.Conn)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(string(b), "\x00")
	want := []string{testExe(t), "-ipcfd", "3"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("child argv = %q, want %q", got, want)
	}
	if st := waitChild(t, c, testWait); !st.Success() {
		t.Fatalf("status %v", st)
	}
}

// With WithArgv(ArgvFD) on both sides the child gets the bare descriptor
// number, as libmultiprocess's example programs take it, and a child that
// expects that shape serves the connection.
func TestSpawnArgvBareFD(t *testing.T) {
	c := spawnChild(t, "argv", WithArgv(ArgvFD), WithEnv(childEnv("argv", envArgv+"=fd")))
	c.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c.Conn)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(string(b), "\x00")
	want := []string{testExe(t), "3"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("child argv = %q, want %q", got, want)
	}
	if st := waitChild(t, c, 10*time.Second); !st.Success() {
		t.Fatalf("status %v", st)
	}

	// A child that expects Core's shape does not take the bare shape as
	// spawned (it exits 91), so both sides must be told.
	c = spawnChild(t, "argv", WithArgv(ArgvFD))
	if st := waitChild(t, c, 10*time.Second); st.Code != 91 {
		t.Fatalf("Core-shaped child given [exe, N]: %v, want exit status 91", st)
	}
}

func TestSpawnUnknownArgv(t *testing.T) {
	_, err := Spawn(context.Background(), testExe(t), WithArgv(Argv(7)), WithLogger(discard))
	var se *SpawnError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "unknown argv shape 7") {
		t.Fatalf("Spawn with Argv(7) = %v", err)
	}
	if _, ok, err := CheckSpawned([]string{"x", "3"}, WithArgv(Argv(7))); ok || !errors.Is(err, ErrInvalidIPCFD) {
		t.Fatalf("CheckSpawned with Argv(7) = %v, %v", ok, err)
	}
}

func TestSpawnExitCode(t *testing.T) {
	c := spawnChild(t, "exit", WithEnv(childEnv("exit", envExitCode+"=3")))
	st := waitChild(t, c, testWait)
	if st.Code != 3 || st.Signal != 0 || st.Success() || st.String() != "exit status 3" {
		t.Fatalf("status = %+v (%v), want exit status 3", st, st)
	}
	c.Conn.SetReadDeadline(time.Now().Add(testWait))
	if _, err := c.Conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after child exit: %v, want EOF", err)
	}
}

// A child that exits before anything else happens must be observable:
// the parent's connection reads EOF (the parent closed its copy of the
// child's end) and Done is closed.
func TestSpawnEarlyExitGivesEOF(t *testing.T) {
	c := spawnChild(t, "exit", WithEnv(childEnv("exit", envExitCode+"=0")))
	c.Conn.SetReadDeadline(time.Now().Add(testWait))
	if _, err := c.Conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read from exited child: %v, want EOF", err)
	}
	select {
	case <-c.Done():
	case <-time.After(testWait):
		t.Fatal("Done not closed after the child exited")
	}
	if st, _ := c.Wait(); !st.Success() {
		t.Fatalf("status %v", st)
	}
}

// A read on the parent's end ends with EOF when the child is killed. The
// child (mode "sleep") never writes, so only its death can end the read,
// whether the read started before the kill or after it.
func TestSpawnKilledMidRead(t *testing.T) {
	c := spawnChild(t, "sleep")
	readErr := make(chan error, 1)
	go func() {
		_, err := c.Conn.Read(make([]byte, 1))
		readErr <- err
	}()
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readErr:
		if err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read after kill: %v, want EOF", err)
		}
	case <-time.After(testWait):
		t.Fatal("parent read did not return after SIGKILL")
	}
	st := waitChild(t, c, testWait)
	if st.Signal != syscall.SIGKILL || st.Code != -1 || !strings.Contains(st.String(), "signal 9") {
		t.Fatalf("status = %+v (%v), want killed by SIGKILL", st, st)
	}
	if err := c.Kill(); !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("Kill after exit = %v, want os.ErrProcessDone", err)
	}
}

func TestSpawnMissingExe(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "bitcoin-node")
	_, err := Spawn(context.Background(), exe, WithLogger(discard))
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("Spawn(missing) = %v, want ENOENT", err)
	}
	var se *SpawnError
	if !errors.As(err, &se) || se.Exe != exe || err.Error() != "spawn "+exe+": no such file or directory" {
		t.Fatalf("error = %q", err)
	}
}

func TestSpawnNotExecutable(t *testing.T) {
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	os.WriteFile(noexec, []byte("#!/bin/sh\nexit 0\n"), 0o644)
	_, err := Spawn(context.Background(), noexec, WithLogger(discard))
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Spawn(mode 0644) = %v, want permission denied", err)
	}
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte{0, 1, 2, 3, 4, 5, 6, 7}, 0o755)
	_, err = Spawn(context.Background(), garbage, WithLogger(discard))
	if !errors.Is(err, syscall.ENOEXEC) {
		t.Fatalf("Spawn(garbage) = %v, want exec format error", err)
	}
	_, err = Spawn(context.Background(), "definitely-not-a-command-x9", WithLogger(discard))
	if !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("Spawn(bare missing name) = %v, want exec.ErrNotFound", err)
	}
	if _, err := Spawn(context.Background(), "", WithLogger(discard)); err == nil {
		t.Fatal("Spawn(\"\") succeeded")
	}
}

func TestSpawnCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Spawn(ctx, testExe(t), WithLogger(discard))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Spawn with canceled ctx = %v", err)
	}
}

// The spawned child ignores SIGINT (the parent controls shutdown) and logs it.
func TestSpawnChildIgnoresSIGINT(t *testing.T) {
	stderr := &testutil.Buffer{}
	c := spawnChild(t, "echo", WithStderr(stderr))
	roundTrip := func() {
		t.Helper()
		c.Conn.SetDeadline(time.Now().Add(testWait))
		if _, err := c.Conn.Write([]byte{42}); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(c.Conn, b); err != nil || b[0] != 42 {
			t.Fatalf("echo: %v", err)
		}
	}
	roundTrip() // the handler is installed before the child serves
	if err := c.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if !eventually(testWait, func() bool {
		return strings.Contains(stderr.String(), "SIGINT received — waiting for parent to shut down")
	}) {
		t.Fatalf("child did not log SIGINT; stderr:\n%s", stderr)
	}
	roundTrip() // still alive and serving
	st, err := c.Stop(ctxTimeout(t, testWait))
	if err != nil || !st.Success() {
		t.Fatalf("Stop = %v, %v; want exit 0", st, err)
	}
}

func TestStopKillsUnresponsiveChild(t *testing.T) {
	c := spawnChild(t, "sleep") // ignores its connection for a minute
	st, err := c.Stop(ctxTimeout(t, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if st.Signal != syscall.SIGKILL {
		t.Fatalf("status %v, want SIGKILL", st)
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestCheckSpawned(t *testing.T) {
	tests := []struct {
		args    []string
		fd      int
		ok      bool
		wantErr string
	}{
		{[]string{"bitcoin-node", "-ipcfd", "3"}, 3, true, ""},
		{[]string{"/x/bitcoin-node", "-ipcfd", "0"}, 0, true, ""},
		{[]string{"bitcoin-node", "-ipcfd", "2147483647"}, 2147483647, true, ""},
		{nil, 0, false, ""},
		{[]string{"bitcoin-node"}, 0, false, ""},
		{[]string{"bitcoin-node", "-ipcfd"}, 0, false, ""},
		{[]string{"bitcoin-node", "-ipcfd=3"}, 0, false, ""},
		{[]string{"bitcoin-node", "--ipcfd", "3"}, 0, false, ""},
		{[]string{"bitcoin-node", "-ipcfd", "3", "-debug"}, 0, false, ""},
		{[]string{"bitcoin-node", "-debug", "-ipcfd", "3"}, 0, false, ""},
		{[]string{"bitcoin-node", "-regtest", "3"}, 0, false, ""},
		{[]string{"bitcoin-node", "-ipcfd", "x"}, 0, false, "Invalid -ipcfd number 'x' (not a decimal integer)"},
		{[]string{"bitcoin-node", "-ipcfd", "-1"}, 0, false, "Invalid -ipcfd number '-1' (negative)"},
		{[]string{"bitcoin-node", "-ipcfd", ""}, 0, false, "Invalid -ipcfd number '' (not a number)"},
		{[]string{"bitcoin-node", "-ipcfd", "+3"}, 0, false, "Invalid -ipcfd number '+3' (not a decimal integer)"},
		{[]string{"bitcoin-node", "-ipcfd", " 3"}, 0, false, "Invalid -ipcfd number ' 3' (not a decimal integer)"},
		{[]string{"bitcoin-node", "-ipcfd", "3.0"}, 0, false, "Invalid -ipcfd number '3.0' (not a decimal integer)"},
		{[]string{"bitcoin-node", "-ipcfd", "99999999999"}, 0, false, "Invalid -ipcfd number '99999999999' (out of range)"},
	}
	for _, tc := range tests {
		fd, ok, err := CheckSpawned(tc.args, WithArgv(ArgvIPCFD))
		if fd2, ok2, err2 := CheckSpawned(tc.args); fd2 != fd || ok2 != ok || (err == nil) != (err2 == nil) {
			t.Errorf("CheckSpawned(%q) without options differs from ArgvIPCFD", tc.args)
		}
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrInvalidIPCFD) {
				t.Errorf("CheckSpawned(%q) error = %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || fd != tc.fd || ok != tc.ok {
			t.Errorf("CheckSpawned(%q) = %d, %v, %v; want %d, %v", tc.args, fd, ok, err, tc.fd, tc.ok)
		}
	}
}

func TestCheckSpawnedBareFD(t *testing.T) {
	tests := []struct {
		args    []string
		fd      int
		ok      bool
		wantErr string
	}{
		{[]string{"mpcalculator", "3"}, 3, true, ""},
		{[]string{"/x/mpprinter", "0"}, 0, true, ""},
		{nil, 0, false, ""},
		{[]string{"mpcalculator"}, 0, false, ""},
		{[]string{"mpcalculator", "-ipcfd", "3"}, 0, false, ""},
		{[]string{"mpcalculator", "3", "4"}, 0, false, ""},
		{[]string{"mpcalculator", "-ipcfd"}, 0, false, "Invalid fd number '-ipcfd' (not a decimal integer)"},
		{[]string{"mpcalculator", "x"}, 0, false, "Invalid fd number 'x' (not a decimal integer)"},
		{[]string{"mpcalculator", "-1"}, 0, false, "Invalid fd number '-1' (negative)"},
		{[]string{"mpcalculator", ""}, 0, false, "Invalid fd number '' (not a number)"},
		{[]string{"mpcalculator", "99999999999"}, 0, false, "Invalid fd number '99999999999' (out of range)"},
	}
	for _, tc := range tests {
		fd, ok, err := CheckSpawned(tc.args, WithArgv(ArgvFD))
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrInvalidIPCFD) {
				t.Errorf("CheckSpawned(%q, ArgvFD) error = %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || fd != tc.fd || ok != tc.ok {
			t.Errorf("CheckSpawned(%q, ArgvFD) = %d, %v, %v; want %d, %v", tc.args, fd, ok, err, tc.fd, tc.ok)
		}
	}
}

func TestSpawnedConnRejectsBadFD(t *testing.T) {
	if _, err := SpawnedConn(-1); !errors.Is(err, ErrInvalidIPCFD) {
		t.Fatalf("SpawnedConn(-1) = %v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := SpawnedConn(int(r.Fd())); !errors.Is(err, ErrNotSocket) {
		t.Fatalf("SpawnedConn(pipe) = %v, want ErrNotSocket", err)
	}
	// A closed descriptor.
	fd, _ := syscall.Dup(int(w.Fd()))
	syscall.Close(fd)
	if _, err := SpawnedConn(fd); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("SpawnedConn(closed) = %v, want EBADF", err)
	}
	// A UDP-like (datagram) unix socket is refused too.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	if _, err := SpawnedConn(fds[0]); !errors.Is(err, ErrNotSocket) {
		t.Fatalf("SpawnedConn(dgram) = %v, want ErrNotSocket", err)
	}
}

func TestSpawnedConnTakesOwnership(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[1])
	c, err := SpawnedConn(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := syscall.Write(fds[1], []byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	c.SetReadDeadline(time.Now().Add(testWait))
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'x' {
		t.Fatalf("read %q, %v", b, err)
	}
	// No other copy of the inherited descriptor survives: closing the
	// connection delivers EOF to the other end.
	c.Close()
	syscall.SetNonblock(fds[1], false)
	tv := syscall.Timeval{Sec: 5}
	syscall.SetsockoptTimeval(fds[1], syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	if n, err := syscall.Read(fds[1], b); n != 0 || err != nil {
		t.Fatalf("other end read %d, %v after Close; want EOF (inherited fd still open?)", n, err)
	}
}

func TestExePath(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ argv0, name, want string }{
		{"/opt/bitcoin/bin/bitcoin", "bitcoin-node", "/opt/bitcoin/bin/bitcoin-node"},
		{"./bin/bitcoin-gui", "bitcoin-node", filepath.Join(wd, "bin", "bitcoin-node")},
		// A program started as ./x finds its sibling in the working
		// directory, not on PATH.
		{"./mpexample", "mpprinter", filepath.Join(wd, "mpprinter")},
		{"../up/mpexample", "mpprinter", filepath.Join(filepath.Dir(wd), "up", "mpprinter")},
	} {
		if got := ExePath(tc.argv0, tc.name); got != tc.want {
			t.Errorf("ExePath(%q, %q) = %q, want %q", tc.argv0, tc.name, got, tc.want)
		}
	}

	// A bare argv0 is looked up on PATH, as the shell found it.
	dir := t.TempDir()
	parent := filepath.Join(dir, "parent-x9")
	if err := os.WriteFile(parent, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	if got, want := ExePath("parent-x9", "worker"), filepath.Join(dir, "worker"); got != want {
		t.Errorf("bare argv0 on PATH: %q, want %q", got, want)
	}
	// Not on PATH: the directory of the running executable.
	exe := testExe(t)
	if got, want := ExePath("no-such-binary-x9", "worker"), filepath.Join(filepath.Dir(exe), "worker"); got != want {
		t.Errorf("bare argv0 not on PATH: %q, want %q", got, want)
	}
}

// TestSpawnSiblingOfRelativeArgv0 is the whole path a program started as
// ./parent takes: ExePath then Spawn, from the program's directory, with
// the sibling not on PATH.
func TestSpawnSiblingOfRelativeArgv0(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(testExe(t), filepath.Join(dir, "sibling")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	t.Setenv("PATH", "")
	c, err := Spawn(context.Background(), ExePath("./parent", "sibling"), WithEnv(childEnv("argv")), WithLogger(discard))
	if err != nil {
		t.Fatalf("Spawn: %v", err)
	}
	t.Cleanup(func() {
		c.Kill()
		<-c.Done()
	})
	c.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c.Conn)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Split(string(b), "\x00")[0], filepath.Join(dir, "sibling"); got != want {
		t.Fatalf("child argv[0] = %q, want %q", got, want)
	}
	if st := waitChild(t, c, 10*time.Second); !st.Success() {
		t.Fatalf("status %v", st)
	}
}

func TestExitStatusString(t *testing.T) {
	for _, tc := range []struct {
		s    ExitStatus
		want string
	}{
		{ExitStatus{}, "exit status 0"},
		{ExitStatus{Code: 127}, "exit status 127"},
		{ExitStatus{Code: -1, Signal: syscall.SIGTERM}, "terminated by signal 15 (terminated)"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.s, got, tc.want)
		}
	}
}

// BenchmarkSpawnToFirstByte measures Spawn until the first byte has made a
// round trip through the child (process start, runtime init, StartSpawned,
// echo). Child shutdown is excluded from the timing.
func BenchmarkSpawnToFirstByte(b *testing.B) {
	exe := testExe(b)
	env := childEnv("echo")
	buf := make([]byte, 1)
	for i := 0; i < b.N; i++ {
		c, err := Spawn(context.Background(), exe, WithEnv(env), WithLogger(discard))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Conn.Write([]byte{1}); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c.Conn, buf); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if st, err := c.Stop(context.Background()); err != nil || !st.Success() {
			b.Fatalf("child: %v, %v", st, err)
		}
		b.StartTimer()
	}
}

// WithDir sets the child's working directory and WithStdout its standard
// output.
func TestSpawnDirAndStdout(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out testutil.Buffer
	c := spawnChild(t, "where", WithDir(dir), WithStdout(&out))
	c.Conn.SetReadDeadline(time.Now().Add(testWait))
	b, err := io.ReadAll(c.Conn)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != dir {
		t.Fatalf("child's working directory = %q, want %q", b, dir)
	}
	if st := waitChild(t, c, testWait); !st.Success() {
		t.Fatalf("status %v", st)
	}
	// The child has exited, so its stdout is closed; Wait returns once the
	// copy into out is complete.
	if got := out.String(); got != "child stdout\n" {
		t.Fatalf("child's stdout = %q, want %q", got, "child stdout\n")
	}
}
