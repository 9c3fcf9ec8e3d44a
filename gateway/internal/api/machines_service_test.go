package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// svcAudit stores a valid audit of the modem read at at with the given
// EVA-DTS lines.
func (e *env) svcAudit(modemID int64, at time.Time, msgID, lines string) {
	e.t.Helper()
	e.catAudit(modemID, at, msgID, lines)
}

// listedVMs returns the machine list as id → object.
func listedVMs(t *testing.T, e *env, tok string) map[int64]map[string]any {
	t.Helper()
	r := e.do("GET", "/v2/vending_machines", tok, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	out := map[int64]map[string]any{}
	for _, it := range r.arr(t) {
		o := it.(map[string]any)
		out[num(o["id"])] = o
	}
	return out
}

func vmDetail(t *testing.T, e *env, tok string, id int64) map[string]any {
	t.Helper()
	r := e.do("GET", fmt.Sprintf("/v2/vending_machines/%d", id), tok, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	return r.obj(t)
}

// TestVMServiceListMatchesDetail seeds a machine in each service flag state
// and checks that the list and the detail show the same flags, and the
// expected ones.
func TestVMServiceListMatchesDetail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cat := newCatSetup(t, e) // a machine with a planogram: need_loading
	n := 0
	mk := func(name string) (store.Modem, store.Machine) {
		n++
		m := e.modem(fmt.Sprintf("86111%010d", n), 1)
		return m, e.machine(name, 1, m.ID, "")
	}
	_, idle := mk("idle")        // never sold: no_recent_sales
	lowM, low := mk("low")       // little change
	billsM, bills := mk("bills") // no bill for 50 h
	coinsM, coins := mk("coins") // no coin for 50 h
	staleM, stale := mk("stale") // counters unchanged, but no audit since the cutoff
	fineM, fine := mk("fine")    // everything fine
	brokeM, broke := mk("broke") // bills unchanged, but an audit without CA3 between
	manyM, many := mk("manyaud") // a run of 40 equal audits (pages of the walk)
	gapM, gap := mk("gap")       // bills v, w, v: not the same since
	e.clk.Add(50 * time.Hour)
	now := e.clk.Now()
	tok := e.token(e.admin)

	for _, m := range []store.Modem{lowM, billsM, coinsM, staleM, fineM, brokeM, manyM, gapM, cat.modem} {
		e.catSale(m.ID, now, fmt.Sprintf("sale-%d", m.ID), "Z9")
	}
	e.svcAudit(lowM.ID, now, "l1", "CA3*0*0*0*0*100*0*0*50\r\nCA15*900\r\n")
	e.svcAudit(billsM.ID, now.Add(-49*time.Hour), "b0", "CA3*0*0*0*0*7000*0*0*5000\r\nCA15*20000\r\n")
	e.svcAudit(billsM.ID, now.Add(-time.Hour), "b1", "CA3*0*0*0*0*7300*0*0*5000\r\nCA15*20000\r\n")
	e.svcAudit(billsM.ID, now, "b2", "CA3*0*0*0*0*7500*0*0*5000\r\nCA15*20000\r\n")
	e.svcAudit(coinsM.ID, now.Add(-49*time.Hour), "c0", "CA3*0*0*0*0*7000*0*0*5000\r\nCA15*20000\r\n")
	e.svcAudit(coinsM.ID, now, "c1", "CA3*0*0*0*0*9000*0*0*7000\r\nCA17*00*100*60\r\nCA17*01*500*20\r\n")
	e.svcAudit(staleM.ID, now.Add(-49*time.Hour), "s0", "CA3*0*0*0*0*7000*0*0*5000\r\nCA15*20000\r\n")
	e.svcAudit(staleM.ID, now.Add(-48*time.Hour-time.Minute), "s1", "CA3*0*0*0*0*7000*0*0*5000\r\nCA15*20000\r\n")
	e.svcAudit(fineM.ID, now.Add(-49*time.Hour), "f0", "CA3*0*0*0*0*7000*0*0*5000\r\nCA15*20000\r\n")
	e.svcAudit(fineM.ID, now, "f1", "CA3*0*0*0*0*9000*0*0*6000\r\nCA15*20000\r\n")
	e.svcAudit(brokeM.ID, now.Add(-49*time.Hour), "k0", "CA3*0*0*0*0*7000*0*0*5000\r\nCA15*20000\r\n")
	e.svcAudit(brokeM.ID, now.Add(-time.Hour), "k1", "CA15*20000\r\n")
	e.svcAudit(brokeM.ID, now, "k2", "CA3*0*0*0*0*8000*0*0*5000\r\nCA15*20000\r\n")
	for i := range 40 {
		e.svcAudit(manyM.ID, now.Add(-time.Duration(49-i)*time.Hour-time.Duration(i)*time.Minute), fmt.Sprintf("m%d", i),
			fmt.Sprintf("CA3*0*0*0*0*%d*0*0*5000\r\nCA15*20000\r\n", 7000+i))
	}
	e.svcAudit(gapM.ID, now.Add(-49*time.Hour), "g0", "CA3*0*0*0*0*7000*0*0*5000\r\nCA15*20000\r\n")
	e.svcAudit(gapM.ID, now.Add(-time.Hour), "g1", "CA3*0*0*0*0*7000*0*0*4000\r\nCA15*20000\r\n")
	e.svcAudit(gapM.ID, now, "g2", "CA3*0*0*0*0*7000*0*0*5000\r\nCA15*20000\r\n")
	// need_loading: 8 espressos after loading 150 g of coffee: 94 < 100.
	r := e.do("POST", fmt.Sprintf("/v2/vending_machines/%d/loading", cat.vm.ID), tok, map[string]any{"data": []map[string]any{
		{"component_id": cat.coffee, "add": 150}, {"component_id": cat.water, "add": 5000}, {"component_id": cat.cup, "add": 500},
		{"component_id": cat.bar, "layout_number": "A1", "add": 3}, {"component_id": cat.bar, "layout_number": "A2", "add": 3},
	}})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
	check := func(want map[int64]map[string]bool) {
		t.Helper()
		list := listedVMs(t, e, tok)
		for id, flags := range want {
			var wantJSON any
			if len(flags) > 0 {
				m := map[string]any{}
				for k, v := range flags {
					m[k] = v
				}
				wantJSON = m
			}
			require.Equal(t, wantJSON, list[id]["service"], "list, machine %d", id)
			require.Equal(t, list[id]["service"], vmDetail(t, e, tok, id)["service"], "detail = list, machine %d", id)
		}
	}
	want := map[int64]map[string]bool{
		idle.ID:   {FlagNoRecentSales: true},
		low.ID:    {FlagLowChange: true},
		bills.ID:  {FlagNoBillsIn: true},
		coins.ID:  {FlagNoCoinsIn: true},
		stale.ID:  nil,
		fine.ID:   nil,
		broke.ID:  nil,
		many.ID:   {FlagNoBillsIn: true},
		gap.ID:    nil,
		cat.vm.ID: nil,
	}
	check(want)
	for i := range 8 {
		e.catSale(cat.modem.ID, now, fmt.Sprintf("e%d", i), "1")
	}
	want[cat.vm.ID] = map[string]bool{FlagNeedLoading: true}
	check(want)

	// A new audit with the same bills: the run goes on (derived from the
	// previous summary); one with a bill ends it.
	e.clk.Add(time.Minute)
	e.svcAudit(billsM.ID, e.clk.Now(), "b3", "CA3*0*0*0*0*7600*0*0*5000\r\nCA15*20000\r\n")
	check(want)
	e.svcAudit(billsM.ID, e.clk.Now().Add(time.Second), "b4", "CA3*0*0*0*0*7700*0*0*5100\r\nCA15*20000\r\n")
	want[bills.ID] = nil
	check(want)
	// Time alone turns no_recent_sales on, with no new input.
	e.clk.Add(25 * time.Hour)
	tok = e.token(e.admin)
	for id := range want {
		if want[id] == nil {
			want[id] = map[string]bool{}
		}
		want[id][FlagNoRecentSales] = true
	}
	want[stale.ID] = map[string]bool{FlagNoRecentSales: true} // still nothing said of its cash
	check(want)
}

// noPrevService hides the saved summaries, so deriveService walks every audit.
type noPrevService struct{ store.MachineServices }

func (noPrevService) GetMachineService(context.Context, int64) (store.MachineService, error) {
	return store.MachineService{}, store.ErrNotFound
}

// TestVMServiceIncrementalMatchesFull checks that deriving from the previous
// summary gives what a walk over all the audits gives.
func TestVMServiceIncrementalMatchesFull(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.h.(*server)
	ctx := context.Background()
	m := e.modem("861110000000001", 1)
	vm := e.machine("vm", 1, m.ID, "Europe/Moscow")
	counters := [][2]int{{5000, 7000}, {5000, 7000}, {5000, 7200}, {5000, 7200}, {5100, 7300}, {5100, 7300}, {5100, 7300}}
	for i, c := range counters {
		reads := 3 + i/3
		lines := fmt.Sprintf("CA3*10*20*0*30*%d*0*0*%d*40\r\nCA15*%d\r\nEA3*%d*240510*1200\r\n", c[1], c[0], 1000*i, reads)
		if i%2 == 0 {
			lines += fmt.Sprintf("EA6*2405%02d*0930\r\n", 1+i)
		}
		e.svcAudit(m.ID, t0.Add(time.Duration(i)*time.Hour), fmt.Sprintf("a%d", i), lines)
		require.NoError(t, srv.syncService(ctx))
		ms := e.h.(*server).cfg.Store.(store.MachineServices)
		inc, err := ms.GetMachineService(ctx, vm.ID)
		require.NoError(t, err)
		mv, err := e.st.GetMachine(ctx, vm.ID)
		require.NoError(t, err)
		full, err := srv.deriveService(ctx, noPrevService{ms}, mv)
		require.NoError(t, err)
		require.Equal(t, full, inc, "after audit %d", i)
	}
}

// TestVMMoneyTypeAndTimes checks money, type, last_service and
// last_collection of the detail, the list and /timestamp.
func TestVMMoneyTypeAndTimes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	m := e.modem("861110000000002", 1)
	vm := e.machine("vm", 1, m.ID, "Europe/Moscow")
	bare := e.machine("bare", 1, 0, "")
	one := int64(1)
	vm.ModelID = &one
	require.NoError(t, e.st.UpdateMachine(ctx, vm, false))

	d := vmDetail(t, e, e.adminTok, bare.ID)
	require.Nil(t, d["money"], "no audit: no money")
	require.Nil(t, d["type"], "no model: no type")

	// a0: 2 reads with reset; a1: 3 (a collection: what it counted was taken);
	// a2: 3, the cash since. EA6 in the machine's zone (Moscow, +3).
	e.svcAudit(m.ID, t0.Add(-3*time.Hour), "a0", "CA3*0*1500*0*2000*9000*0*0*6000*2000\r\nCA15*3000\r\nEA3*2*240510*0900\r\n")
	e.svcAudit(m.ID, t0.Add(-2*time.Hour), "a1", "CA3*0*1700*0*2000*9200*0*0*6000*2000\r\nCA15*3200\r\nEA3*3*240510*1000\r\nEA6*240510*1230\r\n")
	d = vmDetail(t, e, e.adminTok, vm.ID)
	require.Equal(t, map[string]any{"change": jsonNum(3200), "revenue": jsonNum(0)}, d["money"])
	e.svcAudit(m.ID, t0.Add(-time.Hour), "a2", "CA3*0*300*0*500*9700*0*0*6500*0\r\nCA17*00*100*10\r\nCA17*01*500*4\r\nEA3*3*240510*1100\r\n")
	d = vmDetail(t, e, e.adminTok, vm.ID)
	require.Equal(t, map[string]any{"change": jsonNum(3000), "revenue": jsonNum(800)}, d["money"],
		"change from CA17 (10×100 + 4×500); revenue CA302 + CA304 (CA309 is 0)")
	require.Equal(t, map[string]any{"id": jsonNum(1), "label": "coffee", "name": "кофейный"}, d["type"])
	dates := d["last_event_dates"].(map[string]any)
	require.Equal(t, "2024-05-10T10:00:00+00:00", dates["last_collection"], "a1, where EA301 grew")
	require.Equal(t, "2024-05-10T10:00:00+00:00", dates["last_service"], "the collection is after EA6 (09:30 UTC)")

	list := listedVMs(t, e, e.adminTok)
	require.Equal(t, d["type"], list[vm.ID]["type"])
	require.Equal(t, d["last_event_dates"], list[vm.ID]["last_event_dates"])
	require.NotContains(t, list[vm.ID], "money", "the list has no money (spec)")
	r := e.do("GET", fmt.Sprintf("/v2/vending_machines/%d/timestamp?local=1", vm.ID), e.adminTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "2024-05-10T13:00:00+03:00", r.obj(t)["last_collection"])

	// A later EA6 and a loading move last_service.
	e.svcAudit(m.ID, t0, "a3", "CA3*0*300*0*500*9700*0*0*6500*0\r\nCA15*3000\r\nEA3*3*240510*1200\r\nEA6*240510*1445\r\n")
	d = vmDetail(t, e, e.adminTok, vm.ID)
	require.Equal(t, "2024-05-10T11:45:00+00:00", d["last_event_dates"].(map[string]any)["last_service"])
	e.clk.Add(time.Hour)
	mv, err := e.st.GetMachine(ctx, vm.ID)
	require.NoError(t, err)
	require.Equal(t, time.Date(2024, 5, 10, 11, 45, 0, 0, time.UTC), mv.LastService, "stored: EA6 only")
	mv.LastLoading = e.clk.Now()
	require.Equal(t, e.clk.Now(), lastService(&mv))
}

// FuzzDexTime: any EA6 date and time reads without a panic, and a read one
// is the same instant when formatted back in its zone.
func FuzzDexTime(f *testing.F) {
	for _, s := range [][2]string{{"240510", "1230"}, {"20240510", "123045"}, {"241340", "9999"}, {"", ""}, {"2405", "12"}} {
		f.Add(s[0], s[1])
	}
	msk := time.FixedZone("MSK", 3*3600)
	f.Fuzz(func(t *testing.T, date, clock string) {
		got, ok := dexTime(date, clock, msk)
		if !ok {
			return
		}
		require.Equal(t, time.UTC, got.Location())
		layout := map[int]string{6: "060102", 8: "20060102"}[len(date)] + map[int]string{0: "", 4: "1504", 6: "150405"}[len(clock)]
		back, err := time.ParseInLocation(layout, got.In(msk).Format(layout), msk)
		require.NoError(t, err)
		require.True(t, back.Equal(got))
	})
}
