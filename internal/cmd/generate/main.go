// Command generate regenerates everything under gen/: capnpc-go's wire
// packages and capnpc-go-ipc's domain packages for every schema set, plus
// the committed CodeGeneratorRequest binaries under golden/requests/. It is
// run by `go generate ./gen/...` (see gen/generate.go) and needs the capnp
// compiler on PATH; capnpc-go is built from the version pinned in go.mod.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/schemaset"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

func run() error {
	c, err := schemaset.NewCompiler()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "bitcoin-ipc-generate")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	capnpcGo := filepath.Join(tmp, "capnpc-go")
	build := exec.Command("go", "build", "-o", capnpcGo, "capnproto.org/go/capnp/v3/capnpc-go")
	build.Dir, build.Stdout, build.Stderr = c.Root, os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building capnpc-go: %w", err)
	}

	// libmultiprocess's proxy.capnp: one Go package, from the newest variant.
	mpDir := filepath.Join(c.Root, "gen", "mp")
	if err := resetDir(mpDir, "*.capnp.go"); err != nil {
		return err
	}
	if _, err := c.RunArgs(filepath.Join("mp", "master"), "master", capnpcGo+":"+mpDir, []string{"--src-prefix=mp"}, "mp/proxy.capnp"); err != nil {
		return err
	}

	// The runtime's test schema, shared by rt's tests, the C++ peer and
	// the benchmarks: the wire package rttest/rttestcapnp and the domain
	// package rttest, next to the schema (the C++ peer builds from it too).
	if err := generatePackages(c, capnpcGo, filepath.Join("internal", "testing", "rttest"), filepath.Join("internal", "testing", "rttest"), "rttest"); err != nil {
		return fmt.Errorf("internal/testing/rttest: %w", err)
	}

	// The calculator example: a schema of someone else's, through both
	// plugins exactly as docs/custom-schemas.md tells its users.
	example := filepath.Join("examples", "calculator")
	if err := generatePackages(c, capnpcGo, filepath.Join(example, "schema"), filepath.Join(example, "calc"), "calc"); err != nil {
		return fmt.Errorf("examples/calculator: %w", err)
	}

	reqDir := filepath.Join(c.Root, "golden", "requests")
	if err := os.MkdirAll(reqDir, 0o755); err != nil {
		return err
	}
	for _, set := range schemaset.Sets {
		files, err := c.Files(set)
		if err != nil {
			return err
		}
		wireDir := filepath.Join(c.Root, "gen", set.Name, set.Name+"capnp")
		if err := resetDir(wireDir, "*.capnp.go"); err != nil {
			return err
		}
		if _, err := c.Run(set.Name, set.Proxy, capnpcGo+":"+wireDir, files...); err != nil {
			return err
		}
		req, err := c.Request(set)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(reqDir, set.Name+".bin"), req, 0o644); err != nil {
			return err
		}
		if err := generateIPC(req, filepath.Join(c.Root, "gen", set.Name)); err != nil {
			return fmt.Errorf("set %s: %w", set.Name, err)
		}
	}
	return nil
}

// generatePackages compiles every .capnp file in schemaDir into the wire
// package <domainDir>/<pkg>capnp and the companion (domain) package
// domainDir, named pkg. Both directories are relative to the repository.
func generatePackages(c *schemaset.Compiler, capnpcGo, schemaDir, domainDir, pkg string) error {
	paths, err := filepath.Glob(filepath.Join(c.Root, schemaDir, "*.capnp"))
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("no .capnp files in %s", schemaDir)
	}
	files := make([]string, len(paths))
	for i, p := range paths {
		files[i] = filepath.Base(p)
	}
	out := filepath.Join(c.Root, domainDir)
	wireDir := filepath.Join(out, pkg+"capnp")
	if err := resetDir(wireDir, "*.capnp.go"); err != nil {
		return err
	}
	if err := resetDir(out, "*.ipc.go"); err != nil {
		return err
	}
	rel := filepath.Join("..", schemaDir) // Run's directories are relative to schemas/
	if _, err := c.Run(rel, "master", capnpcGo+":"+wireDir, files...); err != nil {
		return err
	}
	req, err := c.Run(rel, "master", "-", files...)
	if err != nil {
		return err
	}
	return generateIPC(req, out)
}

// resetDir creates dir and removes files matching pattern from it, so that
// a schema file that was deleted leaves no stale output behind.
func resetDir(dir, pattern string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	return nil
}
