// Package schemaset describes the schema sets under schemas/ and runs the
// capnp compiler on them. The wire-contract test and the code generation
// (internal/cmd/generate) share it, so both compile each set the same way.
package schemaset

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Set is one version of Bitcoin Core's schemas.
type Set struct {
	Name      string // directory under schemas/, and the Go package under gen/
	Proxy     string // variant of mp/proxy.capnp under schemas/mp/
	Reference string // directory of the set under the upstream reference dumps
}

// Sets lists every supported schema set, oldest first.
var Sets = []Set{
	{Name: "v30", Proxy: "v30", Reference: "v30"},
	{Name: "v31", Proxy: "v30", Reference: "v31"},
	{Name: "v32", Proxy: "master", Reference: "master"},
	{Name: "multiprocess", Proxy: "master", Reference: "multiprocess"},
}

// Root finds the module root by walking up from the working directory.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("schemaset: no go.mod above the working directory")
		}
		dir = parent
	}
}

// GoStdDir returns go-capnp's std directory (go.capnp and the annotated
// c++.capnp), as pinned in go.mod.
func GoStdDir(root string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "capnproto.org/go/capnp/v3")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("schemaset: locating capnproto.org/go/capnp/v3: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("schemaset: capnproto.org/go/capnp/v3 is not in the module cache (run go mod download)")
	}
	return filepath.Join(dir, "std"), nil
}

// Compiler runs capnp compile for the sets of one checkout.
type Compiler struct {
	Root   string // module root
	GoStd  string // go-capnp's std dir
	Capnp  string // capnp binary; "capnp" when empty
	Schema string // schemas/ directory; Root/schemas when empty
}

// NewCompiler locates the module root and go-capnp's std schemas.
func NewCompiler() (*Compiler, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	std, err := GoStdDir(root)
	if err != nil {
		return nil, err
	}
	return &Compiler{Root: root, GoStd: std}, nil
}

func (c *Compiler) schemaDir() string {
	if c.Schema != "" {
		return c.Schema
	}
	return filepath.Join(c.Root, "schemas")
}

// Files lists a set's .capnp files, sorted.
func (c *Compiler) Files(set Set) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(c.schemaDir(), set.Name, "*.capnp"))
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("schemaset: no .capnp files in schemas/%s", set.Name)
	}
	names := make([]string, len(m))
	for i, p := range m {
		names[i] = filepath.Base(p)
	}
	sort.Strings(names)
	return names, nil
}

// Run compiles files from inside dir (relative to schemas/) with the given
// proxy variant on the import path and the given -o output, returning
// stdout. Compiling from inside the set's directory makes imports print as
// "/common.capnp", as the reference dumps do.
func (c *Compiler) Run(dir, proxy, output string, files ...string) ([]byte, error) {
	return c.RunArgs(dir, proxy, output, nil, files...)
}

// RunArgs is Run with extra compiler flags (such as --src-prefix).
func (c *Compiler) RunArgs(dir, proxy, output string, extra []string, files ...string) ([]byte, error) {
	bin := c.Capnp
	if bin == "" {
		bin = "capnp"
	}
	sd := c.schemaDir()
	args := []string{"compile", "-I.", "-I" + filepath.Join(sd, "mp", proxy), "-I" + c.GoStd, "-I" + filepath.Join(sd, "include"), "-o" + output}
	args = append(args, extra...)
	args = append(args, files...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = filepath.Join(sd, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("capnp compile %s in schemas/%s: %v\n%s", strings.Join(files, " "), dir, err, stderr.String())
	}
	return out, nil
}

// Request returns the binary CodeGeneratorRequest for all of a set's files.
func (c *Compiler) Request(set Set) ([]byte, error) {
	files, err := c.Files(set)
	if err != nil {
		return nil, err
	}
	return c.Run(set.Name, set.Proxy, "-", files...)
}

// ProxyDump names the canonical dump of a set's mp/proxy.capnp.
const ProxyDump = "mp-proxy.capnp.txt"

// Canonical compiles every file of set, and its variant of mp/proxy.capnp,
// to the canonical wire form: `capnp compile -ocapnp` output (type IDs,
// ordinals, defaults and field offsets) without our own annotations. Each
// file is compiled from inside its own directory, so that imports print as
// "/common.capnp". The result maps dump names (a file's name plus ".txt",
// and ProxyDump) to their text.
func (c *Compiler) Canonical(set Set) (map[string][]byte, error) {
	files, err := c.Files(set)
	if err != nil {
		return nil, err
	}
	dumps := make(map[string][]byte, len(files)+1)
	compile := func(dir, file, name string) error {
		out, err := c.Run(dir, set.Proxy, "capnp", file)
		if err != nil {
			return err
		}
		dumps[name] = []byte(StripOwnAnnotations(string(out)))
		return nil
	}
	for _, f := range files {
		if err := compile(set.Name, f, f+".txt"); err != nil {
			return nil, err
		}
	}
	if err := compile(filepath.Join("mp", set.Proxy), "mp/proxy.capnp", ProxyDump); err != nil {
		return nil, err
	}
	return dumps, nil
}
