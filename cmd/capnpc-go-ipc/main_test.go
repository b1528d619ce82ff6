package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/schemaset"
)

// TestPluginMatchesCommitted runs the plugin the way users do, through
// `capnp compile -ogo-ipc:DIR`, and checks that it writes exactly the
// committed gen/<set> companion files; then that a bad request writes
// nothing and fails.
func TestPluginMatchesCommitted(t *testing.T) {
	c, err := schemaset.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "capnpc-go-ipc")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	for _, set := range schemaset.Sets {
		files, err := c.Files(set)
		if err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		if _, err := c.Run(set.Name, set.Proxy, bin+":"+out, files...); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			name := strings.TrimSuffix(f, ".capnp") + ".ipc.go"
			got, err := os.ReadFile(filepath.Join(out, name))
			if err != nil {
				t.Fatalf("%s: plugin wrote no %s: %v", set.Name, name, err)
			}
			want, err := os.ReadFile(filepath.Join(c.Root, "gen", set.Name, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s/%s differs from the committed file: run go generate ./gen/", set.Name, name)
			}
		}
	}

	out := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = out
	cmd.Stdin = strings.NewReader("not a request")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("plugin accepted garbage")
	}
	if !strings.HasPrefix(stderr.String(), "capnpc-go-ipc: ") {
		t.Errorf("error output %q", stderr.String())
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("failed run wrote %d files", len(entries))
	}
}
