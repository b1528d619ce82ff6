package golden_test

import (
	"bytes"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator/templates"

	// The goldens must compile: importing them makes `go test` build them.
	_ "github.com/bitcoin-ipc/bitcoin-ipc/golden/feature"
)

// goldenCases are the committed requests: the feature schema's and the
// real schema sets'. internal/cmd/generate writes them, and the output
// generated from them (golden/feature, gen/<set>); its test checks that
// what is committed is up to date.
var goldenCases = []struct{ name, request string }{
	{"feature", "testdata/feature/feature.capnp.bin"},
	{"v30", "requests/v30.bin"},
	{"v31", "requests/v31.bin"},
	{"v32", "requests/v32.bin"},
	{"multiprocess", "requests/multiprocess.bin"},
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

// TestDeterministic generates every case twice and compares the bytes.
func TestDeterministic(t *testing.T) {
	for _, c := range goldenCases {
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
