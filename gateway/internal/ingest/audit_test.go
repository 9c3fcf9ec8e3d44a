package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/dex/evadts"
	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/sqlite"
)

// sharedEVADTS is the shared sample audits folder, relative to this package.
const sharedEVADTS = "../../../../shared/testdata/evadts"

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// auditEnv is a store with one modem bound to one machine, and a handler on it.
type auditEnv struct {
	db  *sqlite.DB
	h   *Handler
	mid int64
	vm  store.Machine
	seq int
}

func newAuditEnv(t *testing.T, trackBus bool, tz string) *auditEnv {
	t.Helper()
	db, mid := openDB(t)
	vm := store.Machine{CompanyID: store.DefaultCompanyID, Name: "vm", ModemID: &mid, TrackBusVends: trackBus, TZ: tz, CreatedAt: t0}
	require.NoError(t, db.CreateMachine(context.Background(), &vm, false))
	return &auditEnv{db: db, h: &Handler{Store: db}, mid: mid, vm: vm}
}

// send stores an audit as the ingest does and runs its follow-up; it returns
// the uplink (to redeliver it).
func (e *auditEnv) send(t *testing.T, text []byte, sec int, valid bool) store.Uplink {
	t.Helper()
	e.seq++
	return e.sendID(t, fmt.Sprintf("a%d", e.seq), text, sec, valid)
}

func (e *auditEnv) sendID(t *testing.T, msgID string, text []byte, sec int, valid bool) store.Uplink {
	t.Helper()
	at := t0.Add(time.Duration(sec) * time.Second)
	a := &store.Audit{ModemID: e.mid, MsgID: msgID, Port: 2, Time: at, Received: at, Data: text, Valid: valid}
	if !valid {
		a.Error = "G85 mismatch"
	}
	up := store.Uplink{Kind: store.UpAudit, ModemID: e.mid, Received: at, Audit: a}
	require.NoError(t, e.db.ApplyUplinks(context.Background(), []store.Uplink{up}))
	e.h.auditDerived(context.Background(), up)
	return up
}

func (e *auditEnv) vend(t *testing.T, msgID, sel string, price int64, pay string, sec int) {
	t.Helper()
	at := t0.Add(time.Duration(sec) * time.Second)
	require.NoError(t, e.db.ApplyUplinks(context.Background(), []store.Uplink{{Kind: store.UpVend, ModemID: e.mid, Received: at,
		Vend: &store.Vend{MsgID: msgID, Selection: sel, Price: price, Payment: pay, Type: "paid", OK: true, Time: at}}}))
}

func (e *auditEnv) sale(t *testing.T, msgID string) (store.AuditSale, bool) {
	t.Helper()
	a, err := e.db.AuditByMsg(context.Background(), e.mid, msgID)
	require.NoError(t, err)
	s, err := e.db.GetAuditSale(context.Background(), a.ID)
	if err != nil {
		require.ErrorIs(t, err, store.ErrNotFound)
		return s, false
	}
	return s, true
}

func (e *auditEnv) events(t *testing.T) []store.Event {
	t.Helper()
	evs, err := e.db.ListEvents(context.Background(), e.vm.ID, time.Time{}, time.Time{})
	require.NoError(t, err)
	return evs
}

// vends returns the machine's vends as "selection/payment/price" counts.
func (e *auditEnv) vends(t *testing.T) map[string]int {
	t.Helper()
	vs, err := e.db.ListVends(context.Background(), e.vm.ID, time.Time{}, time.Time{})
	require.NoError(t, err)
	out := map[string]int{}
	for _, v := range vs {
		out[fmt.Sprintf("%s/%s/%d", v.Selection, v.Payment, v.Price)]++
	}
	return out
}

func (e *auditEnv) total(t *testing.T) store.VendTotal {
	t.Helper()
	tot, err := e.db.VendSummary(context.Background(), store.VendFilter{VMID: e.vm.ID, Type: "paid"})
	require.NoError(t, err)
	return tot
}

func (e *auditEnv) machine(t *testing.T) store.Machine {
	t.Helper()
	m, err := e.db.GetMachine(context.Background(), e.vm.ID)
	require.NoError(t, err)
	return m
}

// counters are the "since initialisation" values an audit is built from.
type counters struct {
	products map[string][2]int64 // selection → count, value (PA2)
	pa7      map[string]map[string][2]int64
	cash     [2]int64 // CA2 count, value
	cashless [2]int64 // DA2
	doors    int64    // EA2 EGS
	jams     int64    // EA2 EJJ (0: no record)
	timed    []evadts.TimedEvent
	initAt   string // EA4 date
}

// build encodes an audit of machine VGTEST0001 with exact counters.
func build(t testing.TB, c counters) []byte {
	t.Helper()
	r := evadts.NewReport("VGT0000001")
	r.Machine = evadts.Machine{Serial: "VGTEST0001", Model: "T", Currency: &evadts.Currency{Decimals: 2}}
	var n, v int64
	sels := make([]string, 0, len(c.products))
	for s := range c.products {
		sels = append(sels, s)
	}
	sort.Strings(sels)
	for _, s := range sels {
		p := c.products[s]
		n, v = n+p[0], v+p[1]
		prod := evadts.Product{ID: s, Price: 100, Paid: &evadts.PaidVends{VendCount: evadts.VendCount{CountInit: p[0], ValueInit: p[1]}}}
		devs := make([]string, 0, len(c.pa7[s]))
		for d := range c.pa7[s] {
			devs = append(devs, d)
		}
		sort.Strings(devs)
		for _, d := range devs {
			x := c.pa7[s][d]
			prod.ByDevice = append(prod.ByDevice, evadts.DeviceVends{Product: s, Device: d, CountInit: x[0], ValueInit: x[1]})
		}
		r.Products = append(r.Products, prod)
	}
	r.Meters.Paid = &evadts.Meter{Totals: evadts.Totals{CountInit: n % evadts.CounterModulus, ValueInit: v % evadts.CounterModulus}}
	r.Cash.Sales = &evadts.Totals{CountInit: c.cash[0], ValueInit: c.cash[1]}
	r.Cashless = []evadts.Cashless{{Prefix: "DA", Sales: &evadts.Totals{CountInit: c.cashless[0], ValueInit: c.cashless[1]}}}
	r.Events.Timed = c.timed
	r.Events.Counters = []evadts.EventCounter{{Code: "EGS", CountInit: c.doors, Active: "0"}}
	if c.jams > 0 {
		r.Events.Counters = append(r.Events.Counters, evadts.EventCounter{Code: "EJJ", CountInit: c.jams, Active: "1"})
	}
	init := c.initAt
	if init == "" {
		init = "240101"
	}
	r.Events.Initialised = &evadts.DateTime{Date: init, Time: "0800"}
	var buf bytes.Buffer
	require.NoError(t, evadts.Encode(&buf, r))
	return buf.Bytes()
}

var (
	first = counters{
		products: map[string][2]int64{"10": {5, 500}, "11": {2, 300}},
		cash:     [2]int64{4, 500}, cashless: [2]int64{3, 300}, doors: 3,
		timed: []evadts.TimedEvent{{Code: "EGS", Date: "240501", Time: "1000"}},
	}
	// second: 3 × "10" for 300 and 1 × "11" for 150 since first, two of
	// them cashless; two door openings, a jam and a new timed event.
	second = counters{
		products: map[string][2]int64{"10": {8, 800}, "11": {3, 450}},
		cash:     [2]int64{6, 750}, cashless: [2]int64{5, 500}, doors: 5, jams: 1,
		timed: []evadts.TimedEvent{{Code: "EGS", Date: "240501", Time: "1000"}, {Code: "EJJ", Date: "20240501", Time: "113015", Duration: 2}},
	}
)

func codes(evs []store.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Code)
	}
	sort.Strings(out)
	return out
}

func TestAuditSalesTwoAudits(t *testing.T) {
	e := newAuditEnv(t, false, "Europe/Moscow")
	e.send(t, build(t, first), 0, true)
	s1, ok := e.sale(t, "a1")
	require.True(t, ok)
	assert.Equal(t, store.SalesBaseline, s1.Status)
	assert.Zero(t, s1.PrevAuditID)
	assert.Empty(t, e.vends(t), "a baseline audit derives no vends")
	evs := e.events(t)
	require.Len(t, evs, 1, "the first audit's EA1 events are stored")
	assert.Equal(t, "EGS", evs[0].Code)
	assert.True(t, evs[0].Time.Equal(time.Date(2024, 5, 1, 7, 0, 0, 0, time.UTC)), "EA1 10:00 Moscow is 07:00 UTC, got %v", evs[0].Time)

	e.send(t, build(t, second), 600, true)
	s2, ok := e.sale(t, "a2")
	require.True(t, ok)
	assert.Equal(t, store.SalesCounted, s2.Status)
	assert.Equal(t, s1.AuditID, s2.PrevAuditID)
	assert.Equal(t, store.SalesAmount{Count: 4, Value: 450}, s2.Vends)
	assert.Equal(t, store.SalesAmount{Count: 2, Value: 250}, s2.Cash)
	assert.Equal(t, store.SalesAmount{Count: 2, Value: 200}, s2.Cashless)
	assert.Equal(t, []store.ProductSale{
		{Selection: "10", SalesAmount: store.SalesAmount{Count: 3, Value: 300}},
		{Selection: "11", SalesAmount: store.SalesAmount{Count: 1, Value: 150}},
	}, s2.Products)
	assert.Equal(t, 4, s2.DerivedVends)

	// One row per vend, the cashless count spread over them.
	assert.Equal(t, map[string]int{"10/cash/100": 2, "10/cashless/100": 1, "11/cashless/150": 1}, e.vends(t))
	assert.Equal(t, store.VendTotal{Count: 4, Value: 450}, e.total(t))
	assert.True(t, e.machine(t).LastSale.Equal(t0.Add(600*time.Second)))

	evs = e.events(t)
	assert.Equal(t, []string{"EGS", "EGS", "EJJ", "EJJ"}, codes(evs), "EA1 EJJ, EA2 EGS ×2 and EA2 EJJ ×1 added")
	var doors map[string]any
	for _, ev := range evs {
		var p map[string]any
		require.NoError(t, json.Unmarshal(ev.Payload, &p))
		if p["record"] == "EA2" && ev.Code == "EGS" {
			doors = p
		}
		if p["record"] == "EA1" && ev.Code == "EJJ" {
			assert.True(t, ev.Time.Equal(time.Date(2024, 5, 1, 8, 30, 15, 0, time.UTC)), "EA1 time %v", ev.Time)
		}
	}
	require.NotNil(t, doors)
	assert.EqualValues(t, 2, doors["count"])
	assert.EqualValues(t, 5, doors["count_init"])
}

func TestAuditSalesSameAuditTwice(t *testing.T) {
	e := newAuditEnv(t, false, "")
	e.send(t, build(t, first), 0, true)
	up := e.send(t, build(t, second), 600, true)
	evs, vends, total := e.events(t), e.vends(t), e.total(t)
	require.NotEmpty(t, vends)

	// Redelivered: same message id, stored once, derived once.
	e.h.auditDerived(context.Background(), up)
	e.sendID(t, up.Audit.MsgID, up.Audit.Data, 600, true)
	assert.Equal(t, evs, e.events(t))
	assert.Equal(t, vends, e.vends(t))
	assert.Equal(t, total, e.total(t))

	// Read again with nothing sold: a new audit with the same counters.
	e.send(t, build(t, second), 900, true)
	s, ok := e.sale(t, "a3")
	require.True(t, ok)
	assert.Equal(t, store.SalesCounted, s.Status)
	assert.Empty(t, s.Products)
	assert.Zero(t, s.DerivedVends)
	assert.Equal(t, evs, e.events(t), "the same EA1 events are not stored again")
	assert.Equal(t, total, e.total(t))
	assert.True(t, e.machine(t).LastSale.Equal(t0.Add(600*time.Second)), "no sale, last sale unchanged")
}

func TestAuditSalesInvalidIgnored(t *testing.T) {
	e := newAuditEnv(t, false, "")
	e.send(t, build(t, first), 0, true)
	before := e.machine(t)
	evs := e.events(t)

	// An invalid audit in between, with bigger counters: kept, marked
	// invalid, and changes no counters, events or sales.
	bad := build(t, counters{products: map[string][2]int64{"10": {900, 90000}}, cash: [2]int64{900, 90000}, doors: 99, jams: 9,
		timed: []evadts.TimedEvent{{Code: "EBAD", Date: "240501", Time: "1100"}}})
	e.send(t, bad, 300, false)
	_, ok := e.sale(t, "a2")
	assert.False(t, ok, "no summary for an invalid audit")
	assert.Equal(t, evs, e.events(t))
	assert.Empty(t, e.vends(t))
	after := e.machine(t)
	assert.Equal(t, before.LastReport, after.LastReport, "last_report only follows valid audits")
	assert.True(t, after.LastAcquiredReport.Equal(t0.Add(300*time.Second)))
	assert.True(t, after.LastSale.IsZero())

	// The next valid audit counts from the last valid one.
	e.send(t, build(t, second), 600, true)
	s, ok := e.sale(t, "a3")
	require.True(t, ok)
	first, _ := e.sale(t, "a1")
	assert.Equal(t, first.AuditID, s.PrevAuditID)
	assert.Equal(t, store.VendTotal{Count: 4, Value: 450}, e.total(t))
	assert.NotContains(t, codes(e.events(t)), "EBAD")
}

func TestAuditSalesCounterWrap(t *testing.T) {
	e := newAuditEnv(t, false, "")
	const top = evadts.CounterModulus - 2
	e.send(t, build(t, counters{products: map[string][2]int64{"10": {top, top}}, cash: [2]int64{top, top}}), 0, true)
	e.send(t, build(t, counters{products: map[string][2]int64{"10": {1, 1}}, cash: [2]int64{1, 1}}), 60, true)
	s, ok := e.sale(t, "a2")
	require.True(t, ok)
	assert.Equal(t, store.SalesCounted, s.Status)
	assert.Equal(t, []store.ProductSale{{Selection: "10", SalesAmount: store.SalesAmount{Count: 3, Value: 3}}}, s.Products)
	assert.Contains(t, s.Wrapped, "PA2 10 count")
	assert.Equal(t, map[string]int{"10/cash/1": 3}, e.vends(t))
}

func TestAuditSalesImplausible(t *testing.T) {
	// A control board swapped without EA4 changing: the counters fall back,
	// which reads as a wrap of almost 10^8 vends. Not derived.
	e := newAuditEnv(t, false, "")
	e.send(t, build(t, counters{products: map[string][2]int64{"10": {5000, 500000}}}), 0, true)
	e.send(t, build(t, counters{products: map[string][2]int64{"10": {3, 300}}}), 60, true)
	s, ok := e.sale(t, "a2")
	require.True(t, ok)
	assert.Equal(t, store.SalesImplausible, s.Status)
	assert.Empty(t, e.vends(t))
	assert.True(t, e.machine(t).LastSale.IsZero())

	// Reinitialised (EA4 changed): counters restart from zero instead.
	e.send(t, build(t, counters{products: map[string][2]int64{"10": {2, 200}}, initAt: "240401"}), 120, true)
	s, ok = e.sale(t, "a3")
	require.True(t, ok)
	assert.Equal(t, store.SalesCounted, s.Status)
	assert.True(t, s.Reinitialised)
	assert.Equal(t, map[string]int{"10/cash/100": 2}, e.vends(t))
}

func TestAuditSalesTrackBusVends(t *testing.T) {
	e := newAuditEnv(t, true, "")
	e.send(t, build(t, first), 0, true)
	e.vend(t, "b1", "10", 100, "cash", 100)
	e.send(t, build(t, second), 600, true)
	s, ok := e.sale(t, "a2")
	require.True(t, ok)
	assert.Equal(t, store.SalesCounted, s.Status, "the summary is kept")
	assert.Zero(t, s.DerivedVends)
	assert.Equal(t, map[string]int{"10/cash/100": 1}, e.vends(t), "sales come from bus vends only")
	assert.Equal(t, []string{"EGS", "EGS", "EJJ", "EJJ"}, codes(e.events(t)), "events are derived all the same")
}

func TestAuditSalesBusVendsNotDoubled(t *testing.T) {
	// The modem saw two of the four vends on the bus (one of them under a
	// selection name the audit does not use); only the rest is derived.
	e := newAuditEnv(t, false, "")
	e.send(t, build(t, first), 0, true)
	e.vend(t, "b1", "10", 100, "cashless", 100)
	e.vend(t, "b2", "X7", 150, "cash", 200)
	e.send(t, build(t, second), 600, true)
	s, ok := e.sale(t, "a2")
	require.True(t, ok)
	assert.Equal(t, 2, s.DerivedVends)
	assert.Equal(t, int64(4), e.total(t).Count, "audit total, not audit + bus")
	// Left: "10" 3 - 1 (its bus vend) - 1 (X7, matched to no product, taken
	// from the first bucket) and "11" 1; of the 2 cashless vends the bus saw
	// one, so one of the two derived is cashless.
	assert.Equal(t, map[string]int{"10/cashless/100": 1, "X7/cash/150": 1, "10/cash/100": 1, "11/cashless/150": 1}, e.vends(t))
}

func TestAuditSalesPA7Split(t *testing.T) {
	e := newAuditEnv(t, false, "")
	c1 := counters{products: map[string][2]int64{"10": {4, 400}}, pa7: map[string]map[string][2]int64{"10": {"CA": {1, 100}, "DA": {3, 300}}}}
	c2 := counters{products: map[string][2]int64{"10": {9, 950}}, pa7: map[string]map[string][2]int64{"10": {"CA": {2, 200}, "DA": {6, 650}}},
		cashless: [2]int64{0, 0}}
	e.send(t, build(t, c1), 0, true)
	e.send(t, build(t, c2), 60, true)
	// 5 vends: 1 cash (100), 3 cashless (350: 117+117+116) and 1 that PA7
	// does not attribute (100), counted as cash.
	assert.Equal(t, map[string]int{"10/cash/100": 2, "10/cashless/117": 2, "10/cashless/116": 1}, e.vends(t))
	assert.Equal(t, store.VendTotal{Count: 5, Value: 550}, e.total(t))
}

func TestAuditSalesLateAudit(t *testing.T) {
	e := newAuditEnv(t, false, "")
	e.send(t, build(t, first), 0, true)
	e.send(t, build(t, second), 600, true)
	total := e.total(t)
	// An audit read between the two arrives last (buffered at the modem).
	mid := first
	mid.products = map[string][2]int64{"10": {6, 600}, "11": {2, 300}}
	e.send(t, build(t, mid), 300, true)
	s, ok := e.sale(t, "a3")
	require.True(t, ok)
	assert.Equal(t, store.SalesLate, s.Status)
	assert.Equal(t, total, e.total(t), "its span is counted already")
}

func TestAuditSalesRealAudits(t *testing.T) {
	read := func(t *testing.T, name string) []byte {
		b, err := os.ReadFile(filepath.Join(sharedEVADTS, name))
		if os.IsNotExist(err) {
			t.Skipf("%s absent", sharedEVADTS)
		}
		require.NoError(t, err)
		return b
	}

	t.Run("two reads of one machine, nothing sold", func(t *testing.T) {
		a := read(t, "lanmark7__dex-utility__Test-3.dex")
		b := read(t, "lanmark7__dex-utility__Test-8.dex")
		e := newAuditEnv(t, false, "")
		e.send(t, a, 0, true)
		e.send(t, b, 600, true)
		s, ok := e.sale(t, "a2")
		require.True(t, ok)
		assert.Equal(t, store.SalesCounted, s.Status)
		assert.Empty(t, s.Products)
		assert.Empty(t, e.vends(t))
	})

	t.Run("N&W Kalea with sales and events", func(t *testing.T) {
		text := read(t, "sigalabs__DEXUCS-VendingMachine-B2C-Simulator__evadts.txt")
		rs, err := evadts.ParseBytes(text)
		require.NoError(t, err)
		r := rs[0]
		e := newAuditEnv(t, false, "")
		e.send(t, text, 0, true)
		evs := e.events(t)
		assert.Len(t, evs, len(r.Events.Timed), "every EA1 record is an event")
		for _, ev := range evs {
			if ev.Code == "EGS" {
				assert.True(t, ev.Time.Equal(time.Date(2021, 1, 20, 8, 50, 36, 0, time.UTC)), "EA1 EGS time %v", ev.Time)
			}
		}

		// The next read: the first two products sold 2 and 1 more, the
		// door opened once more.
		require.GreaterOrEqual(t, len(r.Products), 2)
		var want []store.ProductSale
		for i, n := range []int64{2, 1} {
			p := &r.Products[i]
			require.NotNil(t, p.Paid)
			p.Paid.CountInit += n
			p.Paid.ValueInit += n * p.Price
			want = append(want, store.ProductSale{Selection: p.ID, Name: p.Name, SalesAmount: store.SalesAmount{Count: n, Value: n * p.Price}})
		}
		for i := range r.Events.Counters {
			if r.Events.Counters[i].Code == "EGS" {
				r.Events.Counters[i].CountInit++
			}
		}
		var buf bytes.Buffer
		require.NoError(t, evadts.Encode(&buf, r))
		e.send(t, buf.Bytes(), 600, true)
		s, ok := e.sale(t, "a2")
		require.True(t, ok)
		assert.Equal(t, store.SalesCounted, s.Status)
		assert.Equal(t, want, s.Products)
		assert.Equal(t, int64(3), e.total(t).Count)
		assert.Equal(t, want[0].Value+want[1].Value, e.total(t).Value)
		added := e.events(t)[len(evs):]
		require.Len(t, added, 1, "only the EA2 door counter moved; EA1 records are known")
		assert.Equal(t, "EGS", added[0].Code)
	})
}
