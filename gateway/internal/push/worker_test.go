package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/emulator/petrosoft"
	"vendgate/gateway/internal/store"
)

// memOutbox is an Outbox in memory with the store's semantics.
type memOutbox struct {
	mu     sync.Mutex
	nextID int64
	rows   []store.RegisterPush
}

func (o *memOutbox) add(station string, body []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.nextID++
	o.rows = append(o.rows, store.RegisterPush{ID: o.nextID, StationID: station, Body: body})
}

func (o *memOutbox) DuePushes(_ context.Context, now time.Time, limit int) ([]store.RegisterPush, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := map[string]bool{}
	var out []store.RegisterPush
	for _, p := range o.rows {
		if seen[p.StationID] {
			continue
		}
		seen[p.StationID] = true
		if !p.NextAt.After(now) && len(out) < limit {
			out = append(out, p)
		}
	}
	return out, nil
}

func (o *memOutbox) DeletePush(_ context.Context, id int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := slices.IndexFunc(o.rows, func(p store.RegisterPush) bool { return p.ID == id })
	if i < 0 {
		return store.ErrNotFound
	}
	o.rows = slices.Delete(o.rows, i, i+1)
	return nil
}

func (o *memOutbox) DeferPush(_ context.Context, id int64, next time.Time, e string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.rows {
		if o.rows[i].ID == id {
			o.rows[i].Attempts++
			o.rows[i].NextAt, o.rows[i].LastError = next, e
			return nil
		}
	}
	return store.ErrNotFound
}

func (o *memOutbox) OutboxDepth(context.Context) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.rows), nil
}

// memTransport calls a handler in memory; an aborted handler is a cut connection.
type memTransport struct{ h http.Handler }

func (m memTransport) RoundTrip(r *http.Request) (resp *http.Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, errors.New("connection reset")
		}
	}()
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) Push(o string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[o]++
}

func body(status int, t int64) []byte {
	b, _ := json.Marshal(Body{Status: status, Time: t})
	return b
}

func TestWorkerOutageKeepsOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps := petrosoft.New(petrosoft.Config{Token: "secret"})
		ob := &memOutbox{}
		obs := &counter{}
		w := NewWorker(WorkerConfig{Outbox: ob, Client: &Client{URL: "http://ps/monitoring/{stationId}", Token: "secret",
			HTTP: &http.Client{Transport: memTransport{ps}}}, RetryMin: 100 * time.Millisecond, RetryMax: 2 * time.Second, Observer: obs})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); w.Run(ctx) }()

		ps.SetMode(petrosoft.ModeDown, 20*time.Second)
		for i := range 30 {
			for st := range 5 {
				ob.add(fmt.Sprint("st", st), body([]int{0, 2, 3, 5, 6}[i%5], int64(1000+i)))
			}
			w.Notify()
			time.Sleep(500 * time.Millisecond) // changes keep coming during the outage
		}
		time.Sleep(10 * time.Second)
		cancel()
		<-done
		n, _ := ob.OutboxDepth(ctx)
		assert.Zero(t, n, "everything delivered after the outage")
		for st := range 5 {
			got := ps.Pushes(fmt.Sprint("st", st))
			require.Len(t, got, 30, "station %d", st)
			for i, p := range got {
				assert.Equal(t, int64(1000+i), p.Time, "station %d in order", st)
			}
		}
		assert.Positive(t, obs.n["unreachable"])
		assert.Equal(t, 150, obs.n["delivered"])
	})
}

func TestWorkerRejectedIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps := petrosoft.New(petrosoft.Config{Token: "secret"})
		ob := &memOutbox{}
		obs := &counter{}
		w := NewWorker(WorkerConfig{Outbox: ob, Client: &Client{URL: "http://ps/monitoring", Token: "secret",
			HTTP: &http.Client{Transport: memTransport{ps}}}, RetryMin: time.Second, RetryMax: 4 * time.Second, Observer: obs})
		ps.SetMode(petrosoft.ModeReject, 10*time.Second)
		ob.add("a/b", body(0, 1))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); w.Run(ctx) }()
		time.Sleep(20 * time.Second)
		cancel()
		<-done
		require.Len(t, ps.Pushes("a/b"), 1, "station escaped into one path segment")
		assert.GreaterOrEqual(t, obs.n["rejected"], 3)
	})
}

func TestClientErrors(t *testing.T) {
	ps := petrosoft.New(petrosoft.Config{Token: "secret"})
	c := &Client{URL: "http://ps/monitoring/{stationId}", Token: "wrong", HTTP: &http.Client{Transport: memTransport{ps}}}
	err := c.Push(context.Background(), "s", body(0, 1))
	var pe *PushError
	require.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, err, ErrRejected)
	assert.Equal(t, 401, pe.Code)
	c.Token = "secret"
	err = c.Push(context.Background(), "s", []byte(`{"status":1,"time":1}`))
	assert.ErrorIs(t, err, ErrRejected)
	ps.SetMode(petrosoft.ModeDown, 0)
	err = c.Push(context.Background(), "s", body(0, 1))
	assert.ErrorIs(t, err, ErrTransport)
	assert.Contains(t, err.Error(), "push: ")
}

func TestAccepted(t *testing.T) {
	for body, want := range map[string]bool{
		`{"status":true,"success":true}`:             true,
		`{"status":true,"success":true,"data":null}`: true,
		`{"status":true}`:                            false,
		`{"status":true,"success":false}`:            false,
		`{"status":"true","success":true}`:           false,
		`[]`:                                         false,
		``:                                           false,
	} {
		assert.Equal(t, want, Accepted([]byte(body)), body)
	}
}

func TestBackoff(t *testing.T) {
	w := NewWorker(WorkerConfig{RetryMin: time.Second, RetryMax: 8 * time.Second})
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 10: 8 * time.Second} {
		got := w.Backoff(attempts)
		assert.InDelta(t, float64(want), float64(got), float64(want)/10+1, "attempts %d", attempts)
	}
}

func FuzzAccepted(f *testing.F) {
	f.Add([]byte(`{"status":true,"success":true}`))
	f.Add([]byte(`{"status":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if Accepted(b) {
			var m map[string]any
			if json.Unmarshal(b, &m) != nil || m["status"] != true || m["success"] != true {
				t.Fatalf("accepted %q", b)
			}
		}
	})
}
