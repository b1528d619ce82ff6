package node

import (
	"context"
	"encoding/json"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/domain"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
)

// Echo is Bitcoin Core's Echo interface, for testing a connection.
type Echo interface {
	// Echo returns text as the node received it.
	Echo(ctx context.Context, text string) (string, error)
	// Destroy frees the Echo on the node.
	Destroy(ctx context.Context) error
}

// Rpc is Bitcoin Core's Rpc interface (v32): JSON-RPC over IPC.
type Rpc interface {
	// ExecuteRpc runs one JSON-RPC request object and returns the reply
	// object, as bitcoin-cli -ipcconnect does.
	ExecuteRpc(ctx context.Context, request json.RawMessage, uri, user string) (json.RawMessage, error)
	// Release drops the capability.
	Release()
}

// BlockRef names a block: its hash and height.
type BlockRef struct {
	Hash   chainhash.Hash
	Height int32
}

// BlockCreateOptions are createNewBlock's options. Every field is sent as
// it is, on every release; DefaultBlockCreateOptions holds Core's defaults.
type BlockCreateOptions struct {
	// UseMempool fills the template with mempool transactions.
	UseMempool bool
	// BlockReservedWeight is kept free for the header and the coinbase.
	BlockReservedWeight uint64
	// CoinbaseOutputMaxAdditionalSigops is kept free for the coinbase outputs.
	CoinbaseOutputMaxAdditionalSigops uint64
}

// DefaultBlockCreateOptions returns Core's defaults: use the mempool,
// reserve 8000 weight units and 400 sigops.
func DefaultBlockCreateOptions() BlockCreateOptions {
	return BlockCreateOptions{UseMempool: true, BlockReservedWeight: 8000, CoinbaseOutputMaxAdditionalSigops: 400}
}

// BlockWaitOptions are waitNext's options, sent as they are on every
// release; DefaultBlockWaitOptions holds Core's defaults.
type BlockWaitOptions struct {
	// Timeout bounds the wait; domain.NoTimeout waits for ever.
	Timeout time.Duration
	// FeeThreshold makes waitNext return once the template's fees rose by
	// at least this much.
	FeeThreshold btcutil.Amount
}

// DefaultBlockWaitOptions returns Core's defaults: wait for ever, for a
// new tip only (a fee threshold of 21 million BTC).
func DefaultBlockWaitOptions() BlockWaitOptions {
	return BlockWaitOptions{Timeout: domain.NoTimeout, FeeThreshold: btcutil.MaxSatoshi}
}

// BlockCheckOptions are checkBlock's options, sent as they are on every
// release; DefaultBlockCheckOptions holds Core's defaults.
type BlockCheckOptions struct {
	CheckMerkleRoot bool // verify the header's merkle root
	CheckPow        bool // verify the proof of work
}

// DefaultBlockCheckOptions returns Core's defaults: check both.
func DefaultBlockCheckOptions() BlockCheckOptions {
	return BlockCheckOptions{CheckMerkleRoot: true, CheckPow: true}
}

// CoinbaseTx is what a coinbase transaction for a template must contain
// (Core's node::CoinbaseTx, getCoinbaseTx from v31 on). It is the latest
// release's struct, v32.CoinbaseTx, for every release, so that package
// miner builds and submits blocks from any node's templates.
type CoinbaseTx = v32.CoinbaseTx

// Mining is Bitcoin Core's Mining interface, the union of the releases'.
type Mining interface {
	// IsTestChain is true on test networks.
	IsTestChain(ctx context.Context) (bool, error)
	// IsInitialBlockDownload is true while the node catches up.
	IsInitialBlockDownload(ctx context.Context) (bool, error)
	// GetTip returns the tip; nil while the node has no chain.
	GetTip(ctx context.Context) (*BlockRef, error)
	// WaitTipChanged waits up to timeout (domain.NoTimeout: for ever) for
	// the tip to differ from current and returns the tip then; nil if the
	// wait was interrupted.
	WaitTipChanged(ctx context.Context, current chainhash.Hash, timeout time.Duration) (*BlockRef, error)
	// CreateNewBlock builds a template on the tip; nil if interrupted.
	// cooldown (first wait for the tip to settle) needs v31 or later:
	// true is ErrUnsupported on v30, whose createNewBlock never waits.
	CreateNewBlock(ctx context.Context, options BlockCreateOptions, cooldown bool) (BlockTemplate, error)
	// CheckBlock checks a block without connecting it; reason says why
	// it is invalid.
	CheckBlock(ctx context.Context, block *wire.MsgBlock, options BlockCheckOptions) (ok bool, reason, debug string, err error)
	// Interrupt wakes pending waitTipChanged and createNewBlock calls (v31
	// and later).
	Interrupt(ctx context.Context) error
	// SubmitBlock validates and connects a whole block (v32).
	SubmitBlock(ctx context.Context, block *wire.MsgBlock) (ok bool, reason, debug string, err error)
	// GetTransactionsByTxID looks transactions up in the mempool; a
	// missing one is nil at its position (v32).
	GetTransactionsByTxID(ctx context.Context, txids []chainhash.Hash) ([]*wire.MsgTx, error)
	// GetTransactionsByWitnessID is GetTransactionsByTxID by wtxid (v32).
	GetTransactionsByWitnessID(ctx context.Context, wtxids []chainhash.Hash) ([]*wire.MsgTx, error)
	// Release drops the capability.
	Release()
}

// BlockTemplate is Bitcoin Core's BlockTemplate interface, the union of
// the releases'.
type BlockTemplate interface {
	// Destroy frees the template on the node.
	Destroy(ctx context.Context) error
	// GetBlockHeader returns the template's header.
	GetBlockHeader(ctx context.Context) (wire.BlockHeader, error)
	// GetBlock returns the template's block, with a dummy coinbase.
	GetBlock(ctx context.Context) (*wire.MsgBlock, error)
	// GetTxFees returns the fee of each transaction after the coinbase.
	GetTxFees(ctx context.Context) ([]btcutil.Amount, error)
	// GetTxSigops returns the sigop cost of each transaction after the
	// coinbase.
	GetTxSigops(ctx context.Context) ([]int64, error)
	// GetCoinbaseTx returns what the coinbase must contain. v30 answers
	// getCoinbaseTx with its dummy coinbase transaction instead; on v30
	// this is read from it and getCoinbaseCommitment: the version,
	// sequence, lock time and witness as they are, the scriptSig's first
	// push (the height) as the prefix, the sum of its outputs as the
	// reward, and the commitment as the required output.
	GetCoinbaseTx(ctx context.Context) (*CoinbaseTx, error)
	// GetCoinbaseCommitment returns the witness commitment output script
	// (v30 only; from v31 on it is in GetCoinbaseTx's RequiredOutputs).
	GetCoinbaseCommitment(ctx context.Context) ([]byte, error)
	// GetWitnessCommitmentIndex returns the commitment's output index in
	// the dummy coinbase, or -1 (v30 only).
	GetWitnessCommitmentIndex(ctx context.Context) (int32, error)
	// GetCoinbaseMerklePath returns the merkle branch of the coinbase.
	GetCoinbaseMerklePath(ctx context.Context) ([]chainhash.Hash, error)
	// SubmitSolution completes the template with the header fields and
	// the coinbase and submits the block. v30 and v31 answer only whether
	// the block was accepted: reason and debug are empty there.
	SubmitSolution(ctx context.Context, version, timestamp, nonce uint32, coinbase *wire.MsgTx) (ok bool, reason, debug string, err error)
	// WaitNext waits for a better template; nil on timeout or interrupt.
	WaitNext(ctx context.Context, options BlockWaitOptions) (BlockTemplate, error)
	// InterruptWait wakes a pending WaitNext (v31 and later).
	InterruptWait(ctx context.Context) error
	// Release drops the capability without destroying the template.
	Release()
}
