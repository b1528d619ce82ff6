package rt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/server"

	"github.com/bitcoin-ipc/bitcoin-ipc/gen/mp"
)

// thread is a Thread this process serves: a worker on which the peer's
// calls run one at a time (see executor). Threads belong to the connection
// whose ThreadMap made them; a call naming another connection's thread is
// refused, as libmultiprocess refuses it.
type thread struct {
	conn     *Conn
	name     string
	exec     executor
	released atomic.Bool
}

var threadSeq atomic.Uint64

func (c *Conn) newThread(from string) *thread {
	exe := filepath.Base(os.Args[0])
	return &thread{
		conn: c,
		name: fmt.Sprintf("%s-%d/goroutine-%d (from %s)", exe, os.Getpid(), threadSeq.Add(1), from),
	}
}

// GetName implements Thread.getName.
func (t *thread) GetName(ctx context.Context, call mp.Thread_getName) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetResult(t.name)
}

// Shutdown runs when the peer released its last reference.
func (t *thread) Shutdown() {
	t.released.Store(true)
	t.exec.close()
	c := t.conn
	c.mu.Lock()
	delete(c.threads, t)
	c.mu.Unlock()
}

// threadMap is the ThreadMap this process serves on one connection.
type threadMap struct{ conn *Conn }

func (c *Conn) newThreadMap() mp.ThreadMap {
	return mp.ThreadMap_ServerToClient(&threadMap{conn: c})
}

// MakeThread implements ThreadMap.makeThread.
func (m *threadMap) MakeThread(ctx context.Context, call mp.ThreadMap_makeThread) error {
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	c := m.conn
	t := c.newThread(name)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errDisconnectedLocal
	}
	if len(c.threads)+len(c.pool) >= c.opts.maxThreads {
		c.mu.Unlock()
		return fmt.Errorf("too many threads on this connection (limit %d)", c.opts.maxThreads)
	}
	c.threads[t] = struct{}{}
	c.mu.Unlock()
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	c.log.Debug("IPC server makeThread", "thread", t.name)
	return res.SetResult(mp.Thread_ServerToClient(t))
}

// MakePool implements ThreadMap.makePool: count workers that run calls
// sent without a thread.
func (m *threadMap) MakePool(ctx context.Context, call mp.ThreadMap_makePool) error {
	n := int(call.Args().Count())
	c := m.conn
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pool) > 0 {
		return fmt.Errorf("makePool called on connection with existing pool")
	}
	if n <= 0 || len(c.threads)+n > c.opts.maxThreads {
		return fmt.Errorf("makePool count %d out of range (limit %d threads)", n, c.opts.maxThreads)
	}
	for i := 0; i < n; i++ {
		t := c.newThread(fmt.Sprintf("pool/%d", i))
		c.pool = append(c.pool, t)
		c.poolCaps = append(c.poolCaps, mp.Thread_ServerToClient(t))
	}
	return nil
}

// poolThread picks a pool thread round-robin, with its capability.
func (c *Conn) poolThread() (*thread, mp.Thread, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pool) == 0 {
		return nil, mp.Thread{}, false
	}
	i := c.poolNext % len(c.pool)
	c.poolNext++
	return c.pool[i], c.poolCaps[i], true
}

// Error texts match libmultiprocess's, so that peers see the same failures
// from a Go server as from a C++ one.
const (
	textNoThread      = "no thread specified and no pool configured"
	textInvalidThread = "invalid thread handle"
)

// lookupThread maps context.thread back to one of this connection's own
// Threads. A pipelined thread (a promise on our own unreturned makeThread
// answer) is resolved first; only then does its brand identify the object.
func (c *Conn) lookupThread(ctx context.Context, cl capnp.Client) (*thread, error) {
	t, err := threadFromBrand(cl)
	if t == nil && err == nil {
		// Not (yet) one of ours: resolve and look again. Resolve returns at
		// once for a settled capability. (Checking "is it still a pending
		// promise?" in a second snapshot raced with the resolution landing
		// between the two snapshots, refusing a valid thread.)
		if rerr := cl.Resolve(ctx); rerr != nil {
			return nil, rerr
		}
		t, err = threadFromBrand(cl)
	}
	if err != nil {
		return nil, err
	}
	if t == nil || t.conn != c {
		return nil, fmt.Errorf("%s", textInvalidThread)
	}
	if t.released.Load() {
		return nil, fmt.Errorf("%s", textInvalidThread)
	}
	return t, nil
}

func threadFromBrand(cl capnp.Client) (*thread, error) {
	snap := cl.Snapshot()
	brand := snap.Brand()
	snap.Release()
	if v, ok := server.IsServer(brand); ok {
		t, _ := v.(*thread)
		return t, nil
	}
	if err, ok := brand.Value.(error); ok {
		return nil, err
	}
	return nil, nil
}
