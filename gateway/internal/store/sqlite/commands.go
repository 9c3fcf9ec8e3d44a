package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"vendgate/gateway/internal/store"
)

const commandCols = `id, modem_id, vm_id, user_id, name, args, state, status, code, message, result,
	attempts, created_at, sent_at, acked_at, done_at, expires_at`

// The command writes of every round trip, prepared at Open (commandQueries).
const (
	// A negative vm_id (store.MachineOfModem) records the modem's machine
	// as of this transaction; RETURNING gives it back, and no row when the
	// id was taken.
	qCmdInsert = `INSERT INTO commands (id, modem_id, vm_id, user_id, name, args, state,
		created_at, expires_at, sent_at, attempts) VALUES (?1, ?2,
		CASE WHEN ?3 < 0 THEN coalesce((SELECT id FROM machines WHERE modem_id = ?2), 0) ELSE ?3 END,
		?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (id) DO NOTHING RETURNING vm_id`
	qCmdGet      = `SELECT ` + commandCols + ` FROM commands WHERE id = ?`
	qCmdMarkSent = `UPDATE commands SET state = 'sent', sent_at = ?, attempts = attempts + 1
		WHERE id = ? AND state IN ('queued', 'sent')`
	qCmdFinish = `UPDATE commands SET state = ?, message = ?, done_at = ?
		WHERE id = ? AND state IN ` + liveStates
)

// commandQueries are prepared at Open.
var commandQueries = []string{qCmdInsert, qCmdGet, qCmdMarkSent, qCmdFinish}

// liveStates are the non-terminal states, as an SQL list.
const liveStates = `('queued', 'sent', 'acknowledged')`

func scanCommand(s scanner) (store.Command, error) {
	var (
		c                                 store.Command
		state                             string
		args, result                      []byte
		created, sent, acked, done, expir int64
	)
	err := s.Scan(&c.ID, &c.ModemID, &c.VMID, &c.UserID, &c.Name, &args, &state, &c.Status, &c.Code, &c.Message,
		&result, &c.Attempts, &created, &sent, &acked, &done, &expir)
	if err != nil {
		return c, err
	}
	c.State = store.CommandState(state)
	c.Args, c.Result = toRaw(args), toRaw(result)
	c.CreatedAt, c.SentAt, c.AckedAt, c.DoneAt, c.ExpiresAt = tm(created), tm(sent), tm(acked), tm(done), tm(expir)
	return c, nil
}

// CreateCommand inserts c as queued (CreatedAt now when unset; the progress
// fields are reset). When a command with c.ID exists it returns that one and
// created false. A modem that does not exist gives store.ErrNotFound.
// Concurrent creates share a transaction (commands_group.go); each returns
// after its command committed.
func (d *DB) CreateCommand(ctx context.Context, c store.Command) (store.Command, bool, error) {
	c.State = store.CmdQueued
	c.Attempts, c.SentAt = 0, time.Time{}
	return d.createCommand(ctx, c, "create command", nil, nil)
}

// createCommand inserts c in the state, attempts and sent time it carries.
// fence, when set, must hold in the transaction (store.ErrFenceBroken
// otherwise, nothing inserted); mine, when set, counts the insert as a fence
// holder's own (foreign_fence.go).
func (d *DB) createCommand(ctx context.Context, c store.Command, op string, fence *cmdFence,
	mine *atomic.Int64) (store.Command, bool, error) {
	if c.ID == "" {
		return store.Command{}, false, fmt.Errorf("sqlite: %s: empty id", op)
	}
	c.CreatedAt = nowOr(c.CreatedAt)
	c.Status, c.Code, c.Message, c.Result = "", 0, "", nil
	c.AckedAt, c.DoneAt = time.Time{}, time.Time{}
	o := &createOp{c: c, op: op, fence: fence, mine: mine, g: d.cmdGroup()}
	if err := d.groupWrite(ctx, o); err != nil {
		return store.Command{}, false, err
	}
	if o.created {
		// The row is c: answer without reading it back.
		return storedForm(o.c), true, nil
	}
	return o.c, false, nil
}

// createOp is createCommand's write (a txOp): one allocation holds the
// command, what its transaction needs and the outcome.
type createOp struct {
	// c is the command to insert; once run, with the machine recorded, or
	// the stored command when its id existed.
	c       store.Command
	op      string
	fence   *cmdFence
	mine    *atomic.Int64
	g       *cmdGroup
	created bool
}

func (o *createOp) run(ctx context.Context, t *wtx) error {
	c := &o.c
	if o.fence != nil && !o.fence.holds(ctx, t) {
		return fmt.Errorf("sqlite: create sent command %q: %w", c.ID, store.ErrFenceBroken)
	}
	ins, err := t.stmt(ctx, qCmdInsert)
	if err != nil {
		return dbErr(o.op, err)
	}
	var vm int64
	err = ins.QueryRowContext(ctx, c.ID, c.ModemID, c.VMID, c.UserID, c.Name, rawJSON(c.Args), string(c.State),
		ms(c.CreatedAt), ms(c.ExpiresAt), ms(c.SentAt), c.Attempts).Scan(&vm)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return dbErr(o.op, err)
	}
	if err == nil {
		c.VMID = vm
		o.g.counted(1, o.mine)
		o.created = true
		return nil
	}
	get, err := t.stmt(ctx, qCmdGet)
	if err != nil {
		return dbErr(o.op, err)
	}
	stored, err := scanCommand(get.QueryRowContext(ctx, c.ID))
	if err != nil {
		return dbErr(o.op, err)
	}
	*c = stored
	return nil
}

// storedForm is c as GetCommand would return it once inserted: times in UTC
// milliseconds, empty JSON as nil.
func storedForm(c store.Command) store.Command {
	c.CreatedAt, c.SentAt, c.AckedAt, c.DoneAt, c.ExpiresAt = tm(ms(c.CreatedAt)), tm(ms(c.SentAt)), tm(ms(c.AckedAt)),
		tm(ms(c.DoneAt)), tm(ms(c.ExpiresAt))
	c.Args, c.Result = toRaw(c.Args), toRaw(c.Result)
	return c
}

// GetCommand returns the command with that id.
func (d *DB) GetCommand(ctx context.Context, id string) (store.Command, error) {
	r, err := d.reader()
	if err != nil {
		return store.Command{}, err
	}
	c, err := scanCommand(r.QueryRowContext(ctx, `SELECT `+commandCols+` FROM commands WHERE id = ?`, id))
	return c, dbErr("get command", err)
}

// NextCommand returns the modem's oldest (by CreatedAt, then ID) queued command
// that has not expired (ExpiresAt zero or not before now) when none of its
// commands is sent or acknowledged.
func (d *DB) NextCommand(ctx context.Context, modemID int64, now time.Time) (store.Command, bool, error) {
	r, err := d.reader()
	if err != nil {
		return store.Command{}, false, err
	}
	c, err := scanCommand(r.QueryRowContext(ctx, `SELECT `+commandCols+` FROM commands
		WHERE modem_id = ?1 AND state = 'queued' AND (expires_at = 0 OR expires_at >= ?2)
		AND NOT EXISTS (SELECT 1 FROM commands WHERE modem_id = ?1 AND state IN ('sent', 'acknowledged'))
		ORDER BY created_at, id LIMIT 1`, modemID, ms(now)))
	return found(c, err, "next command")
}

// InFlight returns the modem's command that is sent or acknowledged, if any (the
// oldest, should there be more than one).
func (d *DB) InFlight(ctx context.Context, modemID int64) (store.Command, bool, error) {
	r, err := d.reader()
	if err != nil {
		return store.Command{}, false, err
	}
	c, err := scanCommand(r.QueryRowContext(ctx, `SELECT `+commandCols+` FROM commands
		INDEXED BY commands_modem_state
		WHERE modem_id = ? AND state IN ('sent', 'acknowledged') ORDER BY created_at, id LIMIT 1`, modemID))
	return found(c, err, "in flight")
}

func found(c store.Command, err error, op string) (store.Command, bool, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return store.Command{}, false, nil
	}
	if err != nil {
		return store.Command{}, false, dbErr(op, err)
	}
	return c, true, nil
}

// moveErr explains why an UPDATE guarded by a state condition changed nothing:
// store.ErrNotFound or store.ErrInvalidMove.
func moveErr(ctx context.Context, tx *sql.Tx, op, id string) error {
	var state string
	err := tx.QueryRowContext(ctx, `SELECT state FROM commands WHERE id = ?`, id).Scan(&state)
	if err != nil {
		return dbErr(op, err)
	}
	return fmt.Errorf("sqlite: %s: command %q is %s: %w", op, id, state, store.ErrInvalidMove)
}

// MarkSent moves a queued or sent command to sent, sets SentAt and increments
// Attempts; store.ErrInvalidMove from any other state.
func (d *DB) MarkSent(ctx context.Context, id string, at time.Time) error {
	return d.markSent(ctx, id, at, nil)
}

// markSent is MarkSent, counted for fences (mine: a holder's own).
func (d *DB) markSent(ctx context.Context, id string, at time.Time, mine *atomic.Int64) error {
	g := d.cmdGroup()
	return d.groupWrite(ctx, opFunc(func(ctx context.Context, t *wtx) error {
		st, err := t.stmt(ctx, qCmdMarkSent)
		if err != nil {
			return dbErr("mark sent", err)
		}
		res, err := st.ExecContext(ctx, ms(at), id)
		if err != nil {
			return dbErr("mark sent", err)
		}
		if !inserted(res) {
			return moveErr(ctx, t.tx, "mark sent", id)
		}
		g.counted(1, mine)
		return nil
	}))
}

// Finish moves a non-terminal command to expired or timed_out with msg as its
// message and DoneAt at. Any other target state, or a terminal command, gives
// store.ErrInvalidMove.
func (d *DB) Finish(ctx context.Context, id string, state store.CommandState, msg string, at time.Time) error {
	return d.finish(ctx, id, state, msg, at, nil)
}

// finish is Finish, counted for fences (mine: a holder's own).
func (d *DB) finish(ctx context.Context, id string, state store.CommandState, msg string, at time.Time,
	mine *atomic.Int64) error {
	g := d.cmdGroup()
	if state != store.CmdExpired && state != store.CmdTimedOut {
		return fmt.Errorf("sqlite: finish command %q: target state %q is not expired or timed_out: %w", id, state, store.ErrInvalidMove)
	}
	// writeTx: a command write leaves the modem cache valid (uplinks_cache.go).
	return d.writeTx(ctx, func(tx *sql.Tx) error {
		st, err := d.txStmt(ctx, tx, qCmdFinish)
		if err != nil {
			return dbErr("finish command", err)
		}
		res, err := st.ExecContext(ctx, string(state), msg, ms(at), id)
		if err != nil {
			return dbErr("finish command", err)
		}
		if !inserted(res) {
			return moveErr(ctx, tx, "finish command", id)
		}
		g.counted(1, mine)
		return nil
	})
}

// ExpireDue finishes as expired (DoneAt now) every non-terminal command whose
// ExpiresAt is set and before now, and returns them as updated, oldest expiry
// first.
func (d *DB) ExpireDue(ctx context.Context, now time.Time) ([]store.Command, error) {
	return d.expireDue(ctx, now, nil)
}

// expireDue is ExpireDue, counted for fences (mine: a holder's own).
func (d *DB) expireDue(ctx context.Context, now time.Time, mine *atomic.Int64) ([]store.Command, error) {
	g := d.cmdGroup()
	var out []store.Command
	// writeTx: a command write leaves the modem cache valid (uplinks_cache.go);
	// the command service expires every second, which emptied it as often.
	err := d.writeTx(ctx, func(tx *sql.Tx) error {
		// The WHERE repeats the partial index condition so the planner can use it.
		rows, err := tx.QueryContext(ctx, `UPDATE commands SET state = 'expired', done_at = ?1
			WHERE state IN `+liveStates+` AND expires_at > 0 AND expires_at < ?1
			RETURNING `+commandCols, ms(now))
		if err != nil {
			return dbErr("expire due", err)
		}
		out, err = collect(rows, "expire due", scanCommand)
		if err == nil {
			g.counted(int64(len(out)), mine)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	sortCommands(out)
	return out, nil
}

// sortCommands orders by ExpiresAt, then CreatedAt, then ID (RETURNING gives no order).
func sortCommands(cs []store.Command) {
	slices.SortFunc(cs, func(a, b store.Command) int {
		return cmp.Or(a.ExpiresAt.Compare(b.ExpiresAt), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
}

// ListCommands returns the modem's newest commands first (by CreatedAt, then ID),
// at most limit; limit <= 0 means all.
func (d *DB) ListCommands(ctx context.Context, modemID int64, limit int) ([]store.Command, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := r.QueryContext(ctx, `SELECT `+commandCols+` FROM commands WHERE modem_id = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`, modemID, limit)
	if err != nil {
		return nil, dbErr("list commands", err)
	}
	return collect(rows, "list commands", scanCommand)
}

// PendingModems returns, ascending, the modems that have queued commands not
// expired at now (whether or not one of their commands is in flight).
func (d *DB) PendingModems(ctx context.Context, now time.Time) ([]int64, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT DISTINCT modem_id FROM commands
		WHERE state = 'queued' AND (expires_at = 0 OR expires_at >= ?) ORDER BY modem_id`, ms(now))
	if err != nil {
		return nil, dbErr("pending modems", err)
	}
	return collect(rows, "pending modems", func(s scanner) (int64, error) {
		var id int64
		err := s.Scan(&id)
		return id, err
	})
}
