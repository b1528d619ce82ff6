package rt_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// mute is a peer's side of a connection whose writes block once muted,
// as a process under SIGSTOP answers nothing: the peer still reads.
type mute struct {
	net.Conn
	muted  atomic.Bool
	resume chan struct{}
}

func (m *mute) Write(b []byte) (int, error) {
	if m.muted.Load() {
		<-m.resume
	}
	return m.Conn.Write(b)
}

// Releasing a Thread whose makeThread the peer never answered returns at
// once (the release completes when the answer comes or the connection
// ends): a node that stops answering cannot hang its client.
func TestReleaseUnansweredThread(t *testing.T) {
	a, b := testutil.SocketPair(t)
	m := &mute{Conn: b, resume: make(chan struct{})}
	server := rt.Serve(m, newInit(nil, nil).bootstrap(), rt.WithInitInterfaceID(testInitID))
	defer server.Close()
	defer close(m.resume)
	client, err := rt.Connect(testutil.Context(t), a, rt.WithInitInterfaceID(testInitID))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	calc, err := makeCalc(testutil.Context(t), client)
	if err != nil {
		t.Fatal(err)
	}
	defer calc.Release()

	m.muted.Store(true)
	th, err := client.NewThread()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := calc.Sleep(rt.WithThread(ctx, th), 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call to a muted peer: %v; want its deadline", err)
	}
	released := make(chan struct{})
	go func() {
		th.Release()
		close(released)
	}()
	select {
	case <-released:
	case <-time.After(testutil.HangGuard):
		t.Fatal("Release of a Thread the peer never made did not return")
	}
}
