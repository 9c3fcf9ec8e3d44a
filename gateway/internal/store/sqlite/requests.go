package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"time"

	"vendgate/gateway/internal/store"
)

const requestCols = `id, vm_id, report, config, created_at, done_at`

func scanRequest(s scanner) (store.Request, error) {
	var (
		r             store.Request
		created, done int64
	)
	err := s.Scan(&r.ID, &r.VMID, &r.Report, &r.Config, &created, &done)
	r.CreatedAt, r.DoneAt = tm(created), tm(done)
	return r, err
}

// OpenRequest merges report/config into the machine's open request, creating it
// (CreatedAt now) when there is none. progress is true when an open request
// already asked for every flag given. A machine that does not exist gives
// store.ErrNotFound.
func (d *DB) OpenRequest(ctx context.Context, vmID int64, report, config bool, now time.Time) (store.Request, bool, error) {
	var (
		r        store.Request
		progress bool
	)
	err := d.write(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanRequest(tx.QueryRowContext(ctx, `SELECT `+requestCols+` FROM requests
			WHERE vm_id = ? AND done_at = 0`, vmID))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			r = store.Request{VMID: vmID, Report: report, Config: config, CreatedAt: nowOr(now)}
			res, err := tx.ExecContext(ctx, `INSERT INTO requests (vm_id, report, config, created_at) VALUES (?,?,?,?)`,
				vmID, b2i(report), b2i(config), ms(r.CreatedAt))
			if err != nil {
				return dbErr("open request", err)
			}
			r.ID, err = res.LastInsertId()
			return dbErr("open request", err)
		case err != nil:
			return dbErr("open request", err)
		}
		progress = (!report || r.Report) && (!config || r.Config)
		if progress {
			return nil
		}
		r.Report, r.Config = r.Report || report, r.Config || config
		_, err = tx.ExecContext(ctx, `UPDATE requests SET report = ?, config = ? WHERE id = ?`,
			b2i(r.Report), b2i(r.Config), r.ID)
		return dbErr("open request", err)
	})
	if err != nil {
		return store.Request{}, false, err
	}
	return r, progress, nil
}

// GetRequest returns the open request with that id of that machine;
// store.ErrNotFound once done (or when it belongs to another machine).
func (d *DB) GetRequest(ctx context.Context, vmID, id int64) (store.Request, error) {
	rd, err := d.reader()
	if err != nil {
		return store.Request{}, err
	}
	r, err := scanRequest(rd.QueryRowContext(ctx, `SELECT `+requestCols+` FROM requests
		WHERE id = ? AND vm_id = ? AND done_at = 0`, id, vmID))
	return r, dbErr("get request", err)
}

// SatisfyRequest clears the given flags of the machine's open request; when no
// flag is left it is done (DoneAt at, or now when at is zero). Without an open
// request it does nothing.
func (d *DB) SatisfyRequest(ctx context.Context, vmID int64, report, config bool, at time.Time) error {
	done := ms(nowOr(at))
	return d.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE requests SET
			report = report AND NOT ?1, config = config AND NOT ?2,
			done_at = CASE WHEN (report AND NOT ?1) OR (config AND NOT ?2) THEN 0 ELSE ?3 END
			WHERE vm_id = ?4 AND done_at = 0`, b2i(report), b2i(config), done, vmID)
		return dbErr("satisfy request", err)
	})
}
