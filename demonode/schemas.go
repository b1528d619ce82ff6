package demonode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode/chain"
	v30 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v30"
	v31 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v31"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
)

// Schemas are the schema sets the demo node can serve, oldest first.
var Schemas = []probe.Version{probe.V30, probe.V31, probe.V32}

// SetSchema makes the node serve the given release's schema (v30, v31 or
// v32, the default) to the connections it accepts from then on: the same
// chain behind Init, Echo, Mining and BlockTemplate with that release's
// methods, ordinals and option defaults. A v31 node answers makeMining at
// @2 with Core's error, a v32 node submitSolution at @7; only v32 has Rpc.
func (n *Node) SetSchema(v probe.Version) error {
	switch v {
	case probe.V30, probe.V31, probe.V32:
	default:
		return fmt.Errorf("demonode: no %q schema (the demo node serves %v)", v, Schemas)
	}
	n.schema.Store(&v)
	return nil
}

// Schema is the schema set the node serves.
func (n *Node) Schema() probe.Version {
	if v := n.schema.Load(); v != nil {
		return *v
	}
	return probe.V32
}

// The v31 schema: makeMining at @3 (@2 throws), no submitBlock or lookups,
// submitSolution at @7 with a bare result.

type v31Init struct{ n *Node }

func (v31Init) MakeEcho(context.Context) (v31.Echo, error) { return echoImpl{}, nil }

func (v31Init) MakeMiningOld2(context.Context) error {
	return errors.New("Old mining interface (@2) not supported. Please update your client!")
}

func (i v31Init) MakeMining(context.Context) (v31.Mining, error) {
	return v31Mining{m: &miningImpl{n: i.n}}, nil
}

type v31Mining struct{ m *miningImpl }

func (m v31Mining) IsTestChain(ctx context.Context) (bool, error) { return m.m.IsTestChain(ctx) }

func (m v31Mining) IsInitialBlockDownload(ctx context.Context) (bool, error) {
	return m.m.IsInitialBlockDownload(ctx)
}

func (m v31Mining) GetTip(ctx context.Context) (*v31.BlockRef, error) {
	r, err := m.m.GetTip(ctx)
	return (*v31.BlockRef)(r), err
}

func (m v31Mining) WaitTipChanged(ctx context.Context, current chainhash.Hash, timeout time.Duration) (*v31.BlockRef, error) {
	r, err := m.m.WaitTipChanged(ctx, current, timeout)
	if r == nil || err != nil {
		return nil, err
	}
	return (*v31.BlockRef)(r), nil
}

func (m v31Mining) CreateNewBlock(ctx context.Context, o v31.BlockCreateOptions, cooldown bool) (v31.BlockTemplate, error) {
	t, err := m.m.CreateNewBlock(ctx, v32.BlockCreateOptions(o), cooldown)
	if err != nil {
		return nil, err
	}
	return v31Template{t: t.(*templateImpl)}, nil
}

func (m v31Mining) CheckBlock(ctx context.Context, b *wire.MsgBlock, o v31.BlockCheckOptions) (bool, string, string, error) {
	return m.m.CheckBlock(ctx, b, v32.BlockCheckOptions(o))
}

func (m v31Mining) Interrupt(ctx context.Context) error { return m.m.Interrupt(ctx) }

type v31Template struct{ t *templateImpl }

func (t v31Template) Destroy(ctx context.Context) error { return t.t.Destroy(ctx) }

func (t v31Template) GetBlockHeader(ctx context.Context) (wire.BlockHeader, error) {
	return t.t.GetBlockHeader(ctx)
}

func (t v31Template) GetBlock(ctx context.Context) (*wire.MsgBlock, error) { return t.t.GetBlock(ctx) }

func (t v31Template) GetTxFees(ctx context.Context) ([]btcutil.Amount, error) {
	return t.t.GetTxFees(ctx)
}

func (t v31Template) GetTxSigops(ctx context.Context) ([]int64, error) { return t.t.GetTxSigops(ctx) }

func (t v31Template) GetCoinbaseTx(ctx context.Context) (*v31.CoinbaseTx, error) {
	c, err := t.t.GetCoinbaseTx(ctx)
	if c == nil || err != nil {
		return nil, err
	}
	return (*v31.CoinbaseTx)(c), nil
}

func (t v31Template) GetCoinbaseMerklePath(ctx context.Context) ([]chainhash.Hash, error) {
	return t.t.GetCoinbaseMerklePath(ctx)
}

func (t v31Template) SubmitSolution(ctx context.Context, version, timestamp, nonce uint32, coinbase *wire.MsgTx) (bool, error) {
	ok, _, _, err := t.t.SubmitSolution(ctx, version, timestamp, nonce, coinbase)
	return ok, err
}

func (t v31Template) WaitNext(ctx context.Context, o v31.BlockWaitOptions) (v31.BlockTemplate, error) {
	next, err := t.t.WaitNext(ctx, v32.BlockWaitOptions(o))
	if next == nil || err != nil {
		return nil, err
	}
	return v31Template{t: next.(*templateImpl)}, nil
}

func (t v31Template) InterruptWait(ctx context.Context) error { return t.t.InterruptWait(ctx) }

// The v30 schema: makeMining at @2; createNewBlock without cooldown;
// getCoinbaseTx is the template's dummy coinbase transaction, with
// getCoinbaseCommitment and getWitnessCommitmentIndex beside it; no
// interrupt or interruptWait; submitSolution at @9 with a bare result.

type v30Init struct{ n *Node }

func (v30Init) MakeEcho(context.Context) (v30.Echo, error) { return echoImpl{}, nil }

func (i v30Init) MakeMining(context.Context) (v30.Mining, error) {
	return v30Mining{m: &miningImpl{n: i.n}}, nil
}

type v30Mining struct{ m *miningImpl }

func (m v30Mining) IsTestChain(ctx context.Context) (bool, error) { return m.m.IsTestChain(ctx) }

func (m v30Mining) IsInitialBlockDownload(ctx context.Context) (bool, error) {
	return m.m.IsInitialBlockDownload(ctx)
}

func (m v30Mining) GetTip(ctx context.Context) (*v30.BlockRef, error) {
	r, err := m.m.GetTip(ctx)
	return (*v30.BlockRef)(r), err
}

func (m v30Mining) WaitTipChanged(ctx context.Context, current chainhash.Hash, timeout time.Duration) (*v30.BlockRef, error) {
	r, err := m.m.WaitTipChanged(ctx, current, timeout)
	if r == nil || err != nil {
		return nil, err
	}
	return (*v30.BlockRef)(r), nil
}

func (m v30Mining) CreateNewBlock(ctx context.Context, o v30.BlockCreateOptions) (v30.BlockTemplate, error) {
	t, err := m.m.CreateNewBlock(ctx, v32.BlockCreateOptions(o), false)
	if err != nil {
		return nil, err
	}
	return v30Template{t: t.(*templateImpl)}, nil
}

func (m v30Mining) CheckBlock(ctx context.Context, b *wire.MsgBlock, o v30.BlockCheckOptions) (bool, string, string, error) {
	return m.m.CheckBlock(ctx, b, v32.BlockCheckOptions(o))
}

type v30Template struct{ t *templateImpl }

func (t v30Template) Destroy(ctx context.Context) error { return t.t.Destroy(ctx) }

func (t v30Template) GetBlockHeader(ctx context.Context) (wire.BlockHeader, error) {
	return t.t.GetBlockHeader(ctx)
}

func (t v30Template) GetBlock(ctx context.Context) (*wire.MsgBlock, error) { return t.t.GetBlock(ctx) }

func (t v30Template) GetTxFees(ctx context.Context) ([]btcutil.Amount, error) {
	return t.t.GetTxFees(ctx)
}

func (t v30Template) GetTxSigops(ctx context.Context) ([]int64, error) { return t.t.GetTxSigops(ctx) }

// GetCoinbaseTx is v30's: the template's dummy coinbase transaction.
func (t v30Template) GetCoinbaseTx(context.Context) (*wire.MsgTx, error) {
	return t.t.t.Block().Transactions[0], nil
}

// GetCoinbaseCommitment is the witness commitment output script, empty
// when the block needs none.
func (t v30Template) GetCoinbaseCommitment(context.Context) ([]byte, error) {
	return commitment(t.t.t.CoinbaseTx()), nil
}

// GetWitnessCommitmentIndex is the commitment's output index in the dummy
// coinbase, or -1.
func (t v30Template) GetWitnessCommitmentIndex(context.Context) (int32, error) {
	c := commitment(t.t.t.CoinbaseTx())
	if c == nil {
		return -1, nil
	}
	for i, o := range t.t.t.Block().Transactions[0].TxOut {
		if bytes.Equal(o.PkScript, c) {
			return int32(i), nil
		}
	}
	return -1, nil
}

func commitment(c chain.CoinbaseTx) []byte {
	if len(c.RequiredOutputs) == 0 {
		return nil
	}
	return c.RequiredOutputs[0].PkScript
}

func (t v30Template) GetCoinbaseMerklePath(ctx context.Context) ([]chainhash.Hash, error) {
	return t.t.GetCoinbaseMerklePath(ctx)
}

func (t v30Template) SubmitSolution(ctx context.Context, version, timestamp, nonce uint32, coinbase *wire.MsgTx) (bool, error) {
	ok, _, _, err := t.t.SubmitSolution(ctx, version, timestamp, nonce, coinbase)
	return ok, err
}

func (t v30Template) WaitNext(ctx context.Context, o v30.BlockWaitOptions) (v30.BlockTemplate, error) {
	next, err := t.t.WaitNext(ctx, v32.BlockWaitOptions(o))
	if next == nil || err != nil {
		return nil, err
	}
	return v30Template{t: next.(*templateImpl)}, nil
}

var (
	_ v30.Init          = v30Init{}
	_ v30.Mining        = v30Mining{}
	_ v30.BlockTemplate = v30Template{}
	_ v31.Init          = v31Init{}
	_ v31.Mining        = v31Mining{}
	_ v31.BlockTemplate = v31Template{}
)
