package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/domain"
	"github.com/bitcoin-ipc/bitcoin-ipc/miner"
	nodeapi "github.com/bitcoin-ipc/bitcoin-ipc/node"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// opTrue is the payout script of blocks mined by `mining submit`.
var opTrue = []byte{0x51}

// extraNonce follows the BIP34 height push in our coinbase scriptSig (a
// push of "bitcoin-ipc"); it also keeps the scriptSig at the 2-byte
// minimum at heights 1-16, whose height push is a single opcode.
var extraNonce = append([]byte{11}, "bitcoin-ipc"...)

func clientCommand(ctx context.Context, o *options, n *node, args []string, env Env) error {
	out := env.Stdout
	switch args[0] {
	case "probe":
		fmt.Fprintln(out, n.h.Version())
		return nil
	case "echo":
		return echoCommand(ctx, n, args[1:], out)
	case "mining":
		m, err := n.h.Mining(ctx)
		if err != nil {
			return err
		}
		defer m.Release()
		return miningCommand(ctx, o, n, m, args[1], args[2:], out)
	}
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

// echoCommand calls Echo.echo once per argument. One answer is printed as
// it is; several as a JSON array, as bitcoin-cli prints `echo a b` (Bitcoin
// Core's echo RPC returns its arguments as an array).
func echoCommand(ctx context.Context, n *node, texts []string, out io.Writer) error {
	e, err := n.h.Echo(ctx)
	if err != nil {
		return err
	}
	defer e.Destroy(ctx)
	answers := make([]string, 0, len(texts))
	for _, text := range texts {
		r, err := e.Echo(ctx, text)
		if err != nil {
			return err
		}
		answers = append(answers, r)
	}
	if len(answers) == 1 {
		fmt.Fprintln(out, answers[0])
		return nil
	}
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(answers)
}

// rpcDispatch runs `rpc METHOD ARGS...`: over IPC where the node has
// Init.makeRpc (v32), else, as bitcoin-cli does, over HTTP unless
// -ipconly; with -ipcconnect=0 over HTTP at once, and with
// -ipcconnect=auto over HTTP when no node is on the socket. -debug=ipc
// logs the path.
func rpcDispatch(ctx context.Context, o *options, args []string, env Env) error {
	req, err := BuildRequest(args[1], args[2:], o.named)
	if err != nil {
		return usageError{err.Error()}
	}
	log := o.logger(env.Stderr)
	overHTTP := func(msg string, args ...any) error {
		reply, url, err := httpRPC(ctx, o, req)
		log.Debug(msg, append(args, "url", url)...)
		if err != nil {
			return err
		}
		return printReply(reply, env.Stdout)
	}
	if o.ipcconnect == "" || o.ipcconnect == "0" {
		if o.ipconly {
			return usageError{"-ipconly with -ipcconnect=0 leaves no way to reach the node"}
		}
		return overHTTP("rpc over HTTP (-ipcconnect=0)")
	}
	err = withNode(ctx, o, env, func(n *node) error { return rpcOverIPC(ctx, o, req, n, log, env.Stdout, overHTTP) })
	if errors.Is(err, errNoNode) && o.ipcconnect == "auto" && !o.ipconly {
		// bitcoin-cli's default: the socket when a node is there, else HTTP.
		return overHTTP("rpc over HTTP: no node on the IPC socket (-ipcconnect=auto)")
	}
	return err
}

// rpcOverIPC sends req through Init.makeRpc and Rpc.executeRpc, or over
// HTTP when the node's release has no makeRpc and -ipconly allows it.
func rpcOverIPC(ctx context.Context, o *options, req []byte, n *node, log *slog.Logger, out io.Writer, overHTTP func(string, ...any) error) error {
	r, err := n.h.Rpc(ctx)
	if errors.Is(err, nodeapi.ErrUnsupported) {
		if o.ipconly {
			return fmt.Errorf("%w (-ipconly forbids the HTTP fallback)", err)
		}
		return overHTTP("rpc over HTTP: the node has no Init.makeRpc", "version", n.h.Version())
	}
	if err != nil {
		return err
	}
	defer r.Release()
	log.Debug("rpc over IPC: Init.makeRpc, Rpc.executeRpc", "version", n.h.Version(), "address", n.addr)
	reply, err := r.ExecuteRpc(ctx, req, "/", "")
	if err != nil {
		return err
	}
	return printReply(reply, out)
}

// printReply prints a JSON-RPC reply as bitcoin-cli does; an RPC error
// exits with abs(code).
func printReply(reply []byte, out io.Writer) error {
	text, err := FormatReply(reply)
	var re *RPCError
	if errors.As(err, &re) {
		return exitError{re.ExitCode(), re}
	}
	if err != nil {
		return err
	}
	if text != "" {
		fmt.Fprintln(out, text)
	}
	return nil
}

func waitTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return domain.NoTimeout
	}
	return d
}

// errNoTip is the answer while the node has no chain yet.
var errNoTip = errors.New("the node has no chain tip yet")

func miningCommand(ctx context.Context, o *options, n *node, m nodeapi.Mining, sub string, args []string, out io.Writer) error {
	switch sub {
	case "tip":
		tip, err := m.GetTip(ctx)
		if err != nil {
			return err
		}
		if tip == nil {
			return errNoTip
		}
		fmt.Fprintf(out, "%s %d\n", tip.Hash, tip.Height)
		return nil
	case "wait-tip":
		tip, err := m.GetTip(ctx)
		if err != nil {
			return err
		}
		if tip == nil {
			return errNoTip
		}
		// Long waits get a thread of their own, so they never hold up
		// other calls on this connection.
		th, err := n.conn.NewThread()
		if err != nil {
			return err
		}
		defer th.Release()
		wctx, bound := n.waitContext(rt.WithThread(ctx, th), o.timeout)
		r, err := m.WaitTipChanged(wctx, tip.Hash, waitTimeout(o.timeout))
		if err != nil {
			return n.waitTimedOut(ctx, err, bound, o.timeout)
		}
		switch {
		case r == nil:
			fmt.Fprintln(out, "interrupted")
		case r.Hash == tip.Hash:
			fmt.Fprintf(out, "timeout: tip unchanged at %s %d\n", r.Hash, r.Height)
		default:
			fmt.Fprintf(out, "%s %d\n", r.Hash, r.Height)
		}
		return nil
	case "template":
		t, err := newTemplate(ctx, m)
		if err != nil {
			return err
		}
		defer t.Destroy(ctx)
		s, err := Summarize(ctx, t)
		if err != nil {
			return err
		}
		if o.json {
			b, _ := json.MarshalIndent(s, "", "  ")
			fmt.Fprintln(out, string(b))
			return nil
		}
		s.Print(out)
		return nil
	case "check":
		raw, err := hex.DecodeString(strings.TrimSpace(args[0]))
		if err != nil {
			return usageError{"block must be hex: " + err.Error()}
		}
		var b wire.MsgBlock
		if err := b.Deserialize(bytes.NewReader(raw)); err != nil {
			return usageError{"block does not decode: " + err.Error()}
		}
		ok, reason, debug, err := m.CheckBlock(ctx, &b, nodeapi.DefaultBlockCheckOptions())
		if err != nil {
			return err
		}
		if !ok {
			return exitError{exitFailure, fmt.Errorf("invalid: %s%s", reason, suffix(debug))}
		}
		fmt.Fprintln(out, "valid")
		return nil
	case "submit":
		t, err := newTemplate(ctx, m)
		if err != nil {
			return err
		}
		defer t.Destroy(ctx)
		res, err := MineAndSubmit(ctx, t, 1<<24)
		if err != nil {
			return err
		}
		if !res.Accepted {
			return exitError{exitFailure, fmt.Errorf("rejected: %s%s", res.Reason, suffix(res.Debug))}
		}
		fmt.Fprintf(out, "accepted block %s at height %d (%d nonces tried)\n", res.Hash, res.Height, res.Tries)
		return nil
	case "wait-next":
		t, err := newTemplate(ctx, m)
		if err != nil {
			return err
		}
		defer t.Destroy(ctx)
		th, err := n.conn.NewThread()
		if err != nil {
			return err
		}
		defer th.Release()
		opts := nodeapi.DefaultBlockWaitOptions()
		opts.Timeout = waitTimeout(o.timeout)
		wctx, bound := n.waitContext(rt.WithThread(ctx, th), o.timeout)
		next, err := t.WaitNext(wctx, opts)
		if err != nil {
			return n.waitTimedOut(ctx, err, bound, o.timeout)
		}
		if next == nil {
			fmt.Fprintln(out, "no better template before the timeout")
			return nil
		}
		defer next.Destroy(ctx)
		s, err := Summarize(ctx, next)
		if err != nil {
			return err
		}
		s.Print(out)
		return nil
	}
	return usageError{fmt.Sprintf("unknown mining command %q", sub)}
}

// newTemplate asks for a template with the schema's default options.
func newTemplate(ctx context.Context, m nodeapi.Mining) (nodeapi.BlockTemplate, error) {
	t, err := m.CreateNewBlock(ctx, nodeapi.DefaultBlockCreateOptions(), false)
	if err == nil && t == nil {
		err = errors.New("createNewBlock was interrupted")
	}
	return t, err
}

func suffix(debug string) string {
	if debug == "" {
		return ""
	}
	return " (" + debug + ")"
}

// Summary describes a block template.
type Summary struct {
	Height        int32           `json:"height"`
	Version       int32           `json:"version"`
	PrevHash      string          `json:"previousblockhash"`
	MerkleRoot    string          `json:"merkleroot"`
	Time          int64           `json:"time"`
	Bits          string          `json:"bits"`
	TxCount       int             `json:"txcount"`
	TotalFees     btcutil.Amount  `json:"totalfees"`
	Sigops        int64           `json:"sigops"`
	MerklePathLen int             `json:"merklepathlength"`
	Coinbase      CoinbaseSummary `json:"coinbase"`
}

// CoinbaseSummary is what the coinbase must contain.
type CoinbaseSummary struct {
	Version              uint32         `json:"version"`
	Sequence             uint32         `json:"sequence"`
	ScriptSigPrefix      string         `json:"scriptsigprefix"`
	Witness              string         `json:"witness,omitempty"`
	BlockRewardRemaining btcutil.Amount `json:"blockrewardremaining"`
	RequiredOutputs      []string       `json:"requiredoutputs"`
	LockTime             uint32         `json:"locktime"`
}

// Summarize reads a template's header, block, fees, sigops, coinbase
// constraints and merkle path.
func Summarize(ctx context.Context, t nodeapi.BlockTemplate) (*Summary, error) {
	w, err := miner.Fetch(ctx, t)
	if err != nil {
		return nil, err
	}
	b, err := t.GetBlock(ctx)
	if err != nil {
		return nil, err
	}
	fees, err := t.GetTxFees(ctx)
	if err != nil {
		return nil, err
	}
	sigops, err := t.GetTxSigops(ctx)
	if err != nil {
		return nil, err
	}
	s := &Summary{
		Height:        heightFromPrefix(w.Coinbase.ScriptSigPrefix),
		Version:       w.Header.Version,
		PrevHash:      w.Header.PrevBlock.String(),
		MerkleRoot:    w.Header.MerkleRoot.String(),
		Time:          w.Header.Timestamp.Unix(),
		Bits:          fmt.Sprintf("%08x", w.Header.Bits),
		TxCount:       len(b.Transactions),
		MerklePathLen: len(w.MerklePath),
	}
	for _, f := range fees {
		s.TotalFees += f
	}
	for _, g := range sigops {
		s.Sigops += g
	}
	c := w.Coinbase
	s.Coinbase = CoinbaseSummary{
		Version: c.Version, Sequence: c.Sequence, ScriptSigPrefix: hex.EncodeToString(c.ScriptSigPrefix),
		Witness: hex.EncodeToString(c.Witness), BlockRewardRemaining: c.BlockRewardRemaining, LockTime: c.LockTime,
		RequiredOutputs: []string{},
	}
	for _, r := range c.RequiredOutputs {
		s.Coinbase.RequiredOutputs = append(s.Coinbase.RequiredOutputs, fmt.Sprintf("%d:%x", r.Value, r.PkScript))
	}
	return s, nil
}

// Print writes the human summary.
func (s *Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "block template for height %d\n", s.Height)
	fmt.Fprintf(w, "  header:   version 0x%08x, time %d, bits %s\n", uint32(s.Version), s.Time, s.Bits)
	fmt.Fprintf(w, "            prev %s\n            merkle root %s\n", s.PrevHash, s.MerkleRoot)
	fmt.Fprintf(w, "  txs:      %d (incl. coinbase), fees %d sat, sigops %d\n", s.TxCount, int64(s.TotalFees), s.Sigops)
	fmt.Fprintf(w, "  coinbase: version %d, sequence 0x%08x, locktime %d, scriptSig prefix %s\n", s.Coinbase.Version, s.Coinbase.Sequence, s.Coinbase.LockTime, s.Coinbase.ScriptSigPrefix)
	fmt.Fprintf(w, "            reward remaining %d sat, %d required output(s), witness %q\n", int64(s.Coinbase.BlockRewardRemaining), len(s.Coinbase.RequiredOutputs), s.Coinbase.Witness)
	fmt.Fprintf(w, "  merkle path: %d hash(es)\n", s.MerklePathLen)
}

// heightFromPrefix decodes the BIP34 height push at the start of a
// coinbase scriptSig.
func heightFromPrefix(p []byte) int32 {
	if len(p) == 0 {
		return -1
	}
	switch op := p[0]; {
	case op == 0x00:
		return 0
	case op >= 0x51 && op <= 0x60:
		return int32(op-0x51) + 1
	case op >= 1 && op <= 4 && len(p) >= 1+int(op):
		var h int64
		for i := int(op); i >= 1; i-- {
			h = h<<8 | int64(p[i])
		}
		return int32(h)
	}
	return -1
}

// MineResult is the outcome of MineAndSubmit.
type MineResult struct {
	Hash     chainhash.Hash
	Height   int32
	Tries    uint32
	Accepted bool
	Reason   string
	Debug    string
	Elapsed  time.Duration
}

// MineAndSubmit builds a coinbase paying to OP_TRUE, grinds the nonce (up
// to maxTries), and submits the solution.
func MineAndSubmit(ctx context.Context, t nodeapi.BlockTemplate, maxTries uint32) (*MineResult, error) {
	start := time.Now()
	w, err := miner.Fetch(ctx, t)
	if err != nil {
		return nil, err
	}
	sol, err := miner.Solve(ctx, w, opTrue, extraNonce, maxTries)
	if err != nil {
		return nil, fmt.Errorf("%v (mining submit is meant for regtest)", err)
	}
	ok, reason, debug, err := miner.Submit(ctx, t, sol)
	if err != nil {
		return nil, err
	}
	return &MineResult{
		Hash: sol.Header.BlockHash(), Height: heightFromPrefix(w.Coinbase.ScriptSigPrefix), Tries: sol.Tries,
		Accepted: ok, Reason: reason, Debug: debug, Elapsed: time.Since(start),
	}, nil
}
