package node

import (
	"context"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// The v32 schema (Bitcoin Core master): every method of the union but
// v30's getCoinbaseCommitment and getWitnessCommitmentIndex.

type v32Init struct {
	c *v32.InitClient
	v Version
}

func newV32Init(conn *rt.Conn, v Version) *v32Init {
	return &v32Init{c: v32.NewInitClient(conn), v: v}
}

func (i *v32Init) release() { i.c.Release() }

func (i *v32Init) makeEcho(ctx context.Context) (Echo, error) {
	e, err := i.c.MakeEcho(ctx)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, errNoEcho
	}
	return e, nil
}

func (i *v32Init) makeMining(ctx context.Context) (Mining, error) {
	m, err := i.c.MakeMining(ctx)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errNoMining
	}
	return &v32Mining{c: m, v: i.v}, nil
}

func (i *v32Init) makeRpc(ctx context.Context) (Rpc, error) {
	r, err := i.c.MakeRpc(ctx)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errNoRpc
	}
	return rpc{r}, nil
}

type v32Mining struct {
	c v32.Mining
	v Version
}

func (m *v32Mining) Release() { rt.Release(m.c) }

func (m *v32Mining) IsTestChain(ctx context.Context) (bool, error) { return m.c.IsTestChain(ctx) }

func (m *v32Mining) IsInitialBlockDownload(ctx context.Context) (bool, error) {
	return m.c.IsInitialBlockDownload(ctx)
}

func (m *v32Mining) GetTip(ctx context.Context) (*BlockRef, error) {
	r, err := m.c.GetTip(ctx)
	return (*BlockRef)(r), err
}

func (m *v32Mining) WaitTipChanged(ctx context.Context, current chainhash.Hash, timeout time.Duration) (*BlockRef, error) {
	r, err := m.c.WaitTipChanged(ctx, current, timeout)
	return (*BlockRef)(r), err
}

func (m *v32Mining) CreateNewBlock(ctx context.Context, o BlockCreateOptions, cooldown bool) (BlockTemplate, error) {
	t, err := m.c.CreateNewBlock(ctx, v32.BlockCreateOptions(o), cooldown)
	if t == nil || err != nil {
		return nil, err
	}
	return &v32Template{c: t, v: m.v}, nil
}

func (m *v32Mining) CheckBlock(ctx context.Context, b *wire.MsgBlock, o BlockCheckOptions) (bool, string, string, error) {
	return m.c.CheckBlock(ctx, b, v32.BlockCheckOptions(o))
}

func (m *v32Mining) Interrupt(ctx context.Context) error { return m.c.Interrupt(ctx) }

func (m *v32Mining) SubmitBlock(ctx context.Context, b *wire.MsgBlock) (bool, string, string, error) {
	return m.c.SubmitBlock(ctx, b)
}

func (m *v32Mining) GetTransactionsByTxID(ctx context.Context, ids []chainhash.Hash) ([]*wire.MsgTx, error) {
	return m.c.GetTransactionsByTxID(ctx, ids)
}

func (m *v32Mining) GetTransactionsByWitnessID(ctx context.Context, ids []chainhash.Hash) ([]*wire.MsgTx, error) {
	return m.c.GetTransactionsByWitnessID(ctx, ids)
}

type v32Template struct {
	c v32.BlockTemplate
	v Version
}

func (t *v32Template) Release() { rt.Release(t.c) }

func (t *v32Template) Destroy(ctx context.Context) error { return t.c.Destroy(ctx) }

func (t *v32Template) GetBlockHeader(ctx context.Context) (wire.BlockHeader, error) {
	return t.c.GetBlockHeader(ctx)
}

func (t *v32Template) GetBlock(ctx context.Context) (*wire.MsgBlock, error) { return t.c.GetBlock(ctx) }

func (t *v32Template) GetTxFees(ctx context.Context) ([]btcutil.Amount, error) {
	return t.c.GetTxFees(ctx)
}

func (t *v32Template) GetTxSigops(ctx context.Context) ([]int64, error) { return t.c.GetTxSigops(ctx) }

func (t *v32Template) GetCoinbaseTx(ctx context.Context) (*CoinbaseTx, error) {
	return t.c.GetCoinbaseTx(ctx)
}

func (t *v32Template) GetCoinbaseCommitment(context.Context) ([]byte, error) {
	return nil, unsupported("BlockTemplate.getCoinbaseCommitment", t.v, "v30")
}

func (t *v32Template) GetWitnessCommitmentIndex(context.Context) (int32, error) {
	return -1, unsupported("BlockTemplate.getWitnessCommitmentIndex", t.v, "v30")
}

func (t *v32Template) GetCoinbaseMerklePath(ctx context.Context) ([]chainhash.Hash, error) {
	return t.c.GetCoinbaseMerklePath(ctx)
}

func (t *v32Template) SubmitSolution(ctx context.Context, version, timestamp, nonce uint32, coinbase *wire.MsgTx) (bool, string, string, error) {
	return t.c.SubmitSolution(ctx, version, timestamp, nonce, coinbase)
}

func (t *v32Template) WaitNext(ctx context.Context, o BlockWaitOptions) (BlockTemplate, error) {
	next, err := t.c.WaitNext(ctx, v32.BlockWaitOptions(o))
	if next == nil || err != nil {
		return nil, err
	}
	return &v32Template{c: next, v: t.v}, nil
}

func (t *v32Template) InterruptWait(ctx context.Context) error { return t.c.InterruptWait(ctx) }

// rpc is v32's Rpc with Release.
type rpc struct{ v32.Rpc }

func (r rpc) Release() { rt.Release(r.Rpc) }
