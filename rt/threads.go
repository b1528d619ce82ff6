package rt

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"

	"github.com/bitcoin-ipc/bitcoin-ipc/gen/mp"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine"
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

// Dispatch serves Thread's methods (getName) at once.
func (t *thread) Dispatch(call *engine.Call) {
	if call.InterfaceID != mp.Thread_TypeID || call.MethodID != methodGetName {
		call.Return(errUnimplementedMethod(call))
		return
	}
	res, err := call.AllocResults(capnp.ObjectSize{PointerCount: 1})
	if err == nil {
		err = mp.Thread_getName_Results(res).SetResult(t.name)
	}
	call.Return(err)
}

// Shutdown runs when the last reference went.
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

func (c *Conn) newThreadMap() *engine.Client { return engine.NewLocal(&threadMap{conn: c}) }

// errUnimplementedMethod is the error of a call of a method rt does not
// serve on a capability of its own.
func errUnimplementedMethod(call *engine.Call) error {
	return &engine.Exception{Type: rpccp.Exception_Type_unimplemented,
		Reason: fmt.Sprintf("method %#x.%d not implemented", call.InterfaceID, call.MethodID)}
}

// Dispatch serves ThreadMap's methods at once.
func (m *threadMap) Dispatch(call *engine.Call) {
	if call.InterfaceID != mp.ThreadMap_TypeID {
		call.Return(errUnimplementedMethod(call))
		return
	}
	switch call.MethodID {
	case methodMakeThread:
		call.Return(m.makeThread(call))
	case methodMakePool:
		call.Return(m.makePool(call))
	default:
		call.Return(errUnimplementedMethod(call))
	}
}

// makeThread serves ThreadMap.makeThread.
func (m *threadMap) makeThread(call *engine.Call) error {
	name, err := mp.ThreadMap_makeThread_Params(call.Args()).Name()
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
	res, err := call.AllocResults(capnp.ObjectSize{PointerCount: 1})
	if err != nil {
		return err
	}
	c.log.Debug("IPC server makeThread", "thread", t.name)
	cl := engine.NewLocal(t)
	defer cl.Release()
	return call.SetResultCap(res, 0, cl)
}

// makePool serves ThreadMap.makePool: count workers that run calls sent
// without a thread.
func (m *threadMap) makePool(call *engine.Call) error {
	n := int(mp.ThreadMap_makePool_Params(call.Args()).Count())
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
		c.poolCaps = append(c.poolCaps, engine.NewLocal(t))
	}
	return nil
}

// poolThread picks a pool thread round-robin, with a reference to it.
func (c *Conn) poolThread() (*thread, *engine.Client, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pool) == 0 {
		return nil, nil, false
	}
	i := c.poolNext % len(c.pool)
	c.poolNext++
	return c.pool[i], c.poolCaps[i].AddRef(), true
}

// Error texts match libmultiprocess's, so that peers see the same failures
// from a Go server as from a C++ one.
const (
	textNoThread      = "no thread specified and no pool configured"
	textInvalidThread = "invalid thread handle"
)
