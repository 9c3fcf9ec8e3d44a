package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// RunPresence runs the contract of the optional store.BulkPresence and
// store.ModemCredentials; an engine that implements them calls it beside Run.
func RunPresence(t *testing.T, open Opener) {
	tests := map[string]func(t *testing.T, s store.Store){
		"MarkOffline":               bulkOffline,
		"MarkOfflineThenLateOnline": bulkOfflineLateOnline,
		"MarkOfflineMachineList":    bulkOfflineMachineList,
		"ModemCredentials":          modemCredentials,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			fn(t, s)
		})
	}
}

func bulk(t *testing.T, s store.Store) store.BulkPresence {
	t.Helper()
	b, ok := s.(store.BulkPresence)
	if !ok {
		t.Skip("engine has no BulkPresence")
	}
	return b
}

// bulkOffline: a gateway shutting down marks its connections offline in one
// call; a modem that has reconnected since (to another gateway worker or the
// next process: a newer epoch is stored) stays online.
func bulkOffline(t *testing.T, s store.Store) {
	b := bulk(t, s)
	stay, gone, again, never := newModem(t, s), newModem(t, s), newModem(t, s), newModem(t, s)
	require.NoError(t, s.ApplyUplinks(ctx, []store.Uplink{
		presence(stay.ID, 0, true, 100), presence(gone.ID, 0, true, 100),
		presence(again.ID, 0, true, 100), presence(again.ID, 1, true, 300), // reconnected elsewhere
	}))
	n, err := b.MarkOffline(ctx, []store.ConnEpoch{{ModemID: gone.ID, Epoch: 100}, {ModemID: again.ID, Epoch: 100}, {ModemID: never.ID, Epoch: 50}, {ModemID: 1 << 40, Epoch: 7}})
	require.NoError(t, err)
	assert.Equal(t, 2, n, "gone, and never (no presence stored yet: epoch 0)")
	for _, c := range []struct {
		m      store.Modem
		online bool
		epoch  uint64
	}{{stay, true, 100}, {gone, false, 100}, {again, true, 300}, {never, false, 50}} {
		got, err := s.GetModem(ctx, c.m.ID)
		require.NoError(t, err)
		assert.Equal(t, c.online, got.Online, "modem %d online", c.m.ID)
		assert.Equal(t, c.epoch, got.Epoch, "modem %d epoch", c.m.ID)
	}
	n, err = b.MarkOffline(ctx, nil)
	require.NoError(t, err)
	assert.Zero(t, n)
}

// bulkOfflineLateOnline: after the bulk offline, an older connection's late
// online is ignored, a newer connection's online applies.
func bulkOfflineLateOnline(t *testing.T, s store.Store) {
	b := bulk(t, s)
	var gone []store.ConnEpoch
	var ms []store.Modem
	for i := range 10 { // more than one JSON element, same statement
		m := newModem(t, s)
		ms = append(ms, m)
		require.NoError(t, s.ApplyUplinks(ctx, []store.Uplink{presence(m.ID, 0, true, uint64(1000+i))}))
		gone = append(gone, store.ConnEpoch{ModemID: m.ID, Epoch: uint64(1000 + i)})
	}
	n, err := b.MarkOffline(ctx, gone)
	require.NoError(t, err)
	require.Equal(t, len(ms), n)
	require.NoError(t, s.ApplyUplinks(ctx, []store.Uplink{
		presence(ms[0].ID, 1, true, 999),  // older connection: ignored
		presence(ms[1].ID, 1, true, 2000), // the modem's next connection
	}))
	got, err := s.GetModem(ctx, ms[0].ID)
	require.NoError(t, err)
	assert.False(t, got.Online)
	got, err = s.GetModem(ctx, ms[1].ID)
	require.NoError(t, err)
	assert.True(t, got.Online)
	assert.Equal(t, uint64(2000), got.Epoch)
}

// modemCredentials: the list has every modem with its current hash.
func modemCredentials(t *testing.T, s store.Store) {
	mc, ok := s.(store.ModemCredentials)
	if !ok {
		t.Skip("engine has no ModemCredentials")
	}
	a, b := newModem(t, s), newModem(t, s)
	require.NoError(t, s.SetModemPassword(ctx, b.IMEI, "hash-2"))
	list, err := mc.ListModemCredentials(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []store.ModemCredential{
		{ID: a.ID, IMEI: a.IMEI, PasswordHash: "hash"},
		{ID: b.ID, IMEI: b.IMEI, PasswordHash: "hash-2"},
	}, list)
}

// bulkOfflineMachineList: the machine list sees every modem the bulk
// offline flipped (a changed row after the version read before it), and a
// later change of the same modem after the version read after it.
func bulkOfflineMachineList(t *testing.T, s store.Store) {
	b := bulk(t, s)
	ml, ok := s.(store.MachineList)
	if !ok {
		t.Skip("engine has no MachineList")
	}
	var gone []store.ConnEpoch
	var vms []store.Machine
	for i := range 3 {
		m := newModem(t, s)
		vms = append(vms, newMachine(t, s, m.ID))
		require.NoError(t, s.ApplyUplinks(ctx, []store.Uplink{presence(m.ID, 0, true, uint64(100+i))}))
		gone = append(gone, store.ConnEpoch{ModemID: m.ID, Epoch: uint64(100 + i)})
	}
	stay := newModem(t, s) // reconnected elsewhere: newer epoch, not flipped
	newMachine(t, s, stay.ID)
	require.NoError(t, s.ApplyUplinks(ctx, []store.Uplink{presence(stay.ID, 0, true, 500)}))
	gone = append(gone, store.ConnEpoch{ModemID: stay.ID, Epoch: 400})

	v0, err := ml.MachineListVersion(ctx)
	require.NoError(t, err)
	n, err := b.MarkOffline(ctx, gone)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	v1, err := ml.MachineListVersion(ctx)
	require.NoError(t, err)
	assert.Greater(t, v1, v0)
	rows, err := ml.MachineListRows(ctx, store.DefaultCompanyID, v0)
	require.NoError(t, err)
	got := map[int64]bool{}
	for _, r := range rows {
		require.NotNil(t, r.Modem)
		got[r.Machine.ID] = r.Modem.Online
		if r.Modem.ID == stay.ID { // listed though unchanged: the contract allows it
			assert.True(t, r.Modem.Online)
		}
	}
	for _, vm := range vms {
		online, ok := got[vm.ID]
		assert.True(t, ok, "machine %d listed as changed", vm.ID)
		assert.False(t, online)
	}

	// Back online through the uplinks: stamped after v1.
	require.NoError(t, s.ApplyUplinks(ctx, []store.Uplink{presence(gone[0].ModemID, 1, true, 900)}))
	rows, err = ml.MachineListRows(ctx, store.DefaultCompanyID, v1)
	require.NoError(t, err)
	found := false
	for _, r := range rows {
		if r.Machine.ID == vms[0].ID {
			found = true
			assert.True(t, r.Modem.Online)
		}
	}
	assert.True(t, found, "machine %d listed as changed after going online", vms[0].ID)
}
