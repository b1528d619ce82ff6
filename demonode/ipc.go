package demonode

import (
	"context"
	"encoding/json"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode/chain"
	"github.com/bitcoin-ipc/bitcoin-ipc/domain"
	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	v30 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v30"
	v31 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v31"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// Bootstrap serves the node's Init, of the schema set chosen with
// SetSchema, to one connection; pass it to rt.Serve, rt.NewServer or
// ipc.New, with rt.WithServerErrors(CoreErrors) for Core's texts for
// undecodable parameters (ListenAndServe and ServeSpawned do).
func (n *Node) Bootstrap(*rt.Conn) *rt.Cap {
	switch n.Schema() {
	case probe.V30:
		return v30.InitServer(v30Init{n: n})
	case probe.V31:
		return v31.InitServer(v31Init{n: n})
	}
	return v32.InitServer(&initImpl{n: n})
}

// Init is the node's Init implementation, for serving it elsewhere.
func (n *Node) Init() v32.Init { return &initImpl{n: n} }

type initImpl struct{ n *Node }

func (i *initImpl) MakeEcho(context.Context) (v32.Echo, error) { return echoImpl{}, nil }

func (i *initImpl) MakeMiningOld2(context.Context) error {
	return exception.Std("Old mining interface (@2) not supported. Please update your client!")
}

func (i *initImpl) MakeMining(context.Context) (v32.Mining, error) { return &miningImpl{n: i.n}, nil }

func (i *initImpl) MakeRpc(context.Context) (v32.Rpc, error) { return rpcImpl{n: i.n}, nil }

type echoImpl struct{}

func (echoImpl) Destroy(context.Context) error                    { return nil }
func (echoImpl) Echo(_ context.Context, s string) (string, error) { return s, nil }

type rpcImpl struct{ n *Node }

func (r rpcImpl) ExecuteRpc(ctx context.Context, request json.RawMessage, uri, user string) (json.RawMessage, error) {
	return r.n.ExecuteRPC(ctx, request, uri, user)
}

type miningImpl struct{ n *Node }

func (m *miningImpl) IsTestChain(context.Context) (bool, error) { return m.n.chain.IsTestChain(), nil }

func (m *miningImpl) IsInitialBlockDownload(context.Context) (bool, error) {
	return m.n.chain.IsInitialBlockDownload(), nil
}

func (m *miningImpl) GetTip(context.Context) (*v32.BlockRef, error) {
	h, height := m.n.chain.Tip()
	return &v32.BlockRef{Hash: h, Height: height}, nil
}

// waitDuration maps a schema timeout to the chain's: NoTimeout (DBL_MAX on
// the wire) waits forever, zero returns at once.
func waitDuration(d time.Duration) time.Duration {
	switch {
	case d == domain.NoTimeout:
		return 0
	case d <= 0:
		return time.Nanosecond
	}
	return d
}

func (m *miningImpl) WaitTipChanged(ctx context.Context, current chainhash.Hash, timeout time.Duration) (*v32.BlockRef, error) {
	h, height, ok := m.n.chain.WaitTipChanged(ctx, current, waitDuration(timeout))
	if !ok {
		return nil, nil // interrupted: a null result, as Core answers
	}
	return &v32.BlockRef{Hash: h, Height: height}, nil
}

func (m *miningImpl) CreateNewBlock(ctx context.Context, o v32.BlockCreateOptions, cooldown bool) (v32.BlockTemplate, error) {
	t, err := m.n.chain.CreateTemplate(chain.TemplateOptions{
		UseMempool:                        o.UseMempool,
		BlockReservedWeight:               o.BlockReservedWeight,
		CoinbaseOutputMaxAdditionalSigops: o.CoinbaseOutputMaxAdditionalSigops,
	})
	if err != nil {
		return nil, exception.Std(err.Error())
	}
	return &templateImpl{n: m.n, t: t}, nil
}

// CheckBlock is Core's checkBlock. A nil block came as a null Data
// pointer, which Core reads as a default-constructed block (the chain
// does the same: "inconclusive-not-best-prevblk", since its parent is
// never the tip); empty or undeserializable data never gets here
// (CoreErrors answers it).
func (m *miningImpl) CheckBlock(ctx context.Context, b *wire.MsgBlock, o v32.BlockCheckOptions) (bool, string, string, error) {
	ok, reason, debug := m.n.chain.CheckBlock(b, o.CheckMerkleRoot, o.CheckPow)
	return ok, reason, debug, nil
}

func (m *miningImpl) Interrupt(context.Context) error {
	m.n.chain.Interrupt()
	return nil
}

// SubmitBlock is Core's submitBlock; a nil block is a default one, as in
// CheckBlock, and fails its proof of work ("high-hash").
func (m *miningImpl) SubmitBlock(ctx context.Context, b *wire.MsgBlock) (bool, string, string, error) {
	ok, reason, debug := m.n.chain.SubmitBlock(b)
	return ok, reason, debug, nil
}

func (m *miningImpl) GetTransactionsByTxID(ctx context.Context, ids []chainhash.Hash) ([]*wire.MsgTx, error) {
	out := make([]*wire.MsgTx, len(ids))
	for i, id := range ids {
		out[i] = m.n.chain.TxByID(id)
	}
	return out, nil
}

func (m *miningImpl) GetTransactionsByWitnessID(ctx context.Context, ids []chainhash.Hash) ([]*wire.MsgTx, error) {
	out := make([]*wire.MsgTx, len(ids))
	for i, id := range ids {
		out[i] = m.n.chain.TxByWitnessID(id)
	}
	return out, nil
}

type templateImpl struct {
	n *Node
	t *chain.Template
}

func (t *templateImpl) Destroy(context.Context) error {
	t.t.InterruptWait()
	return nil
}

func (t *templateImpl) GetBlockHeader(context.Context) (wire.BlockHeader, error) {
	return t.t.Header(), nil
}

func (t *templateImpl) GetBlock(context.Context) (*wire.MsgBlock, error) { return t.t.Block(), nil }

// GetBlockBytes serves getBlock from the template's serialization, made
// once, instead of encoding the block on every call.
func (t *templateImpl) GetBlockBytes(context.Context) ([]byte, error) { return t.t.Serialized() }

func (t *templateImpl) GetTxFees(context.Context) ([]btcutil.Amount, error) {
	fees := t.t.TxFees()
	out := make([]btcutil.Amount, len(fees))
	for i, f := range fees {
		out[i] = btcutil.Amount(f)
	}
	return out, nil
}

func (t *templateImpl) GetTxSigops(context.Context) ([]int64, error) { return t.t.TxSigops(), nil }

func (t *templateImpl) GetCoinbaseTx(context.Context) (*v32.CoinbaseTx, error) {
	c := t.t.CoinbaseTx()
	return &v32.CoinbaseTx{
		Version:              c.Version,
		Sequence:             c.Sequence,
		ScriptSigPrefix:      c.ScriptSigPrefix,
		Witness:              c.Witness,
		BlockRewardRemaining: btcutil.Amount(c.BlockRewardRemaining),
		RequiredOutputs:      c.RequiredOutputs,
		LockTime:             c.LockTime,
	}, nil
}

func (t *templateImpl) GetCoinbaseMerklePath(context.Context) ([]chainhash.Hash, error) {
	path := t.t.CoinbaseMerklePath()
	out := make([]chainhash.Hash, len(path))
	for i, p := range path {
		copy(out[i][:], p)
	}
	return out, nil
}

func (t *templateImpl) SubmitSolutionOld7(context.Context, uint32, uint32, uint32, *wire.MsgTx) (bool, error) {
	return false, exception.Std("Old submitSolution (@7) not supported. Please update your client!")
}

func (t *templateImpl) WaitNext(ctx context.Context, o v32.BlockWaitOptions) (v32.BlockTemplate, error) {
	next, ok := t.n.chain.WaitNext(ctx, t.t, waitDuration(o.Timeout), int64(o.FeeThreshold))
	if !ok || next == nil {
		return nil, nil
	}
	return &templateImpl{n: t.n, t: next}, nil
}

func (t *templateImpl) InterruptWait(context.Context) error {
	t.t.InterruptWait()
	return nil
}

func (t *templateImpl) SubmitSolution(ctx context.Context, version, timestamp, nonce uint32, coinbase *wire.MsgTx) (bool, string, string, error) {
	if coinbase == nil {
		return false, "bad-cb-missing", "", nil
	}
	ok, reason, debug := t.t.SubmitSolution(version, timestamp, nonce, coinbase)
	return ok, reason, debug, nil
}
