package ingest

import (
	"testing"
	"time"

	"vendgate/dex/evadts"
	"vendgate/gateway/internal/store"
)

// FuzzDeriveVends feeds pairs of audits (and a bus vend) through the
// derivation: it must not panic, and the rows it derives must add up to the
// span's product sales (one row per vend, prices summing to the value) less
// what the bus vend already accounts for.
func FuzzDeriveVends(f *testing.F) {
	f.Add(build(f, first), build(f, second), "10", int64(1), "cash")
	f.Add(build(f, counters{products: map[string][2]int64{"10": {4, 400}}, pa7: map[string]map[string][2]int64{"10": {"CA": {1, 100}}}}),
		build(f, counters{products: map[string][2]int64{"10": {9, 999}}, pa7: map[string]map[string][2]int64{"10": {"CA": {3, 350}, "DA": {9, 1}}}}),
		"X", int64(2), "cashless")
	f.Add([]byte("DXS*A\r\nST*001*0001\r\nID1*S\r\nPA1*1\r\nPA2*5*-7\r\nEA1*E*991332*2561\r\nSE*5*0001\r\n"),
		[]byte("DXS*A\r\nST*001*0001\r\nID1*S\r\nPA1*1\r\nPA2*3*0\r\nEA1**20240230*12\r\nSE*5*0001\r\n"), "1", int64(0), "token")
	a := store.Audit{ID: 7, ModemID: 1, VMID: 2, Time: time.Unix(1_700_000_000, 0)}
	f.Fuzz(func(t *testing.T, prevText, curText []byte, busSel string, busCount int64, busPay string) {
		prev, err1 := firstReport(prevText)
		cur, err2 := firstReport(curText)
		if err1 != nil || err2 != nil {
			return
		}
		_ = timedEvents(cur, a, time.UTC)
		d, err := evadts.Sales(prev, cur)
		if err != nil {
			return
		}
		_ = counterEvents(cur, &d, a)
		var units, value int64
		for _, p := range d.Products {
			if p.Count > 0 {
				units += p.Count
				value += max(p.Value, 0)
			}
		}
		if units == 0 && d.Vends.Count > 0 {
			units, value = d.Vends.Count, max(d.Vends.Value, 0)
		}
		if units > 2000 || d.Vends.Count > 2000 {
			return // the derivation's bound (MaxDerivedVends) is tested elsewhere; keep runs quick
		}
		busCount = min(max(busCount, 0), 3000)
		var bus []store.ProductGroup
		if busCount > 0 {
			bus = []store.ProductGroup{{Selection: busSel, Payment: busPay, Type: "paid", VendTotal: store.VendTotal{Count: busCount}}}
		}
		vends := deriveVends(&d, bus, a)
		if want := max(units-busCount, 0); int64(len(vends)) != want {
			t.Fatalf("%d vends derived, want %d (%d sold, %d on the bus)", len(vends), want, units, busCount)
		}
		var sum int64
		seen := map[string]bool{}
		for _, v := range vends {
			if v.Price < 0 || !v.OK || v.Type != "paid" {
				t.Fatalf("bad vend %+v", v)
			}
			switch v.Payment {
			case "cash", "cashless", "token":
			default:
				t.Fatalf("payment %q", v.Payment)
			}
			if seen[v.MsgID] {
				t.Fatalf("msg id %q twice", v.MsgID)
			}
			seen[v.MsgID] = true
			sum += v.Price
		}
		if busCount == 0 && sum != value {
			t.Fatalf("derived vends sum to %d, sales were %d", sum, value)
		}
		if sum > value {
			t.Fatalf("derived vends sum to %d, more than the sales %d", sum, value)
		}
	})
}
