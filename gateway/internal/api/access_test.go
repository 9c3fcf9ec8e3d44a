package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// grantSeq makes accessGrant's group names unique (names are unique per company).
var grantSeq atomic.Int64

// accessGrant puts the user into a new group holding the machines (for tests
// in which an operator must see machines once canSeeMachine is wired).
func accessGrant(t testing.TB, e *env, u store.User, vms ...store.Machine) store.Group {
	t.Helper()
	ctx := context.Background()
	g := store.Group{CompanyID: u.CompanyID, Name: fmt.Sprintf("grant-%d-%d", u.ID, grantSeq.Add(1))}
	require.NoError(t, e.st.CreateGroup(ctx, &g))
	ids := make([]int64, 0, len(vms))
	for _, vm := range vms {
		ids = append(ids, vm.ID)
	}
	require.NoError(t, e.st.SetGroupMachines(ctx, g.ID, ids))
	require.NoError(t, e.st.SetGroupUsers(ctx, g.ID, []int64{u.ID}))
	return g
}

func TestRequisites(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mine := store.Requisite{CompanyID: store.DefaultCompanyID, Title: "ООО Ромашка", TitleShort: "Ромашка", AddrLegal: "Москва",
		AddrFact: "Тверь", INN: "7701234567", KPP: "770101001", Provider: store.ProviderOrangeData}
	require.NoError(t, e.st.CreateRequisite(ctx, &mine))
	bare := store.Requisite{CompanyID: store.DefaultCompanyID, Title: "ИП Петров"}
	require.NoError(t, e.st.CreateRequisite(ctx, &bare))
	theirs := store.Requisite{CompanyID: otherCompany, Title: "чужие"}
	require.NoError(t, e.st.CreateRequisite(ctx, &theirs))

	// Every role reads them; the shape is the spec's.
	for _, tok := range []string{e.adminTok, e.operTok} {
		list := e.do("GET", "/v2/requisites", tok, nil).arr(t)
		require.Len(t, list, 2, "another company's requisite is not listed")
		first := list[0].(map[string]any)
		requireShape(t, first, map[string]string{"id": "number", "title": "string", "title_short": "string", "addr_legal": "string",
			"addr_fact": "string", "inn": "string", "kpp": "string", "provider": "string|null"})
		require.Equal(t, "od", first["provider"])
		require.Nil(t, list[1].(map[string]any)["provider"], "no provider is null")
	}
	empty := e.do("GET", "/v2/requisites", e.otherTok, nil)
	require.Equal(t, 200, empty.Status)
	require.Len(t, empty.arr(t), 1)

	// Management is for admins.
	requireError(t, e.do("POST", "/v2/requisites", e.operTok, `{"title":"x"}`), http.StatusForbidden, SubForbidden)
	r := e.do("POST", "/v2/requisites", e.adminTok, `{"title":"ООО Новая","inn":"770123456789","provider":"ipro"}`)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
	id := num(r.obj(t)["resource"].(map[string]any)["id"])
	got, err := e.st.GetRequisite(ctx, id)
	require.NoError(t, err)
	require.Equal(t, store.DefaultCompanyID, got.CompanyID)
	require.Equal(t, "ipro", got.Provider)

	for name, c := range map[string]struct {
		body   string
		fields []string
	}{
		"title required":  {`{"inn":"7701234567"}`, []string{"title"}},
		"bad inn and kpp": {`{"title":"x","inn":"12","kpp":"abc"}`, []string{"inn", "kpp"}},
		"bad provider":    {`{"title":"x","provider":"acme"}`, []string{"provider"}},
		"wrong type":      {`{"title":5}`, []string{"title"}},
	} {
		t.Run(name, func(t *testing.T) {
			obj := requireError(t, e.do("POST", "/v2/requisites", e.adminTok, c.body), 422, SubInvalid)
			require.ElementsMatch(t, c.fields, fieldErrors(t, obj))
		})
	}

	path := fmt.Sprintf("/v2/requisites/%d", mine.ID)
	require.Equal(t, 200, e.do("PUT", path, e.adminTok, `{"provider":null,"title_short":"Р"}`).Status)
	got, err = e.st.GetRequisite(ctx, mine.ID)
	require.NoError(t, err)
	require.Equal(t, "", got.Provider)
	require.Equal(t, "Р", got.TitleShort)
	require.Equal(t, "ООО Ромашка", got.Title, "absent fields keep their value")
	requireError(t, e.do("PUT", path, e.otherTok, `{"title":"x"}`), http.StatusNotFound, SubNotFound)
	requireError(t, e.do("DELETE", path, e.otherTok, nil), http.StatusNotFound, SubNotFound)
	requireError(t, e.do("DELETE", path, e.operTok, nil), http.StatusForbidden, SubForbidden)
	require.Equal(t, 200, e.do("DELETE", path, e.adminTok, nil).Status)
	requireError(t, e.do("DELETE", path, e.adminTok, nil), http.StatusNotFound, SubNotFound)
	requireError(t, e.do("GET", "/v2/requisites", "", nil), http.StatusUnauthorized, SubUnauthorized)
}

func TestGroupsManagement(t *testing.T) {
	e := newEnv(t)
	vm1 := e.machine("one", store.DefaultCompanyID, 0, "")
	vm2 := e.machine("two", store.DefaultCompanyID, 0, "")
	foreign := e.machine("theirs", otherCompany, 0, "")

	for _, tok := range []string{e.operTok, e.token(e.senior)} {
		requireError(t, e.do("GET", "/v2/groups", tok, nil), http.StatusForbidden, SubForbidden)
		requireError(t, e.do("POST", "/v2/groups", tok, `{"name":"x"}`), http.StatusForbidden, SubForbidden)
	}

	r := e.do("POST", "/v2/groups", e.adminTok, fmt.Sprintf(`{"name":"Север","vm_ids":[%d,%d],"user_ids":[%d]}`, vm1.ID, vm2.ID, e.oper.ID))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
	gid := num(r.obj(t)["resource"].(map[string]any)["id"])
	path := fmt.Sprintf("/v2/groups/%d", gid)

	g := e.do("GET", path, e.adminTok, nil).obj(t)
	requireShape(t, g, map[string]string{"id": "number", "name": "string", "vm_ids": "array", "user_ids": "array"})
	require.Equal(t, []any{jsonNum(vm1.ID), jsonNum(vm2.ID)}, g["vm_ids"])
	require.Equal(t, []any{jsonNum(e.oper.ID)}, g["user_ids"])
	require.Len(t, e.do("GET", "/v2/groups", e.adminTok, nil).arr(t), 1)
	require.Empty(t, e.do("GET", "/v2/groups", e.otherTok, nil).arr(t), "another company's groups are not listed")

	for name, c := range map[string]struct {
		method, path, body string
		fields             []string
	}{
		"name required":       {"POST", "/v2/groups", `{"vm_ids":[]}`, []string{"name"}},
		"name taken":          {"POST", "/v2/groups", `{"name":"СЕВЕР"}`, []string{"name"}},
		"foreign machine":     {"POST", "/v2/groups", fmt.Sprintf(`{"name":"x","vm_ids":[%d]}`, foreign.ID), []string{"vm_ids.0"}},
		"foreign user":        {"PUT", path, fmt.Sprintf(`{"user_ids":[%d,%d]}`, e.oper.ID, e.other.ID), []string{"user_ids.1"}},
		"not an array":        {"PUT", path, `{"vm_ids":"abc"}`, []string{"vm_ids"}},
		"not ids":             {"PUT", path, `{"vm_ids":[1,-2,"x",{}]}`, []string{"vm_ids.1", "vm_ids.2", "vm_ids.3"}},
		"rename to a blank":   {"PUT", path, `{"name":"  "}`, []string{"name"}},
		"missing machine ids": {"PUT", path, `{"vm_ids":[99999]}`, []string{"vm_ids.0"}},
	} {
		t.Run(name, func(t *testing.T) {
			obj := requireError(t, e.do(c.method, c.path, e.adminTok, c.body), 422, SubInvalid)
			require.ElementsMatch(t, c.fields, fieldErrors(t, obj))
		})
	}
	// A failed create leaves no group behind, and failed updates change nothing.
	require.Len(t, e.do("GET", "/v2/groups", e.adminTok, nil).arr(t), 1)
	require.Equal(t, g, e.do("GET", path, e.adminTok, nil).obj(t))

	// Query-string lists work too (the spec lets POST/PUT use the query).
	require.Equal(t, 200, e.do("PUT", path+fmt.Sprintf("?vm_ids=%d&name=Юг", vm2.ID), e.adminTok, nil).Status)
	g = e.do("GET", path, e.adminTok, nil).obj(t)
	require.Equal(t, "Юг", g["name"])
	require.Equal(t, []any{jsonNum(vm2.ID)}, g["vm_ids"])

	requireError(t, e.do("GET", path, e.otherTok, nil), http.StatusNotFound, SubNotFound)
	requireError(t, e.do("PUT", path, e.otherTok, `{"name":"x"}`), http.StatusNotFound, SubNotFound)
	requireError(t, e.do("GET", "/v2/groups/abc", e.adminTok, nil), http.StatusNotFound, SubNotFound)
	require.Equal(t, 200, e.do("DELETE", path, e.adminTok, nil).Status)
	requireError(t, e.do("GET", path, e.adminTok, nil), http.StatusNotFound, SubNotFound)
	ok, err := e.st.UserSeesMachine(context.Background(), e.oper.ID, vm2.ID)
	require.NoError(t, err)
	require.False(t, ok, "deleting the group revokes the operator's view")
}

// jsonNum is n as the tests decode JSON numbers.
func jsonNum(n int64) any { return json.Number(strconv.FormatInt(n, 10)) }

func TestCanSeeMachine(t *testing.T) {
	e := newEnv(t)
	srv := e.h.(*server)
	ctx := context.Background()
	vm1 := e.machine("one", store.DefaultCompanyID, 0, "")
	vm2 := e.machine("two", store.DefaultCompanyID, 0, "")
	foreign := e.machine("theirs", otherCompany, 0, "")
	oper2 := e.user("oper2@example.com", RoleOperator, store.DefaultCompanyID)
	nobody := e.user("norole@example.com", "", store.DefaultCompanyID)
	accessGrant(t, e, e.oper, vm1)

	cases := []struct {
		name string
		u    store.User
		vm   store.Machine
		want bool
	}{
		{"admin sees company", e.admin, vm2, true},
		{"senior sees company", e.senior, vm2, true},
		{"admin not other company", e.admin, foreign, false},
		{"other admin own company", e.other, foreign, true},
		{"operator sees group machine", e.oper, vm1, true},
		{"operator not outside groups", e.oper, vm2, false},
		{"operator without groups sees nothing", oper2, vm1, false},
		{"unknown role is an operator", nobody, vm1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, srv.canSeeMachine(ctx, c.u, c.vm))
			filter, err := srv.machineFilter(ctx, c.u)
			require.NoError(t, err)
			require.Equal(t, c.want, filter(c.vm), "list filter agrees")
		})
	}

	// An operator put into a group of another company's machine by a broken
	// store still does not see it: the company check comes first.
	fake := foreign
	fake.ID = vm1.ID
	require.False(t, srv.canSeeMachine(ctx, e.oper, fake))

	// Without group support the rule fails closed for operators.
	bare := &server{cfg: Config{Store: storeOnly{e.st}}, log: srv.log}
	require.False(t, bare.canSeeMachine(ctx, e.oper, vm1))
	require.True(t, bare.canSeeMachine(ctx, e.admin, vm1))
	f, err := bare.machineFilter(ctx, e.oper)
	require.NoError(t, err)
	require.False(t, f(vm1))
	_, err = bare.accessStore()
	require.Equal(t, http.StatusNotImplemented, toAPIError(err).Status)
}

// storeOnly hides every interface of the engine but store.Store.
type storeOnly struct{ store.Store }

func TestAccessRoutesWithoutAccessStore(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Store = storeOnly{c.Store} })
	requireError(t, e.do("GET", "/v2/requisites", e.adminTok, nil), http.StatusNotImplemented, subNoAccessStore)
	requireError(t, e.do("GET", "/v2/groups", e.adminTok, nil), http.StatusNotImplemented, subNoAccessStore)
}
