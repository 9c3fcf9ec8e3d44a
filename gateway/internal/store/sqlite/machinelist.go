package sqlite

import (
	"context"
	"database/sql"
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
	d.id, d.company_id, d.imei, d.hb_interval, d.online, d.last_seen, d.last_hb, d.vm_link, d.errors`

const (
	qMachineListAll = `SELECT ` + machineListCols + ` FROM machines m LEFT JOIN modems d ON d.id = m.modem_id
		WHERE m.company_id = ? ORDER BY m.id`
	qMachineListChanged = `SELECT ` + machineListCols + ` FROM machines m LEFT JOIN modems d ON d.id = m.modem_id
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
		)
		if err := rows.Scan(&m.ID, &m.CompanyID, &m.Name, &m.SerialNumber, &plano, &model, &modemID,
			&m.IsCRTActive, &m.InventoryNumber, &m.TrackBusVends, &m.TZ, &tzid, &sale, &svc, &coll, &load, &rep, &acq,
			&did, &dcompany, &imei, &hb, &online, &seen, &lasthb, &vmLink, &errs); err != nil {
			return nil, dbErr("machine list", err)
		}
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
