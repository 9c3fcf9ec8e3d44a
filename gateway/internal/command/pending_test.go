package command

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"vendgate/gateway/internal/store"
)

func TestQueueKeepsEveryModemOnce(t *testing.T) {
	q := newQueue()
	const n = 10000 // more than any fixed channel buffer we ever used
	for range 2 {
		for i := range n {
			q.push(int64(i))
		}
	}
	seen := make(map[int64]bool)
	var order []int64
	for {
		id, ok := q.pop()
		if !ok {
			break
		}
		if seen[id] {
			t.Fatalf("modem %d popped twice", id)
		}
		seen[id] = true
		order = append(order, id)
	}
	if len(order) != n {
		t.Fatalf("popped %d modems, want %d", len(order), n)
	}
	for i, id := range order {
		if id != int64(i) {
			t.Fatalf("position %d holds %d: kicks must be served in order", i, id)
		}
	}
	q.push(7) // a kick after draining is served again
	if id, ok := q.pop(); !ok || id != 7 {
		t.Fatalf("pop after drain: %d %v", id, ok)
	}
}

// lookups counts the dispatch queries per modem.
type lookups struct {
	store.Store
	mu sync.Mutex
	n  map[int64]int
}

func (l *lookups) Dispatchable(ctx context.Context, modemID int64, now time.Time) (store.Command, bool, error) {
	l.mu.Lock()
	l.n[modemID]++
	l.mu.Unlock()
	return l.Store.Dispatchable(ctx, modemID, now)
}

func (l *lookups) count(modemID int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[modemID]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// After a restart, modems that come back get what was queued for them; modems
// with nothing queued cost no store query, and neither does a modem whose
// command finished.
func TestRestartDeliversQueuedAndSkipsIdle(t *testing.T) {
	s, pub, clk, db, first := setup(t)
	ctx := context.Background()
	const modems = 120
	ids := []int64{first}
	imeis := map[int64]string{first: imei}
	for i := 1; i < modems; i++ {
		m := &store.Modem{CompanyID: store.DefaultCompanyID, IMEI: fmt.Sprintf("35693803564%04d", i), PasswordHash: "x",
			CreatedAt: clk.now()}
		if err := db.CreateModem(ctx, m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
		imeis[m.ID] = m.IMEI
	}
	// Before the restart: every third modem gets a command while offline.
	want := map[int64]bool{}
	for i, id := range ids {
		if i%3 == 0 {
			submit(t, s, id, fmt.Sprintf("cmd-%d", id))
			want[id] = true
		}
	}

	count := &lookups{Store: db, n: map[int64]int{}}
	s2 := New(count, pub, nil, Config{Now: clk.now, Workers: 2})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s2.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the pending set to load", func() bool {
		s2.mu.Lock()
		defer s2.mu.Unlock()
		return s2.loaded
	})
	for _, id := range ids {
		s2.ModemReady(id, imeis[id])
	}
	waitFor(t, "every queued command sent", func() bool { return len(pub.ids()) == len(want) })
	for _, id := range ids {
		if got := count.count(id); want[id] && got == 0 {
			t.Errorf("modem %d has a command but was not looked up", id)
		} else if !want[id] && got != 0 {
			t.Errorf("idle modem %d cost %d look-ups", id, got)
		}
	}
	// A finished command settles its modem: the next reconnect is free.
	var done1 int64
	for id := range want {
		done1 = id
		break
	}
	result(t, s2, db, done1, fmt.Sprintf("cmd-%d", done1), "succeeded")
	waitFor(t, "the modem to settle", func() bool {
		s2.mu.Lock()
		defer s2.mu.Unlock()
		_, p := s2.pending[done1]
		return !p
	})
	before := count.count(done1)
	s2.ModemGone(done1)
	s2.ModemReady(done1, imeis[done1])
	// A new command for a modem of the same worker (queues are FIFO) proves
	// that a kick of done1, had there been one, was served.
	same := ids[0]
	for _, id := range ids {
		if !want[id] && id%2 == done1%2 {
			same = id
			break
		}
	}
	s2.ModemReady(same, imeis[same])
	submit(t, s2, same, "late")
	waitFor(t, "the late command", func() bool { return len(pub.ids()) == len(want)+1 })
	if got := count.count(done1); got != before {
		t.Errorf("a settled modem's reconnect cost %d look-ups", got-before)
	}
}
