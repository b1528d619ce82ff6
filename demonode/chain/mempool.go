package chain

import (
	"encoding/binary"
	"sort"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// DefaultTxFeeRate is the fee rate, in satoshis per virtual byte, that AddTx
// assigns to a transaction (the simulation cannot compute real fees).
const DefaultTxFeeRate = 1

// MaxStandardTxSigopsCost is MAX_STANDARD_TX_SIGOPS_COST.
const MaxStandardTxSigopsCost = MaxBlockSigopsCost / 5

// RejectError is returned when a transaction is refused by the mempool. Reason
// is Core's reject reason (for example "txn-already-in-mempool").
type RejectError struct {
	Reason string
	Debug  string
}

func (e *RejectError) Error() string {
	if e.Debug == "" {
		return e.Reason
	}
	return e.Reason + ": " + e.Debug
}

// poolEntry is one mempool transaction. Its tx is never modified.
type poolEntry struct {
	tx     *wire.MsgTx
	txid   chainhash.Hash
	wtxid  chainhash.Hash
	fee    int64
	sigops int64
	weight int64
	vsize  int64
	size   int
	seq    uint64
	time   int64 // when it was added, unix seconds
	height int32 // the tip height then
	// parents are in-mempool parents at the time the entry was added.
	parents []chainhash.Hash
}

// mempool is guarded by Chain.mu.
type mempool struct {
	entries map[chainhash.Hash]*poolEntry
	byWtxid map[chainhash.Hash]*poolEntry
	spends  map[wire.OutPoint]chainhash.Hash
	bytes   int
	// seq changes whenever the content changes.
	seq uint64
	// mempoolSeq is Core's mempool sequence number: one per addition and
	// removal, reported with TxAdded and TxRemoved.
	mempoolSeq uint64
	entrySeq   uint64
	// sorted caches the entries ordered by fee rate, valid while
	// sortedSeq == seq.
	sorted    []*poolEntry
	sortedSeq uint64
	// dummySeq numbers the transactions made by FillMempool.
	dummySeq uint64
}

func newMempool() mempool {
	return mempool{
		entries:   make(map[chainhash.Hash]*poolEntry),
		byWtxid:   make(map[chainhash.Hash]*poolEntry),
		spends:    make(map[wire.OutPoint]chainhash.Hash),
		sortedSeq: ^uint64(0),
	}
}

// AddTx adds a transaction to the mempool with a fee of DefaultTxFeeRate
// satoshis per virtual byte and its legacy sigop cost. See AddTxWithFee.
func (c *Chain) AddTx(tx *wire.MsgTx) error {
	if tx == nil {
		return &RejectError{Reason: "bad-txns-null", Debug: "nil transaction"}
	}
	vsize := (txWeight(tx) + WitnessScaleFactor - 1) / WitnessScaleFactor
	return c.AddTxWithFee(tx, btcutil.Amount(vsize*DefaultTxFeeRate), -1)
}

// AddTxWithFee adds a copy of tx to the mempool, paying fee, with the given
// sigop cost (a negative sigops means "count legacy sigops times four").
//
// The transaction is not script-validated and its inputs are not looked up:
// it only has to be structurally valid (Core's CheckTransaction), not a
// coinbase, not already known, not heavier than MaxStandardTxWeight and not
// spend an outpoint another mempool transaction spends. Spending outputs of
// other mempool transactions is allowed; templates then place parents first.
func (c *Chain) AddTxWithFee(tx *wire.MsgTx, fee btcutil.Amount, sigops int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.addTxLocked(tx, int64(fee), sigops); err != nil {
		return err
	}
	c.broadcastLocked()
	return nil
}

func (c *Chain) addTxLocked(tx *wire.MsgTx, fee, sigops int64) error {
	if tx == nil {
		return &RejectError{Reason: "bad-txns-null", Debug: "nil transaction"}
	}
	if reason := checkTransaction(tx); reason != "" {
		return &RejectError{Reason: reason}
	}
	if isCoinbase(tx) {
		return &RejectError{Reason: "coinbase"}
	}
	if fee < 0 || fee > MaxMoney {
		return &RejectError{Reason: "bad-txns-fee-outofrange"}
	}
	weight := txWeight(tx)
	if weight > MaxStandardTxWeight {
		return &RejectError{Reason: "tx-size"}
	}
	if sigops < 0 {
		sigops = legacySigOpCost(tx)
	}
	if sigops > MaxStandardTxSigopsCost {
		return &RejectError{Reason: "bad-txns-too-many-sigops"}
	}
	p := &c.pool
	txid := tx.TxHash()
	if _, ok := p.entries[txid]; ok {
		return &RejectError{Reason: "txn-already-in-mempool"}
	}
	if _, ok := c.confirmed[txid]; ok {
		return &RejectError{Reason: "txn-already-known"}
	}
	var parents []chainhash.Hash
	for _, in := range tx.TxIn {
		if other, ok := p.spends[in.PreviousOutPoint]; ok {
			return &RejectError{Reason: "txn-mempool-conflict", Debug: "conflicts with " + other.String()}
		}
		if _, ok := p.entries[in.PreviousOutPoint.Hash]; ok {
			parents = append(parents, in.PreviousOutPoint.Hash)
		}
	}
	tx = tx.Copy()
	e := &poolEntry{
		tx:      tx,
		txid:    txid,
		wtxid:   tx.WitnessHash(),
		fee:     fee,
		sigops:  sigops,
		weight:  weight,
		vsize:   (weight + WitnessScaleFactor - 1) / WitnessScaleFactor,
		size:    tx.SerializeSize(),
		seq:     p.entrySeq,
		time:    c.now().Unix(),
		height:  int32(len(c.hashes) - 1),
		parents: parents,
	}
	p.entrySeq++
	p.entries[txid] = e
	p.byWtxid[e.wtxid] = e
	for _, in := range tx.TxIn {
		p.spends[in.PreviousOutPoint] = txid
	}
	p.bytes += e.size
	p.seq++
	c.notifyLocked(Notification{Kind: TxAdded, Hash: txid, Tx: tx, MempoolSeq: p.mempoolSeq})
	p.mempoolSeq++
	return nil
}

// removal is a transaction removed from the mempool, with the mempool
// sequence number of its removal.
type removal struct {
	txid       chainhash.Hash
	tx         *wire.MsgTx
	mempoolSeq uint64
}

// remove deletes an entry; with descendants it also removes every mempool
// transaction spending its outputs, recursively. It appends every removed
// entry to removed and returns it.
func (p *mempool) remove(txid chainhash.Hash, descendants bool, removed []removal) []removal {
	e, ok := p.entries[txid]
	if !ok {
		return removed
	}
	removed = append(removed, removal{txid: txid, tx: e.tx, mempoolSeq: p.mempoolSeq})
	p.mempoolSeq++
	delete(p.entries, txid)
	delete(p.byWtxid, e.wtxid)
	for _, in := range e.tx.TxIn {
		if p.spends[in.PreviousOutPoint] == txid {
			delete(p.spends, in.PreviousOutPoint)
		}
	}
	p.bytes -= e.size
	p.seq++
	if !descendants {
		return removed
	}
	for i := range e.tx.TxOut {
		if child, ok := p.spends[wire.OutPoint{Hash: txid, Index: uint32(i)}]; ok {
			removed = p.remove(child, true, removed)
		}
	}
	return removed
}

// removeForBlock removes the block's transactions, and mempool transactions
// that conflict with them (plus their descendants); it returns the
// conflicting ones (Core reports only those as removed).
func (p *mempool) removeForBlock(b *wire.MsgBlock) (conflicts []removal) {
	for i, tx := range b.Transactions {
		if i == 0 {
			continue
		}
		txid := tx.TxHash()
		p.remove(txid, false, nil)
		for _, in := range tx.TxIn {
			if other, ok := p.spends[in.PreviousOutPoint]; ok && other != txid {
				conflicts = p.remove(other, true, conflicts)
			}
		}
	}
	return conflicts
}

// sortedEntries returns the entries by decreasing fee rate (ties: arrival
// order). The result is cached until the mempool changes.
func (p *mempool) sortedEntries() []*poolEntry {
	if p.sortedSeq == p.seq {
		return p.sorted
	}
	s := make([]*poolEntry, 0, len(p.entries))
	for _, e := range p.entries {
		s = append(s, e)
	}
	sort.Slice(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if feeRateGreater(a.fee, a.weight, b.fee, b.weight) {
			return true
		}
		if feeRateGreater(b.fee, b.weight, a.fee, a.weight) {
			return false
		}
		return a.seq < b.seq
	})
	p.sorted, p.sortedSeq = s, p.seq
	return s
}

// TxByID returns a copy of the mempool transaction with the given txid, or
// nil (Core's getTransactionsByTxID returns only mempool transactions).
func (c *Chain) TxByID(txid chainhash.Hash) *wire.MsgTx {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.pool.entries[txid]; ok {
		return e.tx.Copy()
	}
	return nil
}

// TxByWitnessID returns a copy of the mempool transaction with the given
// wtxid, or nil.
func (c *Chain) TxByWitnessID(wtxid chainhash.Hash) *wire.MsgTx {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.pool.byWtxid[wtxid]; ok {
		return e.tx.Copy()
	}
	return nil
}

// MempoolTxIDs returns the txids of all mempool transactions, highest fee
// rate first.
func (c *Chain) MempoolTxIDs() []chainhash.Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	sorted := c.pool.sortedEntries()
	out := make([]chainhash.Hash, len(sorted))
	for i, e := range sorted {
		out[i] = e.txid
	}
	return out
}

// MempoolSize returns the number of mempool transactions and their total
// serialized size in bytes (witness included).
func (c *Chain) MempoolSize() (count, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pool.entries), c.pool.bytes
}

// MempoolFee returns the fee recorded for a mempool transaction.
func (c *Chain) MempoolFee(txid chainhash.Hash) (btcutil.Amount, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.pool.entries[txid]; ok {
		return btcutil.Amount(e.fee), true
	}
	return 0, false
}

// FillMempool adds dummy fee-paying transactions (see NewDummyTx; half of
// them segwit, fee rates between 1 and 20 sat/vB) until the mempool has grown
// by about targetBytes of serialized transactions. Waiters are woken once.
func (c *Chain) FillMempool(targetBytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	added := 0
	for added < targetBytes {
		seed := c.pool.dummySeq | 1<<62
		c.pool.dummySeq++
		tx := NewDummyTx(seed, seed%2 == 0)
		vsize := (txWeight(tx) + WitnessScaleFactor - 1) / WitnessScaleFactor
		fee := vsize * int64(1+seed%20)
		if err := c.addTxLocked(tx, fee, -1); err != nil {
			continue
		}
		added += tx.SerializeSize()
	}
	c.broadcastLocked()
}

// DummyOutPoint returns the fake outpoint that NewDummyTx(seed, ...) spends.
func DummyOutPoint(seed uint64) wire.OutPoint {
	var buf [40]byte
	copy(buf[:], "bitcoin-ipc demonode dummy outpoint")
	binary.LittleEndian.PutUint64(buf[32:], seed)
	return wire.OutPoint{Hash: chainhash.DoubleHashH(buf[:]), Index: 0}
}

// NewDummyTx returns a structurally valid, serializable, non-coinbase
// transaction spending the fake outpoint DummyOutPoint(seed), so different
// seeds give non-conflicting transactions. With segwit the input carries a
// two-item witness (a fake 72-byte signature and 33-byte key, like P2WPKH) and
// the wtxid differs from the txid; otherwise the same data is in the
// scriptSig (like P2PKH). It has one P2WPKH-shaped output of 10,000 sat and
// pays whatever fee it is added with (see AddTxWithFee).
func NewDummyTx(seed uint64, segwit bool) *wire.MsgTx {
	prev := DummyOutPoint(seed)
	sig := make([]byte, 72)
	sig[0] = 0x30
	copy(sig[1:], prev.Hash[:])
	sig[71] = 0x01 // SIGHASH_ALL
	pub := make([]byte, 33)
	pub[0] = 0x02
	copy(pub[1:], prev.Hash[:])

	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&prev, nil, nil)
	in.Sequence = wire.MaxTxInSequenceNum - 2 // opt-in RBF, like wallets
	if segwit {
		in.Witness = wire.TxWitness{sig, pub}
	} else {
		script := make([]byte, 0, 2+len(sig)+len(pub))
		script = append(script, byte(len(sig)))
		script = append(script, sig...)
		script = append(script, byte(len(pub)))
		script = append(script, pub...)
		in.SignatureScript = script
	}
	tx.AddTxIn(in)
	pkScript := make([]byte, 22)
	pkScript[0], pkScript[1] = 0x00, 0x14
	copy(pkScript[2:], prev.Hash[:20])
	tx.AddTxOut(wire.NewTxOut(10_000, pkScript))
	return tx
}

// MempoolEntry describes a mempool transaction (getrawmempool verbose).
type MempoolEntry struct {
	TxID, WTxID chainhash.Hash
	Fee         btcutil.Amount
	VSize       int64
	Weight      int64
	Time        int64 // when it entered the mempool, unix seconds
	Height      int32 // the tip height then
	// Depends are the in-mempool parents.
	Depends []chainhash.Hash
}

// MempoolEntries returns the mempool transactions, highest fee rate first.
func (c *Chain) MempoolEntries() []MempoolEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	sorted := c.pool.sortedEntries()
	out := make([]MempoolEntry, 0, len(sorted))
	for _, e := range sorted {
		var deps []chainhash.Hash
		for _, p := range e.parents {
			if _, ok := c.pool.entries[p]; ok {
				deps = append(deps, p)
			}
		}
		out = append(out, MempoolEntry{TxID: e.txid, WTxID: e.wtxid, Fee: btcutil.Amount(e.fee),
			VSize: e.vsize, Weight: e.weight, Time: e.time, Height: e.height, Depends: deps})
	}
	return out
}
