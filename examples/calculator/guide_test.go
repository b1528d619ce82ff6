package calculator_test

import (
	"bufio"
	"bytes"
	"context"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	guide      = "../../docs/custom-schemas.md"
	ourImport  = "github.com/bitcoin-ipc/bitcoin-ipc/examples/calculator/calc"
	userImport = "example.com/calc/calc" // the guide's module
)

// shBlocks returns the ```sh blocks of a Markdown file, in order.
func shBlocks(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []string
	var cur *strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && line == "```sh":
			cur = &strings.Builder{}
		case cur != nil && line == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// TestGuideCommands runs every shell command of docs/custom-schemas.md, in
// order, in a fresh module holding the example's schemas (with the guide's
// import path), as a user would. It works offline: bitcoin-ipc itself is
// this checkout (a replace directive added right after `go mod init`, in
// place of the published module), and the other modules come from the
// module cache. The generated Go-side files must equal the committed
// example's, up to the import path, and must build in the user's module.
func TestGuideCommands(t *testing.T) {
	if _, err := exec.LookPath("capnp"); err != nil {
		t.Fatalf("the guide needs the capnp compiler (bash .ci/setup installs it): %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	blocks := shBlocks(t, guide)
	if len(blocks) < 3 {
		t.Fatalf("%s has %d sh blocks", guide, len(blocks))
	}
	var script strings.Builder
	script.WriteString("set -eux\n")
	replaced := false
	for _, b := range blocks {
		for _, line := range strings.Split(strings.TrimRight(b, "\n"), "\n") {
			script.WriteString(line + "\n")
			if strings.HasPrefix(line, "go mod init ") {
				script.WriteString("go mod edit -replace=github.com/bitcoin-ipc/bitcoin-ipc=" + root + "\n")
				replaced = true
			}
		}
	}
	if !replaced {
		t.Fatal("the guide has no `go mod init` line")
	}

	dir := t.TempDir()
	schemas, err := filepath.Glob("schema/*.capnp")
	if err != nil || len(schemas) == 0 {
		t.Fatalf("example schemas: %v %v", schemas, err)
	}
	if err := os.Mkdir(filepath.Join(dir, "schema"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range schemas {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte(ourImport), []byte(userImport))
		if err := os.WriteFile(filepath.Join(dir, "schema", filepath.Base(s)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	gobin := filepath.Join(dir, "bin")
	env := append(os.Environ(),
		"GOBIN="+gobin, "PATH="+gobin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GOPROXY=off", "GOSUMDB=off", "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := run("bash", "-c", script.String())
	for _, want := range []string{"printer: 2 + 3 = 5", "calc: 6 * 7 -> 42", "calc: calc-printer exit status 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("the guide's example run printed no %q:\n%s", want, out)
		}
	}

	committed, err := filepath.Glob("calc/*.ipc.go")
	if err != nil || len(committed) == 0 {
		t.Fatalf("committed files: %v %v", committed, err)
	}
	for _, c := range committed {
		want, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		// gofmt sorts the imports again after the path changed.
		want, err = format.Source(bytes.ReplaceAll(want, []byte(ourImport), []byte(userImport)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, c))
		if err != nil {
			t.Fatalf("the guide's commands wrote no %s: %v", c, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the committed example (up to the import path)", c)
		}
	}
	for _, c := range []string{"calc/calccapnp/init.capnp.go", "calc/calccapnp/printer.capnp.go", "calc/calccapnp/calculator.capnp.go"} {
		if _, err := os.Stat(filepath.Join(dir, c)); err != nil {
			t.Errorf("the guide's commands wrote no %s: %v", c, err)
		}
	}
	run("go", "vet", "./calc/...")
}
