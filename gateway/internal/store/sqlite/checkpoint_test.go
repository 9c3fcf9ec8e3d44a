package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blobSize makes each test transaction write about 15 pages (overflow pages
// of one row), so a hundred transactions make a WAL of megabytes.
const blobSize = 60000

// withCheckpointCfg sets the checkpointer's configuration for the databases
// the test opens. Open copies it, so a database of another test that is
// still open never reads it.
func withCheckpointCfg(t *testing.T, cfg checkpointConfig) {
	t.Helper()
	old := checkpointCfg
	checkpointCfg = cfg
	t.Cleanup(func() { checkpointCfg = old })
}

// openCkpt opens a fresh migrated database file in dir and creates the test
// table in it. It returns the database and its path.
func openCkpt(t *testing.T, dir string) (*DB, string) {
	t.Helper()
	db := openIn(t, dir)
	require.NoError(t, db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE ckpt_test (id INTEGER PRIMARY KEY, b BLOB NOT NULL)`)
		return err
	}))
	require.NotNil(t, db.ckpt, "a file database has a checkpointer")
	return db, filepath.Join(dir, "vendgate.db")
}

// fill commits n transactions of one blob row each, through DB.write as the
// store's writes go. after, if set, runs after each commit.
func fill(t *testing.T, db *DB, n int, after func()) {
	t.Helper()
	for range n {
		require.NoError(t, db.write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO ckpt_test (b) VALUES (zeroblob(?))`, blobSize)
			return err
		}))
		if after != nil {
			after()
		}
	}
}

// prober reports the log's state from a connection of its own, without
// copying anything (PRAGMA wal_checkpoint(NOOP)).
func prober(t *testing.T, path string) func() walState {
	t.Helper()
	p, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	p.SetMaxOpenConns(1)
	t.Cleanup(func() { p.Close() })
	return func() walState {
		var st walState
		var busy int
		require.NoError(t, p.QueryRowContext(ctx, `PRAGMA wal_checkpoint(NOOP)`).Scan(&busy, &st.log, &st.copied))
		st.busy = busy != 0
		return st
	}
}

func walSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(t, err)
	return fi.Size()
}

// rows is what a reader connection sees of the test table.
func rows(t *testing.T, db *DB) (n, bytes int64) {
	t.Helper()
	r, err := db.reader()
	require.NoError(t, err)
	require.NoError(t, r.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(length(b)), 0) FROM ckpt_test`).Scan(&n, &bytes))
	return n, bytes
}

const waitFor, pollEvery = 20 * time.Second, 2 * time.Millisecond

// The writer connection never checkpoints: with the checkpointer idle, a log
// well past SQLite's autocheckpoint threshold (1000 frames) is left
// uncopied.
func TestWriterNeverCheckpoints(t *testing.T) {
	withCheckpointCfg(t, checkpointConfig{Pages: 1 << 40, RestartPages: 1 << 40, TruncateBytes: 1 << 40,
		Tick: time.Hour, BusyTimeout: 100 * time.Millisecond})
	db, path := openCkpt(t, t.TempDir())
	probe := prober(t, path)

	var auto int
	require.NoError(t, db.w.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto))
	assert.Zero(t, auto, "writer's wal_autocheckpoint")

	fill(t, db, 80, nil)
	st := probe()
	assert.Greater(t, st.log, int64(1000), "frames in the log")
	assert.Zero(t, st.copied, "frames copied by a commit")
	assert.Zero(t, db.ckpt.passives.Load())
	n, _ := rows(t, db)
	assert.EqualValues(t, 80, n)
}

// A commit through DB.write wakes the checkpointer once enough frames wait
// (the fallback tick is out of the picture here).
func TestCommitWakesCheckpointer(t *testing.T) {
	withCheckpointCfg(t, checkpointConfig{Pages: 64, RestartPages: 1 << 40, TruncateBytes: 1 << 40,
		Tick: time.Hour, BusyTimeout: 100 * time.Millisecond})
	db, path := openCkpt(t, t.TempDir())
	probe := prober(t, path)
	fill(t, db, 10, nil) // ~150 frames
	require.Eventually(t, func() bool { return db.ckpt.passives.Load() > 0 }, waitFor, pollEvery)
	assert.Positive(t, probe().copied)
}

// The checkpointer copies the log after the writer's commits, and the
// writer's next transaction then rewinds it: a second round of writes of the
// same size reuses the file instead of doubling it.
func TestCheckpointerRewindsWAL(t *testing.T) {
	withCheckpointCfg(t, checkpointConfig{Pages: 64, RestartPages: 1 << 40, TruncateBytes: 1 << 40,
		Tick: 10 * time.Millisecond, BusyTimeout: 100 * time.Millisecond})
	db, path := openCkpt(t, t.TempDir())
	probe := prober(t, path)
	caughtUp := func() bool { st := probe(); return st.log > 0 && st.pending() == 0 }

	const round = 40
	fill(t, db, round, nil)
	require.Eventually(t, caughtUp, waitFor, pollEvery, "checkpointer copies the whole log")
	first, size1 := probe(), walSize(t, path)
	assert.Positive(t, db.ckpt.passives.Load())
	n, b := rows(t, db)
	assert.EqualValues(t, round, n)
	assert.EqualValues(t, round*blobSize, b)

	fill(t, db, round, nil)
	require.Eventually(t, caughtUp, waitFor, pollEvery, "checkpointer copies the whole log")
	second, size2 := probe(), walSize(t, path)
	// Without a rewind the second round would append as many frames again.
	assert.Less(t, second.log, first.log*3/2, "log rewound: %d frames after round 1, %d after round 2", first.log, second.log)
	assert.Less(t, size2, size1*3/2, "WAL file reused: %d bytes after round 1, %d after round 2", size1, size2)
	n, b = rows(t, db)
	assert.EqualValues(t, 2*round, n)
	assert.EqualValues(t, 2*round*blobSize, b)
	assert.NoError(t, db.ckpt.err())
}

// A writer that commits back to back never leaves the log fully copied at
// the start of its next transaction, so only the checkpointer's restarts keep
// the file from growing for as long as it writes.
func TestCheckpointerBoundsWALUnderLoad(t *testing.T) {
	withCheckpointCfg(t, checkpointConfig{Pages: 32, RestartPages: 128, TruncateBytes: 1 << 40,
		Tick: time.Hour, BusyTimeout: 100 * time.Millisecond})
	// How far the writer gets ahead between two restarts is the time of
	// the checkpoints' fsyncs times its commit rate: on a shared disk that
	// is the disk's load, not the checkpointer's logic, so this one test
	// runs where fsyncs are free (tmpfs when there is one).
	db, path := openCkpt(t, fastTempDir(t))

	const txns = 200
	var largest int64
	fill(t, db, txns, func() { largest = max(largest, walSize(t, path)) })
	written := int64(txns * blobSize)
	t.Logf("largest WAL %d bytes for %d bytes written; %d passive, %d restarts, %d busy",
		largest, written, db.ckpt.passives.Load(), db.ckpt.restarts.Load(), db.ckpt.busy.Load())
	// Restarts every 128 frames (0.5 MiB) keep it far lower when the
	// checkpointer keeps up; half of what was written is what a WAL that is
	// never rewound would exceed, whatever the machine's load.
	assert.Less(t, largest, written/2, "WAL stays bounded")
	n, _ := rows(t, db)
	assert.EqualValues(t, txns, n)
	assert.NoError(t, db.ckpt.err())
}

// A writer that began its transaction before the log was fully copied
// appends to it instead of rewinding it, so under a busy writer only the
// checkpointer's forced RESTART (holding the writer pool) rewinds the log.
func TestForcedRestartRewindsBusyWritersLog(t *testing.T) {
	withCheckpointCfg(t, checkpointConfig{Pages: 1 << 40, RestartPages: 64, TruncateBytes: 1 << 40,
		Tick: time.Hour, BusyTimeout: 100 * time.Millisecond})
	db, path := openCkpt(t, t.TempDir())
	probe := prober(t, path)
	c := db.ckpt
	c.cancel() // the test drives the checkpointer's steps itself
	<-c.done

	fill(t, db, 10, nil) // ~150 frames, over RestartPages
	before := probe()
	require.Greater(t, before.log, int64(64))

	// The writer's transaction is open while the checkpoint copies.
	tx, err := db.w.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `INSERT INTO ckpt_test (b) VALUES (zeroblob(?))`, blobSize)
	require.NoError(t, err)
	stepped := make(chan error, 1)
	go func() { stepped <- c.step(context.Background(), 1) }()
	require.Eventually(t, func() bool { return c.passives.Load() > 0 }, waitFor, pollEvery)
	select {
	case err := <-stepped:
		t.Fatalf("step returned (%v) while the writer was in a transaction", err)
	default: // waiting for the writer pool, or about to
	}
	require.NoError(t, tx.Commit()) // hands the writer connection to the checkpointer
	require.NoError(t, <-stepped)
	assert.EqualValues(t, 1, c.restarts.Load())
	assert.Positive(t, c.held.Load())

	fill(t, db, 1, nil)
	after := probe()
	// Rewound: only the last transaction's frames. Without the restart the
	// log would hold everything before plus two transactions.
	assert.Less(t, after.log, before.log/2, "log rewound: %d frames before, %d after", before.log, after.log)
	n, _ := rows(t, db)
	assert.EqualValues(t, 12, n)
}

// Once a burst left a WAL file over TruncateBytes and it has been copied,
// the checkpointer truncates it.
func TestCheckpointerTruncates(t *testing.T) {
	withCheckpointCfg(t, checkpointConfig{Pages: 64, RestartPages: 1 << 40, TruncateBytes: 256 << 10,
		Tick: 10 * time.Millisecond, BusyTimeout: 100 * time.Millisecond})
	db, path := openCkpt(t, t.TempDir())
	// One transaction, so no checkpoint can run before the file is large.
	require.NoError(t, db.write(ctx, func(tx *sql.Tx) error {
		for range 25 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO ckpt_test (b) VALUES (zeroblob(?))`, blobSize); err != nil {
				return err
			}
		}
		return nil
	}))
	require.Greater(t, walSize(t, path), int64(1<<20))
	require.Eventually(t, func() bool { return db.ckpt.truncates.Load() > 0 }, waitFor, pollEvery)
	assert.Zero(t, walSize(t, path))
	n, _ := rows(t, db)
	assert.EqualValues(t, 25, n)
	assert.NoError(t, db.ckpt.err())
}

// Close while the checkpointer may be busy with a long log: it stops it,
// and closing the last connection copies the rest and removes the WAL, so
// the file alone holds every committed row.
func TestCloseWithBusyWAL(t *testing.T) {
	withCheckpointCfg(t, checkpointConfig{Pages: 16, RestartPages: 128, TruncateBytes: 1 << 40,
		Tick: time.Millisecond, BusyTimeout: 100 * time.Millisecond})
	db, path := openCkpt(t, t.TempDir())
	fill(t, db, 50, nil)
	require.NoError(t, db.Close())
	_, err := os.Stat(path + "-wal")
	assert.True(t, os.IsNotExist(err), "WAL removed at close: %v", err)

	// The main file alone (copied away from any -wal/-shm) has every row.
	alone := filepath.Join(t.TempDir(), "copy.db")
	img, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(alone, img, 0o600))
	db2, err := Open(ctx, alone)
	require.NoError(t, err)
	defer db2.Close()
	n, b := rows(t, db2)
	assert.EqualValues(t, 50, n)
	assert.EqualValues(t, 50*blobSize, b)
	var ok string
	r, err := db2.reader()
	require.NoError(t, err)
	require.NoError(t, r.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ok))
	assert.Equal(t, "ok", ok)
}

// An in-memory database has no WAL and so no checkpointer; writes and Close
// work as before.
func TestMemoryHasNoCheckpointer(t *testing.T) {
	db, err := Open(ctx, MemoryPath)
	require.NoError(t, err)
	assert.Nil(t, db.ckpt)
	require.NoError(t, db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE ckpt_test (id INTEGER PRIMARY KEY, b BLOB NOT NULL)`)
		return err
	}))
	fill(t, db, 3, nil)
	n, _ := rows(t, db)
	assert.EqualValues(t, 3, n)
	require.NoError(t, db.Close())
}
