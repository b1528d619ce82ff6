package chain

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// TemplateOptions are Core's BlockCreateOptions (plus -blockmaxweight).
type TemplateOptions struct {
	// UseMempool fills the template from the mempool; false gives a
	// template with only the coinbase.
	UseMempool bool
	// BlockReservedWeight is the weight kept free for the header, the
	// coinbase and the transaction count (MinimumBlockReservedWeight to
	// MaxBlockWeight).
	BlockReservedWeight uint64
	// CoinbaseOutputMaxAdditionalSigops is the sigop cost kept free for the
	// coinbase outputs (at most MaxBlockSigopsCost).
	CoinbaseOutputMaxAdditionalSigops uint64
	// MaxWeight caps the block weight (Core's -blockmaxweight); 0 means
	// MaxBlockWeight.
	MaxWeight uint64
}

// DefaultTemplateOptions returns the schema defaults of BlockCreateOptions:
// use the mempool, reserve 8000 weight units and 400 sigops.
func DefaultTemplateOptions() TemplateOptions {
	return TemplateOptions{
		UseMempool:                        true,
		BlockReservedWeight:               DefaultBlockReservedWeight,
		CoinbaseOutputMaxAdditionalSigops: DefaultCoinbaseOutputMaxAdditionalSigops,
	}
}

// Validate checks the options like Core's createNewBlock does and returns
// Core's error text.
func (o TemplateOptions) Validate() error {
	if o.BlockReservedWeight < MinimumBlockReservedWeight {
		return fmt.Errorf("block_reserved_weight (%d) is lower than minimum safety value of (%d)",
			o.BlockReservedWeight, MinimumBlockReservedWeight)
	}
	if o.BlockReservedWeight > MaxBlockWeight {
		return fmt.Errorf("block_reserved_weight (%d) exceeds consensus maximum block weight (%d)",
			o.BlockReservedWeight, MaxBlockWeight)
	}
	if o.CoinbaseOutputMaxAdditionalSigops > MaxBlockSigopsCost {
		return fmt.Errorf("coinbase_output_max_additional_sigops (%d) exceeds consensus maximum block sigops cost (%d)",
			o.CoinbaseOutputMaxAdditionalSigops, MaxBlockSigopsCost)
	}
	if o.MaxWeight > MaxBlockWeight {
		return fmt.Errorf("Specified -blockmaxweight (%d) exceeds consensus maximum block weight (%d)",
			o.MaxWeight, MaxBlockWeight)
	}
	return nil
}

func (o TemplateOptions) maxWeight() int64 {
	if o.MaxWeight == 0 {
		return MaxBlockWeight
	}
	return int64(o.MaxWeight)
}

// CoinbaseTx describes the coinbase a miner must build, like Core's
// node::CoinbaseTx (the getCoinbaseTx result).
type CoinbaseTx struct {
	// Version is the coinbase nVersion (2).
	Version uint32
	// Sequence is the nSequence of the coinbase input: 0xfffffffe
	// (MAX_SEQUENCE_NONFINAL), so that LockTime is enforced.
	Sequence uint32
	// ScriptSigPrefix is exactly the BIP34 height push (HeightScript), with
	// no dummy extra nonce: heights 1 to 16 give a single byte (OP_1 to
	// OP_16), so the miner must append at least one byte to reach the
	// two-byte minimum scriptSig size.
	ScriptSigPrefix []byte
	// Witness is the 32-byte witness reserved value (all zero) that must be
	// the only coinbase witness item, or nil without a witness commitment.
	Witness []byte
	// BlockRewardRemaining is subsidy + fees, in satoshis: what the miner's
	// own outputs may pay in total.
	BlockRewardRemaining int64
	// RequiredOutputs must be appended to the coinbase outputs unchanged
	// (the witness commitment).
	RequiredOutputs []*wire.TxOut
	// LockTime is the coinbase nLockTime: height - 1.
	LockTime uint32
}

func (c CoinbaseTx) clone() CoinbaseTx {
	out := c
	out.ScriptSigPrefix = append([]byte(nil), c.ScriptSigPrefix...)
	if c.Witness != nil {
		out.Witness = append([]byte(nil), c.Witness...)
	}
	out.RequiredOutputs = make([]*wire.TxOut, len(c.RequiredOutputs))
	for i, o := range c.RequiredOutputs {
		out.RequiredOutputs[i] = wire.NewTxOut(o.Value, append([]byte(nil), o.PkScript...))
	}
	return out
}

// BuildCoinbase builds a coinbase from the template's constraints: version,
// a null-outpoint input with scriptSig = ScriptSigPrefix || extraNonce (raw
// bytes, appended as they are) and the given sequence, the witness reserved
// value as the only witness item (if any), a first output paying
// BlockRewardRemaining to payTo followed by the required outputs, and the
// lock time. For heights 1 to 16 extraNonce must be non-empty, or the block
// fails with "bad-cb-length".
func BuildCoinbase(c CoinbaseTx, payTo []byte, extraNonce []byte) *wire.MsgTx {
	tx := wire.NewMsgTx(int32(c.Version))
	scriptSig := make([]byte, 0, len(c.ScriptSigPrefix)+len(extraNonce))
	scriptSig = append(scriptSig, c.ScriptSigPrefix...)
	scriptSig = append(scriptSig, extraNonce...)
	in := wire.NewTxIn(&wire.OutPoint{Index: wire.MaxPrevOutIndex}, scriptSig, nil)
	in.Sequence = c.Sequence
	if c.Witness != nil {
		in.Witness = wire.TxWitness{append([]byte(nil), c.Witness...)}
	}
	tx.AddTxIn(in)
	tx.AddTxOut(wire.NewTxOut(c.BlockRewardRemaining, append([]byte(nil), payTo...)))
	for _, o := range c.RequiredOutputs {
		tx.AddTxOut(wire.NewTxOut(o.Value, append([]byte(nil), o.PkScript...)))
	}
	tx.LockTime = c.LockTime
	return tx
}

// Template is a block template, the equivalent of Core's BlockTemplate
// interface. Its accessors return copies; only SubmitSolution changes it.
type Template struct {
	chain      *Chain
	id         uint64
	opts       TemplateOptions
	height     int32
	prevHash   chainhash.Hash
	fees       []int64
	sigops     []int64
	totalFees  int64
	coinbase   CoinbaseTx
	merklePath []chainhash.Hash

	mu         sync.Mutex
	block      *wire.MsgBlock // guarded by mu; SubmitSolution mutates it
	serialized []byte         // guarded by mu: block's serialization, made on demand

	// Guarded by chain.mu: the InterruptWait state.
	waiters          int
	waitGen          uint64
	interruptPending bool
}

// ID returns a number unique among the templates of a chain.
func (t *Template) ID() uint64 { return t.id }

// Height returns the height of the block the template builds.
func (t *Template) Height() int32 { return t.height }

// PrevHash returns the hash of the block the template builds on.
func (t *Template) PrevHash() chainhash.Hash { return t.prevHash }

// Options returns the options the template was created with.
func (t *Template) Options() TemplateOptions { return t.opts }

// Header returns the template's block header (getBlockHeader). After a
// SubmitSolution it carries the submitted version, time, nonce and merkle
// root.
func (t *Template) Header() wire.BlockHeader {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.block.Header
}

// Block returns a deep copy of the template's block (getBlock): a dummy
// coinbase followed by the selected transactions. After a SubmitSolution the
// coinbase is the submitted one, as in Core.
func (t *Template) Block() *wire.MsgBlock {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.block.Copy()
}

// Serialized returns the block's serialization with witnesses, what
// getBlock answers. It is made once and kept until SubmitSolution changes
// the block; the caller must not modify it.
func (t *Template) Serialized() ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.serialized == nil {
		var buf bytes.Buffer
		buf.Grow(t.block.SerializeSize())
		if err := t.block.Serialize(&buf); err != nil {
			return nil, fmt.Errorf("chain: serializing template %d's block: %w", t.id, err)
		}
		t.serialized = buf.Bytes()
	}
	return t.serialized, nil
}

// TxFees returns the fee of each non-coinbase transaction, in block order.
func (t *Template) TxFees() []int64 { return append([]int64(nil), t.fees...) }

// TxSigops returns the sigop cost of each non-coinbase transaction.
func (t *Template) TxSigops() []int64 { return append([]int64(nil), t.sigops...) }

// TotalFees returns the sum of TxFees.
func (t *Template) TotalFees() int64 { return t.totalFees }

// CoinbaseTx returns the coinbase constraints (getCoinbaseTx).
func (t *Template) CoinbaseTx() CoinbaseTx { return t.coinbase.clone() }

// CoinbaseMerklePath returns the merkle branch of the coinbase (position 0),
// from the leaf level up, each hash as its 32 internal (little-endian) bytes
// (getCoinbaseMerklePath). MerkleRootFromPath(coinbase txid, path) gives the
// block's merkle root. It is empty when the block has only the coinbase.
func (t *Template) CoinbaseMerklePath() [][]byte {
	out := make([][]byte, len(t.merklePath))
	for i := range t.merklePath {
		out[i] = append([]byte(nil), t.merklePath[i][:]...)
	}
	return out
}

// SubmitSolution is shorthand for t's chain SubmitSolution.
func (t *Template) SubmitSolution(version, timestamp, nonce uint32, coinbase *wire.MsgTx) (ok bool, reason, debug string) {
	return t.chain.SubmitSolution(t, version, timestamp, nonce, coinbase)
}

// InterruptWait is shorthand for t's chain InterruptWait.
func (t *Template) InterruptWait() { t.chain.InterruptWait(t) }

// CreateTemplate returns a template on top of the current tip (Core's
// createNewBlock without the cooldown). Invalid options give Core's error
// text (see TemplateOptions.Validate). A zero opts.MaxWeight takes the
// chain's WithBlockMaxWeight.
func (c *Chain) CreateTemplate(opts TemplateOptions) (*Template, error) {
	if opts.MaxWeight == 0 {
		opts.MaxWeight = c.cfg.blockMaxWeight
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.createTemplateLocked(opts), nil
}

// selectLocked picks mempool transactions like Core's BlockAssembler: by
// decreasing fee rate, parents before children, while the block weight stays
// below the maximum and the sigop cost below MaxBlockSigopsCost, starting
// from the reserved weight and sigops. Transactions below the minimum block
// fee rate are skipped.
func (c *Chain) selectLocked(opts TemplateOptions) (selected []*poolEntry, fees int64) {
	if !opts.UseMempool {
		return nil, 0
	}
	weight := int64(opts.BlockReservedWeight)
	sigops := int64(opts.CoinbaseOutputMaxAdditionalSigops)
	maxWeight := opts.maxWeight()
	included := make(map[chainhash.Hash]bool)
	pending := c.pool.sortedEntries()
	for len(pending) > 0 {
		var deferred []*poolEntry
		progress := false
	next:
		for _, e := range pending {
			if e.fee*1000 < c.cfg.blockMinFeeRate*e.vsize {
				continue
			}
			if weight+e.weight >= maxWeight || sigops+e.sigops >= MaxBlockSigopsCost {
				continue
			}
			for _, p := range e.parents {
				if _, inPool := c.pool.entries[p]; inPool && !included[p] {
					deferred = append(deferred, e)
					continue next
				}
			}
			included[e.txid] = true
			selected = append(selected, e)
			weight += e.weight
			sigops += e.sigops
			fees += e.fee
			progress = true
		}
		if !progress {
			break
		}
		pending = deferred
	}
	return selected, fees
}

// createTemplateLocked builds a template on top of the tip. opts must be
// valid.
func (c *Chain) createTemplateLocked(opts TemplateOptions) *Template {
	prevHash, prevHeight := c.tipLocked()
	height := prevHeight + 1
	selected, totalFees := c.selectLocked(opts)

	// The dummy coinbase, as Core's BlockAssembler builds it.
	prefix := HeightScript(height)
	scriptSig := append([]byte(nil), prefix...)
	if height <= 16 {
		scriptSig = append(scriptSig, txscript.OP_0)
	}
	reward := BlockSubsidy(height) + totalFees
	coinbase := wire.NewMsgTx(CoinbaseTxVersion)
	in := wire.NewTxIn(&wire.OutPoint{Index: wire.MaxPrevOutIndex}, scriptSig, nil)
	in.Sequence = CoinbaseSequence
	coinbase.AddTxIn(in)
	coinbase.AddTxOut(wire.NewTxOut(reward, append([]byte(nil), opTrue...)))
	coinbase.LockTime = uint32(height - 1)

	// Segwit is active from genesis on regtest, so Core always adds the
	// witness commitment and the reserved value, even to empty blocks.
	reserved := make([]byte, chainhash.HashSize)
	in.Witness = wire.TxWitness{reserved}
	wtxids := make([]chainhash.Hash, 1, len(selected)+1)
	for _, e := range selected {
		wtxids = append(wtxids, e.wtxid)
	}
	commitment := witnessCommitment(witnessRoot(wtxids), reserved)
	commitmentOut := wire.NewTxOut(0, witnessCommitmentScript(commitment))
	coinbase.AddTxOut(commitmentOut)

	block := &wire.MsgBlock{Transactions: make([]*wire.MsgTx, 0, len(selected)+1)}
	block.Transactions = append(block.Transactions, coinbase)
	leaves := make([]chainhash.Hash, 0, len(selected)+1)
	leaves = append(leaves, coinbase.TxHash())
	fees := make([]int64, len(selected))
	sigops := make([]int64, len(selected))
	for i, e := range selected {
		block.Transactions = append(block.Transactions, e.tx)
		leaves = append(leaves, e.txid)
		fees[i] = e.fee
		sigops[i] = e.sigops
	}
	root, _ := merkleRoot(leaves)
	block.Header = wire.BlockHeader{
		Version:    BlockVersion,
		PrevBlock:  prevHash,
		MerkleRoot: root,
		Timestamp:  time.Unix(c.nextBlockTimeLocked(), 0),
		Bits:       RegtestBits,
	}

	c.templateSeq++
	return &Template{
		chain:     c,
		id:        c.templateSeq,
		opts:      opts,
		height:    height,
		prevHash:  prevHash,
		fees:      fees,
		sigops:    sigops,
		totalFees: totalFees,
		coinbase: CoinbaseTx{
			Version:              CoinbaseTxVersion,
			Sequence:             CoinbaseSequence,
			ScriptSigPrefix:      prefix,
			Witness:              append([]byte(nil), reserved...),
			BlockRewardRemaining: reward,
			RequiredOutputs:      []*wire.TxOut{wire.NewTxOut(0, append([]byte(nil), commitmentOut.PkScript...))},
			LockTime:             uint32(height - 1),
		},
		merklePath: merklePath(leaves, 0),
		block:      block,
	}
}
