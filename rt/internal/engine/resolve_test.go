package engine

import (
	"context"
	"errors"
	"testing"

	"capnproto.org/go/capnp/v3"
)

// hub is the bootstrap of TestResolveBeforeLateCalls: method 0 is held
// (handed to the test, which returns it), method 1 returns the capability
// of its params, method 2 returns at once.
type hub struct{ held chan *Call }

func (h hub) Dispatch(c *Call) {
	switch c.MethodID {
	case 0:
		h.held <- c
	case 1:
		arg := c.ArgPtrCap(c.Args(), 0)
		defer arg.Release()
		res, err := c.AllocResults(szPtr1)
		if err == nil {
			err = c.SetResultCap(res, 0, arg)
		}
		c.Return(err)
	default:
		c.Return(nil)
	}
}

// stepCalc answers each call with its argument. Call 1 says on started
// that it runs and returns once goOn is closed; call 2 returns only once
// resolved is closed (and fails when the test's context ends).
type stepCalc struct {
	goOn, resolved, done <-chan struct{}
	started              chan<- struct{}
}

func (k stepCalc) Dispatch(c *Call) {
	x := c.Args().Uint64(0)
	switch x {
	case 1:
		k.started <- struct{}{}
		<-k.goOn
	case 2:
		select {
		case <-k.resolved:
		case <-k.done:
			c.Return(errors.New("call 2 ran before the peer had the Resolve"))
			return
		}
	}
	res, err := c.AllocResults(szData8)
	if err == nil {
		res.SetUint64(0, x)
	}
	c.Return(err)
}

// A promise the server exported (a pipelined result of a call it has not
// answered) resolves, when the answer returns, once the calls held on it
// are delivered: calls the client makes on it meanwhile (it does so until
// it reads the Resolve) go after the Resolve, not before, so the client
// learns of the resolution however long it keeps calling. Here the second
// call arrives while the first, held, is being delivered, and runs only
// once the client has the Resolve.
func TestResolveBeforeLateCalls(t *testing.T) {
	ctx := testCtx(t)
	held := make(chan *Call, 1)
	a, b := socketPair(t)
	boot := NewLocal(hub{held: held})
	server := New(b, Options{Bootstrap: boot})
	boot.Release()
	client := New(a, Options{})
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	h := client.Bootstrap()
	defer h.Release()
	call := func(c *Client, method uint16, x uint64, capArg *Client) *Answer {
		t.Helper()
		req, err := c.NewRequest(1, method, capnp.ObjectSize{DataSize: 8, PointerCount: 1})
		if err != nil {
			t.Fatal(err)
		}
		req.Params().SetUint64(0, x)
		if err := req.SetCap(req.Params(), 0, capArg); err != nil {
			t.Fatal(err)
		}
		return req.Send()
	}
	wait := func(a *Answer) uint64 {
		t.Helper()
		res, err := a.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return res.Uint64(0)
	}
	// settle returns once the server's reader handled what was sent before.
	settle := func() {
		t.Helper()
		a := call(h, 2, 0, nil)
		wait(a)
		a.Release()
	}

	q := call(h, 0, 0, nil) // answered below
	defer q.Release()
	var qc *Call
	select {
	case qc = <-held:
	case <-ctx.Done():
		t.Fatal("the held call did not arrive")
	}
	pipe := q.Pipeline(0)
	echo := call(h, 1, 0, pipe) // the server passes its promise back
	pipe.Release()
	wait(echo)
	prom := echo.PtrCap(0)
	echo.Release()
	defer prom.Release()
	if !prom.IsPromise() {
		t.Fatal("the server's promise came back as no promise")
	}
	resolved := make(chan struct{})
	prom.OnResolved(func() { close(resolved) })

	c1 := call(prom, 0, 1, nil) // held on the server until q returns
	defer c1.Release()
	settle()
	started, goOn := make(chan struct{}), make(chan struct{})
	calc := NewLocal(stepCalc{goOn: goOn, resolved: resolved, done: ctx.Done(), started: started})
	defer calc.Release()
	go func() {
		res, err := qc.AllocResults(szPtr1)
		if err == nil {
			err = qc.SetResultCap(res, 0, calc)
		}
		qc.Return(err) // delivers c1, then c2, on this goroutine
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("call 1 was not delivered")
	}
	c2 := call(prom, 0, 2, nil) // reaches the server while c1 runs
	defer c2.Release()
	settle()
	close(goOn)
	if got := wait(c1); got != 1 {
		t.Fatalf("call 1 = %d", got)
	}
	// c2 ends by itself: it fails when the test's context does.
	res, err := c2.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Uint64(0); got != 2 {
		t.Fatalf("call 2 = %d", got)
	}
	wait(q)
	if prom.IsPromise() {
		t.Fatal("the promise did not resolve")
	}
}

// A promise the server exported on a call the client then canceled
// resolves to an exception when the call returns: the client, which
// still holds the promise, hears of it.
func TestResolveOfCanceledAnswer(t *testing.T) {
	ctx := testCtx(t)
	held := make(chan *Call, 1)
	a, b := socketPair(t)
	boot := NewLocal(hub{held: held})
	server := New(b, Options{Bootstrap: boot})
	boot.Release()
	client := New(a, Options{})
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	h := client.Bootstrap()
	defer h.Release()
	send := func(method uint16, capArg *Client) *Answer {
		t.Helper()
		req, err := h.NewRequest(1, method, szPtr1)
		if err != nil {
			t.Fatal(err)
		}
		if err := req.SetCap(req.Params(), 0, capArg); err != nil {
			t.Fatal(err)
		}
		return req.Send()
	}
	q := send(0, nil)
	var qc *Call
	select {
	case qc = <-held:
	case <-ctx.Done():
		t.Fatal("the held call did not arrive")
	}
	pipe := q.Pipeline(0)
	echo := send(1, pipe)
	pipe.Release()
	if _, err := echo.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	prom := echo.PtrCap(0)
	echo.Release()
	defer prom.Release()
	resolved := make(chan struct{})
	prom.OnResolved(func() { close(resolved) })

	q.Release() // Finish: the server's call is canceled
	select {
	case <-qc.Context().Done():
	case <-ctx.Done():
		t.Fatal("the call was not canceled")
	}
	qc.Return(nil)
	select {
	case <-resolved:
	case <-ctx.Done():
		t.Fatal("no Resolve for the promise on the canceled call")
	}
	req, err := prom.NewRequest(1, 0, szData8P1)
	if err != nil {
		t.Fatal(err)
	}
	ans := req.Send()
	defer ans.Release()
	if _, err := ans.Wait(ctx); err == nil {
		t.Fatal("a call on the broken promise succeeded")
	}
}
