package ipc_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/ipc"
	"github.com/bitcoin-ipc/bitcoin-ipc/miner"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// startDemoNode serves the bundled demo node on <dir>/node.sock, as
// `bitcoin-node -regtest -ipcbind=unix` serves <datadir>/regtest/node.sock.
func startDemoNode(dir string) (stop func(), err error) {
	n := demonode.New()
	_, stopServe, err := n.ListenAndServe(dir, "unix", nil)
	if err != nil {
		n.Chain().Close()
		return nil, err
	}
	return func() { stopServe(); n.Chain().Close() }, nil
}

// quickStart connects to the node of datadir's regtest network with the
// generated v32 package (README.md's first example does it with package
// node, for any release), and asks for the tip and for a block template.
func quickStart(ctx context.Context, datadir string) error {
	conn, _, err := ipc.New("miner", "", nil).ConnectAddress(ctx, datadir+"/regtest", "unix")
	if err != nil {
		return err
	}
	defer conn.Close()
	init := v32.NewInitClient(conn)
	defer init.Release()
	mining, err := init.MakeMining(ctx)
	if err != nil {
		return err
	}
	tip, err := mining.GetTip(ctx) // nil while the node has no chain; tip.Hash is a chainhash.Hash
	if err != nil || tip == nil {
		return fmt.Errorf("no tip: %v", err)
	}
	tmpl, err := mining.CreateNewBlock(ctx, v32.DefaultBlockCreateOptions(), false)
	if err != nil {
		return err
	}
	defer tmpl.Destroy(ctx)
	block, err := tmpl.GetBlock(ctx) // a *wire.MsgBlock
	if err != nil {
		return err
	}
	fmt.Printf("tip %d; the template builds on it: %v\n", tip.Height, block.Header.PrevBlock == tip.Hash)
	return nil
}

// One release exactly, against the demo node serving
// <datadir>/regtest/node.sock.
func Example_quickStart() {
	datadir, err := os.MkdirTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(datadir)
	stop, err := startDemoNode(filepath.Join(datadir, "regtest"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	if err := quickStart(context.Background(), datadir); err != nil {
		fmt.Println(err)
	}
	// Output: tip 0; the template builds on it: true
}

// Connecting to a node: resolve the address as bitcoin-cli does, connect
// (which runs Init.construct), learn the schema version, and call Echo.
func Example_connect() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	stop, err := startDemoNode(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx := context.Background()

	conn, addr, err := ipc.New("example", "", nil).ConnectAddress(ctx, dir, "unix")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	version, err := probe.Probe(ctx, conn)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("connected to", filepath.Base(addr), "speaking", version)

	init := v32.NewInitClient(conn)
	defer init.Release()
	echo, err := init.MakeEcho(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer echo.Destroy(ctx)
	reply, err := echo.Echo(ctx, "hello")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(reply)
	// Output:
	// connected to node.sock speaking v32
	// hello
}

// mineOne asks for a block template, builds a coinbase that meets its
// constraints, grinds the nonce (regtest) and submits the solution.
func mineOne(ctx context.Context, init *v32.InitClient) error {
	mining, err := init.MakeMining(ctx)
	if err != nil {
		return err
	}
	// DefaultBlockCreateOptions carries the schema's defaults (useMempool,
	// 8000 reserved weight, 400 sigops); the zero value would send zeros.
	tmpl, err := mining.CreateNewBlock(ctx, v32.DefaultBlockCreateOptions(), false)
	if err != nil {
		return err
	}
	defer tmpl.Destroy(ctx)
	work, err := miner.Fetch(ctx, tmpl)
	if err != nil {
		return err
	}
	payTo := []byte{0x51} // OP_TRUE
	solution, err := miner.Solve(ctx, work, payTo, []byte{4, 't', 'e', 's', 't'}, 0)
	if err != nil {
		return err
	}
	ok, reason, _, err := miner.Submit(ctx, tmpl, solution)
	if err != nil {
		return err
	}
	tip, err := mining.GetTip(ctx)
	if err != nil || tip == nil {
		return fmt.Errorf("no tip: %v", err)
	}
	fmt.Printf("accepted=%v reason=%q tip height=%d\n", ok, reason, tip.Height)
	return nil
}

// Mining a template against the demo node.
func Example_miningTemplate() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	stop, err := startDemoNode(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx := context.Background()
	conn, _, err := ipc.New("example", "", nil).ConnectAddress(ctx, dir, "unix")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	init := v32.NewInitClient(conn)
	defer init.Release()
	if err := mineOne(ctx, init); err != nil {
		fmt.Println(err)
	}
	// Output: accepted=true reason="" tip height=1
}

// shoutingEcho is a Go implementation of Bitcoin Core's Echo interface.
type shoutingEcho struct{ v32.UnimplementedEchoServer }

func (shoutingEcho) Echo(_ context.Context, s string) (string, error) {
	return strings.ToUpper(s), nil
}

type exampleInit struct{ v32.UnimplementedInitServer }

func (exampleInit) MakeEcho(context.Context) (v32.Echo, error) { return shoutingEcho{}, nil }

// Serving an interface: implement the Go interface (embedding the
// Unimplemented server for the rest) and serve Init on a socket; C++
// clients such as bitcoin-cli connect to it as to bitcoin-node.
func Example_serveInterface() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	server := ipc.New("bitcoin-node", "", func(*rt.Conn) *rt.Cap {
		return v32.InitServer(exampleInit{})
	})
	if _, err := server.ListenAddress(dir, "unix"); err != nil {
		fmt.Println(err)
		return
	}
	defer server.Close()

	conn, _, err := ipc.New("client", "", nil).ConnectAddress(ctx, dir, "unix")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	init := v32.NewInitClient(conn)
	defer init.Release()
	echo, err := init.MakeEcho(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	reply, err := echo.Echo(ctx, "served from Go")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(reply)
	// What the server does not implement fails as unimplemented.
	_, err = init.MakeMining(ctx)
	fmt.Println(err)
	// Output:
	// SERVED FROM GO
	// Init.makeMining: remote unimplemented: method not implemented
}
