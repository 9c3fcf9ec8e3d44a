package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"vendgate/gateway/internal/store"
)

const modemCols = `id, company_id, imei, password_hash, iccid, hw_version, boot_version, firmware,
	phone, bus, cashless_on, cashless_addr, hb_interval, caps, created_at,
	online, epoch, last_seen, last_hb, uptime, signal, vm_link, errors`

func scanModem(s scanner) (store.Modem, error) {
	var (
		m                              store.Modem
		caps                           string
		created, seen, hb, epoch, errs int64
	)
	err := s.Scan(&m.ID, &m.CompanyID, &m.IMEI, &m.PasswordHash, &m.ICCID, &m.HWVersion, &m.BootVersion,
		&m.Firmware, &m.Phone, &m.Bus, &m.CashlessOn, &m.CashlessAddr, &m.HBInterval, &caps, &created,
		&m.Online, &epoch, &seen, &hb, &m.Uptime, &m.Signal, &m.VMLink, &errs)
	if err != nil {
		return m, err
	}
	m.Caps, err = decodeCaps(caps)
	if err != nil {
		return m, fmt.Errorf("modem %d caps: %w", m.ID, err)
	}
	m.CreatedAt, m.LastSeen, m.LastHB = tm(created), tm(seen), tm(hb)
	m.Epoch = uint64(epoch)
	m.Errors = uint32(errs)
	return m, nil
}

func encodeCaps(caps []string) string {
	if len(caps) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(caps) // []string always marshals
	return string(b)
}

func decodeCaps(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var caps []string
	if err := json.Unmarshal([]byte(s), &caps); err != nil {
		return nil, err
	}
	return caps, nil
}

// CreateModem inserts m and sets m.ID (and CompanyID and CreatedAt when unset:
// the default company and now).
func (d *DB) CreateModem(ctx context.Context, m *store.Modem) error {
	if m.CompanyID == 0 {
		m.CompanyID = store.DefaultCompanyID
	}
	m.CreatedAt = nowOr(m.CreatedAt)
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO modems (company_id, imei, password_hash, iccid, hw_version,
			boot_version, firmware, phone, bus, cashless_on, cashless_addr, hb_interval, caps, created_at,
			online, epoch, last_seen, last_hb, uptime, signal, vm_link, errors)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			m.CompanyID, m.IMEI, m.PasswordHash, m.ICCID, m.HWVersion, m.BootVersion, m.Firmware, m.Phone, m.Bus,
			b2i(m.CashlessOn), m.CashlessAddr, m.HBInterval, encodeCaps(m.Caps), ms(m.CreatedAt),
			b2i(m.Online), int64(m.Epoch), ms(m.LastSeen), ms(m.LastHB), m.Uptime, m.Signal, b2i(m.VMLink), int64(m.Errors))
		if err != nil {
			return dbErr("create modem", err)
		}
		m.ID, err = res.LastInsertId()
		return dbErr("create modem", err)
	})
}

// SetModemPassword replaces the password hash of the modem with that IMEI.
func (d *DB) SetModemPassword(ctx context.Context, imei, hash string) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE modems SET password_hash = ? WHERE imei = ?`, hash, imei)
		return mustAffect("set modem password", res, err)
	})
}

// GetModem returns the modem with that id.
func (d *DB) GetModem(ctx context.Context, id int64) (store.Modem, error) {
	r, err := d.reader()
	if err != nil {
		return store.Modem{}, err
	}
	m, err := scanModem(r.QueryRowContext(ctx, `SELECT `+modemCols+` FROM modems WHERE id = ?`, id))
	return m, dbErr("get modem", err)
}

// GetModemByIMEI returns the modem with that IMEI. It is the read of every
// modem login, so it has a read pool of its own (DB.ra).
func (d *DB) GetModemByIMEI(ctx context.Context, imei string) (store.Modem, error) {
	r, err := d.authReader()
	if err != nil {
		return store.Modem{}, err
	}
	m, err := scanModem(r.QueryRowContext(ctx, `SELECT `+modemCols+` FROM modems WHERE imei = ?`, imei))
	return m, dbErr("get modem by imei", err)
}

// ListModems returns the company's modems ordered by id.
func (d *DB) ListModems(ctx context.Context, companyID int64) ([]store.Modem, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT `+modemCols+` FROM modems WHERE company_id = ? ORDER BY id`, companyID)
	if err != nil {
		return nil, dbErr("list modems", err)
	}
	return collect(rows, "list modems", scanModem)
}

// UpdateModemPhone sets the phone number.
func (d *DB) UpdateModemPhone(ctx context.Context, id int64, phone string) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE modems SET phone = ? WHERE id = ?`, phone, id)
		return mustAffect("update modem phone", res, err)
	})
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, op string, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, dbErr(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	return out, nil
}
