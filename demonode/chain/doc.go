// Package chain is an in-memory, simulated Bitcoin REGTEST chain that is
// realistic enough to test mining software against. It is the engine behind
// the demo node that serves Bitcoin Core's Mining interface over IPC; this
// package holds only the pure logic (no IPC, no networking).
//
// # What is real
//
//   - The chain starts at the real regtest genesis block
//     (0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206) and
//     every header carries its real double-SHA256 hash.
//   - Proof of work is checked against nBits (regtest: 0x207fffff, about two
//     hashes per block), with Core's median-time-past and future-time rules.
//   - Block templates look like the ones Bitcoin Core's BlockAssembler returns:
//     a dummy coinbase at index 0 (BIP34 height push, full reward to OP_TRUE,
//     witness commitment output, 32-byte zero witness reserved value, nLockTime
//     = height-1, nSequence = 0xfffffffe), transactions ordered by fee rate with
//     parents first, per-transaction fees and sigops, and a node::CoinbaseTx
//     description of the coinbase constraints (see [CoinbaseTx]).
//   - Blocks are validated with Bitcoin Core's checks, in Core's order, and
//     rejections carry Core's reason and debug strings ("high-hash",
//     "bad-txnmrklroot", "bad-cb-height", "bad-witness-nonce-size",
//     "bad-txns-nonfinal", "duplicate", "duplicate-invalid", ...).
//   - Waiting (WaitTipChanged, WaitNext, Interrupt, InterruptWait) mirrors the
//     semantics of Core's Mining and BlockTemplate interfaces.
//
// # What is simulated
//
//   - There are no scripts. Transactions are checked for structure only
//     (Core's CheckTransaction); signatures are never verified. [Chain.AcceptTx]
//     (sendrawtransaction) looks its inputs up among the outputs of the
//     active chain and the mempool and derives the fee from them; other
//     mempool transactions carry a fee given when they were added (see
//     [Chain.AddTxWithFee]) and their inputs are not looked up. A block's fees
//     are the known mempool fees of its transactions (unknown transactions
//     count as paying zero).
//   - Sigops are the declared per-transaction sigop cost (mempool) or the legacy
//     count times four; P2SH and witness sigops are not counted.
//   - There are no reorganisations. A valid block whose parent is in the
//     active chain but is not the tip (a stale solution) is stored but never
//     connected, and reported as "inconclusive" (as Core does for a competing
//     block without more work); blocks building on such a block are refused.
//     CheckBlock, like Core's, only accepts blocks on the tip
//     ("inconclusive-not-best-prevblk").
//   - BIP68 sequence locks, BIP30 and versionbits signalling are not modelled;
//     the block version is always 0x20000000.
//
// # Timeouts
//
// Durations passed to the waiting functions follow one rule: a timeout <= 0,
// or one larger than [MaxTimeout] (100 years, Core's own clamp), means "wait
// forever". Core's IPC timeouts are milliseconds as float64 where DBL_MAX
// means forever and 0 means "return immediately"; [TimeoutFromMillis]
// converts such a value to this package's convention.
//
// All methods of [Chain] and [Template] are safe for concurrent use.
package chain
