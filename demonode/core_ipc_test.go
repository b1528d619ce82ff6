package demonode

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/v32/v32capnp"
	"github.com/bitcoin-ipc/bitcoin-ipc/process"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// Ports of the scenarios of Bitcoin Core's test/functional/interface_ipc.py
// (echo, mining basics, unclean disconnect, thread busy) and of the parts
// of interface_ipc_mining.py that core_test.go does not hold (the mining
// interface test with Mining.interrupt, and early start-up). Where Core's test waits for a log line or sleeps, these wait for
// an event the demo node shows: chain.Chain.Waits reports each
// waitTipChanged and waitNext the node starts and ends.

// receive returns what ch delivers, failing the test if ctx ends first (a
// hang guard, not a speed bound).
func receive[T any](t *testing.T, ctx context.Context, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("%s: no answer", what)
		panic("unreachable")
	}
}

// TestCoreEcho: interface_ipc.py, run_echo_test.
func TestCoreEcho(t *testing.T) {
	ctx := testCtx(t)
	c := startCoreNode(t, ctx, DefaultOptions())
	e, err := c.init.MakeEcho(ctx)
	if err != nil || e == nil {
		t.Fatalf("makeEcho = %v, %v", e, err)
	}
	echo := e.(*v32.EchoClient)
	defer echo.Release()
	for _, s := range []string{"hallo", "", "haha"} {
		if got, err := echo.Echo(ctx, s); err != nil || got != s {
			t.Fatalf("echo(%q) = %q, %v", s, got, err)
		}
	}
	if err := echo.Destroy(ctx); err != nil {
		t.Fatalf("destroy: %v", err)
	}
}

// TestCoreMining: interface_ipc.py, run_mining_test (the simple
// inspectors, and a template's header as its first version of the test
// checks it).
func TestCoreMining(t *testing.T) {
	ctx := testCtx(t)
	c := startCoreNode(t, ctx, DefaultOptions())
	c.generate(t, 3)
	if test, err := c.mining.IsTestChain(ctx); err != nil || !test {
		t.Fatalf("isTestChain = %v, %v; want true on regtest", test, err)
	}
	if ibd, err := c.mining.IsInitialBlockDownload(ctx); err != nil || ibd {
		t.Fatalf("isInitialBlockDownload = %v, %v; want false", ibd, err)
	}
	tip, err := c.mining.GetTip(ctx)
	if err != nil || tip == nil {
		t.Fatalf("getTip = %v, %v", tip, err)
	}
	var height int32
	c.rpcOK(t, &height, "getblockcount")
	var best string
	c.rpcOK(t, &best, "getbestblockhash")
	if tip.Height != height || tip.Hash != mustHash(t, best) {
		t.Fatalf("getTip = %s at %d; the node's tip is %s at %d", tip.Hash, tip.Height, best, height)
	}

	tmpl := newTemplate(t, ctx, c, v32.BlockCreateOptions{UseMempool: true, BlockReservedWeight: 4000, CoinbaseOutputMaxAdditionalSigops: 0})
	if header, err := tmpl.GetBlockHeaderBytes(ctx); err != nil || len(header) != 80 {
		t.Fatalf("getBlockHeader = %x, %v; want 80 bytes", header, err)
	}
	if err := tmpl.Destroy(ctx); err != nil {
		t.Fatalf("destroy: %v", err)
	}
}

type tipResult struct {
	ref *v32.BlockRef
	err error
}

// waitTipChanged runs Mining.waitTipChanged in the background and returns
// once the node is waiting.
func (c *coreNode) waitTipChanged(t *testing.T, ctx context.Context, current chainhash.Hash, timeout time.Duration) <-chan tipResult {
	t.Helper()
	tipWaits, _, _ := c.n.Chain().Waits()
	done := make(chan tipResult, 1)
	go func() {
		ref, err := c.mining.WaitTipChanged(ctx, current, timeout)
		done <- tipResult{ref, err}
	}()
	c.awaitWaits(t, ctx, "waitTipChanged waiting", func(tip, _ int) bool { return tip > tipWaits })
	return done
}

// TestCoreMiningInterface: interface_ipc_mining.py,
// run_mining_interface_test: getTip, waitTipChanged woken by a new block,
// its timeout (the current tip) and Mining.interrupt (a null result).
func TestCoreMiningInterface(t *testing.T) {
	ctx := testCtx(t)
	c := startCoreNode(t, ctx, DefaultOptions())
	c.generate(t, 1)
	tip, err := c.mining.GetTip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var height int32
	c.rpcOK(t, &height, "getblockcount")
	if tip.Height != height {
		t.Fatalf("getTip height %d, getblockcount %d", tip.Height, height)
	}

	// Mine a block while waitTipChanged waits.
	done := c.waitTipChanged(t, ctx, tip.Hash, time.Hour)
	hashes := c.generate(t, 1)
	r := receive(t, ctx, "waitTipChanged", done)
	if r.err != nil || r.ref == nil || r.ref.Height != tip.Height+1 || r.ref.Hash != mustHash(t, hashes[0]) {
		t.Fatalf("waitTipChanged = %+v, %v; want %s at %d", r.ref, r.err, hashes[0], tip.Height+1)
	}

	// A timeout answers the current tip.
	old, err := c.mining.WaitTipChanged(ctx, r.ref.Hash, 100*time.Millisecond)
	if err != nil || old == nil || *old != *r.ref {
		t.Fatalf("waitTipChanged(timeout) = %+v, %v; want the tip %+v", old, err, *r.ref)
	}

	// interrupt() aborts the wait; unlike a timeout, the result is null.
	done = c.waitTipChanged(t, ctx, r.ref.Hash, time.Hour)
	if err := c.mining.Interrupt(ctx); err != nil {
		t.Fatal(err)
	}
	if r := receive(t, ctx, "interrupted waitTipChanged", done); r.err != nil || r.ref != nil {
		t.Fatalf("interrupted waitTipChanged = %+v, %v; want a null result", r.ref, r.err)
	}
}

// TestCoreEarlyStartup: interface_ipc_mining.py, run_early_startup_test.
// Core restarts its node and connects as soon as the socket appears,
// while the node is still loading, and createNewBlock must return without
// crashing it. The demo node cannot host the loading part: it has no
// start-up phase, since NewWithOptions builds the whole chain before
// ListenAndServe binds the socket, so no call can arrive before the chain
// exists. What remains is asserted: the first call on a socket that has
// just been bound, createNewBlock with the schema's defaults (cooldown
// on), answers with a template.
func TestCoreEarlyStartup(t *testing.T) {
	ctx := testCtx(t)
	c := startCoreNode(t, ctx, DefaultOptions())
	bt, err := c.mining.CreateNewBlock(ctx, v32.DefaultBlockCreateOptions(), true)
	if err != nil || bt == nil {
		t.Fatalf("createNewBlock right after start-up = %v, %v", bt, err)
	}
	tmpl := bt.(*v32.BlockTemplateClient)
	if err := tmpl.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCoreUncleanDisconnect: interface_ipc.py, run_unclean_disconnect_test:
// a client goes away while its waitNext waits. Core logs the disconnect,
// lets the wait run until a new block ends it and then drops the result
// ("canceled while executing", "interrupted (canceled)"). The demo node
// ends the wait with the connection (the handler's context is cancelled),
// before any block, so no waiting call outlives the client (which is what
// Waits can show). The node goes on serving, and a new client works.
func TestCoreUncleanDisconnect(t *testing.T) {
	ctx := testCtx(t)
	c := startCoreNode(t, ctx, DefaultOptions())
	gone := c.dial(t, ctx)
	tmpl := newTemplate(t, ctx, gone, v32.DefaultBlockCreateOptions())
	errc := make(chan error, 1)
	go func() {
		next, err := tmpl.WaitNext(ctx, v32.BlockWaitOptions{Timeout: time.Hour, FeeThreshold: 1})
		rt.Release(next)
		errc <- err
	}()
	c.awaitWaits(t, ctx, "waitNext waiting", func(_, next int) bool { return next == 1 })
	tipBefore := c.n.Chain().Height()

	if err := gone.conn.Close(); err != nil {
		t.Fatal(err)
	}
	if err := receive(t, ctx, "waitNext of a closed connection", errc); !errors.Is(err, exception.ErrDisconnected) {
		t.Fatalf("waitNext on a connection closed under it: %v, want disconnected", err)
	}
	// Server side, the wait ends with the connection, without a block.
	c.awaitWaits(t, ctx, "the node ends the orphaned waitNext", func(tip, next int) bool { return tip == 0 && next == 0 })
	if h := c.n.Chain().Height(); h != tipBefore {
		t.Fatalf("height %d, want %d: the wait must end without a block", h, tipBefore)
	}

	// The node keeps working: it mines, and a new client sees the block
	// and gets templates.
	hashes := c.generate(t, 1)
	fresh := c.dial(t, ctx)
	if tip, err := fresh.mining.GetTip(ctx); err != nil || tip == nil || tip.Hash != mustHash(t, hashes[0]) {
		t.Fatalf("getTip from a new client = %v, %v; want %s", tip.Hash, err, hashes[0])
	}
	b, err := newTemplate(t, ctx, fresh, v32.DefaultBlockCreateOptions()).GetBlock(ctx)
	if err != nil || b.Header.PrevBlock != mustHash(t, hashes[0]) {
		t.Fatalf("new client's template: %v", err)
	}
	// And the old connection's wait left nothing behind.
	if tip, next, _ := c.n.Chain().Waits(); tip != 0 || next != 0 {
		t.Fatalf("pending waits after the disconnect: %d waitTipChanged, %d waitNext", tip, next)
	}
}

// TestCoreThreadBusy: interface_ipc.py, run_thread_busy_test: three
// waitNext calls posted to one server thread at once. Old Core refused the
// third with "thread busy"; Core now queues them, runs them one at a time,
// and after a new block all three answer with templates.
//
// The calls are pinned to one Thread with rt.WithThread, which lets
// several calls be outstanding on it. They go out on a connection of the
// test's own, whose socket writes are watched (callTap), so that the test
// knows when each waitNext has been sent.
func TestCoreThreadBusy(t *testing.T) {
	ctx := testCtx(t)
	c := startCoreNode(t, ctx, DefaultOptions())
	nc, _, err := process.ConnectAddress(ctx, c.dir, "unix")
	if err != nil {
		t.Fatal(err)
	}
	tap := &callTap{Conn: nc, sent: make(chan struct{}, 16)}
	conn, err := rt.Connect(ctx, tap)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	init := v32.NewInitClient(conn)
	t.Cleanup(init.Release)
	m, err := init.MakeMining(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Release(m) })
	bt, err := m.CreateNewBlock(ctx, v32.DefaultBlockCreateOptions(), false)
	if err != nil || bt == nil {
		t.Fatalf("createNewBlock: %v %v", bt, err)
	}
	t.Cleanup(func() { rt.Destroy(context.Background(), bt) })

	// Follow the node's waitNext calls: never more than one at a time.
	maxNext, stop, stopped := 0, make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			_, next, changed := c.n.Chain().Waits()
			maxNext = max(maxNext, next)
			select {
			case <-changed:
			case <-stop:
				return
			}
		}
	}()

	th, err := conn.NewThread()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(th.Release)
	busy := rt.WithThread(ctx, th)
	type answer struct {
		next v32.BlockTemplate
		err  error
	}
	answers := make(chan answer, 3)
	send := func() {
		tap.watch(v32capnp.BlockTemplate_TypeID, waitNextOrdinal)
		go func() {
			next, err := bt.WaitNext(busy, v32.BlockWaitOptions{Timeout: time.Hour, FeeThreshold: 1})
			answers <- answer{next, err}
		}()
		receive(t, ctx, "waitNext sent", tap.sent)
	}
	send()
	c.awaitWaits(t, ctx, "first waitNext running", func(_, next int) bool { return next == 1 })
	send()
	send()
	// Cap'n Proto delivers calls on one capability in order: once a later
	// call on the template (on another thread) is answered, the node has
	// posted the two waitNext calls to the busy thread.
	if _, err := bt.GetBlockHeader(ctx); err != nil {
		t.Fatal(err)
	}
	if _, next, _ := c.n.Chain().Waits(); next != 1 {
		t.Fatalf("%d waitNext calls of one thread run at once, want 1", next)
	}

	hashes := c.generate(t, 1)
	for i := range 3 {
		a := receive(t, ctx, "waitNext answer", answers)
		if a.err != nil || a.next == nil {
			t.Fatalf("waitNext %d: %v, %v", i+1, a.next, a.err)
		}
		b, err := a.next.GetBlock(ctx)
		if err != nil || b.Header.PrevBlock != mustHash(t, hashes[0]) {
			t.Fatalf("waitNext %d: template %v, %v; want one on the new block", i+1, b, err)
		}
		if err := rt.Destroy(ctx, a.next); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-stopped
	if maxNext != 1 {
		t.Fatalf("the node ran %d waitNext calls of one thread at once", maxNext)
	}
}

// waitNextOrdinal is BlockTemplate.waitNext's method ordinal (@8) in v32.
const waitNextOrdinal = 8

// callTap is a connection that reads the frames written on it and
// signals on sent once a call of the watched method has been written.
type callTap struct {
	net.Conn
	sent chan struct{}

	mu     sync.Mutex
	out    []byte // written, not yet a whole frame
	iface  uint64
	method uint16
}

// watch makes the tap signal the next calls of method of interface iface.
func (c *callTap) watch(iface uint64, method uint16) {
	c.mu.Lock()
	c.iface, c.method = iface, method
	c.mu.Unlock()
}

func (c *callTap) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append(c.out, b[:n]...)
	for {
		size, ok := frameSize(c.out)
		if !ok || len(c.out) < size {
			return n, err
		}
		if msg, uerr := capnp.Unmarshal(c.out[:size:size]); uerr == nil {
			if root, rerr := rpccp.ReadRootMessage(msg); rerr == nil && root.Which() == rpccp.Message_Which_call {
				if call, cerr := root.Call(); cerr == nil && call.InterfaceId() == c.iface && call.MethodId() == c.method {
					c.sent <- struct{}{}
				}
			}
		}
		c.out = append([]byte(nil), c.out[size:]...)
	}
}

// frameSize is the size of the stream frame that b starts with, once its
// segment table is complete.
func frameSize(b []byte) (int, bool) {
	if len(b) < 4 {
		return 0, false
	}
	segs := int(binary.LittleEndian.Uint32(b)) + 1
	table := (4 + 4*segs + 7) &^ 7
	if len(b) < table {
		return 0, false
	}
	size := table
	for i := range segs {
		size += 8 * int(binary.LittleEndian.Uint32(b[4+4*i:]))
	}
	return size, true
}
