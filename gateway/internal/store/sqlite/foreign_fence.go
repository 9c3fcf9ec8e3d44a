package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"time"

	"vendgate/gateway/internal/store"
)

// Command fences (store.CommandFencer). The command service knows which
// modems have unfinished commands from one read at start plus the commands it
// creates itself; that knowledge is complete only while nobody else creates
// commands. Two kinds of "somebody else" exist:
//
//   - another connection to the database file (a second gateway process on
//     the same data directory, a tool): every write of this DB goes through
//     its one writer connection (sqlite.go; the read pools are query_only),
//     so SQLite's PRAGMA data_version on that connection changes exactly when
//     another connection committed. A temporary table holding a random token
//     detects that database/sql replaced the writer connection (a new
//     connection has its own data_version count): the table is then missing.
//   - another caller of this same DB (a second command service in the
//     process, a test): every command row written by the command methods
//     (create, mark sent, finish, expire) is counted (cmdGroup.writes), and
//     those made through the fence are counted apart. Command answers
//     (ApplyUplinks) are not: their writer reports them to the holder itself.
//
// Both are checked inside the transaction of the fenced insert, which holds
// the write lock (BEGIN IMMEDIATE), so nothing can commit between the check
// and the insert; Holds checks them after the fact.

const (
	qFenceTable = `CREATE TEMP TABLE IF NOT EXISTS vg_fence_conn (token INTEGER NOT NULL)`
	qFenceToken = `SELECT token FROM temp.vg_fence_conn`
	qFenceSet   = `INSERT INTO temp.vg_fence_conn (token) VALUES (?)`
	qFenceCheck = `SELECT (SELECT data_version FROM pragma_data_version()), (SELECT token FROM temp.vg_fence_conn)`
)

// cmdFence is a started fence.
type cmdFence struct {
	d       *DB
	version int64 // data_version of the writer connection at the start
	token   int64 // the writer connection's token
	base    int64 // cmdGroup.writes at the start
	mine    atomic.Int64
}

var _ store.CommandFencer = (*DB)(nil)

// CommandFence starts a fence (store.CommandFencer).
func (d *DB) CommandFence(ctx context.Context) (store.CommandFence, error) {
	f := &cmdFence{d: d}
	g := d.cmdGroup()
	err := d.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, qFenceTable); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, qFenceToken).Scan(&f.token)
		if errors.Is(err, sql.ErrNoRows) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			f.token = int64(binary.LittleEndian.Uint64(b[:])>>1) | 1
			_, err = tx.ExecContext(ctx, qFenceSet, f.token)
		}
		if err != nil {
			return err
		}
		var token sql.NullInt64
		if err := tx.QueryRowContext(ctx, qFenceCheck).Scan(&f.version, &token); err != nil {
			return err
		}
		// Read under the write lock: no insert of this DB is under way.
		f.base = g.writes.Load()
		return nil
	})
	if err != nil {
		return nil, dbErr("command fence", err)
	}
	// Compiled once, outside any transaction (see prepare).
	d.stmtMu.Lock()
	_, ok := d.stmts[qFenceCheck]
	d.stmtMu.Unlock()
	if !ok {
		if err := d.prepare(ctx, qFenceCheck); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// holds reports, inside a writer transaction, whether nobody but the fence's
// holder created a command since the fence started. Any doubt (an error, a
// replaced connection) is a no.
func (f *cmdFence) holds(ctx context.Context, t *wtx) bool {
	if !f.own() {
		return false
	}
	r, ok := t.fenceCheck(ctx)
	return ok && f.same(r)
}

// own: every command write of this DB since the start was the holder's.
func (f *cmdFence) own() bool { return f.d.cmdGroup().writes.Load()-f.base == f.mine.Load() }

// fenceRow is what qFenceCheck reads: the writer connection's data_version
// and its token (not valid: the token table is missing).
type fenceRow struct {
	version int64
	token   sql.NullInt64
}

func scanFence(row *sql.Row) (fenceRow, bool) {
	var r fenceRow
	if err := row.Scan(&r.version, &r.token); err != nil {
		return fenceRow{}, false
	}
	return r, true
}

// same: the writer connection is the one of the start and no other
// connection committed since.
func (f *cmdFence) same(r fenceRow) bool {
	return r.version == f.version && r.token.Valid && r.token.Int64 == f.token
}

// fenceCheck returns the fence check's row for t's transaction, reading it
// once: every fenced insert of a group transaction needs it, and neither
// value can change while the transaction holds the write lock (data_version
// moves only when another connection commits, which the lock excludes; the
// token table is written only by CommandFence, in a transaction of its own).
// A failed read is not kept: the next fenced insert reads again.
func (t *wtx) fenceCheck(ctx context.Context) (fenceRow, bool) {
	if t.fenceRead {
		return t.fence, true
	}
	st, err := t.stmt(ctx, qFenceCheck)
	if err != nil {
		return fenceRow{}, false
	}
	r, ok := scanFence(st.QueryRowContext(ctx))
	if ok {
		t.fence, t.fenceRead = r, true
	}
	return r, ok
}

// Holds reports whether nobody but the holder wrote commands since the start
// (another connection: any commit at all), as of now; false on any doubt. A
// fence that stopped holding never holds again.
func (f *cmdFence) Holds(ctx context.Context) bool {
	if !f.own() || f.d.closed.Load() {
		return false
	}
	f.d.stmtMu.Lock()
	st := f.d.stmts[qFenceCheck]
	f.d.stmtMu.Unlock()
	if st == nil {
		return false
	}
	r, ok := scanFence(st.QueryRowContext(ctx))
	return ok && f.same(r)
}

// MarkSent is DB.MarkSent, counted as the holder's own.
func (f *cmdFence) MarkSent(ctx context.Context, id string, at time.Time) error {
	return f.d.markSent(ctx, id, at, &f.mine)
}

// Finish is DB.Finish, counted as the holder's own.
func (f *cmdFence) Finish(ctx context.Context, id string, state store.CommandState, msg string, at time.Time) error {
	return f.d.finish(ctx, id, state, msg, at, &f.mine)
}

// ExpireDue is DB.ExpireDue, counted as the holder's own.
func (f *cmdFence) ExpireDue(ctx context.Context, now time.Time) ([]store.Command, error) {
	return f.d.expireDue(ctx, now, &f.mine)
}

// CreateCommand is DB.CreateCommand, counted as the holder's own.
func (f *cmdFence) CreateCommand(ctx context.Context, c store.Command) (store.Command, bool, error) {
	c.State = store.CmdQueued
	c.Attempts, c.SentAt = 0, time.Time{}
	return f.d.createCommand(ctx, c, "create command", nil, &f.mine)
}

// CreateSentCommand is DB.CreateSentCommand, counted as the holder's own.
func (f *cmdFence) CreateSentCommand(ctx context.Context, c store.Command, at time.Time) (store.Command, bool, error) {
	c.State = store.CmdSent
	c.Attempts, c.SentAt = 1, at
	return f.d.createCommand(ctx, c, "create sent command", nil, &f.mine)
}

// CreateSentCommandIfHolds is CreateSentCommand made only while the fence
// holds (store.ErrFenceBroken otherwise, nothing written).
func (f *cmdFence) CreateSentCommandIfHolds(ctx context.Context, c store.Command, at time.Time) (store.Command, bool, error) {
	c.State = store.CmdSent
	c.Attempts, c.SentAt = 1, at
	return f.d.createCommand(ctx, c, "create sent command", f, &f.mine)
}
