package node

import (
	"context"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	v30 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v30"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// The v30 schema (Bitcoin Core 30.x): makeMining at @2; Mining without
// interrupt, submitBlock or lookups, createNewBlock without cooldown, and
// createNewBlock and checkBlock without a context; BlockTemplate with the
// dummy coinbase, its commitment and index, submitSolution at @9 without
// reason or debug, and no interruptWait. Its option structs have no
// schema defaults: the neutral options are sent field by field as they are.

type v30Init struct{ c *v30.InitClient }

func newV30Init(conn *rt.Conn) *v30Init {
	return &v30Init{c: v30.NewInitClient(conn)}
}

func (i *v30Init) release() { i.c.Release() }

func (i *v30Init) makeEcho(ctx context.Context) (Echo, error) {
	e, err := i.c.MakeEcho(ctx)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, errNoEcho
	}
	return e, nil
}

func (i *v30Init) makeMining(ctx context.Context) (Mining, error) {
	m, err := i.c.MakeMining(ctx)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errNoMining
	}
	return &v30Mining{c: m}, nil
}

func (i *v30Init) makeRpc(context.Context) (Rpc, error) {
	return nil, unsupported("Init.makeRpc", probe.V30, "v32")
}

type v30Mining struct{ c v30.Mining }

func (m *v30Mining) Release() { rt.Release(m.c) }

func (m *v30Mining) IsTestChain(ctx context.Context) (bool, error) { return m.c.IsTestChain(ctx) }

func (m *v30Mining) IsInitialBlockDownload(ctx context.Context) (bool, error) {
	return m.c.IsInitialBlockDownload(ctx)
}

func (m *v30Mining) GetTip(ctx context.Context) (*BlockRef, error) {
	r, err := m.c.GetTip(ctx)
	return (*BlockRef)(r), err
}

func (m *v30Mining) WaitTipChanged(ctx context.Context, current chainhash.Hash, timeout time.Duration) (*BlockRef, error) {
	r, err := m.c.WaitTipChanged(ctx, current, timeout)
	return (*BlockRef)(r), err
}

func (m *v30Mining) CreateNewBlock(ctx context.Context, o BlockCreateOptions, cooldown bool) (BlockTemplate, error) {
	if cooldown {
		return nil, unsupported("Mining.createNewBlock with cooldown", probe.V30, "v31 and later")
	}
	t, err := m.c.CreateNewBlock(ctx, v30.BlockCreateOptions(o))
	if t == nil || err != nil {
		return nil, err
	}
	return &v30Template{c: t}, nil
}

func (m *v30Mining) CheckBlock(ctx context.Context, b *wire.MsgBlock, o BlockCheckOptions) (bool, string, string, error) {
	return m.c.CheckBlock(ctx, b, v30.BlockCheckOptions(o))
}

func (m *v30Mining) Interrupt(context.Context) error {
	return unsupported("Mining.interrupt", probe.V30, "v31 and later")
}

func (m *v30Mining) SubmitBlock(context.Context, *wire.MsgBlock) (bool, string, string, error) {
	return false, "", "", unsupported("Mining.submitBlock", probe.V30, "v32")
}

func (m *v30Mining) GetTransactionsByTxID(context.Context, []chainhash.Hash) ([]*wire.MsgTx, error) {
	return nil, unsupported("Mining.getTransactionsByTxID", probe.V30, "v32")
}

func (m *v30Mining) GetTransactionsByWitnessID(context.Context, []chainhash.Hash) ([]*wire.MsgTx, error) {
	return nil, unsupported("Mining.getTransactionsByWitnessID", probe.V30, "v32")
}

type v30Template struct{ c v30.BlockTemplate }

func (t *v30Template) Release() { rt.Release(t.c) }

func (t *v30Template) Destroy(ctx context.Context) error { return t.c.Destroy(ctx) }

func (t *v30Template) GetBlockHeader(ctx context.Context) (wire.BlockHeader, error) {
	return t.c.GetBlockHeader(ctx)
}

func (t *v30Template) GetBlock(ctx context.Context) (*wire.MsgBlock, error) { return t.c.GetBlock(ctx) }

func (t *v30Template) GetTxFees(ctx context.Context) ([]btcutil.Amount, error) {
	return t.c.GetTxFees(ctx)
}

func (t *v30Template) GetTxSigops(ctx context.Context) ([]int64, error) { return t.c.GetTxSigops(ctx) }

// GetCoinbaseTx reads the constraints from v30's dummy coinbase and its
// commitment.
func (t *v30Template) GetCoinbaseTx(ctx context.Context) (*CoinbaseTx, error) {
	tx, err := t.c.GetCoinbaseTx(ctx)
	if err != nil {
		return nil, err
	}
	commitment, err := t.c.GetCoinbaseCommitment(ctx)
	if err != nil {
		return nil, err
	}
	return coinbaseFromDummy(tx, commitment)
}

func (t *v30Template) GetCoinbaseCommitment(ctx context.Context) ([]byte, error) {
	return t.c.GetCoinbaseCommitment(ctx)
}

func (t *v30Template) GetWitnessCommitmentIndex(ctx context.Context) (int32, error) {
	return t.c.GetWitnessCommitmentIndex(ctx)
}

func (t *v30Template) GetCoinbaseMerklePath(ctx context.Context) ([]chainhash.Hash, error) {
	return t.c.GetCoinbaseMerklePath(ctx)
}

func (t *v30Template) SubmitSolution(ctx context.Context, version, timestamp, nonce uint32, coinbase *wire.MsgTx) (bool, string, string, error) {
	ok, err := t.c.SubmitSolution(ctx, version, timestamp, nonce, coinbase)
	return ok, "", "", err
}

func (t *v30Template) WaitNext(ctx context.Context, o BlockWaitOptions) (BlockTemplate, error) {
	next, err := t.c.WaitNext(ctx, v30.BlockWaitOptions(o))
	if next == nil || err != nil {
		return nil, err
	}
	return &v30Template{c: next}, nil
}

func (t *v30Template) InterruptWait(context.Context) error {
	return unsupported("BlockTemplate.interruptWait", probe.V30, "v31 and later")
}
