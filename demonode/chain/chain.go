package chain

import (
	"fmt"
	"math/big"
	"strconv"
	"sync"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// Option configures a Chain.
type Option func(*config)

type config struct {
	now                 func() time.Time
	blockMinFeeRate     int64 // sat per 1000 vbytes
	blockMaxWeight      uint64
	blockReservedWeight uint64
}

// WithClock replaces the wall clock used for template timestamps and the
// "time-too-new" check. It is meant for tests.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithBlockMinTxFee sets the minimum fee rate, in satoshis per 1000 virtual
// bytes, for a transaction to be put in a template (Core's -blockmintxfee).
// The default is DefaultBlockMinTxFee.
func WithBlockMinTxFee(satPerKvB int64) Option {
	return func(c *config) {
		if satPerKvB >= 0 {
			c.blockMinFeeRate = satPerKvB
		}
	}
}

// WithBlockMaxWeight caps the weight of every template whose options do
// not set TemplateOptions.MaxWeight (Core's -blockmaxweight). The default,
// 0, means MaxBlockWeight, as Core's DEFAULT_BLOCK_MAX_WEIGHT. A value
// above MaxBlockWeight makes CreateTemplate fail with Core's startup error.
func WithBlockMaxWeight(weight uint64) Option {
	return func(c *config) { c.blockMaxWeight = weight }
}

// WithBlockReservedWeight sets the weight reserved for the coinbase in the
// blocks GenerateToScript mines (Core's -blockreservedweight, which applies
// to RPC-built templates; IPC clients give their own in TemplateOptions).
// The default is DefaultBlockReservedWeight.
func WithBlockReservedWeight(weight uint64) Option {
	return func(c *config) { c.blockReservedWeight = weight }
}

// DefaultBlockMinTxFee is Core's DEFAULT_BLOCK_MIN_TX_FEE: 1 sat/kvB.
const DefaultBlockMinTxFee = 1

// Chain is a simulated regtest chain with a mempool. Create it with New.
type Chain struct {
	mu  sync.Mutex
	cfg config

	// Active chain, indexed by height.
	blocks    []*wire.MsgBlock
	hashes    []chainhash.Hash
	times     []int64
	chainWork []*big.Int
	index     map[chainhash.Hash]int32
	// side holds valid blocks whose parent is in the active chain but is
	// not the tip (stale solutions). They are never connected.
	side map[chainhash.Hash]*wire.MsgBlock
	// invalid maps hashes of blocks that failed contextual validation to
	// the rejection reason, for "duplicate-invalid".
	invalid map[chainhash.Hash]string
	// confirmed holds the txids of all confirmed non-coinbase transactions.
	confirmed map[chainhash.Hash]struct{}
	// coins are the transactions of the active chain after genesis (whose
	// coinbase is unspendable, as in Core), and spent their outputs that
	// a later block spends: the simulation's UTXO set (see AcceptTx).
	coins map[chainhash.Hash]coinTx
	spent map[wire.OutPoint]struct{}

	pool mempool

	// changed is closed (and replaced) whenever the tip or the mempool
	// changes, a wait starts or ends, or a wait is interrupted, waking
	// every waiter.
	changed chan struct{}
	// closed is set by Close; all waits return at once afterwards.
	closed bool
	// nextWaiters counts the pending WaitNext calls of all templates.
	nextWaiters int
	// Mining.interrupt() state (see Interrupt).
	tipWaiters       int
	interruptGen     uint64
	interruptPending bool

	templateSeq uint64

	// OnNotify's functions, called in registration order.
	notify      map[uint64]func(Notification)
	notifyOrder []uint64
	notifyID    uint64
}

// New returns a chain holding only the regtest genesis block and an empty
// mempool.
func New(opts ...Option) *Chain {
	cfg := config{now: time.Now, blockMinFeeRate: DefaultBlockMinTxFee, blockReservedWeight: DefaultBlockReservedWeight}
	for _, o := range opts {
		o(&cfg)
	}
	genesis := chaincfg.RegressionNetParams.GenesisBlock.Copy()
	hash := genesis.BlockHash()
	c := &Chain{
		cfg:       cfg,
		blocks:    []*wire.MsgBlock{genesis},
		hashes:    []chainhash.Hash{hash},
		times:     []int64{genesis.Header.Timestamp.Unix()},
		chainWork: []*big.Int{blockchain.CalcWork(genesis.Header.Bits)},
		index:     map[chainhash.Hash]int32{hash: 0},
		side:      make(map[chainhash.Hash]*wire.MsgBlock),
		invalid:   make(map[chainhash.Hash]string),
		confirmed: make(map[chainhash.Hash]struct{}),
		coins:     make(map[chainhash.Hash]coinTx),
		spent:     make(map[wire.OutPoint]struct{}),
		pool:      newMempool(),
		changed:   make(chan struct{}),
	}
	return c
}

// now returns the current time truncated to whole seconds.
func (c *Chain) now() time.Time {
	return time.Unix(c.cfg.now().Unix(), 0)
}

// broadcastLocked wakes every waiter. c.mu must be held.
func (c *Chain) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Tip returns the hash and height of the chain tip.
func (c *Chain) Tip() (hash chainhash.Hash, height int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tipLocked()
}

func (c *Chain) tipLocked() (chainhash.Hash, int32) {
	h := len(c.hashes) - 1
	return c.hashes[h], int32(h)
}

// Height returns the height of the chain tip.
func (c *Chain) Height() int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int32(len(c.hashes) - 1)
}

// IsTestChain reports whether this is a test chain (always true: regtest).
func (c *Chain) IsTestChain() bool { return true }

// IsInitialBlockDownload reports whether the node is in initial block
// download (always false: the simulated chain is always synced).
func (c *Chain) IsInitialBlockDownload() bool { return false }

// HashAtHeight returns the hash of the active-chain block at height.
func (c *Chain) HashAtHeight(height int32) (chainhash.Hash, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if height < 0 || int(height) >= len(c.hashes) {
		return chainhash.Hash{}, false
	}
	return c.hashes[height], true
}

// HeightOf returns the height of the active-chain block with the given hash.
func (c *Chain) HeightOf(hash chainhash.Hash) (int32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.index[hash]
	return h, ok
}

// blockLocked finds an active-chain or stale (side) block.
func (c *Chain) blockLocked(hash chainhash.Hash) *wire.MsgBlock {
	if h, ok := c.index[hash]; ok {
		return c.blocks[h]
	}
	return c.side[hash]
}

// BlockByHash returns a deep copy of the block with the given hash, from the
// active chain or among the stale blocks (see SubmitBlock).
func (c *Chain) BlockByHash(hash chainhash.Hash) (*wire.MsgBlock, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.blockLocked(hash); b != nil {
		return b.Copy(), true
	}
	return nil, false
}

// HeaderByHash returns a copy of the header of the block with the given
// hash, from the active chain or among the stale blocks.
func (c *Chain) HeaderByHash(hash chainhash.Hash) (*wire.BlockHeader, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.blockLocked(hash); b != nil {
		hdr := b.Header
		return &hdr, true
	}
	return nil, false
}

// medianTimePastLocked returns the median time past of the tip (the median
// timestamp of the last 11 blocks).
func (c *Chain) medianTimePastLocked() int64 {
	return c.medianTimePastAtLocked(int32(len(c.times) - 1))
}

// medianTimePastAtLocked returns the median time past of the active-chain
// block at height.
func (c *Chain) medianTimePastAtLocked(height int32) int64 {
	start := max(int(height)+1-MedianTimeSpan, 0)
	return medianTime(c.times[start : height+1])
}

// MedianTimePast returns the median timestamp of the last 11 blocks; a new
// block's time must be greater than it.
func (c *Chain) MedianTimePast() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Unix(c.medianTimePastLocked(), 0)
}

// nextBlockTimeLocked returns the timestamp for a template on top of the tip:
// max(MTP+1, now) like Core's UpdateTime, raised to tip time + 1 so that
// timestamps strictly increase even when blocks come faster than one per
// second, unless that would put the block more than an hour ahead of the
// clock (half of MaxFutureBlockTime).
func (c *Chain) nextBlockTimeLocked() int64 {
	now := c.now().Unix()
	t := max(c.medianTimePastLocked()+1, now)
	if next := c.times[len(c.times)-1] + 1; next > t && next <= now+int64(MaxFutureBlockTime/time.Second)/2 {
		t = next
	}
	return t
}

// connectLocked appends an already validated block to the chain, removes its
// transactions (and conflicting ones) from the mempool and wakes waiters.
func (c *Chain) connectLocked(b *wire.MsgBlock, hash chainhash.Hash) {
	height := int32(len(c.hashes))
	c.blocks = append(c.blocks, b)
	c.hashes = append(c.hashes, hash)
	c.times = append(c.times, b.Header.Timestamp.Unix())
	work := new(big.Int).Add(c.chainWork[len(c.chainWork)-1], blockchain.CalcWork(b.Header.Bits))
	c.chainWork = append(c.chainWork, work)
	c.index[hash] = height
	for i, tx := range b.Transactions {
		txid := tx.TxHash()
		c.coins[txid] = coinTx{tx: tx, height: height, coinbase: i == 0}
		if i > 0 {
			c.confirmed[txid] = struct{}{}
			for _, in := range tx.TxIn {
				c.spent[in.PreviousOutPoint] = struct{}{}
			}
		}
	}
	for _, removed := range c.pool.removeForBlock(b) {
		c.notifyLocked(Notification{Kind: TxRemoved, Hash: removed.txid, Tx: removed.tx, MempoolSeq: removed.mempoolSeq})
	}
	c.notifyLocked(Notification{Kind: BlockConnected, Hash: hash, Block: b})
	c.broadcastLocked()
}

// BlockchainInfo is the subset of Core's getblockchaininfo result that the
// simulation can answer. Field names follow the RPC's JSON keys.
type BlockchainInfo struct {
	Chain                string   `json:"chain"`
	Blocks               int32    `json:"blocks"`
	Headers              int32    `json:"headers"`
	BestBlockHash        string   `json:"bestblockhash"`
	Bits                 string   `json:"bits"`
	Target               string   `json:"target"`
	Difficulty           float64  `json:"difficulty"`
	Time                 int64    `json:"time"`
	MedianTime           int64    `json:"mediantime"`
	VerificationProgress float64  `json:"verificationprogress"`
	InitialBlockDownload bool     `json:"initialblockdownload"`
	ChainWork            string   `json:"chainwork"`
	SizeOnDisk           int64    `json:"size_on_disk"`
	Pruned               bool     `json:"pruned"`
	Warnings             []string `json:"warnings"`
}

// RPCDouble rounds v to the 16 significant digits Core's UniValue prints, so
// that encoding/json writes the same number as Core (the regtest difficulty
// 4.6565423739069247e-10 becomes 4.656542373906925e-10).
func RPCDouble(v float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 16, 64), 64)
	if err != nil {
		return v
	}
	return r
}

// BlockchainInfo returns getblockchaininfo-style information about the tip.
// Difficulty is rounded to 16 significant digits, as Core prints it.
func (c *Chain) BlockchainInfo() BlockchainInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	hash, height := c.tipLocked()
	tip := c.blocks[height]
	var size int64
	for _, b := range c.blocks {
		size += int64(b.SerializeSize())
	}
	return BlockchainInfo{
		Chain:                "regtest",
		Blocks:               height,
		Headers:              height,
		BestBlockHash:        hash.String(),
		Bits:                 fmt.Sprintf("%08x", tip.Header.Bits),
		Target:               fmt.Sprintf("%064x", blockchain.CompactToBig(tip.Header.Bits)),
		Difficulty:           RPCDouble(CalcDifficulty(tip.Header.Bits)),
		Time:                 tip.Header.Timestamp.Unix(),
		MedianTime:           c.medianTimePastLocked(),
		VerificationProgress: 1,
		InitialBlockDownload: false,
		ChainWork:            fmt.Sprintf("%064x", c.chainWork[height]),
		SizeOnDisk:           size,
		Pruned:               false,
		Warnings:             []string{},
	}
}

// BlockInfo is what getblock and getblockheader report about a block.
type BlockInfo struct {
	Block  *wire.MsgBlock // a deep copy
	Height int32
	// Active is false for a stale block (see SubmitBlock); its
	// confirmations are then -1.
	Active        bool
	Confirmations int32
	MedianTime    int64
	ChainWork     *big.Int
	// Next is the hash of the next active-chain block, if any.
	Next *chainhash.Hash
}

// BlockInfo describes the active-chain or stale block with the given hash.
func (c *Chain) BlockInfo(hash chainhash.Hash) (BlockInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, tipHeight := c.tipLocked()
	if h, ok := c.index[hash]; ok {
		info := BlockInfo{Block: c.blocks[h].Copy(), Height: h, Active: true, Confirmations: tipHeight - h + 1,
			MedianTime: c.medianTimePastAtLocked(h), ChainWork: new(big.Int).Set(c.chainWork[h])}
		if h < tipHeight {
			next := c.hashes[h+1]
			info.Next = &next
		}
		return info, true
	}
	b, ok := c.side[hash]
	if !ok {
		return BlockInfo{}, false
	}
	prev := c.index[b.Header.PrevBlock] // stale blocks have an active parent
	start := max(int(prev)+2-MedianTimeSpan, 0)
	times := append(append([]int64(nil), c.times[start:prev+1]...), b.Header.Timestamp.Unix())
	return BlockInfo{Block: b.Copy(), Height: prev + 1, Confirmations: -1, MedianTime: medianTime(times),
		ChainWork: new(big.Int).Add(c.chainWork[prev], blockchain.CalcWork(b.Header.Bits))}, true
}
