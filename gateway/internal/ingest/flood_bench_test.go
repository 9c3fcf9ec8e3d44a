package ingest

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/sqlite"
	"vendgate/internal/proccpu"
)

// floodModems and floodInFlight are the load run's throughput step: 200
// modems with 8 QoS 1 events in flight each.
const (
	floodModems   = 200
	floodInFlight = 8
	// floodBacklog events are stored before the timed part: a commit writes
	// the hot leaf pages of the event indexes (about one per modem in each),
	// and their number settles only once the table has grown.
	floodBacklog = 100_000
)

// BenchmarkWriterFlood drives the Writer the way the broker does in the load
// run's flood: SubmitAsync from 200 modems, each with 8 uplinks in flight,
// into a file database that already holds events. cpu-us/uplink is the
// process CPU per uplink (writer, SQLite and the submitters), batch the mean
// uplinks per commit. MaxBatch bounds the batch, and with it how many
// uplinks share the commit's page writes.
func BenchmarkWriterFlood(b *testing.B) {
	for _, maxBatch := range []int{512, 2048} {
		b.Run(fmt.Sprintf("maxbatch=%d", maxBatch), func(b *testing.B) {
			benchFlood(b, WriterConfig{MaxBatch: maxBatch})
		})
	}
}

func benchFlood(b *testing.B, cfg WriterConfig) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "t.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ids := make([]int64, floodModems)
	for i := range ids {
		m := &store.Modem{CompanyID: store.DefaultCompanyID, IMEI: fmt.Sprintf("35693803%07d", i), PasswordHash: "x", CreatedAt: time.Now()}
		if err := db.CreateModem(ctx, m); err != nil {
			b.Fatal(err)
		}
		if err := db.CreateMachine(ctx, &store.Machine{ModemID: &m.ID}, false); err != nil {
			b.Fatal(err)
		}
		ids[i] = m.ID
	}
	old := make([]store.Uplink, 0, 5000)
	for n := range floodBacklog {
		old = append(old, store.Uplink{Kind: store.UpEvent, ModemID: ids[n%len(ids)], Received: time.Now(),
			Event: &store.Event{MsgID: fmt.Sprintf("old-%d", n), Code: "LOADTEST", Time: time.Now()}})
		if len(old) == cap(old) || n == floodBacklog-1 {
			if err := db.ApplyUplinks(ctx, old); err != nil {
				b.Fatal(err)
			}
			old = old[:0]
		}
	}

	var batches, total int64
	cfg.Observe = func(n int, _ []time.Duration) {
		batches++ // Observe runs on the writer goroutine only
		total += int64(n)
	}
	w := NewWriter(db, cfg)
	go w.Run()
	per := (b.N + floodModems - 1) / floodModems
	b.ResetTimer()
	cpu := proccpu.Used()
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			window := make(chan struct{}, floodInFlight)
			for n := range per {
				window <- struct{}{}
				now := time.Now()
				up := store.Uplink{Kind: store.UpEvent, ModemID: id, Received: now,
					Event: &store.Event{ModemID: id, MsgID: fmt.Sprintf("f-%d-%d", i, n), Code: "LOADTEST", Time: now}}
				if err := w.SubmitAsync(ctx, up, func(_ *store.Uplink, err error) {
					if err != nil {
						b.Error(err)
					}
					<-window
				}); err != nil {
					b.Error(err)
					return
				}
			}
			for range floodInFlight {
				window <- struct{}{}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	used := proccpu.Used() - cpu
	w.Close()
	b.ReportMetric(float64(used.Microseconds())/float64(per*floodModems), "cpu-us/uplink")
	b.ReportMetric(float64(total)/float64(max(batches, 1)), "batch")
}
