package golden_test

import (
	"bytes"
	"flag"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator/templates"

	// The goldens must compile: importing them makes `go test` build them.
	_ "github.com/bitcoin-ipc/bitcoin-ipc/golden/feature"
)

var update = flag.Bool("update", false, "rewrite the expected generated files")

// goldenCases maps a committed request to the directory holding its
// expected output.
var goldenCases = []struct{ name, request, dir string }{
	{"feature", "testdata/feature/feature.capnp.bin", "feature"},
	{"v30", "requests/v30.bin", "../gen/v30"},
	{"v31", "requests/v31.bin", "../gen/v31"},
	{"v32", "requests/v32.bin", "../gen/v32"},
	{"multiprocess", "requests/multiprocess.bin", "../gen/multiprocess"},
}

func generate(t testing.TB, request string) []generator.File {
	t.Helper()
	data, err := os.ReadFile(request)
	if err != nil {
		t.Fatal(err)
	}
	files, err := generator.GenerateBytes(data, generator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := os.Stat(c.request); err != nil {
				t.Fatalf("golden request missing (make generate writes it): %v", err)
			}
			files := generate(t, c.request)
			if len(files) == 0 {
				t.Fatal("no files generated")
			}
			want := map[string]bool{}
			for _, f := range files {
				want[f.Name] = true
				p := filepath.Join(c.dir, f.Name)
				if *update {
					if err := generator.WriteFiles(c.dir, []generator.File{f}); err != nil {
						t.Fatal(err)
					}
					continue
				}
				got, err := os.ReadFile(p)
				if err != nil {
					t.Fatalf("%v (run go test ./golden/... -update)", err)
				}
				if !bytes.Equal(got, f.Content) {
					t.Errorf("%s is stale: regenerate with go test ./golden/... -update\n%s", p, firstDiff(got, f.Content))
				}
			}
			// No stale companion files may linger.
			old, _ := filepath.Glob(filepath.Join(c.dir, "*.ipc.go"))
			for _, p := range old {
				if !want[filepath.Base(p)] {
					if *update {
						os.Remove(p)
					} else {
						t.Errorf("%s is not generated any more", p)
					}
				}
			}
		})
	}
}

// firstDiff describes the first differing line.
func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + itoa(i+1) + ":\n  committed: " + x + "\n  generated: " + y
		}
	}
	return "(no line differs)"
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

// TestDeterministic generates every case twice and compares the bytes.
func TestDeterministic(t *testing.T) {
	for _, c := range goldenCases {
		if _, err := os.Stat(c.request); err != nil {
			continue
		}
		a, b := generate(t, c.request), generate(t, c.request)
		if len(a) != len(b) {
			t.Fatalf("%s: %d files, then %d", c.name, len(a), len(b))
		}
		for i := range a {
			if a[i].Name != b[i].Name || !bytes.Equal(a[i].Content, b[i].Content) {
				t.Errorf("%s: %s differs between runs", c.name, a[i].Name)
			}
		}
	}
}

// TestHeader pins the generated header.
func TestHeader(t *testing.T) {
	for _, f := range generate(t, "testdata/feature/feature.capnp.bin") {
		lines := strings.SplitN(string(f.Content), "\n", 7)
		want := []string{
			"// " + templates.HeaderLine,
			"// versions:",
			"// \tcapnpc-go-ipc " + generator.Version,
			"// \tcapnp         v0.9.2",
			"// source: feature.capnp",
			"",
		}
		for i, w := range want {
			if lines[i] != w {
				t.Errorf("%s line %d = %q, want %q", f.Name, i+1, lines[i], w)
			}
		}
		if !bytes.Contains(f.Content, []byte("\nconst _ = rt.SupportPackageIsVersion1\n")) {
			t.Errorf("%s lacks the runtime version guard", f.Name)
		}
	}
}

// TestRejects checks that an unsupported schema fails with locations and
// that nothing is written.
func TestRejects(t *testing.T) {
	data, err := os.ReadFile("testdata/bad/bad.capnp.bin")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	err = generator.GenerateToDir(data, dir)
	if err == nil {
		t.Fatal("bad.capnp generated without error")
	}
	for _, want := range []string{
		"bad.capnp:Bad.ptr: AnyPointer fields are not supported",
		"bad.capnp:Worse.take.x: AnyPointer fields are not supported",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed generation wrote %d files", len(ents))
	}
}

// TestOnlyRTAPI: generated code calls rt's own API and uses go-capnp only
// as the codec: no RPC, server or flow-control package, no capnp.Client,
// and no capnpc-go interface accessors that go through the CapTable.
func TestOnlyRTAPI(t *testing.T) {
	for _, c := range goldenCases {
		if _, err := os.Stat(c.request); err != nil {
			continue
		}
		for _, f := range generate(t, c.request) {
			file, err := parser.ParseFile(token.NewFileSet(), f.Name, f.Content, parser.ImportsOnly)
			if err != nil {
				t.Fatalf("%s/%s: %v", c.name, f.Name, err)
			}
			for _, imp := range file.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(p, "capnproto.org/go/capnp/v3/") {
					t.Errorf("%s/%s imports %s", c.name, f.Name, p)
				}
			}
			for _, bad := range []string{"capnp.Client", "CapTable", "ServerToClient"} {
				if bytes.Contains(f.Content, []byte(bad)) {
					t.Errorf("%s/%s contains %q", c.name, f.Name, bad)
				}
			}
		}
	}
}
