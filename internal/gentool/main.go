// Command gentool regenerates everything under gen/: capnpc-go's wire
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
		fmt.Fprintln(os.Stderr, "gentool:", err)
		os.Exit(1)
	}
}

func run() error {
	c, err := schemaset.NewCompiler()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "gentool")
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
	// the benchmarks.
	rttestDir := filepath.Join(c.Root, "internal", "rttest")
	if err := resetDir(rttestDir, "*.capnp.go"); err != nil {
		return err
	}
	if _, err := c.RunArgs(filepath.Join("..", "internal", "rttest"), "master", capnpcGo+":"+rttestDir, nil, "rttest.capnp"); err != nil {
		return err
	}

	// The calculator example: a schema of someone else's, through both
	// plugins exactly as docs/custom-schemas.md tells its users.
	if err := generateExample(c, capnpcGo, filepath.Join("examples", "calculator"), "calc"); err != nil {
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

// generateExample compiles every .capnp file in <example>/schema into the
// wire package <example>/<pkg>/<pkg>capnp and the companion package
// <example>/<pkg>.
func generateExample(c *schemaset.Compiler, capnpcGo, example, pkg string) error {
	schemaDir := filepath.Join(c.Root, example, "schema")
	paths, err := filepath.Glob(filepath.Join(schemaDir, "*.capnp"))
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
	domainDir := filepath.Join(c.Root, example, pkg)
	wireDir := filepath.Join(domainDir, pkg+"capnp")
	if err := resetDir(wireDir, "*.capnp.go"); err != nil {
		return err
	}
	if err := resetDir(domainDir, "*.ipc.go"); err != nil {
		return err
	}
	rel := filepath.Join("..", example, "schema") // Run's directories are relative to schemas/
	if _, err := c.Run(rel, "master", capnpcGo+":"+wireDir, files...); err != nil {
		return err
	}
	req, err := c.Run(rel, "master", "-", files...)
	if err != nil {
		return err
	}
	return generateIPC(req, domainDir)
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
