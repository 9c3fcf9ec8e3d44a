package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

func counts(t *testing.T, s store.Store, modemID int64) [3]int {
	t.Helper()
	e, v, a, err := s.CountUplinks(ctx, modemID)
	require.NoError(t, err)
	return [3]int{e, v, a}
}

var uplinkTests = map[string]func(t *testing.T, s store.Store){
	"EmptyBatch": func(t *testing.T, s store.Store) {
		require.NoError(t, s.ApplyUplinks(ctx, nil))
	},
	"HelloUpdatesIdentity": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		h := store.Hello{ICCID: "8970001", HWVersion: "2.1", BootVersion: "1.0", Firmware: "3.4.5", Phone: "+7123",
			Bus: "exe", CashlessOn: true, CashlessAddr: 0x60, HBInterval: 300, Caps: []string{"reboot", "dex"}}
		apply(t, s, hello(m.ID, 10, h))
		got := getModem(t, s, m.ID)
		assert.Equal(t, h.ICCID, got.ICCID)
		assert.Equal(t, h.HWVersion, got.HWVersion)
		assert.Equal(t, h.BootVersion, got.BootVersion)
		assert.Equal(t, h.Firmware, got.Firmware)
		assert.Equal(t, h.Phone, got.Phone)
		assert.Equal(t, h.Bus, got.Bus)
		assert.True(t, got.CashlessOn)
		assert.Equal(t, 0x60, got.CashlessAddr)
		assert.Equal(t, 300, got.HBInterval)
		assert.Equal(t, h.Caps, got.Caps)
		assert.Equal(t, at(10), got.LastSeen)
		assert.Equal(t, m.PasswordHash, got.PasswordHash, "hello leaves credentials alone")

		h2 := h
		h2.Firmware, h2.Caps, h2.CashlessOn = "3.5.0", []string{"reboot"}, false
		apply(t, s, hello(m.ID, 20, h2))
		got = getModem(t, s, m.ID)
		assert.Equal(t, "3.5.0", got.Firmware)
		assert.Equal(t, []string{"reboot"}, got.Caps)
		assert.False(t, got.CashlessOn)
	},
	"HeartbeatUpdatesTelemetry": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		other := newModem(t, s)
		apply(t, s, heartbeat(m.ID, 10, 101))
		got := getModem(t, s, m.ID)
		assert.EqualValues(t, 101, got.Uptime)
		assert.Equal(t, 21, got.Signal)
		assert.False(t, got.VMLink)
		assert.EqualValues(t, 101, got.Errors)
		assert.Equal(t, at(10), got.LastHB)
		assert.Equal(t, at(10), got.LastSeen)

		apply(t, s, heartbeat(m.ID, 20, 110))
		got = getModem(t, s, m.ID)
		assert.EqualValues(t, 110, got.Uptime)
		assert.True(t, got.VMLink)
		assert.Equal(t, at(20), got.LastHB)
		assert.True(t, getModem(t, s, other.ID).LastHB.IsZero(), "other modem untouched")
	},
	"LastSeenEveryKind": func(t *testing.T, s store.Store) {
		m, _ := boundModem(t, s)
		cases := []store.Uplink{
			hello(m.ID, 1, store.Hello{Bus: "mdb"}),
			presence(m.ID, 2, true, 1),
			heartbeat(m.ID, 3, 1),
			event(m.ID, 4, "e1", "door"),
			vend(m.ID, 5, "v1", true),
			audit(m.ID, 6, "a1", 1, true), // received at 7
			result(m.ID, 8, "unknown-cmd", "succeeded"),
		}
		want := []int{1, 2, 3, 4, 5, 7, 8}
		for i, u := range cases {
			apply(t, s, u)
			assert.Equal(t, at(want[i]), getModem(t, s, m.ID).LastSeen, "kind %d", u.Kind)
		}
	},
	"EventVendAuditStoredWithMachine": func(t *testing.T, s store.Store) {
		m, vm := boundModem(t, s)
		apply(t, s, event(m.ID, 10, "e1", "door_open"), vend(m.ID, 11, "v1", true), audit(m.ID, 12, "a1", 2, true))
		evs, err := s.ListEvents(ctx, vm.ID, at(0), at(100))
		require.NoError(t, err)
		require.Len(t, evs, 1)
		e := evs[0]
		assert.NotZero(t, e.ID)
		assert.Equal(t, m.ID, e.ModemID)
		assert.Equal(t, vm.ID, e.VMID)
		assert.Equal(t, "e1", e.MsgID)
		assert.Equal(t, "door_open", e.Code)
		assert.Equal(t, at(10), e.Time)
		assert.JSONEq(t, `{"k":"door_open"}`, string(e.Payload))

		vs, err := s.ListVends(ctx, vm.ID, at(0), at(100))
		require.NoError(t, err)
		require.Len(t, vs, 1)
		v := vs[0]
		assert.Equal(t, store.Vend{ID: v.ID, ModemID: m.ID, VMID: vm.ID, MsgID: "v1", Selection: "12", Price: 150,
			Payment: "cash", Type: "paid", OK: true, Time: at(11), CommandID: "c-v1"}, v)

		as, err := s.ListAudits(ctx, vm.ID, 0, at(0), at(100))
		require.NoError(t, err)
		require.Len(t, as, 1)
		a := as[0]
		assert.Equal(t, store.Audit{ID: a.ID, ModemID: m.ID, VMID: vm.ID, MsgID: "a1", Port: 2, Time: at(12),
			Received: at(13), Data: []byte("DXS*1\r\n"), Valid: true}, a)
		assert.Equal(t, [3]int{1, 1, 1}, counts(t, s, m.ID))
	},
	"UnboundModemGetsVMZero": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		apply(t, s, event(m.ID, 10, "e1", "x"), vend(m.ID, 11, "v1", true))
		assert.Equal(t, [3]int{1, 1, 0}, counts(t, s, m.ID))
		evs, err := s.ListEvents(ctx, 0, at(0), at(100))
		require.NoError(t, err)
		require.Len(t, evs, 1)
		assert.Zero(t, evs[0].VMID)

		// Binding applies to later uplinks only.
		vm := newMachine(t, s, m.ID)
		apply(t, s, event(m.ID, 12, "e2", "y"))
		evs, err = s.ListEvents(ctx, vm.ID, at(0), at(100))
		require.NoError(t, err)
		require.Len(t, evs, 1)
		assert.Equal(t, "e2", evs[0].MsgID)
	},
	"Dedupe": func(t *testing.T, s store.Store) {
		m, vm := boundModem(t, s)
		other, _ := boundModem(t, s)
		batch := []store.Uplink{
			event(m.ID, 10, "m1", "a"),
			event(m.ID, 11, "m1", "b"), // same batch, same msg id: dropped
			vend(m.ID, 12, "m1", true), // other table: kept
			audit(m.ID, 13, "m1", 1, true),
			event(other.ID, 14, "m1", "c"), // other modem: kept
		}
		apply(t, s, batch...)
		apply(t, s, batch...) // redelivery of the whole batch
		apply(t, s, vend(m.ID, 20, "m1", true), audit(m.ID, 21, "m1", 1, false))
		assert.Equal(t, [3]int{1, 1, 1}, counts(t, s, m.ID))
		assert.Equal(t, [3]int{1, 0, 0}, counts(t, s, other.ID))
		evs, err := s.ListEvents(ctx, vm.ID, at(0), at(100))
		require.NoError(t, err)
		require.Len(t, evs, 1)
		assert.Equal(t, "a", evs[0].Code, "first delivery wins")
		as, err := s.ListAudits(ctx, vm.ID, 0, at(0), at(100))
		require.NoError(t, err)
		require.Len(t, as, 1)
		assert.True(t, as[0].Valid)
	},
	"VendUpdatesLastSale": func(t *testing.T, s store.Store) {
		m, vm := boundModem(t, s)
		apply(t, s, vend(m.ID, 100, "v1", true))
		assert.Equal(t, at(100), getMachine(t, s, vm.ID).LastSale)
		apply(t, s, vend(m.ID, 50, "v2", true)) // older vend delivered late
		assert.Equal(t, at(100), getMachine(t, s, vm.ID).LastSale, "never moves back")
		apply(t, s, vend(m.ID, 200, "v3", false)) // failed vend
		assert.Equal(t, at(100), getMachine(t, s, vm.ID).LastSale, "failed vend is no sale")
		apply(t, s, vend(m.ID, 300, "v4", true))
		got := getMachine(t, s, vm.ID)
		assert.Equal(t, at(300), got.LastSale)
		assert.True(t, got.LastReport.IsZero())
	},
	"AuditUpdatesReportTimes": func(t *testing.T, s store.Store) {
		m, vm := boundModem(t, s)
		apply(t, s, audit(m.ID, 100, "a1", 1, false))
		got := getMachine(t, s, vm.ID)
		assert.Equal(t, at(100), got.LastAcquiredReport)
		assert.True(t, got.LastReport.IsZero(), "invalid audit is no report")

		apply(t, s, audit(m.ID, 200, "a2", 1, true))
		got = getMachine(t, s, vm.ID)
		assert.Equal(t, at(200), got.LastAcquiredReport)
		assert.Equal(t, at(200), got.LastReport)

		apply(t, s, audit(m.ID, 150, "a3", 1, true), audit(m.ID, 300, "a4", 1, false))
		got = getMachine(t, s, vm.ID)
		assert.Equal(t, at(300), got.LastAcquiredReport)
		assert.Equal(t, at(200), got.LastReport, "older valid audit does not move it back")
		assert.True(t, got.LastSale.IsZero())
	},
	"PresenceEpochs": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		step := func(u store.Uplink, online bool, epoch uint64) {
			t.Helper()
			apply(t, s, u)
			got := getModem(t, s, m.ID)
			assert.Equal(t, online, got.Online, "online after %+v", *u.Presence)
			assert.Equal(t, epoch, got.Epoch, "epoch after %+v", *u.Presence)
		}
		step(presence(m.ID, 1, true, 5), true, 5)   // first connection
		step(presence(m.ID, 2, true, 5), true, 5)   // redelivered
		step(presence(m.ID, 3, false, 5), false, 5) // same connection goes away
		step(presence(m.ID, 4, true, 4), false, 5)  // stale online of an older connection
		step(presence(m.ID, 5, true, 6), true, 6)   // reconnect
		step(presence(m.ID, 6, false, 8), false, 8) // connection 8 gone, its online lost
		step(presence(m.ID, 7, true, 7), false, 8)  // older connection's late online
		step(presence(m.ID, 8, true, 8), true, 8)   // online needs epoch >= stored only
	},
	"PresenceTakeover": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		// Connection 7 is taken over by 8; the broker publishes the will of 7 after
		// 8 said online. The late offline must not mark the modem offline.
		apply(t, s, presence(m.ID, 1, true, 7), presence(m.ID, 2, true, 8), presence(m.ID, 3, false, 7))
		got := getModem(t, s, m.ID)
		assert.True(t, got.Online)
		assert.EqualValues(t, 8, got.Epoch)
		// Same story across batches.
		apply(t, s, presence(m.ID, 4, true, 9))
		apply(t, s, presence(m.ID, 5, false, 8))
		got = getModem(t, s, m.ID)
		assert.True(t, got.Online)
		assert.EqualValues(t, 9, got.Epoch)
		apply(t, s, presence(m.ID, 6, false, 9))
		assert.False(t, getModem(t, s, m.ID).Online)
	},
	"PresenceOfflineFirst": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		apply(t, s, presence(m.ID, 1, false, 3)) // stored epoch 0: applies
		got := getModem(t, s, m.ID)
		assert.False(t, got.Online)
		assert.EqualValues(t, 3, got.Epoch)
		apply(t, s, presence(m.ID, 2, true, 2)) // older connection's online: ignored
		assert.False(t, getModem(t, s, m.ID).Online)
	},
	"OrderWithinBatch": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		apply(t, s, presence(m.ID, 1, true, 1), presence(m.ID, 2, false, 1))
		assert.False(t, getModem(t, s, m.ID).Online)
		apply(t, s, heartbeat(m.ID, 3, 1), heartbeat(m.ID, 4, 2), heartbeat(m.ID, 5, 3))
		got := getModem(t, s, m.ID)
		assert.EqualValues(t, 3, got.Uptime, "last heartbeat wins")
		assert.Equal(t, at(5), got.LastHB)
	},
	"UnknownModemDoesNotFailBatch": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		apply(t, s, event(999999, 1, "x", "y"), heartbeat(999999, 1, 1), event(m.ID, 2, "e1", "ok"))
		assert.Equal(t, [3]int{1, 0, 0}, counts(t, s, m.ID))
	},
	"ManyModemsOneBatch": func(t *testing.T, s store.Store) {
		var ms []store.Modem
		var batch []store.Uplink
		for i := range 20 {
			m, _ := boundModem(t, s)
			ms = append(ms, m)
			batch = append(batch, heartbeat(m.ID, i, int64(i)), event(m.ID, i, "e", "c"), vend(m.ID, i, "v", i%2 == 0))
		}
		apply(t, s, batch...)
		for i, m := range ms {
			got := getModem(t, s, m.ID)
			assert.EqualValues(t, i, got.Uptime)
			assert.Equal(t, at(i), got.LastSeen)
			assert.Equal(t, [3]int{1, 1, 0}, counts(t, s, m.ID))
		}
	},
}
