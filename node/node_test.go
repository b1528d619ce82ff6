package node_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	"github.com/bitcoin-ipc/bitcoin-ipc/domain"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/ipc"
	"github.com/bitcoin-ipc/bitcoin-ipc/miner"
	"github.com/bitcoin-ipc/bitcoin-ipc/node"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
)

// dial serves a demo node speaking schema with 3 mempool transactions in
// <tmp>/regtest and dials it; the log holds every IPC call of the client.
func dial(t *testing.T, schema probe.Version) (*node.Node, *demonode.Node, *testutil.Buffer) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "regtest")
	d := demonode.New()
	t.Cleanup(d.Chain().Close)
	if err := d.SetSchema(schema); err != nil {
		t.Fatal(err)
	}
	if err := d.SeedMempool(3); err != nil {
		t.Fatal(err)
	}
	_, stop, err := d.ListenAndServe(dir, "unix", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	log := &testutil.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := node.Dial(ctx, dir, "unix", ipc.WithLogger(slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, d, log
}

var opTrue = []byte{0x51}

// forEachVersion runs body against a demo node of every release.
func forEachVersion(t *testing.T, body func(t *testing.T, n *node.Node, d *demonode.Node, log *testutil.Buffer)) {
	for _, v := range demonode.Schemas {
		t.Run(string(v), func(t *testing.T) {
			n, d, log := dial(t, v)
			if n.Version() != v {
				t.Fatalf("Version() = %s; want %s", n.Version(), v)
			}
			body(t, n, d, log)
		})
	}
}

// The same body on v30, v31 and v32: echo, tip, templates whose options
// mean the same on every release, the coinbase constraints, checking,
// mining, submitting and waiting.
func TestSameBodyEveryVersion(t *testing.T) {
	forEachVersion(t, func(t *testing.T, n *node.Node, d *demonode.Node, _ *testutil.Buffer) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		e, err := n.Echo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.Echo(ctx, "hello ü"); err != nil || got != "hello ü" {
			t.Fatalf("echo = %q, %v", got, err)
		}
		if err := e.Destroy(ctx); err != nil {
			t.Fatal(err)
		}
		m, err := n.Mining(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Release()
		if test, err := m.IsTestChain(ctx); err != nil || !test {
			t.Fatalf("isTestChain = %v, %v", test, err)
		}
		tip, err := m.GetTip(ctx)
		if err != nil || tip == nil || tip.Height != 0 {
			t.Fatalf("getTip = %+v, %v", tip, err)
		}

		// Options are values: zero is zero, on every release (v31 and
		// v32 XOR them with their defaults, v30 has none).
		if _, err := m.CreateNewBlock(ctx, node.BlockCreateOptions{}, false); err == nil ||
			!strings.Contains(err.Error(), "block_reserved_weight (0) is lower than minimum safety value of (2000)") {
			t.Fatalf("createNewBlock with zero options = %v; want the node to read 0", err)
		}
		bare, err := m.CreateNewBlock(ctx, node.BlockCreateOptions{BlockReservedWeight: 8000}, false)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := bare.GetBlock(ctx); err != nil || len(b.Transactions) != 1 {
			t.Fatalf("template without the mempool: %v", err)
		}
		bare.Destroy(ctx)

		tmpl, err := m.CreateNewBlock(ctx, node.DefaultBlockCreateOptions(), false)
		if err != nil {
			t.Fatal(err)
		}
		defer tmpl.Destroy(ctx)
		block, err := tmpl.GetBlock(ctx)
		if err != nil || len(block.Transactions) != 4 {
			t.Fatalf("template with the mempool: %v", err)
		}
		fees, err := tmpl.GetTxFees(ctx)
		if err != nil || len(fees) != 3 {
			t.Fatalf("fees %v, %v", fees, err)
		}
		var total btcutil.Amount
		for _, f := range fees {
			total += f
		}
		cb, err := tmpl.GetCoinbaseTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(cb.ScriptSigPrefix, []byte{0x51}) || cb.BlockRewardRemaining != 50*btcutil.SatoshiPerBitcoin+total ||
			cb.LockTime != 0 || cb.Sequence != 0xfffffffe || cb.Version != 2 || len(cb.Witness) != 32 ||
			len(cb.RequiredOutputs) != 1 || !bytes.HasPrefix(cb.RequiredOutputs[0].PkScript, []byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}) {
			t.Fatalf("coinbase constraints %+v (fees %d)", cb, total)
		}
		w, err := miner.Fetch(ctx, tmpl)
		if err != nil {
			t.Fatal(err)
		}

		// An unsolved header: high-hash with the default options, valid
		// without the proof-of-work check.
		coinbase := miner.BuildCoinbase(w.Coinbase, opTrue, []byte{1, 7})
		bad := &wire.MsgBlock{Header: w.Header}
		bad.Header.MerkleRoot = miner.MerkleRoot(coinbase.TxHash(), w.MerklePath)
		for bad.Header.Nonce = 0; ; bad.Header.Nonce++ {
			h := bad.Header.BlockHash()
			if blockchain.HashToBig(&h).Cmp(blockchain.CompactToBig(bad.Header.Bits)) > 0 {
				break
			}
		}
		bad.Transactions = append([]*wire.MsgTx{coinbase}, block.Transactions[1:]...)
		if ok, reason, _, err := m.CheckBlock(ctx, bad, node.DefaultBlockCheckOptions()); err != nil || ok || reason != "high-hash" {
			t.Fatalf("checkBlock = %v %q %v; want high-hash", ok, reason, err)
		}
		if ok, reason, _, err := m.CheckBlock(ctx, bad, node.BlockCheckOptions{CheckMerkleRoot: true}); err != nil || !ok {
			t.Fatalf("checkBlock without pow = %v %q %v; want valid", ok, reason, err)
		}

		// Nothing better comes: waitNext times out with nil.
		next, err := tmpl.WaitNext(ctx, node.BlockWaitOptions{Timeout: time.Millisecond, FeeThreshold: btcutil.MaxSatoshi})
		if err != nil || next != nil {
			t.Fatalf("waitNext = %v, %v; want nil on timeout", next, err)
		}

		sol, err := miner.Solve(ctx, w, opTrue, []byte{1, 7}, 0)
		if err != nil {
			t.Fatal(err)
		}
		ok, reason, _, err := tmpl.SubmitSolution(ctx, uint32(sol.Header.Version), uint32(sol.Header.Timestamp.Unix()), sol.Header.Nonce, sol.Coinbase)
		if err != nil || !ok {
			t.Fatalf("submitSolution = %v %q %v", ok, reason, err)
		}
		if d.Chain().Height() != 1 {
			t.Fatalf("height %d after submitSolution", d.Chain().Height())
		}
		r, err := m.WaitTipChanged(ctx, tip.Hash, domain.NoTimeout)
		if err != nil || r == nil || r.Height != 1 || r.Hash != sol.Header.BlockHash() {
			t.Fatalf("waitTipChanged = %+v, %v; want the new block", r, err)
		}
	})
}

// Each method a release lacks returns ErrUnsupported naming the release
// that has it, and nothing goes on the wire; the others work.
func TestUnsupported(t *testing.T) {
	calls := []struct {
		method string // as UnsupportedError names it
		wire   string // as the IPC log names a call
		call   func(ctx context.Context, n *node.Node, m node.Mining, tmpl node.BlockTemplate) error
	}{
		{"Init.makeRpc", "Init.makeRpc", func(ctx context.Context, n *node.Node, _ node.Mining, _ node.BlockTemplate) error {
			r, err := n.Rpc(ctx)
			if err == nil {
				r.Release()
			}
			return err
		}},
		{"Mining.createNewBlock with cooldown", "", func(ctx context.Context, _ *node.Node, m node.Mining, _ node.BlockTemplate) error {
			t, err := m.CreateNewBlock(ctx, node.DefaultBlockCreateOptions(), true)
			if err == nil {
				t.Destroy(ctx)
			}
			return err
		}},
		{"Mining.interrupt", "Mining.interrupt", func(ctx context.Context, _ *node.Node, m node.Mining, _ node.BlockTemplate) error {
			return m.Interrupt(ctx)
		}},
		{"Mining.getTransactionsByTxID", "Mining.getTransactionsByTxID", func(ctx context.Context, _ *node.Node, m node.Mining, t node.BlockTemplate) error {
			b, err := t.GetBlock(ctx)
			if err != nil {
				return err
			}
			txs, err := m.GetTransactionsByTxID(ctx, []chainhash.Hash{b.Transactions[1].TxHash()})
			if err == nil && (len(txs) != 1 || txs[0] == nil || txs[0].TxHash() != b.Transactions[1].TxHash()) {
				return errors.New("the mempool transaction was not found")
			}
			return err
		}},
		{"Mining.getTransactionsByWitnessID", "Mining.getTransactionsByWitnessID", func(ctx context.Context, _ *node.Node, m node.Mining, t node.BlockTemplate) error {
			b, err := t.GetBlock(ctx)
			if err != nil {
				return err
			}
			txs, err := m.GetTransactionsByWitnessID(ctx, []chainhash.Hash{b.Transactions[1].WitnessHash()})
			if err == nil && (len(txs) != 1 || txs[0] == nil || txs[0].WitnessHash() != b.Transactions[1].WitnessHash()) {
				return errors.New("the mempool transaction was not found")
			}
			return err
		}},
		{"Mining.submitBlock", "Mining.submitBlock", func(ctx context.Context, _ *node.Node, m node.Mining, t node.BlockTemplate) error {
			b, err := t.GetBlock(ctx)
			if err != nil {
				return err
			}
			_, _, _, err = m.SubmitBlock(ctx, b)
			return err
		}},
		{"BlockTemplate.getCoinbaseCommitment", "BlockTemplate.getCoinbaseCommitment", func(ctx context.Context, _ *node.Node, _ node.Mining, t node.BlockTemplate) error {
			c, err := t.GetCoinbaseCommitment(ctx)
			if err == nil && len(c) != 38 {
				return errors.New("no commitment")
			}
			return err
		}},
		{"BlockTemplate.getWitnessCommitmentIndex", "BlockTemplate.getWitnessCommitmentIndex", func(ctx context.Context, _ *node.Node, _ node.Mining, t node.BlockTemplate) error {
			i, err := t.GetWitnessCommitmentIndex(ctx)
			if err == nil && i != 1 {
				return errors.New("the commitment is not output 1 of the dummy coinbase")
			}
			return err
		}},
		{"BlockTemplate.interruptWait", "BlockTemplate.interruptWait", func(ctx context.Context, _ *node.Node, _ node.Mining, t node.BlockTemplate) error {
			return t.InterruptWait(ctx)
		}},
	}
	// The release named by the error of each method a version lacks.
	lacks := map[probe.Version]map[string]string{
		probe.V30: {
			"Init.makeRpc": "v32", "Mining.createNewBlock with cooldown": "v31 and later", "Mining.interrupt": "v31 and later",
			"Mining.submitBlock": "v32", "Mining.getTransactionsByTxID": "v32", "Mining.getTransactionsByWitnessID": "v32",
			"BlockTemplate.interruptWait": "v31 and later",
		},
		probe.V31: {
			"Init.makeRpc": "v32", "Mining.submitBlock": "v32", "Mining.getTransactionsByTxID": "v32",
			"Mining.getTransactionsByWitnessID": "v32", "BlockTemplate.getCoinbaseCommitment": "v30",
			"BlockTemplate.getWitnessCommitmentIndex": "v30",
		},
		probe.V32: {"BlockTemplate.getCoinbaseCommitment": "v30", "BlockTemplate.getWitnessCommitmentIndex": "v30"},
	}
	forEachVersion(t, func(t *testing.T, n *node.Node, _ *demonode.Node, log *testutil.Buffer) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m, err := n.Mining(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Release()
		tmpl, err := m.CreateNewBlock(ctx, node.DefaultBlockCreateOptions(), false)
		if err != nil {
			t.Fatal(err)
		}
		defer tmpl.Destroy(ctx)
		for _, c := range calls {
			err := c.call(ctx, n, m, tmpl)
			has, lacking := lacks[n.Version()][c.method]
			if !lacking {
				if err != nil {
					t.Errorf("%s on %s: %v; want it to work", c.method, n.Version(), err)
				}
				continue
			}
			var ue *node.UnsupportedError
			if !errors.Is(err, node.ErrUnsupported) || !errors.As(err, &ue) || ue.Method != c.method || ue.Version != n.Version() ||
				!strings.HasPrefix(err.Error(), c.method+": ") || !strings.HasSuffix(err.Error(), "; "+has+" has it") {
				t.Errorf("%s on %s: %v; want ErrUnsupported naming %s", c.method, n.Version(), err, has)
			}
			if c.wire != "" && strings.Contains(log.String(), "method="+c.wire+" ") {
				t.Errorf("%s on %s went on the wire:\n%s", c.method, n.Version(), log.String())
			}
		}
	})
}

// A Node that Dial made knows its address, and Close closes its
// connection; a Node made by New on a caller's connection has no address
// and leaves the connection to the caller.
func TestDialAddressAndConn(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "regtest")
	d := demonode.New()
	t.Cleanup(d.Chain().Close)
	_, stop, err := d.ListenAndServe(dir, "unix", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := node.Dial(ctx, dir, "unix")
	if err != nil {
		t.Fatal(err)
	}
	if want := "unix:" + filepath.Join(dir, "node.sock"); n.Address() != want {
		t.Errorf("Address() = %q, want %q", n.Address(), want)
	}
	conn := n.Conn()
	other, err := node.New(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if other.Address() != "" || other.Conn() != conn {
		t.Errorf("New: Address() = %q, Conn() %p, want \"\" and %p", other.Address(), other.Conn(), conn)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	e, err := n.Echo(ctx)
	if err != nil {
		t.Fatalf("Echo after closing the Node made by New: %v", err)
	}
	if err := e.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.Done():
	case <-ctx.Done():
		t.Fatal("Close left Dial's connection open")
	}
}
