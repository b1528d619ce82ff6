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

// checkListing parses a declaration listing and checks each declaration
// against the package in dir: functions by signature, types by kind and the
// struct fields listed, and every function body or variable value the
// listing shows as code the package has (see shownIn).
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
			} else if d.Body != nil && !shownIn(source(fset, src, d.Body), pkg.bodies[key]) {
				errs = append(errs, fmt.Errorf("%s: the listed body is not the declared one (elide with \"// ...\" lines)", key))
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					errs = append(errs, checkType(fset, s, pkg.types[s.Name.Name])...)
				case *ast.ValueSpec:
					for k, name := range s.Names {
						if !pkg.values[name.Name] {
							errs = append(errs, fmt.Errorf("%s is not declared", name.Name))
						} else if k < len(s.Values) && !shownIn(source(fset, src, s.Values[k]), pkg.inits[name.Name]) {
							errs = append(errs, fmt.Errorf("%s: the listed value is not the declared one", name.Name))
						}
					}
				}
			}
		}
	}
	return errs
}

// source is the text of node n of the file src.
func source(fset *token.FileSet, src string, n ast.Node) string {
	f := fset.File(n.Pos())
	return src[f.Offset(n.Pos()):f.Offset(n.End())]
}

// elision is a listing line that stands for code left out.
var elision = regexp.MustCompile(`^//\s*\.\.\.`)

// shownIn reports whether a listed body or value is one of the real ones:
// its lines, split at elision lines ("// ... decode res.Result()"), occur
// in it in order, each part as consecutive lines (modulo indentation and
// blank lines).
func shownIn(listed string, real []string) bool {
	var parts [][]string
	cur := []string{}
	for _, l := range normalize(listed) {
		if elision.MatchString(l) {
			parts, cur = append(parts, cur), []string{}
			continue
		}
		cur = append(cur, l)
	}
	parts = append(parts, cur)
candidates:
	for _, r := range real {
		have := normalize(r)
		for _, p := range parts {
			i := index(have, p)
			if i < 0 {
				continue candidates
			}
			have = have[i+len(p):]
		}
		return true
	}
	return false
}

// index is the position of want as consecutive lines in have, or -1.
func index(have, want []string) int {
outer:
	for i := 0; i+len(want) <= len(have); i++ {
		for j, w := range want {
			if have[i+j] != w {
				continue outer
			}
		}
		return i
	}
	return -1
}

// declared is what a package declares at its top level.
type declared struct {
	funcs  map[string]*ast.FuncDecl // by funcKey
	bodies map[string][]string      // by funcKey: the body of each (several for init)
	types  map[string]*ast.TypeSpec
	values map[string]bool     // consts and vars
	inits  map[string][]string // the values of consts and vars
}

func parsePackage(fset *token.FileSet, dir string) (*declared, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	pkg := &declared{funcs: map[string]*ast.FuncDecl{}, bodies: map[string][]string{},
		types: map[string]*ast.TypeSpec{}, values: map[string]bool{}, inits: map[string][]string{}}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		src := string(b)
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), src, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				key := funcKey(fset, d)
				pkg.funcs[key] = d
				if d.Body != nil {
					pkg.bodies[key] = append(pkg.bodies[key], source(fset, src, d.Body))
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						pkg.types[s.Name.Name] = s
					case *ast.ValueSpec:
						for k, name := range s.Names {
							pkg.values[name.Name] = true
							if k < len(s.Values) {
								pkg.inits[name.Name] = append(pkg.inits[name.Name], source(fset, src, s.Values[k]))
							}
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
