package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// newCommand creates a queued command created at sec (expiring at exp, 0 = never).
func newCommand(t *testing.T, s store.Store, modemID int64, id string, sec, exp int) store.Command {
	t.Helper()
	c := store.Command{ID: id, ModemID: modemID, UserID: 3, Name: "reboot", Args: json.RawMessage(`{"delay":1}`),
		CreatedAt: at(sec)}
	if exp != 0 {
		c.ExpiresAt = at(exp)
	}
	stored, created, err := s.CreateCommand(ctx, c)
	require.NoError(t, err)
	require.True(t, created)
	return stored
}

func ids(cs []store.Command) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func next(t *testing.T, s store.Store, modemID int64, now time.Time) string {
	t.Helper()
	c, ok, err := s.NextCommand(ctx, modemID, now)
	require.NoError(t, err)
	if !ok {
		return ""
	}
	require.Equal(t, modemID, c.ModemID)
	return c.ID
}

var resultTests = map[string]func(t *testing.T, s store.Store){
	"AcceptedThenSucceeded": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		newCommand(t, s, m.ID, "c1", 0, 0)
		require.NoError(t, s.MarkSent(ctx, "c1", at(1)))
		apply(t, s, result(m.ID, 2, "c1", "accepted"))
		c := getCommand(t, s, "c1")
		assert.Equal(t, store.CmdAcknowledged, c.State)
		assert.Equal(t, at(2), c.AckedAt)
		assert.Equal(t, "accepted", c.Status)
		assert.Equal(t, len("accepted"), c.Code)
		assert.Equal(t, "msg accepted", c.Message)
		assert.True(t, c.DoneAt.IsZero())

		apply(t, s, result(m.ID, 3, "c1", "in_progress"))
		c = getCommand(t, s, "c1")
		assert.Equal(t, store.CmdAcknowledged, c.State)
		assert.Equal(t, at(2), c.AckedAt, "AckedAt set once")
		assert.Equal(t, "in_progress", c.Status)

		apply(t, s, result(m.ID, 4, "c1", "succeeded"))
		c = getCommand(t, s, "c1")
		assert.Equal(t, store.CmdSucceeded, c.State)
		assert.Equal(t, at(4), c.DoneAt)
		assert.JSONEq(t, `{"status":"succeeded"}`, string(c.Result))
		assert.Equal(t, "msg succeeded", c.Message)
	},
	"TerminalStatuses": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		for _, st := range []store.CommandState{store.CmdSucceeded, store.CmdFailed, store.CmdRejected, store.CmdExpired} {
			id := "c-" + string(st)
			newCommand(t, s, m.ID, id, 0, 0)
			require.NoError(t, s.MarkSent(ctx, id, at(1)))
			apply(t, s, result(m.ID, 2, id, string(st)))
			c := getCommand(t, s, id)
			assert.Equal(t, st, c.State)
			assert.Equal(t, at(2), c.DoneAt)
			assert.Equal(t, string(st), c.Status)
		}
	},
	"LateResultIgnored": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		newCommand(t, s, m.ID, "c1", 0, 0)
		require.NoError(t, s.MarkSent(ctx, "c1", at(1)))
		apply(t, s, result(m.ID, 2, "c1", "failed"))
		want := getCommand(t, s, "c1")
		apply(t, s, result(m.ID, 3, "c1", "accepted"), result(m.ID, 4, "c1", "succeeded"))
		assert.Equal(t, want, getCommand(t, s, "c1"), "terminal command unchanged")

		newCommand(t, s, m.ID, "c2", 5, 0)
		require.NoError(t, s.MarkSent(ctx, "c2", at(6)))
		require.NoError(t, s.Finish(ctx, "c2", store.CmdTimedOut, "no answer", at(7)))
		apply(t, s, result(m.ID, 8, "c2", "succeeded"))
		c := getCommand(t, s, "c2")
		assert.Equal(t, store.CmdTimedOut, c.State)
		assert.Equal(t, "no answer", c.Message)
		assert.Empty(t, c.Status)
	},
	"UnknownCommandDoesNotFailBatch": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		newCommand(t, s, m.ID, "c1", 0, 0)
		apply(t, s, result(m.ID, 1, "no-such-command", "succeeded"), result(m.ID, 2, "c1", "accepted"),
			event(m.ID, 3, "e1", "x"))
		assert.Equal(t, store.CmdAcknowledged, getCommand(t, s, "c1").State)
		assert.Equal(t, [3]int{1, 0, 0}, counts(t, s, m.ID))
		_, err := s.GetCommand(ctx, "no-such-command")
		require.ErrorIs(t, err, store.ErrNotFound)
	},
	"OtherModemsCommandIgnored": func(t *testing.T, s store.Store) {
		m, other := newModem(t, s), newModem(t, s)
		newCommand(t, s, m.ID, "c1", 0, 0)
		require.NoError(t, s.MarkSent(ctx, "c1", at(1)))
		apply(t, s, result(other.ID, 2, "c1", "succeeded"))
		assert.Equal(t, store.CmdSent, getCommand(t, s, "c1").State)
	},
	"ResultFreesTheModem": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		newCommand(t, s, m.ID, "c1", 0, 0)
		newCommand(t, s, m.ID, "c2", 1, 0)
		require.Equal(t, "c1", next(t, s, m.ID, at(2)))
		require.NoError(t, s.MarkSent(ctx, "c1", at(2)))
		assert.Empty(t, next(t, s, m.ID, at(3)), "c1 in flight")
		apply(t, s, result(m.ID, 3, "c1", "accepted"))
		assert.Empty(t, next(t, s, m.ID, at(3)), "c1 acknowledged is still in flight")
		apply(t, s, result(m.ID, 4, "c1", "succeeded"))
		assert.Equal(t, "c2", next(t, s, m.ID, at(5)))
	},
}

var commandTests = map[string]func(t *testing.T, s store.Store){
	"CreateRoundTrip": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		vm := newMachine(t, s, m.ID)
		in := store.Command{ID: "c1", ModemID: m.ID, VMID: vm.ID, UserID: 7, Name: "vend",
			Args: json.RawMessage(`{"sel":"12"}`), State: store.CmdSucceeded, Attempts: 9,
			CreatedAt: at(1), ExpiresAt: at(60)}
		c, created, err := s.CreateCommand(ctx, in)
		require.NoError(t, err)
		require.True(t, created)
		assert.Equal(t, store.CmdQueued, c.State, "created commands are queued")
		assert.Zero(t, c.Attempts)
		assert.Equal(t, "c1", c.ID)
		assert.Equal(t, vm.ID, c.VMID)
		assert.EqualValues(t, 7, c.UserID)
		assert.Equal(t, "vend", c.Name)
		assert.JSONEq(t, `{"sel":"12"}`, string(c.Args))
		assert.Equal(t, at(1), c.CreatedAt)
		assert.Equal(t, at(60), c.ExpiresAt)
		assert.True(t, c.SentAt.IsZero())
		assert.Equal(t, c, getCommand(t, s, "c1"))
	},
	"CreateIdempotent": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		first := newCommand(t, s, m.ID, "c1", 0, 0)
		require.NoError(t, s.MarkSent(ctx, "c1", at(1)))
		again, created, err := s.CreateCommand(ctx, store.Command{ID: "c1", ModemID: m.ID, Name: "other", CreatedAt: at(5)})
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, "reboot", again.Name, "stored command returned")
		assert.Equal(t, store.CmdSent, again.State)
		assert.Equal(t, first.CreatedAt, again.CreatedAt)
		assert.Equal(t, again, getCommand(t, s, "c1"), "nothing written")
	},
	"CreateUnknownModem": func(t *testing.T, s store.Store) {
		_, _, err := s.CreateCommand(ctx, store.Command{ID: "c1", ModemID: 987654, Name: "x", CreatedAt: at(0)})
		require.Error(t, err)
	},
	"NotFound": func(t *testing.T, s store.Store) {
		_, err := s.GetCommand(ctx, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, s.MarkSent(ctx, "nope", at(0)), store.ErrNotFound)
		require.ErrorIs(t, s.Finish(ctx, "nope", store.CmdTimedOut, "", at(0)), store.ErrNotFound)
	},
	"NextOrder": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		other := newModem(t, s)
		newCommand(t, s, m.ID, "b", 5, 0)
		newCommand(t, s, m.ID, "a", 5, 0) // same time: id breaks the tie
		newCommand(t, s, m.ID, "z", 1, 0) // oldest
		newCommand(t, s, other.ID, "o", 0, 0)
		var got []string
		for range 3 {
			id := next(t, s, m.ID, at(10))
			got = append(got, id)
			require.NoError(t, s.MarkSent(ctx, id, at(10)))
			require.NoError(t, s.Finish(ctx, id, store.CmdTimedOut, "", at(11)))
		}
		assert.Equal(t, []string{"z", "a", "b"}, got)
		assert.Empty(t, next(t, s, m.ID, at(12)))
		assert.Equal(t, "o", next(t, s, other.ID, at(12)), "per modem")
	},
	"NextSkipsExpired": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		newCommand(t, s, m.ID, "old", 0, 10)
		newCommand(t, s, m.ID, "new", 1, 0)
		assert.Equal(t, "old", next(t, s, m.ID, at(10)), "expiry at now is not yet past")
		assert.Equal(t, "new", next(t, s, m.ID, at(11)))
	},
	"OneInFlight": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		newCommand(t, s, m.ID, "c1", 0, 0)
		newCommand(t, s, m.ID, "c2", 1, 0)
		_, ok, err := s.InFlight(ctx, m.ID)
		require.NoError(t, err)
		assert.False(t, ok)

		require.NoError(t, s.MarkSent(ctx, "c2", at(2))) // out of order on purpose
		assert.Empty(t, next(t, s, m.ID, at(3)))
		c, ok, err := s.InFlight(ctx, m.ID)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, "c2", c.ID)

		apply(t, s, result(m.ID, 4, "c2", "in_progress"))
		c, ok, err = s.InFlight(ctx, m.ID)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, store.CmdAcknowledged, c.State)
		assert.Empty(t, next(t, s, m.ID, at(5)))

		require.NoError(t, s.Finish(ctx, "c2", store.CmdTimedOut, "gone", at(6)))
		_, ok, err = s.InFlight(ctx, m.ID)
		require.NoError(t, err)
		assert.False(t, ok)
		assert.Equal(t, "c1", next(t, s, m.ID, at(7)))
	},
	"Dispatchable": func(t *testing.T, s store.Store) {
		m, other := newModem(t, s), newModem(t, s)
		disp := func(now int) string {
			t.Helper()
			c, ok, err := s.Dispatchable(ctx, m.ID, at(now))
			require.NoError(t, err)
			if !ok {
				return ""
			}
			return c.ID + ":" + string(c.State)
		}
		assert.Empty(t, disp(0), "nothing at all")
		newCommand(t, s, other.ID, "o1", 0, 0)
		assert.Empty(t, disp(0), "another modem's command")
		newCommand(t, s, m.ID, "old", 0, 10)
		newCommand(t, s, m.ID, "c1", 1, 0)
		newCommand(t, s, m.ID, "c2", 2, 0)
		assert.Equal(t, "old:queued", disp(10), "oldest queued; expiry at now is not yet past")
		assert.Equal(t, "c1:queued", disp(11), "an expired queued command is skipped")
		require.NoError(t, s.MarkSent(ctx, "c2", at(3))) // in flight, though younger
		assert.Equal(t, "c2:sent", disp(11))
		apply(t, s, result(m.ID, 4, "c2", "accepted"))
		assert.Equal(t, "c2:acknowledged", disp(11))
		apply(t, s, result(m.ID, 5, "c2", "succeeded"))
		assert.Equal(t, "c1:queued", disp(11), "a finished command is not in flight")
		require.NoError(t, s.Finish(ctx, "c1", store.CmdTimedOut, "gone", at(6)))
		_, err := s.ExpireDue(ctx, at(11))
		require.NoError(t, err)
		assert.Empty(t, disp(11), "only terminal commands left")
	},
	"MarkSent": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		newCommand(t, s, m.ID, "c1", 0, 0)
		require.NoError(t, s.MarkSent(ctx, "c1", at(1)))
		c := getCommand(t, s, "c1")
		assert.Equal(t, store.CmdSent, c.State)
		assert.Equal(t, at(1), c.SentAt)
		assert.Equal(t, 1, c.Attempts)

		require.NoError(t, s.MarkSent(ctx, "c1", at(5)), "resend")
		c = getCommand(t, s, "c1")
		assert.Equal(t, at(5), c.SentAt)
		assert.Equal(t, 2, c.Attempts)

		apply(t, s, result(m.ID, 6, "c1", "accepted"))
		require.ErrorIs(t, s.MarkSent(ctx, "c1", at(7)), store.ErrInvalidMove, "acknowledged")
		apply(t, s, result(m.ID, 8, "c1", "succeeded"))
		require.ErrorIs(t, s.MarkSent(ctx, "c1", at(9)), store.ErrInvalidMove, "terminal")
		assert.Equal(t, 2, getCommand(t, s, "c1").Attempts)
	},
	"Finish": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		newCommand(t, s, m.ID, "q", 0, 0)
		newCommand(t, s, m.ID, "s", 0, 0)
		require.NoError(t, s.MarkSent(ctx, "s", at(1)))
		require.NoError(t, s.Finish(ctx, "q", store.CmdExpired, "too late", at(2)))
		require.NoError(t, s.Finish(ctx, "s", store.CmdTimedOut, "no answer", at(3)))
		q, sc := getCommand(t, s, "q"), getCommand(t, s, "s")
		assert.Equal(t, store.CmdExpired, q.State)
		assert.Equal(t, "too late", q.Message)
		assert.Equal(t, at(2), q.DoneAt)
		assert.Equal(t, store.CmdTimedOut, sc.State)
		assert.Equal(t, at(3), sc.DoneAt)

		require.ErrorIs(t, s.Finish(ctx, "q", store.CmdTimedOut, "", at(4)), store.ErrInvalidMove, "already terminal")
		assert.Equal(t, q, getCommand(t, s, "q"))

		newCommand(t, s, m.ID, "x", 0, 0)
		for _, st := range []store.CommandState{store.CmdSucceeded, store.CmdSent, store.CmdQueued, "bogus"} {
			require.ErrorIs(t, s.Finish(ctx, "x", st, "", at(5)), store.ErrInvalidMove, "target %s", st)
		}
		assert.Equal(t, store.CmdQueued, getCommand(t, s, "x").State)
	},
	"ExpireDue": func(t *testing.T, s store.Store) {
		m := newModem(t, s)
		newCommand(t, s, m.ID, "q-due", 0, 10)
		newCommand(t, s, m.ID, "s-due", 0, 5)
		require.NoError(t, s.MarkSent(ctx, "s-due", at(1)))
		newCommand(t, s, m.ID, "at-now", 0, 20)
		newCommand(t, s, m.ID, "never", 0, 0)
		newCommand(t, s, m.ID, "done", 0, 3)
		require.NoError(t, s.MarkSent(ctx, "done", at(1)))
		apply(t, s, result(m.ID, 2, "done", "succeeded"))

		got, err := s.ExpireDue(ctx, at(20))
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{"q-due", "s-due"}, ids(got))
		for _, c := range got {
			assert.Equal(t, store.CmdExpired, c.State)
			assert.Equal(t, at(20), c.DoneAt)
			assert.Equal(t, c, getCommand(t, s, c.ID))
		}
		assert.Equal(t, store.CmdQueued, getCommand(t, s, "at-now").State, "expiry == now is not before now")
		assert.Equal(t, store.CmdQueued, getCommand(t, s, "never").State)
		assert.Equal(t, store.CmdSucceeded, getCommand(t, s, "done").State)

		got, err = s.ExpireDue(ctx, at(20))
		require.NoError(t, err)
		assert.Empty(t, got, "second run finds nothing")
		got, err = s.ExpireDue(ctx, at(21))
		require.NoError(t, err)
		assert.Equal(t, []string{"at-now"}, ids(got))
	},
	"ListNewestFirst": func(t *testing.T, s store.Store) {
		m, other := newModem(t, s), newModem(t, s)
		for i, id := range []string{"c1", "c2", "c3", "c4"} {
			newCommand(t, s, m.ID, id, i, 0)
		}
		newCommand(t, s, other.ID, "o1", 9, 0)
		list, err := s.ListCommands(ctx, m.ID, 3)
		require.NoError(t, err)
		assert.Equal(t, []string{"c4", "c3", "c2"}, ids(list))
		list, err = s.ListCommands(ctx, m.ID, 100)
		require.NoError(t, err)
		assert.Equal(t, []string{"c4", "c3", "c2", "c1"}, ids(list))
	},
	"PendingModems": func(t *testing.T, s store.Store) {
		a, b, c, d := newModem(t, s), newModem(t, s), newModem(t, s), newModem(t, s)
		newCommand(t, s, b.ID, "b1", 0, 0)
		newCommand(t, s, a.ID, "a1", 0, 0)
		newCommand(t, s, a.ID, "a2", 0, 0)
		newCommand(t, s, c.ID, "c1", 0, 0)
		require.NoError(t, s.MarkSent(ctx, "c1", at(1))) // sent, nothing queued
		newCommand(t, s, d.ID, "d1", 0, 5)               // queued but expired at 6
		got, err := s.PendingModems(ctx, at(6))
		require.NoError(t, err)
		assert.Equal(t, []int64{a.ID, b.ID}, got)
	},
	"UnfinishedModems": func(t *testing.T, s store.Store) {
		a, b, c, d, e := newModem(t, s), newModem(t, s), newModem(t, s), newModem(t, s), newModem(t, s)
		newCommand(t, s, b.ID, "b1", 0, 0)  // queued
		newCommand(t, s, a.ID, "a1", 0, 50) // queued with an expiry still ahead
		newCommand(t, s, c.ID, "c1", 0, 0)
		require.NoError(t, s.MarkSent(ctx, "c1", at(1))) // sent
		newCommand(t, s, d.ID, "d1", 0, 0)
		require.NoError(t, s.Finish(ctx, "d1", store.CmdTimedOut, "gone", at(2))) // terminal
		newCommand(t, s, e.ID, "e1", 0, 3)
		_, err := s.ExpireDue(ctx, at(10)) // e1 expires
		require.NoError(t, err)
		got, err := s.UnfinishedModems(ctx)
		require.NoError(t, err)
		assert.Equal(t, []int64{a.ID, b.ID, c.ID}, got)
	},
}
