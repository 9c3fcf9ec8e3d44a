package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/protocol"
)

func TestVMReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.modem("860000000000001", 1)
	vm := e.machine("VM", 1, m.ID, "")
	bare := e.machine("No modem", 1, 0, "")
	accessGrant(t, e, e.oper, vm, bare)

	r := e.do("POST", fmt.Sprintf("/v2/vending_machines/%d/reset", vm.ID), e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	obj := r.obj(t)
	requireShape(t, obj, map[string]string{"status": "string", "command_id": "string"})
	require.Equal(t, "ok", obj["status"])
	subs := e.cmd.submissions()
	require.Len(t, subs, 1)
	require.Equal(t, CommandRequest{ID: "", ModemID: m.ID, VMID: vm.ID, UserID: e.oper.ID, Name: protocol.CmdReset,
		Args: protocol.ResetArgs{}, TTL: DefaultCommandTTL}, subs[0])

	obj = requireError(t, e.do("POST", fmt.Sprintf("/v2/vending_machines/%d/reset", bare.ID), e.operTok, nil), 422, SubInvalid)
	require.Equal(t, []string{"modem_id"}, fieldErrors(t, obj))
	requireError(t, e.do("POST", "/v2/vending_machines/999/reset", e.operTok, nil), 404, SubNotFound)

	// The same Idempotency-Key twice gives the same command.
	r1 := e.do("POST", fmt.Sprintf("/v2/vending_machines/%d/reset", vm.ID), e.operTok, nil, IdempotencyHeader, "reset-1")
	r2 := e.do("POST", fmt.Sprintf("/v2/vending_machines/%d/reset", vm.ID), e.operTok, nil, IdempotencyHeader, "reset-1")
	require.Equal(t, "reset-1", r1.obj(t)["command_id"])
	require.Equal(t, "reset-1", r2.obj(t)["command_id"])
}

func TestVMRequestMerge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	m := e.modem("860000000000001", 1)
	vm := e.machine("VM", 1, m.ID, "")
	path := fmt.Sprintf("/v2/vending_machines/%d/request", vm.ID)
	accessGrant(t, e, e.oper, vm)
	shape := map[string]string{"request_id": "number", "progress": "bool", "command_id": "string"}

	r := e.do("POST", path, e.operTok, `{"report":true}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	first := r.obj(t)
	requireShape(t, first, shape)
	require.Equal(t, false, first["progress"])
	rid := num(first["request_id"])
	require.Equal(t, protocol.RequestArgs{Report: true}, e.cmd.submissions()[0].Args)
	require.Equal(t, protocol.CmdRequest, e.cmd.submissions()[0].Name)

	// Asking again: same request, in progress, nothing sent.
	r = e.do("POST", path, e.operTok, `{"report":true}`)
	again := r.obj(t)
	requireShape(t, again, map[string]string{"request_id": "number", "progress": "bool"})
	require.Equal(t, rid, num(again["request_id"]))
	require.Equal(t, true, again["progress"])
	require.Len(t, e.cmd.submissions(), 1)

	// Config joins the same request; only config is sent.
	r = e.do("POST", path, e.operTok, `{"config":"any value","report":1}`)
	cfg := r.obj(t)
	require.Equal(t, rid, num(cfg["request_id"]))
	require.Equal(t, false, cfg["progress"])
	require.Len(t, e.cmd.submissions(), 2)
	require.Equal(t, protocol.RequestArgs{Config: true}, e.cmd.submissions()[1].Args)

	get := fmt.Sprintf("%s/%d", path, rid)
	r = e.do("GET", get, e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	requireShape(t, r.obj(t), map[string]string{"progress": "bool"})
	require.Equal(t, true, r.obj(t)["progress"])

	// The audit arrives: the report flag is done, config still open.
	require.NoError(t, e.st.SatisfyRequest(ctx, vm.ID, true, false, t0))
	require.Equal(t, http.StatusOK, e.do("GET", get, e.operTok, nil).Status)
	require.NoError(t, e.st.SatisfyRequest(ctx, vm.ID, false, true, t0))
	obj := requireError(t, e.do("GET", get, e.operTok, nil), http.StatusNotFound, SubNotFound)
	require.Equal(t, "Not found", obj["message"])

	// A new request gets a new id.
	r = e.do("POST", path, e.operTok, `{"report":true}`)
	require.NotEqual(t, rid, num(r.obj(t)["request_id"]))
	require.Equal(t, false, r.obj(t)["progress"])

	requireError(t, e.do("GET", path+"/999999", e.operTok, nil), http.StatusNotFound, SubNotFound)
	requireError(t, e.do("GET", path+"/abc", e.operTok, nil), http.StatusNotFound, SubNotFound)

	t.Run("errors", func(t *testing.T) {
		bare := e.machine("No modem", 1, 0, "")
		accessGrant(t, e, e.oper, bare)
		for _, c := range []struct {
			name, path, body string
			fields           []string
		}{
			{"neither flag", path, `{}`, []string{"report", "config"}},
			{"flags false", path, `{"report":false,"config":0}`, []string{"report", "config"}},
			{"no modem", fmt.Sprintf("/v2/vending_machines/%d/request", bare.ID), `{"report":true}`, []string{"modem_id"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				obj := requireError(t, e.do("POST", c.path, e.operTok, c.body), 422, SubInvalid)
				require.ElementsMatch(t, c.fields, fieldErrors(t, obj))
			})
		}
	})
}

func TestVMDispense(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mOK := e.modem("860000000000001", 1)
	mOff := e.modem("860000000000002", 1)
	mNone := e.modem("860000000000003", 1)
	mCaps := e.modem("860000000000004", 1)
	e.online(mOK.ID, "mdb", nil)
	e.online(mOff.ID, "exe", nil)
	e.online(mNone.ID, "none", nil)
	e.online(mCaps.ID, "mdb", []string{"reset", "request"})
	vmOK := e.machine("OK", 1, mOK.ID, "")
	vmOff := e.machine("Offline", 1, mOff.ID, "Europe/Moscow")
	vmNone := e.machine("No bus", 1, mNone.ID, "")
	vmCaps := e.machine("No caps", 1, mCaps.ID, "")
	vmBare := e.machine("No modem", 1, 0, "")
	accessGrant(t, e, e.oper, vmOK, vmOff, vmNone, vmCaps, vmBare)
	path := func(id int64) string { return fmt.Sprintf("/v2/vending_machines/%d/dispense", id) }

	// mOff's connection drops (same epoch: the Last Will).
	e.offline(mOff.ID)
	e.clk.Add(time.Second)

	r := e.do("POST", path(vmOK.ID), e.operTok, `{"number":12,"cup":1,"sugar":3,"discount":500}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	requireShape(t, r.obj(t), map[string]string{"status": "string", "command_id": "string"})
	require.Equal(t, "ok", r.obj(t)["status"])
	subs := e.cmd.submissions()
	require.Len(t, subs, 1)
	require.Equal(t, protocol.CmdDispense, subs[0].Name)
	require.Equal(t, protocol.DispenseArgs{Number: 12, Cup: true, Sugar: 3, Discount: 500}, subs[0].Args)

	t.Run("cannot dispense", func(t *testing.T) {
		for _, c := range []struct {
			name      string
			vm, modem int64
			modemTime any
		}{
			{"offline", vmOff.ID, mOff.ID, "2024-05-10 15:00:00"}, // last seen, Moscow time
			{"bus none", vmNone.ID, mNone.ID, "2024-05-10 12:00:00"},
			{"caps without dispense", vmCaps.ID, mCaps.ID, "2024-05-10 12:00:00"},
			{"no modem", vmBare.ID, 0, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.do("POST", path(c.vm), e.operTok, `{"number":1,"cup":0,"sugar":0}`)
				obj := requireError(t, r, http.StatusUnprocessableEntity, SubInvalid)
				require.Equal(t, "error", obj["status"])
				data := obj["data"].(map[string]any)
				requireShape(t, data, map[string]string{"vm_id": "number", "modem_id": "number|null", "modem_time": "string|null"})
				require.Equal(t, c.vm, num(data["vm_id"]))
				if c.modem == 0 {
					require.Nil(t, data["modem_id"])
				} else {
					require.Equal(t, c.modem, num(data["modem_id"]))
				}
				require.Equal(t, c.modemTime, data["modem_time"])
			})
		}
		require.Len(t, e.cmd.submissions(), 1, "nothing submitted")
	})
	for _, c := range []struct {
		name, body string
		fields     []string
	}{
		{"empty", `{}`, []string{"number", "cup", "sugar"}},
		{"sugar 5", `{"number":1,"cup":1,"sugar":5}`, []string{"sugar"}},
		{"negative number", `{"number":-1,"cup":1,"sugar":0}`, []string{"number"}},
		{"cup 2", `{"number":1,"cup":2,"sugar":0}`, []string{"cup"}},
		{"discount negative", `{"number":1,"cup":1,"sugar":0,"discount":-5}`, []string{"discount"}},
		{"number string", `{"number":"x","cup":1,"sugar":0}`, []string{"number"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			obj := requireError(t, e.do("POST", path(vmOK.ID), e.operTok, c.body), 422, SubInvalid)
			require.ElementsMatch(t, c.fields, fieldErrors(t, obj))
		})
	}
}

func TestVMVendistaCredit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.modem("860000000000001", 1)
	vm := e.machine("VM", 1, m.ID, "")
	bare := e.machine("No modem", 1, 0, "")
	accessGrant(t, e, e.oper, vm, bare)
	path := fmt.Sprintf("/v2/vending_machines/%d/vendista-credit", vm.ID)

	r := e.do("POST", path, e.operTok, `{"amount":15000}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	requireShape(t, r.obj(t), map[string]string{"status": "string", "command_id": "string"})
	subs := e.cmd.submissions()
	require.Len(t, subs, 1)
	require.Equal(t, protocol.CmdCashlessCredit, subs[0].Name)
	require.Equal(t, protocol.CashlessCreditArgs{Amount: 15000, AutoApprove: true}, subs[0].Args)

	for _, c := range []struct{ name, path, body string }{
		{"missing", path, `{}`},
		{"zero", path, `{"amount":0}`},
		{"negative", path, `{"amount":-100}`},
		{"fraction", path, `{"amount":1.5}`},
		{"string", path, `{"amount":"lots"}`},
		{"no modem", fmt.Sprintf("/v2/vending_machines/%d/vendista-credit", bare.ID), `{"amount":100}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			obj := requireError(t, e.do("POST", c.path, e.operTok, c.body), http.StatusUnprocessableEntity, SubInvalid)
			require.Equal(t, "error", obj["status"])
		})
	}
	obj := requireError(t, e.do("POST", path, e.operTok, `{}`), 422, SubInvalid)
	require.Equal(t, "The given data was invalid.", obj["message"])
	require.Len(t, e.cmd.submissions(), 1)
}
