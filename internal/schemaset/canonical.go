package schemaset

import (
	"fmt"
	"strings"
)

// OwnAnnotationFiles are the schema files whose annotations are ours alone.
// They do not change the wire, so the contract comparison ignores them.
var OwnAnnotationFiles = []string{"/go.capnp", "/bitcoinipc.capnp"}

// StripOwnAnnotations removes our own annotations from `capnp compile
// -ocapnp` output: inline uses are cut out, and lines that held only a
// file-level annotation are dropped.
func StripOwnAnnotations(text string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		stripped := line
		for _, f := range OwnAnnotationFiles {
			stripped = removeAnnotation(stripped, `$import "`+f+`".`)
		}
		if stripped != line && strings.TrimSpace(stripped) == ";" {
			continue
		}
		out = append(out, stripped)
	}
	return strings.Join(out, "\n")
}

// removeAnnotation cuts every use of an annotation that starts with prefix:
// the name, an optional parenthesised value (quotes respected), and the
// space before it.
func removeAnnotation(line, prefix string) string {
	for {
		i := strings.Index(line, prefix)
		if i < 0 {
			return line
		}
		j := i + len(prefix)
		for j < len(line) && (isIdent(line[j])) {
			j++
		}
		if j < len(line) && line[j] == '(' {
			depth, inStr := 0, false
			for ; j < len(line); j++ {
				c := line[j]
				switch {
				case inStr && c == '\\':
					j++
				case c == '"':
					inStr = !inStr
				case !inStr && c == '(':
					depth++
				case !inStr && c == ')':
					depth--
				}
				if depth == 0 {
					j++
					break
				}
			}
		}
		start := i
		if start > 0 && line[start-1] == ' ' {
			start--
		}
		line = line[:start] + line[j:]
	}
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Diff compares two canonical dumps line by line and describes every
// difference with its line number, or returns nil when they are equal.
func Diff(name, got, want string) []string {
	g := strings.Split(strings.TrimRight(got, "\n"), "\n")
	w := strings.Split(strings.TrimRight(want, "\n"), "\n")
	var diffs []string
	n := max(len(g), len(w))
	for i := 0; i < n; i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			diffs = append(diffs, fmt.Sprintf("%s:%d:\n\tours:      %s\n\treference: %s", name, i+1, gl, wl))
		}
	}
	return diffs
}
