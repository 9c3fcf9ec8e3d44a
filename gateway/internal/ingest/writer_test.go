package ingest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/sqlite"
)

func openDB(t testing.TB) (*sqlite.DB, int64) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m := &store.Modem{CompanyID: store.DefaultCompanyID, IMEI: "356938035643809", PasswordHash: "x", CreatedAt: time.Now()}
	if err := db.CreateModem(ctx, m); err != nil {
		t.Fatal(err)
	}
	return db, m.ID
}

func event(modemID int64, n int) store.Uplink {
	return store.Uplink{Kind: store.UpEvent, ModemID: modemID, Received: time.Now(),
		Event: &store.Event{ModemID: modemID, MsgID: fmt.Sprintf("e%d", n), Code: "TEST", Time: time.Now()}}
}

// TestSubmitMeansCommitted: when Submit returns, the uplink is in the store,
// even with many concurrent writers batched together.
func TestSubmitMeansCommitted(t *testing.T) {
	db, mid := openDB(t)
	var batches, total atomic.Int64
	w := NewWriter(db, WriterConfig{MaxBatch: 64, Observe: func(n int, _ []time.Duration) {
		batches.Add(1)
		total.Add(int64(n))
	}})
	go w.Run()
	defer w.Close()
	const workers, each = 16, 50
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for j := range each {
				n := i*each + j
				if err := w.Submit(context.Background(), event(mid, n)); err != nil {
					t.Error(err)
					return
				}
				// Visible as soon as Submit returned.
				ev, _, _, err := db.CountUplinks(context.Background(), mid)
				if err != nil || ev < 1 {
					t.Errorf("after Submit: %d events, %v", ev, err)
					return
				}
			}
		})
	}
	wg.Wait()
	ev, _, _, _ := db.CountUplinks(context.Background(), mid)
	if ev != workers*each {
		t.Fatalf("%d events stored, want %d", ev, workers*each)
	}
	if total.Load() != workers*each {
		t.Fatalf("observed %d uplinks", total.Load())
	}
	if batches.Load() >= workers*each {
		t.Logf("no batching happened (%d batches) — the machine may be very slow", batches.Load())
	}
}

// TestCloseDrains: uplinks enqueued before Close are written; after Close,
// Submit fails with ErrClosed.
func TestCloseDrains(t *testing.T) {
	db, mid := openDB(t)
	w := NewWriter(db, WriterConfig{QueueSize: 1000})
	for i := range 500 {
		if err := w.Enqueue(context.Background(), event(mid, i)); err != nil {
			t.Fatal(err)
		}
	}
	go w.Run()
	w.Close()
	ev, _, _, _ := db.CountUplinks(context.Background(), mid)
	if ev != 500 {
		t.Fatalf("%d of 500 queued events written before Close returned", ev)
	}
	if err := w.Submit(context.Background(), event(mid, 1000)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}
	w.Close() // idempotent
}

// TestDuplicateIsHarmless: a redelivered message (same id) is stored once.
func TestDuplicateIsHarmless(t *testing.T) {
	db, mid := openDB(t)
	w := NewWriter(db, WriterConfig{})
	go w.Run()
	defer w.Close()
	for range 3 {
		if err := w.Submit(context.Background(), event(mid, 7)); err != nil {
			t.Fatal(err)
		}
	}
	ev, _, _, _ := db.CountUplinks(context.Background(), mid)
	if ev != 1 {
		t.Fatalf("%d events, want 1", ev)
	}
}

// BenchmarkWriter measures durable uplinks per second through the writer alone
// (no MQTT), 64 concurrent submitters.
func BenchmarkWriter(b *testing.B) {
	db, mid := openDB(b)
	w := NewWriter(db, WriterConfig{})
	go w.Run()
	defer w.Close()
	var n atomic.Int64
	b.SetParallelism(32)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := w.Submit(context.Background(), event(mid, int(n.Add(1)))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "uplinks/s")
}
