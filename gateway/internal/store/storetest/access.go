package storetest

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// AccessTests runs the contract of store.Access (companies, requisites, groups)
// against engines that implement it; the store open returns must implement
// store.Access or the test fails.
func AccessTests(t *testing.T, open Opener) {
	for _, name := range slices.Sorted(maps.Keys(accessTests)) {
		fn := accessTests[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			a, ok := s.(store.Access)
			require.Truef(t, ok, "%T does not implement store.Access", s)
			fn(t, s, a)
		})
	}
}

func newCompany(t *testing.T, a store.Access, name string) int64 {
	t.Helper()
	c := store.Company{Name: name, CreatedAt: T0}
	require.NoError(t, a.CreateCompany(ctx, &c))
	require.NotZero(t, c.ID)
	return c.ID
}

func newUserIn(t *testing.T, s store.Store, company int64, email, role string) store.User {
	t.Helper()
	u := store.User{CompanyID: company, Email: email, Role: role, Active: true, CreatedAt: T0}
	require.NoError(t, s.CreateUser(ctx, &u))
	return u
}

func newMachineIn(t *testing.T, s store.Store, company int64) store.Machine {
	t.Helper()
	vm := store.Machine{CompanyID: company, Name: "vm", CreatedAt: T0}
	require.NoError(t, s.CreateMachine(ctx, &vm, false))
	return vm
}

var accessTests = map[string]func(t *testing.T, s store.Store, a store.Access){
	"CompanyRoundTrip": func(t *testing.T, s store.Store, a store.Access) {
		id := newCompany(t, a, "ООО Ромашка")
		c, err := a.GetCompany(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.Company{ID: id, Name: "ООО Ромашка", CreatedAt: T0}, c)
		def, err := a.GetCompany(ctx, store.DefaultCompanyID)
		require.NoError(t, err, "the first migration creates the default company")
		require.Equal(t, store.DefaultCompanyID, def.ID)
		_, err = a.GetCompany(ctx, id+100)
		require.ErrorIs(t, err, store.ErrNotFound)
	},

	"RequisiteCRUDAndScoping": func(t *testing.T, s store.Store, a store.Access) {
		other := newCompany(t, a, "other")
		q := store.Requisite{CompanyID: store.DefaultCompanyID, Title: "ИП Иванов", TitleShort: "Иванов",
			AddrLegal: "Москва", AddrFact: "Тверь", INN: "7701234567", KPP: "770101001", Provider: store.ProviderOrangeData, CreatedAt: T0}
		require.NoError(t, a.CreateRequisite(ctx, &q))
		require.NotZero(t, q.ID)
		foreign := store.Requisite{CompanyID: other, Title: "чужие", CreatedAt: T0}
		require.NoError(t, a.CreateRequisite(ctx, &foreign))

		got, err := a.GetRequisite(ctx, q.ID)
		require.NoError(t, err)
		require.Equal(t, q, got)

		list, err := a.ListRequisites(ctx, store.DefaultCompanyID)
		require.NoError(t, err)
		require.Equal(t, []store.Requisite{q}, list, "another company's requisites never listed")

		q.Title, q.Provider = "ООО Иванов", ""
		require.NoError(t, a.UpdateRequisite(ctx, q))
		got, err = a.GetRequisite(ctx, q.ID)
		require.NoError(t, err)
		require.Equal(t, q, got)

		require.NoError(t, a.DeleteRequisite(ctx, q.ID))
		_, err = a.GetRequisite(ctx, q.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, a.DeleteRequisite(ctx, q.ID), store.ErrNotFound)
		require.ErrorIs(t, a.UpdateRequisite(ctx, q), store.ErrNotFound)
		list, err = a.ListRequisites(ctx, store.DefaultCompanyID)
		require.NoError(t, err)
		require.Empty(t, list)

		bad := store.Requisite{CompanyID: other + 100, Title: "x"}
		require.ErrorIs(t, a.CreateRequisite(ctx, &bad), store.ErrNotFound, "unknown company")
	},

	"GroupNamesUniquePerCompany": func(t *testing.T, s store.Store, a store.Access) {
		other := newCompany(t, a, "other")
		g := store.Group{CompanyID: store.DefaultCompanyID, Name: "Север", CreatedAt: T0}
		require.NoError(t, a.CreateGroup(ctx, &g))
		dup := store.Group{CompanyID: store.DefaultCompanyID, Name: "север"}
		require.ErrorIs(t, a.CreateGroup(ctx, &dup), store.ErrConflict, "case-insensitive")
		same := store.Group{CompanyID: other, Name: "Север"}
		require.NoError(t, a.CreateGroup(ctx, &same), "another company may use the name")

		g2 := store.Group{CompanyID: store.DefaultCompanyID, Name: "Юг", CreatedAt: T0}
		require.NoError(t, a.CreateGroup(ctx, &g2))
		require.ErrorIs(t, a.RenameGroup(ctx, g2.ID, "СЕВЕР"), store.ErrConflict)
		require.NoError(t, a.RenameGroup(ctx, g2.ID, "Восток"))
		g2.Name = "Восток"

		list, err := a.ListGroups(ctx, store.DefaultCompanyID)
		require.NoError(t, err)
		require.Equal(t, []store.Group{g, g2}, list)
		got, err := a.GetGroup(ctx, g.ID)
		require.NoError(t, err)
		require.Equal(t, g, got)
		require.ErrorIs(t, a.RenameGroup(ctx, g.ID+100, "x"), store.ErrNotFound)
	},

	"MembershipAndVisibility": func(t *testing.T, s store.Store, a store.Access) {
		vm1 := newMachineIn(t, s, store.DefaultCompanyID)
		vm2 := newMachineIn(t, s, store.DefaultCompanyID)
		vm3 := newMachineIn(t, s, store.DefaultCompanyID)
		op := newUserIn(t, s, store.DefaultCompanyID, "op@example.com", "operator")
		op2 := newUserIn(t, s, store.DefaultCompanyID, "op2@example.com", "operator")
		gA := store.Group{CompanyID: store.DefaultCompanyID, Name: "A"}
		gB := store.Group{CompanyID: store.DefaultCompanyID, Name: "B"}
		require.NoError(t, a.CreateGroup(ctx, &gA))
		require.NoError(t, a.CreateGroup(ctx, &gB))

		// A user without groups sees nothing.
		ids, err := a.UserMachines(ctx, op.ID)
		require.NoError(t, err)
		require.Empty(t, ids)

		require.NoError(t, a.SetGroupMachines(ctx, gA.ID, []int64{vm2.ID, vm1.ID, vm1.ID}))
		require.NoError(t, a.SetGroupMachines(ctx, gB.ID, []int64{vm2.ID, vm3.ID}))
		require.NoError(t, a.SetGroupUsers(ctx, gA.ID, []int64{op.ID}))
		require.NoError(t, a.SetGroupUsers(ctx, gB.ID, []int64{op2.ID}))

		ids, err = a.GroupMachines(ctx, gA.ID)
		require.NoError(t, err)
		require.Equal(t, []int64{vm1.ID, vm2.ID}, ids, "sorted, repeats dropped")
		ids, err = a.MachineGroups(ctx, vm2.ID)
		require.NoError(t, err)
		require.Equal(t, []int64{gA.ID, gB.ID}, ids)
		ids, err = a.UserGroups(ctx, op.ID)
		require.NoError(t, err)
		require.Equal(t, []int64{gA.ID}, ids)
		ids, err = a.GroupUsers(ctx, gB.ID)
		require.NoError(t, err)
		require.Equal(t, []int64{op2.ID}, ids)

		ids, err = a.UserMachines(ctx, op.ID)
		require.NoError(t, err)
		require.Equal(t, []int64{vm1.ID, vm2.ID}, ids)
		for _, c := range []struct {
			user, vm int64
			want     bool
		}{{op.ID, vm1.ID, true}, {op.ID, vm2.ID, true}, {op.ID, vm3.ID, false}, {op2.ID, vm1.ID, false}, {op2.ID, vm3.ID, true}} {
			ok, err := a.UserSeesMachine(ctx, c.user, c.vm)
			require.NoError(t, err)
			require.Equalf(t, c.want, ok, "user %d vm %d", c.user, c.vm)
		}

		// Replacing the set removes old members.
		require.NoError(t, a.SetGroupMachines(ctx, gA.ID, []int64{vm3.ID}))
		ids, err = a.UserMachines(ctx, op.ID)
		require.NoError(t, err)
		require.Equal(t, []int64{vm3.ID}, ids)
		require.NoError(t, a.SetGroupMachines(ctx, gA.ID, nil))
		ids, err = a.GroupMachines(ctx, gA.ID)
		require.NoError(t, err)
		require.Empty(t, ids)

		// Deleting a group drops its memberships.
		require.NoError(t, a.DeleteGroup(ctx, gB.ID))
		ok, err := a.UserSeesMachine(ctx, op2.ID, vm3.ID)
		require.NoError(t, err)
		require.False(t, ok)
		ids, err = a.MachineGroups(ctx, vm2.ID)
		require.NoError(t, err)
		require.Empty(t, ids)
		_, err = a.GetGroup(ctx, gB.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, a.DeleteGroup(ctx, gB.ID), store.ErrNotFound)
		require.ErrorIs(t, a.SetGroupMachines(ctx, gB.ID, []int64{vm1.ID}), store.ErrNotFound)
	},

	"MembershipNeverCrossesCompanies": func(t *testing.T, s store.Store, a store.Access) {
		other := newCompany(t, a, "other")
		mine := newMachineIn(t, s, store.DefaultCompanyID)
		theirs := newMachineIn(t, s, other)
		op := newUserIn(t, s, store.DefaultCompanyID, "op@example.com", "operator")
		stranger := newUserIn(t, s, other, "x@example.com", "operator")
		g := store.Group{CompanyID: store.DefaultCompanyID, Name: "G"}
		require.NoError(t, a.CreateGroup(ctx, &g))
		require.NoError(t, a.SetGroupMachines(ctx, g.ID, []int64{mine.ID}))
		require.NoError(t, a.SetGroupUsers(ctx, g.ID, []int64{op.ID}))

		for name, err := range map[string]error{
			"foreign machine": a.SetGroupMachines(ctx, g.ID, []int64{mine.ID, theirs.ID}),
			"missing machine": a.SetGroupMachines(ctx, g.ID, []int64{theirs.ID + 100}),
			"foreign user":    a.SetGroupUsers(ctx, g.ID, []int64{stranger.ID}),
		} {
			require.Truef(t, errors.Is(err, store.ErrNotFound), "%s: %v", name, err)
		}
		// The refused calls changed nothing.
		ids, err := a.GroupMachines(ctx, g.ID)
		require.NoError(t, err)
		require.Equal(t, []int64{mine.ID}, ids)
		ids, err = a.GroupUsers(ctx, g.ID)
		require.NoError(t, err)
		require.Equal(t, []int64{op.ID}, ids)
		ok, err := a.UserSeesMachine(ctx, stranger.ID, mine.ID)
		require.NoError(t, err)
		require.False(t, ok)
	},
}
