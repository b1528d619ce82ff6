// Package miner turns a block template from Bitcoin Core's Mining
// interface into a block: it builds a coinbase transaction that meets the
// template's constraints, recomputes the merkle root from the coinbase
// merkle path, grinds the header nonce, and submits the solution. It is
// what the demo runs, and a small reference for mining software.
package miner

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
)

// Work is a template's data a miner needs.
type Work struct {
	Header     wire.BlockHeader
	Coinbase   v32.CoinbaseTx
	MerklePath []chainhash.Hash
}

// Template is what Fetch reads from a block template: v32.BlockTemplate
// and the version-neutral node.BlockTemplate both are one.
type Template interface {
	GetBlockHeader(ctx context.Context) (wire.BlockHeader, error)
	GetCoinbaseTx(ctx context.Context) (*v32.CoinbaseTx, error)
	GetCoinbaseMerklePath(ctx context.Context) ([]chainhash.Hash, error)
}

// Submitter is what Submit sends a solution to: v32.BlockTemplate and
// node.BlockTemplate both are one.
type Submitter interface {
	SubmitSolution(ctx context.Context, version, timestamp, nonce uint32, coinbase *wire.MsgTx) (ok bool, reason, debug string, err error)
}

// Fetch reads the work from a template.
func Fetch(ctx context.Context, t Template) (*Work, error) {
	h, err := t.GetBlockHeader(ctx)
	if err != nil {
		return nil, err
	}
	cb, err := t.GetCoinbaseTx(ctx)
	if err != nil {
		return nil, err
	}
	if cb == nil {
		return nil, errors.New("miner: template has no coinbase constraints")
	}
	path, err := t.GetCoinbaseMerklePath(ctx)
	if err != nil {
		return nil, err
	}
	return &Work{Header: h, Coinbase: *cb, MerklePath: path}, nil
}

// BuildCoinbase makes a coinbase meeting c: scriptSig = prefix||extraNonce,
// one output paying the remaining reward to payTo, then the required
// outputs; the witness reserved value, version, sequence and lock time as
// given.
func BuildCoinbase(c v32.CoinbaseTx, payTo, extraNonce []byte) *wire.MsgTx {
	tx := wire.NewMsgTx(int32(c.Version))
	sig := append(append([]byte(nil), c.ScriptSigPrefix...), extraNonce...)
	in := wire.NewTxIn(&wire.OutPoint{Index: wire.MaxPrevOutIndex}, sig, nil)
	in.Sequence = c.Sequence
	if len(c.Witness) > 0 {
		in.Witness = wire.TxWitness{append([]byte(nil), c.Witness...)}
	}
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(int64(c.BlockRewardRemaining), payTo))
	for _, o := range c.RequiredOutputs {
		tx.AddTxOut(wire.NewTxOut(o.Value, o.PkScript))
	}
	tx.LockTime = c.LockTime
	return tx
}

// MerkleRoot recomputes the root from the coinbase txid and its path.
func MerkleRoot(coinbase chainhash.Hash, path []chainhash.Hash) chainhash.Hash {
	h := coinbase
	var buf [64]byte
	for _, p := range path {
		copy(buf[:32], h[:])
		copy(buf[32:], p[:])
		h = chainhash.DoubleHashH(buf[:])
	}
	return h
}

// Solution is a solved header with the coinbase that goes with it.
type Solution struct {
	Header   wire.BlockHeader
	Coinbase *wire.MsgTx
	Tries    uint32
}

// Solve builds the coinbase and grinds the nonce until the header meets
// its target, or maxTries is exhausted (0: all 2^32 nonces).
func Solve(ctx context.Context, w *Work, payTo, extraNonce []byte, maxTries uint32) (*Solution, error) {
	cb := BuildCoinbase(w.Coinbase, payTo, extraNonce)
	h := w.Header
	h.MerkleRoot = MerkleRoot(cb.TxHash(), w.MerklePath)
	target := blockchain.CompactToBig(h.Bits)
	if target.Sign() <= 0 {
		return nil, fmt.Errorf("miner: invalid target bits %08x", h.Bits)
	}
	var n uint32
	for {
		if n&0xffff == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		h.Nonce = n
		hash := h.BlockHash()
		if blockchain.HashToBig(&hash).Cmp(target) <= 0 {
			return &Solution{Header: h, Coinbase: cb, Tries: n + 1}, nil
		}
		n++
		if n == maxTries || n == 0 {
			return nil, errors.New("miner: no nonce meets the target")
		}
	}
}

// Submit sends a solution for t.
func Submit(ctx context.Context, t Submitter, s *Solution) (ok bool, reason, debug string, err error) {
	return t.SubmitSolution(ctx, uint32(s.Header.Version), uint32(s.Header.Timestamp.Unix()), s.Header.Nonce, s.Coinbase)
}

// Block assembles the full block from a template's block and a solution.
func Block(tmpl *wire.MsgBlock, s *Solution) *wire.MsgBlock {
	b := &wire.MsgBlock{Header: s.Header}
	b.Transactions = append([]*wire.MsgTx{s.Coinbase}, tmpl.Transactions[1:]...)
	return b
}

// Serialize is the block's consensus encoding with witnesses.
func Serialize(b *wire.MsgBlock) []byte {
	var buf bytes.Buffer
	_ = b.Serialize(&buf)
	return buf.Bytes()
}
