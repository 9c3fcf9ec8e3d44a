package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// checkpointConfig tunes the checkpointer. Frame counts are WAL frames, one
// database page each (4 KiB by default).
type checkpointConfig struct {
	// Pages is how many committed frames may wait in the WAL before a
	// commit's wake-up runs a PASSIVE checkpoint: SQLite's own
	// wal_autocheckpoint default (1000), which the writer no longer runs.
	Pages int64
	// RestartPages is the length of the log (frames since it last restarted
	// from its beginning) at which the checkpointer forces a restart. A busy
	// writer keeps committing while a PASSIVE checkpoint copies, so the log
	// is never found fully copied at the start of a write transaction, the
	// only moment SQLite rewinds it, and the file would grow for as long as
	// the writer stays busy. A forced restart holds the writer for two
	// fsyncs (see restart), so the fewer the better; 8x Pages keeps the file
	// near 32 MiB (4 KiB pages) under a sustained load.
	RestartPages int64
	// TruncateBytes is the WAL file size above which the file is truncated
	// once fully copied: a rewound log reuses the file but never shrinks it,
	// so one large burst (a migration, a long reader pinning the log) would
	// keep its disk space for good. Above what RestartPages lets a busy
	// writer reach, so that sustained load does not truncate and regrow it.
	TruncateBytes int64
	// Tick is the fallback wake-up: commits that do not go through
	// DB.write wake nobody, and an idle database gets its last frames
	// copied (and so fsynced: synchronous=NORMAL syncs the WAL only at
	// checkpoints) within Tick.
	Tick time.Duration
	// BusyTimeout is the busy_timeout of the checkpointer's connection: how
	// long a RESTART waits for readers to leave the log while it holds the
	// writer, and how long a TRUNCATE waits for the writer's lock (PASSIVE
	// never waits).
	BusyTimeout time.Duration
}

// checkpointCfg is what Open gives the checkpointer; a variable so that tests
// can shrink it (set before Open, copied at Open).
var checkpointCfg = checkpointConfig{
	Pages:         1000,
	RestartPages:  8000,
	TruncateBytes: 64 << 20,
	Tick:          time.Second,
	BusyTimeout:   100 * time.Millisecond,
}

// Checkpoint modes, as PRAGMA wal_checkpoint spells them.
const (
	ckptNoop     = "NOOP" // only reports the log's state (SQLite 3.51+)
	ckptPassive  = "PASSIVE"
	ckptRestart  = "RESTART"
	ckptTruncate = "TRUNCATE"
)

// walState is the row PRAGMA wal_checkpoint returns.
type walState struct {
	busy   bool  // the checkpoint could not finish: readers or a writer were in the way
	log    int64 // frames in the log since it last restarted from its beginning
	copied int64 // of which copied into the database file
}

// pending is how many committed frames are not yet in the database file.
func (s walState) pending() int64 { return s.log - s.copied }

// checkpointer copies the write-ahead log into the database file on a
// connection and goroutine of its own. The writer connection runs with
// wal_autocheckpoint(0): with SQLite's default, the commit that takes the log
// past 1000 frames copies them all and fsyncs the WAL and the database file
// before COMMIT returns, and the gateway's single writer, its bottleneck,
// spent ~9% of a reconnect storm there (and lost its P at each system call).
// The writer now only wakes the checkpointer (DB.write, a non-blocking send).
type checkpointer struct {
	cfg     checkpointConfig
	walPath string
	w       *sql.DB // the writer pool, held for the short restarts (see restart)
	db      *sql.DB // the checkpointer's own pool, of one connection
	conn    *sql.Conn
	stmts   map[string]*sql.Stmt // PRAGMA wal_checkpoint(mode) on conn

	wake   chan struct{} // cap 1: pokes coalesce, the sender never blocks
	cancel context.CancelFunc
	done   chan struct{}

	// What it did, for tests and diagnostics.
	passives, restarts, truncates, busy, failures atomic.Int64
	held                                          atomic.Int64 // ns the writer pool was held by restarts
	lastErr                                       atomic.Pointer[error]
}

// startCheckpointer starts the checkpointer of a file database whose writer
// d.w is open. It leaves d.ckpt nil when the database is not in WAL mode (a
// file system without shared memory support): then there is no log to copy.
func (d *DB) startCheckpointer(ctx context.Context) error {
	var mode string
	if err := d.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return nil
	}
	cfg := checkpointCfg
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.BusyTimeout.Milliseconds()))
	// Checkpoints sync as the connection running them says: the WAL before
	// copying, the database file after, as the writer's did.
	q.Add("_pragma", "synchronous(NORMAL)")
	db, err := sql.Open("sqlite", d.path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("sqlite: open checkpointer: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	c := &checkpointer{
		cfg:     cfg,
		walPath: d.path + "-wal",
		w:       d.w,
		db:      db,
		stmts:   make(map[string]*sql.Stmt),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	if c.conn, err = db.Conn(ctx); err != nil {
		db.Close()
		return fmt.Errorf("sqlite: open checkpointer: %w", err)
	}
	for _, m := range []string{ckptNoop, ckptPassive, ckptRestart, ckptTruncate} {
		s, err := c.conn.PrepareContext(ctx, "PRAGMA wal_checkpoint("+m+")")
		if err != nil {
			c.closeConns()
			return fmt.Errorf("sqlite: prepare checkpoint %s: %w", m, err)
		}
		c.stmts[m] = s
	}
	// Not ctx: that of Open ends with Open, the checkpointer lives until Close.
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(runCtx)
	d.ckpt = c
	return nil
}

// poke tells the checkpointer that a transaction committed. It never blocks
// and costs the writer one channel operation; c may be nil (no WAL).
func (c *checkpointer) poke() {
	if c == nil {
		return
	}
	select {
	case c.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// stop ends the goroutine, interrupting a checkpoint or wait in progress,
// and closes the connection. Closing the last connection of the database
// then checkpoints what is left, as it always did. c may be nil.
func (c *checkpointer) stop() {
	if c == nil {
		return
	}
	c.cancel()
	<-c.done
	c.closeConns()
}

func (c *checkpointer) closeConns() {
	for _, s := range c.stmts {
		s.Close()
	}
	if c.conn != nil {
		c.conn.Close()
	}
	c.db.Close()
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(c.cfg.Tick)
	defer t.Stop()
	for {
		atLeast := c.cfg.Pages
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-t.C:
			atLeast = 1 // idle or not, copy whatever waits
		}
		if err := c.step(ctx, atLeast); err != nil && ctx.Err() == nil {
			c.failures.Add(1)
			c.lastErr.Store(&err)
		}
	}
}

// step checkpoints once at least atLeast frames wait in the log.
func (c *checkpointer) step(ctx context.Context, atLeast int64) error {
	st, err := c.checkpoint(ctx, ckptNoop)
	if err != nil || st.log < 0 || st.pending() < atLeast {
		return err // log < 0: not in WAL mode
	}
	if st, err = c.checkpoint(ctx, ckptPassive); err != nil {
		return err
	}
	c.passives.Add(1)
	switch {
	case st.log >= c.cfg.RestartPages:
		// The log is not being rewound: the writer committed during every
		// copy. Copy the tail once more, so that little is left to copy while
		// the writer is held, then restart the log.
		if st.pending() > 0 {
			if _, err := c.checkpoint(ctx, ckptPassive); err != nil {
				return err
			}
			c.passives.Add(1)
		}
		return c.restart(ctx)
	case st.pending() == 0 && c.walSize() > c.cfg.TruncateBytes:
		return c.truncate(ctx)
	}
	return nil
}

// restart rewinds the log with a RESTART checkpoint. That takes SQLite's
// writer lock; polled through the busy handler, the lock would almost never
// be caught free from a writer that commits back to back (its gap between
// transactions is microseconds), so the checkpointer first takes the writer
// pool's only connection, which database/sql hands it at the writer's next
// commit. The writer then waits, parked in database/sql rather than sleeping
// in SQLite's busy handler, while the checkpoint copies what the PASSIVE
// passes before it left (the frames of about one transaction), fsyncs the
// WAL and the database file, and waits for readers still in the log (at
// most cfg.BusyTimeout): 30-45 ms on the development VM's disk, once per
// cfg.RestartPages frames.
func (c *checkpointer) restart(ctx context.Context) error {
	hold, err := c.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: checkpoint: hold writer: %w", err)
	}
	start := time.Now()
	defer func() {
		hold.Close()
		c.held.Add(int64(time.Since(start)))
	}()
	st, err := c.checkpoint(ctx, ckptRestart)
	if err != nil {
		return err
	}
	if st.busy {
		c.busy.Add(1) // a reader stayed in the log; the next round retries
	} else {
		c.restarts.Add(1)
	}
	return nil
}

// truncate shrinks a fully copied WAL file to nothing with a TRUNCATE
// checkpoint. Unlike restart it does not hold the writer: a writer in a
// transaction makes it give up after cfg.BusyTimeout (the writer is not held
// meanwhile) and it is retried at the next checkpoint that copies everything,
// so the file shrinks once the writer pauses. Truncating a large file takes
// tens of milliseconds (~90 ms for 64 MiB on the development VM), too long to
// hold a busy writer for.
func (c *checkpointer) truncate(ctx context.Context) error {
	st, err := c.checkpoint(ctx, ckptTruncate)
	if err != nil {
		return err
	}
	if st.busy {
		c.busy.Add(1)
	} else {
		c.truncates.Add(1)
	}
	return nil
}

// checkpoint runs PRAGMA wal_checkpoint(mode) on the checkpointer's
// connection.
func (c *checkpointer) checkpoint(ctx context.Context, mode string) (walState, error) {
	var st walState
	var busy int
	err := c.stmts[mode].QueryRowContext(ctx).Scan(&busy, &st.log, &st.copied)
	if err != nil {
		return st, fmt.Errorf("sqlite: checkpoint %s: %w", strings.ToLower(mode), err)
	}
	st.busy = busy != 0
	return st, nil
}

// walSize is the size of the -wal file, 0 when it cannot be read (the
// decision it feeds, whether to truncate, is then simply not taken).
func (c *checkpointer) walSize() int64 {
	fi, err := os.Stat(c.walPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// err returns the last error the checkpointer met, if any.
func (c *checkpointer) err() error {
	if p := c.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// CheckpointStats is what the checkpointer has done since Open.
type CheckpointStats struct {
	Passive, Restart, Truncate int64         // checkpoints that finished, by mode
	Busy                       int64         // restarts and truncations a reader or the writer kept from finishing
	Failed                     int64         // checkpoints that failed with an error
	WriterHeld                 time.Duration // time the writer waited for restarts in all
}

// CheckpointStats reports the checkpointer's counters (all zero for a
// database without a WAL, e.g. in memory).
func (d *DB) CheckpointStats() CheckpointStats {
	c := d.ckpt
	if c == nil {
		return CheckpointStats{}
	}
	return CheckpointStats{Passive: c.passives.Load(), Restart: c.restarts.Load(), Truncate: c.truncates.Load(),
		Busy: c.busy.Load(), Failed: c.failures.Load(), WriterHeld: time.Duration(c.held.Load())}
}
