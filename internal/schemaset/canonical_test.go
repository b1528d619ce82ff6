package schemaset

import "testing"

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

func TestDiffNamesLine(t *testing.T) {
	d := Diff("f.capnp", "a\nb\nc", "a\nB\nc")
	if len(d) != 1 || d[0] != "f.capnp:2:\n\tours:      b\n\treference: B" {
		t.Errorf("diff = %q", d)
	}
	if d := Diff("f", "a\n", "a"); d != nil {
		t.Errorf("equal texts differ: %q", d)
	}
}
