package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"vendgate/dex/evadts"
	"vendgate/gateway/internal/store"
)

// MaxDerivedVends bounds the vends one audit span may add. A difference above
// it is not a span of trade but a counter that was replaced or reset without
// EA4 and read as a wrap (EVA-DTS §5.1.6 counters are 8 digits): the summary
// is kept, marked store.SalesImplausible, and no vends are written.
const MaxDerivedVends = 50_000

// derivedPrefix starts the MsgID of every event and vend derived from an
// audit (store/sqlite.DerivedPrefix must say the same).
const derivedPrefix = "dex:"

// auditMu serialises the derivations: a span (previous valid audit → this
// one) must be read and claimed by one derivation at a time. Audits are rare
// (one per read of a machine), so one lock for the process costs nothing.
// The store's unique span index catches what the lock cannot (another
// process on the same database).
var auditMu sync.Mutex

// auditDerived runs after a valid audit is committed: it records the sales
// since the machine's previous valid audit of the same port, the EVA-DTS
// events the audit brings, and (for machines that do not track bus vends)
// the derived vends, through store.AuditSales when the store offers it. It is
// idempotent: a redelivered audit finds its summary and writes nothing. An
// invalid audit derives nothing.
func (h *Handler) auditDerived(ctx context.Context, up store.Uplink) {
	if up.Kind != store.UpAudit || up.Audit == nil || !up.Audit.Valid || up.Audit.MsgID == "" {
		return
	}
	as, ok := h.Store.(store.AuditSales)
	if !ok {
		return
	}
	auditMu.Lock()
	defer auditMu.Unlock()
	if err := deriveAudit(ctx, h.Store, as, up.ModemID, up.Audit.MsgID); err != nil && h.Log != nil {
		h.Log.Warn("audit sales not derived", "modem", up.ModemID, "msg", up.Audit.MsgID, "err", err)
	}
}

// deriveAudit does the work of auditDerived for the stored audit (modemID, msgID).
func deriveAudit(ctx context.Context, st store.Store, as store.AuditSales, modemID int64, msgID string) error {
	a, err := as.AuditByMsg(ctx, modemID, msgID)
	if err != nil {
		return err
	}
	if !a.Valid || a.VMID == 0 {
		return nil // not trusted, or of no machine: nothing to count
	}
	if _, err := as.GetAuditSale(ctx, a.ID); err == nil {
		return nil // done before (the audit was redelivered)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	vm, err := st.GetMachine(ctx, a.VMID)
	if err != nil {
		return err
	}
	cur, err := firstReport(a.Data)
	if err != nil {
		return fmt.Errorf("audit %d: %w", a.ID, err)
	}
	loc := machineLocation(vm.TZ)

	s := store.AuditSale{AuditID: a.ID, VMID: a.VMID, ModemID: a.ModemID, Port: a.Port, Time: a.Time,
		Status: store.SalesBaseline}
	var delta *evadts.Delta
	prev, err := as.PrevValidAudit(ctx, a)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		if pr, perr := firstReport(prev.Data); perr == nil {
			if d, serr := evadts.Sales(pr, cur); serr == nil {
				delta = &d
				s.PrevAuditID, s.PrevTime = prev.ID, prev.Time
				fillSale(&s, d)
			}
		}
	}

	events := timedEvents(cur, a, loc)
	var vends []store.Vend
	if delta != nil {
		events = append(events, counterEvents(cur, delta, a)...)
		if !vm.TrackBusVends && s.Status == store.SalesCounted {
			bus, err := as.BusVends(ctx, a.VMID, s.PrevTime, a.Time)
			if err != nil {
				return err
			}
			vends = deriveVends(delta, bus, a)
			s.DerivedVends = len(vends)
		}
	}
	var lastSale time.Time
	if len(vends) > 0 {
		lastSale = a.Time
	}
	_, err = as.SaveAuditSale(ctx, s, events, vends, lastSale)
	if !errors.Is(err, store.ErrConflict) {
		return err
	}
	// A later audit was already counted from the same previous audit: this
	// one arrived late inside a counted span and adds no sales. Its EA1
	// events still count (their ids are their identity, so nothing doubles).
	late := store.AuditSale{AuditID: a.ID, VMID: a.VMID, ModemID: a.ModemID, Port: a.Port, Time: a.Time,
		Status: store.SalesLate}
	_, err = as.SaveAuditSale(ctx, late, timedEvents(cur, a, loc), nil, time.Time{})
	return err
}

// firstReport parses an audit's text and returns its first report (the
// machine's own audit; further DXS..DXE blocks of one text are other devices).
func firstReport(data []byte) (*evadts.Report, error) {
	rs, err := evadts.ParseBytes(data)
	if len(rs) == 0 {
		if err == nil {
			err = evadts.ErrNoAudit
		}
		return nil, err
	}
	return rs[0], nil
}

// machineLocation is the machine's time zone for the local date and time of
// EA1 records; UTC when it has none or the name is unknown.
func machineLocation(tz string) *time.Location {
	if tz == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return time.UTC
	}
	return loc
}

// fillSale copies the span's sales into s and decides its status.
func fillSale(s *store.AuditSale, d evadts.Delta) {
	s.Status = store.SalesCounted
	s.Vends = store.SalesAmount(d.Vends)
	s.Cash = store.SalesAmount(d.Cash)
	s.Cashless = store.SalesAmount(d.Cashless)
	s.Wrapped, s.Reinitialised = d.Wrapped, d.Reinitialised
	var units int64
	for _, p := range d.Products {
		ps := store.ProductSale{Selection: p.ID, Name: p.Name, SalesAmount: store.SalesAmount(p.Amount)}
		if len(p.ByDevice) > 0 {
			ps.ByDevice = make(map[string]store.SalesAmount, len(p.ByDevice))
			for k, v := range p.ByDevice {
				ps.ByDevice[k] = store.SalesAmount(v)
			}
		}
		s.Products = append(s.Products, ps)
		units += max(p.Count, 0)
	}
	if units > MaxDerivedVends || d.Vends.Count > MaxDerivedVends {
		s.Status = store.SalesImplausible
	}
}

// timedEvents turns the audit's EA1 records into events. Their MsgID is
// their identity (machine, code, date, time, product and the how-many-th such
// record of the audit), so the same event read again in a later audit is
// not stored twice.
func timedEvents(r *evadts.Report, a store.Audit, loc *time.Location) []store.Event {
	var out []store.Event
	seen := map[evadts.TimedEventKey]int{}
	mid := r.MachineID()
	for _, e := range r.Events.Timed {
		code := strings.TrimSpace(e.Code)
		if code == "" {
			continue
		}
		k := e.Key()
		n := seen[k]
		seen[k] = n + 1
		t, ok := evadts.ParseTime(e.Date, e.Time, loc)
		if !ok {
			t = a.Time
		}
		payload, _ := json.Marshal(map[string]any{"source": "eva-dts", "record": "EA1", "audit_id": a.ID,
			"date": e.Date, "time": e.Time, "duration": e.Duration, "product": e.Product, "extra": e.Extra})
		id := fmt.Sprintf("%sEA1:%s:%s:%s:%s:%s#%d", derivedPrefix, mid, e.Code, e.Date, e.Time, e.Product, n)
		out = append(out, store.Event{ModemID: a.ModemID, VMID: a.VMID, MsgID: id, Code: code, Time: t, Payload: payload})
	}
	return out
}

// counterEvents turns the EA2 counters that moved since the previous audit
// into one event each (with how many times it happened), at the audit's
// time: an EA2 counter says how often, not when.
func counterEvents(r *evadts.Report, d *evadts.Delta, a store.Audit) []store.Event {
	var out []store.Event
	for i, ec := range d.Events {
		code := strings.TrimSpace(ec.Code)
		if code == "" {
			continue
		}
		p := map[string]any{"source": "eva-dts", "record": "EA2", "audit_id": a.ID, "count": ec.Count, "product": ec.Product}
		for _, c := range r.Events.Counters {
			if c.Code == ec.Code && c.Product == ec.Product {
				p["count_init"], p["text"], p["active"] = c.CountInit, c.Text, c.Active
				break
			}
		}
		payload, _ := json.Marshal(p)
		out = append(out, store.Event{ModemID: a.ModemID, VMID: a.VMID, Code: code, Time: a.Time, Payload: payload,
			MsgID: fmt.Sprintf("%sa%d:EA2:%d", derivedPrefix, a.ID, i)})
	}
	return out
}

// devicePayment maps an EVA-DTS payment device (PA702, the key of
// ProductSales.ByDevice before any "/price list") to the vend payment; ""
// when it has none.
func devicePayment(key string) string {
	dev, _, _ := strings.Cut(key, "/")
	switch dev {
	case "CA":
		return "cash"
	case "DA", "DB":
		return "cashless"
	case "TA":
		return "token"
	}
	return ""
}

// bucket is part of a product's sales in a span with one payment ("" when
// the report does not say).
type bucket struct {
	sel   string
	pay   string
	count int64
	value int64
}

// take removes up to n vends from b at its average price and returns how many.
func (b *bucket) take(n int64) int64 {
	n = min(n, b.count)
	if n <= 0 {
		return 0
	}
	b.value -= b.value * n / b.count
	b.count -= n
	return n
}

// deriveVends turns the span's sales into vend rows (see store.AuditSales
// for the rules): buckets per product and payment, minus the bus vends the
// modem already reported in the span, the unknown payments split by the
// span's cashless count, one row per vend.
func deriveVends(d *evadts.Delta, bus []store.ProductGroup, a store.Audit) []store.Vend {
	var bs []*bucket
	var units int64
	for _, p := range d.Products {
		if p.Count <= 0 {
			continue
		}
		units += p.Count
		rest := bucket{sel: p.ID, count: p.Count, value: max(p.Value, 0)}
		for _, key := range slices.Sorted(maps.Keys(p.ByDevice)) {
			am := p.ByDevice[key]
			pay := devicePayment(key)
			if pay == "" || am.Count <= 0 || am.Count > rest.count {
				continue
			}
			v := min(max(am.Value, 0), rest.value)
			bs = append(bs, &bucket{sel: p.ID, pay: pay, count: am.Count, value: v})
			rest.count -= am.Count
			rest.value -= v
		}
		if rest.count > 0 {
			bs = append(bs, &rest)
		}
	}
	if units == 0 && d.Vends.Count > 0 {
		// No per-product counters (no PA2/PA7): the machine total, unnamed.
		bs = append(bs, &bucket{count: d.Vends.Count, value: max(d.Vends.Value, 0)})
	}

	// Bus vends already stored count towards the audit's numbers: first
	// from their own selection (same payment, then unknown, then any), then,
	// for selections the audit does not name alike, from anything left.
	var busCashless int64
	var unmatched []store.ProductGroup
	order := func(sel string, anySel bool, pay string) []*bucket {
		var out []*bucket
		for _, want := range []func(*bucket) bool{
			func(b *bucket) bool { return b.pay == pay },
			func(b *bucket) bool { return b.pay == "" },
			func(b *bucket) bool { return b.pay != pay && b.pay != "" },
		} {
			for _, b := range bs {
				if (anySel || b.sel == sel) && want(b) {
					out = append(out, b)
				}
			}
		}
		return out
	}
	for _, g := range bus {
		if g.Payment == "cashless" {
			busCashless += g.Count
		}
		left := g.Count
		for _, b := range order(g.Selection, false, g.Payment) {
			left -= b.take(left)
		}
		if left > 0 {
			g.Count = left
			unmatched = append(unmatched, g)
		}
	}
	for _, g := range unmatched {
		left := g.Count
		for _, b := range order("", true, g.Payment) {
			left -= b.take(left)
		}
	}

	// The vends the report gives no payment for share the cashless count
	// left over, spread evenly; the rest were cash.
	var unknown, knownCashless int64
	for _, b := range bs {
		switch b.pay {
		case "":
			unknown += b.count
		case "cashless":
			knownCashless += b.count
		}
	}
	cashless := min(max(d.Cashless.Count-busCashless-knownCashless, 0), unknown)

	var out []store.Vend
	var k int64 // index among the unknown-payment vends
	for i, b := range bs {
		if b.count <= 0 {
			continue
		}
		price, extra := b.value/b.count, b.value%b.count
		for j := range b.count {
			pay := b.pay
			if pay == "" {
				pay = "cash"
				if (k+1)*cashless/unknown > k*cashless/unknown {
					pay = "cashless"
				}
				k++
			}
			p := price
			if j < extra {
				p++
			}
			out = append(out, store.Vend{ModemID: a.ModemID, VMID: a.VMID, Selection: b.sel, Price: p, Payment: pay,
				Type: "paid", OK: true, Time: a.Time,
				MsgID: derivedPrefix + "a" + strconv.FormatInt(a.ID, 10) + ":v" + strconv.Itoa(i) + ":" + strconv.FormatInt(j, 10)})
		}
	}
	return out
}
