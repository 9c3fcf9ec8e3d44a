package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// catSale records a successful vend on selection sel.
func (e *env) catSale(modemID int64, at time.Time, msgID, sel string) {
	e.t.Helper()
	require.NoError(e.t, e.st.ApplyUplinks(context.Background(), []store.Uplink{{
		Kind: store.UpVend, ModemID: modemID, Received: at,
		Vend: &store.Vend{MsgID: msgID, Selection: sel, Price: 100, Payment: "cash", Type: "paid", OK: true, Time: at},
	}}))
}

// catAudit stores a valid audit with the given cash lines.
func (e *env) catAudit(modemID int64, at time.Time, msgID, lines string) {
	e.t.Helper()
	data := "DXS*XYZ1234567*VA*V0/6*1\r\nST*001*0001\r\nID1*123*T1\r\n" + lines + "SE*9*0001\r\nDXE*1*1\r\n"
	require.NoError(e.t, e.st.ApplyUplinks(context.Background(), []store.Uplink{{
		Kind: store.UpAudit, ModemID: modemID, Received: at,
		Audit: &store.Audit{MsgID: msgID, Port: 1, Time: at, Received: at, Data: []byte(data), Valid: true},
	}}))
}

func createdID(t testing.TB, r resp) int64 {
	t.Helper()
	require.Equalf(t, http.StatusCreated, r.Status, "%s", r.Raw)
	obj, ok := r.Body.(map[string]any)
	require.Truef(t, ok, "body is not an object: %s", r.Raw)
	require.Equal(t, true, obj["res"])
	id := num(obj["resource"].(map[string]any)["id"])
	require.Positive(t, id)
	return id
}

func TestCatalogReferenceLists(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("GET", "/v2/event_codes", e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	list := r.arr(t)
	require.Len(t, list, 2)
	requireShape(t, list[1].(map[string]any), map[string]string{"code": "string", "name": "string", "desc": "string"})
	require.Equal(t, "EA1A", list[1].(map[string]any)["code"])

	r = e.do("GET", "/v2/vm_models", e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.JSONEq(t, `[{"id":1,"name":"Bianchi BVM 676"},{"id":2,"name":"Necta Kikko Max"}]`, string(r.Raw))

	r = e.do("GET", "/v2/timezones", e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.JSONEq(t, `[{"tz_id":109,"tz":"America/Grenada","utc_offset":"-04:00"},
		{"tz_id":220,"tz":"Asia/Baku","utc_offset":"+04:00"}]`, string(r.Raw))

	requireError(t, e.do("GET", "/v2/vm_models", "", nil), http.StatusUnauthorized, SubUnauthorized)
}

func TestCatalogComponentsAndLocations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := createdID(t, e.do("POST", "/v2/components", e.adminTok, map[string]any{"name": "Стаканчик", "unit": 1}))
	obj := requireError(t, e.do("POST", "/v2/components", e.adminTok, map[string]any{"name": "Стаканчик", "unit": 1}),
		http.StatusUnprocessableEntity, SubInvalid)
	require.Equal(t, []any{msgNameTaken}, obj["errors"].(map[string]any)["name"])
	obj = requireError(t, e.do("POST", "/v2/components", e.adminTok, map[string]any{"unit": 7}), http.StatusUnprocessableEntity, SubInvalid)
	require.ElementsMatch(t, []string{"name", "unit"}, fieldErrors(t, obj))
	requireError(t, e.do("POST", "/v2/components", e.operTok, map[string]any{"name": "x", "unit": 1}), http.StatusForbidden, SubForbidden)

	r := e.do("GET", "/v2/components", e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	list := r.arr(t)
	require.Len(t, list, 1)
	requireShape(t, list[0].(map[string]any), map[string]string{"id": "number", "name": "string", "is_product": "bool", "units": "string"})
	require.Equal(t, "шт", list[0].(map[string]any)["units"])
	require.Equal(t, id, num(list[0].(map[string]any)["id"]))
	r = e.do("GET", "/v2/components", e.otherTok, nil)
	require.Empty(t, r.arr(t), "another company sees none")

	// Locations.
	lid := createdID(t, e.do("POST", "/v2/locations", e.adminTok, map[string]any{"name": "БЦ Конфетка", "address": "Большая Посадская, 1"}))
	obj = requireError(t, e.do("POST", "/v2/locations", e.adminTok, map[string]any{"name": "БЦ Конфетка", "address": "x"}),
		http.StatusUnprocessableEntity, SubInvalid)
	require.Equal(t, []string{"name"}, fieldErrors(t, obj))
	obj = requireError(t, e.do("POST", "/v2/locations", e.adminTok, map[string]any{"name": "Без адреса"}), http.StatusUnprocessableEntity, SubInvalid)
	require.Equal(t, []string{"address"}, fieldErrors(t, obj))
	r = e.do("PUT", fmt.Sprintf("/v2/locations/%d", lid), e.adminTok, map[string]any{"name": "БЦ Сапфир", "note": "на столе"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	require.JSONEq(t, `{"res":true}`, string(r.Raw))
	r = e.do("GET", "/v2/locations", e.operTok, nil)
	require.JSONEq(t, fmt.Sprintf(`[{"id":%d,"name":"БЦ Сапфир","address":"Большая Посадская, 1","note":"на столе"}]`, lid), string(r.Raw))
	requireError(t, e.do("PUT", fmt.Sprintf("/v2/locations/%d", lid), e.otherTok, map[string]any{"name": "x"}), http.StatusNotFound, SubNotFound)
	requireError(t, e.do("DELETE", fmt.Sprintf("/v2/locations/%d", lid), e.otherTok, nil), http.StatusNotFound, SubNotFound)

	vm := e.machine("vm", 1, 0, "")
	vm.LocationID = &lid
	require.NoError(t, e.st.UpdateMachine(context.Background(), vm, false))
	// The machine's location object (wired into the machine list by the lead).
	srv := e.h.(*server)
	require.Equal(t, vmLocationJSON{ID: lid, Name: "БЦ Сапфир", Address: nullStr("Большая Посадская, 1")}, srv.locationValue(context.Background(), vm))

	requireError(t, e.do("DELETE", fmt.Sprintf("/v2/locations/%d", lid), e.adminTok, nil), http.StatusConflict, SubInUse)
	r = e.do("DELETE", fmt.Sprintf("/v2/locations/%d?force=1", lid), e.adminTok, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	requireError(t, e.do("DELETE", fmt.Sprintf("/v2/locations/%d", lid), e.adminTok, nil), http.StatusNotFound, SubNotFound)
}

// catSetup creates a recipe (espresso on "1": coffee 7, water 30, cup 1), a bar on
// "A1" and "A2", and a planogram assigned to a new machine with a modem.
type catSetup struct {
	coffee, water, cup, bar, espresso, barProduct, plano int64
	vm                                                   store.Machine
	modem                                                store.Modem
}

func newCatSetup(t *testing.T, e *env) catSetup {
	t.Helper()
	return newCatSetupTB(t, e)
}

// newCatSetupTB is newCatSetup for fuzz targets too.
func newCatSetupTB(t testing.TB, e *env) catSetup {
	t.Helper()
	var s catSetup
	s.cup = createdID(t, e.do("POST", "/v2/components", e.adminTok, map[string]any{"name": "Стаканчик", "unit": 1}))
	s.espresso = createdID(t, e.do("POST", "/v2/products", e.adminTok, map[string]any{
		"name": "Эспрессо", "composite": true, "vat": "12.5",
		"components": []map[string]any{{"name": "Кофе", "unit": 3, "volume": 7}, {"name": "Вода", "unit": 2, "volume": 30}, {"id": s.cup, "volume": 1}},
	}))
	s.barProduct = createdID(t, e.do("POST", "/v2/products", e.adminTok, map[string]any{"name": "Батончик Bounty", "composite": false, "inventory_number": "B3-2018"}))
	r := e.do("GET", "/v2/components", e.adminTok, nil)
	comps, _ := r.Body.([]any)
	for _, it := range comps {
		c := it.(map[string]any)
		switch c["name"] {
		case "Кофе":
			s.coffee = num(c["id"])
		case "Вода":
			s.water = num(c["id"])
		case "Батончик Bounty":
			s.bar = num(c["id"])
			require.Equal(t, true, c["is_product"])
		}
	}
	require.NotZero(t, s.coffee*s.water*s.bar)
	s.modem = e.modem(fmt.Sprintf("8600000000%05d", s.cup), 1)
	s.vm = e.machine("Кофейник", 1, s.modem.ID, "Europe/Moscow")
	s.plano = createdID(t, e.do("POST", "/v2/planograms", e.adminTok, map[string]any{
		"name": "Комбо", "mode": "basic", "assign": s.vm.ID,
		"products": []map[string]any{
			{"id": s.espresso, "number": 1, "capacity": 1000, "critical": 100, "price": 50},
			{"id": s.barProduct, "number": "A1", "capacity": 10, "critical": 2},
			{"id": s.barProduct, "number": "A2", "capacity": 10, "critical": 2, "price": 25},
		},
	}))
	vm, err := e.st.GetMachine(context.Background(), s.vm.ID)
	require.NoError(t, err)
	require.Equal(t, s.plano, *vm.PlanogramID, "assign binds the planogram")
	s.vm = vm
	return s
}

func TestCatalogProductsAndPlanograms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := newCatSetup(t, e)

	r := e.do("GET", "/v2/products", e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	list := r.arr(t)
	require.Len(t, list, 2)
	shape := map[string]string{"id": "number", "composite": "bool", "name": "string", "components": "array",
		"inventory_number": "string|null", "vat": "number|null"}
	for _, it := range list {
		requireShape(t, it.(map[string]any), shape)
	}
	require.Equal(t, "12.5", fmt.Sprint(list[0].(map[string]any)["vat"]))
	require.Equal(t, fmt.Sprintf("[map[id:%d volume:1]]", s.bar), fmt.Sprint(list[1].(map[string]any)["components"]))

	// Validation.
	obj := requireError(t, e.do("POST", "/v2/products", e.adminTok, map[string]any{"name": "Эспрессо", "composite": false}),
		http.StatusUnprocessableEntity, SubInvalid)
	require.Equal(t, []any{msgNameTaken}, obj["errors"].(map[string]any)["name"])
	obj = requireError(t, e.do("POST", "/v2/products", e.adminTok, map[string]any{"name": "Чай", "composite": true,
		"components": []any{map[string]any{"id": 999999, "volume": 1}, map[string]any{"name": "Чай"}, 5}}), http.StatusUnprocessableEntity, SubInvalid)
	require.ElementsMatch(t, []string{"components.0.id", "components.1.volume", "components.1.unit", "components.2"}, fieldErrors(t, obj))
	obj = requireError(t, e.do("POST", "/v2/products", e.adminTok, map[string]any{"name": "Чай", "composite": true}),
		http.StatusUnprocessableEntity, SubInvalid)
	require.Equal(t, []string{"components"}, fieldErrors(t, obj))

	// Recipe sub-resource.
	base := fmt.Sprintf("/v2/products/%d/components", s.espresso)
	r = e.do("GET", base, e.operTok, nil)
	require.JSONEq(t, fmt.Sprintf(`[{"id":%d,"volume":1},{"id":%d,"volume":7},{"id":%d,"volume":30}]`, s.cup, s.coffee, s.water), string(r.Raw))
	obj = requireError(t, e.do("POST", base, e.adminTok, map[string]any{"id": s.cup, "volume": 2}), http.StatusUnprocessableEntity, SubInvalid)
	require.Equal(t, []any{"The id has already been taken."}, obj["errors"].(map[string]any)["id"])
	r = e.do("PUT", fmt.Sprintf("%s/%d", base, s.coffee), e.adminTok, map[string]any{"volume": 8})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	r = e.do("DELETE", fmt.Sprintf("%s/%d", base, s.cup), e.adminTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	requireError(t, e.do("DELETE", fmt.Sprintf("%s/%d", base, s.cup), e.adminTok, nil), http.StatusNotFound, SubNotFound)
	require.Equal(t, s.cup, createdID(t, e.do("POST", base, e.adminTok, map[string]any{"id": s.cup, "volume": 1})))
	requireError(t, e.do("GET", base, e.otherTok, nil), http.StatusNotFound, SubNotFound)

	r = e.do("PUT", fmt.Sprintf("/v2/products/%d", s.barProduct), e.adminTok, map[string]any{"name": "Bounty 55г", "vat": 20})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	obj = requireError(t, e.do("PUT", fmt.Sprintf("/v2/products/%d", s.barProduct), e.adminTok,
		map[string]any{"components": []any{map[string]any{"id": s.cup, "volume": 1}}}), http.StatusUnprocessableEntity, SubInvalid)
	require.Equal(t, []string{"components"}, fieldErrors(t, obj))

	// Planograms.
	r = e.do("GET", "/v2/planograms", e.operTok, nil)
	require.JSONEq(t, fmt.Sprintf(`[{"id":%d,"name":"Комбо"}]`, s.plano), string(r.Raw))
	r = e.do("GET", fmt.Sprintf("/v2/planograms/%d", s.plano), e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	detail := r.obj(t)
	requireShape(t, detail, map[string]string{"id": "number", "name": "string", "capacity": "array", "products": "array", "layout": "array"})
	require.JSONEq(t, fmt.Sprintf(`[{"component_id":%d,"capacity":1000,"critical":100},{"component_id":%d,"capacity":1000,"critical":100},
		{"component_id":%d,"capacity":1000,"critical":100},{"component_id":%d,"capacity":20,"critical":4}]`,
		s.cup, s.coffee, s.water, s.bar), mustJSON(t, detail["capacity"]), "bars sum over selections")
	require.JSONEq(t, fmt.Sprintf(`[{"product_id":%d,"number":"1","price":50},{"product_id":%d,"number":"A1","price":null},
		{"product_id":%d,"number":"A2","price":25}]`, s.espresso, s.barProduct, s.barProduct), mustJSON(t, detail["layout"]))
	require.Len(t, detail["products"], 2)
	r = e.do("GET", "/v2/planograms?full=1", e.operTok, nil)
	require.Equal(t, detail, r.arr(t)[0])
	requireError(t, e.do("GET", fmt.Sprintf("/v2/planograms/%d", s.plano), e.otherTok, nil), http.StatusNotFound, SubNotFound)

	obj = requireError(t, e.do("POST", "/v2/planograms", e.adminTok, map[string]any{"name": "Комбо", "mode": "snack"}),
		http.StatusUnprocessableEntity, SubInvalid)
	require.Equal(t, []any{msgNameTaken}, obj["errors"].(map[string]any)["name"])
	obj = requireError(t, e.do("POST", "/v2/planograms", e.adminTok, map[string]any{"name": "X", "mode": "pizza", "assign": 99999,
		"products": []any{map[string]any{"id": s.barProduct, "number": "A1"}, map[string]any{"id": 0, "number": "a1", "capacity": 1, "price": 1000000}}}),
		http.StatusUnprocessableEntity, SubInvalid)
	require.ElementsMatch(t, []string{"mode", "assign", "products.0.capacity", "products.1.id", "products.1.number", "products.1.price"}, fieldErrors(t, obj))

	r = e.do("DELETE", fmt.Sprintf("/v2/planograms/%d", s.plano), e.adminTok, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	vm, err := e.st.GetMachine(context.Background(), s.vm.ID)
	require.NoError(t, err)
	require.Nil(t, vm.PlanogramID)
	r = e.do("DELETE", fmt.Sprintf("/v2/products/%d", s.espresso), e.adminTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	requireError(t, e.do("DELETE", fmt.Sprintf("/v2/products/%d", s.espresso), e.adminTok, nil), http.StatusNotFound, SubNotFound)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	var b []byte
	b = fmt.Appendf(b, "%s", jsonString(v))
	return string(b)
}

func jsonString(v any) string {
	rec := &recorder{header: http.Header{}}
	writeJSON(rec, http.StatusOK, v)
	return rec.body.String()
}

func TestCatalogLoading(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := newCatSetup(t, e)
	accessGrant(t, e, e.oper, s.vm)
	path := fmt.Sprintf("/v2/vending_machines/%d/", s.vm.ID)

	r := e.do("GET", path+"loading", e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.JSONEq(t, fmt.Sprintf(`[{"component_id":%d,"value":0},{"component_id":%d,"value":0},{"component_id":%d,"value":0},
		{"component_id":%d,"value":0,"layout_number":"A1"},{"component_id":%d,"value":0,"layout_number":"A2"}]`,
		s.cup, s.coffee, s.water, s.bar, s.bar), string(r.Raw))

	body := map[string]any{"note": "Комментарий к загрузке", "data": []map[string]any{
		{"component_id": s.coffee, "add": 1000}, {"component_id": s.water, "add": 5000}, {"component_id": s.cup, "add": 50},
		{"component_id": s.bar, "layout_number": "a1", "add": 10}, {"component_id": s.bar, "layout_number": "A2", "add": 5},
	}}
	r = e.do("POST", path+"loading", e.operTok, body)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
	requireShape(t, r.obj(t), map[string]string{"digest": "string"})
	digest := r.obj(t)["digest"]
	requireError(t, e.do("POST", path+"loading", e.operTok, body), http.StatusBadRequest, SubLoadDuplicate)
	requireError(t, e.do("POST", path+"loading", e.operTok, map[string]any{"data": []any{}}), http.StatusBadRequest, SubLoadNoData)
	requireError(t, e.do("POST", path+"loading", e.operTok, map[string]any{"note": "x"}), http.StatusBadRequest, SubLoadNoData)
	requireError(t, e.do("POST", path+"loading", e.operTok, map[string]any{"data": []any{map[string]any{"component_id": s.cup, "add": 0}}}),
		http.StatusBadRequest, SubLoadNoLoad)
	obj := requireError(t, e.do("POST", path+"loading", e.operTok, map[string]any{"data": []any{
		map[string]any{"component_id": s.cup}, map[string]any{"component_id": 999999, "add": 1},
		map[string]any{"component_id": s.bar, "add": 1}, map[string]any{"component_id": s.bar, "layout_number": "Z9", "add": 1},
		map[string]any{"component_id": s.cup, "add": 1.5}}}), http.StatusUnprocessableEntity, SubInvalid)
	require.ElementsMatch(t, []string{"data.0.add", "data.1.component_id", "data.2.layout_number", "data.3.layout_number", "data.4.add"},
		fieldErrors(t, obj))
	require.Equal(t, []any{"The data.0.add field is required."}, obj["errors"].(map[string]any)["data.0.add"])
	requireError(t, e.do("POST", path+"loading", e.otherTok, body), http.StatusNotFound, SubNotFound)

	// Sales consume the recipes.
	e.clk.Add(time.Minute)
	e.catSale(s.modem.ID, e.clk.Now(), "s1", "1")
	e.catSale(s.modem.ID, e.clk.Now(), "s2", "1")
	e.catSale(s.modem.ID, e.clk.Now(), "s3", "A1")
	r = e.do("GET", path+"loading", e.operTok, nil)
	require.JSONEq(t, fmt.Sprintf(`[{"component_id":%d,"value":48},{"component_id":%d,"value":986},{"component_id":%d,"value":4940},
		{"component_id":%d,"value":9,"layout_number":"A1"},{"component_id":%d,"value":5,"layout_number":"A2"}]`,
		s.cup, s.coffee, s.water, s.bar, s.bar), string(r.Raw))

	// Inventory: the same levels → 200; a difference → 201; missing loaded → 422.
	same := map[string]any{"data": []map[string]any{{"component_id": s.coffee, "loaded": 986}, {"component_id": s.bar, "layout_number": "A1", "loaded": 9}}}
	r = e.do("POST", path+"inventory", e.operTok, same)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	requireShape(t, r.obj(t), map[string]string{"res": "bool", "digest": "string"})
	e.clk.Add(time.Minute)
	r = e.do("POST", path+"inventory", e.operTok, map[string]any{"note": "пересчёт", "data": []map[string]any{{"component_id": s.coffee, "loaded": 900}}})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
	require.NotEqual(t, digest, r.obj(t)["digest"])
	obj = requireError(t, e.do("POST", path+"inventory", e.operTok, map[string]any{"data": []map[string]any{{"component_id": s.coffee}}}),
		http.StatusUnprocessableEntity, SubInvalid)
	require.Equal(t, map[string]any{"data.0.loaded": []any{"The data.0.loaded field is required."}}, obj["errors"])
	requireError(t, e.do("POST", path+"inventory", e.operTok, map[string]any{"data": []any{}}), http.StatusBadRequest, SubLoadNoData)

	// Unloading more than there is underflows.
	e.clk.Add(time.Minute)
	r = e.do("POST", path+"loading", e.operTok, map[string]any{"data": []map[string]any{{"component_id": s.bar, "layout_number": "A2", "add": -7}}})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)

	r = e.do("GET", path+"loading_tx?local=1", e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	txs := r.arr(t)
	require.Len(t, txs, 3)
	first := txs[0].(map[string]any)
	requireShape(t, first, map[string]string{"id": "number", "vm_id": "number", "created_at": "string", "user_id": "number|null", "data": "array"})
	require.Equal(t, "2024-05-10 15:00:00", first["created_at"], "Moscow time with local=1")
	require.Equal(t, e.oper.ID, num(first["user_id"]))
	item := first["data"].([]any)[0].(map[string]any)
	requireShape(t, item, map[string]string{"component": "string", "delta": "number", "orig": "number"})
	require.Equal(t, "Кофе", item["component"])
	inv := txs[1].(map[string]any)["data"].([]any)
	require.JSONEq(t, `[{"component":"Кофе","delta":-86,"orig":986}]`, mustJSON(t, inv))
	under := txs[2].(map[string]any)["data"].([]any)
	require.JSONEq(t, `[{"component":"Батончик Bounty","delta":-7,"orig":5,"underflow":true,"layout_number":"A2"}]`, mustJSON(t, under))
	r = e.do("GET", path+"loading_tx?since=2024-05-10%2012:02:30Z", e.operTok, nil)
	require.Len(t, r.arr(t), 1)
	requireError(t, e.do("GET", path+"loading_tx?since=yesterday", e.operTok, nil), http.StatusBadRequest, SubMalformed)
	requireError(t, e.do("GET", path+"loading_tx?since=2024-05-10T13:00:00Z&until=2024-05-10T12:00:00Z", e.operTok, nil),
		http.StatusBadRequest, SubPeriodReversed)

	vm, err := e.st.GetMachine(context.Background(), s.vm.ID)
	require.NoError(t, err)
	require.Equal(t, e.clk.Now(), vm.LastLoading, "last_event_dates.last_loading follows the loadings")
}

func TestCatalogServiceFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := newCatSetup(t, e)
	accessGrant(t, e, e.oper, s.vm)
	// Through the machine detail, as operators see them (the list shows the
	// same summary: machines_service_test.go).
	get := func() map[string]bool {
		t.Helper()
		r := e.do("GET", fmt.Sprintf("/v2/vending_machines/%d", s.vm.ID), e.token(e.oper), nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		var body struct {
			Service map[string]bool `json:"service"`
		}
		require.NoError(t, json.Unmarshal(r.Raw, &body))
		return body.Service
	}
	require.Nil(t, get(), "a new machine: nothing to say")

	e.clk.Add(25 * time.Hour) // created at t0, never sold
	require.Equal(t, map[string]bool{FlagNoRecentSales: true}, get())
	e.catSale(s.modem.ID, e.clk.Now(), "s1", "Z9")
	require.Nil(t, get())
	tok := e.token(e.oper) // the first token expired meanwhile

	// need_loading: below the critical level after loading.
	r := e.do("POST", fmt.Sprintf("/v2/vending_machines/%d/loading", s.vm.ID), tok, map[string]any{"data": []map[string]any{
		{"component_id": s.coffee, "add": 150}, {"component_id": s.water, "add": 5000}, {"component_id": s.cup, "add": 500},
		{"component_id": s.bar, "layout_number": "A1", "add": 3}, {"component_id": s.bar, "layout_number": "A2", "add": 3},
	}})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
	require.Nil(t, get())
	for i := range 8 { // 8 espressos: 150 - 56 = 94 < 100
		e.catSale(s.modem.ID, e.clk.Now(), fmt.Sprintf("e%d", i), "1")
	}
	require.Equal(t, map[string]bool{FlagNeedLoading: true}, get())

	// low_change from CA15, else CA17; bills/coins from CA3 between audits.
	e.catAudit(s.modem.ID, e.clk.Now().Add(-50*time.Hour), "a0", "CA3*0*0*0*0*7000*0*0*5000\r\nCA15*20000\r\n")
	e.catAudit(s.modem.ID, e.clk.Now(), "a1", "CA3*0*0*0*0*7500*0*0*5000\r\nCA15*5000\r\n")
	require.Equal(t, map[string]bool{FlagNeedLoading: true, FlagLowChange: true, FlagNoBillsIn: true}, get())
	e.catAudit(s.modem.ID, e.clk.Now().Add(time.Second), "a2",
		"CA3*0*0*0*0*9000*0*0*7000\r\nCA17*00*100*60\r\nCA17*01*500*10\r\n")
	// Coins in: 2000 at a0 (50 h ago), 2500 at a1, 2000 at a2: they changed
	// within the 48 h, so no_coins_in stays off (every audit since the cutoff
	// must show the same count); bills rose at a2.
	require.Equal(t, map[string]bool{FlagNeedLoading: true}, get(), "tubes worth 11000: enough change")
	e.clk.Add(49 * time.Hour) // nothing new since a2 for longer than both thresholds
	e.catAudit(s.modem.ID, e.clk.Now(), "a3", "CA3*0*0*0*0*9000*0*0*7000\r\nCA15*20000\r\n")
	require.Equal(t, map[string]bool{FlagNeedLoading: true, FlagNoBillsIn: true, FlagNoCoinsIn: true,
		FlagNoRecentSales: true}, get())
}
