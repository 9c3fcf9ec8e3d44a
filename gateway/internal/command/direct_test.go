package command

import (
	"context"
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
	"vendgate/protocol"
)

// countingDB is the sqlite store (so the direct path is available) counting
// its dispatch reads.
type countingDB struct {
	*sqlite.DB
	dispatchable atomic.Int64
	gets         atomic.Int64
}

func (c *countingDB) GetCommand(ctx context.Context, id string) (store.Command, error) {
	c.gets.Add(1)
	return c.DB.GetCommand(ctx, id)
}

func (c *countingDB) Dispatchable(ctx context.Context, modemID int64, now time.Time) (store.Command, bool, error) {
	c.dispatchable.Add(1)
	return c.DB.Dispatchable(ctx, modemID, now)
}

// directEnv is a running service on a file database with one modem online.
type directEnv struct {
	s    *Service
	pub  *fakePub
	db   *countingDB
	path string
	mid  int64
	stop func()
}

func openDirect(t testing.TB, path string) *countingDB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return &countingDB{DB: db}
}

func startDirect(t *testing.T, db *countingDB, pub *fakePub, mid int64) (*Service, func()) {
	t.Helper()
	s := New(db, pub, nil, Config{AckTimeout: time.Minute, ExecTimeout: time.Minute, MaxAttempts: 3, Workers: 2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	waitFor(t, "the pending set to load", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.loaded
	})
	s.ModemReady(mid, imei)
	return s, stop
}

func newDirect(t *testing.T) *directEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.db")
	db := openDirect(t, path)
	m := &store.Modem{CompanyID: store.DefaultCompanyID, IMEI: imei, PasswordHash: "x", CreatedAt: time.Now()}
	require.NoError(t, db.CreateModem(context.Background(), m))
	pub := &fakePub{}
	s, stop := startDirect(t, db, pub, m.ID)
	e := &directEnv{s: s, pub: pub, db: db, path: path, mid: m.ID, stop: stop}
	e.warm(t)
	return e
}

// warm runs one command: with the store's fence intact (nobody else wrote
// since the service loaded), even the first command of a connection goes out
// directly, without a dispatch read.
func (e *directEnv) warm(t *testing.T) {
	t.Helper()
	c := submit(t, e.s, e.mid, "warm")
	require.Equal(t, store.CmdSent, c.State, "the fence vouches for the first command of a connection")
	require.Equal(t, []string{"warm"}, e.pub.ids())
	result(t, e.s, e.db, e.mid, "warm", protocol.StatusSucceeded)
	waitFor(t, "the modem to settle", func() bool { return !e.pending() })
	assert.Zero(t, e.db.dispatchable.Load(), "dispatch reads")
	e.pub.mu.Lock()
	e.pub.msgs = nil
	e.pub.mu.Unlock()
	e.db.dispatchable.Store(0)
}

func (e *directEnv) pending() bool {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	_, p := e.s.pending[e.mid]
	return p
}

// A command for an idle, connected modem goes out within Submit in one write,
// and its end settles the modem: no dispatch read at all.
func TestDirectSendSkipsDispatchReads(t *testing.T) {
	e := newDirect(t)
	for i := range 3 {
		id := fmt.Sprintf("c%d", i)
		c := submit(t, e.s, e.mid, id)
		require.Equal(t, []string{id}, e.pub.ids()[i:], "published before Submit returned")
		assert.Equal(t, store.CmdSent, c.State)
		stored := state(t, e.db, id)
		assert.Equal(t, stored, c, "Submit answers the stored row")
		assert.Equal(t, 1, stored.Attempts)
		assert.False(t, stored.SentAt.IsZero())
		_, ok := e.s.Final(id)
		assert.False(t, ok, "a live command is never cached")
		lc, ok := e.s.Live(id)
		require.True(t, ok, "in flight")
		assert.Equal(t, stored, lc)

		result(t, e.s, e.db, e.mid, id, protocol.StatusAccepted)
		_, ok = e.s.Final(id)
		assert.False(t, ok, "an acknowledged command is never cached")
		_, ok = e.s.Live(id)
		assert.True(t, ok, "acknowledged: still in flight")
		result(t, e.s, e.db, e.mid, id, protocol.StatusSucceeded)
		_, ok = e.s.Live(id)
		assert.False(t, ok, "ended")
		assert.False(t, e.pending(), "the end of the only command settles the modem")
		got, ok := e.s.Final(id)
		require.True(t, ok)
		assert.Equal(t, state(t, e.db, id), got, "Final is the stored final row")
	}
	// Let any dispatch that was (wrongly) queued run before counting.
	time.Sleep(50 * time.Millisecond)
	assert.Zero(t, e.db.dispatchable.Load(), "dispatch reads")
}

// Commands submitted at once to one modem still go out one at a time, in
// order, the first directly and the rest through the queue.
func TestDirectKeepsOneInFlight(t *testing.T) {
	e := newDirect(t)
	const n = 12
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { submit(t, e.s, e.mid, fmt.Sprintf("c%02d", i)) })
	}
	wg.Wait()
	seen := map[string]bool{}
	for k := range n {
		waitFor(t, fmt.Sprintf("command %d sent", k+1), func() bool { return len(e.pub.ids()) == k+1 })
		time.Sleep(20 * time.Millisecond) // a second send would show up here
		ids := e.pub.ids()
		require.Len(t, ids, k+1, "one in flight per modem")
		id := ids[k]
		require.False(t, seen[id], "%s sent twice", id)
		seen[id] = true
		live := 0
		for i := range n {
			if c := state(t, e.db, fmt.Sprintf("c%02d", i)); c.State == store.CmdSent || c.State == store.CmdAcknowledged {
				live++
			}
		}
		require.Equal(t, 1, live, "in flight in the store")
		result(t, e.s, e.db, e.mid, id, protocol.StatusSucceeded)
	}
	waitFor(t, "the modem to settle", func() bool { return !e.pending() })
	c := submit(t, e.s, e.mid, "after")
	assert.Equal(t, store.CmdSent, c.State, "an idle modem again gets its command at once")
}

// A repeated id returns the stored command and sends nothing new.
func TestDirectIdempotent(t *testing.T) {
	e := newDirect(t)
	first := submit(t, e.s, e.mid, "k1")
	result(t, e.s, e.db, e.mid, "k1", protocol.StatusSucceeded)
	again, created, err := e.s.Submit(context.Background(), Request{ID: "k1", ModemID: e.mid, Name: protocol.CmdCashlessMode,
		Args: protocol.CashlessModeArgs{Enabled: true}, TTL: time.Hour})
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, first.ID, again.ID)
	assert.Equal(t, store.CmdSucceeded, again.State)
	assert.Equal(t, []string{"k1"}, e.pub.ids())
	waitFor(t, "the modem to settle", func() bool { return !e.pending() })
}

// A command answered to its caller is in the database even when the process
// dies right after (another handle on the file sees it, no Close), and a
// restarted gateway resends it with the same id.
func TestDirectSurvivesRestart(t *testing.T) {
	e := newDirect(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { submit(t, e.s, e.mid, fmt.Sprintf("d%d", i)) })
	}
	wg.Wait()
	e.stop()

	db2 := openDirect(t, e.path) // the first handle stays open: a crash, not a shutdown
	sent := 0
	for i := range 8 {
		c := state(t, db2, fmt.Sprintf("d%d", i))
		if c.State == store.CmdSent {
			sent++
		} else {
			assert.Equal(t, store.CmdQueued, c.State)
		}
	}
	assert.Equal(t, 1, sent, "one in flight")
	first := e.pub.ids()[0]

	pub2 := &fakePub{}
	s2, _ := startDirect(t, db2, pub2, e.mid)
	waitFor(t, "the resend", func() bool { return len(pub2.ids()) == 1 })
	assert.Equal(t, first, pub2.ids()[0], "same id")
	assert.Equal(t, 2, state(t, db2, first).Attempts)
	for k := range 8 {
		waitFor(t, "the next command", func() bool { return len(pub2.ids()) == k+1 })
		result(t, s2, db2, e.mid, pub2.ids()[k], protocol.StatusSucceeded)
	}
	for i := range 8 {
		assert.Equal(t, store.CmdSucceeded, state(t, db2, fmt.Sprintf("d%d", i)).State)
	}
}

// Another worker sharing the database ends a command this one sent: this
// one never answers it from its cache with a state the store does not hold,
// and what it caches after is the store's final row.
func TestFinalNeverStaleAcrossWorkers(t *testing.T) {
	e := newDirect(t)
	submit(t, e.s, e.mid, "w1")
	other := New(e.db.DB, &fakePub{}, nil, Config{})
	// The other worker times the command out in the store.
	require.NoError(t, e.db.Finish(context.Background(), "w1", store.CmdTimedOut, "elsewhere", time.Now()))
	_, ok := e.s.Final("w1")
	assert.False(t, ok, "nothing cached for a command this worker did not see end")
	// A late succeeded from the modem is ignored by the store; this worker
	// still learns the end, and caches the store's row, not the modem's word.
	result(t, e.s, e.db, e.mid, "w1", protocol.StatusSucceeded)
	got, ok := e.s.Final("w1")
	require.True(t, ok)
	assert.Equal(t, store.CmdTimedOut, got.State)
	assert.Equal(t, state(t, e.db, "w1"), got)
	_, ok = other.Final("w1")
	assert.False(t, ok, "the other worker's cache holds only what it saw")
}

func TestFinalCacheBounded(t *testing.T) {
	f := newFinalCache(3)
	for i := range 5 {
		f.put(&store.Command{ID: fmt.Sprint(i), State: store.CmdSucceeded})
	}
	for i := range 5 {
		_, ok := f.get(fmt.Sprint(i))
		assert.Equal(t, i >= 2, ok, "entry %d", i)
	}
	assert.Len(t, f.m, 3)
}

// A modem that comes (back) may carry a command another worker sharing the
// store left in flight: until a dispatch read of this connection, Submit
// queues, and the dispatch resends the other worker's command first.
func TestDirectWaitsForVerifiedConnection(t *testing.T) {
	e := newDirect(t)
	e.s.ModemGone(e.mid)
	// Another worker sent a command to the modem while it was connected there.
	_, _, err := e.db.CreateSentCommand(context.Background(), store.Command{ID: "elsewhere", ModemID: e.mid,
		Name: string(protocol.CmdCashlessMode), Args: []byte(`{"enabled":true}`), CreatedAt: time.Now(),
		ExpiresAt: time.Now().Add(time.Hour)}, time.Now())
	require.NoError(t, err)
	e.s.ModemReady(e.mid, imei) // back here

	c := submit(t, e.s, e.mid, "mine")
	assert.Equal(t, store.CmdQueued, c.State, "not sent before the store was read")
	_, ok := e.s.Live("mine")
	assert.False(t, ok, "only commands sent directly are live")
	waitFor(t, "the other worker's command resent", func() bool { return len(e.pub.ids()) == 1 })
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, []string{"elsewhere"}, e.pub.ids(), "one in flight, the older one first")
	result(t, e.s, e.db, e.mid, "elsewhere", protocol.StatusSucceeded)
	waitFor(t, "mine sent", func() bool { return len(e.pub.ids()) == 2 })
	assert.Equal(t, "mine", e.pub.ids()[1])
}
