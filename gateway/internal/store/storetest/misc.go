package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

var requestTests = map[string]func(t *testing.T, s store.Store){
	"MergeAndSatisfy": func(t *testing.T, s store.Store) {
		vm := newMachine(t, s, 0)
		r, progress, err := s.OpenRequest(ctx, vm.ID, true, false, at(1))
		require.NoError(t, err)
		assert.False(t, progress, "new request")
		assert.NotZero(t, r.ID)
		assert.Equal(t, store.Request{ID: r.ID, VMID: vm.ID, Report: true, CreatedAt: at(1)}, r)

		r2, progress, err := s.OpenRequest(ctx, vm.ID, true, false, at(2))
		require.NoError(t, err)
		assert.True(t, progress, "already asked for report")
		assert.Equal(t, r, r2, "same open request")

		r3, progress, err := s.OpenRequest(ctx, vm.ID, false, true, at(3))
		require.NoError(t, err)
		assert.False(t, progress, "config is new")
		assert.Equal(t, r.ID, r3.ID)
		assert.True(t, r3.Report)
		assert.True(t, r3.Config)
		assert.Equal(t, at(1), r3.CreatedAt)

		_, progress, err = s.OpenRequest(ctx, vm.ID, true, true, at(4))
		require.NoError(t, err)
		assert.True(t, progress)

		got, err := s.GetRequest(ctx, vm.ID, r.ID)
		require.NoError(t, err)
		assert.Equal(t, r3, got)

		require.NoError(t, s.SatisfyRequest(ctx, vm.ID, true, false, at(5)))
		got, err = s.GetRequest(ctx, vm.ID, r.ID)
		require.NoError(t, err)
		assert.False(t, got.Report)
		assert.True(t, got.Config)
		assert.True(t, got.DoneAt.IsZero(), "config still pending")

		require.NoError(t, s.SatisfyRequest(ctx, vm.ID, false, true, at(6)))
		_, err = s.GetRequest(ctx, vm.ID, r.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "done")

		r4, progress, err := s.OpenRequest(ctx, vm.ID, false, true, at(7))
		require.NoError(t, err)
		assert.False(t, progress)
		assert.NotEqual(t, r.ID, r4.ID, "a done request is not reopened")
	},
	"SatisfyUnaskedFlag": func(t *testing.T, s store.Store) {
		vm := newMachine(t, s, 0)
		r, _, err := s.OpenRequest(ctx, vm.ID, true, false, at(1))
		require.NoError(t, err)
		require.NoError(t, s.SatisfyRequest(ctx, vm.ID, false, true, at(2)))
		got, err := s.GetRequest(ctx, vm.ID, r.ID)
		require.NoError(t, err, "report still wanted")
		assert.True(t, got.Report)
		require.NoError(t, s.SatisfyRequest(ctx, vm.ID, true, true, at(3)))
		_, err = s.GetRequest(ctx, vm.ID, r.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.NoError(t, s.SatisfyRequest(ctx, vm.ID, true, true, at(4)), "nothing open is fine")
	},
	"PerMachine": func(t *testing.T, s store.Store) {
		a, b := newMachine(t, s, 0), newMachine(t, s, 0)
		ra, _, err := s.OpenRequest(ctx, a.ID, true, false, at(1))
		require.NoError(t, err)
		rb, progress, err := s.OpenRequest(ctx, b.ID, true, false, at(1))
		require.NoError(t, err)
		assert.False(t, progress)
		assert.NotEqual(t, ra.ID, rb.ID)
		_, err = s.GetRequest(ctx, b.ID, ra.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "another machine's request")
		require.NoError(t, s.SatisfyRequest(ctx, a.ID, true, false, at(2)))
		_, err = s.GetRequest(ctx, b.ID, rb.ID)
		require.NoError(t, err, "b untouched")
	},
}

var userTests = map[string]func(t *testing.T, s store.Store){
	"RoundTrip": func(t *testing.T, s store.Store) {
		n, err := s.CountUsers(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
		u := store.User{Email: "ann@example.com", PasswordHash: "ph", FirstName: "Ann", LastName: "Lee",
			Position: "boss", Phone: "+1", Role: "admin", Active: true, CreatedAt: at(1)}
		require.NoError(t, s.CreateUser(ctx, &u))
		assert.NotZero(t, u.ID)
		assert.Equal(t, store.DefaultCompanyID, u.CompanyID)
		got, err := s.GetUser(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, u, got)
		got, err = s.GetUserByEmail(ctx, "ann@example.com")
		require.NoError(t, err)
		assert.Equal(t, u, got)
		n, err = s.CountUsers(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)

		require.NoError(t, s.TouchLogin(ctx, u.ID, at(9)))
		got, err = s.GetUser(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, at(9), got.LastLogin)
	},
	"Conflict": func(t *testing.T, s store.Store) {
		u := store.User{Email: "bob@example.com", Role: "operator"}
		require.NoError(t, s.CreateUser(ctx, &u))
		dup := store.User{Email: "bob@example.com", Role: "admin"}
		require.ErrorIs(t, s.CreateUser(ctx, &dup), store.ErrConflict)
		n, err := s.CountUsers(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
	},
	"NotFound": func(t *testing.T, s store.Store) {
		_, err := s.GetUser(ctx, 5)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.GetUserByEmail(ctx, "nobody@example.com")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, s.TouchLogin(ctx, 5, at(0)), store.ErrNotFound)
	},
}

var tokenTests = map[string]func(t *testing.T, s store.Store){
	"RoundTripAndRevoke": func(t *testing.T, s store.Store) {
		u := store.User{Email: "t@example.com"}
		require.NoError(t, s.CreateUser(ctx, &u))
		tok := store.Token{UserID: u.ID, AccessHash: "acc1", RefreshHash: "ref1", Scope: "read write",
			AccessExpires: at(3600), RefreshExpires: at(86400), CreatedAt: at(0)}
		require.NoError(t, s.CreateToken(ctx, &tok))
		assert.NotZero(t, tok.ID)
		got, err := s.GetTokenByAccess(ctx, "acc1")
		require.NoError(t, err)
		assert.Equal(t, tok, got)
		got, err = s.GetTokenByRefresh(ctx, "ref1")
		require.NoError(t, err)
		assert.Equal(t, tok, got)

		require.NoError(t, s.RevokeToken(ctx, tok.ID))
		got, err = s.GetTokenByAccess(ctx, "acc1")
		require.NoError(t, err)
		assert.True(t, got.Revoked)
		require.NoError(t, s.RevokeToken(ctx, tok.ID), "revoking twice is fine")
	},
	"NoRefresh": func(t *testing.T, s store.Store) {
		u := store.User{Email: "n@example.com"}
		require.NoError(t, s.CreateUser(ctx, &u))
		for _, acc := range []string{"a1", "a2"} {
			tok := store.Token{UserID: u.ID, AccessHash: acc, AccessExpires: at(60)}
			require.NoError(t, s.CreateToken(ctx, &tok), "several pairs without refresh token")
		}
		got, err := s.GetTokenByAccess(ctx, "a2")
		require.NoError(t, err)
		assert.Empty(t, got.RefreshHash)
		_, err = s.GetTokenByRefresh(ctx, "")
		require.ErrorIs(t, err, store.ErrNotFound)
	},
	"ConflictAndNotFound": func(t *testing.T, s store.Store) {
		u := store.User{Email: "c@example.com"}
		require.NoError(t, s.CreateUser(ctx, &u))
		tok := store.Token{UserID: u.ID, AccessHash: "x", RefreshHash: "y"}
		require.NoError(t, s.CreateToken(ctx, &tok))
		dup := store.Token{UserID: u.ID, AccessHash: "x", RefreshHash: "z"}
		require.ErrorIs(t, s.CreateToken(ctx, &dup), store.ErrConflict)
		dup = store.Token{UserID: u.ID, AccessHash: "w", RefreshHash: "y"}
		require.ErrorIs(t, s.CreateToken(ctx, &dup), store.ErrConflict)
		_, err := s.GetTokenByAccess(ctx, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.GetTokenByRefresh(ctx, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, s.RevokeToken(ctx, 4242), store.ErrNotFound)
	},
}

var queryTests = map[string]func(t *testing.T, s store.Store){
	"InclusiveRanges": func(t *testing.T, s store.Store) {
		m, vm := boundModem(t, s)
		var batch []store.Uplink
		for _, sec := range []int{9, 10, 15, 20, 21} {
			id := string(rune('a' + sec))
			batch = append(batch, event(m.ID, sec, id, "c"), vend(m.ID, sec, id, true), audit(m.ID, sec, id, 1, true))
		}
		apply(t, s, batch...)
		evs, err := s.ListEvents(ctx, vm.ID, at(10), at(20))
		require.NoError(t, err)
		vs, err := s.ListVends(ctx, vm.ID, at(10), at(20))
		require.NoError(t, err)
		as, err := s.ListAudits(ctx, vm.ID, 0, at(10), at(20))
		require.NoError(t, err)
		var et, vt, atimes []int
		for _, e := range evs {
			et = append(et, int(e.Time.Sub(T0).Seconds()))
		}
		for _, v := range vs {
			vt = append(vt, int(v.Time.Sub(T0).Seconds()))
		}
		for _, a := range as {
			atimes = append(atimes, int(a.Time.Sub(T0).Seconds()))
		}
		assert.Equal(t, []int{10, 15, 20}, et, "events, both ends inclusive, oldest first")
		assert.Equal(t, []int{10, 15, 20}, vt, "vends")
		assert.Equal(t, []int{10, 15, 20}, atimes, "audits")

		// Millisecond boundaries.
		evs, err = s.ListEvents(ctx, vm.ID, at(10).Add(1e6), at(20).Add(-1e6))
		require.NoError(t, err)
		assert.Len(t, evs, 1)
	},
	"OldestFirstRegardlessOfArrival": func(t *testing.T, s store.Store) {
		m, vm := boundModem(t, s)
		apply(t, s, event(m.ID, 30, "late", "c"))
		apply(t, s, event(m.ID, 10, "early", "c"))
		evs, err := s.ListEvents(ctx, vm.ID, at(0), at(100))
		require.NoError(t, err)
		require.Len(t, evs, 2)
		assert.Equal(t, "early", evs[0].MsgID)
	},
	"PerMachineAndPort": func(t *testing.T, s store.Store) {
		m1, vm1 := boundModem(t, s)
		m2, vm2 := boundModem(t, s)
		apply(t, s, audit(m1.ID, 10, "p1", 1, true), audit(m1.ID, 11, "p2", 2, true), audit(m2.ID, 12, "p1", 1, true),
			event(m2.ID, 13, "e", "c"))
		as, err := s.ListAudits(ctx, vm1.ID, 2, at(0), at(100))
		require.NoError(t, err)
		require.Len(t, as, 1)
		assert.Equal(t, 2, as[0].Port)
		as, err = s.ListAudits(ctx, vm1.ID, 0, at(0), at(100))
		require.NoError(t, err)
		assert.Len(t, as, 2)
		evs, err := s.ListEvents(ctx, vm1.ID, at(0), at(100))
		require.NoError(t, err)
		assert.Empty(t, evs)
		evs, err = s.ListEvents(ctx, vm2.ID, at(0), at(100))
		require.NoError(t, err)
		assert.Len(t, evs, 1)
		assert.Equal(t, [3]int{0, 0, 2}, counts(t, s, m1.ID))
		assert.Equal(t, [3]int{0, 0, 0}, counts(t, s, 424242))
	},
}

var lifecycleTests = map[string]func(t *testing.T, s store.Store){
	"PingAndClose": func(t *testing.T, s store.Store) {
		require.NoError(t, s.Ping(ctx))
		require.NoError(t, s.Close())
		require.Error(t, s.Ping(ctx), "closed")
		_, err := s.GetModem(ctx, 1)
		require.Error(t, err)
		require.Error(t, s.ApplyUplinks(ctx, []store.Uplink{heartbeat(1, 1, 1)}))
	},
	"DefaultCompanyExists": func(t *testing.T, s store.Store) {
		// Creating rows in company 1 works without creating it first.
		m := store.Modem{IMEI: "860000000000099", CompanyID: store.DefaultCompanyID}
		require.NoError(t, s.CreateModem(ctx, &m))
		u := store.User{Email: "d@example.com", CompanyID: store.DefaultCompanyID}
		require.NoError(t, s.CreateUser(ctx, &u))
	},
}
