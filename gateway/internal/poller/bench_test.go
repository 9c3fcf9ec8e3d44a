package poller

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"vendgate/emulator/ukm5"
	"vendgate/internal/proccpu"
)

// benchPoll polls n registers back to back (each at the spec's 1 request per
// second) until b.N requests were made, and reports requests per second and
// process CPU per request. With loopback the emulator's CPU is included, so
// the figure is an upper bound for the gateway.
func benchPoll(b *testing.B, n int, loopback bool) {
	f := ukm5.New(ukm5.Config{N: n})
	var urls []string
	client := &http.Client{Transport: f.Transport()}
	if loopback {
		srv := httptest.NewServer(f.Handler())
		defer srv.Close()
		urls = f.BaseURLs(strings.TrimPrefix(srv.URL, "http://"))
		client = NewClient(256, 5*time.Second)
	} else {
		urls = f.MemURLs()
	}
	src := func(context.Context) ([]Target, error) {
		ts := make([]Target, n)
		for i := range ts {
			ts[i] = Target{ID: int64(i + 1), StationID: "s", BaseURL: urls[i]}
			ts[i].Prev.Status = StatusUnknown
		}
		return ts, nil
	}
	p, err := New(Config{Source: src, Sink: func(context.Context, []Update) error { return nil }, Client: client,
		Workers: 256, Interval: time.Millisecond, Reload: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	// Warm up: every register past its first (spread) request.
	for p.Requests() < int64(n) {
		time.Sleep(10 * time.Millisecond)
	}
	b.ResetTimer()
	start, cpu0, r0 := time.Now(), proccpu.Used(), p.Requests()
	for p.Requests()-r0 < int64(b.N) {
		time.Sleep(5 * time.Millisecond)
	}
	el, cpu, reqs := time.Since(start), proccpu.Used()-cpu0, p.Requests()-r0
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(reqs)/el.Seconds(), "req/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(reqs), "cpu-µs/req")
	// At the default 60 s interval a register costs 7 requests a minute.
	b.ReportMetric(float64(cpu.Microseconds())/float64(reqs)*7/60/1e6*100, "cpu-%/register@60s")
}

func BenchmarkPollMemory2000(b *testing.B)   { benchPoll(b, 2000, false) }
func BenchmarkPollLoopback2000(b *testing.B) { benchPoll(b, 2000, true) }

func BenchmarkPollLoopback10000(b *testing.B) { benchPoll(b, 10000, true) }
