package v31_test

// Go↔Go round trips through the generated clients and server adapters:
// every interface of the set is reached over a real connection (Init is
// the bootstrap; Echo and Mining come from its factories; BlockTemplate from
// Mining.createNewBlock and BlockTemplate.waitNext) and its methods are
// checked for the params the server sees and the results the client gets.

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	v31 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v31"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/gentest"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// ---- server implementations ----

type initImpl struct {
	v31.UnimplementedInitServer
	rec  *gentest.Recorder
	echo *echoImpl
}

func (i *initImpl) MakeEcho(context.Context) (v31.Echo, error) { return i.echo, nil }
func (i *initImpl) MakeMining(context.Context) (v31.Mining, error) {
	return &miningImpl{rec: i.rec}, nil
}

type echoImpl struct {
	v31.UnimplementedEchoServer
	destroys atomic.Int32
}

func (e *echoImpl) Echo(_ context.Context, s string) (string, error) { return s, nil }
func (e *echoImpl) Destroy(context.Context) error                    { e.destroys.Add(1); return nil }

// miningImpl leaves IsTestChain (among others) unimplemented.
type miningImpl struct {
	v31.UnimplementedMiningServer
	rec *gentest.Recorder
}

func (m *miningImpl) GetTip(context.Context) (*v31.BlockRef, error) {
	return &v31.BlockRef{Hash: gentest.Hash(1), Height: 840000}, nil
}

func (m *miningImpl) WaitTipChanged(_ context.Context, tip chainhash.Hash, timeout time.Duration) (*v31.BlockRef, error) {
	m.rec.Put("Mining.waitTipChanged", tip, timeout)
	return &v31.BlockRef{Hash: gentest.Hash(3), Height: 840001}, nil
}

func (m *miningImpl) CreateNewBlock(_ context.Context, o v31.BlockCreateOptions, cooldown bool) (v31.BlockTemplate, error) {
	m.rec.Put("Mining.createNewBlock", o, cooldown)
	return &templateImpl{rec: m.rec, gen: 1}, nil
}

func (m *miningImpl) CheckBlock(_ context.Context, b *wire.MsgBlock, o v31.BlockCheckOptions) (bool, string, string, error) {
	m.rec.Put("Mining.checkBlock", b, o)
	return false, "bad-txnmrklroot", "hashMerkleRoot mismatch", nil
}

type templateImpl struct {
	v31.UnimplementedBlockTemplateServer
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
func (b *templateImpl) GetCoinbaseTx(context.Context) (*v31.CoinbaseTx, error) {
	return sampleCoinbase(), nil
}
func (b *templateImpl) GetCoinbaseMerklePath(context.Context) ([]chainhash.Hash, error) {
	return []chainhash.Hash{gentest.Hash(10), gentest.Hash(11)}, nil
}
func (b *templateImpl) SubmitSolution(_ context.Context, version, timestamp, nonce uint32, coinbase *wire.MsgTx) (bool, error) {
	b.rec.Put("BlockTemplate.submitSolution", version, timestamp, nonce, coinbase)
	return true, nil
}
func (b *templateImpl) WaitNext(_ context.Context, o v31.BlockWaitOptions) (v31.BlockTemplate, error) {
	b.rec.Put("BlockTemplate.waitNext", o)
	if o.Timeout > time.Hour {
		return nil, nil // "timed out": no new template
	}
	return &templateImpl{rec: b.rec, gen: b.gen + 1}, nil
}

func sampleCoinbase() *v31.CoinbaseTx {
	return &v31.CoinbaseTx{
		Version:              2,
		Sequence:             0xffffffff,
		ScriptSigPrefix:      []byte{0x03, 0x40, 0xd1, 0x0c},
		Witness:              make([]byte, 32),
		BlockRewardRemaining: 312500000,
		RequiredOutputs:      []*wire.TxOut{wire.NewTxOut(0, []byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed})},
		LockTime:             840000,
	}
}

// ---- test ----

func TestRoundTrip(t *testing.T) {
	ctx := testutil.Context(t)
	rec := &gentest.Recorder{}
	srv := &initImpl{rec: rec, echo: &echoImpl{}}
	var sends gentest.Sends
	conn, _ := testutil.Connect(t, func(*rt.Conn) *rt.Cap { return v31.InitServer(srv) }, nil, sends.Option())
	init := v31.NewInitClient(conn)
	defer init.Release()

	// Init: every factory returns a client for a capability received over conn.
	echo := remote[*v31.EchoClient](t, conn)(init.MakeEcho(ctx))
	mining := remote[*v31.MiningClient](t, conn)(init.MakeMining(ctx))
	defer mining.Release()
	options := v31.BlockCreateOptions{UseMempool: true, BlockReservedWeight: 8000, CoinbaseOutputMaxAdditionalSigops: 400}
	tmpl := remote[*v31.BlockTemplateClient](t, conn)(mining.CreateNewBlock(ctx, options, false))
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
		}, Want: []any{&v31.BlockRef{Hash: gentest.Hash(1), Height: 840000}}},
		{Name: "Mining.waitTipChanged", Call: func(ctx context.Context) ([]any, error) {
			r, err := mining.WaitTipChanged(ctx, gentest.Hash(2), 1500*time.Millisecond)
			return []any{r}, err
		}, Want: []any{&v31.BlockRef{Hash: gentest.Hash(3), Height: 840001}}, Seen: []any{gentest.Hash(2), 1500 * time.Millisecond}},
		{Name: "Mining.checkBlock", Call: func(ctx context.Context) ([]any, error) {
			ok, reason, debug, err := mining.CheckBlock(ctx, block, v31.BlockCheckOptions{CheckMerkleRoot: true})
			return []any{ok, reason, debug}, err
		}, Want: []any{false, "bad-txnmrklroot", "hashMerkleRoot mismatch"}, Seen: []any{block, v31.BlockCheckOptions{CheckMerkleRoot: true}}},
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
			ok, err := tmpl.SubmitSolution(ctx, 0x20000000, 1700000123, 0xdeadbeef, gentest.Tx(9))
			return []any{ok}, err
		}, Want: []any{true}, Seen: []any{uint32(0x20000000), uint32(1700000123), uint32(0xdeadbeef), gentest.Tx(9)}},
		{Name: "BlockTemplate.waitNext", Call: func(ctx context.Context) ([]any, error) {
			next, err := tmpl.WaitNext(ctx, v31.BlockWaitOptions{Timeout: 2500 * time.Millisecond, FeeThreshold: 1000})
			if err != nil {
				return nil, err
			}
			defer next.Destroy(ctx)
			h, err := next.GetBlockHeader(ctx) // the new template, served by the peer
			return []any{fmt.Sprintf("%T", next), h}, err
		}, Want: []any{"*v31.BlockTemplateClient", gentest.Block(2, 1).Header}, Seen: []any{v31.BlockWaitOptions{Timeout: 2500 * time.Millisecond, FeeThreshold: 1000}}},
		{Name: "BlockTemplate.waitNext", Call: func(ctx context.Context) ([]any, error) {
			next, err := tmpl.WaitNext(ctx, v31.DefaultBlockWaitOptions())
			return []any{next}, err
		}, Want: []any{v31.BlockTemplate(nil)}, Seen: []any{v31.DefaultBlockWaitOptions()}},
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
