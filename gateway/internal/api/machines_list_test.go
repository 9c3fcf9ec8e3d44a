package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// encodingJSON is what writeJSON writes for v.
func encodingJSON(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(v))
	return buf.Bytes()
}

// oddStrings are strings whose JSON needs care: escapes, HTML characters
// (not escaped by writeJSON), invalid UTF-8, U+2028/U+2029, Cyrillic.
var oddStrings = []string{
	"", "plain", `quote " and \ backslash`, "ctl \x00\x01\x1f \b\f\n\r\t end", "<b>&amp;</b>", "bad \xff\xfe utf8 \xe2\x82",
	"sep \u2028 \u2029 x", "Кофейник №1", "emoji \U0001F600", "\x7f del", "trailing \\",
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range oddStrings {
		t.Run(fmt.Sprintf("%q", s), func(t *testing.T) {
			want := bytes.TrimSuffix(encodingJSON(t, s), []byte("\n"))
			require.Equal(t, string(want), string(appendJSONString(nil, s)))
		})
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range oddStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := bytes.TrimSuffix(encodingJSON(t, s), []byte("\n"))
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, encoding/json: %s", s, got, want)
		}
	})
}

// TestVMListEncoderMatchesEncodingJSON checks appendVM byte for byte against
// encoding/json of vmJSON over machines covering every null, zone and imei
// case, in UTC and with local=1, and the whole list response against the old
// path (ListMachines + ListModems + toVMJSON + writeJSON).
func TestVMListEncoderMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	srv := e.h.(*server)
	ts := time.Date(2024, 5, 10, 9, 30, 15, 123e6, time.UTC)
	imeis := []string{"860000000000001", "012345678901234", "8600000000000012", "86000000000000A"}
	// Locations with awkward names, one without an address.
	cat := e.st
	var locs []int64
	for i, name := range oddStrings[:3] {
		l := store.Location{CompanyID: 1, Name: name + "loc", Address: []string{oddStrings[len(oddStrings)-1], "", "Садовая, 49"}[i]}
		require.NoError(t, cat.CreateLocation(ctx, &l))
		locs = append(locs, l.ID)
	}
	var vms []store.Machine
	for i, name := range oddStrings {
		var modemID int64
		if i < len(imeis) {
			m := e.modem(imeis[i], 1)
			modemID = m.ID
			if i%2 == 0 {
				e.online(m.ID, "mdb", nil)
			}
		}
		tz := []string{"", "Europe/Moscow", "Asia/Kathmandu", "Nowhere/Invalid", "America/St_Johns"}[i%5]
		vm := e.machine(name+"x", 1, modemID, "")
		vm.TZ = tz // stored as is: an invalid zone must fall back to UTC
		vm.SerialNumber, vm.InventoryNumber = oddStrings[(i+1)%len(oddStrings)], oddStrings[(i+2)%len(oddStrings)]
		if i%3 == 0 {
			n := int64(i + 1)
			vm.PlanogramID, vm.ModelID, vm.TZID = &n, &n, &n
		}
		vm.IsCRTActive, vm.TrackBusVends = i%2 == 0, i%3 == 1
		if i%4 != 3 {
			vm.LocationID = &locs[i%len(locs)]
		}
		require.NoError(t, e.st.UpdateMachine(ctx, vm, false))
		if modemID != 0 && i%2 == 0 {
			e.sale(modemID, ts.Add(time.Duration(i)*time.Hour), fmt.Sprintf("s%d", i))
		}
		vms = append(vms, vm)
	}
	e.machine("Чужой", otherCompany, 0, "") // never listed

	ms, err := e.st.ListMachines(ctx, 1)
	require.NoError(t, err)
	modems, err := e.st.ListModems(ctx, 1)
	require.NoError(t, err)
	byID := map[int64]*store.Modem{}
	for i := range modems {
		byID[modems[i].ID] = &modems[i]
	}
	now := e.clk.Now()
	for _, local := range []bool{false, true} {
		want := []vmJSON{}
		for _, m := range ms {
			var modem *store.Modem
			if m.ModemID != nil {
				modem = byID[*m.ModemID]
			}
			x, err := srv.machineExtra(ctx, m)
			require.NoError(t, err)
			want = append(want, srv.toVMJSON(m, modem, x, local, now))
			got := srv.appendVM(nil, &m, modem, x, srv.machineLoc(m, local), now, srv.serviceConfig())
			require.Equal(t, string(bytes.TrimSuffix(encodingJSON(t, want[len(want)-1]), []byte("\n"))), string(got), "machine %d local=%v", m.ID, local)
		}
		path := "/v2/vending_machines"
		if local {
			path += "?local=1"
		}
		r := e.do("GET", path, e.adminTok, nil)
		require.Equal(t, http.StatusOK, r.Status)
		require.Equal(t, string(encodingJSON(t, want)), string(r.Raw), "the whole response, local=%v", local)
	}
	require.Len(t, ms, len(vms))

	// A machine moved to another location is shown there at the next request
	// (the cached row is stamped), and a renamed location with its new name.
	vm := vms[0]
	vm.LocationID = &locs[2]
	require.NoError(t, e.st.UpdateMachine(ctx, vm, false))
	l, err := cat.GetLocation(ctx, locs[2])
	require.NoError(t, err)
	l.Name = "Новое место"
	require.NoError(t, cat.UpdateLocation(ctx, l))
	r := e.do("GET", "/v2/vending_machines", e.adminTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	var list []struct {
		ID       int64 `json:"id"`
		Location *struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"location"`
	}
	require.NoError(t, json.Unmarshal(r.Raw, &list))
	require.Equal(t, vm.ID, list[0].ID)
	require.NotNil(t, list[0].Location)
	require.Equal(t, locs[2], list[0].Location.ID)
	require.Equal(t, "Новое место", list[0].Location.Name)
}

// TestVMListCurrent checks that the in-memory list follows every change of
// the store, by the API or by uplinks, at the next request.
func TestVMListCurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.modem("860000000000001", 1)
	vm := e.machine("Один", 1, m.ID, "Europe/Moscow")
	get := func() map[int64]map[string]any {
		t.Helper()
		r := e.do("GET", "/v2/vending_machines", e.adminTok, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		out := map[int64]map[string]any{}
		for _, it := range r.arr(t) {
			obj := it.(map[string]any)
			out[num(obj["id"])] = obj
		}
		return out
	}
	list := get()
	require.Len(t, list, 1)
	require.Equal(t, jsonNum(0), list[vm.ID]["state"])

	e.online(m.ID, "mdb", nil)
	e.sale(m.ID, t0.Add(-time.Minute), "s1")
	list = get()
	require.Equal(t, jsonNum(1), list[vm.ID]["state"], "presence from uplinks")
	require.Equal(t, "2024-05-10T11:59:00+00:00", list[vm.ID]["last_event_dates"].(map[string]any)["last_sale"])

	// A heartbeat only moves last_seen (no version change): once the copy
	// looks stale, last_seen is re-read, so the state stays exact.
	beat := func() {
		t.Helper()
		require.NoError(t, e.st.ApplyUplinks(context.Background(), []store.Uplink{{Kind: store.UpHeartbeat, ModemID: m.ID,
			Received: e.clk.Now(), Heartbeat: &store.Heartbeat{VMLink: true, Epoch: 1}}}))
	}
	for range 3 {
		e.clk.Add(100 * time.Second) // 2.5 heartbeats of 60 s = 150 s: stale in the copy
		beat()
		require.Equal(t, jsonNum(1), get()[vm.ID]["state"], "seen again")
	}
	e.clk.Add(151 * time.Second)
	require.Equal(t, jsonNum(3), get()[vm.ID]["state"], "no news: no GSM")
	beat()
	require.Equal(t, jsonNum(1), get()[vm.ID]["state"], "back")

	r := e.do("PUT", fmt.Sprintf("/v2/vending_machines/%d", vm.ID), e.adminTok, `{"name":"Два","imei":null}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	vm2 := e.machine("Три", 1, 0, "")
	list = get()
	require.Len(t, list, 2)
	require.Equal(t, "Два", list[vm.ID]["name"])
	require.Nil(t, list[vm.ID]["imei"], "unbound")
	require.Equal(t, "Три", list[vm2.ID]["name"])

	// The state follows the clock even when the store does not change.
	e.clk.Add(10 * time.Minute)
	r = e.do("PUT", fmt.Sprintf("/v2/vending_machines/%d", vm.ID), e.adminTok, fmt.Sprintf(`{"modem_id":%d}`, m.ID))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	require.Equal(t, jsonNum(3), get()[vm.ID]["state"], "stale modem: no GSM")
}

func TestMergeListRows(t *testing.T) {
	rows := func(ids ...int64) []store.MachineListRow {
		out := []store.MachineListRow{}
		for _, id := range ids {
			out = append(out, store.MachineListRow{Machine: store.Machine{ID: id, Name: fmt.Sprint(id)}})
		}
		return out
	}
	ids := func(rs []*store.MachineListRow) []int64 {
		out := []int64{}
		for _, r := range rs {
			out = append(out, r.Machine.ID)
		}
		return out
	}
	for _, c := range []struct {
		name         string
		old, changed []int64
		want         []int64
	}{
		{"nothing", []int64{1, 2}, nil, []int64{1, 2}},
		{"replace", []int64{1, 2, 3}, []int64{2}, []int64{1, 2, 3}},
		{"insert middle and end", []int64{1, 3}, []int64{2, 4}, []int64{1, 2, 3, 4}},
		{"insert first", []int64{5}, []int64{1, 5}, []int64{1, 5}},
		{"empty old", nil, []int64{1}, []int64{1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			old := rowPointers(rows(c.old...))
			before := slices.Clone(old)
			var oldNames []string
			for _, r := range old {
				oldNames = append(oldNames, r.Machine.Name)
			}
			changed := rows(c.changed...)
			for i := range changed {
				changed[i].Machine.Name = "new"
			}
			got := mergeListRows(old, changed)
			require.Equal(t, c.want, ids(got))
			require.Equal(t, before, old, "the published slice is not modified")
			for i, r := range old {
				require.Equal(t, oldNames[i], r.Machine.Name, "nor its rows")
			}
			for _, r := range got {
				for _, id := range c.changed {
					if r.Machine.ID == id {
						require.Equal(t, "new", r.Machine.Name)
					}
				}
			}
		})
	}
}

// TestVMListWithoutMachineList: an engine without store.MachineList gets the
// same list through ListMachines and ListModems.
func TestVMListWithoutMachineList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.modem("860000000000001", 1)
	e.online(m.ID, "mdb", nil)
	e.machine("Один", 1, m.ID, "Europe/Moscow")
	e.machine("Два", 1, 0, "")
	e.sale(m.ID, t0.Add(-time.Minute), "s1")
	plain := struct{ store.Store }{e.st} // hides the engine's other contracts
	h, err := New(Config{Store: plain, Commands: e.cmd, Now: e.clk.Now, Logger: e.h.(*server).log})
	require.NoError(t, err)
	for _, q := range []string{"", "?local=1"} {
		req := httptest.NewRequest(http.MethodGet, "/v2/vending_machines"+q, nil)
		req.Header.Set("Authorization", "Bearer "+e.adminTok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.Equal(t, string(e.do("GET", "/v2/vending_machines"+q, e.adminTok, nil).Raw), rec.Body.String())
	}
}
