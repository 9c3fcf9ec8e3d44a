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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/sqlite"
	"vendgate/internal/proccpu"
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
	cpu := proccpu.Used()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := w.Submit(context.Background(), event(mid, int(n.Add(1)))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64((proccpu.Used()-cpu).Microseconds())/float64(b.N), "cpu-us/uplink")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "uplinks/s")
}

// TestSubmitAsync: callbacks come after the commit, in submit order, and
// Close waits for all of them.
func TestSubmitAsync(t *testing.T) {
	db, mid := openDB(t)
	w := NewWriter(db, WriterConfig{MaxBatch: 8})
	go w.Run()
	const n = 40
	var mu sync.Mutex
	var got []int
	for i := range n {
		err := w.SubmitAsync(context.Background(), event(mid, i), func(_ *store.Uplink, err error) {
			if err != nil {
				t.Error(err)
			}
			ev, _, _, cerr := db.CountUplinks(context.Background(), mid)
			if cerr != nil || ev < i+1 {
				t.Errorf("callback %d before its commit: %d events, %v", i, ev, cerr)
			}
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n {
		t.Fatalf("%d callbacks after Close, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("callback %d came as number %d", v, i)
		}
	}
	if err := w.SubmitAsync(context.Background(), event(mid, n), func(*store.Uplink, error) { t.Error("called after Close") }); !errors.Is(err, ErrClosed) {
		t.Fatalf("SubmitAsync after Close: %v", err)
	}
}

// failingStore fails every batch holding an event with MsgID "bad".
type failingStore struct{ st store.Uplinks }

var errBad = errors.New("bad uplink")

func (f failingStore) ApplyUplinks(ctx context.Context, ups []store.Uplink) error {
	for _, u := range ups {
		if u.Event != nil && u.Event.MsgID == "bad" {
			return errBad
		}
	}
	return f.st.ApplyUplinks(ctx, ups)
}

// TestSubmitAsyncOutcomes: each callback gets its own uplink and outcome,
// also when a batch's uplinks had outcomes of their own (one failed) and
// the batches after reuse its completion.
func TestSubmitAsyncOutcomes(t *testing.T) {
	db, mid := openDB(t)
	w := NewWriter(failingStore{db}, WriterConfig{MaxBatch: 2})
	bad := event(mid, 0)
	bad.Event.MsgID = "bad"
	ups := []store.Uplink{bad, event(mid, 1), event(mid, 2), event(mid, 3), event(mid, 4), bad, event(mid, 5)}
	type told struct {
		msg string
		err error
	}
	var got []told // the completion goroutine's only until Close
	for _, u := range ups {
		require.NoError(t, w.SubmitAsync(context.Background(), u, func(up *store.Uplink, err error) {
			got = append(got, told{up.Event.MsgID, err})
		}))
	}
	go w.Run() // batches of two, in order
	w.Close()
	want := []told{{"bad", errBad}, {"e1", nil}, {"e2", nil}, {"e3", nil}, {"e4", nil}, {"bad", errBad}, {"e5", nil}}
	assert.Equal(t, want, got)
}

// TestSubmitAsyncFullQueue: with the queue full SubmitAsync waits, and gives
// up when its context ends (the broker's connection closed).
func TestSubmitAsyncFullQueue(t *testing.T) {
	db, mid := openDB(t)
	w := NewWriter(db, WriterConfig{QueueSize: 1})
	require := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	require(w.SubmitAsync(context.Background(), event(mid, 1), func(*store.Uplink, error) {}))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.SubmitAsync(ctx, event(mid, 2), func(*store.Uplink, error) { t.Error("called") }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SubmitAsync on a full queue: %v", err)
	}
	go w.Run()
	w.Close()
}

// TestCoalescePresence: a queued (fire-and-forget) presence is skipped when a
// newer one of the same modem follows in the batch; the result is the same.
func TestCoalescePresence(t *testing.T) {
	pres := func(modem int64, epoch uint64, online, ff bool) item {
		return item{ff: ff, up: store.Uplink{Kind: store.UpPresence, ModemID: modem,
			Presence: &store.Presence{Online: online, Epoch: epoch}}}
	}
	tests := []struct {
		name  string
		batch []item
		want  []bool // kept
	}{
		{"later same epoch", []item{pres(1, 5, true, true), pres(1, 5, true, false)}, []bool{false, true}},
		{"later newer epoch", []item{pres(1, 5, false, true), pres(1, 6, true, true)}, []bool{false, true}},
		{"later older epoch", []item{pres(1, 6, true, true), pres(1, 5, false, false)}, []bool{true, true}},
		{"other modem", []item{pres(1, 5, true, true), pres(2, 5, true, true)}, []bool{true, true}},
		{"submitted one kept", []item{pres(1, 5, true, false), pres(1, 5, true, true)}, []bool{true, true}},
		{"event between", []item{pres(1, 5, true, true), {up: event(1, 1)}, pres(1, 7, true, true)}, []bool{false, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ups := coalesce(tt.batch, nil)
			n := 0
			for i, it := range tt.batch {
				if it.skip == tt.want[i] {
					t.Errorf("item %d: skipped %v", i, it.skip)
				}
				if !it.skip {
					n++
				}
			}
			if len(ups) != n {
				t.Errorf("%d uplinks to write, want %d", len(ups), n)
			}
		})
	}
}

// TestCoalesceStored: after a storm-like sequence the stored presence is the
// newest.
func TestCoalesceStored(t *testing.T) {
	db, mid := openDB(t)
	w := NewWriter(db, WriterConfig{})
	go w.Run()
	for e := uint64(1); e <= 20; e++ {
		if err := w.Enqueue(context.Background(), store.Uplink{Kind: store.UpPresence, ModemID: mid, Received: time.Now(),
			Presence: &store.Presence{Online: e%2 == 0, Epoch: e}}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	m, err := db.GetModem(context.Background(), mid)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Online || m.Epoch != 20 {
		t.Fatalf("stored presence online=%v epoch=%d, want true 20", m.Online, m.Epoch)
	}
}
