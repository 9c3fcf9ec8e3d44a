package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// MachineListTests runs the contract of store.MachineList: the rows equal
// what GetMachine and GetModem say for the listed fields, and every change of
// a listed column (by the API or by uplinks) is seen by an incremental read
// after the version taken before it.
func MachineListTests(t *testing.T, open Opener) {
	t.Parallel()
	s := open(t)
	ml, ok := s.(store.MachineList)
	require.Truef(t, ok, "%T does not implement store.MachineList", s)

	// listed keeps only the fields MachineListRow promises.
	listed := func(id int64) store.MachineListRow {
		t.Helper()
		m := getMachine(t, s, id)
		row := store.MachineListRow{Machine: store.Machine{ID: m.ID, CompanyID: m.CompanyID, Name: m.Name,
			SerialNumber: m.SerialNumber, PlanogramID: m.PlanogramID, ModelID: m.ModelID, ModemID: m.ModemID,
			IsCRTActive: m.IsCRTActive, InventoryNumber: m.InventoryNumber, TrackBusVends: m.TrackBusVends,
			TZ: m.TZ, TZID: m.TZID, CreatedAt: m.CreatedAt, LastSale: m.LastSale, LastService: m.LastService, LastCollection: m.LastCollection,
			LastLoading: m.LastLoading, LastReport: m.LastReport, LastAcquiredReport: m.LastAcquiredReport}}
		if m.ModemID != nil {
			d := getModem(t, s, *m.ModemID)
			row.Modem = &store.Modem{ID: d.ID, CompanyID: d.CompanyID, IMEI: d.IMEI, HBInterval: d.HBInterval,
				Online: d.Online, LastSeen: d.LastSeen, LastHB: d.LastHB, VMLink: d.VMLink, Errors: d.Errors}
		}
		return row
	}
	version := func() int64 {
		t.Helper()
		v, err := ml.MachineListVersion(ctx)
		require.NoError(t, err)
		return v
	}
	rows := func(after int64) []store.MachineListRow {
		t.Helper()
		rs, err := ml.MachineListRows(ctx, store.DefaultCompanyID, after)
		require.NoError(t, err)
		return rs
	}
	ids := func(rs []store.MachineListRow) []int64 {
		out := []int64{}
		for _, r := range rs {
			out = append(out, r.Machine.ID)
		}
		return out
	}

	v0 := version()
	modem, vm1 := boundModem(t, s)
	vm2 := newMachine(t, s, 0)
	vm2.SerialNumber, vm2.TZ, vm2.IsCRTActive, vm2.PlanogramID = "SN-1", "Europe/Moscow", true, ptr(7)
	require.NoError(t, s.UpdateMachine(ctx, vm2, false))
	apply(t, s, hello(modem.ID, 1, store.Hello{Firmware: "1", Bus: "mdb", HBInterval: 30}),
		presence(modem.ID, 2, true, 1), heartbeat(modem.ID, 3, 4), vend(modem.ID, 4, "v1", true))

	all := rows(-1)
	require.Equal(t, []store.MachineListRow{listed(vm1.ID), listed(vm2.ID)}, all, "a full read: every machine, by id")
	require.NotNil(t, all[0].Modem)
	require.True(t, all[0].Modem.Online)
	require.False(t, all[0].Machine.LastSale.IsZero())
	require.ElementsMatch(t, []int64{vm1.ID, vm2.ID}, ids(rows(v0)), "both changed after v0")

	v1 := version()
	require.Greater(t, v1, v0)
	require.Empty(t, rows(v1), "nothing changed since v1")

	// A modem's presence (here vm_link and errors) marks its machine changed; a repeated older sale
	// (last_sale unchanged) does not.
	apply(t, s, vend(modem.ID, 2, "v0", true))
	require.Equal(t, v1, version(), "an older sale leaves the list as it was")
	apply(t, s, heartbeat(modem.ID, 10, 5))
	require.Equal(t, []store.MachineListRow{listed(vm1.ID)}, rows(v1))
	v2 := version()

	// A heartbeat that only moves last_seen and last_hb is not a change;
	// MachineListSeen reads the new last_seen.
	apply(t, s, heartbeat(modem.ID, 20, 5))
	require.Equal(t, v2, version())
	seen, err := ml.MachineListSeen(ctx, []int64{modem.ID, 999_999})
	require.NoError(t, err)
	require.Equal(t, map[int64]time.Time{modem.ID: getModem(t, s, modem.ID).LastSeen}, seen)
	require.Equal(t, at(20), seen[modem.ID])
	many := make([]int64, 1200) // more ids than one statement takes
	for i := range many {
		many[i] = int64(i + 1)
	}
	seen, err = ml.MachineListSeen(ctx, append(many, modem.ID))
	require.NoError(t, err)
	require.Equal(t, at(20), seen[modem.ID])

	// Machine edits, and another company's machine is never listed.
	vm2.Name = "renamed"
	require.NoError(t, s.UpdateMachine(ctx, vm2, false))
	if a, ok := s.(store.Access); ok {
		newMachineIn(t, s, newCompany(t, a, "other"))
	}
	require.Equal(t, []store.MachineListRow{listed(vm2.ID)}, rows(v2))
	require.Len(t, rows(-1), 2)
	require.Greater(t, version(), v2)
}

// MachineServiceTests runs the contract of store.MachineServices: inputs mark
// their machine, a save clears the mark it read (not a newer one), the saved
// summary reaches GetMachineService, the machine's LastService /
// LastCollection and the list rows (stamping them), and valid audits page
// newest first.
func MachineServiceTests(t *testing.T, open Opener) {
	t.Parallel()
	s := open(t)
	ms, ok := s.(store.MachineServices)
	require.Truef(t, ok, "%T does not implement store.MachineServices", s)
	ml, ok := s.(store.MachineList)
	require.Truef(t, ok, "%T does not implement store.MachineList", s)
	dirty := func() map[int64]int64 {
		t.Helper()
		marks, err := ms.ServiceDirty(ctx, 100)
		require.NoError(t, err)
		out := map[int64]int64{}
		for _, m := range marks {
			out[m.VMID] = m.Count
		}
		return out
	}

	modem, vm := boundModem(t, s)
	_, other := boundModem(t, s)
	require.Empty(t, dirty(), "machines without inputs are not marked")
	apply(t, s, audit(modem.ID, 10, "bad", 1, false))
	require.Empty(t, dirty(), "an invalid audit is no input")
	apply(t, s, audit(modem.ID, 20, "a1", 1, true), audit(modem.ID, 30, "a2", 1, true), audit(modem.ID, 30, "a3", 1, true))
	marks := dirty()
	require.Len(t, marks, 1)
	require.Positive(t, marks[vm.ID])
	apply(t, s, vend(modem.ID, 31, "v1", true))
	require.Equal(t, marks, dirty(), "a vend of a machine without loading is no input")

	// Newest first by (time, id), paged.
	page, err := ms.ValidAuditsBefore(ctx, vm.ID, time.Time{}, 0, 2)
	require.NoError(t, err)
	require.Len(t, page, 2)
	require.Equal(t, []string{"a3", "a2"}, []string{page[0].MsgID, page[1].MsgID})
	page, err = ms.ValidAuditsBefore(ctx, vm.ID, page[1].Time, page[1].ID, 2)
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, "a1", page[0].MsgID)

	_, err = ms.GetMachineService(ctx, vm.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	v0, err := ml.MachineListVersion(ctx)
	require.NoError(t, err)
	worth, rev := int64(4200), int64(0)
	sv := store.MachineService{AuditID: page[0].ID, AuditTime: at(30), ReadsReset: 3, TubeWorth: &worth, CashIn: true,
		Bills: 5, Coins: 7, BillsSince: at(20), Revenue: &rev, NeedLoading: true, Serviced: at(25), Collected: at(30)}
	stale := store.ServiceMark{VMID: vm.ID, Count: marks[vm.ID]}
	apply(t, s, audit(modem.ID, 40, "a4", 1, true)) // marked again while deriving
	require.NoError(t, ms.SaveMachineService(ctx, stale, sv))
	require.Contains(t, dirty(), vm.ID, "a mark newer than the one read stays")
	got, err := ms.GetMachineService(ctx, vm.ID)
	require.NoError(t, err)
	require.Equal(t, sv, got)
	m := getMachine(t, s, vm.ID)
	require.Equal(t, at(25), m.LastService)
	require.Equal(t, at(30), m.LastCollection)
	rows, err := ml.MachineListRows(ctx, store.DefaultCompanyID, v0)
	require.NoError(t, err)
	require.Len(t, rows, 1, "saving stamps the machine")
	require.Equal(t, vm.ID, rows[0].Machine.ID)
	require.Equal(t, &sv, rows[0].Service)

	require.NoError(t, ms.SaveMachineService(ctx, store.ServiceMark{VMID: vm.ID, Count: dirty()[vm.ID]}, sv))
	require.Empty(t, dirty())
	v1, err := ml.MachineListVersion(ctx)
	require.NoError(t, err)
	require.NoError(t, ms.SaveMachineService(ctx, store.ServiceMark{VMID: vm.ID, Count: 1}, sv))
	v2, err := ml.MachineListVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, v1, v2, "an unchanged summary does not stamp the list")
	sv.TubeWorth, sv.Revenue, sv.Serviced, sv.Collected = nil, nil, time.Time{}, time.Time{}
	require.NoError(t, ms.SaveMachineService(ctx, store.ServiceMark{VMID: vm.ID, Count: 1}, sv))
	got, err = ms.GetMachineService(ctx, vm.ID)
	require.NoError(t, err)
	require.Equal(t, sv, got, "nulls round-trip")
	require.True(t, getMachine(t, s, vm.ID).LastService.IsZero())

	// A machine that no longer exists loses its mark only.
	require.NoError(t, ms.SaveMachineService(ctx, store.ServiceMark{VMID: 987_654, Count: 1}, sv))
	_, err = ms.GetMachineService(ctx, 987_654)
	require.ErrorIs(t, err, store.ErrNotFound)

	// Types come with the model; the list row carries it.
	_, err = ms.ModelType(ctx, 999_999)
	require.ErrorIs(t, err, store.ErrNotFound)
	typ, err := ms.ModelType(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, store.VMType{ID: 1, Label: "coffee", Name: "кофейный"}, typ)
	other.ModelID = ptr(1)
	require.NoError(t, s.UpdateMachine(ctx, other, false))
	all, err := ml.MachineListRows(ctx, store.DefaultCompanyID, -1)
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Nil(t, all[0].Type)
	require.Equal(t, &typ, all[1].Type)
	require.Nil(t, all[1].Service)
}
