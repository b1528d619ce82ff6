package cli

import (
	"encoding/json"
	"fmt"
	"strings"
)

// jsonParams lists, per RPC method, the positional parameters (by index and
// name) that bitcoin-cli sends as JSON rather than as strings. Parameters
// not listed are strings. Unknown methods fall back to "JSON if it parses".
var jsonParams = map[string]map[int]string{
	"getblockhash":         {0: "height"},
	"getblockheader":       {1: "verbose"},
	"generatetodescriptor": {0: "num_blocks", 2: "maxtries"},
	"generatetoaddress":    {0: "nblocks", 2: "maxtries"},
	"getblock":             {1: "verbosity"},
	"waitfornewblock":      {0: "timeout"},
}

func isJSONParam(method string, idx int, name string) (known, isJSON bool) {
	m, ok := jsonParams[method]
	if !ok {
		return false, false
	}
	for i, n := range m {
		if (name == "" && i == idx) || (name != "" && n == name) {
			return true, true
		}
	}
	return true, false
}

func convert(method string, idx int, name, value string) (json.RawMessage, error) {
	known, isJSON := isJSONParam(method, idx, name)
	if known && !isJSON {
		return json.Marshal(value)
	}
	var v any
	if err := json.Unmarshal([]byte(value), &v); err == nil {
		return json.RawMessage(value), nil
	} else if known {
		return nil, fmt.Errorf("Error parsing JSON: %s", value)
	}
	return json.Marshal(value)
}

// BuildRequest makes the JSON-RPC 2.0 request object bitcoin-cli sends for
// method and its command line arguments. With named, arguments are
// key=value pairs; a bare value is an error, as in bitcoin-cli.
func BuildRequest(method string, args []string, named bool) ([]byte, error) {
	req := map[string]any{"jsonrpc": "2.0", "method": method, "id": 1}
	if named {
		params := map[string]json.RawMessage{}
		for _, a := range args {
			k, v, ok := strings.Cut(a, "=")
			if !ok {
				return nil, fmt.Errorf("No '=' in named argument '%s', this needs to be present for every argument (even if it is empty)", a)
			}
			raw, err := convert(method, -1, k, v)
			if err != nil {
				return nil, err
			}
			params[k] = raw
		}
		req["params"] = params
	} else {
		params := make([]json.RawMessage, 0, len(args))
		for i, a := range args {
			raw, err := convert(method, i, "", a)
			if err != nil {
				return nil, err
			}
			params = append(params, raw)
		}
		req["params"] = params
	}
	return json.Marshal(req)
}

// RPCError is a JSON-RPC error reply.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("error code: %d\nerror message:\n%s", e.Code, e.Message)
}

// ExitCode is bitcoin-cli's exit status for an RPC error: abs(code).
func (e *RPCError) ExitCode() int {
	if e.Code < 0 {
		return -e.Code
	}
	return e.Code
}

// FormatReply renders a JSON-RPC reply as bitcoin-cli prints it: a string
// result raw, null as nothing, anything else as JSON indented by 2. An
// error reply comes back as *RPCError.
func FormatReply(reply []byte) (string, error) {
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *RPCError       `json:"error"`
	}
	if err := json.Unmarshal(reply, &r); err != nil {
		return "", fmt.Errorf("error: couldn't parse reply from server: %v", err)
	}
	if r.Error != nil {
		return "", r.Error
	}
	res := strings.TrimSpace(string(r.Result))
	if res == "" || res == "null" {
		return "", nil
	}
	var s string
	if res[0] == '"' && json.Unmarshal(r.Result, &s) == nil {
		return s, nil
	}
	var v any
	if err := json.Unmarshal(r.Result, &v); err != nil {
		return res, nil
	}
	return indentJSON(r.Result), nil
}

func indentJSON(raw json.RawMessage) string {
	var b strings.Builder
	var out []byte
	if o, err := json.MarshalIndent(json.RawMessage(raw), "", "  "); err == nil {
		out = o
	} else {
		out = raw
	}
	b.Write(out)
	return b.String()
}
