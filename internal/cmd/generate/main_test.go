package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/schemaset"
)

// TestCommittedUpToDate is the one check that the committed generated
// files are what the schemas and the generator make of them: it
// regenerates everything into a temporary tree and compares it, group by
// group, with the module's files, so that a hand edit, a file that was
// never committed and one that is no longer generated all fail it. It
// needs the capnp compiler, as generating does.
func TestCommittedUpToDate(t *testing.T) {
	root, err := schemaset.Root()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	outputs, err := generate(root, tmp)
	if err != nil {
		t.Fatalf("generating (needs capnp on PATH): %v", err)
	}
	if len(outputs) == 0 {
		t.Fatal("generate wrote no outputs")
	}
	for _, o := range outputs {
		want := group(t, tmp, o)
		got := group(t, root, o)
		if len(want) == 0 {
			t.Errorf("%s/%s: nothing generated", o.dir, o.pattern)
		}
		for name, w := range want {
			g, ok := got[name]
			switch {
			case !ok:
				t.Errorf("%s/%s is generated but not committed: run go generate ./gen/ and commit", o.dir, name)
			case !bytes.Equal(g, w):
				t.Errorf("%s/%s differs from what the generator makes of the schemas: run go generate ./gen/ and commit\n%s",
					o.dir, name, firstDiff(g, w))
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("%s/%s is committed but no longer generated: remove it (go generate ./gen/ does)", o.dir, name)
			}
		}
	}
}

// group reads the files of one output group under the tree rooted at
// root, by name.
func group(t *testing.T, root string, o output) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(o.dir), o.pattern))
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = b
	}
	return files
}

// firstDiff describes the first line in which committed and generated
// differ; binary files (the requests) only say that they differ.
func firstDiff(committed, generated []byte) string {
	if bytes.IndexByte(committed, 0) >= 0 || bytes.IndexByte(generated, 0) >= 0 {
		return "(binary files differ)"
	}
	c, g := strings.Split(string(committed), "\n"), strings.Split(string(generated), "\n")
	for i := 0; i < len(c) || i < len(g); i++ {
		var x, y string
		if i < len(c) {
			x = c[i]
		}
		if i < len(g) {
			y = g[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  committed: " + x + "\n  generated: " + y
		}
	}
	return "(no line differs)"
}
