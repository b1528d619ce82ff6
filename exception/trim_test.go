package exception

import "testing"

func TestTrimCallName(t *testing.T) {
	cases := map[string]string{
		"Init.construct: rpc: connection closed":             "rpc: connection closed",
		"@0x0.@0: rpc: bootstrap: connection closed":         "rpc: bootstrap: connection closed",
		"@0x8838c700ba5cba65.@0: broken":                     "broken",
		"Mining.getTip: not ours":                            "Mining.getTip: not ours",
		"@0x0 is not a call name: text":                      "@0x0 is not a call name: text",
		"std::exception: Init.construct: something happened": "std::exception: Init.construct: something happened",
	}
	for in, want := range cases {
		if got := trimCallName(in, "Init", "construct"); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
