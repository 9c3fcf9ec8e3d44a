package cashless

import (
	"context"
	"slices"
	"testing"
	"time"

	"vendgate/mdb"
)

// benchRig is a reader on an instant in-memory pipe, initialised by a VMC,
// measured against the real clock.
func benchRig(b *testing.B) (*VMC, *Peripheral, func()) {
	v, p := mdb.Pipe(mdb.PipeOptions{})
	per, err := NewPeripheral(PeripheralConfig{Reader: testReader})
	if err != nil {
		b.Fatal(err)
	}
	link := mdb.Config{CharTime: time.Microsecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = per.Run(ctx, mdb.NewPeripheral(p, link, per.Complete)); close(done) }()
	vmc, err := NewVMC(mdb.NewMaster(v, link), VMCConfig{PollInterval: 25 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	if err := vmc.Init(ctx); err != nil {
		b.Fatal(err)
	}
	return vmc, per, func() { cancel(); v.Close(); <-done }
}

// BenchmarkPollLatency measures the POLL round trip (VMC command out →
// reader answer decoded) over the Pipe and reports p50/p99.
func BenchmarkPollLatency(b *testing.B) {
	vmc, _, stop := benchRig(b)
	defer stop()
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, err := vmc.Poll(ctx); err != nil {
			if debugPanic {
				panic(err)
			}
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	report(b, lat)
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "polls/s")
}

// BenchmarkVendRequestLatency measures the answer time to VEND REQUEST plus
// the POLL that fetches VEND APPROVED, inside an open session (price 0 so
// the funds never run out).
func BenchmarkVendRequestLatency(b *testing.B) {
	vmc, per, stop := benchRig(b)
	defer stop()
	ctx := context.Background()
	if err := per.GrantCredit(0xFFFE, true, 0); err != nil {
		b.Fatal(err)
	}
	if _, err := vmc.PollFor(ctx, nil, RespBeginSession); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, err := vmc.Send(ctx, Command{Code: CmdVendRequest, Amount: 0, Item: 1}); err != nil {
			b.Fatal(err)
		}
		rs, err := vmc.Poll(ctx)
		// A repeated VEND APPROVED (the reader resends when our ACK came late) is fine.
		if _, ok := find(rs, RespVendApproved); err != nil || !ok {
			b.Fatalf("iteration %d: %v %v state=%v seen=%v", len(lat), rs, err, per.State(), vmc.Seen()[max(0, len(vmc.Seen())-4):])
		}
		lat = append(lat, time.Since(t0))
		if _, err := vmc.Send(ctx, Command{Code: CmdVendSuccess, Item: 1}); err != nil {
			b.Fatal(err)
		}
		for len(per.Records()) > 0 {
			<-per.Records()
		}
	}
	b.StopTimer()
	report(b, lat)
}

func report(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(q(0.999), "p99.9-µs")
}

var debugPanic = false
