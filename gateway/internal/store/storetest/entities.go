package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

var modemTests = map[string]func(t *testing.T, s store.Store){
	"RoundTrip": func(t *testing.T, s store.Store) {
		in := store.Modem{
			IMEI: "860000000000001", PasswordHash: "h1", ICCID: "8970", HWVersion: "hw2", BootVersion: "b3",
			Firmware: "fw4", Phone: "+100", Bus: "mdb", CashlessOn: true, CashlessAddr: 0x10, HBInterval: 60,
			Caps: []string{"reboot", "audit"}, CreatedAt: at(1),
			Online: true, Epoch: 1<<63 + 5, LastSeen: at(2), LastHB: at(3), Uptime: 99, Signal: -70, VMLink: true, Errors: 0xFFFFFFFF,
		}
		require.NoError(t, s.CreateModem(ctx, &in))
		require.NotZero(t, in.ID)
		assert.Equal(t, store.DefaultCompanyID, in.CompanyID, "company 0 means the default company")
		got := getModem(t, s, in.ID)
		assert.Equal(t, in, got)
		assert.Equal(t, time.UTC, got.CreatedAt.Location())
		byIMEI, err := s.GetModemByIMEI(ctx, in.IMEI)
		require.NoError(t, err)
		assert.Equal(t, in, byIMEI)
	},
	"ZeroTimesAndEmptyCaps": func(t *testing.T, s store.Store) {
		m := store.Modem{IMEI: "860000000000002", CreatedAt: at(0)}
		require.NoError(t, s.CreateModem(ctx, &m))
		got := getModem(t, s, m.ID)
		assert.True(t, got.LastSeen.IsZero())
		assert.True(t, got.LastHB.IsZero())
		assert.Empty(t, got.Caps)
		assert.False(t, got.Online)
	},
	"DuplicateIMEI": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		dup := store.Modem{IMEI: m.IMEI}
		require.ErrorIs(t, s.CreateModem(ctx, &dup), store.ErrConflict)
	},
	"NotFound": func(t *testing.T, s store.Store) {
		_, err := s.GetModem(ctx, 12345)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.GetModemByIMEI(ctx, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, s.SetModemPassword(ctx, "nope", "x"), store.ErrNotFound)
		require.ErrorIs(t, s.UpdateModemPhone(ctx, 12345, "x"), store.ErrNotFound)
	},
	"PasswordAndPhone": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		other := newModem(t, s)
		require.NoError(t, s.SetModemPassword(ctx, m.IMEI, "new-hash"))
		require.NoError(t, s.UpdateModemPhone(ctx, m.ID, "+7900"))
		got := getModem(t, s, m.ID)
		assert.Equal(t, "new-hash", got.PasswordHash)
		assert.Equal(t, "+7900", got.Phone)
		o := getModem(t, s, other.ID)
		assert.Equal(t, "hash", o.PasswordHash, "other modem untouched")
		assert.Empty(t, o.Phone)
	},
	"ListByCompany": func(t *testing.T, s store.Store) {
		a, b, c := newModem(t, s), newModem(t, s), newModem(t, s)
		list, err := s.ListModems(ctx, store.DefaultCompanyID)
		require.NoError(t, err)
		require.Len(t, list, 3)
		assert.Equal(t, []int64{a.ID, b.ID, c.ID}, []int64{list[0].ID, list[1].ID, list[2].ID})
		list, err = s.ListModems(ctx, 999)
		require.NoError(t, err)
		assert.Empty(t, list)
	},
}

var machineTests = map[string]func(t *testing.T, s store.Store){
	"RoundTrip": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		in := store.Machine{
			Name: "Lobby", SerialNumber: "SN1", PlanogramID: ptr(3), LocationID: ptr(4), ModelID: ptr(5),
			ModemID: &m.ID, IsCRTActive: true, InventoryNumber: "INV9", TrackBusVends: true, TZ: "Europe/Moscow",
			TZID: ptr(6), RequisiteID: ptr(7), MinPrice: ptr(10), MaxPrice: ptr(9000), CreatedAt: at(1),
			LastSale: at(2), LastService: at(3), LastCollection: at(4), LastLoading: at(5), LastReport: at(6),
			LastAcquiredReport: at(7),
		}
		require.NoError(t, s.CreateMachine(ctx, &in, false))
		assert.Equal(t, store.DefaultCompanyID, in.CompanyID)
		assert.Equal(t, in, getMachine(t, s, in.ID))
		byModem, err := s.GetMachineByModem(ctx, m.ID)
		require.NoError(t, err)
		assert.Equal(t, in.ID, byModem.ID)
	},
	"NilPointersStayNil": func(t *testing.T, s store.Store) {
		vm := newMachine(t, s, 0)
		got := getMachine(t, s, vm.ID)
		assert.Nil(t, got.ModemID)
		assert.Nil(t, got.PlanogramID)
		assert.Nil(t, got.MinPrice)
		assert.True(t, got.LastSale.IsZero())
	},
	"NotFound": func(t *testing.T, s store.Store) {
		_, err := s.GetMachine(ctx, 4242)
		require.ErrorIs(t, err, store.ErrNotFound)
		m := newModem(t, s)
		_, err = s.GetMachineByModem(ctx, m.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "unbound modem")
		require.ErrorIs(t, s.UpdateMachine(ctx, store.Machine{ID: 4242, Name: "x"}, false), store.ErrNotFound)
	},
	"BindWithoutForce": func(t *testing.T, s store.Store) {
		m, first := boundModem(t, s)
		second := store.Machine{Name: "second", ModemID: &m.ID}
		require.ErrorIs(t, s.CreateMachine(ctx, &second, false), store.ErrModemBound)
		list, err := s.ListMachines(ctx, store.DefaultCompanyID)
		require.NoError(t, err)
		assert.Len(t, list, 1, "refused machine not created")

		free := newMachine(t, s, 0)
		free.ModemID = &m.ID
		free.Name = "renamed"
		require.ErrorIs(t, s.UpdateMachine(ctx, free, false), store.ErrModemBound)
		got := getMachine(t, s, free.ID)
		assert.Nil(t, got.ModemID)
		assert.Equal(t, "vm", got.Name, "refused update wrote nothing")
		assert.Equal(t, &m.ID, getMachine(t, s, first.ID).ModemID)
	},
	"BindWithForce": func(t *testing.T, s store.Store) {
		m, first := boundModem(t, s)
		second := store.Machine{Name: "second", ModemID: &m.ID}
		require.NoError(t, s.CreateMachine(ctx, &second, true))
		assert.Nil(t, getMachine(t, s, first.ID).ModemID, "force unbinds the old machine")
		byModem, err := s.GetMachineByModem(ctx, m.ID)
		require.NoError(t, err)
		assert.Equal(t, second.ID, byModem.ID)

		// And back through UpdateMachine.
		first = getMachine(t, s, first.ID)
		first.ModemID = &m.ID
		require.NoError(t, s.UpdateMachine(ctx, first, true))
		assert.Nil(t, getMachine(t, s, second.ID).ModemID)
		assert.Equal(t, &m.ID, getMachine(t, s, first.ID).ModemID)
	},
	"RebindSameMachineNeedsNoForce": func(t *testing.T, s store.Store) {
		m, vm := boundModem(t, s)
		vm.Name = "again"
		require.NoError(t, s.UpdateMachine(ctx, vm, false))
		got := getMachine(t, s, vm.ID)
		assert.Equal(t, "again", got.Name)
		assert.Equal(t, &m.ID, got.ModemID)
	},
	"UpdateWritesSettableFieldsOnly": func(t *testing.T, s store.Store) {
		m, vm := boundModem(t, s)
		apply(t, s, vend(m.ID, 50, "v1", true))
		vm.Name, vm.SerialNumber, vm.TZ = "new", "SN2", "UTC"
		vm.PlanogramID, vm.MinPrice = ptr(11), ptr(5)
		vm.ModemID = nil // unbind
		vm.LastSale = at(-1000)
		vm.LastReport = at(999)
		require.NoError(t, s.UpdateMachine(ctx, vm, false))
		got := getMachine(t, s, vm.ID)
		assert.Equal(t, "new", got.Name)
		assert.Equal(t, "SN2", got.SerialNumber)
		assert.Equal(t, "UTC", got.TZ)
		assert.Equal(t, ptr(11), got.PlanogramID)
		assert.Equal(t, ptr(5), got.MinPrice)
		assert.Nil(t, got.ModemID)
		assert.Equal(t, at(50), got.LastSale, "derived timestamps are not settable")
		assert.True(t, got.LastReport.IsZero())
		assert.Equal(t, T0, got.CreatedAt)
		_, err := s.GetMachineByModem(ctx, m.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
	},
	"ListByCompany": func(t *testing.T, s store.Store) {
		a, b := newMachine(t, s, 0), newMachine(t, s, 0)
		list, err := s.ListMachines(ctx, store.DefaultCompanyID)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, a.ID, list[0].ID)
		assert.Equal(t, b.ID, list[1].ID)
		list, err = s.ListMachines(ctx, 77)
		require.NoError(t, err)
		assert.Empty(t, list)
	},
}
