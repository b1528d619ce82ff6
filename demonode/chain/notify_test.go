package chain

import (
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

func TestOnNotify(t *testing.T) {
	c := New(fixedClock())
	var got []Notification
	cancel := c.OnNotify(func(n Notification) { got = append(got, n) })

	p := NewDummyTx(30, false)
	child := NewDummyTx(31, false)
	child.TxIn[0].PreviousOutPoint.Hash = p.TxHash()
	child.TxIn[0].PreviousOutPoint.Index = 0
	kept := NewDummyTx(32, true)
	for _, tx := range []*wire.MsgTx{p, child, kept} {
		if err := c.AddTx(tx); err != nil {
			t.Fatal(err)
		}
	}
	// A block with kept and a rival of p: kept leaves the mempool by
	// inclusion (not reported), p and its child as conflicts.
	rival := p.Copy()
	rival.TxOut[0].Value -= 5
	tmpl := mustTemplate(t, c, TemplateOptions{BlockReservedWeight: 8000})
	b := candidateBlock(t, tmpl)
	b.Transactions = b.Transactions[:1]
	b.Transactions = append(b.Transactions, kept, rival)
	recommit(t, b)
	if ok, reason, debug := c.SubmitBlock(b); !ok {
		t.Fatalf("SubmitBlock: %s %s", reason, debug)
	}
	cancel()
	if _, err := c.GenerateToScript(1, nil); err != nil {
		t.Fatal(err)
	}

	type item struct {
		kind NotificationKind
		hash chainhash.Hash
		seq  uint64
	}
	want := []item{
		{TxAdded, p.TxHash(), 0}, {TxAdded, child.TxHash(), 1}, {TxAdded, kept.TxHash(), 2},
		// kept's removal is mempool sequence 3, unreported.
		{TxRemoved, p.TxHash(), 4}, {TxRemoved, child.TxHash(), 5},
		{BlockConnected, b.BlockHash(), 0},
	}
	if len(got) != len(want) {
		t.Fatalf("%d notifications, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if n := got[i]; n.Kind != w.kind || n.Hash != w.hash || n.MempoolSeq != w.seq {
			t.Errorf("notification %d: %v %v %d, want %v %v %d", i, n.Kind, n.Hash, n.MempoolSeq, w.kind, w.hash, w.seq)
		}
	}
	if got[5].Block == nil || got[5].Block.BlockHash() != b.BlockHash() || len(got[5].Block.Transactions) != 3 {
		t.Error("BlockConnected without its block")
	}
}
