package miner

import (
	"context"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
)

// coinbasePath is the merkle path of the first leaf: its sibling on each
// level, the last node of an odd level paired with itself.
func coinbasePath(leaves []chainhash.Hash) []chainhash.Hash {
	var path []chainhash.Hash
	for level := leaves; len(level) > 1; {
		if len(level)%2 == 1 {
			level = append(level, level[len(level)-1])
		}
		path = append(path, level[1])
		next := make([]chainhash.Hash, len(level)/2)
		var buf [64]byte
		for i := range next {
			copy(buf[:32], level[2*i][:])
			copy(buf[32:], level[2*i+1][:])
			next[i] = chainhash.DoubleHashH(buf[:])
		}
		level = next
	}
	return path
}

func payment(i int) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{byte(i)}, Index: uint32(i)}, nil, nil))
	tx.AddTxOut(wire.NewTxOut(int64(1000+i), []byte{0x51}))
	return tx
}

// A template with n transactions besides its coinbase, at regtest's
// difficulty.
func template(n int) (*wire.MsgBlock, *Work) {
	c := v32.CoinbaseTx{
		Version:              2,
		Sequence:             wire.MaxTxInSequenceNum,
		ScriptSigPrefix:      []byte{0x01, 0x65}, // height 101
		BlockRewardRemaining: 50_0000_0000,
		LockTime:             100,
	}
	tmpl := &wire.MsgBlock{Header: wire.BlockHeader{
		Version:   0x20000000,
		PrevBlock: chainhash.Hash{0xaa},
		Timestamp: time.Unix(1_700_000_000, 0),
		Bits:      0x207fffff,
	}}
	placeholder := BuildCoinbase(c, []byte{0x51}, nil)
	tmpl.Transactions = append(tmpl.Transactions, placeholder)
	for i := 0; i < n; i++ {
		tmpl.Transactions = append(tmpl.Transactions, payment(i))
	}
	leaves := make([]chainhash.Hash, len(tmpl.Transactions))
	for i, tx := range tmpl.Transactions {
		leaves[i] = tx.TxHash()
	}
	return tmpl, &Work{Header: tmpl.Header, Coinbase: c, MerklePath: coinbasePath(leaves)}
}

// Solve's header commits to the coinbase it returns and the template's
// other transactions, and meets its target; Block puts them together.
func TestSolveAndBlock(t *testing.T) {
	for n := 0; n <= 5; n++ {
		tmpl, w := template(n)
		sol, err := Solve(context.Background(), w, []byte{0x51}, []byte{7, byte(n)}, 0)
		if err != nil {
			t.Fatalf("%d transactions: Solve: %v", n, err)
		}
		b := Block(tmpl, sol)
		if len(b.Transactions) != n+1 || b.Transactions[0] != sol.Coinbase {
			t.Fatalf("%d transactions: block has %d, coinbase %p want %p", n, len(b.Transactions), b.Transactions[0], sol.Coinbase)
		}
		txs := make([]*btcutil.Tx, len(b.Transactions))
		for i, tx := range b.Transactions {
			txs[i] = btcutil.NewTx(tx)
		}
		if want := blockchain.CalcMerkleRoot(txs, false); b.Header.MerkleRoot != want {
			t.Fatalf("%d transactions: merkle root %v, want %v", n, b.Header.MerkleRoot, want)
		}
		hash := b.BlockHash()
		if blockchain.HashToBig(&hash).Cmp(blockchain.CompactToBig(b.Header.Bits)) > 0 {
			t.Fatalf("%d transactions: block hash %v does not meet bits %08x", n, hash, b.Header.Bits)
		}
		if b.Header.PrevBlock != tmpl.Header.PrevBlock || b.Header.Nonce != sol.Header.Nonce {
			t.Fatalf("%d transactions: header %+v, want the solution's on the template's parent", n, b.Header)
		}
		if got := sol.Coinbase.TxIn[0].SignatureScript; string(got) != string([]byte{0x01, 0x65, 7, byte(n)}) {
			t.Fatalf("scriptSig = %x, want prefix then extra nonce", got)
		}
		if sol.Coinbase.LockTime != 100 || sol.Coinbase.TxOut[0].Value != 50_0000_0000 {
			t.Fatalf("coinbase %+v does not keep the template's lock time and reward", sol.Coinbase)
		}
	}
}

// With a target no hash meets within maxTries, Solve gives up with an
// error, and a cancelled context stops it.
func TestSolveGivesUp(t *testing.T) {
	_, w := template(1)
	w.Header.Bits = 0x03000001 // target 1
	if _, err := Solve(context.Background(), w, []byte{0x51}, nil, 1000); err == nil {
		t.Fatal("Solve met an impossible target")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Solve(ctx, w, []byte{0x51}, nil, 0); err != context.Canceled {
		t.Fatalf("Solve with a cancelled context = %v, want context.Canceled", err)
	}
	w.Header.Bits = 0
	if _, err := Solve(context.Background(), w, []byte{0x51}, nil, 0); err == nil {
		t.Fatal("Solve accepted bits 0")
	}
}
