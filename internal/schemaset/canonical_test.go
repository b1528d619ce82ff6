package schemaset

import (
	"strings"
	"testing"
)

func TestStripOwnAnnotations(t *testing.T) {
	in := `# x.capnp
@0x1;
$import "/go.capnp".package("v32capnp");
$import "/capnp/c++.capnp".namespace("a");
  getTip @2 (context :C) -> (result :R, hasResult :Bool $import "/go.capnp".name("has(Res)ultFlag"));
  hash @0 :Data $import "/bitcoinipc.capnp".domain(hash);  # ptr[0]
  timeout @0 :Float64 = 1 $import "/mp/proxy.capnp".name("timeout") $import "/bitcoinipc.capnp".domain(millis);  # bits[0, 64)`
	want := `# x.capnp
@0x1;
$import "/capnp/c++.capnp".namespace("a");
  getTip @2 (context :C) -> (result :R, hasResult :Bool);
  hash @0 :Data;  # ptr[0]
  timeout @0 :Float64 = 1 $import "/mp/proxy.capnp".name("timeout");  # bits[0, 64)`
	if got := StripOwnAnnotations(in); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestDiff(t *testing.T) {
	cases := []struct{ name, want, got, diff string }{
		{"equal", "a\nb\n", "a\nb\n", ""},
		{"changed", "a\nb\nc\n", "a\nB\nc\n", "@@ -2 +2 @@\n-b\n+B"},
		// An inserted line is one hunk; the lines after it still match.
		{"inserted", "a\nc\nd\n", "a\nb\nc\nd\n", "@@ -2 +2 @@\n+b"},
		{"removed", "a\nb\nc\nd\n", "a\nc\nd\n", "@@ -2 +2 @@\n-b"},
		{"two runs", "a\nb\nc\nd\ne", "a\nx\nc\nd\ny\nz", "@@ -2 +2 @@\n-b\n+x\n@@ -5 +5 @@\n-e\n+y\n+z"},
		{"final newline", "a\n", "a", "@@ -2 +2 @@\n-"},
	}
	for _, c := range cases {
		if d := Diff(c.want, c.got); d != c.diff {
			t.Errorf("%s: Diff =\n%s\nwant\n%s", c.name, d, c.diff)
		}
	}
}

func TestDiffIsBounded(t *testing.T) {
	want := strings.Repeat("x\n", 500)
	d := Diff(want, "")
	lines := strings.Split(d, "\n")
	if len(lines) != maxDiffLines+1 || !strings.HasPrefix(lines[maxDiffLines], "… ") {
		t.Fatalf("%d lines, last %q", len(lines), lines[len(lines)-1])
	}
}
