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

// maxDiffLines bounds the lines Diff shows.
const maxDiffLines = 80

// Diff describes how got differs from want, line by line, or returns ""
// when they are equal. Each run of differing lines is shown as a header
// naming its first line in want and in got ("@@ -12 +12 @@"), then the
// lines of want that are missing from got ("-") and the lines of got that
// are missing from want ("+"). Long diffs are cut after maxDiffLines lines.
func Diff(want, got string) string {
	if want == got {
		return ""
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	// lcs[i][j] is the length of the longest common subsequence of w[i:]
	// and g[j:].
	lcs := make([][]int32, len(w)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(g)+1)
	}
	for i := len(w) - 1; i >= 0; i-- {
		for j := len(g) - 1; j >= 0; j-- {
			if w[i] == g[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(w) || j < len(g) {
		if i < len(w) && j < len(g) && w[i] == g[j] {
			i, j = i+1, j+1
			continue
		}
		out = append(out, fmt.Sprintf("@@ -%d +%d @@", i+1, j+1))
		for i < len(w) || j < len(g) {
			if i < len(w) && j < len(g) && w[i] == g[j] {
				break
			}
			if j == len(g) || i < len(w) && lcs[i+1][j] >= lcs[i][j+1] {
				out = append(out, "-"+w[i])
				i++
			} else {
				out = append(out, "+"+g[j])
				j++
			}
		}
	}
	if len(out) > maxDiffLines {
		out = append(out[:maxDiffLines], fmt.Sprintf("… %d more lines", len(out)-maxDiffLines))
	}
	return strings.Join(out, "\n")
}
