package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/presence"
	"vendgate/gateway/internal/store"
)

var lastDatesShape = map[string]string{
	"last_sale": "string|null", "last_service": "string|null", "last_collection": "string|null",
	"last_loading": "string|null", "last_report": "string|null", "last_acquired_report": "string|null",
}

var vmListShape = map[string]string{
	"id": "number", "serial_number": "string|null", "name": "string", "planogram_id": "number|null",
	"state": "number", "service": "object|null", "location": "object|null", "type": "object|null",
	"imei": "number|string|null", "is_crt_active": "bool", "inventory_number": "string|null",
	"track_bus_vends": "bool", "mm_id": "number|null", "tz_id": "number|null", "tz": "string|null",
	"last_event_dates": "object",
}

func vmDetailShape() map[string]string {
	s := map[string]string{"modem": "object|null", "requisite_id": "number|null", "min_price": "number|null",
		"max_price": "number|null", "money": "object|null"}
	for k, v := range vmListShape {
		s[k] = v
	}
	return s
}

// sale records a vend at the machine's modem so that last_sale is set.
func (e *env) sale(modemID int64, at time.Time, msgID string) {
	e.t.Helper()
	require.NoError(e.t, e.st.ApplyUplinks(context.Background(), []store.Uplink{{
		Kind: store.UpVend, ModemID: modemID, Received: at,
		Vend: &store.Vend{MsgID: msgID, Selection: "12", Price: 5000, Payment: "cash", Type: "paid", OK: true, Time: at},
	}}))
}

func TestVMListAndDetail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m1 := e.modem("860000000000001", 1)
	m2 := e.modem("012345678901234", 1) // leading zero: must stay a string
	e.online(m1.ID, "mdb", nil)
	vm1 := e.machine("Кофейник", 1, m1.ID, "Europe/Moscow")
	vm2 := e.machine("Снеки", 1, m2.ID, "")
	vm3 := e.machine("Без модема", 1, 0, "")
	accessGrant(t, e, e.oper, vm1, vm2, vm3) // an operator sees the machines of their groups
	e.machine("Чужой", otherCompany, 0, "")
	e.sale(m1.ID, time.Date(2024, 5, 10, 9, 30, 0, 0, time.UTC), "v1")

	r := e.do("GET", "/v2/vending_machines", e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	list := r.arr(t)
	require.Len(t, list, 3, "the other company's machine is not listed")
	byID := map[int64]map[string]any{}
	for _, it := range list {
		obj := it.(map[string]any)
		requireShape(t, obj, vmListShape)
		requireShape(t, obj["last_event_dates"].(map[string]any), lastDatesShape)
		byID[num(obj["id"])] = obj
	}
	require.Equal(t, json.Number("860000000000001"), byID[vm1.ID]["imei"], "imei is a number as in the spec example")
	require.Equal(t, "012345678901234", byID[vm2.ID]["imei"])
	require.Nil(t, byID[vm3.ID]["imei"])
	require.Equal(t, int64(presence.StateWorking), num(byID[vm1.ID]["state"]))
	require.Equal(t, int64(presence.StateUnknown), num(byID[vm2.ID]["state"]))
	require.Equal(t, "Europe/Moscow", byID[vm1.ID]["tz"])
	require.Equal(t, "2024-05-10T09:30:00+00:00", byID[vm1.ID]["last_event_dates"].(map[string]any)["last_sale"])

	// local=1: the machine's own zone.
	r = e.do("GET", "/v2/vending_machines?local=1", e.operTok, nil)
	for _, it := range r.arr(t) {
		obj := it.(map[string]any)
		if num(obj["id"]) == vm1.ID {
			require.Equal(t, "2024-05-10T12:30:00+03:00", obj["last_event_dates"].(map[string]any)["last_sale"])
		}
	}

	r = e.do("GET", fmt.Sprintf("/v2/vending_machines/%d?local=1", vm1.ID), e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	obj := r.obj(t)
	requireShape(t, obj, vmDetailShape())
	modem := obj["modem"].(map[string]any)
	requireShape(t, modem, map[string]string{"id": "number", "imei": "string", "bus": "string|null", "sw_version": "string|null", "hw_version": "string|null"})
	require.Equal(t, "mdb", modem["bus"])
	require.Equal(t, "1.2.3", modem["sw_version"])
	require.Equal(t, "860000000000001", modem["imei"])
	require.Equal(t, "2024-05-10T12:30:00+03:00", obj["last_event_dates"].(map[string]any)["last_sale"])

	r = e.do("GET", fmt.Sprintf("/v2/vending_machines/%d", vm3.ID), e.operTok, nil)
	require.Nil(t, r.obj(t)["modem"])
	require.Nil(t, r.obj(t)["imei"])

	// Stale modem: no news for 2.5 heartbeats → no GSM.
	e.clk.Add(3 * time.Minute)
	r = e.do("GET", fmt.Sprintf("/v2/vending_machines/%d", vm1.ID), e.operTok, nil)
	require.Equal(t, int64(presence.StateNoGSM), num(r.obj(t)["state"]))

	requireError(t, e.do("GET", "/v2/vending_machines?local=maybe", e.operTok, nil), http.StatusBadRequest, SubMalformed)
}

func TestVMTimestamp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.modem("860000000000001", 1)
	vm := e.machine("VM", 1, m.ID, "Asia/Vladivostok")
	accessGrant(t, e, e.oper, vm)
	path := fmt.Sprintf("/v2/vending_machines/%d/timestamp", vm.ID)
	r := e.do("GET", path, e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	obj := r.obj(t)
	requireShape(t, obj, lastDatesShape)
	for k, v := range obj {
		require.Nilf(t, v, "%s unknown → null", k)
	}
	e.sale(m.ID, time.Date(2024, 5, 10, 20, 0, 0, 0, time.UTC), "v1")
	r = e.do("GET", path, e.operTok, nil)
	require.Equal(t, "2024-05-10T20:00:00+00:00", r.obj(t)["last_sale"])
	r = e.do("GET", path+"?local=1", e.operTok, nil)
	require.Equal(t, "2024-05-11T06:00:00+10:00", r.obj(t)["last_sale"])
	requireError(t, e.do("GET", path, e.otherTok, nil), http.StatusNotFound, SubNotFound)
}

func TestVMCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	m := e.modem("860000000000001", 1)
	mo := e.modem("860000000000009", otherCompany)

	body := `{"name":"Настольный кофейник","serial_number":"234441X8347CF","planogram_id":1,"location_id":42,
		"mm_id":1,"imei":"860000000000001","tz":"Europe/Moscow","is_crt_active":true,"track_bus_vends":1,
		"inventory_number":"B42","tz_id":109,"min_price":100,"max_price":50000,"unknown_field":[1,2]}`
	r := e.do("POST", "/v2/vending_machines", e.operTok, body)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
	obj := r.obj(t)
	requireShape(t, obj, map[string]string{"res": "bool", "resource": "object"})
	require.Equal(t, true, obj["res"])
	id := num(obj["resource"].(map[string]any)["id"])
	vm, err := e.st.GetMachine(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "Настольный кофейник", vm.Name)
	require.Equal(t, m.ID, *vm.ModemID)
	require.Equal(t, int64(42), *vm.LocationID)
	require.Equal(t, int64(1), *vm.ModelID)
	require.Equal(t, int64(109), *vm.TZID)
	require.Equal(t, int64(50000), *vm.MaxPrice)
	require.True(t, vm.IsCRTActive)
	require.True(t, vm.TrackBusVends)
	require.Equal(t, "Europe/Moscow", vm.TZ)
	require.Equal(t, int64(1), vm.CompanyID)

	t.Run("modem bound elsewhere", func(t *testing.T) {
		r := e.do("POST", "/v2/vending_machines", e.operTok, fmt.Sprintf(`{"name":"B","modem_id":%d}`, m.ID))
		obj := requireError(t, r, http.StatusUnprocessableEntity, SubInvalid)
		require.Equal(t, []string{"modem_id"}, fieldErrors(t, obj))
		r = e.do("POST", "/v2/vending_machines", e.operTok, `{"name":"B","imei":"860000000000001"}`)
		obj = requireError(t, r, http.StatusUnprocessableEntity, SubInvalid)
		require.Equal(t, []string{"imei"}, fieldErrors(t, obj))
	})
	t.Run("force in query moves the modem", func(t *testing.T) {
		r := e.do("POST", "/v2/vending_machines?force=1", e.operTok, fmt.Sprintf(`{"name":"B","modem_id":%d}`, m.ID))
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
		newID := num(r.obj(t)["resource"].(map[string]any)["id"])
		old, err := e.st.GetMachine(ctx, id)
		require.NoError(t, err)
		require.Nil(t, old.ModemID)
		bound, err := e.st.GetMachineByModem(ctx, m.ID)
		require.NoError(t, err)
		require.Equal(t, newID, bound.ID)
	})
	t.Run("parameters in the query string", func(t *testing.T) {
		q := url.Values{"name": {"Из query"}, "serial_number": {"S1"}, "mm_id": {"52"}}
		r := e.do("POST", "/v2/vending_machines?"+q.Encode(), e.operTok, nil)
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
		vm, err := e.st.GetMachine(ctx, num(r.obj(t)["resource"].(map[string]any)["id"]))
		require.NoError(t, err)
		require.Equal(t, "Из query", vm.Name)
		require.Equal(t, int64(52), *vm.ModelID)
	})
	for _, c := range []struct {
		name   string
		body   string
		fields []string
	}{
		{"name missing", `{"serial_number":"x"}`, []string{"name"}},
		{"name empty", `{"name":""}`, []string{"name"}},
		{"name too long", `{"name":"` + strings.Repeat("я", 256) + `"}`, []string{"name"}},
		{"name number", `{"name":5}`, []string{"name"}},
		{"mm_id string", `{"name":"a","mm_id":"abc"}`, []string{"mm_id"}},
		{"mm_id zero", `{"name":"a","mm_id":0}`, []string{"mm_id"}},
		{"planogram float", `{"name":"a","planogram_id":1.5}`, []string{"planogram_id"}},
		{"bool wrong", `{"name":"a","is_crt_active":"yes"}`, []string{"is_crt_active"}},
		{"tz unknown", `{"name":"a","tz":"Mars/Olympus"}`, []string{"tz"}},
		{"tz Local", `{"name":"a","tz":"Local"}`, []string{"tz"}},
		{"tz path", `{"name":"a","tz":"../../etc/passwd"}`, []string{"tz"}},
		{"min > max", `{"name":"a","min_price":10,"max_price":5}`, []string{"max_price"}},
		{"unknown modem", `{"name":"a","modem_id":999}`, []string{"modem_id"}},
		{"other company's modem", fmt.Sprintf(`{"name":"a","modem_id":%d}`, mo.ID), []string{"modem_id"}},
		{"unknown imei", `{"name":"a","imei":"111"}`, []string{"imei"}},
		{"several", `{"name":null,"serial_number":7,"tz_id":"x"}`, []string{"name", "serial_number", "tz_id"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			obj := requireError(t, e.do("POST", "/v2/vending_machines", e.operTok, c.body), http.StatusUnprocessableEntity, SubInvalid)
			require.Equal(t, "The given data was invalid.", obj["message"])
			require.ElementsMatch(t, c.fields, fieldErrors(t, obj))
		})
	}
	t.Run("laravel message", func(t *testing.T) {
		obj := requireError(t, e.do("POST", "/v2/vending_machines", e.operTok, `{"name":"`+strings.Repeat("x", 256)+`"}`), 422, SubInvalid)
		require.Equal(t, []any{"The name may not be greater than 255 characters."}, obj["errors"].(map[string]any)["name"])
	})
}

func TestVMUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	m := e.modem("860000000000001", 1)
	m2 := e.modem("860000000000002", 1)
	vm := e.machine("Старое", 1, m.ID, "Europe/Moscow")
	other := e.machine("Другой", 1, m2.ID, "")
	accessGrant(t, e, e.oper, vm, other)
	path := fmt.Sprintf("/v2/vending_machines/%d", vm.ID)
	pl := int64(5)
	vm.PlanogramID = &pl
	require.NoError(t, e.st.UpdateMachine(ctx, vm, false))

	r := e.do("PUT", path, e.operTok, `{"name":"Новое название ТА"}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	requireShape(t, r.obj(t), map[string]string{"res": "bool"})
	got, err := e.st.GetMachine(ctx, vm.ID)
	require.NoError(t, err)
	require.Equal(t, "Новое название ТА", got.Name)
	require.Equal(t, "Europe/Moscow", got.TZ, "fields not given keep their value")
	require.Equal(t, m.ID, *got.ModemID)
	require.Equal(t, int64(5), *got.PlanogramID)

	r = e.do("PUT", path, e.operTok, `{"planogram_id":null,"serial_number":"SN-2"}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	got, _ = e.st.GetMachine(ctx, vm.ID)
	require.Nil(t, got.PlanogramID, "null clears")
	require.Equal(t, "SN-2", got.SerialNumber)
	require.Equal(t, "Новое название ТА", got.Name)

	obj := requireError(t, e.do("PUT", path, e.operTok, fmt.Sprintf(`{"modem_id":%d}`, m2.ID)), 422, SubInvalid)
	require.Equal(t, []string{"modem_id"}, fieldErrors(t, obj))
	r = e.do("PUT", path+"?force=1", e.operTok, fmt.Sprintf(`{"modem_id":%d}`, m2.ID))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	got, _ = e.st.GetMachine(ctx, vm.ID)
	require.Equal(t, m2.ID, *got.ModemID)
	o, _ := e.st.GetMachine(ctx, other.ID)
	require.Nil(t, o.ModemID)
	// A bare "?force" counts as force=1.
	r = e.do("PUT", fmt.Sprintf("/v2/vending_machines/%d?force", other.ID), e.operTok, fmt.Sprintf(`{"modem_id":%d}`, m2.ID))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	o, _ = e.st.GetMachine(ctx, other.ID)
	require.Equal(t, m2.ID, *o.ModemID)
	// modem_id null unbinds.
	r = e.do("PUT", fmt.Sprintf("/v2/vending_machines/%d", other.ID), e.operTok, `{"modem_id":null}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	o, _ = e.st.GetMachine(ctx, other.ID)
	require.Nil(t, o.ModemID)

	obj = requireError(t, e.do("PUT", path, e.operTok, `{"name":""}`), 422, SubInvalid)
	require.Equal(t, []string{"name"}, fieldErrors(t, obj))
	requireError(t, e.do("PUT", path, e.otherTok, `{"name":"x"}`), http.StatusNotFound, SubNotFound)
	requireError(t, e.do("PUT", "/v2/vending_machines/999", e.operTok, `{"name":"x"}`), http.StatusNotFound, SubNotFound)
}

func TestCompanyScoping(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.modem("860000000000001", 1)
	vm := e.machine("VM", 1, m.ID, "")
	e.online(m.ID, "mdb", nil)
	base := fmt.Sprintf("/v2/vending_machines/%d", vm.ID)
	for _, c := range []struct{ method, path, body string }{
		{"GET", base, ""}, {"PUT", base, `{"name":"x"}`}, {"GET", base + "/events", ""},
		{"GET", base + "/timestamp", ""}, {"POST", base + "/reset", ""},
		{"POST", base + "/request", `{"report":true}`}, {"GET", base + "/request/1", ""},
		{"POST", base + "/dispense", `{"number":1,"cup":1,"sugar":0}`},
		{"POST", base + "/vendista-credit", `{"amount":100}`},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			var body any
			if c.body != "" {
				body = c.body
			}
			obj := requireError(t, e.do(c.method, c.path, e.otherTok, body), http.StatusNotFound, SubNotFound)
			require.Equal(t, "Vending machine not found", obj["message"])
		})
	}
	require.Empty(t, e.cmd.submissions(), "nothing reaches another company's modem")
	r := e.do("GET", "/v2/vending_machines", e.otherTok, nil)
	require.Empty(t, r.arr(t))
}

func TestEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.modem("860000000000001", 1)
	vm := e.machine("VM", 1, m.ID, "Europe/Moscow")
	accessGrant(t, e, e.oper, vm)
	ctx := context.Background()
	at := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return ts
	}
	var ups []store.Uplink
	for i, ev := range []struct {
		at, code, payload string
	}{
		{"2024-05-09T21:30:00Z", "TEVA", ""},            // 00:30 Moscow on the 10th
		{"2024-05-10T08:00:00Z", "EA1A", `{"count":2}`}, // today
		{"2024-05-10T11:59:00Z", "TEVA", `[1,2]`},
		{"2024-05-08T10:00:00Z", "OLD", ""},
	} {
		var payload json.RawMessage
		if ev.payload != "" {
			payload = json.RawMessage(ev.payload)
		}
		ups = append(ups, store.Uplink{Kind: store.UpEvent, ModemID: m.ID, Received: at(ev.at),
			Event: &store.Event{MsgID: fmt.Sprintf("e%d", i), Code: ev.code, Time: at(ev.at), Payload: payload}})
	}
	require.NoError(t, e.st.ApplyUplinks(ctx, ups))
	base := fmt.Sprintf("/v2/vending_machines/%d/events", vm.ID)

	codes := func(r resp) []string {
		t.Helper()
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		var out []string
		for _, it := range r.arr(t) {
			obj := it.(map[string]any)
			requireShape(t, obj, map[string]string{"date": "string", "code": "string", "payload": "object|array|null"})
			out = append(out, obj["code"].(string))
		}
		return out
	}
	t.Run("default: the current UTC day", func(t *testing.T) {
		require.Equal(t, []string{"EA1A", "TEVA"}, codes(e.do("GET", base, e.operTok, nil)))
	})
	t.Run("default local: the machine's day", func(t *testing.T) {
		r := e.do("GET", base+"?local=1", e.operTok, nil)
		require.Equal(t, []string{"TEVA", "EA1A", "TEVA"}, codes(r))
		first := r.arr(t)[0].(map[string]any)
		require.Equal(t, "2024-05-10T00:30:00+03:00", first["date"])
		require.Nil(t, first["payload"])
		require.Equal(t, map[string]any{"count": json.Number("2")}, r.arr(t)[1].(map[string]any)["payload"])
	})
	for _, c := range []struct {
		name, query string
		want        []string
	}{
		{"rfc3339 encoded", "since=" + url.QueryEscape("2024-05-08T00:00:00+03:00") + "&until=" + url.QueryEscape("2024-05-10T01:00:00+03:00"), []string{"OLD", "TEVA"}},
		{"rfc3339 before the first", "since=" + url.QueryEscape("2024-05-08T00:00:00+03:00") + "&until=" + url.QueryEscape("2024-05-10T00:00:00+03:00"), []string{"OLD"}},
		{"plus as space", "since=2024-05-08T00:00:00+03:00&until=2024-05-10T01:00:00+03:00", []string{"OLD", "TEVA"}},
		{"short offset, plus as space", "since=2024-05-08%2000:00:00+03&until=2024-05-10%2000:30:00+03", []string{"OLD", "TEVA"}},
		{"short offset encoded", "since=2024-05-08%2000:00:00%2B03&until=2024-05-10%2000:29:59%2B03", []string{"OLD"}},
		{"+0300", "since=" + url.QueryEscape("2024-05-10 11:00:00+0300") + "&until=" + url.QueryEscape("2024-05-10T14:59:00+0300"), []string{"EA1A", "TEVA"}},
		{"Z", "since=2024-05-10T08:00:00Z&until=2024-05-10T08:00:00Z", []string{"EA1A"}},
		{"inclusive both ends", "since=2024-05-10T08:00:00Z&until=2024-05-10T11:59:00Z", []string{"EA1A", "TEVA"}},
		{"since only: until now", "since=2024-05-10T07:00:00Z", []string{"EA1A", "TEVA"}},
		{"no offset is UTC", "since=2024-05-10T08:00:00&until=2024-05-10T09:00:00", []string{"EA1A"}},
		{"no offset local is Moscow", "since=2024-05-10T11:00:00&until=2024-05-10T11:30:00&local=1", []string{"EA1A"}},
		{"empty", "since=2024-05-01T00:00:00Z&until=2024-05-02T00:00:00Z", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, codes(e.do("GET", base+"?"+c.query, e.operTok, nil)))
		})
	}
	for _, c := range []struct {
		name, query, subcode string
	}{
		{"period over 7 days", "since=2024-05-01T00:00:00Z&until=2024-05-08T00:00:01Z", SubPeriodTooLong},
		{"depth over 14 days", "since=2024-04-25T00:00:00Z&until=2024-04-26T00:00:00Z", SubPeriodTooDeep},
		{"reversed", "since=2024-05-10T00:00:00Z&until=2024-05-09T00:00:00Z", SubPeriodReversed},
		{"garbage since", "since=yesterday", SubMalformed},
		{"garbage until", "since=2024-05-10T00:00:00Z&until=2024-13-01", SubMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			requireError(t, e.do("GET", base+"?"+c.query, e.operTok, nil), http.StatusBadRequest, c.subcode)
		})
	}
}
