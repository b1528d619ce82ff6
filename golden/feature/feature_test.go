package feature

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/domain"
	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/golden/feature/featurecapnp"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

func sampleTx() *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{1}, 3), []byte{0x51}, [][]byte{{0xaa, 0xbb}}))
	tx.AddTxOut(wire.NewTxOut(5000, []byte{0x00, 0x14, 1, 2}))
	return tx
}

func sampleEverything() Everything {
	blk := wire.NewMsgBlock(&wire.BlockHeader{Version: 4, Nonce: 9})
	_ = blk.AddTransaction(sampleTx())
	return Everything{
		Hash:       chainhash.Hash{0xab, 0xcd},
		Tx:         sampleTx(),
		Block:      blk,
		Header:     wire.BlockHeader{Version: 7, Bits: 0x1d00ffff, Timestamp: time.Unix(1700000000, 0)},
		TxOut:      wire.NewTxOut(42, []byte{0x6a}),
		Json:       json.RawMessage(`{"a":[1,2]}`),
		Amount:     123456,
		Millis:     1500 * time.Millisecond,
		Seconds:    90 * time.Second,
		Script:     []byte{0x51, 0x52},
		Raw:        []byte("raw"),
		Hashes:     []chainhash.Hash{{1}, {2}},
		Amounts:    []btcutil.Amount{1, 2, 3},
		Nested:     &Everything_Nested{Inner: &Everything_Nested_Inner{Value: 77}, Flags: []bool{true, false, true}},
		NestedList: []Everything_Nested{{Flags: []bool{false}}, {Inner: &Everything_Nested_Inner{Value: 1}}},
		Colors:     []Color{ColorRed, ColorBlue},
		Matrix:     [][]int32{{1, 2}, {}, {3}},
		Names:      []string{"a", "", "c"},
		Map:        []Pair[string, []byte]{{Key: "k", Value: []byte("v")}, {Key: "null stays nil"}},
		DeepMap:    []Pair[string, []Pair[string, []string]]{{Key: "main", Value: []Pair[string, []string]{{Key: "x", Value: []string{"1", "2"}}}}},
		Wrapped:    &Wrapper[string]{Items: []Pair[string, string]{{Key: "a", Value: "b"}}, First: &Pair[string, string]{Key: "f", Value: "g"}},
		Unused:     &Unused[struct{}]{Note: "n"},
		String:     "renamed accessor",
		Self:       &Everything{Names: []string{"inner"}, Header: wire.BlockHeader{Timestamp: time.Unix(0, 0)}},
	}
}

func TestStructRoundTrip(t *testing.T) {
	_, seg, err := capnp.NewMessage(capnp.SingleSegment(nil))
	if err != nil {
		t.Fatal(err)
	}
	w, err := featurecapnp.NewRootEverything(seg)
	if err != nil {
		t.Fatal(err)
	}
	in := sampleEverything()
	if err := in.ToCapnp(nil, w); err != nil {
		t.Fatal(err)
	}
	out, err := EverythingFromCapnp(nil, w)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(in), normalize(out)) {
		t.Errorf("round trip differs:\n in: %+v\nout: %+v", in, out)
	}
}

// normalize clears what a round trip cannot keep identical (cached hashes
// inside btcd types) by re-serializing.
func normalize(e Everything) Everything {
	b, _ := domain.TxBytes(e.Tx)
	e.Tx, _ = domain.Tx("", b)
	bb, _ := domain.BlockBytes(e.Block)
	e.Block, _ = domain.Block("", bb)
	return e
}

func TestUnionRoundTrip(t *testing.T) {
	for _, in := range []Choice{
		{Which: featurecapnp.Choice_Which_none, Tag: "t"},
		{Which: featurecapnp.Choice_Which_number, Number: -5},
		{Which: featurecapnp.Choice_Which_text, Text: "hi"},
	} {
		_, seg, _ := capnp.NewMessage(capnp.SingleSegment(nil))
		w, _ := featurecapnp.NewRootChoice(seg)
		if err := in.ToCapnp(w); err != nil {
			t.Fatal(err)
		}
		out, err := ChoiceFromCapnp(w)
		if err != nil || !reflect.DeepEqual(in, out) {
			t.Errorf("%+v -> %+v, %v", in, out, err)
		}
	}
}

func TestDefaults(t *testing.T) {
	_, seg, _ := capnp.NewMessage(capnp.SingleSegment(nil))
	w, _ := featurecapnp.NewRootOptions(seg)
	got, err := OptionsFromCapnp(w) // a fresh wire struct reads the schema defaults
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultOptions()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("wire defaults %+v\nDefaultOptions %+v", got, want)
	}
	if want.Timeout != domain.NoTimeout || want.Wait != 1500*time.Millisecond || want.Delay != 30*time.Second || want.Color != ColorGreen {
		t.Errorf("DefaultOptions() = %+v", want)
	}
}

func TestBadDomainValueNamesField(t *testing.T) {
	_, seg, _ := capnp.NewMessage(capnp.SingleSegment(nil))
	w, _ := featurecapnp.NewRootEverything(seg)
	_ = w.SetHash([]byte{1, 2, 3})
	_, err := EverythingFromCapnp(nil, w)
	if err == nil || !strings.Contains(err.Error(), "Everything.hash") {
		t.Fatalf("err = %v, want one naming Everything.hash", err)
	}
}

// impl implements Feature for the loopback test.
type impl struct {
	UnimplementedFeatureServer
	destroyed chan struct{}
}

func (impl) Multi(ctx context.Context, a int32, b string) (bool, string, uint64, error) {
	return a > 0, b + "!", uint64(a) * 2, nil
}

func (impl) OptionalScalar(ctx context.Context, x int32, hasX bool) (int64, bool, error) {
	if !hasX {
		return 0, false, nil
	}
	return int64(x) * 10, true, nil
}

func (impl) OptionalPointer(ctx context.Context) (Options, bool, error) {
	return DefaultOptions(), true, nil
}

func (impl) Presence(ctx context.Context) (*Options, []byte, []string, Callback, error) {
	return nil, nil, nil, nil, nil
}

func (impl) Want(ctx context.Context, wantDetail bool) (bool, *Everything, error) {
	if !wantDetail {
		return true, nil, nil
	}
	return true, &Everything{Names: []string{"detail"}}, nil
}

func (impl) InOut(ctx context.Context, x, sum int32) (int32, error) { return sum + x, nil }

func (impl) Fails(ctx context.Context, arg int32) (int32, error) {
	if arg < 0 {
		return 0, errors.New("negative")
	}
	return arg, nil
}

func (impl) WithCallback(ctx context.Context, fn Callback) (int32, error) {
	r, err := fn.Call(ctx, 20)
	if err != nil {
		return 0, err
	}
	return r + 1, fn.Destroy(ctx)
}

func (impl) Everything(ctx context.Context, input Everything, choice Choice) (*Everything, error) {
	input.Names = append(input.Names, choice.Text)
	return &input, nil
}

func (impl) MakeDerived(ctx context.Context) (Derived, error) { return derived{}, nil }

func (impl) NoContext(ctx context.Context, value int32) (int32, error) { return -value, nil }

func (f impl) Destroy(ctx context.Context) error {
	close(f.destroyed)
	return nil
}

type derived struct{ UnimplementedDerivedServer }

func (derived) Ping(ctx context.Context) (string, error)             { return "pong", nil }
func (derived) Pong(ctx context.Context, value int32) (int32, error) { return value + 1, nil }

func TestLoopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := net.Pipe()
	srv := impl{destroyed: make(chan struct{})}
	sconn := rt.Serve(b, func(*rt.Conn) capnp.Client { return capnp.Client(FeatureServerToCapnp(srv)) },
		WithFeatureBootstrap())
	defer sconn.Close()
	conn, err := rt.Connect(ctx, a, WithFeatureBootstrap())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := NewFeatureClientFromConn(ctx, conn)

	if r, o, x, err := c.Multi(ctx, 3, "b"); err != nil || !r || o != "b!" || x != 6 {
		t.Errorf("Multi = %v %q %d %v", r, o, x, err)
	}
	if r, ok, err := c.OptionalScalar(ctx, 4, true); err != nil || !ok || r != 40 {
		t.Errorf("OptionalScalar(4) = %d %v %v", r, ok, err)
	}
	if _, ok, err := c.OptionalScalar(ctx, 4, false); err != nil || ok {
		t.Errorf("OptionalScalar(unset) = %v %v", ok, err)
	}
	if r, ok, err := c.OptionalPointer(ctx); err != nil || !ok || !reflect.DeepEqual(r, DefaultOptions()) {
		t.Errorf("OptionalPointer = %+v %v %v", r, ok, err)
	}
	if r, d, n, cb, err := c.Presence(ctx); err != nil || r != nil || d != nil || n != nil || cb != nil {
		t.Errorf("Presence = %v %v %v %v %v", r, d, n, cb, err)
	}
	if _, d, err := c.Want(ctx, false); err != nil || d != nil {
		t.Errorf("Want(false) = %v %v", d, err)
	}
	if _, d, err := c.Want(ctx, true); err != nil || d == nil || d.Names[0] != "detail" {
		t.Errorf("Want(true) = %v %v", d, err)
	}
	if s, err := c.InOut(ctx, 2, 5); err != nil || s != 7 {
		t.Errorf("InOut = %d %v", s, err)
	}
	if r, err := c.NoContext(ctx, 5); err != nil || r != -5 {
		t.Errorf("NoContext = %d %v", r, err)
	}
	if _, err := c.Fails(ctx, -1); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("Fails(-1) err = %v, want the server's error via the exception field", err)
	}
	if r, err := c.Fails(ctx, 3); err != nil || r != 3 {
		t.Errorf("Fails(3) = %d %v", r, err)
	}
	if err := c.Named(ctx); !errors.Is(err, exception.ErrUnimplemented) || !strings.Contains(err.Error(), "Feature.named") {
		t.Errorf("Named err = %v, want rt.Unimplemented (Feature.named) from the embedded UnimplementedFeatureServer", err)
	}
	fn := CallbackFunc(func(ctx context.Context, arg int32) (int32, error) { return arg * 2, nil })
	if r, err := c.WithCallback(ctx, fn); err != nil || r != 41 {
		t.Errorf("WithCallback = %d %v", r, err)
	}
	in := sampleEverything()
	out, err := c.Everything(ctx, in, Choice{Which: featurecapnp.Choice_Which_text, Text: "extra"})
	if err != nil {
		t.Fatal(err)
	}
	want := normalize(in)
	want.Names = append(want.Names, "extra")
	if !reflect.DeepEqual(want, normalize(*out)) {
		t.Errorf("Everything round trip differs")
	}
	d, err := c.MakeDerived(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := d.Ping(ctx); err != nil || s != "pong" {
		t.Errorf("inherited Ping = %q %v", s, err)
	}
	if r, err := d.Pong(ctx, 1); err != nil || r != 2 {
		t.Errorf("Pong = %d %v", r, err)
	}
	if err := d.Destroy(ctx); err != nil {
		t.Errorf("Derived.Destroy: %v", err)
	}
	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.destroyed:
	case <-ctx.Done():
		t.Fatal("server Destroy not called")
	}
	if err := c.Destroy(ctx); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}
