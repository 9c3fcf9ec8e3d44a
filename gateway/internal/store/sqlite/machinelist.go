package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"vendgate/gateway/internal/store"
)

// The machine list (store.MachineList) reads only the columns the list shows,
// joined in one query: every column read costs (driver calls, conversions),
// and the full ListMachines + ListModems pair reads twice as many for 10,000
// machines. Migration 0007 keeps chg up to date.

const machineListCols = `m.id, m.company_id, m.name, m.serial_number, m.planogram_id, m.model_id,
	m.modem_id, m.is_crt_active, m.inventory_number, m.track_bus_vends, m.tz, m.tz_id, m.last_sale,
	m.last_service, m.last_collection, m.last_loading, m.last_report, m.last_acquired_report,
	d.id, d.company_id, d.imei, d.hb_interval, d.online, d.last_seen, d.last_hb, d.vm_link, d.errors,
	m.created_at, t.id, t.label, t.name, m.location_id, ` + serviceCols

// serviceCols are vm_service's columns in scanService's order (alias s).
const serviceCols = `s.vm_id, s.audit_id, s.audit_time, s.reads_reset, s.tube_worth, s.cash_in, s.bills, s.coins,
	s.bills_since, s.coins_since, s.revenue, s.need_loading, s.serviced, s.collected`

// machineListFrom joins a machine with its modem, its model's type (0008) and
// its service summary (0008).
const machineListFrom = ` FROM machines m LEFT JOIN modems d ON d.id = m.modem_id
	LEFT JOIN vm_models mm ON mm.id = m.model_id LEFT JOIN vm_types t ON t.id = mm.type_id
	LEFT JOIN vm_service s ON s.vm_id = m.id`

const (
	qMachineListAll = `SELECT ` + machineListCols + machineListFrom + `
		WHERE m.company_id = ? ORDER BY m.id`
	qMachineListChanged = `SELECT ` + machineListCols + machineListFrom + `
		WHERE m.company_id = ?1 AND m.id IN (
			SELECT id FROM machines WHERE chg > ?2
			UNION SELECT m2.id FROM modems d2 JOIN machines m2 ON m2.modem_id = d2.id WHERE d2.chg > ?2)
		ORDER BY m.id`
)

// MachineListVersion returns the change version of the machine list.
func (d *DB) MachineListVersion(ctx context.Context) (int64, error) {
	r, err := d.reader()
	if err != nil {
		return 0, err
	}
	var v int64
	err = r.QueryRowContext(ctx, `SELECT v FROM machine_list_seq WHERE id = 1`).Scan(&v)
	return v, dbErr("machine list version", err)
}

// MachineListRows returns the company's machines (all, or those changed after
// version after) with their modems' presence, ordered by id.
func (d *DB) MachineListRows(ctx context.Context, companyID, after int64) ([]store.MachineListRow, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	var rows *sql.Rows
	if after < 0 {
		rows, err = r.QueryContext(ctx, qMachineListAll, companyID)
	} else {
		rows, err = r.QueryContext(ctx, qMachineListChanged, companyID, after)
	}
	if err != nil {
		return nil, dbErr("machine list", err)
	}
	defer rows.Close()
	var (
		out    []store.MachineListRow
		modems []store.Modem // allocated in chunks: one allocation per chunk, not per machine
	)
	for rows.Next() {
		var (
			row                             store.MachineListRow
			m                               = &row.Machine
			plano, model, modemID, tzid     sql.NullInt64
			sale, svc, coll, load, rep, acq int64
			did, dcompany, hb, seen, lasthb sql.NullInt64
			online, vmLink, errs            sql.NullInt64
			imei                            sql.NullString
			created                         int64
			typeID                          sql.NullInt64
			typeLabel, typeName             sql.NullString
			location                        sql.NullInt64
			sv                              serviceRow
		)
		dst := []any{&m.ID, &m.CompanyID, &m.Name, &m.SerialNumber, &plano, &model, &modemID,
			&m.IsCRTActive, &m.InventoryNumber, &m.TrackBusVends, &m.TZ, &tzid, &sale, &svc, &coll, &load, &rep, &acq,
			&did, &dcompany, &imei, &hb, &online, &seen, &lasthb, &vmLink, &errs, &created, &typeID, &typeLabel, &typeName, &location}
		if err := rows.Scan(append(dst, sv.dest()...)...); err != nil {
			return nil, dbErr("machine list", err)
		}
		m.CreatedAt = tm(created)
		m.LocationID = ptr(location)
		if typeID.Valid {
			row.Type = &store.VMType{ID: typeID.Int64, Label: typeLabel.String, Name: typeName.String}
		}
		row.Service = sv.service()
		m.PlanogramID, m.ModelID, m.ModemID, m.TZID = ptr(plano), ptr(model), ptr(modemID), ptr(tzid)
		m.LastSale, m.LastService, m.LastCollection = tm(sale), tm(svc), tm(coll)
		m.LastLoading, m.LastReport, m.LastAcquiredReport = tm(load), tm(rep), tm(acq)
		if did.Valid {
			if len(modems) == cap(modems) {
				modems = make([]store.Modem, 0, 256)
			}
			modems = append(modems, store.Modem{
				ID: did.Int64, CompanyID: dcompany.Int64, IMEI: imei.String, HBInterval: int(hb.Int64),
				Online: online.Int64 != 0, LastSeen: tm(seen.Int64), LastHB: tm(lasthb.Int64),
				VMLink: vmLink.Int64 != 0, Errors: uint32(errs.Int64),
			})
			row.Modem = &modems[len(modems)-1]
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("machine list", err)
	}
	return out, nil
}

// maxSeenIDs bounds the ids of one MachineListSeen statement (SQLite's
// default limit of variables is 32766).
const maxSeenIDs = 500

// MachineListSeen returns the current last_seen of the modems.
func (d *DB) MachineListSeen(ctx context.Context, modemIDs []int64) (map[int64]time.Time, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	out := make(map[int64]time.Time, len(modemIDs))
	for len(modemIDs) > 0 {
		n := min(len(modemIDs), maxSeenIDs)
		chunk := modemIDs[:n]
		modemIDs = modemIDs[n:]
		args := make([]any, n)
		for i, id := range chunk {
			args[i] = id
		}
		q := `SELECT id, last_seen FROM modems WHERE id IN (?` + strings.Repeat(",?", n-1) + `)`
		rows, err := r.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, dbErr("machine list seen", err)
		}
		for rows.Next() {
			var id, seen int64
			if err := rows.Scan(&id, &seen); err != nil {
				rows.Close()
				return nil, dbErr("machine list seen", err)
			}
			out[id] = tm(seen)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, dbErr("machine list seen", err)
		}
	}
	return out, nil
}

// serviceRow scans serviceCols; every column is nullable (a LEFT JOIN).
type serviceRow struct {
	vm, audit, at, reads, worth, cashIn, bills, coins, billsSince, coinsSince sql.NullInt64
	revenue, need, serviced, collected                                        sql.NullInt64
}

func (r *serviceRow) dest() []any {
	return []any{&r.vm, &r.audit, &r.at, &r.reads, &r.worth, &r.cashIn, &r.bills, &r.coins, &r.billsSince,
		&r.coinsSince, &r.revenue, &r.need, &r.serviced, &r.collected}
}

// service returns the summary, nil when the machine has none.
func (r *serviceRow) service() *store.MachineService {
	if !r.vm.Valid {
		return nil
	}
	return &store.MachineService{AuditID: r.audit.Int64, AuditTime: tm(r.at.Int64), ReadsReset: r.reads.Int64,
		TubeWorth: ptr(r.worth), CashIn: r.cashIn.Int64 != 0, Bills: r.bills.Int64, Coins: r.coins.Int64,
		BillsSince: tm(r.billsSince.Int64), CoinsSince: tm(r.coinsSince.Int64), Revenue: ptr(r.revenue),
		NeedLoading: r.need.Int64 != 0, Serviced: tm(r.serviced.Int64), Collected: tm(r.collected.Int64)}
}

// ServiceDirty returns up to limit machines marked by the 0008 triggers.
func (d *DB) ServiceDirty(ctx context.Context, limit int) ([]store.ServiceMark, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT vm_id, mark FROM vm_service_dirty ORDER BY vm_id LIMIT ?`, limit)
	if err != nil {
		return nil, dbErr("service dirty", err)
	}
	defer rows.Close()
	var out []store.ServiceMark
	for rows.Next() {
		var m store.ServiceMark
		if err := rows.Scan(&m.VMID, &m.Count); err != nil {
			return nil, dbErr("service dirty", err)
		}
		out = append(out, m)
	}
	return out, dbErr("service dirty", rows.Err())
}

// ValidAuditsBefore pages through the machine's valid audits, newest first
// (index audits_vm_valid_time).
func (d *DB) ValidAuditsBefore(ctx context.Context, vmID int64, beforeTime time.Time, beforeID int64, limit int) ([]store.Audit, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	var rows *sql.Rows
	if beforeTime.IsZero() {
		rows, err = r.QueryContext(ctx, `SELECT id, modem_id, vm_id, msg_id, port, time, received, data, valid, error,
			command_id FROM audits WHERE vm_id = ? AND valid = 1 ORDER BY time DESC, id DESC LIMIT ?`, vmID, limit)
	} else {
		rows, err = r.QueryContext(ctx, `SELECT id, modem_id, vm_id, msg_id, port, time, received, data, valid, error,
			command_id FROM audits WHERE vm_id = ?1 AND valid = 1 AND (time < ?2 OR (time = ?2 AND id < ?3))
			ORDER BY time DESC, id DESC LIMIT ?4`, vmID, ms(beforeTime), beforeID, limit)
	}
	if err != nil {
		return nil, dbErr("valid audits", err)
	}
	defer rows.Close()
	var out []store.Audit
	for rows.Next() {
		a, err := scanAudit(rows)
		if err != nil {
			return nil, dbErr("valid audits", err)
		}
		out = append(out, a)
	}
	return out, dbErr("valid audits", rows.Err())
}

// GetMachineService returns the machine's saved summary.
func (d *DB) GetMachineService(ctx context.Context, vmID int64) (store.MachineService, error) {
	r, err := d.reader()
	if err != nil {
		return store.MachineService{}, err
	}
	var sv serviceRow
	err = r.QueryRowContext(ctx, `SELECT `+serviceCols+` FROM vm_service s WHERE s.vm_id = ?`, vmID).Scan(sv.dest()...)
	if err != nil {
		return store.MachineService{}, dbErr("machine service", err)
	}
	return *sv.service(), nil
}

// SaveMachineService stores the summary and clears the mark (see
// store.MachineServices).
func (d *DB) SaveMachineService(ctx context.Context, mark store.ServiceMark, s store.MachineService) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM machines WHERE id = ?`, mark.VMID).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `DELETE FROM vm_service_dirty WHERE vm_id = ? AND mark = ?`, mark.VMID, mark.Count)
			return dbErr("save machine service", err)
		case err != nil:
			return dbErr("save machine service", err)
		}
		// The upsert leaves an unchanged row alone, so that it does not
		// stamp the machine list (0008 triggers) for nothing.
		if _, err := tx.ExecContext(ctx, `INSERT INTO vm_service (vm_id, audit_id, audit_time, reads_reset, tube_worth,
			cash_in, bills, coins, bills_since, coins_since, revenue, need_loading, serviced, collected)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
			ON CONFLICT (vm_id) DO UPDATE SET audit_id = ?2, audit_time = ?3, reads_reset = ?4, tube_worth = ?5,
				cash_in = ?6, bills = ?7, coins = ?8, bills_since = ?9, coins_since = ?10, revenue = ?11,
				need_loading = ?12, serviced = ?13, collected = ?14
			WHERE (audit_id, audit_time, reads_reset, cash_in, bills, coins, bills_since, coins_since, need_loading,
				serviced, collected) IS NOT (?2, ?3, ?4, ?6, ?7, ?8, ?9, ?10, ?12, ?13, ?14)
				OR tube_worth IS NOT ?5 OR revenue IS NOT ?11`,
			mark.VMID, s.AuditID, ms(s.AuditTime), s.ReadsReset, nullPtr(s.TubeWorth), b2i(s.CashIn), s.Bills, s.Coins,
			ms(s.BillsSince), ms(s.CoinsSince), nullPtr(s.Revenue), b2i(s.NeedLoading), ms(s.Serviced),
			ms(s.Collected)); err != nil {
			return dbErr("save machine service", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE machines SET last_service = ?2, last_collection = ?3
			WHERE id = ?1 AND (last_service != ?2 OR last_collection != ?3)`,
			mark.VMID, ms(s.Serviced), ms(s.Collected)); err != nil {
			return dbErr("save machine service", err)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM vm_service_dirty WHERE vm_id = ? AND mark = ?`, mark.VMID, mark.Count)
		return dbErr("save machine service", err)
	})
}

// ModelType returns the model's machine type.
func (d *DB) ModelType(ctx context.Context, modelID int64) (store.VMType, error) {
	r, err := d.reader()
	if err != nil {
		return store.VMType{}, err
	}
	var t store.VMType
	err = r.QueryRowContext(ctx, `SELECT t.id, t.label, t.name FROM vm_models m JOIN vm_types t ON t.id = m.type_id
		WHERE m.id = ?`, modelID).Scan(&t.ID, &t.Label, &t.Name)
	return t, dbErr("model type", err)
}
