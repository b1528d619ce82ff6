package hostile

// A peer to fuzz: a Go client connected over a socketpair to generated
// servers (v32 Init, Echo, Mining, BlockTemplate, Rpc; multiprocess Init
// and Chain) whose implementations embed the Unimplemented servers. The
// method tables come from the schemas that the wire packages embed.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/schemas"
	"capnproto.org/go/capnp/v3/std/capnp/schema"

	mpset "github.com/bitcoin-ipc/bitcoin-ipc/gen/multiprocess"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/multiprocess/multiprocesscapnp"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/v32/v32capnp"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// ---- servers: Unimplemented, except for what reaches the other objects ----

type v32Init struct{ v32.UnimplementedInitServer }

func (v32Init) MakeEcho(context.Context) (v32.Echo, error)     { return v32Echo{}, nil }
func (v32Init) MakeMining(context.Context) (v32.Mining, error) { return v32Mining{}, nil }
func (v32Init) MakeRpc(context.Context) (v32.Rpc, error)       { return v32Rpc{}, nil }

type v32Echo struct{ v32.UnimplementedEchoServer }

func (v32Echo) Echo(_ context.Context, s string) (string, error) { return s, nil }

type v32Mining struct{ v32.UnimplementedMiningServer }

func (v32Mining) CreateNewBlock(context.Context, v32.BlockCreateOptions, bool) (v32.BlockTemplate, error) {
	return v32Template{}, nil
}

type v32Template struct {
	v32.UnimplementedBlockTemplateServer
}

type v32Rpc struct{ v32.UnimplementedRpcServer }

type mpInit struct{ mpset.UnimplementedInitServer }

func (mpInit) MakeEcho(context.Context) (mpset.Echo, error)   { return mpEcho{}, nil }
func (mpInit) MakeChain(context.Context) (mpset.Chain, error) { return mpChain{}, nil }

type mpEcho struct{ mpset.UnimplementedEchoServer }

func (mpEcho) Echo(_ context.Context, s string) (string, error) { return s, nil }

type mpChain struct{ mpset.UnimplementedChainServer }

// ---- method tables ----

// method is one schema method, called raw: rt sends the params as the
// fuzzer fills them (the Method declares no context, so rt adds none).
type method struct{ rt.Method }

// methodsOf lists the methods of interface id, from the schema that
// register (capnpc-go's RegisterSchema) holds, sorted by name.
func methodsOf(register func(*schemas.Registry), id uint64) []method {
	reg := &schemas.Registry{}
	register(reg)
	node := func(id uint64) schema.Node {
		b, err := reg.Find(id)
		if err != nil {
			panic(fmt.Sprintf("schema node %#x: %v", id, err))
		}
		msg, err := capnp.Unmarshal(b)
		if err != nil {
			panic(err)
		}
		req, err := schema.ReadRootCodeGeneratorRequest(msg)
		if err != nil {
			panic(err)
		}
		nodes, err := req.Nodes()
		if err != nil {
			panic(err)
		}
		for i := 0; i < nodes.Len(); i++ {
			if nodes.At(i).Id() == id {
				return nodes.At(i)
			}
		}
		panic(fmt.Sprintf("schema node %#x not in its registry", id))
	}
	iface := node(id)
	full, err := iface.DisplayName()
	if err != nil {
		panic(err)
	}
	name := full[iface.DisplayNamePrefixLength():]
	ms, err := iface.Interface().Methods()
	if err != nil {
		panic(err)
	}
	var out []method
	for i := 0; i < ms.Len(); i++ {
		mname, err := ms.At(i).Name()
		if err != nil {
			panic(err)
		}
		params := node(ms.At(i).ParamStructType()).StructNode()
		out = append(out, method{rt.Method{
			Interface:   name,
			Name:        mname,
			InterfaceID: id,
			ID:          uint16(i),
			Params:      capnp.ObjectSize{DataSize: capnp.Size(params.DataWordCount()) * 8, PointerCount: params.PointerCount()},
		}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

type targetKind int

const (
	tInit targetKind = iota
	tEcho
	tMining
	tTemplate
	tRpc
	tChain
)

// sets lists, per connection, the targets fuzzed and their methods.
var sets = [][]struct {
	kind    targetKind
	methods []method
}{
	{ // v32
		{tInit, methodsOf(v32capnp.RegisterSchema, v32capnp.Init_TypeID)},
		{tEcho, methodsOf(v32capnp.RegisterSchema, v32capnp.Echo_TypeID)},
		{tMining, methodsOf(v32capnp.RegisterSchema, v32capnp.Mining_TypeID)},
		{tTemplate, methodsOf(v32capnp.RegisterSchema, v32capnp.BlockTemplate_TypeID)},
		{tRpc, methodsOf(v32capnp.RegisterSchema, v32capnp.Rpc_TypeID)},
	},
	{ // multiprocess
		{tInit, methodsOf(multiprocesscapnp.RegisterSchema, multiprocesscapnp.Init_TypeID)},
		{tEcho, methodsOf(multiprocesscapnp.RegisterSchema, multiprocesscapnp.Echo_TypeID)},
		{tChain, methodsOf(multiprocesscapnp.RegisterSchema, multiprocesscapnp.Chain_TypeID)},
	},
}

// ---- the peer ----

// callWait bounds each call and each connection set-up. It only has to
// catch a server that never answers: a loaded machine makes the calls
// slower, never makes them fail.
const callWait = 2 * time.Minute

// panicLog counts the handler panics rt recovers and logs (at Error; it
// asks for nothing below, so rt does not format each call's arguments for
// the trace level).
type panicLog struct {
	mu     sync.Mutex
	panics []string
}

func (p *panicLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (p *panicLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panicked") {
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			if a.Key != "stack" {
				fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			}
			return true
		})
		p.mu.Lock()
		p.panics = append(p.panics, b.String())
		p.mu.Unlock()
	}
	return nil
}
func (p *panicLog) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *panicLog) WithGroup(string) slog.Handler      { return p }

func (p *panicLog) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.panics
	p.panics = nil
	return out
}

type peer struct {
	set     int
	client  *rt.Conn
	server  *rt.Conn
	caps    map[targetKind]*rt.ClientBase
	ping    func(ctx context.Context, s string) (string, error)
	log     *panicLog
	release []func()
	stale   bool
}

func socketPair() (net.Conn, net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	conv := func(fd int) (net.Conn, error) {
		f := os.NewFile(uintptr(fd), "sock")
		defer f.Close()
		return net.FileConn(f)
	}
	a, err := conv(fds[0])
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, err
	}
	b, err := conv(fds[1])
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// baseOf is a raw client of the capability behind v, a generated client.
func baseOf(v any) *rt.ClientBase {
	return rt.NewClientBase(v.(interface{ Cap() *rt.Cap }).Cap().AddRef())
}

// newPeer connects a client to the servers of set (0: v32, 1:
// multiprocess). The client asks for a thread pool, so that calls
// without a thread in their context run.
func newPeer(set int, serverOpts ...rt.Option) (*peer, error) {
	a, b, err := socketPair()
	if err != nil {
		return nil, err
	}
	p := &peer{set: set, caps: map[targetKind]*rt.ClientBase{}, log: &panicLog{}}
	opts := append([]rt.Option{rt.WithLogger(slog.New(p.log))}, serverOpts...)
	p.server = rt.Serve(b, func(*rt.Conn) *rt.Cap {
		if set == 0 {
			return v32.InitServer(v32Init{})
		}
		return mpset.InitServer(mpInit{})
	}, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), callWait)
	defer cancel()
	p.client, err = rt.Connect(ctx, a, rt.WithServerPool(4))
	if err != nil {
		p.server.Close()
		return nil, err
	}
	fail := func(err error) (*peer, error) {
		p.close()
		return nil, err
	}
	p.caps[tInit] = rt.NewClientBase(p.client.Bootstrap())
	if set == 0 {
		init := v32.NewInitClient(p.client)
		p.release = append(p.release, init.Release)
		echo, err := init.MakeEcho(ctx)
		if err != nil {
			return fail(err)
		}
		p.ping = echo.Echo
		p.caps[tEcho] = baseOf(echo)
		p.release = append(p.release, func() { rt.Release(echo) })
		mining, err := init.MakeMining(ctx)
		if err != nil {
			return fail(err)
		}
		p.caps[tMining] = baseOf(mining)
		p.release = append(p.release, func() { rt.Release(mining) })
		tmpl, err := mining.CreateNewBlock(ctx, v32.DefaultBlockCreateOptions(), false)
		if err != nil {
			return fail(err)
		}
		p.caps[tTemplate] = baseOf(tmpl)
		p.release = append(p.release, func() { rt.Release(tmpl) })
		rpc, err := init.MakeRpc(ctx)
		if err != nil {
			return fail(err)
		}
		p.caps[tRpc] = baseOf(rpc)
		p.release = append(p.release, func() { rt.Release(rpc) })
		return p, nil
	}
	init := mpset.NewInitClient(p.client)
	p.release = append(p.release, init.Release)
	echo, err := init.MakeEcho(ctx)
	if err != nil {
		return fail(err)
	}
	p.ping = echo.Echo
	p.caps[tEcho] = baseOf(echo)
	p.release = append(p.release, func() { rt.Release(echo) })
	chain, err := init.MakeChain(ctx)
	if err != nil {
		return fail(err)
	}
	p.caps[tChain] = baseOf(chain)
	p.release = append(p.release, func() { rt.Release(chain) })
	return p, nil
}

func (p *peer) close() {
	for _, c := range p.caps {
		c.Release()
	}
	for _, f := range p.release {
		f()
	}
	p.client.Close()
	p.server.Close()
}

// call sends m on target k with params built by fill, and waits for the
// answer. It fails the test when the server does not answer.
func (p *peer) call(t testing.TB, k targetKind, m method, fill func(capnp.Struct) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), callWait)
	defer cancel()
	err := p.caps[k].Invoke(ctx, &m.Method, func(params *rt.Params) error { return fill(params.Struct()) }, nil)
	if ctx.Err() != nil && p.server.Err() == nil {
		t.Fatalf("%v: no answer in %v", m, callWait)
	}
	if m.Name == "destroy" {
		p.stale = true // later calls would only be refused
	}
	return err
}

// check fails the test if a handler panicked, and reports whether the
// connection is still up, in which case it must answer a ping.
func (p *peer) check(t testing.TB, what string) bool {
	if panics := p.log.take(); len(panics) > 0 {
		t.Fatalf("%s: handler panicked: %s", what, strings.Join(panics, "; "))
	}
	if p.server.Err() != nil {
		return false // the server closed the connection: allowed
	}
	if p.stale {
		return true // an object (maybe Echo) was destroyed; the next call reconnects
	}
	ctx, cancel := context.WithTimeout(context.Background(), callWait)
	defer cancel()
	if r, err := p.ping(ctx, "ping"); err != nil || r != "ping" {
		if p.server.Err() != nil {
			return false
		}
		t.Fatalf("%s: connection alive but Echo fails: %q, %v", what, r, err)
	}
	return true
}

// peers caches one peer per set across fuzz iterations.
var (
	peersMu sync.Mutex
	peers   [2]*peer
	made    atomic.Int64
)

func getPeer(t testing.TB, set int) *peer {
	peersMu.Lock()
	defer peersMu.Unlock()
	if p := peers[set]; p != nil && !p.stale && p.server.Err() == nil {
		return p
	}
	if p := peers[set]; p != nil {
		p.close()
	}
	p, err := newPeer(set)
	if err != nil {
		t.Fatal(err)
	}
	made.Add(1)
	peers[set] = p
	return p
}
