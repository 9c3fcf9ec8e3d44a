package sqlite

import "context"

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
