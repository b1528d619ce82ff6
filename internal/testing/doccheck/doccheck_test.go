package doccheck

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// root is the module's directory, two levels up from this package.
const root = "../../.."

// goBlock is one ```go block of a Markdown file.
type goBlock struct {
	file string // relative to root
	line int    // of the opening fence
	text string
}

// markdownFiles are the Markdown files at the top of the module and in docs/.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*.md", "docs/*.md"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no Markdown files found")
	}
	return files
}

// goBlocks returns the ```go blocks of a Markdown text.
func goBlocks(file, text string) ([]goBlock, error) {
	var (
		blocks []goBlock
		cur    *goBlock
		body   []string
	)
	for i, l := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(l)
		switch {
		case cur == nil && trimmed == "```go":
			cur, body = &goBlock{file: file, line: i + 1}, nil
		case cur != nil && trimmed == "```":
			cur.text = strings.Join(body, "\n")
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			body = append(body, l)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: unterminated ```go block", file, cur.line)
	}
	return blocks, nil
}

// normalize drops indentation and blank lines.
func normalize(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// containsLines reports whether want occurs in have as consecutive lines.
func containsLines(have, want []string) bool {
	if len(want) == 0 {
		return true
	}
outer:
	for i := 0; i+len(want) <= len(have); i++ {
		for j, w := range want {
			if have[i+j] != w {
				continue outer
			}
		}
		return true
	}
	return false
}

// exampleFiles maps each example_test.go of the module, and each Go file of
// the programs under examples/ (built and run by their own tests), to its
// normalized lines.
func exampleFiles(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, path)
		inExamples := strings.HasPrefix(rel, "examples"+string(filepath.Separator)) && strings.HasSuffix(d.Name(), ".go")
		if !d.IsDir() && (strings.HasSuffix(d.Name(), "example_test.go") || inExamples) {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			out[rel] = normalize(string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no example_test.go files found")
	}
	return out
}

var listingHeader = regexp.MustCompile(`^// package (\S+)$`)

func TestGoBlocks(t *testing.T) {
	examples := exampleFiles(t)
	n := 0
	for _, file := range markdownFiles(t) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, file)
		blocks, err := goBlocks(rel, string(b))
		if err != nil {
			t.Error(err)
			continue
		}
		for _, blk := range blocks {
			n++
			lines := normalize(blk.text)
			if len(lines) > 0 {
				if m := listingHeader.FindStringSubmatch(lines[0]); m != nil {
					for _, err := range checkListing(blk.text, filepath.Join(root, m[1])) {
						t.Errorf("%s:%d: listing of package %s: %v", blk.file, blk.line, m[1], err)
					}
					continue
				}
			}
			found := false
			for _, ex := range examples {
				if containsLines(ex, lines) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s:%d: this ```go block is in no example_test.go nor program under examples/ (it must appear there verbatim, modulo indentation, or be a listing opened by \"// package <dir>\"):\n%s",
					blk.file, blk.line, blk.text)
			}
		}
	}
	t.Logf("%d ```go blocks checked", n)
}

// elided is the "{ ... }" of a listing's struct whose fields it leaves out.
var elided = regexp.MustCompile(`\{\s*\.\.\.\s*\}`)

// checkListing parses a declaration listing (function bodies and elided
// struct fields left out) and checks each declaration against the
// package in dir.
func checkListing(text, dir string) []error {
	fset := token.NewFileSet()
	src := "package listing\n" + elided.ReplaceAllString(text, "{}")
	listing, err := parser.ParseFile(fset, "listing.go", src, 0)
	if err != nil {
		return []error{fmt.Errorf("does not parse: %w", err)}
	}
	pkg, err := parsePackage(fset, dir)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, decl := range listing.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			key := funcKey(fset, d)
			real, ok := pkg.funcs[key]
			if !ok {
				errs = append(errs, fmt.Errorf("%s is not declared", key))
			} else if got, want := signature(fset, d.Type), signature(fset, real.Type); got != want {
				errs = append(errs, fmt.Errorf("%s: listed as %s, declared as %s", key, got, want))
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					errs = append(errs, checkType(fset, s, pkg.types[s.Name.Name])...)
				case *ast.ValueSpec:
					for _, name := range s.Names {
						if !pkg.values[name.Name] {
							errs = append(errs, fmt.Errorf("%s is not declared", name.Name))
						}
					}
				}
			}
		}
	}
	return errs
}

// declared is what a package declares at its top level.
type declared struct {
	funcs  map[string]*ast.FuncDecl // by funcKey
	types  map[string]*ast.TypeSpec
	values map[string]bool // consts and vars
}

func parsePackage(fset *token.FileSet, dir string) (*declared, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	pkg := &declared{funcs: map[string]*ast.FuncDecl{}, types: map[string]*ast.TypeSpec{}, values: map[string]bool{}}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				pkg.funcs[funcKey(fset, d)] = d
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						pkg.types[s.Name.Name] = s
					case *ast.ValueSpec:
						for _, name := range s.Names {
							pkg.values[name.Name] = true
						}
					}
				}
			}
		}
	}
	return pkg, nil
}

// funcKey names a function, or a method with its receiver type.
func funcKey(fset *token.FileSet, d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return d.Name.Name
	}
	return "(" + expr(fset, d.Recv.List[0].Type) + ")." + d.Name.Name
}

// signature is a function type without its parameter names.
func signature(fset *token.FileSet, ft *ast.FuncType) string {
	list := func(fl *ast.FieldList) string {
		if fl == nil {
			return ""
		}
		var parts []string
		for _, f := range fl.List {
			for range max(1, len(f.Names)) {
				parts = append(parts, expr(fset, f.Type))
			}
		}
		return strings.Join(parts, ", ")
	}
	return "func(" + list(ft.Params) + ") (" + list(ft.Results) + ")"
}

func expr(fset *token.FileSet, e ast.Expr) string {
	var b bytes.Buffer
	if err := printer.Fprint(&b, fset, e); err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return b.String()
}

// checkType checks a listed type against the declared one: the same
// kind, and for a struct the fields the listing names, with their types.
func checkType(fset *token.FileSet, listed, real *ast.TypeSpec) []error {
	name := listed.Name.Name
	if real == nil {
		return []error{fmt.Errorf("type %s is not declared", name)}
	}
	ls, isStruct := listed.Type.(*ast.StructType)
	if !isStruct {
		if got, want := expr(fset, listed.Type), expr(fset, real.Type); got != want {
			return []error{fmt.Errorf("type %s: listed as %s, declared as %s", name, got, want)}
		}
		return nil
	}
	rs, ok := real.Type.(*ast.StructType)
	if !ok {
		return []error{fmt.Errorf("type %s is listed as a struct, declared as %s", name, expr(fset, real.Type))}
	}
	fields := map[string]string{}
	for _, f := range rs.Fields.List {
		for _, n := range f.Names {
			fields[n.Name] = expr(fset, f.Type)
		}
	}
	var errs []error
	for _, f := range ls.Fields.List {
		for _, n := range f.Names {
			if got, ok := fields[n.Name]; !ok {
				errs = append(errs, fmt.Errorf("type %s has no field %s", name, n.Name))
			} else if want := expr(fset, f.Type); got != want {
				errs = append(errs, fmt.Errorf("%s.%s: listed as %s, declared as %s", name, n.Name, want, got))
			}
		}
	}
	return errs
}
