package ingest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// gateStore records the batches it is given; the first one blocks until
// release is closed, so a backlog builds up behind it.
type gateStore struct {
	release chan struct{}
	mu      sync.Mutex
	batches [][]store.Uplink
}

func (g *gateStore) ApplyUplinks(_ context.Context, ups []store.Uplink) error {
	g.mu.Lock()
	first := len(g.batches) == 0
	g.batches = append(g.batches, append([]store.Uplink(nil), ups...))
	g.mu.Unlock()
	if first {
		<-g.release
	}
	return nil
}

// order is every uplink written after the first batch, in commit order, as
// "kind/modem/tag".
func (g *gateStore) order() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, b := range g.batches[1:] {
		for _, u := range b {
			out = append(out, tag(u))
		}
	}
	return out
}

func tag(u store.Uplink) string {
	switch u.Kind {
	case store.UpResult:
		return fmt.Sprintf("result/%d/%s", u.ModemID, u.Result.Status)
	case store.UpAudit:
		return fmt.Sprintf("audit/%d", u.ModemID)
	case store.UpPresence:
		return fmt.Sprintf("presence/%d/%d", u.ModemID, u.Presence.Epoch)
	}
	return fmt.Sprintf("kind%d/%d", u.Kind, u.ModemID)
}

func resultUp(modem int64, status string) store.Uplink {
	return store.Uplink{Kind: store.UpResult, ModemID: modem, Received: time.Now(),
		Result: &store.CommandResult{CommandID: fmt.Sprintf("c%d", modem), Status: status}}
}

func presenceUp(modem int64, epoch uint64) store.Uplink {
	return store.Uplink{Kind: store.UpPresence, ModemID: modem, Received: time.Now(),
		Presence: &store.Presence{Online: true, Epoch: epoch}}
}

// stalledWriter runs a Writer over a gateStore whose first batch (one
// heartbeat) is held until g.release is closed: what is pushed meanwhile
// waits in the lanes.
func stalledWriter(t *testing.T, cfg WriterConfig) (*Writer, *gateStore) {
	t.Helper()
	g := &gateStore{release: make(chan struct{})}
	w := NewWriter(g, cfg)
	go w.Run()
	require.NoError(t, w.Enqueue(context.Background(), heartbeatN(999, 1)))
	// Held once the store has the batch: an empty queue alone can mean the
	// writer is still gathering its batch, and would take what a test
	// enqueues next (a loaded CI machine saw TestLatestLaneBounded fail so).
	require.Eventually(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.batches) == 1
	}, 5*time.Second, time.Millisecond)
	require.Zero(t, w.Depth())
	return w, g
}

// heartbeatN is a heartbeat whose uptime n tells it apart.
func heartbeatN(modem int64, n int) store.Uplink {
	return store.Uplink{Kind: store.UpHeartbeat, ModemID: modem, Received: time.Now(),
		Heartbeat: &store.Heartbeat{Uptime: int64(n)}}
}

func index(t *testing.T, order []string, s string) int {
	t.Helper()
	for i, o := range order {
		if o == s {
			return i
		}
	}
	t.Fatalf("%s never written; order %v", s, order)
	return -1
}

// Behind a backlog of heartbeats, a command's answers are written in the
// first batch, in their order; an answer of a modem whose audit waits in the
// backlog stays behind that audit; heartbeats keep their order.
func TestCommandAnswersGoFirst(t *testing.T) {
	g := &gateStore{release: make(chan struct{})}
	const backlog = 300
	w := NewWriter(g, WriterConfig{MaxBatch: 64, QueueSize: 1024})
	go w.Run()
	ctx := context.Background()
	var cbs sync.WaitGroup
	submit := func(u store.Uplink) {
		cbs.Add(1)
		require.NoError(t, w.SubmitAsync(ctx, u, func(_ *store.Uplink, err error) { assert.NoError(t, err); cbs.Done() }))
	}
	// The writer takes this one and blocks in the store.
	submit(presenceUp(1000, 1))
	require.Eventually(t, func() bool { return w.Depth() == 0 }, 5*time.Second, time.Millisecond)

	for i := range backlog {
		require.NoError(t, w.Enqueue(ctx, heartbeatN(int64(i%50), i)))
	}
	submit(store.Uplink{Kind: store.UpAudit, ModemID: 7, Received: time.Now(),
		Audit: &store.Audit{Port: 1, Time: time.Now(), Data: []byte("x")}})
	for i := range backlog {
		require.NoError(t, w.Enqueue(ctx, heartbeatN(int64(50+i%50), backlog+i)))
	}
	submit(resultUp(5, "accepted"))
	submit(resultUp(7, "succeeded")) // its audit waits in the backlog
	submit(resultUp(5, "succeeded"))
	close(g.release)
	cbs.Wait()
	w.Close()

	order := g.order()
	first := len(g.batches[1])
	a, b := index(t, order, "result/5/accepted"), index(t, order, "result/5/succeeded")
	assert.Less(t, a, b, "answers of a command keep their order")
	assert.Less(t, b, first, "answers of an idle modem are in the first batch")
	assert.Less(t, index(t, order, "audit/7"), index(t, order, "result/7/succeeded"),
		"an answer never overtakes its modem's audit")
	// Heartbeats of one modem stay in order.
	last := map[int64]int64{}
	for _, b := range g.batches[1:] {
		for _, u := range b {
			if u.Kind != store.UpHeartbeat {
				continue
			}
			n, seen := last[u.ModemID]
			assert.True(t, !seen || u.Heartbeat.Uptime > n, "heartbeat order of modem %d", u.ModemID)
			last[u.ModemID] = u.Heartbeat.Uptime
		}
	}
	w.omu.Lock()
	assert.Empty(t, w.ordered, "every count dropped after its commit")
	w.omu.Unlock()
}

// Answers never starve the normal lane: with both lanes full, every batch
// carries normal uplinks too.
func TestPriorityLaneDoesNotStarve(t *testing.T) {
	w, g := stalledWriter(t, WriterConfig{MaxBatch: 16, QueueSize: 256})
	ctx := context.Background()
	for i := range 100 {
		require.NoError(t, w.Enqueue(ctx, heartbeatN(int64(i), 1)))
		require.NoError(t, w.Enqueue(ctx, resultUp(int64(1000+i), "succeeded")))
	}
	close(g.release)
	w.Close()
	for i, b := range g.batches[1:] {
		normal := 0
		for _, u := range b {
			if u.Kind == store.UpHeartbeat {
				normal++
			}
		}
		if i < 6 { // while both lanes still hold uplinks
			assert.GreaterOrEqual(t, normal, 8, "batch %d: %v", i+1, len(b))
		}
	}
}

// OnAnswers reports the committed answers of each batch, in order, before
// the submitter hears of the commit.
func TestOnAnswersBeforeSubmitReturns(t *testing.T) {
	g := &gateStore{release: make(chan struct{})}
	close(g.release)
	w := NewWriter(g, WriterConfig{})
	var (
		mu   sync.Mutex
		seen []string
	)
	w.OnAnswers(func(ups []store.Uplink) {
		mu.Lock()
		defer mu.Unlock()
		for _, u := range ups {
			seen = append(seen, tag(u))
		}
	})
	go w.Run()
	defer w.Close()
	ctx := context.Background()
	require.NoError(t, w.Submit(ctx, presenceUp(1, 1)))
	for _, st := range []string{"accepted", "succeeded"} {
		require.NoError(t, w.Submit(ctx, resultUp(2, st)))
		mu.Lock()
		last := seen[len(seen)-1]
		mu.Unlock()
		assert.Equal(t, "result/2/"+st, last, "told before Submit returned")
	}
	assert.Equal(t, []string{"result/2/accepted", "result/2/succeeded"}, seen, "answers only, in order")
}
