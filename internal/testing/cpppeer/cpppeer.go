// Package cpppeer builds the C++ interop peer (internal/testing/cpppeer/peer.c++,
// plain Cap'n Proto C++ speaking libmultiprocess's conventions on the
// rttest schema) and reads its benchmark output. The interop tests in rt
// and the benchmark report (internal/cmd/benchreport) share it.
//
// Building needs capnp, g++, pkg-config and libcapnp-dev (Cap'n Proto >=
// 0.9). The binary is cached in a directory under the system temp dir
// named after a hash of the sources and the toolchain, so later runs
// reuse it.
package cpppeer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Sources are the peer's sources, relative to the module root.
const (
	SourcePath = "internal/testing/cpppeer/peer.c++"
	SchemaPath = "internal/testing/rttest/rttest.capnp"
	MPDir      = "schemas/mp/master"
)

var built struct {
	once sync.Once
	path string
	err  error
}

// Build returns the path of the built peer, building it on first use (at
// most once per process; later processes find it in the cache).
func Build() (string, error) {
	built.once.Do(func() {
		root, err := ModuleRoot()
		if err == nil {
			built.path, err = BuildIn(root)
		}
		built.err = err
	})
	return built.path, built.err
}

// ModuleRoot is the directory of the bitcoin-ipc go.mod, as the go command
// sees it from the working directory.
func ModuleRoot() (string, error) {
	out, err := run("", "go", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(out)
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("cpppeer: not inside the bitcoin-ipc module (go env GOMOD is empty)")
	}
	root := filepath.Dir(gomod)
	if _, err := os.Stat(filepath.Join(root, SourcePath)); err != nil {
		return "", fmt.Errorf("cpppeer: %s is not the bitcoin-ipc module: %v", root, err)
	}
	return root, nil
}

func run(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// BuildIn builds the peer from the module at root (or finds it in the
// cache) and returns the binary's path.
func BuildIn(root string) (string, error) {
	src := filepath.Join(root, SourcePath)
	schema := filepath.Join(root, SchemaPath)
	mpDir := filepath.Join(root, MPDir)
	proxy := filepath.Join(mpDir, "mp", "proxy.capnp")
	gomod, err := run(root, "go", "list", "-m", "-f", "{{.Dir}}", "capnproto.org/go/capnp/v3")
	if err != nil {
		return "", err
	}
	goStd := filepath.Join(strings.TrimSpace(gomod), "std")
	pkgFlags, err := run(root, "pkg-config", "--cflags", "--libs", "capnp-rpc")
	if err != nil {
		return "", err
	}
	capnpVersion, err := run(root, "capnp", "--version")
	if err != nil {
		return "", err
	}
	gxxVersion, err := run(root, "g++", "--version")
	if err != nil {
		return "", err
	}

	h := sha256.New()
	for _, f := range []string{src, schema, proxy, filepath.Join(goStd, "go.capnp")} {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	fmt.Fprintf(h, "%s\n%s\n%s\n", pkgFlags, capnpVersion, gxxVersion)
	key := hex.EncodeToString(h.Sum(nil))[:16]
	final := filepath.Join(os.TempDir(), "bitcoin-ipc-cpppeer-"+key)
	bin := filepath.Join(final, "peer")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}

	dir, err := os.MkdirTemp("", "bitcoin-ipc-cpppeer-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	gen := filepath.Join(dir, "gen")
	if err := os.MkdirAll(gen, 0o755); err != nil {
		return "", err
	}
	steps := [][]string{
		{"capnp", "compile", "-I" + goStd, "-I" + mpDir, "-oc++:" + gen,
			"--src-prefix=" + filepath.Dir(schema), schema},
		{"capnp", "compile", "-I" + goStd, "-oc++:" + gen, "--src-prefix=" + mpDir, proxy},
		{"capnp", "compile", "-oc++:" + gen, "--src-prefix=" + goStd, filepath.Join(goStd, "go.capnp")},
		append([]string{"g++", "-O2", "-std=c++17", "-pthread", "-I" + gen, "-o", filepath.Join(dir, "peer"),
			src, filepath.Join(gen, "rttest.capnp.c++"), filepath.Join(gen, "mp", "proxy.capnp.c++")},
			strings.Fields(pkgFlags)...),
	}
	for _, s := range steps {
		if _, err := run(dir, s[0], s[1:]...); err != nil {
			return "", err
		}
	}
	// Publish atomically: concurrent builders may race to it.
	stage, err := os.MkdirTemp("", "bitcoin-ipc-cpppeer-stage-")
	if err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(dir, "peer"), filepath.Join(stage, "peer")); err != nil {
		return "", err
	}
	if err := os.Rename(stage, final); err != nil {
		os.RemoveAll(stage)
		if _, serr := os.Stat(bin); serr != nil {
			return "", err
		}
	}
	return bin, nil
}

// Result is one RESULT line of the peer's bench modes: key=value pairs of
// numbers (p50_us, p99_us, cpu_us_per_call, n; threads, calls_per_s for
// bench-client-mt).
type Result map[string]float64

// ParseResults returns every RESULT line in out, in order.
func ParseResults(out string) ([]Result, error) {
	var rs []Result
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "RESULT ")
		if !ok {
			continue
		}
		r := Result{}
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("RESULT field %q: %v", f, err)
			}
			r[k] = x
		}
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("no RESULT line in:\n%s", out)
	}
	return rs, nil
}
