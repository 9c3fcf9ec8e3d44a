package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// RegistersTests runs the store.Registers contract; the stores open returns
// must implement store.Registers.
func RegistersTests(t *testing.T, open Opener) {
	regs := func(t *testing.T) store.Registers {
		s := open(t)
		r, ok := s.(store.Registers)
		require.True(t, ok, "store does not implement store.Registers")
		return r
	}
	t.Run("CRUD", func(t *testing.T) {
		t.Parallel()
		s := regs(t)
		r := store.Register{Name: "pos-1", StationID: "st1", BaseURL: "http://10.0.0.1:8080", Location: "hall",
			Enabled: true, PollInterval: 30 * time.Second, CreatedAt: at(0)}
		require.NoError(t, s.CreateRegister(ctx, &r))
		require.NotZero(t, r.ID)
		require.Equal(t, store.DefaultCompanyID, r.CompanyID)
		dup := store.Register{Name: "pos-1", BaseURL: "http://x"}
		require.ErrorIs(t, s.CreateRegister(ctx, &dup), store.ErrConflict)

		got, err := s.GetRegister(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, r, got)

		got.Location, got.Enabled, got.UpdatedAt = "door", false, at(5)
		require.NoError(t, s.UpdateRegister(ctx, got))
		again, err := s.GetRegister(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, got, again)

		up := store.Register{Name: "pos-1", StationID: "st9", BaseURL: "http://10.0.0.9:1", Enabled: true, CreatedAt: at(9)}
		require.NoError(t, s.UpsertRegister(ctx, &up))
		require.Equal(t, r.ID, up.ID, "upsert by name updates")
		up2 := store.Register{Name: "pos-2", BaseURL: "http://10.0.0.2:1", CreatedAt: at(9)}
		require.NoError(t, s.UpsertRegister(ctx, &up2))
		require.NotEqual(t, r.ID, up2.ID)

		list, err := s.ListRegisters(ctx, store.DefaultCompanyID)
		require.NoError(t, err)
		require.Len(t, list, 2)
		require.Equal(t, "st9", list[0].StationID)
		all, err := s.ListRegisters(ctx, 0)
		require.NoError(t, err)
		require.Len(t, all, 2)
		none, err := s.ListRegisters(ctx, 999)
		require.NoError(t, err)
		require.Empty(t, none)

		require.NoError(t, s.DeleteRegister(ctx, r.ID))
		_, err = s.GetRegister(ctx, r.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, s.DeleteRegister(ctx, r.ID), store.ErrNotFound)
		require.ErrorIs(t, s.UpdateRegister(ctx, store.Register{ID: r.ID, Name: "x"}), store.ErrNotFound)
	})
	t.Run("StateAndOutbox", func(t *testing.T) {
		t.Parallel()
		s := regs(t)
		r := store.Register{Name: "pos", StationID: "st", BaseURL: "http://h:1", Enabled: true, CreatedAt: at(0)}
		require.NoError(t, s.CreateRegister(ctx, &r))
		_, err := s.GetRegisterState(ctx, r.ID)
		require.ErrorIs(t, err, store.ErrNotFound)

		st := store.RegisterState{RegisterID: r.ID, Status: 2, Since: at(1), Checked: at(2), LastOK: at(0),
			Alerts: []string{"paper_out"}, Endpoints: []store.RegisterEndpoint{{Endpoint: "paper", Code: 204, Outcome: "ok", At: at(2)}}}
		p1 := store.RegisterPush{StationID: "st", RegisterID: r.ID, Body: []byte(`{"status":2}`), Created: at(2)}
		require.NoError(t, s.SaveRegisterStates(ctx, []store.RegisterState{st, {RegisterID: 9999, Status: 0}}, []store.RegisterPush{p1}))
		got, err := s.GetRegisterState(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, st, got)

		// A keep-alive is skipped while the station has a push waiting; a change is not.
		ka := store.RegisterPush{StationID: "st", RegisterID: r.ID, Body: []byte(`{"status":2,"ka":1}`), KeepAlive: true, Created: at(3)}
		p2 := store.RegisterPush{StationID: "st", RegisterID: r.ID, Body: []byte(`{"status":0}`), Created: at(4)}
		other := store.RegisterPush{StationID: "other", RegisterID: r.ID, Body: []byte(`{"status":6}`), KeepAlive: true, Created: at(4)}
		require.NoError(t, s.SaveRegisterStates(ctx, nil, []store.RegisterPush{ka, p2, other}))
		n, err := s.OutboxDepth(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, n)

		due, err := s.DuePushes(ctx, at(10), 10)
		require.NoError(t, err)
		require.Len(t, due, 2, "one head per station")
		require.Equal(t, `{"status":2}`, string(due[0].Body))
		require.Equal(t, "other", due[1].StationID)

		require.NoError(t, s.DeferPush(ctx, due[0].ID, at(60), "boom"))
		due2, err := s.DuePushes(ctx, at(10), 10)
		require.NoError(t, err)
		require.Len(t, due2, 1, "the deferred head blocks its station")
		require.Equal(t, "other", due2[0].StationID)
		due3, err := s.DuePushes(ctx, at(60), 10)
		require.NoError(t, err)
		require.Equal(t, 1, due3[0].Attempts)
		require.Equal(t, "boom", due3[0].LastError)

		require.NoError(t, s.DeletePush(ctx, due3[0].ID))
		require.ErrorIs(t, s.DeletePush(ctx, due3[0].ID), store.ErrNotFound)
		require.ErrorIs(t, s.DeferPush(ctx, due3[0].ID, at(1), ""), store.ErrNotFound)
		due4, err := s.DuePushes(ctx, at(60), 10)
		require.NoError(t, err)
		require.Equal(t, `{"status":0}`, string(due4[0].Body), "next in order")

		require.NoError(t, s.DeleteRegister(ctx, r.ID))
		n, err = s.OutboxDepth(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}
