package ingest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/sqlite"
)

func helloUp(modem int64, firmware, phone string, at time.Time) store.Uplink {
	return store.Uplink{Kind: store.UpHello, ModemID: modem, Received: at,
		Hello: &store.Hello{Firmware: firmware, Phone: phone, Bus: "mdb", HBInterval: 30}}
}

// With the normal lane full and the writer stuck in the store, presences and
// hellos are still taken at once (a reconnecting modem's read loop goes on),
// while a heartbeat waits for room.
func TestLatestLaneNeverWaits(t *testing.T) {
	w, g := stalledWriter(t, WriterConfig{MaxBatch: 8, QueueSize: 4})
	ctx := context.Background()
	for i := range 4 {
		require.NoError(t, w.Enqueue(ctx, heartbeatN(int64(i), 1)))
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, w.Enqueue(short, heartbeatN(5, 1)), context.DeadlineExceeded, "the normal lane is full")

	var told atomic.Int64
	const modems = 2000
	now := time.Now()
	for m := range int64(modems) {
		require.NoError(t, w.Enqueue(short, presenceUp(m, 1)))
		require.NoError(t, w.SubmitAsync(short, presenceUp(m, 1), func(_ *store.Uplink, err error) { assert.NoError(t, err); told.Add(1) }))
		require.NoError(t, w.SubmitAsync(short, helloUp(m, "fw", "", now), func(_ *store.Uplink, err error) { assert.NoError(t, err); told.Add(1) }))
	}
	assert.Equal(t, 4+2*modems, w.Depth(), "one waiting presence and one hello per modem")
	close(g.release)
	w.Close()
	assert.EqualValues(t, 2*modems, told.Load(), "every submitter told once")
	written := 0
	for _, b := range g.batches[1:] {
		written += len(b)
	}
	assert.Equal(t, 4+2*modems, written, "merged presences written once")
}

// A modem whose waiting uplink carries maxAlso merged ones goes to the
// normal lane: it waits there like any other uplink.
func TestLatestLaneBounded(t *testing.T) {
	w, g := stalledWriter(t, WriterConfig{MaxBatch: 8, QueueSize: 1})
	ctx := context.Background()
	require.NoError(t, w.Enqueue(ctx, heartbeatN(1, 1))) // the normal lane is full
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	for i := range maxAlso + 1 {
		require.NoError(t, w.SubmitAsync(short, helloUp(7, fmt.Sprint(i), "", time.Now()), func(*store.Uplink, error) {}), "hello %d", i)
	}
	require.ErrorIs(t, w.SubmitAsync(short, helloUp(7, "late", "", time.Now()), func(*store.Uplink, error) { t.Error("told") }),
		context.DeadlineExceeded)
	close(g.release)
	w.Close()
}

// gatedDB is a real store whose first batch waits for release, so that what
// is pushed meanwhile waits in the lanes and merges.
type gatedDB struct {
	*sqlite.DB
	release chan struct{}
	once    sync.Once
}

func (g *gatedDB) ApplyUplinks(ctx context.Context, ups []store.Uplink) error {
	g.once.Do(func() { <-g.release })
	return g.DB.ApplyUplinks(ctx, ups)
}

// Writing random presences and hellos through the lane, merged while the
// writer is held up, leaves every modem's row exactly as writing them one by
// one in arrival order does.
func TestLatestLaneSameAsInOrder(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			merged, _ := openDB(t)
			plain, _ := openDB(t)
			const modems = 4
			var ids, plainIDs []int64
			for i := range modems {
				for _, db := range []*sqlite.DB{merged, plain} {
					m := &store.Modem{CompanyID: store.DefaultCompanyID, IMEI: fmt.Sprintf("35693803564%04d", i),
						PasswordHash: "x", CreatedAt: time.Now()}
					require.NoError(t, db.CreateModem(ctx, m))
					if db == merged {
						ids = append(ids, m.ID)
					} else {
						plainIDs = append(plainIDs, m.ID)
					}
				}
			}
			rng := rand.New(rand.NewPCG(seed, 1))
			base := time.UnixMilli(1_790_000_000_000)
			var ups []store.Uplink
			for i := range 300 {
				m := rng.IntN(modems)
				at := base.Add(time.Duration(rng.IntN(1000)) * time.Millisecond) // not monotonic on purpose
				if rng.IntN(2) == 0 {
					u := presenceUp(int64(m), uint64(1+rng.IntN(5)))
					u.Presence.Online = rng.IntN(2) == 0
					u.Received = at
					ups = append(ups, u)
				} else {
					phone := ""
					if rng.IntN(3) == 0 {
						phone = fmt.Sprint("+7", rng.IntN(100))
					}
					ups = append(ups, helloUp(int64(m), fmt.Sprint("fw", i), phone, at))
				}
			}

			g := &gatedDB{DB: merged, release: make(chan struct{})}
			w := NewWriter(g, WriterConfig{MaxBatch: 16})
			go w.Run()
			var told, pushes atomic.Int64
			// The writer is held up while the pushes merge; the gate opens
			// once they stall (a push waiting for room, or for a modem's
			// own presence to be taken) or all are in.
			finished := make(chan struct{})
			go func() {
				defer close(finished)
				for i, u := range ups {
					u.ModemID = ids[u.ModemID]
					var err error
					if i%3 == 0 {
						err = w.Enqueue(ctx, u)
						told.Add(1)
					} else {
						err = w.SubmitAsync(ctx, u, func(_ *store.Uplink, err error) { assert.NoError(t, err); told.Add(1) })
					}
					assert.NoError(t, err)
					pushes.Add(1)
				}
			}()
			for last := int64(-1); ; {
				select {
				case <-finished:
				case <-time.After(20 * time.Millisecond):
					if n := pushes.Load(); n != last {
						last = n
						continue
					}
				}
				break
			}
			close(g.release)
			<-finished
			w.Close()
			require.EqualValues(t, len(ups), told.Load())

			// One transaction applies its uplinks one by one, in order.
			inOrder := make([]store.Uplink, len(ups))
			for i, u := range ups {
				u.ModemID = plainIDs[u.ModemID]
				inOrder[i] = u
			}
			require.NoError(t, plain.ApplyUplinks(ctx, inOrder))
			for i := range modems {
				a, err := merged.GetModem(ctx, ids[i])
				require.NoError(t, err)
				b, err := plain.GetModem(ctx, plainIDs[i])
				require.NoError(t, err)
				assert.Equal(t, [4]any{b.Online, b.Epoch, b.Firmware, b.Phone}, [4]any{a.Online, a.Epoch, a.Firmware, a.Phone}, "modem %d", i)
				assert.True(t, a.LastSeen.Equal(b.LastSeen), "modem %d last seen %v, want %v", i, a.LastSeen, b.LastSeen)
			}
		})
	}
}

// A modem's own offline (its will) is written before the presence of its
// next connection, which waits for it: the drop stays visible. The broker's
// own presences merge.
func TestLatestLaneKeepsModemOffline(t *testing.T) {
	w, g := stalledWriter(t, WriterConfig{MaxBatch: 8})
	ctx := context.Background()

	offline := presenceUp(1, 10)
	offline.Presence.Online = false
	require.NoError(t, w.SubmitAsync(ctx, offline, func(*store.Uplink, error) {})) // the will
	brokerOff := presenceUp(1, 10)
	brokerOff.Presence.Online = false
	require.NoError(t, w.Enqueue(ctx, brokerOff), "same connection, same news: merges")
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, w.Enqueue(short, presenceUp(1, 11)), context.DeadlineExceeded,
		"the next connection's presence waits for the will to be taken")
	done := make(chan error, 1)
	go func() { done <- w.Enqueue(ctx, presenceUp(1, 11)) }()
	close(g.release)
	require.NoError(t, <-done)
	w.Close()
	var seen []string
	for _, b := range g.batches[1:] {
		for _, u := range b {
			if u.Kind == store.UpPresence {
				seen = append(seen, fmt.Sprintf("%d/%v", u.Presence.Epoch, u.Presence.Online))
			}
		}
	}
	assert.Equal(t, []string{"10/false", "11/true"}, seen)
}
