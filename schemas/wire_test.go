// Package schemas holds Bitcoin Core's IPC interfaces as Cap'n Proto
// schemas, one directory per supported node version. Its tests are the
// proof that they speak Bitcoin Core's protocol: each set compiles to
// exactly the canonical wire form committed under testdata/wire (type IDs,
// ordinals, defaults and field offsets; our own annotations left out), and
// that form is byte for byte the one of the upstream schemas.
package schemas

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/schemaset"
)

var update = flag.Bool("update", false, "rewrite testdata/wire from the schemas")

// wireDir holds the committed canonical form, one directory per set.
const wireDir = "testdata/wire"

// readDumps reads the *.capnp.txt files of dir by name.
func readDumps(dir string) (map[string][]byte, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.capnp.txt"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, &fs.PathError{Op: "glob", Path: filepath.Join(dir, "*.capnp.txt"), Err: fs.ErrNotExist}
	}
	dumps := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		dumps[filepath.Base(p)] = b
	}
	return dumps, nil
}

// compareDumps reports every file that is in one set of dumps and not the
// other, and a line diff of every file whose text differs.
func compareDumps(t *testing.T, dir string, want map[string][]byte, wantName string, got map[string][]byte, gotName string) {
	t.Helper()
	names := make([]string, 0, len(want)+len(got))
	for n := range want {
		names = append(names, n)
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		w, inWant := want[n]
		g, inGot := got[n]
		switch {
		case !inWant:
			t.Errorf("%s: in %s, not in %s", filepath.Join(dir, n), gotName, wantName)
		case !inGot:
			t.Errorf("%s: in %s, not in %s", filepath.Join(dir, n), wantName, gotName)
		default:
			if d := schemaset.Diff(string(w), string(g)); d != "" {
				t.Errorf("%s: %s (-) and %s (+) differ:\n%s", filepath.Join(dir, n), wantName, gotName, d)
			}
		}
	}
}

// TestWireContract compiles every schema set and compares it with the
// committed canonical form. A schema change that changes the wire fails
// here; if the change is meant, rewrite the committed form with
//
//	go test ./schemas/ -run TestWireContract -update
//
// (make wire), and TestWireContractUpstream checks it against upstream.
func TestWireContract(t *testing.T) {
	c, err := schemaset.NewCompiler()
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range schemaset.Sets {
		t.Run(set.Name, func(t *testing.T) {
			got, err := c.Canonical(set)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(wireDir, set.Name)
			if *update {
				writeDumps(t, dir, got)
				return
			}
			want, err := readDumps(dir)
			if err != nil {
				t.Fatalf("reading the committed wire form: %v (go test ./schemas/ -run TestWireContract -update writes it)", err)
			}
			compareDumps(t, filepath.Join("schemas", dir), want, "committed", got, "compiled")
			if t.Failed() {
				t.Log("if the change is meant: go test ./schemas/ -run TestWireContract -update, then check it with TestWireContractUpstream")
			}
		})
	}
}

// writeDumps replaces the dumps in dir with dumps.
func writeDumps(t *testing.T, dir string, dumps map[string][]byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.capnp.txt"))
	for _, p := range old {
		if _, ok := dumps[filepath.Base(p)]; !ok {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	for n, b := range dumps {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// upstreamDir is the directory of the upstream schemas' canonical dumps
// (one directory per set, named by Set.Reference): $BITCOIN_IPC_WIRE_REF,
// or shared/reference/wire beside the checkout. explicit tells whether
// the environment named it.
func upstreamDir(t *testing.T) (dir string, explicit bool) {
	if d := os.Getenv("BITCOIN_IPC_WIRE_REF"); d != "" {
		return d, true
	}
	root, err := schemaset.Root()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(filepath.Dir(root), "shared", "reference", "wire"), false
}

// TestWireContractUpstream checks that the committed canonical form is,
// byte for byte, that of the upstream schemas, where their dumps are at
// hand (in CI); in a plain clone it skips. Naming a directory in
// BITCOIN_IPC_WIRE_REF makes a missing one an error.
func TestWireContractUpstream(t *testing.T) {
	ref, explicit := upstreamDir(t)
	if _, err := os.Stat(ref); err != nil {
		if explicit || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("upstream wire dumps: %v", err)
		}
		t.Skipf("no upstream wire dumps at %s (set BITCOIN_IPC_WIRE_REF to compare with them)", ref)
	}
	for _, set := range schemaset.Sets {
		t.Run(set.Name, func(t *testing.T) {
			want, err := readDumps(filepath.Join(ref, set.Reference))
			if err != nil {
				t.Fatalf("upstream wire dumps: %v", err)
			}
			got, err := readDumps(filepath.Join(wireDir, set.Name))
			if err != nil {
				t.Fatalf("committed wire form: %v", err)
			}
			compareDumps(t, filepath.Join("schemas", wireDir, set.Name), want, "upstream", got, "committed")
		})
	}
}

// The committed form has a directory for every set and nothing else.
func TestWireDirsMatchSets(t *testing.T) {
	ents, err := os.ReadDir(wireDir)
	if err != nil {
		t.Fatal(err)
	}
	var dirs, sets []string
	for _, e := range ents {
		dirs = append(dirs, e.Name())
	}
	for _, s := range schemaset.Sets {
		sets = append(sets, s.Name)
	}
	slices.Sort(sets)
	if strings.Join(dirs, " ") != strings.Join(sets, " ") {
		t.Errorf("%s holds %v, the sets are %v", wireDir, dirs, sets)
	}
}
