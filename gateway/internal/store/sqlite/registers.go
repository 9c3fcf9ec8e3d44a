package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"vendgate/gateway/internal/store"
)

var _ store.Registers = (*DB)(nil)

const registerCols = `id, company_id, name, station_id, base_url, location, enabled, poll_interval, created_at, updated_at`

func scanRegister(s scanner) (store.Register, error) {
	var (
		r                  store.Register
		poll, created, upd int64
	)
	err := s.Scan(&r.ID, &r.CompanyID, &r.Name, &r.StationID, &r.BaseURL, &r.Location, &r.Enabled, &poll, &created, &upd)
	r.PollInterval = time.Duration(poll) * time.Millisecond
	r.CreatedAt, r.UpdatedAt = tm(created), tm(upd)
	return r, err
}

// CreateRegister inserts r and sets r.ID (company and times default to the
// default company and now).
func (d *DB) CreateRegister(ctx context.Context, r *store.Register) error {
	if r.CompanyID == 0 {
		r.CompanyID = store.DefaultCompanyID
	}
	r.CreatedAt = nowOr(r.CreatedAt)
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	return d.write(ctx, func(tx *sql.Tx) error { return insertRegister(ctx, tx, r) })
}

func insertRegister(ctx context.Context, tx *sql.Tx, r *store.Register) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO registers (company_id, name, station_id, base_url, location,
		enabled, poll_interval, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)`,
		r.CompanyID, r.Name, r.StationID, r.BaseURL, r.Location, b2i(r.Enabled), r.PollInterval.Milliseconds(),
		ms(r.CreatedAt), ms(r.UpdatedAt))
	if err != nil {
		return dbErr("create register", err)
	}
	r.ID, err = res.LastInsertId()
	return dbErr("create register", err)
}

// GetRegister returns one register.
func (d *DB) GetRegister(ctx context.Context, id int64) (store.Register, error) {
	rd, err := d.reader()
	if err != nil {
		return store.Register{}, err
	}
	r, err := scanRegister(rd.QueryRowContext(ctx, `SELECT `+registerCols+` FROM registers WHERE id = ?`, id))
	return r, dbErr("get register", err)
}

// ListRegisters returns a company's registers (every company's for 0) by id.
func (d *DB) ListRegisters(ctx context.Context, companyID int64) ([]store.Register, error) {
	rd, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := rd.QueryContext(ctx, `SELECT `+registerCols+` FROM registers WHERE ? = 0 OR company_id = ? ORDER BY id`,
		companyID, companyID)
	if err != nil {
		return nil, dbErr("list registers", err)
	}
	defer rows.Close()
	var out []store.Register
	for rows.Next() {
		r, err := scanRegister(rows)
		if err != nil {
			return nil, dbErr("list registers", err)
		}
		out = append(out, r)
	}
	return out, dbErr("list registers", rows.Err())
}

// UpdateRegister replaces the editable fields.
func (d *DB) UpdateRegister(ctx context.Context, r store.Register) error {
	r.UpdatedAt = nowOr(r.UpdatedAt)
	return d.write(ctx, func(tx *sql.Tx) error { return updateRegister(ctx, tx, r) })
}

func updateRegister(ctx context.Context, tx *sql.Tx, r store.Register) error {
	res, err := tx.ExecContext(ctx, `UPDATE registers SET name = ?, station_id = ?, base_url = ?, location = ?,
		enabled = ?, poll_interval = ?, updated_at = ? WHERE id = ?`,
		r.Name, r.StationID, r.BaseURL, r.Location, b2i(r.Enabled), r.PollInterval.Milliseconds(), ms(r.UpdatedAt), r.ID)
	if err != nil {
		return dbErr("update register", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: update register %d: %w", r.ID, store.ErrNotFound)
	}
	return nil
}

// UpsertRegister creates r or updates the company's register of that name.
func (d *DB) UpsertRegister(ctx context.Context, r *store.Register) error {
	if r.CompanyID == 0 {
		r.CompanyID = store.DefaultCompanyID
	}
	r.CreatedAt = nowOr(r.CreatedAt)
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM registers WHERE company_id = ? AND name = ?`, r.CompanyID, r.Name).Scan(&id)
		switch {
		case err == sql.ErrNoRows:
			return insertRegister(ctx, tx, r)
		case err != nil:
			return dbErr("upsert register", err)
		}
		r.ID = id
		return updateRegister(ctx, tx, *r)
	})
}

// DeleteRegister removes a register with its state and its waiting pushes.
func (d *DB) DeleteRegister(ctx context.Context, id int64) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM register_states WHERE register_id = ?`, id); err != nil {
			return dbErr("delete register", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM register_outbox WHERE register_id = ?`, id); err != nil {
			return dbErr("delete register", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM registers WHERE id = ?`, id)
		if err != nil {
			return dbErr("delete register", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlite: delete register %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
}

// GetRegisterState returns the last saved state of a register.
func (d *DB) GetRegisterState(ctx context.Context, id int64) (store.RegisterState, error) {
	rd, err := d.reader()
	if err != nil {
		return store.RegisterState{}, err
	}
	var (
		st                     store.RegisterState
		since, checked, lastOK int64
		alerts, endpoints      string
	)
	err = rd.QueryRowContext(ctx, `SELECT register_id, status, since, checked, last_ok, alerts, endpoints
		FROM register_states WHERE register_id = ?`, id).Scan(&st.RegisterID, &st.Status, &since, &checked, &lastOK, &alerts, &endpoints)
	if err != nil {
		return st, dbErr("get register state", err)
	}
	st.Since, st.Checked, st.LastOK = tm(since), tm(checked), tm(lastOK)
	if err := json.Unmarshal([]byte(alerts), &st.Alerts); err != nil {
		return st, fmt.Errorf("sqlite: register %d alerts: %w", id, err)
	}
	if err := json.Unmarshal([]byte(endpoints), &st.Endpoints); err != nil {
		return st, fmt.Errorf("sqlite: register %d endpoints: %w", id, err)
	}
	for i := range st.Endpoints {
		st.Endpoints[i].At = st.Endpoints[i].At.UTC()
	}
	return st, nil
}

// SaveRegisterStates writes states and enqueues pushes in one transaction.
func (d *DB) SaveRegisterStates(ctx context.Context, states []store.RegisterState, pushes []store.RegisterPush) error {
	if len(states) == 0 && len(pushes) == 0 {
		return nil
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		for _, st := range states {
			alerts, err := json.Marshal(nonNil(st.Alerts))
			if err != nil {
				return err
			}
			eps, err := json.Marshal(nonNil(st.Endpoints))
			if err != nil {
				return err
			}
			// INSERT ... SELECT skips registers deleted while their poll ran.
			if _, err := tx.ExecContext(ctx, `INSERT INTO register_states (register_id, status, since, checked, last_ok, alerts, endpoints)
				SELECT id, ?, ?, ?, ?, ?, ? FROM registers WHERE id = ?
				ON CONFLICT (register_id) DO UPDATE SET status = excluded.status, since = excluded.since,
				checked = excluded.checked, last_ok = excluded.last_ok, alerts = excluded.alerts, endpoints = excluded.endpoints`,
				st.Status, ms(st.Since), ms(st.Checked), ms(st.LastOK), string(alerts), string(eps), st.RegisterID); err != nil {
				return dbErr("save register state", err)
			}
		}
		for _, p := range pushes {
			created := nowOr(p.Created)
			q := `INSERT INTO register_outbox (station_id, register_id, body, keepalive, created_at, attempts, next_at, last_error)
				SELECT ?, ?, ?, ?, ?, 0, ?, '' WHERE ? = 0 OR NOT EXISTS (SELECT 1 FROM register_outbox WHERE station_id = ?)`
			if _, err := tx.ExecContext(ctx, q, p.StationID, p.RegisterID, p.Body, b2i(p.KeepAlive), ms(created), ms(p.NextAt),
				b2i(p.KeepAlive), p.StationID); err != nil {
				return dbErr("enqueue push", err)
			}
		}
		return nil
	})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// DuePushes returns the oldest waiting push of each station that is due.
func (d *DB) DuePushes(ctx context.Context, now time.Time, limit int) ([]store.RegisterPush, error) {
	rd, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := rd.QueryContext(ctx, `SELECT o.id, o.station_id, o.register_id, o.body, o.keepalive, o.created_at,
		o.attempts, o.next_at, o.last_error
		FROM (SELECT min(id) AS id FROM register_outbox GROUP BY station_id) h
		JOIN register_outbox o ON o.id = h.id
		WHERE o.next_at <= ? ORDER BY o.id LIMIT ?`, ms(now), limit)
	if err != nil {
		return nil, dbErr("due pushes", err)
	}
	defer rows.Close()
	var out []store.RegisterPush
	for rows.Next() {
		var (
			p             store.RegisterPush
			created, next int64
		)
		if err := rows.Scan(&p.ID, &p.StationID, &p.RegisterID, &p.Body, &p.KeepAlive, &created, &p.Attempts, &next, &p.LastError); err != nil {
			return nil, dbErr("due pushes", err)
		}
		p.Created, p.NextAt = tm(created), tm(next)
		out = append(out, p)
	}
	return out, dbErr("due pushes", rows.Err())
}

// DeletePush removes a delivered push.
func (d *DB) DeletePush(ctx context.Context, id int64) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM register_outbox WHERE id = ?`, id)
		if err != nil {
			return dbErr("delete push", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlite: delete push %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
}

// DeferPush records a failed attempt.
func (d *DB) DeferPush(ctx context.Context, id int64, next time.Time, lastError string) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE register_outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?`,
			ms(next), lastError, id)
		if err != nil {
			return dbErr("defer push", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlite: defer push %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
}

// OutboxDepth counts waiting pushes.
func (d *DB) OutboxDepth(ctx context.Context) (int, error) {
	rd, err := d.reader()
	if err != nil {
		return 0, err
	}
	var n int
	err = rd.QueryRowContext(ctx, `SELECT count(*) FROM register_outbox`).Scan(&n)
	return n, dbErr("outbox depth", err)
}
