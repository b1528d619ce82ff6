package cli

import (
	"errors"
	"testing"
)

func TestBuildRequest(t *testing.T) {
	cases := []struct {
		method string
		args   []string
		named  bool
		want   string
	}{
		{"getblockcount", nil, false, `{"id":1,"jsonrpc":"2.0","method":"getblockcount","params":[]}`},
		{"getblockhash", []string{"0"}, false, `{"id":1,"jsonrpc":"2.0","method":"getblockhash","params":[0]}`},
		{"getblockheader", []string{"00ab", "false"}, false, `{"id":1,"jsonrpc":"2.0","method":"getblockheader","params":["00ab",false]}`},
		{"generatetodescriptor", []string{"3", "raw(51)"}, false, `{"id":1,"jsonrpc":"2.0","method":"generatetodescriptor","params":[3,"raw(51)"]}`},
		{"getblockheader", []string{"blockhash=12", "verbose=true"}, true, `{"id":1,"jsonrpc":"2.0","method":"getblockheader","params":{"blockhash":"12","verbose":true}}`},
		{"somethingelse", []string{"12", "abc", `{"a":1}`}, false, `{"id":1,"jsonrpc":"2.0","method":"somethingelse","params":[12,"abc",{"a":1}]}`},
	}
	for _, c := range cases {
		got, err := BuildRequest(c.method, c.args, c.named)
		if err != nil || string(got) != c.want {
			t.Errorf("%s %v: got %s, %v\nwant %s", c.method, c.args, got, err, c.want)
		}
	}
	if _, err := BuildRequest("getblockhash", []string{"x"}, false); err == nil {
		t.Error("non-JSON height accepted")
	}
	if _, err := BuildRequest("getblockhash", []string{"5"}, true); err == nil {
		t.Error("named argument without '=' accepted")
	}
}

func TestFormatReply(t *testing.T) {
	cases := map[string]string{
		`{"result":5,"error":null,"id":1}`:                  "5",
		`{"jsonrpc":"2.0","result":"abc","id":1}`:           "abc",
		`{"result":null,"error":null,"id":1}`:               "",
		`{"jsonrpc":"2.0","result":{"a":[1,2]},"id":1}`:     "{\n  \"a\": [\n    1,\n    2\n  ]\n}",
		`{"jsonrpc":"2.0","result":true,"id":1}`:            "true",
		`{"jsonrpc":"2.0","result":["x","y"],"id":"abc"}`:   "[\n  \"x\",\n  \"y\"\n]",
		`{"jsonrpc":"2.0","result":1.5e-10,"id":"abc"}`:     "1.5e-10",
		`{"jsonrpc":"2.0","result":"with\nnewline","id":1}`: "with\nnewline",
	}
	for in, want := range cases {
		got, err := FormatReply([]byte(in))
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := FormatReply([]byte(`{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}`))
	var re *RPCError
	if !errors.As(err, &re) || re.ExitCode() != 32601 || re.Error() != "error code: -32601\nerror message:\nMethod not found" {
		t.Fatalf("error reply: %v", err)
	}
}
