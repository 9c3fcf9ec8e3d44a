package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/auth"
	"vendgate/protocol"
)

var modemShape = map[string]string{
	"id": "number", "imei": "string", "iccid": "string|null", "hw_version": "string|null",
	"boot_version": "string|null", "firmware": "string|null", "phone": "string|null",
}

func TestModemListAndGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m1 := e.modem("860000000000001", 1)
	m2 := e.modem("860000000000002", 1)
	e.online(m2.ID, "mdb", nil)
	mo := e.modem("860000000000009", otherCompany)

	r := e.do("GET", "/v2/modems", e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	list := r.arr(t)
	require.Len(t, list, 2)
	for _, it := range list {
		requireShape(t, it.(map[string]any), modemShape)
	}
	first := list[0].(map[string]any)
	require.Equal(t, m1.ID, num(first["id"]))
	require.Nil(t, first["iccid"], "empty strings are null as in the spec")
	require.Nil(t, first["firmware"])
	second := list[1].(map[string]any)
	require.Equal(t, "1.2.3", second["firmware"])
	require.Equal(t, "2.4", second["hw_version"])

	r = e.do("GET", fmt.Sprintf("/v2/modems/%d", m2.ID), e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	requireShape(t, r.obj(t), modemShape)
	require.Equal(t, "860000000000002", r.obj(t)["imei"])

	for name, path := range map[string]string{
		"other company": fmt.Sprintf("/v2/modems/%d", mo.ID),
		"unknown":       "/v2/modems/999",
		"not a number":  "/v2/modems/abc",
	} {
		t.Run(name, func(t *testing.T) {
			obj := requireError(t, e.do("GET", path, e.operTok, nil), http.StatusNotFound, SubNotFound)
			require.Equal(t, "Modem not found", obj["message"])
		})
	}
	// The other company sees only its own modem.
	r = e.do("GET", "/v2/modems", e.otherTok, nil)
	require.Len(t, r.arr(t), 1)
}

func TestModemUpdatePhone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.modem("860000000000001", 1)
	path := fmt.Sprintf("/v2/modems/%d", m.ID)
	r := e.do("PUT", path, e.operTok, map[string]string{"phone": "79999999997"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	requireShape(t, r.obj(t), map[string]string{"res": "bool"})
	got, err := e.st.GetModem(context.Background(), m.ID)
	require.NoError(t, err)
	require.Equal(t, "79999999997", got.Phone)

	for _, c := range []struct{ name, body string }{
		{"too long", `{"phone":"7999999999799999999979999"}`},
		{"letters", `{"phone":"call me"}`},
		{"wrong type", `{"phone":79999999997}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			obj := requireError(t, e.do("PUT", path, e.operTok, c.body), http.StatusUnprocessableEntity, SubInvalid)
			require.Equal(t, "The given data was invalid.", obj["message"])
			require.Equal(t, []string{"phone"}, fieldErrors(t, obj))
		})
	}
	got, _ = e.st.GetModem(context.Background(), m.ID)
	require.Equal(t, "79999999997", got.Phone, "invalid updates change nothing")
	requireError(t, e.do("PUT", path, e.otherTok, map[string]string{"phone": "1"}), http.StatusNotFound, SubNotFound)
}

func TestModemProvision(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	t.Run("generated password", func(t *testing.T) {
		r := e.do("POST", "/v2/modems", e.adminTok, map[string]string{"imei": "860000000000100", "phone": "+79990001122"})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
		obj := r.obj(t)
		requireShape(t, obj, map[string]string{"res": "bool", "resource": "object", "password": "string"})
		id := num(obj["resource"].(map[string]any)["id"])
		m, err := e.st.GetModem(ctx, id)
		require.NoError(t, err)
		require.Equal(t, "860000000000100", m.IMEI)
		require.Equal(t, int64(1), m.CompanyID)
		require.NoError(t, auth.Check(obj["password"].(string), m.PasswordHash), "only the hash is stored and it matches")
		require.NotContains(t, m.PasswordHash, obj["password"].(string))
	})
	t.Run("given password", func(t *testing.T) {
		r := e.do("POST", "/v2/modems", e.adminTok, map[string]string{"imei": "860000000000101", "password": "0123456789abcdef"})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
		requireShape(t, r.obj(t), map[string]string{"res": "bool", "resource": "object"})
		m, err := e.st.GetModemByIMEI(ctx, "860000000000101")
		require.NoError(t, err)
		require.NoError(t, auth.Check("0123456789abcdef", m.PasswordHash))
	})
	for _, c := range []struct {
		name   string
		body   string
		fields []string
	}{
		{"duplicate", `{"imei":"860000000000100"}`, []string{"imei"}},
		{"missing imei", `{"phone":"79990001122"}`, []string{"imei"}},
		{"bad imei", `{"imei":"86-00"}`, []string{"imei"}},
		{"short password", `{"imei":"860000000000102","password":"short"}`, []string{"password"}},
		{"imei number", `{"imei":860000000000102}`, []string{"imei"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			obj := requireError(t, e.do("POST", "/v2/modems", e.adminTok, c.body), http.StatusUnprocessableEntity, SubInvalid)
			require.ElementsMatch(t, c.fields, fieldErrors(t, obj))
		})
	}
	t.Run("operator forbidden", func(t *testing.T) {
		requireError(t, e.do("POST", "/v2/modems", e.operTok, `{"imei":"860000000000103"}`), http.StatusForbidden, SubForbidden)
		requireError(t, e.do("POST", "/v2/modems", e.token(e.senior), `{"imei":"860000000000103"}`), http.StatusForbidden, SubForbidden)
	})
}

func TestParseCredit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want protocol.CashlessCreditArgs
		ok   bool
	}{
		{"100.50,6,1", protocol.CashlessCreditArgs{Amount: 10050, Vends: 6, AutoApprove: true}, true},
		{"100", protocol.CashlessCreditArgs{Amount: 10000, Vends: 1}, true},
		{"0.5", protocol.CashlessCreditArgs{Amount: 50, Vends: 1}, true},
		{"12.05, 2", protocol.CashlessCreditArgs{Amount: 1205, Vends: 2}, true},
		{"10,,1", protocol.CashlessCreditArgs{Amount: 1000, Vends: 1, AutoApprove: true}, true},
		{"10,1,0", protocol.CashlessCreditArgs{Amount: 1000, Vends: 1}, true},
		{"", protocol.CashlessCreditArgs{}, false},
		{"0", protocol.CashlessCreditArgs{}, false},
		{"1.234", protocol.CashlessCreditArgs{}, false},
		{"-5", protocol.CashlessCreditArgs{}, false},
		{"1e3", protocol.CashlessCreditArgs{}, false},
		{"10.", protocol.CashlessCreditArgs{}, false},
		{".5", protocol.CashlessCreditArgs{}, false},
		{"10,0", protocol.CashlessCreditArgs{}, false},
		{"10,1,2", protocol.CashlessCreditArgs{}, false},
		{"10,1,1,1", protocol.CashlessCreditArgs{}, false},
		{"99999999999999999", protocol.CashlessCreditArgs{}, false},
		{"1000001", protocol.CashlessCreditArgs{}, false},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, ok := parseCredit(c.in)
			require.Equal(t, c.ok, ok)
			require.Equal(t, c.want, got)
		})
	}
}

func TestModemSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.modem("860000000000001", 1)
	vm := e.machine("VM", 1, m.ID, "")
	accessGrant(t, e, e.oper, vm)
	path := fmt.Sprintf("/v2/modems/%d/set", m.ID)

	r := e.do("POST", path, e.operTok, `{"cashless_mode":1,"cashless_address":2,"cashless_credit":"100.50,6,1","client_id":"ignored"}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	obj := r.obj(t)
	requireShape(t, obj, map[string]string{"res": "bool", "commands": "array"})
	require.Len(t, obj["commands"], 3)
	subs := e.cmd.submissions()
	require.Len(t, subs, 3)
	want := []struct {
		name protocol.CommandName
		args any
	}{
		{protocol.CmdCashlessMode, protocol.CashlessModeArgs{Enabled: true}},
		{protocol.CmdCashlessAddress, protocol.CashlessAddressArgs{Address: 2}},
		{protocol.CmdCashlessCredit, protocol.CashlessCreditArgs{Amount: 10050, Vends: 6, AutoApprove: true}},
	}
	for i, w := range want {
		require.Equal(t, w.name, subs[i].Name)
		require.Equal(t, w.args, subs[i].Args)
		require.Equal(t, m.ID, subs[i].ModemID)
		require.Equal(t, vm.ID, subs[i].VMID)
		require.Equal(t, e.oper.ID, subs[i].UserID)
		require.Equal(t, DefaultCommandTTL, subs[i].TTL)
		require.Equal(t, fmt.Sprintf("cmd-%d", i+1), obj["commands"].([]any)[i])
	}

	t.Run("query string and false", func(t *testing.T) {
		r := e.do("POST", path+"?cashless_mode=0", e.operTok, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		subs := e.cmd.submissions()
		require.Equal(t, protocol.CashlessModeArgs{Enabled: false}, subs[len(subs)-1].Args)
	})
	t.Run("idempotency key", func(t *testing.T) {
		before := len(e.cmd.submissions())
		r := e.do("POST", path, e.operTok, `{"cashless_address":1}`, IdempotencyHeader, "op-42")
		require.Equal(t, http.StatusOK, r.Status)
		require.Equal(t, []any{"op-42.cashless_address"}, r.obj(t)["commands"])
		require.Equal(t, "op-42.cashless_address", e.cmd.submissions()[before].ID)
		requireError(t, e.do("POST", path, e.operTok, `{"cashless_address":1}`, IdempotencyHeader, "bad key!"), 400, SubMalformed)
	})

	for _, c := range []struct {
		name   string
		body   string
		fields []string
	}{
		{"mode 2", `{"cashless_mode":2}`, []string{"cashless_mode"}},
		{"mode string", `{"cashless_mode":"on"}`, []string{"cashless_mode"}},
		{"address 3", `{"cashless_address":3}`, []string{"cashless_address"}},
		{"address float", `{"cashless_address":1.5}`, []string{"cashless_address"}},
		{"credit bad", `{"cashless_credit":"abc"}`, []string{"cashless_credit"}},
		{"credit object", `{"cashless_credit":{"a":1}}`, []string{"cashless_credit"}},
		{"one bad, one good: nothing sent", `{"cashless_mode":1,"cashless_credit":"0"}`, []string{"cashless_credit"}},
		{"empty", `{}`, []string{"cashless_mode", "cashless_address", "cashless_credit"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(e.cmd.submissions())
			obj := requireError(t, e.do("POST", path, e.operTok, c.body), http.StatusUnprocessableEntity, SubInvalid)
			require.ElementsMatch(t, c.fields, fieldErrors(t, obj))
			require.Len(t, e.cmd.submissions(), before, "nothing is submitted on invalid input")
		})
	}
	t.Run("other company", func(t *testing.T) {
		requireError(t, e.do("POST", path, e.otherTok, `{"cashless_mode":1}`), http.StatusNotFound, SubNotFound)
	})
}

func TestCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.modem("860000000000001", 1)
	vm := e.machine("VM", 1, m.ID, "")
	accessGrant(t, e, e.oper, vm)
	r := e.do("POST", fmt.Sprintf("/v2/vending_machines/%d/reset", vm.ID), e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	id := r.obj(t)["command_id"].(string)

	r = e.do("GET", "/v2/commands/"+id, e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	obj := r.obj(t)
	requireShape(t, obj, map[string]string{
		"id": "string", "modem_id": "number", "vm_id": "number|null", "name": "string", "args": "object|null",
		"state": "string", "status": "string|null", "code": "number", "message": "string|null",
		"result": "object|null", "attempts": "number", "created_at": "string", "sent_at": "string|null",
		"acked_at": "string|null", "done_at": "string|null", "expires_at": "string|null",
	})
	require.Equal(t, "reset", obj["name"])
	require.Equal(t, "queued", obj["state"])
	require.Equal(t, vm.ID, num(obj["vm_id"]))
	require.Equal(t, "2024-05-10T12:00:00+00:00", obj["created_at"])
	require.Equal(t, "2024-05-11T12:00:00+00:00", obj["expires_at"])

	requireError(t, e.do("GET", "/v2/commands/"+id, e.otherTok, nil), http.StatusNotFound, SubNotFound)
	requireError(t, e.do("GET", "/v2/commands/nope", e.operTok, nil), http.StatusNotFound, SubNotFound)

	for i := 0; i < 3; i++ {
		e.clk.Add(1e9)
		e.do("POST", fmt.Sprintf("/v2/vending_machines/%d/reset", vm.ID), e.operTok, nil)
	}
	r = e.do("GET", fmt.Sprintf("/v2/modems/%d/commands?limit=2", m.ID), e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	list := r.arr(t)
	require.Len(t, list, 2)
	require.Equal(t, "cmd-4", list[0].(map[string]any)["id"], "newest first")
	var args json.RawMessage
	require.NoError(t, json.Unmarshal(mustMarshal(t, list[0].(map[string]any)["args"]), &args))
	require.JSONEq(t, `{}`, string(args))
	requireError(t, e.do("GET", fmt.Sprintf("/v2/modems/%d/commands?limit=0", m.ID), e.operTok, nil), http.StatusBadRequest, SubMalformed)
	requireError(t, e.do("GET", fmt.Sprintf("/v2/modems/%d/commands", m.ID), e.otherTok, nil), http.StatusNotFound, SubNotFound)
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
