package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/schemaset"
)

// TestPluginWritesLibraryOutput runs the plugin the way users do, through
// `capnp compile -ogo-ipc:DIR`, and checks that it writes exactly the files
// the generator library makes of the same schema set's request (whether the
// committed gen/<set> is up to date is internal/cmd/generate's test); then
// that a bad request writes nothing and fails.
func TestPluginWritesLibraryOutput(t *testing.T) {
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
		req, err := c.Request(set)
		if err != nil {
			t.Fatal(err)
		}
		want, err := generator.GenerateBytes(req, generator.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if entries, _ := os.ReadDir(out); len(entries) != len(want) {
			t.Errorf("%s: plugin wrote %d files, the library makes %d", set.Name, len(entries), len(want))
		}
		for _, f := range want {
			got, err := os.ReadFile(filepath.Join(out, f.Name))
			if err != nil {
				t.Fatalf("%s: plugin wrote no %s: %v", set.Name, f.Name, err)
			}
			if !bytes.Equal(got, f.Content) {
				t.Errorf("%s/%s: the plugin's output differs from the library's", set.Name, f.Name)
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

// TestMissingGoAnnotations: a schema without $Go.package/$Go.import makes
// the plugin say which annotation is missing and what to add, and write
// nothing.
func TestMissingGoAnnotations(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "capnpc-go-ipc")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	for _, tc := range []struct{ annotations, want string }{
		{"", "my-calc.capnp: no $Go.package and $Go.import annotations: add " +
			"`using Go = import \"/go.capnp\"; $Go.package(\"mycalccapnp\"); $Go.import(\"example.com/mycalc/mycalccapnp\");`"},
		{"using Go = import \"/go.capnp\";\n$Go.package(\"mycalccapnp\");\n", "my-calc.capnp: no $Go.import annotation: add "},
	} {
		dir := t.TempDir()
		schema := "@0xd7a3c0f5e8b91a2c;\n" + tc.annotations + "interface Calc @0xe1f2a3b4c5d6e7f8 {\n  add @0 (a :Int32, b :Int32) -> (sum :Int32);\n}\n"
		if err := os.WriteFile(filepath.Join(dir, "my-calc.capnp"), []byte(schema), 0o644); err != nil {
			t.Fatal(err)
		}
		std, err := schemaset.GoStdDir(".")
		if err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		cmd := exec.Command("capnp", "compile", "-I", std, "-o"+bin+":"+out, "my-calc.capnp")
		cmd.Dir = dir
		msg, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("plugin accepted a schema with %q", tc.annotations)
		}
		if !strings.Contains(string(msg), "capnpc-go-ipc: "+tc.want) || !strings.Contains(string(msg), "with -I") {
			t.Errorf("error output:\n%s\nwant it to contain %q", msg, tc.want)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("failed run wrote %d files", len(entries))
		}
	}
}
