package sqlite

import (
	"context"
	"sync"
	"sync/atomic"

	msqlite "modernc.org/sqlite"
)

// The modem cache of ApplyUplinks. Every batch needs, for each of its modems,
// the machine it is bound to and its stored presence (epoch, online): one
// query over the batch's modem ids (qModems), ~0.8 ms for the 200 modems of a
// flood batch, 12 % of the writer's time. The batch keeps those values
// current as it writes presences, so after a commit they are exactly what
// the rows hold, and the next batch can start from them instead of reading
// again, as long as nothing else changed those rows in between:
//
//   - another write transaction of this DB: every one goes through DB.write
//     (the read pools are query_only), which bumps gen while it holds the
//     writer connection, so no batch can run between the bump and its
//     commit. Command writes (groupWrite, Finish, ExpireDue) do not bump:
//     they change only the commands table, which has no triggers;
//   - another connection to the file (a second process, a tool): SQLite's
//     PRAGMA data_version on the writer connection changes exactly when
//     another connection commits; read at the start of each batch, under the
//     write lock (BEGIN IMMEDIATE), so nothing commits between the check and
//     the batch;
//   - a new writer connection (database/sql replaces one the driver reported
//     broken): its data_version counts from its own start, so the check
//     would not see what another process committed before; every opening of
//     a writer connection counts (writerOpened), and a count that moved
//     empties the cache.
//
// A batch that fails leaves the cache as it was (its rows were rolled back);
// one that commits stores what it learned. Batches run one at a time
// (modemCache.apply, held from before a batch's transaction until its states
// are stored), so the next batch always starts from the previous one's.

// qDataVersion is prepared at Open (uplinkQueries).
const qDataVersion = `PRAGMA data_version`

// modemCache is a DB's cache of modem states between batches.
type modemCache struct {
	apply sync.Mutex // held by ApplyUplinks throughout

	mu      sync.Mutex
	gen     uint64 // bumped by every other write transaction (DB.write)
	valid   bool
	atGen   uint64 // gen, data_version and writer openings the states are valid for
	version int64
	opens   int64
	m       map[int64]modemState

	hits, misses atomic.Int64 // batches that started from the cache or without it (tests)
}

// bump tells the cache that a write transaction other than a batch's is
// under way; called while it holds the writer connection.
func (c *modemCache) bump() {
	c.mu.Lock()
	c.gen++
	c.mu.Unlock()
}

// cacheView is what a batch took from the cache: the states valid for its
// transaction (nil: none) and the tags to store its own under.
type cacheView struct {
	states  map[int64]modemState
	gen     uint64
	version int64
	opens   int64
}

// view returns the cached states if they are still valid for a transaction
// that read data_version version with the writer opened opens times.
func (c *modemCache) view(version, opens int64) cacheView {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := cacheView{gen: c.gen, version: version, opens: opens}
	if c.valid && c.atGen == c.gen && c.version == version && c.opens == opens {
		v.states = c.m
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return v
}

// store keeps the states of a committed batch. A write transaction that ran
// after the batch's (gen moved) leaves the cache empty. The batch's states
// join the ones it started from; otherwise they start the cache afresh.
// An emptied map is kept for the states to come: it has grown to the
// fleet's size, and nothing else holds it (view hands it only to the batch
// that calls store).
func (c *modemCache) store(v cacheView, states map[int64]*modemState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != v.gen {
		c.valid = false
		clear(c.m)
		return
	}
	if v.states == nil || !c.valid {
		if c.m == nil {
			c.m = make(map[int64]modemState, len(states))
		} else {
			clear(c.m)
		}
	}
	for id, st := range states {
		if st != nil {
			c.m[id] = modemState{vmID: st.vmID, epoch: st.epoch, online: st.online}
		}
	}
	c.valid, c.atGen, c.version, c.opens = true, v.gen, v.version, v.opens
}

// writerOpens counts, per writer DSN, the connections the driver opened for
// it: a writer pool has one, and a second one means database/sql replaced it.
var writerOpens sync.Map // DSN → *atomic.Int64

func init() {
	msqlite.RegisterConnectionHook(func(_ msqlite.ExecQuerierContext, dsn string) error {
		if n, ok := writerOpens.Load(dsn); ok {
			n.(*atomic.Int64).Add(1)
		}
		return nil
	})
}

// writerOpened returns the counter of connections opened for the writer
// DSN; call before the pool opens its first one.
func writerOpened(dsn string) *atomic.Int64 {
	n, _ := writerOpens.LoadOrStore(dsn, new(atomic.Int64))
	return n.(*atomic.Int64)
}

// cached returns the cache's view for the batch's transaction: its states
// when they are still valid (load starts from them), and the tags to store
// the batch's own under after its commit.
func (b *batch) cached(ctx context.Context) (cacheView, error) {
	var version int64
	s, err := b.stmt(qDataVersion)
	if err != nil {
		return cacheView{}, err
	}
	if err := s.QueryRowContext(ctx).Scan(&version); err != nil {
		return cacheView{}, err
	}
	return b.d.mc.view(version, b.d.wOpens.Load()), nil
}
