package sqlite

import (
	"context"
	"time"

	"vendgate/gateway/internal/store"
)

// UnfinishedModems returns, ascending, the modems that have a command queued,
// sent or acknowledged. The command service loads it once at start so that a
// reconnecting modem with nothing to do costs no query (a reconnect storm).
func (d *DB) UnfinishedModems(ctx context.Context) ([]int64, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT DISTINCT modem_id FROM commands
		WHERE state IN ('queued', 'sent', 'acknowledged') ORDER BY modem_id`)
	if err != nil {
		return nil, dbErr("unfinished modems", err)
	}
	return collect(rows, "unfinished modems", func(s scanner) (int64, error) {
		var id int64
		err := s.Scan(&id)
		return id, err
	})
}

// Dispatchable returns what a dispatch of the modem acts on, in one query: its
// command in flight (sent or acknowledged; the oldest should there be more),
// or else its oldest queued command that has not expired at now.
func (d *DB) Dispatchable(ctx context.Context, modemID int64, now time.Time) (store.Command, bool, error) {
	r, err := d.reader()
	if err != nil {
		return store.Command{}, false, err
	}
	// Two indexed LIMIT 1 look-ups, the in-flight one first. Without the
	// INDEXED BY, SQLite (no ANALYZE statistics) walks commands_modem_created
	// over the modem's whole command history on every dispatch.
	c, err := scanCommand(r.QueryRowContext(ctx, `SELECT * FROM (SELECT `+commandCols+`
		FROM commands INDEXED BY commands_modem_state
		WHERE modem_id = ?1 AND state IN ('sent', 'acknowledged') ORDER BY created_at, id LIMIT 1)
		UNION ALL SELECT * FROM (SELECT `+commandCols+`
		FROM commands INDEXED BY commands_modem_state
		WHERE modem_id = ?1 AND state = 'queued' AND (expires_at = 0 OR expires_at >= ?2)
		ORDER BY created_at, id LIMIT 1)
		LIMIT 1`, modemID, ms(now)))
	return found(c, err, "dispatchable")
}
