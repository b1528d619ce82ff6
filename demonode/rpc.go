package demonode

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

// helpText is the demo node's answer to help: its methods, as Core lists
// them.
const helpText = `generatetoaddress nblocks "address"
generatetodescriptor num_blocks "descriptor"
getbestblockhash
getblock "blockhash" ( verbosity )
getblockchaininfo
getblockcount
getblockhash height
getblockheader "blockhash" ( verbose )
getmempoolinfo
getrawmempool ( verbose )
sendrawtransaction "hexstring" ( maxfeerate )
stop
submitblock "hexdata"
submitheader "hexdata"`

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

func (p params) count() int { return len(p.pos) + len(p.named) }

func (n *Node) dispatch(ctx context.Context, method string, raw json.RawMessage) (any, *rpcError) {
	p, perr := parseParams(raw)
	if perr != nil {
		return nil, perr
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
		return helpText, nil
	}
	return nil, &rpcError{rpcMethodNotFound, "Method not found"}
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
