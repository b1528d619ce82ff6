package rt_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
)

// BenchmarkDisconnectLatency measures how soon a pending call fails with
// ErrDisconnected after the serving side closes the connection. The goal
// is well under 100 ms (the bound); the tests only check that the
// call fails, since a wall-clock bound fails on a loaded machine.
func BenchmarkDisconnectLatency(b *testing.B) {
	var worst, total time.Duration
	for i := 0; i < b.N; i++ {
		entered := make(chan struct{}, 1)
		p := newPairHooks(b, &hooks{onSleep: func(context.Context) { entered <- struct{}{} }}, nil)
		failed := make(chan error, 1)
		var at time.Time
		go func() {
			_, err := p.calc.Sleep(context.Background(), hour)
			at = time.Now()
			failed <- err
		}()
		<-entered
		start := time.Now()
		p.server.Close()
		if err := <-failed; !errors.Is(err, exception.ErrDisconnected) {
			b.Fatalf("pending call: %v", err)
		}
		d := at.Sub(start)
		total += d
		worst = max(worst, d)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/disconnect")
	b.ReportMetric(float64(worst.Microseconds()), "µs-worst")
}
