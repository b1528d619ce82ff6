// Package generator is capnpc-go-ipc as a library: it turns a Cap'n Proto
// CodeGeneratorRequest into the Go companion files described in
// docs/generated-code.md (domain interfaces, clients, server tables and
// struct glue next to capnpc-go's wire package).
//
// Generation runs in two steps: model.Build resolves every name and IPC
// convention into a typed model (internal/generator/model), then the emitters in
// internal/generator/templates render one file per requested schema file. Errors name the
// schema element ("mining.capnp:Mining.getTip: ..."), and nothing is
// returned or written unless every file generated.
package generator

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/std/capnp/schema"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator/model"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/generator/templates"
)

// Version is capnpc-go-ipc's version, printed in every generated header.
const Version = model.Version

// Options tune generation. The zero value is the default.
type Options struct {
	// GeneratorVersion overrides Version in headers (tests use it to keep
	// goldens stable across releases). Empty means Version.
	GeneratorVersion string
}

// File is one generated file. Name is relative to the domain package
// directory (for example "mining.ipc.go" for gen/v32), which is the
// directory capnp's -ogo-ipc:DIR or GenerateToDir's outDir names.
type File struct {
	Name    string
	Content []byte
}

// Generate renders the companion files of the request's requested files.
// Files of mp/proxy.capnp and the annotation schemas get none.
func Generate(req schema.CodeGeneratorRequest, opts Options) ([]File, error) {
	m, err := model.Build(req)
	if err != nil {
		return nil, err
	}
	if opts.GeneratorVersion != "" {
		m.GeneratorVersion = opts.GeneratorVersion
	}
	var out []File
	var pkg model.Package
	for _, f := range m.Files {
		if pkg.Path == "" {
			pkg = f.Domain
		} else if f.Domain != pkg {
			return nil, fmt.Errorf("%s: domain package %s differs from %s; generate one Go package per request", f.Path, f.Domain.Path, pkg.Path)
		}
		b, err := templates.File(m, f)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Name: f.OutName, Content: b})
	}
	return out, nil
}

// GenerateBytes is Generate for a serialized CodeGeneratorRequest (the
// bytes capnp compile -o- writes).
func GenerateBytes(data []byte, opts Options) ([]File, error) {
	msg, err := capnp.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		return nil, fmt.Errorf("decoding CodeGeneratorRequest: %w", err)
	}
	req, err := schema.ReadRootCodeGeneratorRequest(msg)
	if err != nil {
		return nil, fmt.Errorf("reading CodeGeneratorRequest: %w", err)
	}
	return Generate(req, opts)
}

// GenerateToDir generates from a serialized CodeGeneratorRequest and
// writes the files into outDir (the domain package directory, e.g.
// gen/v32). Nothing is written unless generation fully succeeded.
func GenerateToDir(req []byte, outDir string) error {
	files, err := GenerateBytes(req, Options{})
	if err != nil {
		return err
	}
	return WriteFiles(outDir, files)
}

// WriteFiles writes files below dir, creating it if needed.
func WriteFiles(dir string, files []File) error {
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Content, 0o644); err != nil {
			return err
		}
	}
	return nil
}
