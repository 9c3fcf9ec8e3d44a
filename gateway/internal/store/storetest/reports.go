package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// ReportsTests runs the contract of store.Reports and store.Receipts; the store
// open returns must implement both.
func ReportsTests(t *testing.T, open Opener) {
	for _, name := range slices.Sorted(maps.Keys(reportTests)) {
		fn := reportTests[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			rep, ok := s.(store.Reports)
			require.Truef(t, ok, "%T does not implement store.Reports", s)
			rc, ok := s.(store.Receipts)
			require.Truef(t, ok, "%T does not implement store.Receipts", s)
			fn(t, s, rep, rc)
		})
	}
}

// repVend is a vend uplink with the given fields at T0+ms milliseconds.
func repVend(modem int64, msec int64, msgID, sel string, price int64, pay, typ string, ok bool) store.Uplink {
	tt := T0.Add(time.Duration(msec) * time.Millisecond)
	return store.Uplink{Kind: store.UpVend, ModemID: modem, Received: tt,
		Vend: &store.Vend{MsgID: msgID, Selection: sel, Price: price, Payment: pay, Type: typ, OK: ok, Time: tt}}
}

func repAudit(modem int64, sec int, msgID string, port int, valid bool, data string) store.Uplink {
	u := audit(modem, sec, msgID, port, valid)
	u.Audit.Data = []byte(data)
	return u
}

var reportTests = map[string]func(t *testing.T, s store.Store, rep store.Reports, rc store.Receipts){
	"Audits": func(t *testing.T, s store.Store, rep store.Reports, _ store.Receipts) {
		m, vm := boundModem(t, s)
		_, other := boundModem(t, s)
		apply(t, s,
			repAudit(m.ID, 10, "a1", 1, true, "one"),
			repAudit(m.ID, 20, "a2", 2, true, "two"),
			repAudit(m.ID, 30, "a3", 1, false, "three"),
			repAudit(m.ID, 5, "a0", 2, false, "zero"),
		)
		all, err := s.ListAudits(ctx, vm.ID, 0, T0, time.Time{})
		require.NoError(t, err)
		require.Len(t, all, 4)

		a, err := rep.GetAudit(ctx, vm.ID, all[1].ID)
		require.NoError(t, err)
		require.Equal(t, all[1], a)
		_, err = rep.GetAudit(ctx, other.ID, all[1].ID)
		require.ErrorIs(t, err, store.ErrNotFound, "an audit of another machine")

		last, err := rep.LastAudit(ctx, vm.ID, 0, false, T0)
		require.NoError(t, err)
		require.Equal(t, "three", string(last.Data))
		lastValid, err := rep.LastAudit(ctx, vm.ID, 0, true, T0)
		require.NoError(t, err)
		require.Equal(t, "two", string(lastValid.Data))
		port1, err := rep.LastAudit(ctx, vm.ID, 1, true, T0)
		require.NoError(t, err)
		require.Equal(t, "one", string(port1.Data))
		_, err = rep.LastAudit(ctx, vm.ID, 0, false, at(31))
		require.ErrorIs(t, err, store.ErrNotFound, "nothing since")

		byPort, err := rep.LastAuditsByPort(ctx, vm.ID, T0)
		require.NoError(t, err)
		require.Len(t, byPort, 2)
		require.Equal(t, []string{"three", "two"}, []string{string(byPort[0].Data), string(byPort[1].Data)})
		byPort, err = rep.LastAuditsByPort(ctx, vm.ID, at(25))
		require.NoError(t, err)
		require.Len(t, byPort, 1)
	},

	// VendSummary over the fleet (roll-up plus raw edges) must equal the sum
	// computed here from the vends, for ranges cutting hours anywhere.
	"VendSummaryMatchesVends": func(t *testing.T, s store.Store, rep store.Reports, _ store.Receipts) {
		m1, vm1 := boundModem(t, s)
		m2, vm2 := boundModem(t, s)
		unbound := newModem(t, s)
		rng := rand.New(rand.NewPCG(1, 2))
		types := []string{"paid", "paid", "free", "test"}
		pays := []string{"cash", "cashless", "token", "none"}
		type v struct {
			vm        int64
			msec      int64
			typ, pay  string
			price     int64
			ok, bound bool
		}
		var vs []v
		var ups []store.Uplink
		for i := range 400 {
			modem, vmID, bound := m1.ID, vm1.ID, true
			switch i % 5 {
			case 1, 2:
				modem, vmID = m2.ID, vm2.ID
			case 3:
				if i%3 == 0 {
					modem, vmID, bound = unbound.ID, 0, false
				}
			}
			x := v{vm: vmID, msec: rng.Int64N(30 * 3600 * 1000), typ: types[rng.IntN(4)], pay: pays[rng.IntN(4)],
				price: rng.Int64N(500), ok: rng.IntN(10) != 0, bound: bound}
			vs = append(vs, x)
			ups = append(ups, repVend(modem, x.msec, fmt.Sprintf("v%d", i), fmt.Sprint(i%7), x.price, x.pay, x.typ, x.ok))
		}
		apply(t, s, ups...)
		// A redelivered vend must not count twice (the roll-up follows vends).
		apply(t, s, ups[0], ups[1])

		ranges := [][2]int64{
			{0, 30*3600*1000 - 1},
			{1234, 7*3600*1000 + 99},
			{3600 * 1000, 5*3600*1000 - 1},
			{3600*1000 + 1, 2*3600*1000 - 2},
			{17, 17},
		}
		for _, rg := range ranges {
			since, until := T0.Add(time.Duration(rg[0])*time.Millisecond), T0.Add(time.Duration(rg[1])*time.Millisecond)
			for _, f := range []store.VendFilter{
				{CompanyID: store.DefaultCompanyID, Since: since, Until: until},
				{CompanyID: store.DefaultCompanyID, Since: since, Until: until, Type: "paid"},
				{CompanyID: store.DefaultCompanyID, Since: since, Until: until, Payment: "cash"},
				{CompanyID: store.DefaultCompanyID, VMID: vm2.ID, Since: since, Until: until},
				{CompanyID: store.DefaultCompanyID, VMID: vm1.ID, Since: since, Until: until, Type: "free"},
			} {
				var want store.VendTotal
				groups := map[[2]string]store.VendTotal{}
				for _, x := range vs {
					if !x.ok || !x.bound || x.msec < rg[0] || x.msec > rg[1] || (f.VMID != 0 && f.VMID != x.vm) ||
						(f.Type != "" && f.Type != x.typ) || (f.Payment != "" && f.Payment != x.pay) {
						continue
					}
					want.Count++
					want.Value += x.price
					g := groups[[2]string{x.typ, x.pay}]
					g.Count++
					g.Value += x.price
					groups[[2]string{x.typ, x.pay}] = g
				}
				got, err := rep.VendSummary(ctx, f)
				require.NoError(t, err)
				require.Equalf(t, want, got, "range %v filter %+v", rg, f)
				gs, err := rep.VendPaymentSummary(ctx, f)
				require.NoError(t, err)
				gotGroups := map[[2]string]store.VendTotal{}
				for i, g := range gs {
					gotGroups[[2]string{g.Type, g.Payment}] = g.VendTotal
					if i > 0 {
						require.True(t, gs[i-1].Type < g.Type || (gs[i-1].Type == g.Type && gs[i-1].Payment < g.Payment), "ordered")
					}
				}
				require.Equalf(t, groups, gotGroups, "range %v filter %+v", rg, f)
			}
		}
	},

	"VendSummaryOtherCompanyEmpty": func(t *testing.T, s store.Store, rep store.Reports, _ store.Receipts) {
		m, _ := boundModem(t, s)
		apply(t, s, repVend(m.ID, 1000, "v1", "1", 100, "cash", "paid", true))
		got, err := rep.VendSummary(ctx, store.VendFilter{CompanyID: 99, Since: T0, Until: T0.Add(48 * time.Hour)})
		require.NoError(t, err)
		require.Zero(t, got)
		got, err = rep.VendSummary(ctx, store.VendFilter{CompanyID: store.DefaultCompanyID, Since: T0, Until: T0.Add(48 * time.Hour)})
		require.NoError(t, err)
		require.Equal(t, store.VendTotal{Count: 1, Value: 100}, got)
	},

	"VendProducts": func(t *testing.T, s store.Store, rep store.Reports, _ store.Receipts) {
		m, vm := boundModem(t, s)
		apply(t, s,
			repVend(m.ID, 1000, "v1", "2", 35, "cash", "paid", true),
			repVend(m.ID, 2000, "v2", "2", 35, "cashless", "paid", true),
			repVend(m.ID, 3000, "v3", "2", 35, "cash", "paid", true),
			repVend(m.ID, 4000, "v4", "2", 40, "cash", "paid", true),
			repVend(m.ID, 5000, "v5", "3", 0, "none", "free", true),
			repVend(m.ID, 6000, "v6", "3", 35, "cash", "paid", false), // failed: not counted
		)
		f := store.VendFilter{VMID: vm.ID, Since: T0, Until: T0.Add(time.Hour)}
		got, err := rep.VendProducts(ctx, f, false)
		require.NoError(t, err)
		require.Equal(t, []store.ProductGroup{
			{Selection: "2", Price: 35, Type: "paid", Payment: "", Last: T0.Add(3 * time.Second), VendTotal: store.VendTotal{Count: 3, Value: 105}},
			{Selection: "2", Price: 40, Type: "paid", Payment: "cash", Last: T0.Add(4 * time.Second), VendTotal: store.VendTotal{Count: 1, Value: 40}},
			{Selection: "3", Price: 0, Type: "free", Payment: "none", Last: T0.Add(5 * time.Second), VendTotal: store.VendTotal{Count: 1, Value: 0}},
		}, got)
		got, err = rep.VendProducts(ctx, f, true)
		require.NoError(t, err)
		require.Len(t, got, 4)
		require.Equal(t, store.ProductGroup{Selection: "2", Price: 35, Type: "paid", Payment: "cash",
			Last: T0.Add(3 * time.Second), VendTotal: store.VendTotal{Count: 2, Value: 70}}, got[0])
		f.Payment = "cashless"
		got, err = rep.VendProducts(ctx, f, true)
		require.NoError(t, err)
		require.Len(t, got, 1)
		f.Payment, f.Type = "", "free"
		got, err = rep.VendProducts(ctx, f, false)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, "3", got[0].Selection)
	},

	"CashRecordsAndCollections": func(t *testing.T, s store.Store, rep store.Reports, _ store.Receipts) {
		m, vm := boundModem(t, s)
		apply(t, s, repAudit(m.ID, 10, "a1", 1, true, "x"), repAudit(m.ID, 20, "a2", 1, true, "y"),
			repAudit(m.ID, 30, "a3", 1, true, "z"), repAudit(m.ID, 40, "a4", 1, true, "w"))
		cur, err := rep.CashCursor(ctx)
		require.NoError(t, err)
		require.Zero(t, cur)
		as, err := rep.AuditsAfter(ctx, cur, 2)
		require.NoError(t, err)
		require.Len(t, as, 2)
		as2, err := rep.AuditsAfter(ctx, as[1].ID, 10)
		require.NoError(t, err)
		require.Len(t, as2, 2)
		all := append(as, as2...)
		reads := []int64{3, 3, 4, -1} // a2 no reset; a3 a reset read; a4 without EA3
		var recs []store.AuditCash
		for i, a := range all {
			recs = append(recs, store.AuditCash{AuditID: a.ID, VMID: vm.ID, Time: a.Time, ReadsReset: reads[i],
				HandsAdd: int64(i), Change: 10 * int64(i), Coins: 100 * int64(i), Banknotes: 1000 * int64(i)})
		}
		require.NoError(t, rep.SaveAuditCash(ctx, recs[:2], all[1].ID))
		require.NoError(t, rep.SaveAuditCash(ctx, recs[1:], all[3].ID), "records already stored are ignored")
		cur, err = rep.CashCursor(ctx)
		require.NoError(t, err)
		require.Equal(t, all[3].ID, cur)

		cs, err := rep.ListCollections(ctx, store.DefaultCompanyID, T0, at(100))
		require.NoError(t, err)
		want := recs[2]
		want.Collection = true
		require.Equal(t, []store.AuditCash{want}, cs)
		cs, err = rep.ListCollections(ctx, store.DefaultCompanyID, at(31), at(100))
		require.NoError(t, err)
		require.Empty(t, cs)
		cs, err = rep.ListCollections(ctx, 99, T0, at(100))
		require.NoError(t, err)
		require.Empty(t, cs)
	},

	"ReceiptQueue": func(t *testing.T, s store.Store, _ store.Reports, rc store.Receipts) {
		_, vm := boundModem(t, s)
		r := store.Receipt{Key: "vend/1/a", CompanyID: store.DefaultCompanyID, VMID: vm.ID,
			Input: json.RawMessage(`{"terminal":"1"}`), Aux: json.RawMessage(`{"x":1}`), CreatedAt: at(0)}
		created, err := rc.EnqueueReceipt(ctx, &r)
		require.NoError(t, err)
		require.True(t, created)
		require.NotZero(t, r.ID)
		dup := store.Receipt{Key: "vend/1/a", CompanyID: 1, VMID: vm.ID, Input: json.RawMessage(`{}`), CreatedAt: at(1)}
		created, err = rc.EnqueueReceipt(ctx, &dup)
		require.NoError(t, err)
		require.False(t, created, "same key")

		due, err := rc.DueReceipts(ctx, at(0), 10)
		require.NoError(t, err)
		require.Len(t, due, 1)
		require.Equal(t, store.ReceiptPending, due[0].State)
		require.JSONEq(t, `{"terminal":"1"}`, string(due[0].Input))

		require.NoError(t, rc.RetryReceipt(ctx, r.ID, "timeout", at(60), at(1)))
		due, err = rc.DueReceipts(ctx, at(59), 10)
		require.NoError(t, err)
		require.Empty(t, due, "backing off")
		due, err = rc.DueReceipts(ctx, at(60), 10)
		require.NoError(t, err)
		require.Len(t, due, 1)
		require.Equal(t, 1, due[0].Attempts)
		require.Equal(t, "timeout", due[0].LastError)

		require.NoError(t, rc.CompleteReceipt(ctx, r.ID, json.RawMessage(`{"fp":"1"}`), at(61)))
		err = rc.CompleteReceipt(ctx, r.ID, json.RawMessage(`{"fp":"2"}`), at(62))
		require.ErrorIs(t, err, store.ErrInvalidMove)
		got, err := rc.GetReceipt(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, store.ReceiptSubmitted, got.State)
		require.Equal(t, 2, got.Attempts)
		require.Equal(t, at(61), got.DoneAt)
		require.JSONEq(t, `{"fp":"1"}`, string(got.Output))

		r2 := store.Receipt{Key: "vend/1/b", CompanyID: 1, VMID: vm.ID, Input: json.RawMessage(`{}`), CreatedAt: at(5)}
		_, err = rc.EnqueueReceipt(ctx, &r2)
		require.NoError(t, err)
		require.NoError(t, rc.RetryReceipt(ctx, r2.ID, "rejected", time.Time{}, at(6)))
		got, err = rc.GetReceipt(ctx, r2.ID)
		require.NoError(t, err)
		require.Equal(t, store.ReceiptFailed, got.State)
		_, err = rc.GetReceipt(ctx, 12345)
		require.True(t, errors.Is(err, store.ErrNotFound))

		list, err := rc.ListReceipts(ctx, store.ReceiptFilter{CompanyID: 1, Since: T0, Until: at(100), State: store.ReceiptSubmitted})
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, r.ID, list[0].ID)
		list, err = rc.ListReceipts(ctx, store.ReceiptFilter{CompanyID: 1, Since: T0, Until: at(100)})
		require.NoError(t, err)
		require.Len(t, list, 2)
		list, err = rc.ListReceipts(ctx, store.ReceiptFilter{CompanyID: 1, VMID: vm.ID + 1, Since: T0, Until: at(100)})
		require.NoError(t, err)
		require.Empty(t, list)
		list, err = rc.ListReceipts(ctx, store.ReceiptFilter{CompanyID: 1, Kind: store.ReceiptCorrection, Since: T0, Until: at(100)})
		require.NoError(t, err)
		require.Empty(t, list)
	},
}
