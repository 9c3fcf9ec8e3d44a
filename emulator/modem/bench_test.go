package modem

import (
	"testing"
	"time"
)

// BenchmarkUplink measures one modem's QoS 1 uplink throughput (event → PUBACK)
// through an in-process mochi broker over loopback TCP.
func BenchmarkUplink(b *testing.B) {
	rec := &sink{}
	br := startBroker(b, "127.0.0.1:0", rec)
	cfg := testConfig(br)
	cfg.HBInterval = time.Hour
	cfg.BufferMax = 1 << 20
	m := runModem(b, cfg)
	base := m.Stats().Acked
	payload := map[string]any{"n": 1}
	b.ResetTimer()
	for range b.N {
		if err := m.SendEvent("BENCH", payload); err != nil {
			b.Fatal(err)
		}
	}
	for m.Stats().Acked < base+uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
