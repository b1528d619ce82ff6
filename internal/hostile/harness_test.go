package hostile

// A peer to fuzz: a Go client connected over a socketpair to generated
// servers (v32 Init, Echo, Mining, BlockTemplate, Rpc; multiprocess Init
// and Chain) whose implementations embed the Unimplemented servers. The
// method tables come from the wire clients themselves: every method of a
// capnpc-go client type is called once on a recording capability.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"

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

type method struct {
	m    capnp.Method
	size capnp.ObjectSize
}

func (m method) String() string { return m.m.InterfaceName + "." + m.m.MethodName }

// recorder is a capability that records the calls made on it.
type recorder struct {
	mu    sync.Mutex
	calls []method
}

func (r *recorder) Send(_ context.Context, s capnp.Send) (*capnp.Answer, capnp.ReleaseFunc) {
	r.mu.Lock()
	r.calls = append(r.calls, method{m: s.Method, size: s.ArgsSize})
	r.mu.Unlock()
	return capnp.ErrorAnswer(s.Method, errors.New("recorded")), func() {}
}
func (r *recorder) Recv(_ context.Context, c capnp.Recv) capnp.PipelineCaller {
	c.Reject(errors.New("recorder"))
	return nil
}
func (r *recorder) Brand() capnp.Brand { return capnp.Brand{} }
func (r *recorder) Shutdown()          {}
func (r *recorder) String() string     { return "recorder" }

var (
	ctxType     = reflect.TypeOf((*context.Context)(nil)).Elem()
	releaseType = reflect.TypeOf(capnp.ReleaseFunc(nil))
)

// methodsOf calls every RPC method of the capnpc-go client type of
// example once, and returns what they sent.
func methodsOf(example any) []method {
	rec := &recorder{}
	c := capnp.NewClient(rec)
	defer c.Release()
	v := reflect.ValueOf(c).Convert(reflect.TypeOf(example))
	t := v.Type()
	for i := 0; i < t.NumMethod(); i++ {
		mt := t.Method(i).Type // receiver first
		if mt.NumIn() != 3 || mt.In(1) != ctxType || mt.In(2).Kind() != reflect.Func ||
			mt.NumOut() != 2 || mt.Out(1) != releaseType {
			continue
		}
		out := v.Method(i).Call([]reflect.Value{reflect.ValueOf(context.Background()), reflect.Zero(mt.In(2))})
		out[1].Interface().(capnp.ReleaseFunc)()
	}
	return rec.calls
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
		{tInit, methodsOf(v32capnp.Init{})},
		{tEcho, methodsOf(v32capnp.Echo{})},
		{tMining, methodsOf(v32capnp.Mining{})},
		{tTemplate, methodsOf(v32capnp.BlockTemplate{})},
		{tRpc, methodsOf(v32capnp.Rpc{})},
	},
	{ // multiprocess
		{tInit, methodsOf(multiprocesscapnp.Init{})},
		{tEcho, methodsOf(multiprocesscapnp.Echo{})},
		{tChain, methodsOf(multiprocesscapnp.Chain{})},
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
	caps    map[targetKind]capnp.Client
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

func capOf(v any) capnp.Client {
	return v.(interface{ Client() capnp.Client }).Client().AddRef()
}

// newPeer connects a client to the servers of set (0: v32, 1:
// multiprocess). The client asks for a thread pool, so that calls
// without a thread in their context run.
func newPeer(set int, serverOpts ...rt.Option) (*peer, error) {
	a, b, err := socketPair()
	if err != nil {
		return nil, err
	}
	p := &peer{set: set, caps: map[targetKind]capnp.Client{}, log: &panicLog{}}
	opts := append([]rt.Option{rt.WithLogger(slog.New(p.log))}, serverOpts...)
	p.server = rt.Serve(b, func(*rt.Conn) capnp.Client {
		if set == 0 {
			return capnp.Client(v32.InitServerToCapnp(v32Init{}))
		}
		return capnp.Client(mpset.InitServerToCapnp(mpInit{}))
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
	boot := p.client.Bootstrap(ctx)
	p.caps[tInit] = boot
	if set == 0 {
		init := v32.NewInitClient(p.client, v32capnp.Init(boot.AddRef()))
		p.release = append(p.release, init.Release)
		echo, err := init.MakeEcho(ctx)
		if err != nil {
			return fail(err)
		}
		p.ping = echo.Echo
		p.caps[tEcho] = capOf(echo)
		p.release = append(p.release, echo.(*v32.EchoClient).Release)
		mining, err := init.MakeMining(ctx)
		if err != nil {
			return fail(err)
		}
		p.caps[tMining] = capOf(mining)
		p.release = append(p.release, mining.(*v32.MiningClient).Release)
		tmpl, err := mining.CreateNewBlock(ctx, v32.DefaultBlockCreateOptions(), false)
		if err != nil {
			return fail(err)
		}
		p.caps[tTemplate] = capOf(tmpl)
		p.release = append(p.release, tmpl.(*v32.BlockTemplateClient).Release)
		rpc, err := init.MakeRpc(ctx)
		if err != nil {
			return fail(err)
		}
		p.caps[tRpc] = capOf(rpc)
		p.release = append(p.release, rpc.(*v32.RpcClient).Release)
		return p, nil
	}
	init := mpset.NewInitClient(p.client, multiprocesscapnp.Init(boot.AddRef()))
	p.release = append(p.release, init.Release)
	echo, err := init.MakeEcho(ctx)
	if err != nil {
		return fail(err)
	}
	p.ping = echo.Echo
	p.caps[tEcho] = capOf(echo)
	p.release = append(p.release, echo.(*mpset.EchoClient).Release)
	chain, err := init.MakeChain(ctx)
	if err != nil {
		return fail(err)
	}
	p.caps[tChain] = capOf(chain)
	p.release = append(p.release, chain.(*mpset.ChainClient_).Release)
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
	ans, rel := p.caps[k].SendCall(ctx, capnp.Send{Method: m.m, ArgsSize: m.size, PlaceArgs: fill})
	_, err := ans.Struct()
	rel()
	if ctx.Err() != nil && p.server.Err() == nil {
		t.Fatalf("%v: no answer in %v", m, callWait)
	}
	if strings.Contains(m.m.MethodName, "destroy") {
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
