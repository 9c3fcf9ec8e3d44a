package storetest

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// AuditSalesTests runs the contract of store.AuditSales; the store open
// returns must implement it (and store.Reports, used to read vend totals).
func AuditSalesTests(t *testing.T, open Opener) {
	for _, name := range slices.Sorted(maps.Keys(auditSalesTests)) {
		fn := auditSalesTests[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			as, ok := s.(store.AuditSales)
			require.Truef(t, ok, "%T does not implement store.AuditSales", s)
			fn(t, s, as)
		})
	}
}

// storedAudit applies a valid or invalid audit and returns it as stored.
func storedAudit(t *testing.T, s store.Store, as store.AuditSales, modem int64, sec int, msgID string, port int, valid bool) store.Audit {
	t.Helper()
	apply(t, s, audit(modem, sec, msgID, port, valid))
	a, err := as.AuditByMsg(ctx, modem, msgID)
	require.NoError(t, err)
	return a
}

// derivedVends builds n vends of an audit the way the ingest names them.
func derivedVends(a store.Audit, sel string, price int64, n int, pay string) []store.Vend {
	var out []store.Vend
	for i := range n {
		out = append(out, store.Vend{ModemID: a.ModemID, VMID: a.VMID, MsgID: "dex:a" + itoa(a.ID) + ":" + sel + ":" + itoa(int64(i)),
			Selection: sel, Price: price, Payment: pay, Type: "paid", OK: true, Time: a.Time})
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func vendTotal(t *testing.T, s store.Store, vmID int64) store.VendTotal {
	t.Helper()
	rep, ok := s.(store.Reports)
	require.True(t, ok)
	tot, err := rep.VendSummary(ctx, store.VendFilter{VMID: vmID, Type: "paid"})
	require.NoError(t, err)
	return tot
}

var auditSalesTests = map[string]func(t *testing.T, s store.Store, as store.AuditSales){
	"AuditByMsg": func(t *testing.T, s store.Store, as store.AuditSales) {
		m, vm := boundModem(t, s)
		a := storedAudit(t, s, as, m.ID, 10, "a1", 2, true)
		assert.Equal(t, vm.ID, a.VMID)
		assert.Equal(t, 2, a.Port)
		assert.True(t, a.Time.Equal(at(10)))
		_, err := as.AuditByMsg(ctx, m.ID, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
		other := newModem(t, s)
		_, err = as.AuditByMsg(ctx, other.ID, "a1")
		require.ErrorIs(t, err, store.ErrNotFound)
	},

	"PrevValidAudit": func(t *testing.T, s store.Store, as store.AuditSales) {
		m, _ := boundModem(t, s)
		m2, _ := boundModem(t, s)
		a1 := storedAudit(t, s, as, m.ID, 10, "a1", 2, true)
		storedAudit(t, s, as, m.ID, 20, "bad", 2, false) // invalid: skipped
		storedAudit(t, s, as, m.ID, 25, "p1", 1, true)   // other port: skipped
		storedAudit(t, s, as, m2.ID, 26, "x", 2, true)   // other machine: skipped
		a3 := storedAudit(t, s, as, m.ID, 30, "a3", 2, true)
		a3b := storedAudit(t, s, as, m.ID, 30, "a3b", 2, true) // same time: ordered by id

		got, err := as.PrevValidAudit(ctx, a3)
		require.NoError(t, err)
		assert.Equal(t, a1.ID, got.ID)
		got, err = as.PrevValidAudit(ctx, a3b)
		require.NoError(t, err)
		assert.Equal(t, a3.ID, got.ID)
		_, err = as.PrevValidAudit(ctx, a1)
		require.ErrorIs(t, err, store.ErrNotFound)
	},

	"SaveOnceWithEventsAndVends": func(t *testing.T, s store.Store, as store.AuditSales) {
		m, vm := boundModem(t, s)
		a0 := storedAudit(t, s, as, m.ID, 10, "a0", 2, true)
		a1 := storedAudit(t, s, as, m.ID, 100, "a1", 2, true)
		sale := store.AuditSale{AuditID: a1.ID, VMID: vm.ID, ModemID: m.ID, Port: 2, Time: a1.Time,
			PrevAuditID: a0.ID, PrevTime: a0.Time, Status: store.SalesCounted,
			Vends: store.SalesAmount{Count: 3, Value: 450}, Cash: store.SalesAmount{Count: 2, Value: 300},
			Cashless: store.SalesAmount{Count: 1, Value: 150},
			Products: []store.ProductSale{{Selection: "12", Name: "Cola", SalesAmount: store.SalesAmount{Count: 3, Value: 450},
				ByDevice: map[string]store.SalesAmount{"CA": {Count: 2, Value: 300}}}},
			Wrapped: []string{"VA1 count"}, Reinitialised: true, DerivedVends: 3}
		evs := []store.Event{{ModemID: m.ID, VMID: vm.ID, MsgID: "dex:e1", Code: "EGS", Time: at(50), Payload: json.RawMessage(`{"count":1}`)}}
		vends := derivedVends(a1, "12", 150, 3, "cash")

		created, err := as.SaveAuditSale(ctx, sale, evs, vends, a1.Time)
		require.NoError(t, err)
		assert.True(t, created)

		got, err := as.GetAuditSale(ctx, a1.ID)
		require.NoError(t, err)
		assert.Equal(t, sale, got)
		list, err := as.ListAuditSales(ctx, vm.ID, T0, time.Time{})
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, sale, list[0])
		list, err = as.ListAuditSales(ctx, vm.ID, at(101), time.Time{})
		require.NoError(t, err)
		assert.Empty(t, list)

		stored, err := s.ListEvents(ctx, vm.ID, T0, at(1000))
		require.NoError(t, err)
		require.Len(t, stored, 1)
		assert.Equal(t, "EGS", stored[0].Code)
		assert.JSONEq(t, `{"count":1}`, string(stored[0].Payload))
		assert.Equal(t, store.VendTotal{Count: 3, Value: 450}, vendTotal(t, s, vm.ID))
		assert.True(t, getMachine(t, s, vm.ID).LastSale.Equal(a1.Time))

		// Again (a redelivered audit): nothing more, even with new rows offered.
		more := append(vends, derivedVends(a1, "13", 99, 2, "cash")...)
		evs = append(evs, store.Event{ModemID: m.ID, VMID: vm.ID, MsgID: "dex:e2", Code: "EGS", Time: at(60)})
		created, err = as.SaveAuditSale(ctx, sale, evs, more, a1.Time)
		require.NoError(t, err)
		assert.False(t, created)
		stored, err = s.ListEvents(ctx, vm.ID, T0, at(1000))
		require.NoError(t, err)
		assert.Len(t, stored, 1)
		assert.Equal(t, store.VendTotal{Count: 3, Value: 450}, vendTotal(t, s, vm.ID))
	},

	"SpanCountedOnce": func(t *testing.T, s store.Store, as store.AuditSales) {
		m, vm := boundModem(t, s)
		a0 := storedAudit(t, s, as, m.ID, 10, "a0", 2, true)
		a2 := storedAudit(t, s, as, m.ID, 200, "a2", 2, true)
		a1 := storedAudit(t, s, as, m.ID, 100, "a1", 2, true) // arrives late
		span := func(a store.Audit) store.AuditSale {
			return store.AuditSale{AuditID: a.ID, VMID: vm.ID, ModemID: m.ID, Port: 2, Time: a.Time,
				PrevAuditID: a0.ID, PrevTime: a0.Time, Status: store.SalesCounted, DerivedVends: 1}
		}
		_, err := as.SaveAuditSale(ctx, span(a2), nil, derivedVends(a2, "12", 100, 1, "cash"), a2.Time)
		require.NoError(t, err)
		evs := []store.Event{{ModemID: m.ID, VMID: vm.ID, MsgID: "dex:late", Code: "EGS", Time: at(100)}}
		_, err = as.SaveAuditSale(ctx, span(a1), evs, derivedVends(a1, "12", 100, 5, "cash"), a1.Time)
		require.ErrorIs(t, err, store.ErrConflict)
		// Nothing of the refused summary was written.
		_, err = as.GetAuditSale(ctx, a1.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		stored, err := s.ListEvents(ctx, vm.ID, T0, at(1000))
		require.NoError(t, err)
		assert.Empty(t, stored)
		assert.Equal(t, store.VendTotal{Count: 1, Value: 100}, vendTotal(t, s, vm.ID))
		// Stored as late (no span) it goes in.
		created, err := as.SaveAuditSale(ctx, store.AuditSale{AuditID: a1.ID, VMID: vm.ID, ModemID: m.ID, Port: 2,
			Time: a1.Time, Status: store.SalesLate}, evs, nil, time.Time{})
		require.NoError(t, err)
		assert.True(t, created)
		assert.True(t, getMachine(t, s, vm.ID).LastSale.Equal(a2.Time), "late audit must not move last sale")
	},

	"BusVends": func(t *testing.T, s store.Store, as store.AuditSales) {
		m, vm := boundModem(t, s)
		a := storedAudit(t, s, as, m.ID, 100, "a", 2, true)
		pv := func(msec int64, id, sel string, price int64, pay, typ string, ok bool) store.Uplink {
			return repVend(m.ID, msec, id, sel, price, pay, typ, ok)
		}
		apply(t, s,
			pv(10_000, "before", "12", 100, "cash", "paid", true), // at the span's start: excluded
			pv(20_000, "v1", "12", 100, "cash", "paid", true),
			pv(30_000, "v2", "12", 120, "cash", "paid", true),
			pv(40_000, "v3", "12", 100, "cashless", "paid", true),
			pv(50_000, "v4", "13", 90, "cash", "paid", false), // failed
			pv(60_000, "v5", "13", 90, "none", "free", true),  // free
			pv(100_000, "v6", "14", 70, "cash", "paid", true), // at the audit: included
			pv(100_001, "after", "14", 70, "cash", "paid", true),
		)
		_, err := as.SaveAuditSale(ctx, store.AuditSale{AuditID: a.ID, VMID: vm.ID, ModemID: m.ID, Port: 2, Time: a.Time,
			Status: store.SalesCounted, DerivedVends: 2}, nil, derivedVends(a, "12", 50, 2, "cash"), time.Time{})
		require.NoError(t, err)

		got, err := as.BusVends(ctx, vm.ID, at(10), at(100))
		require.NoError(t, err)
		type row struct {
			Sel, Pay     string
			Count, Value int64
		}
		var rows []row
		for _, g := range got {
			rows = append(rows, row{g.Selection, g.Payment, g.Count, g.Value})
		}
		assert.Equal(t, []row{{"12", "cash", 2, 220}, {"12", "cashless", 1, 100}, {"14", "cash", 1, 70}}, rows)
		assert.True(t, got[0].Last.Equal(at(30)))
	},
}
