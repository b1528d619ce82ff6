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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the spawned child. When envChild is set,
// TestMain runs the selected behaviour instead of the tests.
const (
	envChild    = "PROCESS_TEST_CHILD"     // behaviour: echo, argv, where, exit, sleep, connect
	envExitCode = "PROCESS_TEST_EXIT_CODE" // for "exit"
	envSock     = "PROCESS_TEST_SOCK"      // for "connect"
	envArgv     = "PROCESS_TEST_ARGV"      // "fd": the child expects ArgvFD
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envChild); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(m.Run())
}

func runChild(mode string) int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	switch mode {
	case "exit": // exit at once, before touching the connection
		code, _ := strconv.Atoi(os.Getenv(envExitCode))
		return code
	case "connect": // not spawned: connect to envSock, expect to be closed
		return childConnect(os.Getenv(envSock))
	}
	var opts []SpawnedOption
	if os.Getenv(envArgv) == "fd" {
		opts = append(opts, WithArgv(ArgvFD))
	}
	conn, ok, err := StartSpawned(os.Args, logger, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 90
	}
	if !ok {
		fmt.Fprintf(os.Stderr, "child: not spawned: %q\n", os.Args)
		return 91
	}
	defer conn.Close()
	switch mode {
	case "echo":
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if n > 0 {
				if _, werr := conn.Write(buf[:n]); werr != nil {
					return 92
				}
			}
			if err == io.EOF {
				return 0 // parent closed the connection: clean shutdown
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "child read:", err)
				return 93
			}
		}
	case "argv":
		fmt.Fprint(conn, strings.Join(os.Args, "\x00"))
		return 0
	case "where": // the working directory on the connection, a line on stdout
		wd, err := os.Getwd()
		if err != nil {
			return 94
		}
		fmt.Fprintln(os.Stdout, "child stdout")
		fmt.Fprint(conn, wd)
		return 0
	case "sleep":
		time.Sleep(time.Minute)
		return 0
	}
	fmt.Fprintln(os.Stderr, "child: unknown mode", mode)
	return 99
}

// childConnect connects to sock and waits to be disconnected. Exit codes:
// 0 closed by the server (EOF/reset), 2 connect failed, 4 got data, 5 timeout.
func childConnect(sock string) int {
	c, err := net.Dial("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child connect:", err)
		return 2
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(testWait))
	var b [1]byte
	n, err := c.Read(b[:])
	switch {
	case n > 0:
		return 4
	case err == io.EOF || errors.Is(err, syscall.ECONNRESET):
		return 0
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 5
	}
	fmt.Fprintln(os.Stderr, "child read:", err)
	return 6
}

func testExe(tb testing.TB) string {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	return exe
}

func childEnv(mode string, extra ...string) []string {
	// Under -race the child would otherwise sleep 1s before a successful
	// exit (the race runtime's atexit_sleep_ms default).
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	env := append(os.Environ(), envChild+"="+mode, "GORACE="+gorace)
	return append(env, extra...)
}

var discard = slog.New(slog.DiscardHandler)

// testWait bounds every wait in these tests (and a child's wait to be
// closed). It only has to catch a hang: a loaded machine makes the tests
// slower, never makes them fail.
const testWait = 2 * time.Minute

// logHook is a slog handler that passes each record's message to fn.
type logHook func(msg string)

func (h logHook) Enabled(context.Context, slog.Level) bool { return true }
func (h logHook) Handle(_ context.Context, r slog.Record) error {
	h(r.Message)
	return nil
}
func (h logHook) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logHook) WithGroup(string) slog.Handler      { return h }

// spawnChild spawns the test binary in the given mode and makes sure it is
// gone at the end of the test.
func spawnChild(tb testing.TB, mode string, opts ...SpawnOption) *Child {
	tb.Helper()
	base := []SpawnOption{WithEnv(childEnv(mode)), WithLogger(discard)}
	c, err := Spawn(context.Background(), testExe(tb), append(base, opts...)...)
	if err != nil {
		tb.Fatalf("Spawn: %v", err)
	}
	tb.Cleanup(func() {
		c.Conn.Close()
		c.Kill()
		<-c.Done()
	})
	return c
}

// waitChild waits for the child's exit with a timeout.
func waitChild(tb testing.TB, c *Child, timeout time.Duration) ExitStatus {
	tb.Helper()
	select {
	case <-c.Done():
	case <-time.After(timeout):
		tb.Fatalf("child %d did not exit within %v", c.Pid, timeout)
	}
	st, err := c.Wait()
	if err != nil {
		tb.Fatalf("Wait: %v", err)
	}
	return st
}

// eventually polls cond for up to timeout.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
