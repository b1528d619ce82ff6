package feature

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
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

func (impl) OptionalScalar(ctx context.Context, x int32, hasX bool) (*int64, error) {
	if !hasX {
		return nil, nil
	}
	r := int64(x) * 10
	return &r, nil
}

func (impl) OptionalPointer(ctx context.Context) (*Options, error) {
	o := DefaultOptions()
	return &o, nil
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
	srv := impl{destroyed: make(chan struct{})}
	conn, _ := testutil.Connect(t, func(*rt.Conn) *rt.Cap { return FeatureServer(srv) },
		[]rt.Option{WithFeatureBootstrap()}, WithFeatureBootstrap())
	c := NewFeatureClient(conn)

	if r, o, x, err := c.Multi(ctx, 3, "b"); err != nil || !r || o != "b!" || x != 6 {
		t.Errorf("Multi = %v %q %d %v", r, o, x, err)
	}
	if r, err := c.OptionalScalar(ctx, 4, true); err != nil || r == nil || *r != 40 {
		t.Errorf("OptionalScalar(4) = %v %v", r, err)
	}
	if r, err := c.OptionalScalar(ctx, 4, false); err != nil || r != nil {
		t.Errorf("OptionalScalar(unset) = %v %v", r, err)
	}
	if r, err := c.OptionalPointer(ctx); err != nil || r == nil || !reflect.DeepEqual(*r, DefaultOptions()) {
		t.Errorf("OptionalPointer = %+v %v", r, err)
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

// describe tells nil, empty and other byte slices apart.
func describe(b []byte) string {
	switch {
	case b == nil:
		return "nil"
	case len(b) == 0:
		return "empty"
	}
	return hex.EncodeToString(b)
}

func describeAll(bs [][]byte) string {
	if bs == nil {
		return "nil"
	}
	var out []string
	for _, b := range bs {
		out = append(out, describe(b))
	}
	return "[" + strings.Join(out, " ") + "]"
}

// RawForms reports the typed values it got and echoes the block.
func (impl) RawForms(ctx context.Context, block *wire.MsgBlock, txs []*wire.MsgTx, header wire.BlockHeader, hasHeader bool, blobs [][]byte) (*wire.MsgBlock, *wire.TxOut, string, error) {
	b := "nil"
	if block != nil {
		b = block.BlockHash().String()[:8]
	}
	var ts []string
	for _, tx := range txs {
		if tx == nil {
			ts = append(ts, "nil")
		} else {
			ts = append(ts, tx.TxHash().String()[:8])
		}
	}
	seen := fmt.Sprintf("typed block=%s txs=%v header=%v/%d blobs=%s", b, ts, hasHeader, header.Nonce, describeAll(blobs))
	return block, wire.NewTxOut(7, []byte{0x6a}), seen, nil
}

// rawImpl also has the raw-bytes sibling, which the adapter prefers.
type rawImpl struct{ impl }

// RawFormsBytes_ reports the bytes it got; it echoes block, except that
// it answers a nil block with an empty one (which a block decoder
// refuses).
func (rawImpl) RawFormsBytes_(ctx context.Context, block []byte, txs [][]byte, header []byte, hasHeader bool, blobs [][]byte) ([]byte, []byte, string, error) {
	seen := fmt.Sprintf("raw block=%s txs=%s header=%v/%s blobs=%s", describe(block), describeAll(txs), hasHeader, describe(header), describeAll(blobs))
	if block == nil {
		block = []byte{}
	}
	return block, nil, seen, nil
}

// featureClient serves srv over a socketpair and returns a client of it.
func featureClient(t *testing.T, srv Feature) *FeatureClient {
	t.Helper()
	conn, _ := testutil.Connect(t, func(*rt.Conn) *rt.Cap { return FeatureServer(srv) },
		[]rt.Option{WithFeatureBootstrap()}, WithFeatureBootstrap())
	c := NewFeatureClient(conn)
	t.Cleanup(c.Release)
	return c
}

func TestRawForms(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	blk := sampleEverything().Block
	blkBytes, err := domain.BlockBytes(blk)
	if err != nil {
		t.Fatal(err)
	}
	tx := sampleTx()
	txBytes, err := domain.TxBytes(tx)
	if err != nil {
		t.Fatal(err)
	}
	hdr := wire.BlockHeader{Nonce: 5, Timestamp: time.Unix(0, 0)}
	hdrBytes, err := domain.HeaderBytes(hdr)
	if err != nil {
		t.Fatal(err)
	}
	short := func(h fmt.Stringer) string { return h.String()[:8] }
	blobs := [][]byte{nil, {}, {1}}

	// The sibling's name is decided in the model: the schema's
	// rawFormsBytes keeps RawFormsBytes, and the embeddable
	// UnimplementedFeatureServer has no sibling (it would shadow RawForms).
	if _, ok := reflect.TypeFor[UnimplementedFeatureServer]().MethodByName("RawFormsBytes_"); ok {
		t.Error("UnimplementedFeatureServer has RawFormsBytes_")
	}

	typed := featureClient(t, impl{})
	if err := typed.RawFormsBytes(ctx); !errors.Is(err, exception.ErrUnimplemented) {
		t.Errorf("schema method RawFormsBytes: err = %v, want rt.Unimplemented", err)
	}
	r, out, seen, err := typed.RawForms(ctx, blk, []*wire.MsgTx{tx, nil}, hdr, true, blobs)
	want := fmt.Sprintf("typed block=%s txs=[%s nil] header=true/5 blobs=[nil empty 01]", short(blk.BlockHash()), short(tx.TxHash()))
	if err != nil || seen != want || r == nil || r.BlockHash() != blk.BlockHash() || out == nil || out.Value != 7 {
		t.Errorf("typed → typed: %v %v %q %v, want seen %q", r, out, seen, err, want)
	}
	rb, ob, seen, err := typed.RawFormsBytes_(ctx, blkBytes, [][]byte{txBytes, {}}, hdrBytes, true, nil)
	want = fmt.Sprintf("typed block=%s txs=[%s nil] header=true/5 blobs=nil", short(blk.BlockHash()), short(tx.TxHash()))
	if err != nil || seen != want || !bytes.Equal(rb, blkBytes) || !bytes.Equal(ob, []byte{7, 0, 0, 0, 0, 0, 0, 0, 1, 0x6a}) {
		t.Errorf("raw → typed: %x %x %q %v, want seen %q", rb, ob, seen, err, want)
	}
	// A nil block is a null pointer, which decodes to nil; empty or
	// undecodable bytes reach the typed server's decoder, which refuses
	// them naming the field.
	if _, _, seen, err := typed.RawFormsBytes_(ctx, nil, nil, nil, false, nil); err != nil || !strings.HasPrefix(seen, "typed block=nil ") {
		t.Errorf("raw nil block → typed: %q %v", seen, err)
	}
	if _, _, seen, err := typed.RawForms(ctx, nil, nil, wire.BlockHeader{}, false, nil); err != nil || !strings.HasPrefix(seen, "typed block=nil ") {
		t.Errorf("typed nil block → typed: %q %v", seen, err)
	}
	for _, bad := range [][]byte{{}, {1, 2, 3}, append(bytes.Clone(blkBytes), 0)} {
		_, _, _, err := typed.RawFormsBytes_(ctx, bad, nil, nil, false, nil)
		if err == nil || !strings.Contains(err.Error(), "Feature.rawForms.block") {
			t.Errorf("raw block %s → typed: err = %v, want a decode error naming Feature.rawForms.block", describe(bad), err)
		}
	}

	raw := featureClient(t, rawImpl{})
	rb, ob, seen, err = raw.RawFormsBytes_(ctx, []byte{}, [][]byte{nil, {}, {0xde}}, nil, false, [][]byte{{}})
	want = "raw block=empty txs=[nil empty de] header=false/nil blobs=[empty]"
	if err != nil || seen != want || rb == nil || len(rb) != 0 || ob != nil {
		t.Errorf("raw → raw: %s %s %q %v, want seen %q", describe(rb), describe(ob), seen, err, want)
	}
	r, out, seen, err = raw.RawForms(ctx, blk, []*wire.MsgTx{tx}, hdr, true, blobs)
	want = fmt.Sprintf("raw block=%x txs=[%x] header=true/%x blobs=[nil empty 01]", blkBytes, txBytes, hdrBytes)
	if err != nil || seen != want || r == nil || r.BlockHash() != blk.BlockHash() || out != nil {
		t.Errorf("typed → raw: %v %v %q %v, want seen %q", r, out, seen, err, want)
	}
	if _, _, _, err := raw.RawForms(ctx, nil, nil, wire.BlockHeader{}, false, nil); err == nil || !strings.Contains(err.Error(), "Feature.rawForms.result") || !errors.Is(err, io.EOF) {
		t.Errorf("typed client, empty block result: err = %v, want io.EOF naming Feature.rawForms.result", err)
	}
}

// capsImpl serves the methods whose params and results hold interfaces.
type capsImpl struct{ UnimplementedFeatureServer }

// Callbacks calls each callback with its index and returns, per element, a
// Base whose Ping reports the result, or nil for a null element.
func (capsImpl) Callbacks(ctx context.Context, cbs []Callback) ([]Base, error) {
	out := make([]Base, len(cbs))
	for i, cb := range cbs {
		if cb == nil {
			continue
		}
		r, err := cb.Call(ctx, int32(i))
		rt.Release(cb)
		if err != nil {
			return nil, err
		}
		out[i] = pingBase(fmt.Sprint(r))
	}
	return out, nil
}

func (capsImpl) Everything(ctx context.Context, input Everything, choice Choice) (*Everything, error) {
	return &input, nil
}

type pingBase string

func (b pingBase) Ping(context.Context) (string, error) { return string(b), nil }
func (pingBase) Destroy(context.Context) error          { return nil }

// TestInterfaceFields: capabilities in list elements (null ones stay nil)
// and inside structs cross in both directions and stay callable.
func TestInterfaceFields(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := featureClient(t, capsImpl{})

	times := func(k int32) Callback {
		return CallbackFunc(func(_ context.Context, arg int32) (int32, error) { return arg * k, nil })
	}
	bases, err := c.Callbacks(ctx, []Callback{times(10), nil, times(100)})
	if err != nil {
		t.Fatal(err)
	}
	if len(bases) != 3 || bases[1] != nil {
		t.Fatalf("Callbacks = %v, want 3 elements with a nil in the middle", bases)
	}
	for i, want := range map[int]string{0: "0", 2: "200"} {
		if bases[i] == nil {
			t.Errorf("result[%d] is nil", i)
			continue
		}
		if s, err := bases[i].Ping(ctx); err != nil || s != want {
			t.Errorf("result[%d].Ping = %q %v, want %q", i, s, err, want)
		}
		rt.Release(bases[i])
	}

	in := Everything{Callback: times(3), Named: []Pair[string, Callback]{{Key: "x4", Value: times(4)}, {Key: "null"}}}
	out, err := c.Everything(ctx, in, Choice{})
	if err != nil {
		t.Fatal(err)
	}
	if out == nil || out.Callback == nil {
		t.Fatalf("Everything.callback did not come back: %+v", out)
	}
	if r, err := out.Callback.Call(ctx, 7); err != nil || r != 21 {
		t.Errorf("Everything.callback.Call(7) = %d %v, want 21", r, err)
	}
	rt.Release(out.Callback)
	if len(out.Named) != 2 || out.Named[0].Key != "x4" || out.Named[0].Value == nil || out.Named[1].Value != nil {
		t.Fatalf("Everything.named = %+v, want x4 with a callback and null without", out.Named)
	}
	if r, err := out.Named[0].Value.Call(ctx, 5); err != nil || r != 20 {
		t.Errorf("Everything.named[0].value.Call(5) = %d %v, want 20", r, err)
	}
	rt.Release(out.Named[0].Value)
	if out, err := c.Everything(ctx, Everything{}, Choice{}); err != nil || out.Callback != nil {
		t.Errorf("a nil callback came back as %v (%v)", out.Callback, err)
	}
}

// printer is a Printer: the Go type takes its name from $Proxy.wrap, and
// its params named like Go names (print, type) are printArg and typeArg.
type printer struct{ UnimplementedPrinterServer }

func (printer) Print(ctx context.Context, printArg string, typeArg int32, printArg2 bool) (bool, *uint32, error) {
	if !printArg2 {
		return false, nil, nil
	}
	n := uint32(len(printArg)) + uint32(typeArg)
	return true, &n, nil
}

func TestNamesAndOptionalResults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := NewPrinterClient(PrinterServer(printer{}))
	defer c.Release()
	if ok, n, err := c.Print(ctx, "abc", 2, true); err != nil || !ok || n == nil || *n != 5 {
		t.Errorf("Print(abc, 2, true) = %v %v %v; want true 5", ok, n, err)
	}
	if ok, n, err := c.Print(ctx, "abc", 2, false); err != nil || ok || n != nil {
		t.Errorf("Print(abc, 2, false) = %v %v %v; want false nil", ok, n, err)
	}
	// Store's client is StoreProxyClient, as the schema declares StoreClient.
	var _ Store = (*StoreProxyClient)(nil)
	var _ StoreClient = (*StoreClientClient)(nil)
}
