package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"vendgate/gateway/internal/store"
)

var _ store.AuditSales = (*DB)(nil)

// DerivedPrefix starts the MsgID of every event and vend derived from an
// audit; bus vends never have it (modem message ids are short tokens
// without ':'), which is how BusVends tells them apart.
const DerivedPrefix = "dex:"

// AuditByMsg returns the modem's audit with that message id.
func (d *DB) AuditByMsg(ctx context.Context, modemID int64, msgID string) (store.Audit, error) {
	r, err := d.reader()
	if err != nil {
		return store.Audit{}, err
	}
	a, err := scanAudit(r.QueryRowContext(ctx, `SELECT `+auditCols+` FROM audits WHERE modem_id = ? AND msg_id = ?`,
		modemID, msgID))
	return a, dbErr("audit by msg", err)
}

// PrevValidAudit returns the newest valid audit of a's machine and port before
// a, by time then id (index audits_vm_time, read backwards).
func (d *DB) PrevValidAudit(ctx context.Context, a store.Audit) (store.Audit, error) {
	r, err := d.reader()
	if err != nil {
		return store.Audit{}, err
	}
	p, err := scanAudit(r.QueryRowContext(ctx, `SELECT `+auditCols+` FROM audits
		WHERE vm_id = ?1 AND port = ?2 AND valid = 1 AND (time < ?3 OR (time = ?3 AND id < ?4))
		ORDER BY time DESC, id DESC LIMIT 1`, a.VMID, a.Port, ms(a.Time), a.ID))
	return p, dbErr("previous valid audit", err)
}

// BusVends groups the machine's successful paid vends in (after, upTo] that
// were not derived from audits by selection and payment.
func (d *DB) BusVends(ctx context.Context, vmID int64, after, upTo time.Time) ([]store.ProductGroup, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT selection, payment, count(*), sum(price), max(time) FROM vends
		WHERE vm_id = ? AND time > ? AND time <= ? AND ok = 1 AND type = 'paid'
		AND (msg_id IS NULL OR substr(msg_id, 1, ?) != ?)
		GROUP BY selection, payment ORDER BY selection, payment`,
		vmID, ms(after), ms(upTo), len(DerivedPrefix), DerivedPrefix)
	if err != nil {
		return nil, dbErr("bus vends", err)
	}
	return collect(rows, "bus vends", func(s scanner) (store.ProductGroup, error) {
		var (
			g    store.ProductGroup
			last int64
		)
		err := s.Scan(&g.Selection, &g.Payment, &g.Count, &g.Value, &last)
		g.Type, g.Last = "paid", tm(last)
		return g, err
	})
}

const (
	qSaleIns = `INSERT INTO audit_sales (audit_id, vm_id, modem_id, port, time, prev_audit_id, prev_time, status,
		vend_count, vend_value, cash_count, cash_value, cashless_count, cashless_value, products, wrapped,
		reinitialised, derived_vends) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (audit_id) DO NOTHING`
	saleCols = `audit_id, vm_id, modem_id, port, time, prev_audit_id, prev_time, status,
		vend_count, vend_value, cash_count, cash_value, cashless_count, cashless_value, products, wrapped,
		reinitialised, derived_vends`
)

// SaveAuditSale stores s with its events and vends in one transaction (see
// store.AuditSales). The summary row goes first: when it exists already the
// transaction ends without writing anything else, which makes a redelivered
// audit's follow-up a no-op even if its events or vends would be new.
func (d *DB) SaveAuditSale(ctx context.Context, s store.AuditSale, events []store.Event, vends []store.Vend, lastSale time.Time) (bool, error) {
	products, err := json.Marshal(s.Products)
	if err != nil {
		return false, fmt.Errorf("sqlite: save audit sale: %w", err)
	}
	var wrapped []byte
	if len(s.Wrapped) > 0 {
		if wrapped, err = json.Marshal(s.Wrapped); err != nil {
			return false, fmt.Errorf("sqlite: save audit sale: %w", err)
		}
	}
	created := false
	err = d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, qSaleIns, s.AuditID, s.VMID, s.ModemID, s.Port, ms(s.Time), s.PrevAuditID,
			ms(s.PrevTime), s.Status, s.Vends.Count, s.Vends.Value, s.Cash.Count, s.Cash.Value, s.Cashless.Count,
			s.Cashless.Value, products, wrapped, b2i(s.Reinitialised), s.DerivedVends)
		if err != nil {
			return dbErr("save audit sale", err)
		}
		if !inserted(res) {
			return nil
		}
		created = true
		if len(events) > 0 {
			st, err := d.txStmt(ctx, tx, qEvent)
			if err != nil {
				return dbErr("save audit sale: events", err)
			}
			defer st.Close()
			for _, e := range events {
				if _, err := st.ExecContext(ctx, e.ModemID, e.VMID, nullStr(e.MsgID), e.Code, ms(e.Time), rawJSON(e.Payload)); err != nil {
					return dbErr("save audit sale: event", err)
				}
			}
		}
		if len(vends) > 0 {
			st, err := d.txStmt(ctx, tx, qVend)
			if err != nil {
				return dbErr("save audit sale: vends", err)
			}
			defer st.Close()
			for _, v := range vends {
				if _, err := st.ExecContext(ctx, v.ModemID, v.VMID, nullStr(v.MsgID), v.Selection, v.Price, v.Payment,
					v.Type, b2i(v.OK), ms(v.Time), v.CommandID); err != nil {
					return dbErr("save audit sale: vend", err)
				}
			}
		}
		if !lastSale.IsZero() && s.VMID != 0 {
			if _, err := tx.ExecContext(ctx, qLastSale, ms(lastSale), s.VMID); err != nil {
				return dbErr("save audit sale: last sale", err)
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

func scanAuditSale(s scanner) (store.AuditSale, error) {
	var (
		a                 store.AuditSale
		t, pt             int64
		products, wrapped []byte
	)
	err := s.Scan(&a.AuditID, &a.VMID, &a.ModemID, &a.Port, &t, &a.PrevAuditID, &pt, &a.Status,
		&a.Vends.Count, &a.Vends.Value, &a.Cash.Count, &a.Cash.Value, &a.Cashless.Count, &a.Cashless.Value,
		&products, &wrapped, &a.Reinitialised, &a.DerivedVends)
	if err != nil {
		return a, err
	}
	a.Time, a.PrevTime = tm(t), tm(pt)
	if len(products) > 0 {
		if err := json.Unmarshal(products, &a.Products); err != nil {
			return a, fmt.Errorf("products of audit %d: %w", a.AuditID, err)
		}
	}
	if len(wrapped) > 0 {
		if err := json.Unmarshal(wrapped, &a.Wrapped); err != nil {
			return a, fmt.Errorf("wrapped of audit %d: %w", a.AuditID, err)
		}
	}
	return a, nil
}

// GetAuditSale returns the summary of an audit.
func (d *DB) GetAuditSale(ctx context.Context, auditID int64) (store.AuditSale, error) {
	r, err := d.reader()
	if err != nil {
		return store.AuditSale{}, err
	}
	a, err := scanAuditSale(r.QueryRowContext(ctx, `SELECT `+saleCols+` FROM audit_sales WHERE audit_id = ?`, auditID))
	return a, dbErr("get audit sale", err)
}

// ListAuditSales returns the machine's summaries in [since, until], oldest first.
func (d *DB) ListAuditSales(ctx context.Context, vmID int64, since, until time.Time) ([]store.AuditSale, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	lo, hi := bounds(since, until)
	rows, err := r.QueryContext(ctx, `SELECT `+saleCols+` FROM audit_sales
		WHERE vm_id = ? AND time >= ? AND time <= ? ORDER BY time, audit_id`, vmID, lo, hi)
	if err != nil {
		return nil, dbErr("list audit sales", err)
	}
	return collect(rows, "list audit sales", scanAuditSale)
}
