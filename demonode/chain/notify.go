package chain

import (
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// NotificationKind says what a Notification reports.
type NotificationKind int

// The notifications, as Core's validation interface sends them to its ZMQ
// publishers.
const (
	// BlockConnected: Block (with hash Hash) became the tip.
	BlockConnected NotificationKind = iota
	// TxAdded: Tx (txid Hash) entered the mempool.
	TxAdded
	// TxRemoved: Tx (txid Hash) left the mempool for another reason than
	// being included in a block (a conflict with a block's transaction).
	TxRemoved
)

// Notification is one change of the chain or the mempool.
type Notification struct {
	Kind  NotificationKind
	Hash  chainhash.Hash
	Block *wire.MsgBlock
	Tx    *wire.MsgTx
	// MempoolSeq is the mempool sequence number of TxAdded and TxRemoved,
	// as Core's mempool counts it (one per addition and removal).
	MempoolSeq uint64
}

// OnNotify registers f to be called, in order, for every change of the
// chain and the mempool from now on. f runs with the chain locked: it must
// not block or call the chain. f must not modify the block or transaction.
// The returned function unregisters f.
func (c *Chain) OnNotify(f func(Notification)) (cancel func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notifyID++
	id := c.notifyID
	if c.notify == nil {
		c.notify = make(map[uint64]func(Notification))
	}
	c.notify[id] = f
	c.notifyOrder = append(c.notifyOrder, id)
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.notify, id)
	}
}

// notifyLocked calls the registered functions. c.mu must be held.
func (c *Chain) notifyLocked(n Notification) {
	live := c.notifyOrder[:0]
	for _, id := range c.notifyOrder {
		if f, ok := c.notify[id]; ok {
			live = append(live, id)
			f(n)
		}
	}
	c.notifyOrder = live
}
