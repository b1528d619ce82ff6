package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/ipc"
	nodeapi "github.com/bitcoin-ipc/bitcoin-ipc/node"
	"github.com/bitcoin-ipc/bitcoin-ipc/probe"
	"github.com/bitcoin-ipc/bitcoin-ipc/process"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// demo is the main job, end to end: spawn the demo node over -ipcfd,
// probe and echo, mine a block from a template, watch the tip move, and
// shut down.
func demo(ctx context.Context, o *options, env Env) error {
	out := env.Stdout
	exe := env.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	start := time.Now()
	step := func(format string, a ...any) {
		fmt.Fprintf(out, "[%7.1fms] %s\n", float64(time.Since(start).Microseconds())/1000, fmt.Sprintf(format, a...))
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	// 1. Spawn the demo node as a child over -ipcfd.
	i := ipc.New("bitcoin-ipc", exe, nil, ipc.WithLogger(o.logger(env.Stderr)))
	conn, child, err := i.SpawnProcess(ctx, filepath.Base(exe), process.WithStderr(env.Stderr))
	if err != nil {
		return fmt.Errorf("spawning the demo node: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			conn.Close()
		}
	}()
	step("spawned demo node: %s -ipcfd 3 (pid %d); Init.construct done", filepath.Base(exe), child.Pid)

	// 2. Probe and echo.
	v, err := probe.Probe(ctx, conn)
	if err != nil {
		return err
	}
	step("probe: the node speaks the %s schema", v)
	h, err := nodeapi.NewVersion(conn, v)
	if err != nil {
		return err
	}
	defer h.Close()
	echo, err := h.Echo(ctx)
	if err != nil {
		return err
	}
	reply, err := echo.Echo(ctx, "hello from Go")
	if err != nil {
		return err
	}
	if err := echo.Destroy(ctx); err != nil {
		return err
	}
	step("echo: %q", reply)

	// 3. A template, mined in Go and submitted.
	m, err := h.Mining(ctx)
	if err != nil {
		return err
	}
	defer m.Release()
	tip, err := m.GetTip(ctx)
	if err != nil {
		return err
	}
	if tip == nil {
		return errNoTip
	}
	step("tip: height %d, %s", tip.Height, tip.Hash)

	// A waiter on a thread of its own: it must wake when the block lands.
	th, err := conn.NewThread()
	if err != nil {
		return err
	}
	defer th.Release()
	type woke struct {
		ref *nodeapi.BlockRef
		err error
		at  time.Time
	}
	wokec := make(chan woke, 1)
	go func() {
		r, err := m.WaitTipChanged(rt.WithThread(ctx, th), tip.Hash, 30*time.Second)
		wokec <- woke{r, err, time.Now()}
	}()
	step("waitTipChanged started on its own node thread")

	t, err := newTemplate(ctx, m)
	if err != nil {
		return err
	}
	defer t.Destroy(ctx)
	s, err := Summarize(ctx, t)
	if err != nil {
		return err
	}
	step("createNewBlock: template for height %d, %d tx, coinbase reward %d sat, %d required output(s), merkle path %d",
		s.Height, s.TxCount, int64(s.Coinbase.BlockRewardRemaining), len(s.Coinbase.RequiredOutputs), s.MerklePathLen)
	res, err := MineAndSubmit(ctx, t, 1<<24)
	if err != nil {
		return err
	}
	if !res.Accepted {
		return fmt.Errorf("the node rejected the mined block: %s%s", res.Reason, suffix(res.Debug))
	}
	submitted := time.Now()
	step("mined block %s (nonce found after %d tries), submitSolution: accepted", res.Hash, res.Tries)

	// 4. The tip advanced, and the waiter woke.
	w := <-wokec
	if w.err != nil {
		return fmt.Errorf("waitTipChanged: %w", w.err)
	}
	if w.ref == nil || w.ref.Hash != res.Hash {
		return fmt.Errorf("waitTipChanged woke with %v, want the mined block %s", w.ref, res.Hash)
	}
	step("waitTipChanged woke: new tip height %d, %s (%.1fms after submit)", w.ref.Height, w.ref.Hash, float64(w.at.Sub(submitted).Microseconds())/1000)
	tip2, err := m.GetTip(ctx)
	if err != nil {
		return err
	}
	if tip2 == nil {
		return errNoTip
	}
	if tip2.Height != tip.Height+1 {
		return fmt.Errorf("tip height %d after mining, want %d", tip2.Height, tip.Height+1)
	}
	step("tip: height %d -> %d", tip.Height, tip2.Height)

	// 5. Shut down: closing the connection ends the child.
	t.Destroy(ctx)
	m.Release()
	h.Close()
	conn.Close()
	closed = true
	st, err := child.Wait()
	if err != nil {
		return err
	}
	step("connection closed; demo node exited: %s", st)
	if !st.Success() {
		return fmt.Errorf("demo node exited with %s", st)
	}
	fmt.Fprintln(out, "demo complete")
	return nil
}
