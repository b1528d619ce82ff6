package v32_test

// Go↔Go round trips through the generated clients and server adapters:
// every interface of the set is reached over a real connection (Init is
// the bootstrap; Echo, Mining and Rpc come from its factories; BlockTemplate from
// Mining.createNewBlock and BlockTemplate.waitNext) and its methods are
// checked for the params the server sees and the results the client gets.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/gentest"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// ---- server implementations ----

type initImpl struct {
	v32.UnimplementedInitServer
	rec  *gentest.Recorder
	echo *echoImpl
}

func (i *initImpl) MakeEcho(context.Context) (v32.Echo, error) { return i.echo, nil }
func (i *initImpl) MakeMining(context.Context) (v32.Mining, error) {
	return &miningImpl{rec: i.rec}, nil
}
func (i *initImpl) MakeRpc(context.Context) (v32.Rpc, error) { return &rpcImpl{rec: i.rec}, nil }

type echoImpl struct {
	v32.UnimplementedEchoServer
	destroys atomic.Int32
}

func (e *echoImpl) Echo(_ context.Context, s string) (string, error) { return s, nil }
func (e *echoImpl) Destroy(context.Context) error                    { e.destroys.Add(1); return nil }

// miningImpl leaves IsTestChain (among others) unimplemented.
type miningImpl struct {
	v32.UnimplementedMiningServer
	rec *gentest.Recorder
}

func (m *miningImpl) GetTip(context.Context) (*v32.BlockRef, error) {
	return &v32.BlockRef{Hash: gentest.Hash(1), Height: 840000}, nil
}

func (m *miningImpl) WaitTipChanged(_ context.Context, tip chainhash.Hash, timeout time.Duration) (*v32.BlockRef, error) {
	m.rec.Put("Mining.waitTipChanged", tip, timeout)
	return &v32.BlockRef{Hash: gentest.Hash(3), Height: 840001}, nil
}

func (m *miningImpl) CreateNewBlock(_ context.Context, o v32.BlockCreateOptions, cooldown bool) (v32.BlockTemplate, error) {
	m.rec.Put("Mining.createNewBlock", o, cooldown)
	return &templateImpl{rec: m.rec, gen: 1}, nil
}

func (m *miningImpl) CheckBlock(_ context.Context, b *wire.MsgBlock, o v32.BlockCheckOptions) (bool, string, string, error) {
	m.rec.Put("Mining.checkBlock", b, o)
	return false, "bad-txnmrklroot", "hashMerkleRoot mismatch", nil
}

func (m *miningImpl) SubmitBlock(_ context.Context, b *wire.MsgBlock) (bool, string, string, error) {
	m.rec.Put("Mining.submitBlock", b)
	return true, "", "accepted", nil
}

func (m *miningImpl) GetTransactionsByTxID(_ context.Context, ids []chainhash.Hash) ([]*wire.MsgTx, error) {
	m.rec.Put("Mining.getTransactionsByTxID", ids)
	return []*wire.MsgTx{gentest.Tx(7), nil}, nil
}

func (m *miningImpl) GetTransactionsByWitnessID(_ context.Context, ids []chainhash.Hash) ([]*wire.MsgTx, error) {
	m.rec.Put("Mining.getTransactionsByWitnessID", ids)
	return nil, nil
}

type templateImpl struct {
	v32.UnimplementedBlockTemplateServer
	rec *gentest.Recorder
	gen int
}

func (b *templateImpl) GetBlockHeader(context.Context) (wire.BlockHeader, error) {
	return gentest.Block(byte(b.gen), 1).Header, nil
}
func (b *templateImpl) GetBlock(context.Context) (*wire.MsgBlock, error) {
	return gentest.Block(byte(b.gen), 3), nil
}
func (b *templateImpl) GetTxFees(context.Context) ([]btcutil.Amount, error) {
	return []btcutil.Amount{-1, 0, 250, 2100000000000000}, nil
}
func (b *templateImpl) GetTxSigops(context.Context) ([]int64, error) {
	return []int64{4, 0, 80000}, nil
}
func (b *templateImpl) GetCoinbaseTx(context.Context) (*v32.CoinbaseTx, error) {
	return sampleCoinbase(), nil
}
func (b *templateImpl) GetCoinbaseMerklePath(context.Context) ([]chainhash.Hash, error) {
	return []chainhash.Hash{gentest.Hash(10), gentest.Hash(11)}, nil
}
func (b *templateImpl) SubmitSolution(_ context.Context, version, timestamp, nonce uint32, coinbase *wire.MsgTx) (bool, string, string, error) {
	b.rec.Put("BlockTemplate.submitSolution", version, timestamp, nonce, coinbase)
	return false, "high-hash", "proof of work failed", nil
}
func (b *templateImpl) WaitNext(_ context.Context, o v32.BlockWaitOptions) (v32.BlockTemplate, error) {
	b.rec.Put("BlockTemplate.waitNext", o)
	if o.Timeout > time.Hour {
		return nil, nil // "timed out": no new template
	}
	return &templateImpl{rec: b.rec, gen: b.gen + 1}, nil
}

func sampleCoinbase() *v32.CoinbaseTx {
	return &v32.CoinbaseTx{
		Version:              2,
		Sequence:             0xffffffff,
		ScriptSigPrefix:      []byte{0x03, 0x40, 0xd1, 0x0c},
		Witness:              make([]byte, 32),
		BlockRewardRemaining: 312500000,
		RequiredOutputs:      []*wire.TxOut{wire.NewTxOut(0, []byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed})},
		LockTime:             840000,
	}
}

type rpcImpl struct {
	v32.UnimplementedRpcServer
	rec *gentest.Recorder
}

func (r *rpcImpl) ExecuteRpc(_ context.Context, req json.RawMessage, uri, user string) (json.RawMessage, error) {
	r.rec.Put("Rpc.executeRpc", req, uri, user)
	return json.RawMessage(`{"result":840000,"error":null,"id":1}`), nil
}

// ---- test ----

func TestRoundTrip(t *testing.T) {
	ctx := testutil.Context(t)
	rec := &gentest.Recorder{}
	srv := &initImpl{rec: rec, echo: &echoImpl{}}
	var sends gentest.Sends
	conn, _ := testutil.Connect(t, func(*rt.Conn) *rt.Cap { return v32.InitServer(srv) }, nil, sends.Option())
	init := v32.NewInitClient(conn)
	defer init.Release()

	// Init: every factory returns a client for a capability received over conn.
	echo := remote[*v32.EchoClient](t, conn)(init.MakeEcho(ctx))
	mining := remote[*v32.MiningClient](t, conn)(init.MakeMining(ctx))
	defer mining.Release()
	rpc := remote[*v32.RpcClient](t, conn)(init.MakeRpc(ctx))
	defer rpc.Release()
	options := v32.BlockCreateOptions{UseMempool: true, BlockReservedWeight: 8000, CoinbaseOutputMaxAdditionalSigops: 400}
	tmpl := remote[*v32.BlockTemplateClient](t, conn)(mining.CreateNewBlock(ctx, options, false))
	defer tmpl.Destroy(ctx)
	gentest.Expect(t, rec, "Mining.createNewBlock", options, false)

	block := gentest.Block(5, 3)
	gentest.Run(t, ctx, rec, []gentest.Case{
		{Name: "Echo.echo", Call: func(ctx context.Context) ([]any, error) {
			r, err := echo.Echo(ctx, "héllo\x00wörld")
			return []any{r}, err
		}, Want: []any{"héllo\x00wörld"}},
		{Name: "Mining.getTip", Call: func(ctx context.Context) ([]any, error) {
			r, err := mining.GetTip(ctx)
			return []any{r}, err
		}, Want: []any{&v32.BlockRef{Hash: gentest.Hash(1), Height: 840000}}},
		{Name: "Mining.waitTipChanged", Call: func(ctx context.Context) ([]any, error) {
			r, err := mining.WaitTipChanged(ctx, gentest.Hash(2), 1500*time.Millisecond)
			return []any{r}, err
		}, Want: []any{&v32.BlockRef{Hash: gentest.Hash(3), Height: 840001}}, Seen: []any{gentest.Hash(2), 1500 * time.Millisecond}},
		{Name: "Mining.checkBlock", Call: func(ctx context.Context) ([]any, error) {
			ok, reason, debug, err := mining.CheckBlock(ctx, block, v32.BlockCheckOptions{CheckMerkleRoot: true})
			return []any{ok, reason, debug}, err
		}, Want: []any{false, "bad-txnmrklroot", "hashMerkleRoot mismatch"}, Seen: []any{block, v32.BlockCheckOptions{CheckMerkleRoot: true}}},
		{Name: "Mining.submitBlock", Call: func(ctx context.Context) ([]any, error) {
			ok, reason, debug, err := mining.SubmitBlock(ctx, block)
			return []any{ok, reason, debug}, err
		}, Want: []any{true, "", "accepted"}, Seen: []any{block}},
		{Name: "Mining.getTransactionsByTxID", Call: func(ctx context.Context) ([]any, error) {
			r, err := mining.GetTransactionsByTxID(ctx, []chainhash.Hash{gentest.Hash(7), gentest.Hash(8)})
			return []any{r}, err
		}, Want: []any{[]*wire.MsgTx{gentest.Tx(7), nil}}, Seen: []any{[]chainhash.Hash{gentest.Hash(7), gentest.Hash(8)}}},
		{Name: "Mining.getTransactionsByWitnessID", Call: func(ctx context.Context) ([]any, error) {
			r, err := mining.GetTransactionsByWitnessID(ctx, []chainhash.Hash{})
			return []any{r}, err
		}, Want: []any{[]*wire.MsgTx(nil)}, Seen: []any{[]chainhash.Hash{}}},
		{Name: "BlockTemplate.getBlockHeader", Call: func(ctx context.Context) ([]any, error) {
			r, err := tmpl.GetBlockHeader(ctx)
			return []any{r}, err
		}, Want: []any{gentest.Block(1, 1).Header}},
		{Name: "BlockTemplate.getBlock", Call: func(ctx context.Context) ([]any, error) {
			r, err := tmpl.GetBlock(ctx)
			return []any{r}, err
		}, Want: []any{gentest.Block(1, 3)}},
		{Name: "BlockTemplate.getTxFees", Call: func(ctx context.Context) ([]any, error) {
			r, err := tmpl.GetTxFees(ctx)
			return []any{r}, err
		}, Want: []any{[]btcutil.Amount{-1, 0, 250, 2100000000000000}}},
		{Name: "BlockTemplate.getTxSigops", Call: func(ctx context.Context) ([]any, error) {
			r, err := tmpl.GetTxSigops(ctx)
			return []any{r}, err
		}, Want: []any{[]int64{4, 0, 80000}}},
		{Name: "BlockTemplate.getCoinbaseTx", Call: func(ctx context.Context) ([]any, error) {
			r, err := tmpl.GetCoinbaseTx(ctx)
			return []any{r}, err
		}, Want: []any{sampleCoinbase()}},
		{Name: "BlockTemplate.getCoinbaseMerklePath", Call: func(ctx context.Context) ([]any, error) {
			r, err := tmpl.GetCoinbaseMerklePath(ctx)
			return []any{r}, err
		}, Want: []any{[]chainhash.Hash{gentest.Hash(10), gentest.Hash(11)}}},
		{Name: "BlockTemplate.submitSolution", Call: func(ctx context.Context) ([]any, error) {
			ok, reason, debug, err := tmpl.SubmitSolution(ctx, 0x20000000, 1700000123, 0xdeadbeef, gentest.Tx(9))
			return []any{ok, reason, debug}, err
		}, Want: []any{false, "high-hash", "proof of work failed"}, Seen: []any{uint32(0x20000000), uint32(1700000123), uint32(0xdeadbeef), gentest.Tx(9)}},
		{Name: "BlockTemplate.waitNext", Call: func(ctx context.Context) ([]any, error) {
			next, err := tmpl.WaitNext(ctx, v32.BlockWaitOptions{Timeout: 2500 * time.Millisecond, FeeThreshold: 1000})
			if err != nil {
				return nil, err
			}
			defer next.Destroy(ctx)
			h, err := next.GetBlockHeader(ctx) // the new template, served by the peer
			return []any{fmt.Sprintf("%T", next), h}, err
		}, Want: []any{"*v32.BlockTemplateClient", gentest.Block(2, 1).Header}, Seen: []any{v32.BlockWaitOptions{Timeout: 2500 * time.Millisecond, FeeThreshold: 1000}}},
		{Name: "BlockTemplate.waitNext", Call: func(ctx context.Context) ([]any, error) {
			next, err := tmpl.WaitNext(ctx, v32.DefaultBlockWaitOptions())
			return []any{next}, err
		}, Want: []any{v32.BlockTemplate(nil)}, Seen: []any{v32.DefaultBlockWaitOptions()}},
		// The raw-bytes siblings: the typed server sees the decoded values,
		// the client gets the bytes as sent.
		{Name: "Mining.checkBlock", Call: func(ctx context.Context) ([]any, error) {
			ok, reason, debug, err := mining.CheckBlockBytes(ctx, serialize(t, block), v32.BlockCheckOptions{CheckPow: true})
			return []any{ok, reason, debug}, err
		}, Want: []any{false, "bad-txnmrklroot", "hashMerkleRoot mismatch"}, Seen: []any{block, v32.BlockCheckOptions{CheckPow: true}}},
		{Name: "Mining.submitBlock", Call: func(ctx context.Context) ([]any, error) {
			ok, reason, debug, err := mining.SubmitBlockBytes(ctx, serialize(t, block))
			return []any{ok, reason, debug}, err
		}, Want: []any{true, "", "accepted"}, Seen: []any{block}},
		{Name: "Mining.submitBlock", Call: func(ctx context.Context) ([]any, error) {
			ok, reason, debug, err := mining.SubmitBlockBytes(ctx, nil) // a null pointer: no block
			return []any{ok, reason, debug}, err
		}, Want: []any{true, "", "accepted"}, Seen: []any{(*wire.MsgBlock)(nil)}},
		{Name: "Mining.getTransactionsByTxID", Call: func(ctx context.Context) ([]any, error) {
			r, err := mining.GetTransactionsByTxIDBytes(ctx, []chainhash.Hash{gentest.Hash(7)})
			return []any{r}, err
		}, Want: []any{[][]byte{serialize(t, gentest.Tx(7)), nil}}, Seen: []any{[]chainhash.Hash{gentest.Hash(7)}}},
		{Name: "BlockTemplate.getBlockHeader", Call: func(ctx context.Context) ([]any, error) {
			r, err := tmpl.GetBlockHeaderBytes(ctx)
			return []any{r}, err
		}, Want: []any{serialize(t, &gentest.Block(1, 1).Header)}},
		{Name: "BlockTemplate.getBlock", Call: func(ctx context.Context) ([]any, error) {
			r, err := tmpl.GetBlockBytes(ctx)
			return []any{r}, err
		}, Want: []any{serialize(t, gentest.Block(1, 3))}},
		{Name: "BlockTemplate.submitSolution", Call: func(ctx context.Context) ([]any, error) {
			ok, reason, debug, err := tmpl.SubmitSolutionBytes(ctx, 0x20000000, 1700000123, 0xdeadbeef, serialize(t, gentest.Tx(9)))
			return []any{ok, reason, debug}, err
		}, Want: []any{false, "high-hash", "proof of work failed"}, Seen: []any{uint32(0x20000000), uint32(1700000123), uint32(0xdeadbeef), gentest.Tx(9)}},
		{Name: "Rpc.executeRpc", Call: func(ctx context.Context) ([]any, error) {
			r, err := rpc.ExecuteRpc(ctx, json.RawMessage(`{"method":"getblockcount","params":[]}`), "/wallet/w1", "alice")
			return []any{r}, err
		}, Want: []any{json.RawMessage(`{"result":840000,"error":null,"id":1}`)},
			Seen: []any{json.RawMessage(`{"method":"getblockcount","params":[]}`), "/wallet/w1", "alice"}},
	})

	t.Run("Unimplemented", func(t *testing.T) {
		if _, err := mining.IsTestChain(ctx); !errors.Is(err, exception.ErrUnimplemented) {
			t.Errorf("Mining.isTestChain (not implemented): err = %v, want ErrUnimplemented", err)
		}
	})

	t.Run("Destroy", func(t *testing.T) {
		for range 2 {
			if err := echo.Destroy(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n := sends.Count("Echo.destroy"); n != 1 {
			t.Errorf("Echo.destroy sent %d times, want 1", n)
		}
		if n := srv.echo.destroys.Load(); n != 1 {
			t.Errorf("Echo impl destroyed %d times, want 1", n)
		}
		if _, err := echo.Echo(ctx, "x"); !errors.Is(err, exception.ErrDestroyed) {
			t.Errorf("Echo after Destroy: err = %v, want ErrDestroyed", err)
		}
		if n := sends.Count("Echo.echo"); n != 1 {
			t.Errorf("Echo.echo sent %d times, want 1 (none after Destroy)", n)
		}
	})
}

// serialize returns v's consensus serialization.
func serialize(t *testing.T, v interface{ Serialize(io.Writer) error }) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := v.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rawMining serves submitBlock and getTransactionsByTxID as raw bytes.
type rawMining struct {
	miningImpl
}

func (m *rawMining) SubmitBlockBytes(_ context.Context, b []byte) (bool, string, string, error) {
	m.rec.Put("Mining.submitBlock", b)
	return false, "inconclusive", "", nil
}

func (m *rawMining) GetTransactionsByTxIDBytes(_ context.Context, ids []chainhash.Hash) ([][]byte, error) {
	m.rec.Put("Mining.getTransactionsByTxID", ids)
	return [][]byte{{}, nil, {0xff}}, nil
}

type rawInit struct {
	v32.UnimplementedInitServer
	m *rawMining
}

func (i rawInit) MakeMining(context.Context) (v32.Mining, error) { return i.m, nil }

// TestRawServer: an implementation with a raw-bytes sibling gets the bytes
// as the client sent them (nil and empty apart) and answers bytes that the
// typed client decodes.
func TestRawServer(t *testing.T) {
	ctx := testutil.Context(t)
	rec := &gentest.Recorder{}
	srv := rawInit{m: &rawMining{miningImpl{rec: rec}}}
	conn, _ := testutil.Connect(t, func(*rt.Conn) *rt.Cap { return v32.InitServer(srv) }, nil)
	init := v32.NewInitClient(conn)
	defer init.Release()
	mining := remote[*v32.MiningClient](t, conn)(init.MakeMining(ctx))
	defer mining.Release()
	block := gentest.Block(5, 3)
	gentest.Run(t, ctx, rec, []gentest.Case{
		{Name: "Mining.submitBlock", Call: func(ctx context.Context) ([]any, error) {
			ok, reason, debug, err := mining.SubmitBlock(ctx, block)
			return []any{ok, reason, debug}, err
		}, Want: []any{false, "inconclusive", ""}, Seen: []any{serialize(t, block)}},
		{Name: "Mining.submitBlock", Call: func(ctx context.Context) ([]any, error) {
			ok, reason, debug, err := mining.SubmitBlock(ctx, nil)
			return []any{ok, reason, debug}, err
		}, Want: []any{false, "inconclusive", ""}, Seen: []any{[]byte(nil)}},
		{Name: "Mining.submitBlock", Call: func(ctx context.Context) ([]any, error) {
			ok, reason, debug, err := mining.SubmitBlockBytes(ctx, []byte{})
			return []any{ok, reason, debug}, err
		}, Want: []any{false, "inconclusive", ""}, Seen: []any{[]byte{}}},
		{Name: "Mining.getTransactionsByTxID", Call: func(ctx context.Context) ([]any, error) {
			r, err := mining.GetTransactionsByTxIDBytes(ctx, nil)
			return []any{r}, err
		}, Want: []any{[][]byte{{}, nil, {0xff}}}, Seen: []any{[]chainhash.Hash(nil)}},
	})
	// The typed client decodes what the raw server answers: an empty tx is
	// a missing one, 0xff is not a transaction.
	if _, err := mining.GetTransactionsByTxID(ctx, nil); err == nil || !strings.Contains(err.Error(), "Mining.getTransactionsByTxID.result") {
		t.Errorf("typed client, undecodable tx: err = %v, want a decode error naming the result", err)
	}
}

type proxyInit struct {
	v32.UnimplementedInitServer
	m v32.Mining
}

func (i proxyInit) MakeMining(context.Context) (v32.Mining, error) { return i.m, nil }

// TestRawForwarding: a client served as an implementation on another
// connection forwards raw bytes untouched, bytes it could not decode
// included.
func TestRawForwarding(t *testing.T) {
	ctx := testutil.Context(t)
	rec := &gentest.Recorder{}
	back, _ := testutil.Connect(t, func(*rt.Conn) *rt.Cap {
		return v32.InitServer(rawInit{m: &rawMining{miningImpl{rec: rec}}})
	}, nil)
	backInit := v32.NewInitClient(back)
	defer backInit.Release()
	backMining := remote[*v32.MiningClient](t, back)(backInit.MakeMining(ctx))
	defer backMining.Release()
	front, _ := testutil.Connect(t, func(*rt.Conn) *rt.Cap {
		return v32.InitServer(proxyInit{m: backMining})
	}, nil)
	frontInit := v32.NewInitClient(front)
	defer frontInit.Release()
	mining := remote[*v32.MiningClient](t, front)(frontInit.MakeMining(ctx))
	defer mining.Release()
	gentest.Run(t, ctx, rec, []gentest.Case{
		{Name: "Mining.submitBlock", Call: func(ctx context.Context) ([]any, error) {
			ok, reason, debug, err := mining.SubmitBlockBytes(ctx, []byte{})
			return []any{ok, reason, debug}, err
		}, Want: []any{false, "inconclusive", ""}, Seen: []any{[]byte{}}},
		{Name: "Mining.submitBlock", Call: func(ctx context.Context) ([]any, error) {
			ok, reason, debug, err := mining.SubmitBlockBytes(ctx, []byte{0xff})
			return []any{ok, reason, debug}, err
		}, Want: []any{false, "inconclusive", ""}, Seen: []any{[]byte{0xff}}},
		{Name: "Mining.getTransactionsByTxID", Call: func(ctx context.Context) ([]any, error) {
			r, err := mining.GetTransactionsByTxIDBytes(ctx, []chainhash.Hash{gentest.Hash(1)})
			return []any{r}, err
		}, Want: []any{[][]byte{{}, nil, {0xff}}}, Seen: []any{[]chainhash.Hash{gentest.Hash(1)}}},
	})
}

// remote checks that a factory returned a C, a client on conn (so the
// capability crossed the connection), and returns it.
func remote[C interface{ Conn() *rt.Conn }](t *testing.T, conn *rt.Conn) func(any, error) C {
	return func(v any, err error) C {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		c, ok := v.(C)
		if !ok || c.Conn() != conn {
			t.Fatalf("got %T, want a %T on the client connection", v, c)
		}
		return c
	}
}
