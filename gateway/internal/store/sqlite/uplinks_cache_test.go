package sqlite

import (
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// cacheEnv is one modem bound to machine vm1, and a second machine vm2.
type cacheEnv struct {
	db       *DB
	dir      string
	modem    int64
	vm1, vm2 store.Machine
	seq      int
}

func newCacheEnv(t *testing.T) *cacheEnv {
	t.Helper()
	dir := fastTempDir(t)
	e := &cacheEnv{db: openIn(t, dir), dir: dir}
	e.modem = benchModems(t, e.db, 1)[0]
	vm, err := e.db.GetMachineByModem(ctx, e.modem)
	require.NoError(t, err)
	e.vm1 = vm
	e.vm2 = store.Machine{Name: "second", CreatedAt: t0}
	require.NoError(t, e.db.CreateMachine(ctx, &e.vm2, false))
	return e
}

// event stores one event of the modem through db and returns the machine it
// was recorded for.
func (e *cacheEnv) event(t *testing.T, db *DB) int64 {
	t.Helper()
	e.seq++
	id := fmt.Sprintf("c%d", e.seq)
	tm := t0.Add(time.Duration(e.seq) * time.Second)
	require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{{Kind: store.UpEvent, ModemID: e.modem, Received: tm,
		Event: &store.Event{MsgID: id, Code: "DOOR", Time: tm}}}))
	var vm int64
	require.NoError(t, e.db.w.QueryRow(`SELECT vm_id FROM events WHERE modem_id = ? AND msg_id = ?`, e.modem, id).Scan(&vm))
	return vm
}

// move binds the modem to vm2 through db.
func (e *cacheEnv) move(t *testing.T, db *DB) {
	t.Helper()
	e.vm1.ModemID = nil
	require.NoError(t, db.UpdateMachine(ctx, e.vm1, false))
	e.vm2.ModemID = &e.modem
	require.NoError(t, db.UpdateMachine(ctx, e.vm2, false))
}

func TestModemCacheServesTheNextBatch(t *testing.T) {
	e := newCacheEnv(t)
	assert.Equal(t, e.vm1.ID, e.event(t, e.db))
	hits := e.db.mc.hits.Load()
	assert.Equal(t, e.vm1.ID, e.event(t, e.db))
	assert.Equal(t, hits+1, e.db.mc.hits.Load(), "the second batch needs no read")
}

// Each kind of change between batches empties the cache, and the next event
// is recorded for the machine the modem is in now.
func TestModemCacheFollowsChanges(t *testing.T) {
	t.Run("this process", func(t *testing.T) {
		e := newCacheEnv(t)
		require.Equal(t, e.vm1.ID, e.event(t, e.db))
		e.move(t, e.db)
		assert.Equal(t, e.vm2.ID, e.event(t, e.db))
	})
	t.Run("another process", func(t *testing.T) {
		e := newCacheEnv(t)
		// Opened first: its connections are in place before the cache
		// fills, so only data_version can tell.
		other, err := Open(ctx, filepath.Join(e.dir, "vendgate.db"))
		require.NoError(t, err)
		defer other.Close()
		require.Equal(t, e.vm1.ID, e.event(t, e.db))
		e.move(t, other)
		misses := e.db.mc.misses.Load()
		assert.Equal(t, e.vm2.ID, e.event(t, e.db))
		assert.Equal(t, misses+1, e.db.mc.misses.Load())
	})
	t.Run("presence from elsewhere", func(t *testing.T) {
		// A presence written outside the batches (the bulk offline of a
		// shutdown) must not be undone by a cached online flag.
		e := newCacheEnv(t)
		on := []store.Uplink{{Kind: store.UpPresence, ModemID: e.modem, Received: t0,
			Presence: &store.Presence{Online: true, Epoch: 5}}}
		require.NoError(t, e.db.ApplyUplinks(ctx, on))
		n, err := e.db.MarkOffline(ctx, []store.ConnEpoch{{ModemID: e.modem, Epoch: 5}})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		// The same presence again: with a stale "online, epoch 5" the batch
		// would skip it as a repeat and leave the modem offline.
		require.NoError(t, e.db.ApplyUplinks(ctx, on))
		m, err := e.db.GetModem(ctx, e.modem)
		require.NoError(t, err)
		assert.True(t, m.Online)
	})
	t.Run("new writer connection", func(t *testing.T) {
		e := newCacheEnv(t)
		require.Equal(t, e.vm1.ID, e.event(t, e.db))
		// database/sql drops a connection its driver calls bad and opens a
		// new one, whose data_version counts from its own start.
		conn, err := e.db.w.Conn(ctx)
		require.NoError(t, err)
		require.ErrorIs(t, conn.Raw(func(any) error { return driver.ErrBadConn }), driver.ErrBadConn)
		conn.Close()
		misses := e.db.mc.misses.Load()
		assert.Equal(t, e.vm1.ID, e.event(t, e.db))
		assert.Equal(t, misses+1, e.db.mc.misses.Load(), "a new writer connection reads again")
	})
}

// Command writes (create, mark sent, finish, expire) change no cached
// value, so the next batch still starts from the cache.
func TestModemCacheKeptByCommandWrites(t *testing.T) {
	e := newCacheEnv(t)
	require.Equal(t, e.vm1.ID, e.event(t, e.db))
	hits := e.db.mc.hits.Load()
	_, _, err := e.db.CreateCommand(ctx, store.Command{ID: "x", ModemID: e.modem, Name: "reboot", CreatedAt: t0,
		ExpiresAt: t0.Add(time.Second)})
	require.NoError(t, err)
	_, _, err = e.db.CreateSentCommand(ctx, store.Command{ID: "y", ModemID: e.modem, Name: "reboot", CreatedAt: t0}, t0)
	require.NoError(t, err)
	require.NoError(t, e.db.Finish(ctx, "y", store.CmdTimedOut, "late", t0))
	expired, err := e.db.ExpireDue(ctx, t0.Add(time.Minute))
	require.NoError(t, err)
	require.Len(t, expired, 1)
	assert.Equal(t, e.vm1.ID, e.event(t, e.db))
	assert.Equal(t, hits+1, e.db.mc.hits.Load(), "the batch after the command writes needs no read")
}

// The cache's map is emptied, not made again, when a change elsewhere
// voids it: a modem the next batch does not name must not come back from it
// with the state from before the change.
func TestModemCacheEmptiedOnChange(t *testing.T) {
	e := newCacheEnv(t)
	other := store.Modem{IMEI: "869999999999999", CreatedAt: t0}
	require.NoError(t, e.db.CreateModem(ctx, &other))
	require.Equal(t, e.vm1.ID, e.event(t, e.db)) // cached: the modem in vm1
	e.move(t, e.db)                              // voids the cache
	require.NoError(t, e.db.ApplyUplinks(ctx, []store.Uplink{{Kind: store.UpEvent, ModemID: other.ID, Received: t0,
		Event: &store.Event{MsgID: "other", Code: "DOOR", Time: t0}}})) // fills it afresh, without the modem
	hits := e.db.mc.hits.Load()
	assert.Equal(t, e.vm2.ID, e.event(t, e.db))
	assert.Equal(t, hits+1, e.db.mc.hits.Load(), "the batch started from the cache")
}

// Batches from several goroutines at once (the store is safe for concurrent
// use) each start from the states the one before committed: a modem that
// flips online and offline in every batch ends as the last batch left it,
// and the cache is never read while being written (go test -race).
func TestModemCacheConcurrentBatches(t *testing.T) {
	e := newCacheEnv(t)
	const workers, rounds = 4, 25
	var epoch atomic.Uint64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				n := epoch.Add(1)
				tm := t0.Add(time.Duration(n) * time.Second)
				err := e.db.ApplyUplinks(ctx, []store.Uplink{
					{Kind: store.UpPresence, ModemID: e.modem, Received: tm, Presence: &store.Presence{Online: true, Epoch: n}},
					{Kind: store.UpEvent, ModemID: e.modem, Received: tm, Event: &store.Event{MsgID: fmt.Sprintf("k%d", n), Time: tm}},
					{Kind: store.UpPresence, ModemID: e.modem, Received: tm, Presence: &store.Presence{Online: n%2 == 0, Epoch: n}},
				})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	m, err := e.db.GetModem(ctx, e.modem)
	require.NoError(t, err)
	// The highest epoch wins whatever the order; its second presence decides.
	var last uint64
	require.NoError(t, e.db.w.QueryRow(`SELECT epoch FROM modems WHERE id = ?`, e.modem).Scan(&last))
	assert.Equal(t, uint64(workers*rounds), last)
	assert.Equal(t, last%2 == 0, m.Online)
	events, _, _, err := e.db.CountUplinks(ctx, e.modem)
	require.NoError(t, err)
	assert.Equal(t, workers*rounds, events)
}
