package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"vendgate/gateway/internal/store"
)

const machineCols = `id, company_id, name, serial_number, planogram_id, location_id, model_id, modem_id,
	is_crt_active, inventory_number, track_bus_vends, tz, tz_id, requisite_id, min_price, max_price,
	created_at, last_sale, last_service, last_collection, last_loading, last_report, last_acquired_report`

func scanMachine(s scanner) (store.Machine, error) {
	var (
		m                                        store.Machine
		plano, loc, model, modem, tzid, req      sql.NullInt64
		minP, maxP                               sql.NullInt64
		created, sale, svc, coll, load, rep, acq int64
	)
	err := s.Scan(&m.ID, &m.CompanyID, &m.Name, &m.SerialNumber, &plano, &loc, &model, &modem,
		&m.IsCRTActive, &m.InventoryNumber, &m.TrackBusVends, &m.TZ, &tzid, &req, &minP, &maxP,
		&created, &sale, &svc, &coll, &load, &rep, &acq)
	if err != nil {
		return m, err
	}
	m.PlanogramID, m.LocationID, m.ModelID, m.ModemID = ptr(plano), ptr(loc), ptr(model), ptr(modem)
	m.TZID, m.RequisiteID, m.MinPrice, m.MaxPrice = ptr(tzid), ptr(req), ptr(minP), ptr(maxP)
	m.CreatedAt, m.LastSale, m.LastService, m.LastCollection = tm(created), tm(sale), tm(svc), tm(coll)
	m.LastLoading, m.LastReport, m.LastAcquiredReport = tm(load), tm(rep), tm(acq)
	return m, nil
}

// bindModem enforces the one-machine-per-modem rule before machine self (0 for a
// new one) takes modemID: another machine holding it is an error unless force,
// which unbinds it there.
func bindModem(ctx context.Context, tx *sql.Tx, self int64, modemID *int64, force bool) error {
	if modemID == nil {
		return nil
	}
	var other int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM machines WHERE modem_id = ? AND id != ?`, *modemID, self).Scan(&other)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return dbErr("bind modem", err)
	}
	if !force {
		return fmt.Errorf("sqlite: modem %d is bound to machine %d: %w", *modemID, other, store.ErrModemBound)
	}
	_, err = tx.ExecContext(ctx, `UPDATE machines SET modem_id = NULL WHERE id = ?`, other)
	return dbErr("unbind modem", err)
}

// CreateMachine inserts m and sets m.ID (and CompanyID and CreatedAt when unset).
// A ModemID of a modem that does not exist gives store.ErrNotFound.
func (d *DB) CreateMachine(ctx context.Context, m *store.Machine, force bool) error {
	if m.CompanyID == 0 {
		m.CompanyID = store.DefaultCompanyID
	}
	m.CreatedAt = nowOr(m.CreatedAt)
	return d.write(ctx, func(tx *sql.Tx) error {
		if err := bindModem(ctx, tx, 0, m.ModemID, force); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO machines (company_id, name, serial_number, planogram_id,
			location_id, model_id, modem_id, is_crt_active, inventory_number, track_bus_vends, tz, tz_id,
			requisite_id, min_price, max_price, created_at, last_sale, last_service, last_collection,
			last_loading, last_report, last_acquired_report)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			m.CompanyID, m.Name, m.SerialNumber, nullPtr(m.PlanogramID), nullPtr(m.LocationID), nullPtr(m.ModelID),
			nullPtr(m.ModemID), b2i(m.IsCRTActive), m.InventoryNumber, b2i(m.TrackBusVends), m.TZ, nullPtr(m.TZID),
			nullPtr(m.RequisiteID), nullPtr(m.MinPrice), nullPtr(m.MaxPrice), ms(m.CreatedAt), ms(m.LastSale),
			ms(m.LastService), ms(m.LastCollection), ms(m.LastLoading), ms(m.LastReport), ms(m.LastAcquiredReport))
		if err != nil {
			return dbErr("create machine", err)
		}
		m.ID, err = res.LastInsertId()
		return dbErr("create machine", err)
	})
}

// GetMachine returns the machine with that id.
func (d *DB) GetMachine(ctx context.Context, id int64) (store.Machine, error) {
	r, err := d.reader()
	if err != nil {
		return store.Machine{}, err
	}
	m, err := scanMachine(r.QueryRowContext(ctx, `SELECT `+machineCols+` FROM machines WHERE id = ?`, id))
	return m, dbErr("get machine", err)
}

// GetMachineByModem returns the machine the modem is bound to.
func (d *DB) GetMachineByModem(ctx context.Context, modemID int64) (store.Machine, error) {
	r, err := d.reader()
	if err != nil {
		return store.Machine{}, err
	}
	m, err := scanMachine(r.QueryRowContext(ctx, `SELECT `+machineCols+` FROM machines WHERE modem_id = ?`, modemID))
	return m, dbErr("get machine by modem", err)
}

// ListMachines returns the company's machines ordered by id.
func (d *DB) ListMachines(ctx context.Context, companyID int64) ([]store.Machine, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT `+machineCols+` FROM machines WHERE company_id = ? ORDER BY id`, companyID)
	if err != nil {
		return nil, dbErr("list machines", err)
	}
	return collect(rows, "list machines", scanMachine)
}

// UpdateMachine writes every settable field of m: everything but ID, CompanyID,
// CreatedAt and the derived timestamps. store.ErrNotFound when m.ID does not exist.
func (d *DB) UpdateMachine(ctx context.Context, m store.Machine, force bool) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM machines WHERE id = ?`, m.ID).Scan(&exists); err != nil {
			return dbErr("update machine", err)
		}
		if err := bindModem(ctx, tx, m.ID, m.ModemID, force); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE machines SET name = ?, serial_number = ?, planogram_id = ?,
			location_id = ?, model_id = ?, modem_id = ?, is_crt_active = ?, inventory_number = ?,
			track_bus_vends = ?, tz = ?, tz_id = ?, requisite_id = ?, min_price = ?, max_price = ?
			WHERE id = ?`,
			m.Name, m.SerialNumber, nullPtr(m.PlanogramID), nullPtr(m.LocationID), nullPtr(m.ModelID),
			nullPtr(m.ModemID), b2i(m.IsCRTActive), m.InventoryNumber, b2i(m.TrackBusVends), m.TZ,
			nullPtr(m.TZID), nullPtr(m.RequisiteID), nullPtr(m.MinPrice), nullPtr(m.MaxPrice), m.ID)
		return dbErr("update machine", err)
	})
}
