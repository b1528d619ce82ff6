package rt

import "testing"

// What go-capnp logs when a peer goes away is noise; anything else is not.
func TestNoise(t *testing.T) {
	cases := map[string]bool{
		"reader: transport: stream transport: receive: EOF":                                      true,
		"send return: rpc: send message: transport: stream transport: send: broken pipe":         true,
		"reader: transport: stream transport: receive: read unix @->x: connection reset by peer": true,
		"rpc: send release: send message: context canceled":                                      true,
		"reader: transport: message too large":                                                   false,
		"incoming call: results destination is not caller":                                       false,
		"read call: EOF in the middle of something":                                              false,
	}
	for msg, want := range cases {
		if noise(msg) != want {
			t.Errorf("noise(%q) = %v, want %v", msg, !want, want)
		}
	}
}
