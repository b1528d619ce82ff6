package chain

import (
	"bytes"
	"math/big"
	"math/bits"
	"sort"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Consensus and policy constants, named after their Bitcoin Core
// counterparts.
const (
	// MaxBlockWeight is MAX_BLOCK_WEIGHT.
	MaxBlockWeight = 4_000_000
	// MaxBlockSigopsCost is MAX_BLOCK_SIGOPS_COST.
	MaxBlockSigopsCost = 80_000
	// WitnessScaleFactor is WITNESS_SCALE_FACTOR.
	WitnessScaleFactor = 4
	// MinimumBlockReservedWeight is MINIMUM_BLOCK_RESERVED_WEIGHT.
	MinimumBlockReservedWeight = 2000
	// DefaultBlockReservedWeight is DEFAULT_BLOCK_RESERVED_WEIGHT, the
	// default of BlockCreateOptions.blockReservedWeight.
	DefaultBlockReservedWeight = 8000
	// DefaultCoinbaseOutputMaxAdditionalSigops is the default of
	// BlockCreateOptions.coinbaseOutputMaxAdditionalSigops.
	DefaultCoinbaseOutputMaxAdditionalSigops = 400
	// MaxMoney is MAX_MONEY in satoshis. It is also the default (and
	// "disabled") value of BlockWaitOptions.feeThreshold.
	MaxMoney = 21_000_000 * 100_000_000
	// MaxFutureBlockTime is MAX_FUTURE_BLOCK_TIME.
	MaxFutureBlockTime = 2 * time.Hour
	// MaxStandardTxWeight is MAX_STANDARD_TX_WEIGHT, the largest transaction
	// the mempool accepts.
	MaxStandardTxWeight = 400_000
	// LocktimeThreshold is LOCKTIME_THRESHOLD: nLockTime values below it are
	// heights, values at or above it are UNIX times.
	LocktimeThreshold = 500_000_000
	// SequenceFinal is CTxIn::SEQUENCE_FINAL.
	SequenceFinal = 0xffffffff
	// MaxSequenceNonFinal is CTxIn::MAX_SEQUENCE_NONFINAL.
	MaxSequenceNonFinal = 0xfffffffe
	// MaxCoinbaseScriptSigSize is the largest coinbase scriptSig (bytes).
	MaxCoinbaseScriptSigSize = 100
	// MinCoinbaseScriptSigSize is the smallest coinbase scriptSig (bytes).
	MinCoinbaseScriptSigSize = 2
	// MedianTimeSpan is the number of blocks in the median-time-past window.
	MedianTimeSpan = 11
)

// Regtest parameters.
const (
	// RegtestBits is the compact target of every regtest block.
	RegtestBits = 0x207fffff
	// BlockVersion is the nVersion of templates (VERSIONBITS_TOP_BITS, no
	// deployment signalled).
	BlockVersion = 0x20000000
	// SubsidyHalvingInterval is the regtest nSubsidyHalvingInterval.
	SubsidyHalvingInterval = 150
	// InitialSubsidy is the block subsidy at height 0 (50 BTC).
	InitialSubsidy = 50 * 100_000_000
	// CoinbaseTxVersion is the nVersion of the coinbase Core builds
	// (CTransaction::CURRENT_VERSION).
	CoinbaseTxVersion = 2
	// CoinbaseSequence is the nSequence of the coinbase input Core builds:
	// MAX_SEQUENCE_NONFINAL, so that the nLockTime of height-1 is enforced.
	CoinbaseSequence = MaxSequenceNonFinal
)

// witnessCommitmentHeader is OP_RETURN, push 36, then the BIP141 magic
// 0xaa21a9ed; the 32-byte commitment follows.
var witnessCommitmentHeader = []byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}

// witnessCommitmentScriptLen is the minimum length of a commitment output.
const witnessCommitmentScriptLen = 38

// opTrue is the script of the dummy coinbase payout (CScript() << OP_TRUE).
var opTrue = []byte{txscript.OP_TRUE}

// GenesisHash is the regtest genesis block hash.
var GenesisHash = *chaincfg.RegressionNetParams.GenesisHash

// powLimit is the regtest proof-of-work limit.
var powLimit = chaincfg.RegressionNetParams.PowLimit

// BlockSubsidy returns the regtest block subsidy at height:
// 50 BTC >> (height / 150), and zero after 64 halvings.
func BlockSubsidy(height int32) int64 {
	halvings := height / SubsidyHalvingInterval
	if halvings >= 64 || height < 0 {
		return 0
	}
	return InitialSubsidy >> uint(halvings)
}

// HeightScript returns CScript() << height: the BIP34 height push that a
// coinbase scriptSig must start with. Heights 1 to 16 encode as a single
// OP_1..OP_16 opcode; larger heights as a minimal CScriptNum push (17 ->
// 0x01 0x11, 128 -> 0x02 0x80 0x00, ...).
func HeightScript(height int32) []byte {
	script, err := txscript.NewScriptBuilder().AddInt64(int64(height)).Script()
	if err != nil {
		// Unreachable: a single small push never exceeds script limits.
		panic(err)
	}
	return script
}

// CalcDifficulty returns Core's GetDifficulty for compact bits: the ratio of
// the difficulty-1 target to the target, computed exactly as Core does (in
// float64, so results match bit for bit).
func CalcDifficulty(nBits uint32) float64 {
	shift := (nBits >> 24) & 0xff
	diff := float64(0x0000ffff) / float64(nBits&0x00ffffff)
	for shift < 29 {
		diff *= 256.0
		shift++
	}
	for shift > 29 {
		diff /= 256.0
		shift--
	}
	return diff
}

// CheckProofOfWork reports whether hash meets the compact target nBits and
// nBits is a valid regtest target (positive, no overflow, not above the
// regtest proof-of-work limit), as Core's CheckProofOfWork does.
func CheckProofOfWork(hash chainhash.Hash, nBits uint32) bool {
	target, ok := targetFromBits(nBits)
	if !ok {
		return false
	}
	return blockchain.HashToBig(&hash).Cmp(target) <= 0
}

// targetFromBits decodes nBits and checks it against the pow limit.
func targetFromBits(nBits uint32) (*big.Int, bool) {
	// Negative (sign bit with a non-zero mantissa) or overflowing
	// encodings are invalid, like arith_uint256::SetCompact reports.
	mantissa := nBits & 0x007fffff
	exponent := nBits >> 24
	if mantissa != 0 && nBits&0x00800000 != 0 {
		return nil, false
	}
	if mantissa != 0 && (exponent > 34 ||
		(mantissa > 0xff && exponent > 33) ||
		(mantissa > 0xffff && exponent > 32)) {
		return nil, false
	}
	target := blockchain.CompactToBig(nBits)
	if target.Sign() <= 0 || target.Cmp(powLimit) > 0 {
		return nil, false
	}
	return target, true
}

// isCoinbase is CTransaction::IsCoinBase: one input spending the null
// outpoint.
func isCoinbase(tx *wire.MsgTx) bool {
	return len(tx.TxIn) == 1 && isNullOutpoint(&tx.TxIn[0].PreviousOutPoint)
}

func isNullOutpoint(op *wire.OutPoint) bool {
	return op.Index == wire.MaxPrevOutIndex && op.Hash == (chainhash.Hash{})
}

// txWeight is GetTransactionWeight: stripped size * 3 + total size.
func txWeight(tx *wire.MsgTx) int64 {
	return int64(tx.SerializeSizeStripped()*(WitnessScaleFactor-1) + tx.SerializeSize())
}

// blockWeight is GetBlockWeight.
func blockWeight(b *wire.MsgBlock) int64 {
	return int64(b.SerializeSizeStripped()*(WitnessScaleFactor-1) + b.SerializeSize())
}

// legacySigOpCost is GetLegacySigOpCount times the witness scale factor.
func legacySigOpCost(tx *wire.MsgTx) int64 {
	return int64(blockchain.CountSigOps(btcutil.NewTx(tx))) * WitnessScaleFactor
}

// hashPair returns SHA256d(left || right).
func hashPair(left, right *chainhash.Hash) chainhash.Hash {
	var buf [2 * chainhash.HashSize]byte
	copy(buf[:chainhash.HashSize], left[:])
	copy(buf[chainhash.HashSize:], right[:])
	return chainhash.DoubleHashH(buf[:])
}

// merkleRoot is Core's ComputeMerkleRoot: the root of the tree over leaves
// (the last node of an odd level is paired with itself) and whether the tree
// is "mutated", i.e. some level has two identical adjacent nodes at an even
// position (CVE-2012-2459). The root of no leaves is the zero hash.
func merkleRoot(leaves []chainhash.Hash) (root chainhash.Hash, mutated bool) {
	if len(leaves) == 0 {
		return chainhash.Hash{}, false
	}
	level := append([]chainhash.Hash(nil), leaves...)
	for len(level) > 1 {
		for i := 0; i+1 < len(level); i += 2 {
			if level[i] == level[i+1] {
				mutated = true
			}
		}
		if len(level)%2 == 1 {
			level = append(level, level[len(level)-1])
		}
		next := make([]chainhash.Hash, 0, len(level)/2)
		for i := 0; i < len(level); i += 2 {
			next = append(next, hashPair(&level[i], &level[i+1]))
		}
		level = next
	}
	return level[0], mutated
}

// merklePath is Core's TransactionMerklePath for position pos: the sibling
// hashes from the leaf level up to (excluding) the root.
func merklePath(leaves []chainhash.Hash, pos int) []chainhash.Hash {
	var path []chainhash.Hash
	level := append([]chainhash.Hash(nil), leaves...)
	for len(level) > 1 {
		if len(level)%2 == 1 {
			level = append(level, level[len(level)-1])
		}
		path = append(path, level[pos^1])
		next := make([]chainhash.Hash, 0, len(level)/2)
		for i := 0; i < len(level); i += 2 {
			next = append(next, hashPair(&level[i], &level[i+1]))
		}
		level = next
		pos /= 2
	}
	return path
}

// MerkleRootFromPath folds a coinbase merkle path (as returned by
// Template.CoinbaseMerklePath) over the coinbase txid, giving the block's
// merkle root. It is what a miner does with its own coinbase.
func MerkleRootFromPath(coinbaseTxid chainhash.Hash, path [][]byte) chainhash.Hash {
	root := coinbaseTxid
	for _, p := range path {
		var sibling chainhash.Hash
		copy(sibling[:], p)
		root = hashPair(&root, &sibling)
	}
	return root
}

// txids returns the txids of the block's transactions.
func txids(b *wire.MsgBlock) []chainhash.Hash {
	out := make([]chainhash.Hash, len(b.Transactions))
	for i, tx := range b.Transactions {
		out[i] = tx.TxHash()
	}
	return out
}

// witnessRoot is BlockWitnessMerkleRoot: the merkle root over wtxids with
// the coinbase's wtxid replaced by zero.
func witnessRoot(wtxids []chainhash.Hash) chainhash.Hash {
	leaves := append([]chainhash.Hash(nil), wtxids...)
	if len(leaves) > 0 {
		leaves[0] = chainhash.Hash{}
	}
	root, _ := merkleRoot(leaves)
	return root
}

// witnessCommitment returns SHA256d(witnessRoot || reservedValue).
func witnessCommitment(root chainhash.Hash, reserved []byte) chainhash.Hash {
	buf := make([]byte, 0, chainhash.HashSize+len(reserved))
	buf = append(buf, root[:]...)
	buf = append(buf, reserved...)
	return chainhash.DoubleHashH(buf)
}

// witnessCommitmentScript returns the commitment output script.
func witnessCommitmentScript(commitment chainhash.Hash) []byte {
	script := make([]byte, 0, witnessCommitmentScriptLen)
	script = append(script, witnessCommitmentHeader...)
	return append(script, commitment[:]...)
}

// witnessCommitmentIndex is GetWitnessCommitmentIndex: the index of the last
// coinbase output that looks like a witness commitment, or -1.
func witnessCommitmentIndex(b *wire.MsgBlock) int {
	if len(b.Transactions) == 0 {
		return -1
	}
	pos := -1
	for i, out := range b.Transactions[0].TxOut {
		if len(out.PkScript) >= witnessCommitmentScriptLen &&
			bytes.HasPrefix(out.PkScript, witnessCommitmentHeader) {
			pos = i
		}
	}
	return pos
}

// isFinalTx is Core's IsFinalTx.
func isFinalTx(tx *wire.MsgTx, height int32, blockTime int64) bool {
	if tx.LockTime == 0 {
		return true
	}
	limit := int64(height)
	if tx.LockTime >= LocktimeThreshold {
		limit = blockTime
	}
	if int64(tx.LockTime) < limit {
		return true
	}
	for _, in := range tx.TxIn {
		if in.Sequence != SequenceFinal {
			return false
		}
	}
	return true
}

// medianTime returns the median of the given timestamps (Core's
// GetMedianTimePast over the last up-to-11 blocks).
func medianTime(times []int64) int64 {
	if len(times) == 0 {
		return 0
	}
	sorted := append([]int64(nil), times...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	return sorted[len(sorted)/2]
}

// feeRateGreater reports whether feeA/weightA > feeB/weightB, exactly.
func feeRateGreater(feeA, weightA, feeB, weightB int64) bool {
	// Compare feeA*weightB with feeB*weightA in 128 bits. Fees and weights
	// are non-negative here.
	ah, al := bits.Mul64(uint64(feeA), uint64(weightB))
	bh, bl := bits.Mul64(uint64(feeB), uint64(weightA))
	if ah != bh {
		return ah > bh
	}
	return al > bl
}
