package rt

import (
	"context"
	"testing"
)

// BenchmarkEngineRoundTrip is one context call (Calc.add) from a Go client
// to a Go server over a socketpair, on the client's pooled thread.
func BenchmarkEngineRoundTrip(b *testing.B) {
	ctx := context.Background()
	_, calc := goCalc(b, nil, nil)
	if _, err := calcAdd(ctx, calc, 1, 1); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := calcAdd(ctx, calc, int64(i), 1); err != nil {
			b.Fatal(err)
		}
	}
}
