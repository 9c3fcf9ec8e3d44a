package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// machineRoutes are the registered patterns under /v2/vending_machines/{id}:
// every route that reads or acts on one machine's data.
func machineRoutes(t *testing.T, e *env) []string {
	t.Helper()
	var out []string
	for _, p := range e.h.(*server).patterns {
		if _, path, _ := strings.Cut(p, " "); strings.HasPrefix(path, "/v2/vending_machines/{id}") {
			out = append(out, p)
		}
	}
	require.GreaterOrEqual(t, len(out), 20, "the machine routes are found")
	return out
}

// requireVMHidden checks that every machine route answers the machine's 404
// to tok for vm (before any validation of the body or the other parameters).
func requireVMHidden(t *testing.T, e *env, tok string, vm store.Machine) {
	t.Helper()
	for _, p := range machineRoutes(t, e) {
		method, path, _ := strings.Cut(p, " ")
		path = strings.ReplaceAll(path, "{id}", fmt.Sprint(vm.ID))
		path = strings.ReplaceAll(path, "{rid}", "1")
		var body any
		if method != http.MethodGet {
			body = `{"report":true,"number":1,"cup":0,"sugar":0,"amount":100,"data":[]}`
		}
		obj := requireError(t, e.do(method, path, tok, body), http.StatusNotFound, SubNotFound)
		require.Equal(t, msgVMNotFound, obj["message"], "%s", p)
	}
}

// visibleIDs lists the ids of GET /v2/vending_machines.
func visibleIDs(t *testing.T, e *env, tok string) []int64 {
	t.Helper()
	r := e.do("GET", "/v2/vending_machines", tok, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	ids := []int64{}
	for _, it := range r.arr(t) {
		ids = append(ids, num(it.(map[string]any)["id"]))
	}
	return ids
}

func modemIDs(t *testing.T, e *env, tok string) []int64 {
	t.Helper()
	r := e.do("GET", "/v2/modems", tok, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	ids := []int64{}
	for _, it := range r.arr(t) {
		ids = append(ids, num(it.(map[string]any)["id"]))
	}
	return ids
}

func TestOperatorVisibility(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m1 := e.modem("860000000000001", 1)
	m2 := e.modem("860000000000002", 1)
	spare := e.modem("860000000000003", 1) // bound to no machine
	e.online(m1.ID, "mdb", nil)
	e.online(m2.ID, "mdb", nil)
	vm1 := e.machine("Север", 1, m1.ID, "")
	vm2 := e.machine("Юг", 1, m2.ID, "")
	vm3 := e.machine("Без модема", 1, 0, "")
	// A command about vm2, sent by an admin.
	r := e.do("POST", fmt.Sprintf("/v2/vending_machines/%d/reset", vm2.ID), e.adminTok, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	cmd2 := r.obj(t)["command_id"].(string)

	t.Run("operator without groups sees nothing", func(t *testing.T) {
		require.Empty(t, visibleIDs(t, e, e.operTok))
		for _, vm := range []store.Machine{vm1, vm2, vm3} {
			requireVMHidden(t, e, e.operTok, vm)
		}
		// Modems bound to invisible machines are hidden; the spare one is not.
		require.Equal(t, []int64{spare.ID}, modemIDs(t, e, e.operTok))
		for _, m := range []store.Modem{m1, m2} {
			for _, c := range []struct{ method, path, body string }{
				{"GET", "/v2/modems/%d", ""},
				{"PUT", "/v2/modems/%d", `{"phone":"+79990000000"}`},
				{"POST", "/v2/modems/%d/set", `{"cashless_mode":1}`},
				{"GET", "/v2/modems/%d/commands", ""},
			} {
				var body any
				if c.body != "" {
					body = c.body
				}
				obj := requireError(t, e.do(c.method, fmt.Sprintf(c.path, m.ID), e.operTok, body), http.StatusNotFound, SubNotFound)
				require.Equal(t, msgModemNotFound, obj["message"])
			}
		}
		require.Equal(t, http.StatusOK, e.do("GET", fmt.Sprintf("/v2/modems/%d", spare.ID), e.operTok, nil).Status)
		requireError(t, e.do("GET", "/v2/commands/"+cmd2, e.operTok, nil), http.StatusNotFound, SubNotFound)
		requireError(t, e.do("GET", fmt.Sprintf("/v2/stats/crt?vm_id=%d", vm1.ID), e.operTok, nil), http.StatusNotFound, SubNotFound)
		// Admins and senior operators see the whole company.
		for _, tok := range []string{e.adminTok, e.token(e.senior)} {
			require.ElementsMatch(t, []int64{vm1.ID, vm2.ID, vm3.ID}, visibleIDs(t, e, tok))
			require.ElementsMatch(t, []int64{m1.ID, m2.ID, spare.ID}, modemIDs(t, e, tok))
			require.Equal(t, http.StatusOK, e.do("GET", "/v2/commands/"+cmd2, tok, nil).Status)
		}
	})

	t.Run("operator with a group sees exactly its machines", func(t *testing.T) {
		accessGrant(t, e, e.oper, vm1, vm3)
		require.ElementsMatch(t, []int64{vm1.ID, vm3.ID}, visibleIDs(t, e, e.operTok))
		for _, vm := range []store.Machine{vm1, vm3} {
			r := e.do("GET", fmt.Sprintf("/v2/vending_machines/%d", vm.ID), e.operTok, nil)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
			require.Equal(t, http.StatusOK, e.do("GET", fmt.Sprintf("/v2/vending_machines/%d/timestamp", vm.ID), e.operTok, nil).Status)
			require.Equal(t, http.StatusOK, e.do("GET", fmt.Sprintf("/v2/vending_machines/%d/events", vm.ID), e.operTok, nil).Status)
		}
		requireVMHidden(t, e, e.operTok, vm2)
		require.ElementsMatch(t, []int64{m1.ID, spare.ID}, modemIDs(t, e, e.operTok))
		require.Equal(t, http.StatusOK, e.do("GET", fmt.Sprintf("/v2/modems/%d", m1.ID), e.operTok, nil).Status)
		requireError(t, e.do("GET", fmt.Sprintf("/v2/modems/%d", m2.ID), e.operTok, nil), http.StatusNotFound, SubNotFound)
		requireError(t, e.do("GET", "/v2/commands/"+cmd2, e.operTok, nil), http.StatusNotFound, SubNotFound)
		r := e.do("POST", fmt.Sprintf("/v2/vending_machines/%d/reset", vm1.ID), e.operTok, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		require.Equal(t, http.StatusOK, e.do("GET", "/v2/commands/"+r.obj(t)["command_id"].(string), e.operTok, nil).Status)
		// Another company's operator never sees them, whatever its groups.
		require.Empty(t, visibleIDs(t, e, e.otherTok))
		requireVMHidden(t, e, e.otherTok, vm1)
	})
}
