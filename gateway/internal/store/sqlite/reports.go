package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"vendgate/gateway/internal/store"
)

var (
	_ store.Reports  = (*DB)(nil)
	_ store.Receipts = (*DB)(nil)
)

const auditCols = `id, modem_id, vm_id, msg_id, port, time, received, data, valid, error, command_id`

// GetAudit returns the machine's audit with that id.
func (d *DB) GetAudit(ctx context.Context, vmID, id int64) (store.Audit, error) {
	r, err := d.reader()
	if err != nil {
		return store.Audit{}, err
	}
	a, err := scanAudit(r.QueryRowContext(ctx, `SELECT `+auditCols+` FROM audits WHERE id = ? AND vm_id = ?`, id, vmID))
	return a, dbErr("get audit", err)
}

// LastAudit returns the machine's newest audit with Time >= since (index
// audits_vm_time, read backwards).
func (d *DB) LastAudit(ctx context.Context, vmID int64, port int, validOnly bool, since time.Time) (store.Audit, error) {
	r, err := d.reader()
	if err != nil {
		return store.Audit{}, err
	}
	a, err := scanAudit(r.QueryRowContext(ctx, `SELECT `+auditCols+` FROM audits
		WHERE vm_id = ?1 AND time >= ?2 AND (?3 = 0 OR port = ?3) AND (?4 = 0 OR valid = 1)
		ORDER BY time DESC, id DESC LIMIT 1`, vmID, ms(since), port, b2i(validOnly)))
	return a, dbErr("last audit", err)
}

// LastAuditsByPort returns the newest audit of each port with Time >= since.
func (d *DB) LastAuditsByPort(ctx context.Context, vmID int64, since time.Time) ([]store.Audit, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT `+auditCols+` FROM audits WHERE id IN (
			SELECT (SELECT b.id FROM audits b WHERE b.vm_id = ?1 AND b.port = p.port AND b.time >= ?2
				ORDER BY b.time DESC, b.id DESC LIMIT 1)
			FROM (SELECT DISTINCT port FROM audits WHERE vm_id = ?1 AND time >= ?2) p)
		ORDER BY port`, vmID, ms(since))
	if err != nil {
		return nil, dbErr("last audits", err)
	}
	return collect(rows, "last audits", scanAudit)
}

// --- vend statistics ---

const (
	hourMs   = int64(time.Hour / time.Millisecond)
	minuteMs = int64(time.Minute / time.Millisecond)
)

// vendWhere is the filter of successful vends by type and payment; the
// arguments ?t and ?p are named so arms of a UNION can share them.
const vendWhere = `v.ok = 1 AND (:t = '' OR v.type = :t) AND (:p = '' OR v.payment = :p)`

// fleetArms splits [lo, hi] into the whole UTC hours, read from the vend_hours
// roll-up, the whole minutes around them, read from vend_minutes (0008), and
// the partial minutes at either end, read from vends. It returns the SELECT
// arms (each yielding type, payment, count, value) joined by UNION ALL. A
// range of a few days over a large fleet then reads about a hundred hour
// rows, at most 2 × 59 minutes of minute rows and two minutes of vends.
// CROSS JOIN keeps vends (by the vends_time index) as the outer loop: the
// planner otherwise may walk every machine of the company and probe
// vends_vm_time for each, which is ~10k probes for an edge of a few hundred
// vends.
func fleetArms(lo, hi int64) (string, []any) {
	raw := func(a, b string) string {
		return `SELECT v.type AS type, v.payment AS payment, count(*) AS n, sum(v.price) AS val
			FROM vends v CROSS JOIN machines m ON m.id = v.vm_id
			WHERE m.company_id = :c AND v.time >= ` + a + ` AND v.time <= ` + b + ` AND ` + vendWhere + `
			GROUP BY v.type, v.payment`
	}
	rolled := func(table, col, a, b string) string {
		return `SELECT type, payment, sum(count) AS n, sum(value) AS val FROM ` + table + `
			WHERE company_id = :c AND ` + col + ` >= ` + a + ` AND ` + col + ` < ` + b + ` AND count != 0
			AND (:t = '' OR type = :t) AND (:p = '' OR payment = :p) GROUP BY type, payment`
	}
	if hi == math.MaxInt64 {
		return raw(":lo", ":hi"), []any{sql.Named("lo", lo), sql.Named("hi", hi)}
	}
	// whole returns the first whole unit at or after lo and the end
	// (exclusive) of the last whole unit within hi (inclusive).
	whole := func(unit int64) (int64, int64) {
		start := (lo + unit - 1) / unit * unit
		end := hi / unit * unit
		if hi%unit == unit-1 {
			end += unit
		}
		return start, end
	}
	mStart, mEnd := whole(minuteMs)
	if mStart >= mEnd {
		return raw(":lo", ":hi"), []any{sql.Named("lo", lo), sql.Named("hi", hi)}
	}
	hStart, hEnd := whole(hourMs)
	args := []any{sql.Named("lo", lo), sql.Named("hi", hi), sql.Named("ms", mStart), sql.Named("me", mEnd)}
	q := raw(":lo", ":ms - 1") + `
		UNION ALL ` + raw(":me", ":hi")
	if hStart >= hEnd {
		return q + `
		UNION ALL ` + rolled("vend_minutes", "minute", ":ms", ":me"), args
	}
	// mStart <= hStart and hEnd <= mEnd.
	return q + `
		UNION ALL ` + rolled("vend_hours", "hour", ":hs", ":he") + `
		UNION ALL ` + rolled("vend_minutes", "minute", ":ms", ":hs") + `
		UNION ALL ` + rolled("vend_minutes", "minute", ":he", ":me"),
		append(args, sql.Named("hs", hStart), sql.Named("he", hEnd))
}

// vendGroups runs the summary grouped by type and payment, for one machine or
// the company's fleet.
func (d *DB) vendGroups(ctx context.Context, f store.VendFilter) ([]store.VendGroup, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	lo, hi := bounds(f.Since, f.Until)
	args := []any{sql.Named("t", f.Type), sql.Named("p", f.Payment)}
	var q string
	if f.VMID != 0 {
		q = `SELECT v.type, v.payment, count(*), sum(v.price) FROM vends v
			WHERE v.vm_id = :vm AND v.time >= :lo AND v.time <= :hi AND ` + vendWhere + `
			GROUP BY v.type, v.payment ORDER BY 1, 2`
		args = append(args, sql.Named("vm", f.VMID), sql.Named("lo", lo), sql.Named("hi", hi))
	} else {
		arms, more := fleetArms(lo, hi)
		q = `SELECT type, payment, sum(n), sum(val) FROM (` + arms + `) GROUP BY type, payment ORDER BY 1, 2`
		args = append(append(args, more...), sql.Named("c", f.CompanyID))
	}
	rows, err := r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr("vend summary", err)
	}
	return collect(rows, "vend summary", func(s scanner) (store.VendGroup, error) {
		var g store.VendGroup
		var val sql.NullInt64
		err := s.Scan(&g.Type, &g.Payment, &g.Count, &val)
		g.Value = val.Int64
		return g, err
	})
}

// VendSummary counts the successful vends of f and sums their prices.
func (d *DB) VendSummary(ctx context.Context, f store.VendFilter) (store.VendTotal, error) {
	gs, err := d.vendGroups(ctx, f)
	if err != nil {
		return store.VendTotal{}, err
	}
	var t store.VendTotal
	for _, g := range gs {
		t.Count += g.Count
		t.Value += g.Value
	}
	return t, nil
}

// VendPaymentSummary is VendSummary grouped by type and payment.
func (d *DB) VendPaymentSummary(ctx context.Context, f store.VendFilter) ([]store.VendGroup, error) {
	return d.vendGroups(ctx, f)
}

// VendProducts groups one machine's successful vends by selection, price, type
// (and payment when byPayment).
func (d *DB) VendProducts(ctx context.Context, f store.VendFilter, byPayment bool) ([]store.ProductGroup, error) {
	if f.VMID == 0 {
		return nil, fmt.Errorf("sqlite: vend products: a machine is required")
	}
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	lo, hi := bounds(f.Since, f.Until)
	group := "v.selection, v.price, v.type"
	if byPayment {
		group += ", v.payment"
	}
	rows, err := r.QueryContext(ctx, `SELECT v.selection, v.price, v.type,
			CASE WHEN min(v.payment) = max(v.payment) THEN min(v.payment) ELSE '' END,
			max(v.time), count(*), sum(v.price)
		FROM vends v WHERE v.vm_id = :vm AND v.time >= :lo AND v.time <= :hi AND `+vendWhere+`
		GROUP BY `+group+` ORDER BY 1, 2, 3, 4`,
		sql.Named("vm", f.VMID), sql.Named("lo", lo), sql.Named("hi", hi),
		sql.Named("t", f.Type), sql.Named("p", f.Payment))
	if err != nil {
		return nil, dbErr("vend products", err)
	}
	return collect(rows, "vend products", func(s scanner) (store.ProductGroup, error) {
		var g store.ProductGroup
		var last int64
		err := s.Scan(&g.Selection, &g.Price, &g.Type, &g.Payment, &last, &g.Count, &g.Value)
		g.Last = tm(last)
		return g, err
	})
}

// --- cash records ---

const cursorAuditCash = "audit_cash"

// AuditsAfter returns up to limit audits with id > afterID, by id.
func (d *DB) AuditsAfter(ctx context.Context, afterID int64, limit int) ([]store.Audit, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT `+auditCols+` FROM audits WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, dbErr("audits after", err)
	}
	return collect(rows, "audits after", scanAudit)
}

// CashCursor returns the last audit id SaveAuditCash covered.
func (d *DB) CashCursor(ctx context.Context) (int64, error) {
	r, err := d.reader()
	if err != nil {
		return 0, err
	}
	var id int64
	err = r.QueryRowContext(ctx, `SELECT last_id FROM report_cursors WHERE name = ?`, cursorAuditCash).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, dbErr("cash cursor", err)
}

// SaveAuditCash stores recs in order and moves the cursor. A record is a
// collection when its EA301 is above that of the machine's previous record
// (by time) having one; records are expected in arrival order, so an audit that
// arrives after a newer one of its machine is judged against what is stored.
func (d *DB) SaveAuditCash(ctx context.Context, recs []store.AuditCash, lastID int64) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO audit_cash (audit_id, vm_id, time, reads_reset, hands_add,
				change, coins, banknotes, collection)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, CASE WHEN ?4 < 0 THEN 0 ELSE coalesce((
				SELECT ?4 > p.reads_reset FROM audit_cash p
				WHERE p.vm_id = ?2 AND p.reads_reset >= 0 AND (p.time < ?3 OR (p.time = ?3 AND p.audit_id < ?1))
				ORDER BY p.time DESC, p.audit_id DESC LIMIT 1), 0) END)
			ON CONFLICT (audit_id) DO NOTHING`)
		if err != nil {
			return dbErr("save audit cash", err)
		}
		defer ins.Close()
		for _, c := range recs {
			if _, err := ins.ExecContext(ctx, c.AuditID, c.VMID, ms(c.Time), c.ReadsReset, c.HandsAdd, c.Change,
				c.Coins, c.Banknotes); err != nil {
				return dbErr("save audit cash", err)
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO report_cursors (name, last_id) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET last_id = max(last_id, excluded.last_id)`, cursorAuditCash, lastID)
		return dbErr("save audit cash", err)
	})
}

// ListCollections returns the company's collections in [since, until].
func (d *DB) ListCollections(ctx context.Context, companyID int64, since, until time.Time) ([]store.AuditCash, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	lo, hi := bounds(since, until)
	rows, err := r.QueryContext(ctx, `SELECT c.audit_id, c.vm_id, c.time, c.reads_reset, c.hands_add, c.change,
			c.coins, c.banknotes, c.collection
		FROM audit_cash c JOIN machines m ON m.id = c.vm_id
		WHERE c.collection = 1 AND c.time >= ? AND c.time <= ? AND m.company_id = ?
		ORDER BY c.time, c.audit_id`, lo, hi, companyID)
	if err != nil {
		return nil, dbErr("list collections", err)
	}
	return collect(rows, "list collections", func(s scanner) (store.AuditCash, error) {
		var c store.AuditCash
		var t int64
		err := s.Scan(&c.AuditID, &c.VMID, &t, &c.ReadsReset, &c.HandsAdd, &c.Change, &c.Coins, &c.Banknotes, &c.Collection)
		c.Time = tm(t)
		return c, err
	})
}

// --- receipts ---

const receiptCols = `id, key, company_id, vm_id, kind, state, input, output, aux, attempts, next_at, last_error,
	created_at, done_at`

func scanReceipt(s scanner) (store.Receipt, error) {
	var (
		r                      store.Receipt
		input, output, aux     []byte
		state                  string
		next, created, doneVal int64
	)
	err := s.Scan(&r.ID, &r.Key, &r.CompanyID, &r.VMID, &r.Kind, &state, &input, &output, &aux, &r.Attempts,
		&next, &r.LastError, &created, &doneVal)
	r.State = store.ReceiptState(state)
	r.Input, r.Output, r.Aux = toRaw(input), toRaw(output), toRaw(aux)
	r.NextAt, r.CreatedAt, r.DoneAt = tm(next), tm(created), tm(doneVal)
	return r, err
}

// EnqueueReceipt inserts r as pending unless its key exists.
func (d *DB) EnqueueReceipt(ctx context.Context, r *store.Receipt) (bool, error) {
	if r.Key == "" {
		return false, fmt.Errorf("sqlite: enqueue receipt: empty key")
	}
	if r.Kind == "" {
		r.Kind = store.ReceiptSale
	}
	r.CreatedAt = nowOr(r.CreatedAt)
	if r.NextAt.IsZero() {
		r.NextAt = r.CreatedAt
	}
	r.State = store.ReceiptPending
	created := false
	err := d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO receipts (key, company_id, vm_id, kind, state, input, aux,
				next_at, created_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (key) DO NOTHING`,
			r.Key, r.CompanyID, r.VMID, r.Kind, string(store.ReceiptPending), []byte(r.Input), rawJSON(r.Aux),
			ms(r.NextAt), ms(r.CreatedAt))
		if err != nil {
			return dbErr("enqueue receipt", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return dbErr("enqueue receipt", err)
		}
		if n == 0 {
			return nil
		}
		created = true
		r.ID, err = res.LastInsertId()
		return dbErr("enqueue receipt", err)
	})
	return created, err
}

// DueReceipts returns pending receipts due at now (index receipts_due).
func (d *DB) DueReceipts(ctx context.Context, now time.Time, limit int) ([]store.Receipt, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT `+receiptCols+` FROM receipts WHERE state = 'pending' AND next_at <= ?
		ORDER BY next_at, id LIMIT ?`, ms(now), limit)
	if err != nil {
		return nil, dbErr("due receipts", err)
	}
	return collect(rows, "due receipts", scanReceipt)
}

// CompleteReceipt marks a pending receipt submitted; store.ErrInvalidMove when
// it is not pending.
func (d *DB) CompleteReceipt(ctx context.Context, id int64, output json.RawMessage, at time.Time) error {
	return d.moveReceipt(ctx, id, "complete receipt", `UPDATE receipts SET state = 'submitted', output = ?,
		attempts = attempts + 1, done_at = ? WHERE id = ? AND state = 'pending'`, []byte(output), ms(at), id)
}

// RetryReceipt records a failed attempt; a zero next fails the receipt for good.
func (d *DB) RetryReceipt(ctx context.Context, id int64, msg string, next, at time.Time) error {
	if next.IsZero() {
		return d.moveReceipt(ctx, id, "retry receipt", `UPDATE receipts SET state = 'failed', last_error = ?,
			attempts = attempts + 1, done_at = ? WHERE id = ? AND state = 'pending'`, msg, ms(at), id)
	}
	return d.moveReceipt(ctx, id, "retry receipt", `UPDATE receipts SET last_error = ?, attempts = attempts + 1,
		next_at = ? WHERE id = ? AND state = 'pending'`, msg, ms(next), id)
}

func (d *DB) moveReceipt(ctx context.Context, id int64, op, q string, args ...any) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return dbErr(op, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return dbErr(op, err)
		}
		if n > 0 {
			return nil
		}
		var state string
		err = tx.QueryRowContext(ctx, `SELECT state FROM receipts WHERE id = ?`, id).Scan(&state)
		if err != nil {
			return dbErr(op, err)
		}
		return fmt.Errorf("sqlite: %s: receipt %d is %s: %w", op, id, state, store.ErrInvalidMove)
	})
}

// GetReceipt returns one receipt.
func (d *DB) GetReceipt(ctx context.Context, id int64) (store.Receipt, error) {
	r, err := d.reader()
	if err != nil {
		return store.Receipt{}, err
	}
	rc, err := scanReceipt(r.QueryRowContext(ctx, `SELECT `+receiptCols+` FROM receipts WHERE id = ?`, id))
	return rc, dbErr("get receipt", err)
}

// ListReceipts returns the receipts of f, oldest first.
func (d *DB) ListReceipts(ctx context.Context, f store.ReceiptFilter) ([]store.Receipt, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	lo, hi := bounds(f.Since, f.Until)
	kind := f.Kind
	if kind == "" {
		kind = store.ReceiptSale
	}
	rows, err := r.QueryContext(ctx, `SELECT `+receiptCols+` FROM receipts
		WHERE company_id = :c AND kind = :k AND created_at >= :lo AND created_at <= :hi
		AND (:vm = 0 OR vm_id = :vm) AND (:s = '' OR state = :s)
		ORDER BY created_at, id`,
		sql.Named("c", f.CompanyID), sql.Named("k", kind), sql.Named("lo", lo), sql.Named("hi", hi),
		sql.Named("vm", f.VMID), sql.Named("s", string(f.State)))
	if err != nil {
		return nil, dbErr("list receipts", err)
	}
	return collect(rows, "list receipts", scanReceipt)
}
