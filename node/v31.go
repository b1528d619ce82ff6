package node

import (
	"context"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	v31 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v31"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// The v31 schema (Bitcoin Core 31.x): makeMining at @3 (@2 throws),
// renumbered Mining and BlockTemplate; no submitBlock or transaction
// lookups, submitSolution at @7 without reason or debug.

type v31Init struct {
	c *v31.InitClient
	v Version
}

func newV31Init(conn *rt.Conn) *v31Init {
	return &v31Init{c: v31.NewInitClient(conn), v: probe.V31}
}

func (i *v31Init) release() { i.c.Release() }

func (i *v31Init) makeEcho(ctx context.Context) (Echo, error) {
	e, err := i.c.MakeEcho(ctx)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, errNoEcho
	}
	return e, nil
}

func (i *v31Init) makeMining(ctx context.Context) (Mining, error) {
	m, err := i.c.MakeMining(ctx)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errNoMining
	}
	return &v31Mining{c: m, v: i.v}, nil
}

func (i *v31Init) makeRpc(context.Context) (Rpc, error) {
	return nil, unsupported("Init.makeRpc", i.v, "v32")
}

type v31Mining struct {
	c v31.Mining
	v Version
}

func (m *v31Mining) Release() { rt.Release(m.c) }

func (m *v31Mining) IsTestChain(ctx context.Context) (bool, error) { return m.c.IsTestChain(ctx) }

func (m *v31Mining) IsInitialBlockDownload(ctx context.Context) (bool, error) {
	return m.c.IsInitialBlockDownload(ctx)
}

func (m *v31Mining) GetTip(ctx context.Context) (*BlockRef, error) {
	r, err := m.c.GetTip(ctx)
	return (*BlockRef)(r), err
}

func (m *v31Mining) WaitTipChanged(ctx context.Context, current chainhash.Hash, timeout time.Duration) (*BlockRef, error) {
	r, err := m.c.WaitTipChanged(ctx, current, timeout)
	return (*BlockRef)(r), err
}

func (m *v31Mining) CreateNewBlock(ctx context.Context, o BlockCreateOptions, cooldown bool) (BlockTemplate, error) {
	t, err := m.c.CreateNewBlock(ctx, v31.BlockCreateOptions(o), cooldown)
	if t == nil || err != nil {
		return nil, err
	}
	return &v31Template{c: t, v: m.v}, nil
}

func (m *v31Mining) CheckBlock(ctx context.Context, b *wire.MsgBlock, o BlockCheckOptions) (bool, string, string, error) {
	return m.c.CheckBlock(ctx, b, v31.BlockCheckOptions(o))
}

func (m *v31Mining) Interrupt(ctx context.Context) error { return m.c.Interrupt(ctx) }

func (m *v31Mining) SubmitBlock(context.Context, *wire.MsgBlock) (bool, string, string, error) {
	return false, "", "", unsupported("Mining.submitBlock", m.v, "v32")
}

func (m *v31Mining) GetTransactionsByTxID(context.Context, []chainhash.Hash) ([]*wire.MsgTx, error) {
	return nil, unsupported("Mining.getTransactionsByTxID", m.v, "v32")
}

func (m *v31Mining) GetTransactionsByWitnessID(context.Context, []chainhash.Hash) ([]*wire.MsgTx, error) {
	return nil, unsupported("Mining.getTransactionsByWitnessID", m.v, "v32")
}

type v31Template struct {
	c v31.BlockTemplate
	v Version
}

func (t *v31Template) Release() { rt.Release(t.c) }

func (t *v31Template) Destroy(ctx context.Context) error { return t.c.Destroy(ctx) }

func (t *v31Template) GetBlockHeader(ctx context.Context) (wire.BlockHeader, error) {
	return t.c.GetBlockHeader(ctx)
}

func (t *v31Template) GetBlock(ctx context.Context) (*wire.MsgBlock, error) { return t.c.GetBlock(ctx) }

func (t *v31Template) GetTxFees(ctx context.Context) ([]btcutil.Amount, error) {
	return t.c.GetTxFees(ctx)
}

func (t *v31Template) GetTxSigops(ctx context.Context) ([]int64, error) { return t.c.GetTxSigops(ctx) }

func (t *v31Template) GetCoinbaseTx(ctx context.Context) (*CoinbaseTx, error) {
	c, err := t.c.GetCoinbaseTx(ctx)
	return (*CoinbaseTx)(c), err
}

func (t *v31Template) GetCoinbaseCommitment(context.Context) ([]byte, error) {
	return nil, unsupported("BlockTemplate.getCoinbaseCommitment", t.v, "v30")
}

func (t *v31Template) GetWitnessCommitmentIndex(context.Context) (int32, error) {
	return -1, unsupported("BlockTemplate.getWitnessCommitmentIndex", t.v, "v30")
}

func (t *v31Template) GetCoinbaseMerklePath(ctx context.Context) ([]chainhash.Hash, error) {
	return t.c.GetCoinbaseMerklePath(ctx)
}

func (t *v31Template) SubmitSolution(ctx context.Context, version, timestamp, nonce uint32, coinbase *wire.MsgTx) (bool, string, string, error) {
	ok, err := t.c.SubmitSolution(ctx, version, timestamp, nonce, coinbase)
	return ok, "", "", err
}

func (t *v31Template) WaitNext(ctx context.Context, o BlockWaitOptions) (BlockTemplate, error) {
	next, err := t.c.WaitNext(ctx, v31.BlockWaitOptions(o))
	if next == nil || err != nil {
		return nil, err
	}
	return &v31Template{c: next, v: t.v}, nil
}

func (t *v31Template) InterruptWait(ctx context.Context) error { return t.c.InterruptWait(ctx) }
