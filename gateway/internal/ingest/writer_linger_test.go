package ingest

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// batchStore records the size of every batch it is given and when.
type batchStore struct {
	mu    sync.Mutex
	sizes []int
	at    []time.Duration // since start
	start time.Time
}

func (b *batchStore) ApplyUplinks(_ context.Context, ups []store.Uplink) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sizes = append(b.sizes, len(ups))
	b.at = append(b.at, time.Since(b.start))
	return nil
}

func (b *batchStore) got() ([]int, []time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.sizes...), append([]time.Duration(nil), b.at...)
}

// lingering runs fn against a writer with a 50 ms linger and LingerBelow 4,
// in a bubble of fake time, and closes it after.
func lingering(t *testing.T, fn func(w *Writer, st *batchStore)) {
	synctest.Test(t, func(t *testing.T) {
		st := &batchStore{start: time.Now()}
		w := NewWriter(st, WriterConfig{Linger: 50 * time.Millisecond, LingerBelow: 4})
		go w.Run()
		fn(w, st)
		w.Close()
	})
}

func TestLingerHoldsALoneUplink(t *testing.T) {
	lingering(t, func(w *Writer, st *batchStore) {
		acked := make(chan error, 1)
		require.NoError(t, w.SubmitAsync(context.Background(), heartbeatN(1, 1), func(_ *store.Uplink, err error) { acked <- err }))
		time.Sleep(49 * time.Millisecond)
		synctest.Wait()
		sizes, _ := st.got()
		assert.Empty(t, sizes, "still lingering")
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		sizes, at := st.got()
		require.Equal(t, []int{1}, sizes)
		assert.Equal(t, 50*time.Millisecond, at[0])
		require.NoError(t, <-acked)
	})
}

func TestLingerEndsWhenTheBatchIsFull(t *testing.T) {
	lingering(t, func(w *Writer, st *batchStore) {
		ctx := context.Background()
		require.NoError(t, w.Enqueue(ctx, heartbeatN(1, 1)))
		time.Sleep(10 * time.Millisecond)
		for i := 2; i <= 4; i++ {
			require.NoError(t, w.Enqueue(ctx, heartbeatN(int64(i), i)))
		}
		synctest.Wait()
		sizes, at := st.got()
		require.Equal(t, []int{4}, sizes)
		assert.Equal(t, 10*time.Millisecond, at[0], "committed as soon as it held LingerBelow")
		// Presences and hellos (the latest lane) count too.
		require.NoError(t, w.Enqueue(ctx, heartbeatN(1, 5)))
		for i := 2; i <= 4; i++ {
			require.NoError(t, w.Enqueue(ctx, store.Uplink{Kind: store.UpPresence, ModemID: int64(i), Received: time.Now(),
				Presence: &store.Presence{Online: true, Epoch: 1}}))
		}
		synctest.Wait()
		sizes, at = st.got()
		require.Equal(t, []int{4, 4}, sizes)
		assert.Equal(t, 10*time.Millisecond, at[1])
	})
}

func TestLingerNeverHoldsWhatSomeoneWaitsFor(t *testing.T) {
	t.Run("answer joins", func(t *testing.T) {
		lingering(t, func(w *Writer, st *batchStore) {
			ctx := context.Background()
			require.NoError(t, w.Enqueue(ctx, heartbeatN(1, 1)))
			time.Sleep(5 * time.Millisecond)
			require.NoError(t, w.SubmitAsync(ctx, resultUp(2, "accepted"), func(*store.Uplink, error) {}))
			synctest.Wait()
			sizes, at := st.got()
			require.Equal(t, []int{2}, sizes, "the answer takes the lingering heartbeat along")
			assert.Equal(t, 5*time.Millisecond, at[0])
		})
	})
	t.Run("answer first", func(t *testing.T) {
		lingering(t, func(w *Writer, st *batchStore) {
			require.NoError(t, w.SubmitAsync(context.Background(), resultUp(2, "succeeded"), func(*store.Uplink, error) {}))
			synctest.Wait()
			sizes, at := st.got()
			require.Equal(t, []int{1}, sizes)
			assert.Zero(t, at[0])
		})
	})
	t.Run("Submit", func(t *testing.T) {
		lingering(t, func(w *Writer, st *batchStore) {
			ctx := context.Background()
			require.NoError(t, w.Enqueue(ctx, heartbeatN(1, 1)))
			time.Sleep(5 * time.Millisecond)
			require.NoError(t, w.Submit(ctx, heartbeatN(2, 2)))
			sizes, at := st.got()
			require.Equal(t, []int{2}, sizes)
			assert.Equal(t, 5*time.Millisecond, at[0])
		})
	})
	t.Run("close", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st := &batchStore{start: time.Now()}
			w := NewWriter(st, WriterConfig{Linger: time.Hour})
			go w.Run()
			require.NoError(t, w.Enqueue(context.Background(), heartbeatN(1, 1)))
			time.Sleep(time.Millisecond)
			w.Close() // returns after the drain
			sizes, at := st.got()
			require.Equal(t, []int{1}, sizes)
			assert.Equal(t, time.Millisecond, at[0])
		})
	})
}
