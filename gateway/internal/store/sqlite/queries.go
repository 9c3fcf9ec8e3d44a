package sqlite

import (
	"context"
	"math"
	"time"

	"vendgate/gateway/internal/store"
)

// bounds encodes an inclusive time range; a zero until means no upper bound.
func bounds(since, until time.Time) (int64, int64) {
	u := ms(until)
	if until.IsZero() {
		u = math.MaxInt64
	}
	return ms(since), u
}

func scanEvent(s scanner) (store.Event, error) {
	var (
		e       store.Event
		msgID   *string
		t       int64
		payload []byte
	)
	err := s.Scan(&e.ID, &e.ModemID, &e.VMID, &msgID, &e.Code, &t, &payload)
	if msgID != nil {
		e.MsgID = *msgID
	}
	e.Time, e.Payload = tm(t), toRaw(payload)
	return e, err
}

// ListEvents returns the machine's events with since <= Time <= until (a zero
// until is unbounded), oldest first.
func (d *DB) ListEvents(ctx context.Context, vmID int64, since, until time.Time) ([]store.Event, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	lo, hi := bounds(since, until)
	rows, err := r.QueryContext(ctx, `SELECT id, modem_id, vm_id, msg_id, code, time, payload FROM events
		WHERE vm_id = ? AND time >= ? AND time <= ? ORDER BY time, id`, vmID, lo, hi)
	if err != nil {
		return nil, dbErr("list events", err)
	}
	return collect(rows, "list events", scanEvent)
}

func scanVend(s scanner) (store.Vend, error) {
	var (
		v     store.Vend
		msgID *string
		t     int64
	)
	err := s.Scan(&v.ID, &v.ModemID, &v.VMID, &msgID, &v.Selection, &v.Price, &v.Payment, &v.Type, &v.OK, &t,
		&v.CommandID)
	if msgID != nil {
		v.MsgID = *msgID
	}
	v.Time = tm(t)
	return v, err
}

// ListVends returns the machine's vends with since <= Time <= until (a zero
// until is unbounded), oldest first.
func (d *DB) ListVends(ctx context.Context, vmID int64, since, until time.Time) ([]store.Vend, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	lo, hi := bounds(since, until)
	rows, err := r.QueryContext(ctx, `SELECT id, modem_id, vm_id, msg_id, selection, price, payment, type, ok,
		time, command_id FROM vends WHERE vm_id = ? AND time >= ? AND time <= ? ORDER BY time, id`, vmID, lo, hi)
	if err != nil {
		return nil, dbErr("list vends", err)
	}
	return collect(rows, "list vends", scanVend)
}

func scanAudit(s scanner) (store.Audit, error) {
	var (
		a       store.Audit
		msgID   *string
		t, recv int64
	)
	err := s.Scan(&a.ID, &a.ModemID, &a.VMID, &msgID, &a.Port, &t, &recv, &a.Data, &a.Valid, &a.Error, &a.CommandID)
	if msgID != nil {
		a.MsgID = *msgID
	}
	a.Time, a.Received = tm(t), tm(recv)
	return a, err
}

// ListAudits returns the machine's audits with since <= Time <= until (a zero
// until is unbounded), oldest first; port 0 means any port.
func (d *DB) ListAudits(ctx context.Context, vmID int64, port int, since, until time.Time) ([]store.Audit, error) {
	r, err := d.reader()
	if err != nil {
		return nil, err
	}
	lo, hi := bounds(since, until)
	rows, err := r.QueryContext(ctx, `SELECT id, modem_id, vm_id, msg_id, port, time, received, data, valid, error,
		command_id FROM audits WHERE vm_id = ?1 AND time >= ?2 AND time <= ?3 AND (?4 = 0 OR port = ?4)
		ORDER BY time, id`, vmID, lo, hi, port)
	if err != nil {
		return nil, dbErr("list audits", err)
	}
	return collect(rows, "list audits", scanAudit)
}

// CountUplinks returns how many events, vends and audits the modem has stored.
func (d *DB) CountUplinks(ctx context.Context, modemID int64) (events, vends, audits int, err error) {
	r, err := d.reader()
	if err != nil {
		return 0, 0, 0, err
	}
	err = r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM events WHERE modem_id = ?1),
		(SELECT count(*) FROM vends WHERE modem_id = ?1),
		(SELECT count(*) FROM audits WHERE modem_id = ?1)`, modemID).Scan(&events, &vends, &audits)
	return events, vends, audits, dbErr("count uplinks", err)
}
