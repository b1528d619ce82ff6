package chain

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// rejection is a failed validation: Core's reject reason and debug message.
type rejection struct {
	reason string
	debug  string
	// mutated marks BLOCK_MUTATED failures: the same header could be valid
	// with other transactions, so the hash is not remembered as invalid.
	mutated bool
}

func reject(reason, debug string) *rejection {
	return &rejection{reason: reason, debug: debug}
}

func rejectMutated(reason, debug string) *rejection {
	return &rejection{reason: reason, debug: debug, mutated: true}
}

// checkTransaction is Core's CheckTransaction (consensus/tx_check.cpp). It
// returns the reject reason, or "" when the transaction is well formed.
func checkTransaction(tx *wire.MsgTx) string {
	if len(tx.TxIn) == 0 {
		return "bad-txns-vin-empty"
	}
	if len(tx.TxOut) == 0 {
		return "bad-txns-vout-empty"
	}
	if tx.SerializeSizeStripped()*WitnessScaleFactor > MaxBlockWeight {
		return "bad-txns-oversize"
	}
	var total int64
	for _, out := range tx.TxOut {
		if out.Value < 0 {
			return "bad-txns-vout-negative"
		}
		if out.Value > MaxMoney {
			return "bad-txns-vout-toolarge"
		}
		total += out.Value
		if total > MaxMoney {
			return "bad-txns-txouttotal-toolarge"
		}
	}
	seen := make(map[wire.OutPoint]struct{}, len(tx.TxIn))
	for _, in := range tx.TxIn {
		if _, dup := seen[in.PreviousOutPoint]; dup {
			return "bad-txns-inputs-duplicate"
		}
		seen[in.PreviousOutPoint] = struct{}{}
	}
	if isCoinbase(tx) {
		if n := len(tx.TxIn[0].SignatureScript); n < MinCoinbaseScriptSigSize || n > MaxCoinbaseScriptSigSize {
			return "bad-cb-length"
		}
	} else {
		for _, in := range tx.TxIn {
			if isNullOutpoint(&in.PreviousOutPoint) {
				return "bad-txns-prevout-null"
			}
		}
	}
	return ""
}

// checkBlock is Core's context-free CheckBlock (with CheckBlockHeader).
func checkBlock(b *wire.MsgBlock, checkPow, checkMerkleRoot bool) *rejection {
	if checkPow && !CheckProofOfWork(b.BlockHash(), b.Header.Bits) {
		return reject("high-hash", "proof of work failed")
	}
	if checkMerkleRoot {
		root, mutated := merkleRoot(txids(b))
		if root != b.Header.MerkleRoot {
			return rejectMutated("bad-txnmrklroot", "hashMerkleRoot mismatch")
		}
		if mutated {
			return rejectMutated("bad-txns-duplicate", "duplicate transaction")
		}
	}
	if len(b.Transactions) == 0 ||
		len(b.Transactions)*WitnessScaleFactor > MaxBlockWeight ||
		b.SerializeSizeStripped()*WitnessScaleFactor > MaxBlockWeight {
		return reject("bad-blk-length", "size limits failed")
	}
	if !isCoinbase(b.Transactions[0]) {
		return reject("bad-cb-missing", "first tx is not coinbase")
	}
	for _, tx := range b.Transactions[1:] {
		if isCoinbase(tx) {
			return reject("bad-cb-multiple", "more than one coinbase")
		}
	}
	for _, tx := range b.Transactions {
		if reason := checkTransaction(tx); reason != "" {
			// Core appends CheckTransaction's (empty) debug message.
			return reject(reason, fmt.Sprintf("Transaction check failed (tx hash %s) ", tx.TxHash()))
		}
	}
	var sigops int64
	for _, tx := range b.Transactions {
		sigops += legacySigOpCost(tx)
	}
	if sigops > MaxBlockSigopsCost {
		return reject("bad-blk-sigops", "out-of-bounds SigOpCount")
	}
	return nil
}

// contextualCheckHeaderLocked is Core's ContextualCheckBlockHeader for a
// header on top of the active-chain block at prevHeight.
func (c *Chain) contextualCheckHeaderLocked(h *wire.BlockHeader, prevHeight int32) *rejection {
	if h.Bits != RegtestBits {
		return reject("bad-diffbits", "incorrect proof of work")
	}
	if h.Timestamp.Unix() <= c.medianTimePastAtLocked(prevHeight) {
		return reject("time-too-old", "block's timestamp is too early")
	}
	if h.Timestamp.After(c.now().Add(MaxFutureBlockTime)) {
		return reject("time-too-new", "block timestamp too far in the future")
	}
	// BIP34, BIP66 and BIP65 are active from height 1 on regtest.
	if h.Version < 4 {
		return reject(fmt.Sprintf("bad-version(0x%08x)", uint32(h.Version)),
			fmt.Sprintf("rejected nVersion=0x%08x block", uint32(h.Version)))
	}
	return nil
}

// contextualCheckBlockLocked is Core's ContextualCheckBlock for a block on
// top of the active-chain block at prevHeight.
func (c *Chain) contextualCheckBlockLocked(b *wire.MsgBlock, prevHeight int32) *rejection {
	height := prevHeight + 1
	// BIP113: lock times are compared with the median time past.
	cutoff := c.medianTimePastAtLocked(prevHeight)
	for _, tx := range b.Transactions {
		if !isFinalTx(tx, height, cutoff) {
			return reject("bad-txns-nonfinal", "non-final transaction")
		}
	}
	if !bytes.HasPrefix(b.Transactions[0].TxIn[0].SignatureScript, HeightScript(height)) {
		return reject("bad-cb-height", "block height mismatch in coinbase")
	}
	if r := checkWitnessMalleation(b); r != nil {
		return r
	}
	if blockWeight(b) > MaxBlockWeight {
		return reject("bad-blk-weight", "ContextualCheckBlock : weight limit failed")
	}
	return nil
}

// checkWitnessMalleation is Core's CheckWitnessMalleation with segwit active.
func checkWitnessMalleation(b *wire.MsgBlock) *rejection {
	if pos := witnessCommitmentIndex(b); pos >= 0 {
		stack := b.Transactions[0].TxIn[0].Witness
		if len(stack) != 1 || len(stack[0]) != chainhash.HashSize {
			return rejectMutated("bad-witness-nonce-size",
				"CheckWitnessMalleation : invalid witness reserved value size")
		}
		wtxids := make([]chainhash.Hash, len(b.Transactions))
		for i, tx := range b.Transactions {
			if i > 0 {
				wtxids[i] = tx.WitnessHash()
			}
		}
		commitment := witnessCommitment(witnessRoot(wtxids), stack[0])
		script := b.Transactions[0].TxOut[pos].PkScript
		if !bytes.Equal(commitment[:], script[len(witnessCommitmentHeader):witnessCommitmentScriptLen]) {
			return rejectMutated("bad-witness-merkle-match",
				"CheckWitnessMalleation : witness merkle commitment mismatch")
		}
		return nil
	}
	for _, tx := range b.Transactions {
		if tx.HasWitness() {
			return rejectMutated("unexpected-witness",
				"CheckWitnessMalleation : unexpected witness data found")
		}
	}
	return nil
}

// connectChecksLocked is the part of Core's ConnectBlock the simulation can
// do without a UTXO set: inputs that are spent twice in the block, spend a
// later transaction of the block or belong to an already confirmed
// transaction; the block sigop cost; and the coinbase amount against subsidy
// plus the known fees. extraFees supplies fees of transactions that are not
// (or no longer) in the mempool; unknown transactions pay zero.
func (c *Chain) connectChecksLocked(b *wire.MsgBlock, height int32, extraFees map[chainhash.Hash]int64) *rejection {
	position := make(map[chainhash.Hash]int, len(b.Transactions))
	for i, tx := range b.Transactions {
		position[tx.TxHash()] = i
	}
	spent := make(map[wire.OutPoint]struct{})
	var fees, sigops int64
	for i, tx := range b.Transactions {
		txid := tx.TxHash()
		if i > 0 {
			_, confirmed := c.confirmed[txid]
			missing := confirmed
			for _, in := range tx.TxIn {
				if _, dup := spent[in.PreviousOutPoint]; dup {
					missing = true
				}
				if j, inBlock := position[in.PreviousOutPoint.Hash]; inBlock && j >= i {
					missing = true
				}
				spent[in.PreviousOutPoint] = struct{}{}
			}
			if missing {
				return reject("bad-txns-inputs-missingorspent",
					fmt.Sprintf("CheckTxInputs: inputs missing/spent in transaction %s", txid))
			}
		}
		if e, ok := c.pool.entries[txid]; ok && i > 0 {
			fees += e.fee
			sigops += e.sigops
		} else {
			fees += extraFees[txid]
			sigops += legacySigOpCost(tx)
		}
		if sigops > MaxBlockSigopsCost {
			return reject("bad-blk-sigops", "too many sigops")
		}
	}
	var paid int64
	for _, out := range b.Transactions[0].TxOut {
		paid += out.Value
	}
	if limit := BlockSubsidy(height) + fees; paid > limit {
		return reject("bad-cb-amount", fmt.Sprintf("coinbase pays too much (actual=%d vs limit=%d)", paid, limit))
	}
	return nil
}

// CheckBlock validates a block on top of the current tip without connecting
// it, like Core's checkBlock (TestBlockValidity): the parent must be the tip
// ("inconclusive-not-best-prevblk"), then the context-free checks (proof of
// work and merkle root only when asked), the contextual header and block
// checks and the connect checks. Duplicates are not detected. A nil block is
// a default (all-zero) block, which is what Core reads from a null block
// pointer: its parent is never the tip.
func (c *Chain) CheckBlock(block *wire.MsgBlock, checkMerkleRoot, checkPow bool) (ok bool, reason, debug string) {
	if block == nil {
		block = new(wire.MsgBlock)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tip, tipHeight := c.tipLocked()
	if block.Header.PrevBlock != tip {
		return false, "inconclusive-not-best-prevblk", ""
	}
	r := checkBlock(block, checkPow, checkMerkleRoot)
	if r == nil {
		r = c.contextualCheckHeaderLocked(&block.Header, tipHeight)
	}
	if r == nil {
		r = c.contextualCheckBlockLocked(block, tipHeight)
	}
	if r == nil {
		r = c.connectChecksLocked(block, tipHeight+1, nil)
	}
	if r != nil {
		return false, r.reason, r.debug
	}
	return true, "", ""
}

// SubmitBlock validates a complete block and, when valid on top of the tip,
// connects it as the new tip, removes its transactions from the mempool and
// wakes waiters (Core's submitBlock). Otherwise it returns false with a
// reason: "duplicate" for a known block, "duplicate-invalid" for a block that
// failed contextual or connect checks before, "prev-blk-not-found" for an
// unknown parent, Core's validation reason for an invalid block, and
// "inconclusive" for a valid block that is not connected because its parent
// is not the tip. Such stale blocks are kept (BlockByHash finds them, a
// resubmission is a "duplicate") but never become the tip: the simulation has
// no reorganisations, which matches Core for a competing block of equal work.
// A nil block is a default block, as in CheckBlock: it fails its proof of
// work ("high-hash").
func (c *Chain) SubmitBlock(block *wire.MsgBlock) (ok bool, reason, debug string) {
	if block == nil {
		block = new(wire.MsgBlock)
	}
	block = block.Copy()
	c.mu.Lock()
	defer c.mu.Unlock()
	ok, reason, debug = c.processBlockLocked(block, nil)
	return ok, reason, debug
}

// SubmitSolution completes the template with the miner's coinbase (which
// replaces the dummy one), version, timestamp and nonce, recomputes the
// merkle root and processes the block like SubmitBlock. As in Core the
// template's block is updated even when the block is then rejected. ok
// means the block became the new tip, and then reason is empty; like
// Core, every answer with a reason is false: "duplicate" for a block that
// is already known (a resubmission, or the same block submitted through
// another path first), "inconclusive" for a valid block on a parent that
// is no longer the tip (a stale template), and the validation reason for
// an invalid block.
func (c *Chain) SubmitSolution(tmpl *Template, version, timestamp, nonce uint32, coinbase *wire.MsgTx) (ok bool, reason, debug string) {
	if tmpl == nil || tmpl.chain != c {
		return false, "bad-template", "template does not belong to this chain"
	}
	if coinbase == nil {
		return false, "bad-cb-missing", "no coinbase transaction"
	}
	coinbase = coinbase.Copy()

	tmpl.mu.Lock()
	tb := tmpl.block
	tb.Transactions[0] = coinbase
	tb.Header.Version = int32(version)
	tb.Header.Timestamp = timeFromUnix(timestamp)
	tb.Header.Nonce = nonce
	tb.Header.MerkleRoot = MerkleRootFromPath(coinbase.TxHash(), tmpl.CoinbaseMerklePath())
	tmpl.serialized = nil
	block := &wire.MsgBlock{
		Header:       tb.Header,
		Transactions: append([]*wire.MsgTx(nil), tb.Transactions...),
	}
	tmpl.mu.Unlock()

	extraFees := make(map[chainhash.Hash]int64, len(tmpl.fees))
	for i, tx := range block.Transactions[1:] {
		extraFees[tx.TxHash()] = tmpl.fees[i]
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	ok, reason, debug = c.processBlockLocked(block, extraFees)
	return ok, reason, debug
}

// processBlockLocked runs the full validation of a block in Core's order and
// connects it when valid on top of the tip; connected reports that it
// became the tip. The block must not be modified afterwards.
func (c *Chain) processBlockLocked(b *wire.MsgBlock, extraFees map[chainhash.Hash]int64) (connected bool, reason, debug string) {
	hash := b.BlockHash()
	if c.blockLocked(hash) != nil {
		return false, "duplicate", ""
	}
	if _, bad := c.invalid[hash]; bad {
		return false, "duplicate-invalid", fmt.Sprintf("block %s was previously marked invalid", hash)
	}
	// Context-free failures and header failures are not remembered: Core
	// does not store such blocks (or headers) in its block index.
	if r := checkBlock(b, true, true); r != nil {
		return false, r.reason, r.debug
	}
	prevHeight, known := c.index[b.Header.PrevBlock]
	if !known {
		if _, stale := c.side[b.Header.PrevBlock]; stale {
			// Building on a stale block would need a reorganisation.
			return false, "inconclusive", "simulated chain: blocks on stale blocks are not supported"
		}
		return false, "prev-blk-not-found", ""
	}
	if r := c.contextualCheckHeaderLocked(&b.Header, prevHeight); r != nil {
		return false, r.reason, r.debug
	}
	r := c.contextualCheckBlockLocked(b, prevHeight)
	_, tipHeight := c.tipLocked()
	if r == nil && prevHeight != tipHeight {
		// Valid, but not on the tip: stored, not connected (Core does not
		// run ConnectBlock for a block without more work).
		c.side[hash] = b
		return false, "inconclusive", ""
	}
	if r == nil {
		r = c.connectChecksLocked(b, prevHeight+1, extraFees)
	}
	if r != nil {
		if !r.mutated {
			c.invalid[hash] = r.reason
		}
		return false, r.reason, r.debug
	}
	c.connectLocked(b, hash)
	return true, "", ""
}

// CheckHeader validates a header as Core's submitheader does
// (ProcessNewBlockHeaders): known tells whether its parent is known, and
// reason is empty for a valid header. The header of a known block is
// valid, that of a block marked invalid gives "duplicate-invalid", and a
// new header must meet its proof of work ("high-hash") and, on an
// active-chain parent, the contextual header checks. Headers are not
// stored: the simulation keeps only whole blocks.
func (c *Chain) CheckHeader(h *wire.BlockHeader) (known bool, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	hash := h.BlockHash()
	if c.blockLocked(hash) != nil {
		return true, ""
	}
	if _, bad := c.invalid[hash]; bad {
		return true, "duplicate-invalid"
	}
	prevHeight, active := c.index[h.PrevBlock]
	if _, stale := c.side[h.PrevBlock]; !active && !stale {
		return false, ""
	}
	if !CheckProofOfWork(hash, h.Bits) {
		return true, "high-hash"
	}
	if active {
		if r := c.contextualCheckHeaderLocked(h, prevHeight); r != nil {
			return true, r.reason
		}
	}
	return true, ""
}

// UpdateUncommittedBlockStructures gives the coinbase of a block that has
// a witness commitment the 32-byte zero witness reserved value when its
// input has no witness, as Core's submitblock RPC does before validation
// (the IPC submitBlock and submitSolution do not).
func UpdateUncommittedBlockStructures(b *wire.MsgBlock) {
	if len(b.Transactions) == 0 || len(b.Transactions[0].TxIn) == 0 || witnessCommitmentIndex(b) < 0 {
		return
	}
	if in := b.Transactions[0].TxIn[0]; len(in.Witness) == 0 {
		in.Witness = wire.TxWitness{make([]byte, chainhash.HashSize)}
	}
}
