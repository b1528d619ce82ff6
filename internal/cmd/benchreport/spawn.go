package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// command is a child to run with one end of a socketpair as fd 3.
type command struct {
	name string
	path string
	args []string
	env  []string
}

// goChild re-executes this program (or test binary) in the role s says.
func goChild(s spec) (command, error) {
	self, err := os.Executable()
	if err != nil {
		return command{}, err
	}
	env := []string{s.env()}
	if s.Procs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(s.Procs))
	}
	return command{name: "Go " + s.Role, path: self, env: env}, nil
}

// cppChild runs the C++ peer in one of its modes; "3" (the fd) goes
// after the mode.
func cppChild(bin, mode string, args ...string) command {
	return command{name: "C++ " + mode, path: bin, args: append([]string{mode, "3"}, args...)}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{}
	err    error
}

func (p *proc) wait(d time.Duration) error {
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s: %v\n%s%s", p.name, p.err, p.stdout.String(), p.stderr.String())
		}
		return nil
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s: still running after %v, killed\n%s%s", p.name, d, p.stdout.String(), p.stderr.String())
	}
}

func childEnviron(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, childEnv+"=") && !strings.HasPrefix(kv, "GOMAXPROCS=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// start runs c with f as fd 3; f is closed here.
func start(c command, f *os.File) (*proc, error) {
	p := &proc{name: c.name, done: make(chan struct{})}
	p.cmd = exec.Command(c.path, c.args...)
	p.cmd.Env = childEnviron(c.env)
	p.cmd.ExtraFiles = []*os.File{f}
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	err := p.cmd.Start()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", c.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// socketPair is a connected AF_UNIX stream socketpair as two files.
func socketPair() (*os.File, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "bench-a"), os.NewFile(uintptr(fds[1]), "bench-b"), nil
}

// runPair runs server and client on the two ends of a socketpair and
// returns the client's stdout once both exited cleanly (the server exits
// when the client's end closes).
func runPair(server, client command, timeout time.Duration) (string, error) {
	a, b, err := socketPair()
	if err != nil {
		return "", err
	}
	sp, err := start(server, a)
	if err != nil {
		b.Close()
		return "", err
	}
	cp, err := start(client, b)
	if err != nil {
		sp.cmd.Process.Kill()
		<-sp.done
		return "", err
	}
	cerr := cp.wait(timeout)
	serr := sp.wait(10 * time.Second)
	if cerr != nil {
		return "", cerr
	}
	if serr != nil {
		return "", serr
	}
	return cp.stdout.String(), nil
}

// parseGoResult decodes a Go child's result line into v.
func parseGoResult(out string, v any) error {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), resultPrefix); ok {
			return json.Unmarshal([]byte(line), v)
		}
	}
	return fmt.Errorf("no %q line in:\n%s", strings.TrimSpace(resultPrefix), out)
}

// startServer runs server on one end of a socketpair and returns the
// other end, for a client in this process, and a function that closes it
// and waits for the server to exit.
func startServer(server command) (net.Conn, func() error, error) {
	a, b, err := socketPair()
	if err != nil {
		return nil, nil, err
	}
	sp, err := start(server, a)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	nc, err := net.FileConn(b)
	b.Close()
	if err != nil {
		sp.cmd.Process.Kill()
		<-sp.done
		return nil, nil, err
	}
	return nc, func() error {
		nc.Close()
		return sp.wait(10 * time.Second)
	}, nil
}
