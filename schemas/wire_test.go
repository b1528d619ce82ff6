// Package schemas holds Bitcoin Core's IPC interfaces as Cap'n Proto
// schemas, one directory per supported node version. This test is the proof
// that they speak Bitcoin Core's protocol: each set compiles to exactly the
// canonical form of the upstream schemas (type IDs, ordinals, defaults and
// field offsets), apart from annotations of our own.
package schemas

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/schemaset"
)

// referenceDir holds the canonical dumps, one directory per set. It lives
// beside the checkout (shared/reference/wire) unless BITCOIN_IPC_WIRE_REF
// names another place. The test fails, never skips, when it is missing.
func referenceDir(t *testing.T, root string) string {
	if d := os.Getenv("BITCOIN_IPC_WIRE_REF"); d != "" {
		return d
	}
	return filepath.Join(filepath.Dir(root), "shared", "reference", "wire")
}

func TestWireContract(t *testing.T) {
	c, err := schemaset.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	ref := referenceDir(t, c.Root)
	if _, err := os.Stat(ref); err != nil {
		t.Fatalf("reference wire dumps not found (%v); set BITCOIN_IPC_WIRE_REF", err)
	}
	for _, set := range schemaset.Sets {
		t.Run(set.Name, func(t *testing.T) {
			files, err := c.Files(set)
			if err != nil {
				t.Fatal(err)
			}
			refFiles, _ := filepath.Glob(filepath.Join(ref, set.Reference, "*.capnp.txt"))
			var want []string
			for _, f := range refFiles {
				if b := filepath.Base(f); b != "mp-proxy.capnp.txt" {
					want = append(want, strings.TrimSuffix(b, ".txt"))
				}
			}
			if strings.Join(files, " ") != strings.Join(want, " ") {
				t.Errorf("schema files %v, reference has %v", files, want)
			}
			for _, f := range files {
				compareOne(t, c, set.Name, set.Proxy, f, filepath.Join(ref, set.Reference, f+".txt"))
			}
			compareOne(t, c, filepath.Join("mp", set.Proxy), set.Proxy, "mp/proxy.capnp", filepath.Join(ref, set.Reference, "mp-proxy.capnp.txt"))
		})
	}
}

func compareOne(t *testing.T, c *schemaset.Compiler, dir, proxy, file, refPath string) {
	t.Helper()
	got, err := c.Run(dir, proxy, "capnp", file)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(refPath)
	if err != nil {
		t.Fatalf("reading reference: %v", err)
	}
	name := filepath.Join("schemas", dir, file)
	for _, d := range schemaset.Diff(name, schemaset.StripOwnAnnotations(string(got)), string(want)) {
		t.Error(d)
	}
}
