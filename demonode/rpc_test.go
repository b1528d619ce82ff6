package demonode

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func rpc(t *testing.T, n *Node, req string) map[string]json.RawMessage {
	t.Helper()
	out, err := n.ExecuteRPC(context.Background(), []byte(req), "/", "")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("reply %s: %v", out, err)
	}
	return m
}

func TestRPCMethods(t *testing.T) {
	n := New()
	defer n.Chain().Close()
	r := rpc(t, n, `{"jsonrpc":"2.0","method":"getblockcount","id":1}`)
	if string(r["result"]) != "0" || string(r["jsonrpc"]) != `"2.0"` {
		t.Fatalf("getblockcount: %v", r)
	}
	if _, has := r["error"]; has {
		t.Fatal("2.0 success reply carries error")
	}
	r = rpc(t, n, `{"method":"getbestblockhash","id":"x"}`)
	if string(r["result"]) != `"0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"` || string(r["error"]) != "null" || string(r["id"]) != `"x"` {
		t.Fatalf("getbestblockhash (1.0 envelope): %v", r)
	}
	r = rpc(t, n, `{"jsonrpc":"2.0","method":"generatetodescriptor","params":[3,"raw(51)"],"id":1}`)
	var hashes []string
	if err := json.Unmarshal(r["result"], &hashes); err != nil || len(hashes) != 3 {
		t.Fatalf("generatetodescriptor: %v", r)
	}
	r = rpc(t, n, `{"jsonrpc":"2.0","method":"getblockcount","id":1}`)
	if string(r["result"]) != "3" {
		t.Fatalf("height after generate: %s", r["result"])
	}
	r = rpc(t, n, `{"jsonrpc":"2.0","method":"getblockheader","params":{"blockhash":"`+hashes[2]+`"},"id":1}`)
	var hdr map[string]any
	json.Unmarshal(r["result"], &hdr)
	if hdr["height"].(float64) != 3 || hdr["hash"] != hashes[2] || hdr["previousblockhash"] != hashes[1] {
		t.Fatalf("getblockheader: %v", hdr)
	}
	r = rpc(t, n, `{"jsonrpc":"2.0","method":"getblockchaininfo","id":1}`)
	var info map[string]any
	json.Unmarshal(r["result"], &info)
	if info["chain"] != "regtest" || info["blocks"].(float64) != 3 {
		t.Fatalf("getblockchaininfo: %v", info)
	}
}

func TestRPCErrors(t *testing.T) {
	n := New()
	defer n.Chain().Close()
	cases := []struct{ req, code, msg string }{
		{`{"jsonrpc":"2.0","method":"nosuch","id":1}`, "-32601", "Method not found"},
		{`{"jsonrpc":"2.0","method":"getblockhash","params":[99],"id":1}`, "-8", "Block height out of range"},
		{`{"jsonrpc":"2.0","method":"getblockheader","params":["zz"],"id":1}`, "-8", "blockhash must be of length 64"},
		{`{"jsonrpc":"2.0","method":"generatetodescriptor","params":[1,"pkh(xyz)"],"id":1}`, "-5", "unsupported descriptor"},
		{`not json`, "-32700", "Parse error"},
	}
	for _, c := range cases {
		r := rpc(t, n, c.req)
		var e rpcError
		if err := json.Unmarshal(r["error"], &e); err != nil {
			t.Fatalf("%s: no error in %v", c.req, r)
		}
		if code, _ := json.Marshal(e.Code); string(code) != c.code || !strings.Contains(e.Message, c.msg) {
			t.Errorf("%s: error %+v, want %s %q", c.req, e, c.code, c.msg)
		}
	}
}

func TestRPCStopAndBatch(t *testing.T) {
	n := New()
	defer n.Chain().Close()
	out, err := n.ExecuteRPC(context.Background(), []byte(`[{"jsonrpc":"2.0","method":"getblockcount","id":1},{"jsonrpc":"2.0","method":"stop","id":2}]`), "/", "")
	if err != nil {
		t.Fatal(err)
	}
	var replies []map[string]json.RawMessage
	if err := json.Unmarshal(out, &replies); err != nil || len(replies) != 2 {
		t.Fatalf("batch: %s", out)
	}
	<-n.Stopped()
}

// Arguments that do not fit the method are refused as Bitcoin Core refuses
// them: -1 with the method's help for a wrong count, -8 for an unknown name.
func TestRPCArgumentCount(t *testing.T) {
	n := New()
	defer n.Chain().Close()
	cases := []struct{ req, code, msg string }{
		{`{"jsonrpc":"2.0","method":"getblockcount","params":["extra"],"id":1}`, "-1", "getblockcount\n\nThe height of the demo chain's tip"},
		{`{"jsonrpc":"2.0","method":"getblockhash","params":[],"id":1}`, "-1", "getblockhash height\n\n"},
		{`{"jsonrpc":"2.0","method":"getblockhash","params":[0,1],"id":1}`, "-1", "getblockhash height\n\n"},
		{`{"jsonrpc":"2.0","method":"getblockcount","params":{"x":1},"id":1}`, "-8", "Unknown named parameter x"},
	}
	for _, c := range cases {
		r := rpc(t, n, c.req)
		var e rpcError
		if err := json.Unmarshal(r["error"], &e); err != nil {
			t.Fatalf("%s: no error in %v", c.req, r)
		}
		if code, _ := json.Marshal(e.Code); string(code) != c.code || !strings.HasPrefix(e.Message, c.msg) {
			t.Errorf("%s: error %+v, want %s %q", c.req, e, c.code, c.msg)
		}
	}
	r := rpc(t, n, `{"jsonrpc":"2.0","method":"help","params":["getblockhash"],"id":1}`)
	if string(r["result"]) != `"getblockhash height\n\nThe hash of the block at height in the demo chain."` {
		t.Errorf("help getblockhash: %s", r["result"])
	}
}
