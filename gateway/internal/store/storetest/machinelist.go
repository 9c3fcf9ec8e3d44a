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
			TZ: m.TZ, TZID: m.TZID, LastSale: m.LastSale, LastService: m.LastService, LastCollection: m.LastCollection,
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
