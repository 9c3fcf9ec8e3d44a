package executive

import (
	"context"
	"sync"
	"testing"
)

// BenchmarkMasterPoll measures the exchanges per second a Master sustains
// against the in-process Machine over a Pipe and the escaped byte stream
// (no wire delay: this is the software's ceiling, not the line's — at 9600
// baud one exchange costs ≥2.3 ms on the wire, ≈430 polls/s).
func BenchmarkMasterPoll(b *testing.B) {
	for _, f := range []Framing{FramingModeBit, FramingEvenParity} {
		b.Run(f.String(), func(b *testing.B) {
			pa, pb := Pipe()
			vmc, err := NewMachine(MachineConfig{Framing: f, Prices: snacks})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { _ = vmc.Serve(ctx, NewStreamLink(pb, f)) })
			m := NewMaster(NewStreamLink(pa, f), Config{Framing: f})
			if err := m.GrantCredit(1); err == nil {
				b.Fatal("offline master accepted credit")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := m.Poll(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "polls/s")
			cancel()
			wg.Wait()
			_ = pa.Close()
		})
	}
}
