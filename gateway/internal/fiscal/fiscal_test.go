package fiscal

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/sqlite"
)

var t0 = time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC)

func TestMoneyJSON(t *testing.T) {
	for _, tc := range []struct {
		m    Money
		json string
		str  string
	}{
		{4500, "45", "45.00"}, {4550, "45.5", "45.50"}, {4505, "45.05", "45.05"}, {7, "0.07", "0.07"},
		{0, "0", "0.00"}, {-120, "-1.2", "-1.20"},
	} {
		t.Run(tc.json, func(t *testing.T) {
			b, err := json.Marshal(tc.m)
			require.NoError(t, err)
			require.Equal(t, tc.json, string(b))
			require.Equal(t, tc.str, tc.m.String())
			var back Money
			require.NoError(t, json.Unmarshal(b, &back))
			require.Equal(t, tc.m, back)
			require.NoError(t, json.Unmarshal([]byte(`"`+tc.str+`"`), &back))
			require.Equal(t, tc.m, back)
		})
	}
	for _, bad := range []string{`"1.234"`, `"x"`, `""`, `".5"`, `"1e3"`, `"1.-2"`} {
		var m Money
		require.Error(t, json.Unmarshal([]byte(bad), &m), bad)
	}
}

func FuzzMoney(f *testing.F) {
	for _, s := range []string{"45", "45.5", "-0.07", `"12.30"`, "1e9", "99999999999999.99", ".", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var m Money
		if json.Unmarshal([]byte(s), &m) != nil {
			return
		}
		b, err := json.Marshal(m)
		require.NoError(t, err)
		var back Money
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, m, back)
	})
}

func openDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "f.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestEnqueueForVend(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	m := store.Machine{ID: 7, CompanyID: 1, SerialNumber: "I12345679", InventoryNumber: "ABC-0123", IsCRTActive: true}
	v := store.Vend{ModemID: 3, MsgID: "m1", Selection: "12", Price: 4500, Payment: "cashless", Type: "paid", OK: true, Time: t0}

	for name, tc := range map[string]struct {
		m store.Machine
		v store.Vend
	}{
		"register off": {m: store.Machine{ID: 7, CompanyID: 1}, v: v},
		"failed vend":  {m: m, v: store.Vend{ModemID: 3, MsgID: "x", Price: 1, Type: "paid"}},
		"free vend":    {m: m, v: store.Vend{ModemID: 3, MsgID: "y", Price: 1, Type: "free", OK: true}},
		"zero price":   {m: m, v: store.Vend{ModemID: 3, MsgID: "z", Type: "paid", OK: true}},
	} {
		t.Run(name, func(t *testing.T) {
			ok, err := EnqueueForVend(ctx, db, tc.m, tc.v, SaleInfo{}, t0)
			require.NoError(t, err)
			require.False(t, ok)
		})
	}
	_, err := EnqueueForVend(ctx, db, m, store.Vend{Price: 1, Type: "paid", OK: true}, SaleInfo{}, t0)
	require.ErrorIs(t, err, ErrNoKey)

	ok, err := EnqueueForVend(ctx, db, m, v, SaleInfo{Place: "ТЦ", Address: "Мира пр 24б", ProductName: "Ореховый Мока", VAT: VAT20}, t0)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = EnqueueForVend(ctx, db, m, v, SaleInfo{}, t0.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, ok, "once per vend")

	due, err := db.DueReceipts(ctx, t0, 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.Equal(t, int64(7), due[0].VMID)
	require.JSONEq(t, `{"place":"ТЦ","digest":"`+digest("vend/3/m1")+`","address":"Мира пр 24б",
		"payments":[{"type":2,"amount":45}],"terminal":"I12345679",
		"positions":[{"qty":1,"vat":1,"name":"Ореховый Мока","price":45}]}`, string(due[0].Input))
	require.JSONEq(t, `{"vm_inventory_number":"ABC-0123","product_inventory_number":""}`, string(due[0].Aux))
}

// memQueue is an in-memory store.Receipts for the worker tests (the SQLite
// engine's queue is covered by the store contract suite).
type memQueue struct {
	mu sync.Mutex
	rs []store.Receipt
}

func (q *memQueue) EnqueueReceipt(_ context.Context, r *store.Receipt) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r.ID, r.State = int64(len(q.rs)+1), store.ReceiptPending
	q.rs = append(q.rs, *r)
	return true, nil
}

func (q *memQueue) DueReceipts(_ context.Context, now time.Time, limit int) ([]store.Receipt, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []store.Receipt
	for _, r := range q.rs {
		if r.State == store.ReceiptPending && !r.NextAt.After(now) && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (q *memQueue) CompleteReceipt(_ context.Context, id int64, out json.RawMessage, at time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := &q.rs[id-1]
	r.State, r.Output, r.DoneAt, r.Attempts = store.ReceiptSubmitted, out, at, r.Attempts+1
	return nil
}

func (q *memQueue) RetryReceipt(_ context.Context, id int64, msg string, next, at time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := &q.rs[id-1]
	r.Attempts++
	r.LastError = msg
	if next.IsZero() {
		r.State, r.DoneAt = store.ReceiptFailed, at
	} else {
		r.NextAt = next
	}
	return nil
}

func (q *memQueue) GetReceipt(_ context.Context, id int64) (store.Receipt, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.rs[id-1], nil
}

func (q *memQueue) ListReceipts(context.Context, store.ReceiptFilter) ([]store.Receipt, error) {
	return nil, errors.New("not used")
}

func enqueue(t *testing.T, q store.Receipts, msg string) {
	t.Helper()
	_, err := EnqueueForVend(context.Background(), q, store.Machine{ID: 1, CompanyID: 1, IsCRTActive: true},
		store.Vend{ModemID: 1, MsgID: msg, Price: 3500, Payment: "cash", Type: "paid", OK: true}, SaleInfo{}, time.Now())
	require.NoError(t, err)
}

func TestWorkerRetriesWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &memQueue{}
		enqueue(t, q, "a") // fails twice, then goes through
		enqueue(t, q, "b") // rejected: fails for good at once
		var mu sync.Mutex
		calls := map[string][]time.Time{}
		p := &Emulated{Fail: func(r Receipt) error {
			mu.Lock()
			defer mu.Unlock()
			calls[r.Digest] = append(calls[r.Digest], time.Now())
			if r.Digest == digest("vend/1/b") {
				return errors.New("bad inn: " + ErrRejected.Error())
			}
			if len(calls[r.Digest]) <= 2 {
				return errors.New("register unreachable")
			}
			return nil
		}}
		p2 := providerFunc(func(ctx context.Context, r Receipt) (Fiscal, error) {
			f, err := p.Submit(ctx, r)
			if err != nil && r.Digest == digest("vend/1/b") {
				err = errors.Join(err, ErrRejected)
			}
			return f, err
		})
		w := NewWorker(q, p2, WorkerConfig{Poll: time.Second, BaseBackoff: 10 * time.Second, MaxAttempts: 5,
			Logger: discard()})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		start := time.Now()
		go func() { done <- w.Run(ctx) }()
		time.Sleep(time.Minute) // fake clock inside the bubble
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)

		a, _ := q.GetReceipt(ctx, 1)
		require.Equal(t, store.ReceiptSubmitted, a.State)
		require.Equal(t, 3, a.Attempts)
		ta := calls[digest("vend/1/a")]
		require.Len(t, ta, 3)
		// Backoff 10 s then 20 s, seen at the next poll tick.
		require.Equal(t, start, ta[0])
		require.Equal(t, 10*time.Second, ta[1].Sub(ta[0]))
		require.Equal(t, 20*time.Second, ta[2].Sub(ta[1]))
		var out Fiscal
		require.NoError(t, json.Unmarshal(a.Output, &out))
		require.Equal(t, "35.00", out.TotalPaymentAmount)
		require.Equal(t, DocSale, out.DocumentType)
		require.NotEmpty(t, out.FP)

		b, _ := q.GetReceipt(ctx, 2)
		require.Equal(t, store.ReceiptFailed, b.State)
		require.Equal(t, 1, b.Attempts)
		require.Contains(t, b.LastError, "bad inn")
	})
}

func TestWorkerGivesUpAfterMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &memQueue{}
		enqueue(t, q, "a")
		w := NewWorker(q, &Emulated{Fail: func(Receipt) error { return errors.New("down") }},
			WorkerConfig{BaseBackoff: time.Second, MaxBackoff: 4 * time.Second, MaxAttempts: 4, Logger: discard()})
		for range 30 {
			_, err := w.Drain(context.Background())
			require.NoError(t, err)
			time.Sleep(time.Second)
		}
		r, _ := q.GetReceipt(context.Background(), 1)
		require.Equal(t, store.ReceiptFailed, r.State)
		require.Equal(t, 4, r.Attempts)
		require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second},
			[]time.Duration{w.backoff(1), w.backoff(2), w.backoff(3), w.backoff(4)})
	})
}

func TestEmulatedNumbersDocuments(t *testing.T) {
	e := &Emulated{Now: func() time.Time { return t0 }}
	r := Receipt{Digest: "d", Payments: []PaymentLine{{Type: PayCash, Amount: 2500}}, Positions: []Position{{Qty: 1, Price: 2500}}}
	f1, err := e.Submit(context.Background(), r)
	require.NoError(t, err)
	f2, err := e.Submit(context.Background(), r)
	require.NoError(t, err)
	require.Equal(t, int64(1), f1.DocumentNumber)
	require.Equal(t, int64(2), f2.DocumentNumber)
	require.Equal(t, "20240510T120000", f1.Date)
	require.Equal(t, "25.00", f1.TotalPaymentAmount)
	require.Len(t, f1.DeviceRN, 16)
	require.Len(t, f1.FSNumber, 16)
	_, err = e.Submit(context.Background(), Receipt{})
	require.ErrorIs(t, err, ErrRejected)
}
