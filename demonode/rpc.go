package demonode

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// JSON-RPC error codes, as Bitcoin Core uses them.
const (
	rpcInvalidRequest    = -32600
	rpcMethodNotFound    = -32601
	rpcParseError        = -32700
	rpcMiscError         = -1
	rpcTypeError         = -3
	rpcInvalidAddress    = -5
	rpcInvalidParameter  = -8
	rpcInvalidParams     = -32602
	rpcBlockNotFoundCode = -5
)

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

type rpcRequest struct {
	Version string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	ID      json.RawMessage `json:"id"`
}

// ExecuteRPC runs a JSON-RPC request (an object, or a batch array) as
// Bitcoin Core's Rpc.executeRpc does, and returns the reply: for a
// JSON-RPC 2.0 request {"jsonrpc":"2.0","result"|"error",...,"id"}, else
// the 1.0 form {"result":…,"error":…,"id":…}.
func (n *Node) ExecuteRPC(ctx context.Context, request []byte, uri, user string) ([]byte, error) {
	trimmed := bytes.TrimSpace(request)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(trimmed, &batch); err != nil {
			return reply(rpcRequest{}, nil, &rpcError{rpcParseError, "Parse error"})
		}
		out := make([]json.RawMessage, 0, len(batch))
		for _, r := range batch {
			b, err := n.executeOne(ctx, r)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
		return json.Marshal(out)
	}
	return n.executeOne(ctx, trimmed)
}

func (n *Node) executeOne(ctx context.Context, raw []byte) ([]byte, error) {
	var req rpcRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return reply(req, nil, &rpcError{rpcParseError, "Parse error"})
	}
	if req.Method == "" {
		return reply(req, nil, &rpcError{rpcInvalidRequest, "Missing method"})
	}
	result, rerr := n.dispatch(ctx, req.Method, req.Params)
	return reply(req, result, rerr)
}

func reply(req rpcRequest, result any, rerr *rpcError) ([]byte, error) {
	id := req.ID
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	if req.Version == "2.0" {
		m := map[string]any{"jsonrpc": "2.0", "id": id}
		if rerr != nil {
			m["error"] = rerr
		} else {
			m["result"] = result
		}
		return json.Marshal(m)
	}
	return json.Marshal(struct {
		Result any             `json:"result"`
		Error  *rpcError       `json:"error"`
		ID     json.RawMessage `json:"id"`
	}{result, rerr, id})
}

// params holds positional or named arguments.
type params struct {
	pos   []json.RawMessage
	named map[string]json.RawMessage
}

func parseParams(raw json.RawMessage) (params, *rpcError) {
	var p params
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return p, nil
	}
	if raw[0] == '[' {
		if err := json.Unmarshal(raw, &p.pos); err != nil {
			return p, &rpcError{rpcInvalidParams, "Params must be an array or object"}
		}
		return p, nil
	}
	if err := json.Unmarshal(raw, &p.named); err != nil {
		return p, &rpcError{rpcInvalidParams, "Params must be an array or object"}
	}
	return p, nil
}

// get returns argument i (by position) or name, or nil when absent.
func (p params) get(i int, name string) json.RawMessage {
	if p.named != nil {
		return p.named[name]
	}
	if i < len(p.pos) {
		return p.pos[i]
	}
	return nil
}

// rpcMethod is what the demo node knows of a method before running it:
// its parameters (the first required of them are required) and its help.
type rpcMethod struct {
	params   []string
	required int
	help     string
}

// rpcMethods are the methods the demo node serves. As in Bitcoin Core, a
// call with too few or too many positional arguments is answered with
// error -1 and the method's help, and an unknown named argument with -8.
var rpcMethods = map[string]rpcMethod{
	"getbestblockhash":     {help: "getbestblockhash\n\nThe hash of the demo chain's tip, as a hex string."},
	"getblockchaininfo":    {help: "getblockchaininfo\n\nA summary of the demo chain: chain name, height, tip, difficulty."},
	"getblockcount":        {help: "getblockcount\n\nThe height of the demo chain's tip (the genesis block is at height 0)."},
	"getblockhash":         {params: []string{"height"}, required: 1, help: "getblockhash height\n\nThe hash of the block at height in the demo chain."},
	"getblockheader":       {params: []string{"blockhash", "verbose"}, required: 1, help: "getblockheader \"blockhash\" ( verbose )\n\nThe header of a block: a JSON object, or its serialization in hex when verbose is false."},
	"generatetodescriptor": {params: []string{"num_blocks", "descriptor"}, required: 2, help: "generatetodescriptor num_blocks \"descriptor\"\n\nMine num_blocks blocks at once, paying to descriptor (raw(HEX) or addr(ADDRESS)); returns their hashes."},
	"generatetoaddress":    {params: []string{"nblocks", "address", "maxtries"}, required: 2, help: "generatetoaddress nblocks \"address\" ( maxtries )\n\nMine nblocks blocks at once, paying to address; returns their hashes."},
	"getblock":             {params: []string{"blockhash", "verbosity"}, required: 1, help: "getblock \"blockhash\" ( verbosity )\n\nA block of the demo chain: its serialization in hex (verbosity 0) or a JSON object (1)."},
	"getmempoolinfo":       {help: "getmempoolinfo\n\nThe state of the demo mempool: size, bytes, fees and policy."},
	"getrawmempool":        {params: []string{"verbose"}, help: "getrawmempool ( verbose )\n\nThe txids in the demo mempool, or a JSON object per transaction when verbose is true."},
	"sendrawtransaction":   {params: []string{"hexstring", "maxfeerate"}, required: 1, help: "sendrawtransaction \"hexstring\" ( maxfeerate )\n\nAdd a serialized transaction to the demo mempool; returns its txid."},
	"submitblock":          {params: []string{"hexdata", "dummy"}, required: 1, help: "submitblock \"hexdata\" ( \"dummy\" )\n\nSubmit a serialized block to the demo chain; null when accepted, else the reason."},
	"submitheader":         {params: []string{"hexdata"}, required: 1, help: "submitheader \"hexdata\"\n\nCheck a serialized block header against the demo chain."},
	"stop":                 {help: "stop\n\nStop the demo node."},
	"help":                 {params: []string{"command"}, help: "help ( \"command\" )\n\nList the methods, or explain one."},
}

// checkArgs answers a call whose arguments do not fit the method.
func (m rpcMethod) checkArgs(p params) *rpcError {
	if p.named != nil {
		for name := range p.named {
			if !slices.Contains(m.params, name) {
				return &rpcError{rpcInvalidParameter, "Unknown named parameter " + name}
			}
		}
		return nil
	}
	if len(p.pos) < m.required || len(p.pos) > len(m.params) {
		return &rpcError{rpcMiscError, m.help}
	}
	return nil
}

func (n *Node) dispatch(ctx context.Context, method string, raw json.RawMessage) (any, *rpcError) {
	p, perr := parseParams(raw)
	if perr != nil {
		return nil, perr
	}
	m, ok := rpcMethods[method]
	if !ok {
		return nil, &rpcError{rpcMethodNotFound, "Method not found"}
	}
	if err := m.checkArgs(p); err != nil {
		return nil, err
	}
	c := n.chain
	switch method {
	case "getblockcount":
		return c.Height(), nil
	case "getbestblockhash":
		h, _ := c.Tip()
		return h.String(), nil
	case "getblockchaininfo":
		return c.BlockchainInfo(), nil
	case "getblockhash":
		var height int32
		if err := argInt(p.get(0, "height"), &height); err != nil {
			return nil, err
		}
		h, ok := c.HashAtHeight(height)
		if !ok {
			return nil, &rpcError{rpcInvalidParameter, "Block height out of range"}
		}
		return h.String(), nil
	case "getblockheader":
		return n.rpcGetBlockHeader(p)
	case "generatetodescriptor":
		return n.rpcGenerate(p)
	case "generatetoaddress":
		return n.rpcGenerateToAddress(p)
	case "getblock":
		return n.rpcGetBlock(p)
	case "submitblock":
		return n.rpcSubmitBlock(p)
	case "submitheader":
		return n.rpcSubmitHeader(p)
	case "sendrawtransaction":
		return n.rpcSendRawTransaction(p)
	case "getrawmempool":
		return n.rpcGetRawMempool(p)
	case "getmempoolinfo":
		return n.rpcGetMempoolInfo()
	case "stop":
		if n.stop != nil {
			go n.stop()
		}
		return "Bitcoin Core stopping", nil
	case "help":
		return rpcHelp(p)
	}
	return nil, &rpcError{rpcMethodNotFound, "Method not found"}
}

// rpcHelp lists the methods (their first help lines), or explains one.
func rpcHelp(p params) (any, *rpcError) {
	if raw := p.get(0, "command"); raw != nil {
		var name string
		if json.Unmarshal(raw, &name) != nil {
			return nil, &rpcError{rpcTypeError, "command must be a string"}
		}
		m, ok := rpcMethods[name]
		if !ok {
			return "help: unknown command: " + name, nil
		}
		return m.help, nil
	}
	var lines []string
	for _, m := range rpcMethods {
		lines = append(lines, strings.SplitN(m.help, "\n", 2)[0])
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n"), nil
}

func argInt(raw json.RawMessage, out *int32) *rpcError {
	if raw == nil {
		return &rpcError{rpcMiscError, "missing required argument"}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &rpcError{rpcTypeError, "JSON value of type " + jsonType(raw) + " is not of expected type number"}
	}
	return nil
}

func jsonType(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "null"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

func (n *Node) rpcGetBlockHeader(p params) (any, *rpcError) {
	hash, herr := argHash(p.get(0, "blockhash"), "blockhash")
	if herr != nil {
		return nil, herr
	}
	verbose := true
	if v := p.get(1, "verbose"); v != nil {
		if json.Unmarshal(v, &verbose) != nil {
			return nil, &rpcError{rpcTypeError, "verbose must be a boolean"}
		}
	}
	info, ok := n.chain.BlockInfo(hash)
	if !ok {
		return nil, &rpcError{rpcBlockNotFoundCode, "Block not found"}
	}
	if !verbose {
		var buf bytes.Buffer
		if err := info.Block.Header.Serialize(&buf); err != nil {
			return nil, &rpcError{rpcMiscError, err.Error()}
		}
		return hex.EncodeToString(buf.Bytes()), nil
	}
	return headerJSON(hash, info), nil
}

func (n *Node) rpcGenerate(p params) (any, *rpcError) {
	var num int32
	if err := argInt(p.get(0, "num_blocks"), &num); err != nil {
		return nil, err
	}
	if num < 0 || num > 1000 {
		return nil, &rpcError{rpcInvalidParameter, "num_blocks must be between 0 and 1000"}
	}
	var desc string
	if raw := p.get(1, "descriptor"); raw == nil || json.Unmarshal(raw, &desc) != nil {
		return nil, &rpcError{rpcTypeError, "descriptor must be a string"}
	}
	script, err := descriptorScript(desc)
	if err != nil {
		return nil, &rpcError{rpcInvalidAddress, err.Error()}
	}
	return n.generate(int(num), script)
}

// generate mines num blocks paying to script and returns their hashes.
func (n *Node) generate(num int, script []byte) (any, *rpcError) {
	hashes, gerr := n.chain.GenerateToScript(num, script)
	if gerr != nil {
		return nil, &rpcError{rpcMiscError, gerr.Error()}
	}
	out := make([]string, len(hashes))
	for i, h := range hashes {
		out[i] = h.String()
	}
	return out, nil
}

// descriptorScript supports the descriptors a regtest demo needs:
// raw(HEX) and addr(ADDRESS), with or without a #checksum.
func descriptorScript(desc string) ([]byte, error) {
	if i := strings.IndexByte(desc, '#'); i >= 0 {
		desc = desc[:i]
	}
	switch {
	case strings.HasPrefix(desc, "raw(") && strings.HasSuffix(desc, ")"):
		b, err := hex.DecodeString(desc[4 : len(desc)-1])
		if err != nil {
			return nil, errors.New("raw(): invalid hex script")
		}
		return b, nil
	case strings.HasPrefix(desc, "addr(") && strings.HasSuffix(desc, ")"):
		addr, err := btcutil.DecodeAddress(desc[5:len(desc)-1], &chaincfg.RegressionNetParams)
		if err != nil {
			return nil, fmt.Errorf("addr(): %v", err)
		}
		return txscript.PayToAddrScript(addr)
	}
	return nil, fmt.Errorf("Error: unsupported descriptor '%s' (the demo node takes raw(HEX) or addr(ADDRESS))", desc)
}
