// Command generate is the one writer of generated files. From the schemas
// it regenerates capnpc-go's wire packages and capnpc-go-ipc's domain
// packages under gen/ for every schema set, the committed
// CodeGeneratorRequest binaries under golden/requests, the runtime's test
// schema package internal/testing/rttest, the calculator example's packages
// and the golden feature schema's request and packages. It is run by
// `go generate ./gen/` (see gen/generate.go) and needs the capnp compiler on
// PATH; capnpc-go is built from the version pinned in go.mod.
//
// Its test, TestCommittedUpToDate, is the one staleness check: it
// regenerates everything into a temporary tree and compares.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/schemaset"
)

func main() {
	root, err := schemaset.Root()
	if err == nil {
		_, err = generate(root, root)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

// An output is one group of generated files: those in dir (relative to the
// module root, slash-separated) whose names match pattern. Generating
// empties the group first, so a schema file that was deleted leaves nothing
// stale behind, and the staleness test compares group by group.
type output struct{ dir, pattern string }

// A run generates from the schemas of one checkout into a tree rooted at dst.
type run struct {
	c        *schemaset.Compiler
	capnpcGo string // the built capnpc-go plugin
	dst      string
	outputs  []output
}

// generate regenerates every generated file from the schemas under the
// module root src into the tree rooted at dst (src itself, or an empty
// directory for the staleness test) and returns the groups it wrote.
func generate(src, dst string) ([]output, error) {
	std, err := schemaset.GoStdDir(src)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "bitcoin-ipc-generate")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	r := &run{c: &schemaset.Compiler{Root: src, GoStd: std}, capnpcGo: filepath.Join(tmp, "capnpc-go"), dst: dst}
	build := exec.Command("go", "build", "-o", r.capnpcGo, "capnproto.org/go/capnp/v3/capnpc-go")
	build.Dir, build.Stdout, build.Stderr = src, os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building capnpc-go: %w", err)
	}

	// libmultiprocess's proxy.capnp: one Go package, from the newest variant.
	mpDir, err := r.reset("gen/mp", "*.capnp.go")
	if err != nil {
		return nil, err
	}
	if _, err := r.c.RunArgs(filepath.Join("mp", "master"), "master", r.capnpcGo+":"+mpDir, []string{"--src-prefix=mp"}, "mp/proxy.capnp"); err != nil {
		return nil, err
	}

	// The runtime's test schema, shared by rt's tests, the C++ peer and
	// the benchmarks: the wire package rttest/rttestcapnp and the domain
	// package rttest, next to the schema (the C++ peer builds from it too).
	if _, err := r.packages("internal/testing/rttest", "internal/testing/rttest", "rttest"); err != nil {
		return nil, fmt.Errorf("internal/testing/rttest: %w", err)
	}

	// The calculator example: a schema of someone else's, through both
	// plugins exactly as docs/custom-schemas.md tells its users.
	if _, err := r.packages("examples/calculator/schema", "examples/calculator/calc", "calc"); err != nil {
		return nil, fmt.Errorf("examples/calculator: %w", err)
	}

	// The golden feature schema: its packages, which golden/feature's tests
	// run, and its request, which the generator's tests read.
	req, err := r.packages("golden/testdata/feature", "golden/feature", "feature")
	if err != nil {
		return nil, fmt.Errorf("golden/feature: %w", err)
	}
	if err := r.write("golden/testdata/feature", "feature.capnp.bin", req); err != nil {
		return nil, err
	}
	// A schema the generator must reject: only its request.
	bad, err := r.c.Run(filepath.Join("..", "golden", "testdata", "bad"), "master", "-", "bad.capnp")
	if err != nil {
		return nil, err
	}
	if err := r.write("golden/testdata/bad", "bad.capnp.bin", bad); err != nil {
		return nil, err
	}

	reqDir, err := r.reset("golden/requests", "*.bin")
	if err != nil {
		return nil, err
	}
	for _, set := range schemaset.Sets {
		files, err := r.c.Files(set)
		if err != nil {
			return nil, err
		}
		wireDir, err := r.reset("gen/"+set.Name+"/"+set.Name+"capnp", "*.capnp.go")
		if err != nil {
			return nil, err
		}
		if _, err := r.c.Run(set.Name, set.Proxy, r.capnpcGo+":"+wireDir, files...); err != nil {
			return nil, err
		}
		req, err := r.c.Request(set)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(reqDir, set.Name+".bin"), req, 0o644); err != nil {
			return nil, err
		}
		domainDir, err := r.reset("gen/"+set.Name, "*.ipc.go")
		if err != nil {
			return nil, err
		}
		if err := generator.GenerateToDir(req, domainDir); err != nil {
			return nil, fmt.Errorf("set %s: %w", set.Name, err)
		}
	}
	return r.outputs, nil
}

// packages compiles every .capnp file in schemaDir into the wire package
// <domainDir>/<pkg>capnp and the companion (domain) package domainDir,
// named pkg, and returns the CodeGeneratorRequest. Both directories are
// relative to the module root.
func (r *run) packages(schemaDir, domainDir, pkg string) ([]byte, error) {
	paths, err := filepath.Glob(filepath.Join(r.c.Root, filepath.FromSlash(schemaDir), "*.capnp"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no .capnp files in %s", schemaDir)
	}
	files := make([]string, len(paths))
	for i, p := range paths {
		files[i] = filepath.Base(p)
	}
	wireDir, err := r.reset(domainDir+"/"+pkg+"capnp", "*.capnp.go")
	if err != nil {
		return nil, err
	}
	out, err := r.reset(domainDir, "*.ipc.go")
	if err != nil {
		return nil, err
	}
	rel := filepath.Join("..", filepath.FromSlash(schemaDir)) // Run's directories are relative to schemas/
	if _, err := r.c.Run(rel, "master", r.capnpcGo+":"+wireDir, files...); err != nil {
		return nil, err
	}
	req, err := r.c.Run(rel, "master", "-", files...)
	if err != nil {
		return nil, err
	}
	return req, generator.GenerateToDir(req, out)
}

// reset records the group of files matching pattern in dir, creates dir
// under the output tree and removes the group's files from it. It returns
// the directory's path in the output tree.
func (r *run) reset(dir, pattern string) (string, error) {
	r.outputs = append(r.outputs, output{dir, pattern})
	abs := filepath.Join(r.dst, filepath.FromSlash(dir))
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", err
	}
	old, err := filepath.Glob(filepath.Join(abs, pattern))
	if err != nil {
		return "", err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return "", err
		}
	}
	return abs, nil
}

// write writes one generated file, a group of its own, under the output tree.
func (r *run) write(dir, name string, data []byte) error {
	abs, err := r.reset(dir, name)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(abs, name), data, 0o644)
}
