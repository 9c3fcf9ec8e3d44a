package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"vendgate/gateway/internal/store"
)

// Statements of ApplyUplinks, prepared once on the writer connection.
const (
	// qModems loads every modem of the batch at once; its argument is a JSON
	// array of ids, so one prepared statement serves any batch.
	qModems = `SELECT m.id, m.epoch, m.online, coalesce(v.id, 0) FROM json_each(?) j
		JOIN modems m ON m.id = j.value LEFT JOIN machines v ON v.modem_id = m.id`
	qTouch = `UPDATE modems SET last_seen = max(last_seen, ?) WHERE id = ?`
	// An empty phone in a hello keeps the stored one (operators may have set it).
	// A hello equal to the stored one (the usual reconnect: same firmware, SIM,
	// settings) matches no row, so the row is not rewritten: about 20 µs of a
	// reconnect's CPU otherwise (issue #7).
	qHello = `UPDATE modems SET iccid = ?1, hw_version = ?2, boot_version = ?3, firmware = ?4,
		phone = CASE WHEN ?5 != '' THEN ?5 ELSE phone END, bus = ?6,
		cashless_on = ?7, cashless_addr = ?8, hb_interval = ?9, caps = ?10 WHERE id = ?11
		AND (iccid IS NOT ?1 OR hw_version IS NOT ?2 OR boot_version IS NOT ?3 OR firmware IS NOT ?4
			OR (?5 != '' AND phone IS NOT ?5) OR bus IS NOT ?6 OR cashless_on IS NOT ?7
			OR cashless_addr IS NOT ?8 OR hb_interval IS NOT ?9 OR caps IS NOT ?10)`
	// A presence that flips online stamps the machine list's chg itself with
	// ?3, one value of machine_list_seq per batch (listStamp), so that
	// modems_list_update skips the row (migration 0010) instead of spending
	// two statements of its own on it. Without a stamp (?3 NULL) the trigger
	// stamps as before.
	qPresence = `UPDATE modems SET online = ?1, epoch = ?2,
		chg = CASE WHEN online IS NOT ?1 AND ?3 IS NOT NULL THEN ?3 ELSE chg END WHERE id = ?4`
	qHeartbeat = `UPDATE modems SET uptime = ?1, signal = ?2, vm_link = ?3, errors = ?4, last_hb = ?5,
		last_seen = max(last_seen, ?6) WHERE id = ?7 AND last_hb <= ?5`
	qEvent = `INSERT INTO events (modem_id, vm_id, msg_id, code, time, payload) VALUES (?,?,?,?,?,?)
		ON CONFLICT (modem_id, msg_id) DO NOTHING`
	qVend = `INSERT INTO vends (modem_id, vm_id, msg_id, selection, price, payment, type, ok, time, command_id)
		VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (modem_id, msg_id) DO NOTHING`
	qAudit = `INSERT INTO audits (modem_id, vm_id, msg_id, port, time, received, data, valid, error, command_id)
		VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (modem_id, msg_id) DO NOTHING`
	qLastSale  = `UPDATE machines SET last_sale = max(last_sale, ?) WHERE id = ?`
	qAuditTime = `UPDATE machines SET last_acquired_report = max(last_acquired_report, ?1),
		last_report = CASE WHEN ?2 THEN max(last_report, ?1) ELSE last_report END WHERE id = ?3`
	// One statement moves a command on: the WHERE clause ignores an answer
	// to a command of another modem, an unknown one and one already final.
	// ?1 is the next state (NULL: an unknown status leaves it alone); ?6 the
	// result of an acknowledgement absorbed into this final answer (answerPairs).
	qResult = `UPDATE commands SET state = coalesce(?1, state), status = ?2, code = ?3, message = ?4,
		result = coalesce(?5, ?6, result),
		acked_at = CASE WHEN ?7 AND acked_at = 0 THEN ?8 ELSE acked_at END,
		done_at = CASE WHEN ?9 THEN ?10 ELSE done_at END
		WHERE id = ?11 AND modem_id = ?12
		AND state NOT IN ('succeeded', 'failed', 'rejected', 'expired', 'timed_out')`
)

// uplinkQueries are prepared at Open.
var uplinkQueries = []string{qDataVersion, qModems, qTouch, qTouchAll, qHello, qPresence, qHeartbeat, qEvent, qVend, qAudit,
	qLastSale, qAuditTime, qResult, qListStamp}

// modemState is what one batch learned about a modem.
type modemState struct {
	vmID     int64  // machine bound to it (fixed for the transaction: we are the only writer)
	epoch    uint64 // stored presence epoch, kept current through the batch
	online   bool   // stored online flag, kept current through the batch
	lastSeen int64  // newest Received of the batch
	written  int64  // last_seen already written by the batch (heartbeats write it)
}

// batch is the state of one ApplyUplinks call: its transaction, with the
// statements bound to it on first use, and what is known about each modem.
// A DB has one (DB.ab), reused from batch to batch so that its maps and
// slices are not made again for each: batches run one at a time (under
// modemCache.apply); start empties what the previous one left, finish drops
// what it referenced.
type batch struct {
	d      *DB
	ctx    context.Context
	t      wtx
	modems map[int64]*modemState
	// states holds the values modems points to, so that a batch does not
	// allocate one per modem. Its capacity is at least the batch's number of
	// uplinks, so of modems: appending does not move it (nor would moving
	// change anything: nothing reads it by index).
	states []modemState
	order  []int64
	ids    []int64 // load's modems to read
	buf    []byte  // load's and touch's JSON argument
	stamp  int64   // machine list change stamp of the batch's presences; 0: not taken yet

	ups   []store.Uplink
	i     int         // index in ups of the uplink being applied
	pairs answerPairs // pair
}

// start empties b for a batch of ups in tx.
func (b *batch) start(ctx context.Context, d *DB, tx *sql.Tx, ups []store.Uplink) {
	b.d, b.ctx, b.ups, b.i, b.stamp = d, ctx, ups, 0, 0
	b.t.begin(d, tx)
	if b.modems == nil {
		b.modems = make(map[int64]*modemState)
	} else {
		clear(b.modems)
	}
	if cap(b.states) < len(ups) {
		b.states = make([]modemState, 0, len(ups))
	}
	b.states = b.states[:0]
	b.order = b.order[:0]
}

// finish drops the batch's references to its caller's uplinks and its
// transaction; the modem states stay until the next start (the cache takes
// them after the commit).
func (b *batch) finish() {
	b.ctx, b.ups = nil, nil
	b.t.end()
}

// state keeps st for the batch and returns where.
func (b *batch) state(st modemState) *modemState {
	b.states = append(b.states, st)
	return &b.states[len(b.states)-1]
}

func (b *batch) stmt(q string) (*sql.Stmt, error) { return b.t.stmt(b.ctx, q) }

func (b *batch) exec(q string, args ...any) (sql.Result, error) {
	s, err := b.stmt(q)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(b.ctx, args...)
}

// load finds every modem the batch names: from the cache where it holds
// them (uplinks_cache.go), the others in one query. Modems that do not exist
// stay absent and their uplinks are skipped.
func (b *batch) load(ups []store.Uplink, cached map[int64]modemState) error {
	b.ids = b.ids[:0]
	for i := range ups {
		id := ups[i].ModemID
		if _, ok := b.modems[id]; ok {
			continue
		}
		if st, ok := cached[id]; ok {
			b.modems[id] = b.state(st)
			b.order = append(b.order, id)
			continue
		}
		b.modems[id] = nil
		b.ids = append(b.ids, id)
	}
	if len(b.ids) == 0 {
		return nil
	}
	b.buf = append(b.buf[:0], '[')
	for i, id := range b.ids {
		if i > 0 {
			b.buf = append(b.buf, ',')
		}
		b.buf = strconv.AppendInt(b.buf, id, 10)
	}
	b.buf = append(b.buf, ']')
	s, err := b.stmt(qModems)
	if err != nil {
		return err
	}
	rows, err := s.QueryContext(b.ctx, string(b.buf))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, epoch, online, vm int64
		if err := rows.Scan(&id, &epoch, &online, &vm); err != nil {
			return err
		}
		b.modems[id] = b.state(modemState{vmID: vm, epoch: uint64(epoch), online: online != 0})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range b.ids {
		if b.modems[id] != nil {
			b.order = append(b.order, id)
		}
	}
	return nil
}

// validate rejects a batch with an uplink whose Kind field is missing before
// anything is written.
func validate(batch []store.Uplink) error {
	for i, u := range batch {
		ok := false
		switch u.Kind {
		case store.UpHello:
			ok = u.Hello != nil
		case store.UpPresence:
			ok = u.Presence != nil
		case store.UpHeartbeat:
			ok = u.Heartbeat != nil
		case store.UpEvent:
			ok = u.Event != nil
		case store.UpVend:
			ok = u.Vend != nil
		case store.UpAudit:
			ok = u.Audit != nil
		case store.UpResult:
			ok = u.Result != nil
		}
		if !ok {
			return fmt.Errorf("sqlite: apply uplinks: uplink %d: kind %d without its field", i, u.Kind)
		}
	}
	return nil
}

// ApplyUplinks writes the batch in one transaction, in order. Besides the
// contract in store.Uplinks:
//   - uplinks of a modem id that does not exist are skipped (they cannot fail the
//     batch, which the ingest would otherwise redeliver forever);
//   - last_seen becomes the newest Received of the batch (never moves back);
//   - a heartbeat older (by Received) than the stored one updates only last_seen;
//   - an Event, Vend or Audit with an empty MsgID is never deduplicated;
//   - a Result for a command of another modem is ignored like an unknown one.
//
// An uplink whose Kind field is nil is a programming error: the whole batch is
// refused before anything is written.
func (d *DB) ApplyUplinks(ctx context.Context, ups []store.Uplink) error {
	if len(ups) == 0 {
		return nil
	}
	if err := validate(ups); err != nil {
		return err
	}
	var (
		rode  *ride
		view  cacheView
		state map[int64]*modemState
	)
	d.mc.apply.Lock()
	defer d.mc.apply.Unlock()
	err := d.writeTx(ctx, func(tx *sql.Tx) (err error) {
		rode, view, state, err = d.applyUplinks(ctx, tx, ups)
		return err
	})
	if err == nil {
		d.mc.store(view, state)
	}
	rode.done(d, err)
	return err
}

// applyUplinks is ApplyUplinks' transaction: the batch, then the command
// writes queued meanwhile (rideAlong), whose outcomes the caller delivers
// once the transaction ended, and the modem states to cache once it
// committed (under view).
func (d *DB) applyUplinks(ctx context.Context, tx *sql.Tx, ups []store.Uplink) (
	rode *ride, view cacheView, states map[int64]*modemState, err error) {
	b := &d.ab
	b.start(ctx, d, tx, ups)
	defer b.finish()
	if view, err = b.cached(ctx); err != nil {
		return nil, view, nil, dbErr("apply uplinks: data version", err)
	}
	if err := b.load(ups, view.states); err != nil {
		return nil, view, nil, dbErr("apply uplinks: load modems", err)
	}
	b.pairs.pair(ups)
	for i := range ups {
		b.i = i
		if err := b.apply(&ups[i]); err != nil {
			return nil, view, nil, dbErr(fmt.Sprintf("apply uplinks: uplink %d (kind %d, modem %d)", i, ups[i].Kind, ups[i].ModemID), err)
		}
	}
	if err := b.touch(); err != nil {
		return nil, view, nil, dbErr("apply uplinks: last seen", err)
	}
	// Command writes queued meanwhile commit with the batch.
	return d.rideAlong(&b.t), view, b.modems, nil
}

func (b *batch) apply(u *store.Uplink) error {
	st := b.modems[u.ModemID]
	if st == nil {
		return nil // unknown modem
	}
	var err error
	recv := ms(u.Received)
	st.lastSeen = max(st.lastSeen, recv)

	switch u.Kind {
	case store.UpHello:
		h := u.Hello
		_, err = b.exec(qHello, h.ICCID, h.HWVersion, h.BootVersion, h.Firmware, h.Phone, h.Bus,
			b2i(h.CashlessOn), h.CashlessAddr, h.HBInterval, encodeCaps(h.Caps), u.ModemID)

	case store.UpPresence:
		p := u.Presence
		// A presence older than the newest applied belongs to a connection that has
		// been taken over; equal epochs are the same connection going on or off.
		if p.Epoch < st.epoch {
			return nil
		}
		// The same presence again (a retained or repeated message) changes nothing.
		if p.Epoch == st.epoch && p.Online == st.online {
			return nil
		}
		var stamp any // nil: the row keeps its chg unless the trigger stamps it
		if p.Online != st.online {
			if stamp, err = b.listStamp(); err != nil {
				return err
			}
		}
		st.epoch, st.online = p.Epoch, p.Online
		_, err = b.exec(qPresence, b2i(p.Online), int64(p.Epoch), stamp, u.ModemID)

	case store.UpHeartbeat:
		h := u.Heartbeat
		var res sql.Result
		// last_seen is written with the heartbeat, saving the final touch when
		// nothing newer follows in the batch.
		res, err = b.exec(qHeartbeat, h.Uptime, h.Signal, b2i(h.VMLink), int64(h.Errors), recv, st.lastSeen, u.ModemID)
		if err == nil && inserted(res) {
			st.written = st.lastSeen
		}

	case store.UpEvent:
		e := u.Event
		_, err = b.exec(qEvent, u.ModemID, st.vmID, nullStr(e.MsgID), e.Code, ms(e.Time), rawJSON(e.Payload))

	case store.UpVend:
		v := u.Vend
		var res sql.Result
		res, err = b.exec(qVend, u.ModemID, st.vmID, nullStr(v.MsgID), v.Selection, v.Price, v.Payment, v.Type,
			b2i(v.OK), ms(v.Time), v.CommandID)
		if err == nil && v.OK && st.vmID != 0 && inserted(res) {
			_, err = b.exec(qLastSale, ms(v.Time), st.vmID)
		}

	case store.UpAudit:
		a := u.Audit
		rcv := a.Received
		if rcv.IsZero() {
			rcv = u.Received
		}
		var res sql.Result
		res, err = b.exec(qAudit, u.ModemID, st.vmID, nullStr(a.MsgID), a.Port, ms(a.Time), ms(rcv), a.Data,
			b2i(a.Valid), a.Error, a.CommandID)
		if err == nil && st.vmID != 0 && inserted(res) {
			_, err = b.exec(qAuditTime, ms(a.Time), b2i(a.Valid), st.vmID)
		}

	case store.UpResult:
		if b.pairs.absorbed[b.i] {
			return nil // its final answer, later in the batch, writes it
		}
		err = b.result(u.ModemID, recv, u.Result)
	}
	return err
}

// listStamp returns the batch's machine list change stamp, taking it from
// machine_list_seq on first use. One value serves every presence of the
// batch: it is greater than every chg stored before, so the list's readers
// (chg > the version they read, committed before this transaction) see each
// stamped row as changed; and a later trigger stamp of the same row within the
// batch is greater still.
func (b *batch) listStamp() (int64, error) {
	if b.stamp != 0 {
		return b.stamp, nil
	}
	s, err := b.stmt(qListStamp)
	if err != nil {
		return 0, err
	}
	if err := s.QueryRowContext(b.ctx).Scan(&b.stamp); err != nil {
		return 0, err
	}
	return b.stamp, nil
}

func inserted(res sql.Result) bool {
	n, err := res.RowsAffected()
	return err == nil && n > 0
}

// result moves a command along its state machine (see store.Commands),
// together with the acknowledgements this answer absorbed (answerPairs).
func (b *batch) result(modemID, at int64, r *store.CommandResult) error {
	next, acked, done := store.AnswerState(r.Status)
	var state, ackResult any
	if next != "" {
		state = string(next)
	}
	ackAt := at
	if a, ok := b.pairs.ackOf[b.i]; ok {
		acked, ackAt = true, ms(b.ups[a.first].Received)
		if a.result >= 0 {
			ackResult = rawJSON(b.ups[a.result].Result.Result)
		}
	}
	_, err := b.exec(qResult, state, r.Status, r.Code, r.Message, rawJSON(r.Result), ackResult,
		b2i(acked), ackAt, b2i(done), at, r.CommandID, modemID)
	return err
}

// absorbedAcks is what the acknowledgements absorbed by one final answer
// leave behind: when the first came (acked_at), and the result of the last
// one that carried a result (kept when the final answer carries none).
type absorbedAcks struct {
	first  int // index of the earliest
	result int // index of the latest with a result; -1: none
}

// answerPairs is what pair found in a batch. A batch's maps are
// reused by the next one (batch); each pairing starts from empty ones.
type answerPairs struct {
	// absorbed holds the indexes of the acknowledgements absorbed by a
	// final answer; ackOf maps the final answer's index to what its
	// acknowledgements leave.
	absorbed map[int]bool
	ackOf    map[int]absorbedAcks
	final    map[string]int // pair's scratch: command → index of its first final answer after the scan position
}

// pair finds, in a batch, the acknowledgements (accepted,
// in_progress) that a final answer of the same command and modem later in
// the batch makes moot: applied in order, the final answer overwrites
// everything they wrote except when the command was first acknowledged, and
// the result when the final one carries none. absorbed holds such
// acknowledgements' indexes; ackOf maps the final answer's index to what its
// acknowledgements leave. A modem answers "accepted" and "succeeded" back to
// back, so under load both usually share a batch: one statement instead of
// two (issue #7). p's maps are emptied first.
func (p *answerPairs) pair(ups []store.Uplink) {
	clear(p.absorbed)
	clear(p.ackOf)
	for i := len(ups) - 1; i >= 0; i-- {
		u := &ups[i]
		if u.Kind != store.UpResult || u.Result == nil {
			continue
		}
		next, acked, done := store.AnswerState(u.Result.Status)
		switch {
		case done:
			if p.final == nil {
				p.final = make(map[string]int)
			}
			p.final[u.Result.CommandID] = i
		case next == "":
			// An unknown status writes status and result in between:
			// acknowledgements before it are applied as they are.
			delete(p.final, u.Result.CommandID)
		case acked:
			j, ok := p.final[u.Result.CommandID]
			if !ok || ups[j].ModemID != u.ModemID {
				continue
			}
			if p.absorbed == nil {
				p.absorbed, p.ackOf = make(map[int]bool), make(map[int]absorbedAcks)
			}
			p.absorbed[i] = true
			a, seen := p.ackOf[j]
			if !seen {
				a.result = -1
			}
			a.first = i // scanning backwards: the earliest stays
			if a.result < 0 && len(u.Result.Result) > 0 {
				a.result = i // the latest with a result
			}
			p.ackOf[j] = a
		}
	}
	clear(p.final) // the command ids: kept no longer than the batch
}
