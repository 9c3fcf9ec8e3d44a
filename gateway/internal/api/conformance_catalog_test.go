package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"vendgate/dex/evadts"
	"vendgate/gateway/internal/fiscal"
	"vendgate/gateway/internal/store"
)

// Conformance fixtures of the catalogue, loading, reports and statistics
// routes. The spec's examples name ids of its own database and periods of
// 2018: the fixtures send the same requests with the seed's ids and a recent
// period of the same format (the depth limits would refuse 2018).

// catalogue seeds components, products and a planogram assigned to a machine
// of its own (newCatSetup) once per seed.
func (sd *confSeed) catalogue() *catSetup {
	if sd.cat == nil {
		s := newCatSetupTB(sd.e.t, sd.e)
		sd.cat = &s
	}
	return sd.cat
}

// seedLocation adds two locations (the spec lists several) once per seed.
func (sd *confSeed) seedLocation() int64 {
	if sd.location == 0 {
		var c store.Catalog = sd.e.st
		for i, name := range []string{"БЦ Конфетка", "McBryde's Pub"} {
			l := store.Location{CompanyID: store.DefaultCompanyID, Name: name, Address: "Таежная, 41", Note: "на столе"}
			mustNoErr(sd, c.CreateLocation(context.Background(), &l))
			if i == 0 {
				sd.location = l.ID
			}
		}
	}
	return sd.location
}

// audit returns the id of the seed's audit of vm.
func (sd *confSeed) audit() int64 {
	if sd.auditID == 0 {
		as, err := sd.e.st.ListAudits(context.Background(), sd.vm.ID, 0, time.Time{}, time.Time{})
		mustNoErr(sd, err)
		sd.auditID = as[len(as)-1].ID
	}
	return sd.auditID
}

func mustNoErr(sd *confSeed, err error) {
	if err != nil {
		sd.e.t.Fatal(err)
	}
}

// confMsg numbers the message ids of the fixtures (examples run in parallel).
var confMsg atomic.Int64

// uplink applies one uplink of vm's modem.
func (sd *confSeed) uplink(u store.Uplink) {
	u.ModemID = sd.modem.ID
	if u.Received.IsZero() {
		u.Received = sd.e.clk.Now()
	}
	mustNoErr(sd, sd.e.st.ApplyUplinks(context.Background(), []store.Uplink{u}))
}

// confAudit stores a valid EVA-DTS audit of vm read at.
func (sd *confSeed) confAudit(at time.Time, readsReset, toBox, bills, filled int64, counters ...evadts.EventCounter) {
	r := evadts.NewReport("NRI0000001")
	r.Cash.In = &evadts.CashIn{InReset: toBox + bills, ToBoxReset: toBox, BillsReset: bills}
	r.Cash.Filled = &evadts.CashFilled{Reset: filled}
	r.Cash.Tubes = []evadts.CoinTube{{CoinType: "0", Value: 100, InTube: 7}}
	r.Events.Counters = counters
	r.Events.Reads = &evadts.ReadInfo{ReadsWithReset: readsReset, ReadsTotal: readsReset + 5}
	var buf bytes.Buffer
	mustNoErr(sd, evadts.Encode(&buf, r))
	data := buf.Bytes()
	sd.uplink(store.Uplink{Kind: store.UpAudit, Received: at.Add(time.Second), Audit: &store.Audit{
		MsgID: "ca" + strconv.FormatInt(confMsg.Add(1), 10), Port: 1, Time: at, Received: at.Add(time.Second), Data: data, Valid: true}})
}

// paidVends stores paid vends of vm (cash and cashless) an hour ago.
func (sd *confSeed) paidVends() {
	at := sd.e.clk.Now().Add(-time.Hour)
	for i, pay := range []string{"cash", "cash", "cashless"} {
		sd.uplink(store.Uplink{Kind: store.UpVend, Received: at, Vend: &store.Vend{MsgID: "cv" + strconv.FormatInt(confMsg.Add(1), 10),
			Selection: strconv.Itoa(2 + i%2), Price: 3500, Payment: pay, Type: "paid", OK: true, Time: at.Add(time.Duration(i) * time.Minute)}})
	}
}

// saleReceipt makes a sale receipt of a paid vend of vm the way the gateway
// does (fiscal.EnqueueForVend) and submits it to the emulated register.
func (sd *confSeed) saleReceipt() {
	ctx := context.Background()
	now := sd.e.clk.Now()
	v := store.Vend{ModemID: sd.modem.ID, MsgID: "crt1", Selection: "7", Price: 4500, Payment: "cashless", Type: "paid", OK: true, Time: now.Add(-time.Hour)}
	ok, err := fiscal.EnqueueForVend(ctx, sd.e.st, sd.vm, v, fiscal.SaleInfo{Place: "ТЦ", Address: "Мира пр 24б"}, now.Add(-time.Hour))
	mustNoErr(sd, err)
	if !ok {
		sd.e.t.Fatal("no receipt enqueued")
	}
	w := fiscal.NewWorker(sd.e.st, &fiscal.Emulated{Now: sd.e.clk.Now}, fiscal.WorkerConfig{Now: sd.e.clk.Now})
	_, err = w.Drain(ctx)
	mustNoErr(sd, err)
}

// correctionReceipt stores a submitted correction receipt of vm with the
// spec's input: no feature of the gateway makes correction receipts yet, so
// the route is checked as the pass-through of what was stored.
func (sd *confSeed) correctionReceipt() {
	var rc store.Receipts = sd.e.st
	ctx := context.Background()
	now := sd.e.clk.Now()
	r := store.Receipt{Key: "conf-" + strconv.FormatInt(confMsg.Add(1), 10), CompanyID: store.DefaultCompanyID, VMID: sd.vm.ID, Kind: store.ReceiptCorrection,
		Input: json.RawMessage(`{"terminal":"I12345679","place":"ТЦ","address":"Мира пр 24б","digest":"9dc54a44a8c3787231312b03a3c0d1db",
			"correction_type":"0","type":"1","reason":{"doc_name":"КАССОВЫЙ ЧЕК №1","doc_date":"2019-07-23","doc_number":"1"},
			"payments":[{"type":1,"amount":"25"},{"type":2,"amount":"0"}],"vats":[{"type":1,"amount":"4.17"},{"type":2,"amount":"0"}]}`),
		Aux:       json.RawMessage(`[]`),
		CreatedAt: now.Add(-time.Hour)}
	_, err := rc.EnqueueReceipt(ctx, &r)
	mustNoErr(sd, err)
	mustNoErr(sd, rc.CompleteReceipt(ctx, r.ID, json.RawMessage(`{"fp":"2046793736","date":"20190723T123600","device_rn":"0000000000028583",
		"fs_number":"9999078900006831","document_type":1,"document_number":4,"total_payment_amount":"25.00","inn":"7701234567"}`), now))
}

// spacedRange is since/until of the last days in the spec's "2018-01-01
// 00:00:00+03" format (the '+' escaped), with extra query parameters.
func (sd *confSeed) spacedRange(days int, extra string) string {
	now := sd.e.clk.Now().UTC()
	esc := strings.NewReplacer(" ", "%20", "+", "%2B")
	f := func(t time.Time) string { return esc.Replace(t.Format("2006-01-02 15:04:05") + "+00") }
	return "since=" + f(now.AddDate(0, 0, -days)) + "&until=" + f(now) + extra
}

// isoRange is since/until of the last days in ISO-8601 with offset.
func (sd *confSeed) isoRange(days int, extra string) string {
	now := sd.e.clk.Now().UTC()
	f := func(t time.Time) string { return t.Format("2006-01-02T15:04:05") + "%2B00:00" }
	return "since=" + f(now.AddDate(0, 0, -days)) + "&until=" + f(now) + extra
}

func (sd *confSeed) vmPath(vm int64, rest string) string {
	return fmt.Sprintf("/v2/vending_machines/%d%s", vm, rest)
}

// loadingBody is the spec's loading example with the seed's components.
func (sd *confSeed) loadingBody(field string) map[string]any {
	c := sd.catalogue()
	return map[string]any{"note": "Комментарий к загрузке", "data": []map[string]any{
		{"component_id": c.coffee, field: 10}, {"component_id": c.water, field: 18}, {"component_id": c.cup, field: 18000},
		{"component_id": c.bar, field: 3, "layout_number": "A1"}}}
}

func init() {
	add := func(pattern string, fx fixture) { conformanceFixtures[pattern] = fx }

	// --- reports ---
	add("GET /v2/vending_machines/{id}/reports", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		return confReq{path: sd.vmPath(sd.vm.ID, "/reports?"+sd.isoRange(1, "&cp1251=1&base64=1&port=1&local=1"))}, ""
	})
	add("GET /v2/vending_machines/{id}/reports/{rid}", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		if status == http.StatusNotFound {
			return confReq{path: sd.vmPath(sd.vm.ID, fmt.Sprintf("/reports/%d?port=1", sd.audit()+1000))}, ""
		}
		return confReq{}, ""
	})
	add("GET /v2/vending_machines/{id}/reports/last_errors", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		sd.confAudit(sd.e.clk.Now().Add(-30*time.Minute), 1, 0, 0, 0, evadts.EventCounter{Code: "D54", CountReset: 2, CountInit: 9, Active: "1"})
		return confReq{}, ""
	})
	add("GET /v2/reports/errors/{code}", ok2xx)
	add("GET /v2/reports/collections", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		now := sd.e.clk.Now()
		sd.confAudit(now.Add(-3*time.Hour), 4, 1000, 5000, 0)
		sd.confAudit(now.Add(-2*time.Hour), 5, 150, 3000, 100) // a read with reset: a collection
		return confReq{path: "/v2/reports/collections?" + sd.isoRange(1, "")}, ""
	})

	// --- reference lists ---
	add("GET /v2/event_codes", ok2xx)
	add("GET /v2/vm_models", ok2xx)
	add("GET /v2/timezones", ok2xx)

	// --- statistics ---
	add("GET /v2/stats/vends/summary", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		sd.paidVends()
		return confReq{path: "/v2/stats/vends/summary?" + sd.spacedRange(6, "&local=1")}, ""
	})
	add("GET /v2/stats/vends/payments/summary", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		sd.paidVends()
		return confReq{path: "/v2/stats/vends/payments/summary?" + sd.spacedRange(6, "&local=1")}, ""
	})
	add("GET /v2/vending_machines/{id}/stats/vends/summary", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		sd.paidVends()
		return confReq{path: sd.vmPath(sd.vm.ID, "/stats/vends/summary?"+sd.spacedRange(30, "&local=1"))}, ""
	})
	add("GET /v2/vending_machines/{id}/stats/vends/products", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		sd.paidVends()
		return confReq{path: sd.vmPath(sd.vm.ID, "/stats/vends/products?type=paid&"+sd.isoRange(30, "&local=1"))}, ""
	})
	add("GET /v2/vending_machines/{id}/stats/vends/payments", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		sd.paidVends()
		// The example's type=paid is not in the spec's own enum for this
		// route (cash, cashless, token): a value of the enum is sent.
		return confReq{path: sd.vmPath(sd.vm.ID, "/stats/vends/payments?type=cash&"+sd.isoRange(30, "&local=1"))}, ""
	})
	add("GET /v2/stats/crt", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		sd.saleReceipt()
		return confReq{path: fmt.Sprintf("/v2/stats/crt?vm_id=%d&%s", sd.vm.ID, sd.isoRange(1, ""))}, ""
	})
	add("GET /v2/stats/crt/correction", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		sd.correctionReceipt()
		return confReq{path: fmt.Sprintf("/v2/stats/crt/correction?vm_id=%d&%s", sd.vm.ID, sd.isoRange(1, ""))}, ""
	})

	// --- loading (on the catalogue's machine, which has a planogram) ---
	add("GET /v2/vending_machines/{id}/loading", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		c := sd.catalogue()
		sd.e.do("POST", sd.vmPath(c.vm.ID, "/loading"), sd.tok, sd.loadingBody("add"))
		return confReq{path: sd.vmPath(c.vm.ID, "/loading")}, ""
	})
	add("POST /v2/vending_machines/{id}/loading", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		c := sd.catalogue()
		path := sd.vmPath(c.vm.ID, "/loading")
		body := ex.Request.(map[string]any)
		data, _ := body["data"].([]any)
		switch {
		case len(data) == 0: // L103
			return confReq{path: path}, ""
		case len(data) == 1: // L104: every line adds 0
			return confReq{path: path, body: map[string]any{"note": body["note"], "data": []map[string]any{{"component_id": c.coffee, "add": 0}}}}, ""
		case status == http.StatusBadRequest: // L102: the same loading again
			sd.e.do("POST", path, sd.tok, sd.loadingBody("add"))
		}
		return confReq{path: path, body: sd.loadingBody("add")}, ""
	})
	add("POST /v2/vending_machines/{id}/inventory", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		c := sd.catalogue()
		path := sd.vmPath(c.vm.ID, "/inventory")
		data, _ := ex.Request.(map[string]any)["data"].([]any)
		switch {
		case status == http.StatusUnprocessableEntity: // a line without loaded (the 422 body names data.0.loaded)
			return confReq{path: path, body: map[string]any{"data": []map[string]any{{"component_id": c.coffee}}}}, ""
		case len(data) == 0: // L103
			return confReq{path: path}, ""
		case status == http.StatusBadRequest: // L102
			sd.e.do("POST", path, sd.tok, sd.loadingBody("loaded"))
		}
		return confReq{path: path, body: sd.loadingBody("loaded")}, ""
	})
	add("GET /v2/vending_machines/{id}/loading_tx", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		c := sd.catalogue()
		sd.e.do("POST", sd.vmPath(c.vm.ID, "/loading"), sd.tok, sd.loadingBody("add"))
		return confReq{path: sd.vmPath(c.vm.ID, "/loading_tx?"+sd.spacedRange(1, "&local=1"))}, ""
	})

	// --- catalogue ---
	add("GET /v2/planograms", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		sd.catalogue()
		return confReq{path: "/v2/planograms?full=1"}, ""
	})
	add("GET /v2/planograms/{id}", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		// A planogram with a price on every selection, like the example's
		// (the seed's has a selection without one, which is null).
		c := sd.catalogue()
		r := sd.e.do("POST", "/v2/planograms", sd.tok, map[string]any{"name": "Универсальная 42", "mode": "basic",
			"products": []map[string]any{{"id": c.espresso, "number": 1, "capacity": 19000, "critical": 90, "price": 20},
				{"id": c.barProduct, "number": "AA", "capacity": 10, "critical": 2, "price": 25},
				{"id": c.barProduct, "number": "AB", "capacity": 10, "critical": 2, "price": 0}}})
		return confReq{path: fmt.Sprintf("/v2/planograms/%d", createdID(sd.e.t, r))}, ""
	})
	add("DELETE /v2/planograms/{id}", ok2xx)
	add("POST /v2/planograms", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		c := sd.catalogue()
		body := maps2(ex.Request.(map[string]any))
		ids := []int64{c.espresso, c.barProduct, c.barProduct}
		var products []map[string]any
		for i, it := range body["products"].([]any) {
			p := maps2(it.(map[string]any))
			p["id"] = ids[i]
			products = append(products, p)
		}
		body["products"] = products
		if _, ok := body["assign"]; ok {
			body["assign"] = c.vm.ID
		}
		if status == http.StatusUnprocessableEntity {
			body["name"] = "Комбо" // the seed's planogram
		}
		return confReq{body: body}, ""
	})
	add("GET /v2/products", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		// Every product with an inventory number and a VAT rate, as in the
		// example (unset they are null).
		c := sd.catalogue()
		for i, id := range []int64{c.espresso, c.barProduct} {
			sd.e.do("PUT", fmt.Sprintf("/v2/products/%d", id), sd.tok, map[string]any{"inventory_number": fmt.Sprintf("B%d-2018", i+1), "vat": 20})
		}
		return confReq{}, ""
	})
	add("POST /v2/products", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		c := sd.catalogue()
		body := maps2(ex.Request.(map[string]any))
		if comps, ok := body["components"].([]any); ok {
			var out []map[string]any
			for _, it := range comps {
				m := maps2(it.(map[string]any))
				if _, ok := m["id"]; ok {
					m["id"] = c.coffee
				}
				out = append(out, m)
			}
			body["components"] = out
		}
		if status == http.StatusUnprocessableEntity {
			body["name"] = "Эспрессо" // taken by the seed
		}
		return confReq{body: body}, ""
	})
	add("PUT /v2/products/{id}", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		c := sd.catalogue()
		body := maps2(ex.Request.(map[string]any))
		if comps, ok := body["components"].([]any); ok {
			var out []map[string]any
			for _, it := range comps {
				m := maps2(it.(map[string]any))
				if _, ok := m["id"]; ok {
					m["id"] = c.coffee
				}
				out = append(out, m)
			}
			body["components"] = out
		}
		if status == http.StatusUnprocessableEntity {
			body = map[string]any{"name": "Батончик Bounty"} // another product's name
		}
		return confReq{body: body}, ""
	})
	add("DELETE /v2/products/{id}", ok2xx)
	add("GET /v2/products/{id}/components", ok2xx)
	add("POST /v2/products/{id}/components", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		c := sd.catalogue()
		// The example's body is two objects; the attributes (and the
		// response's single id) describe one: the first is sent, with a
		// component not yet in the recipe. 422: a component already in it.
		if status == http.StatusUnprocessableEntity {
			return confReq{body: map[string]any{"id": c.coffee, "volume": 100}}, ""
		}
		r := sd.e.do("POST", "/v2/components", sd.tok, map[string]any{"name": "Сахар", "unit": 3})
		return confReq{body: map[string]any{"id": createdID(sd.e.t, r), "volume": 100}}, ""
	})
	add("PUT /v2/products/{id}/components/{component_id}", ok2xx)
	add("DELETE /v2/products/{id}/components/{component_id}", ok2xx)
	add("GET /v2/components", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		sd.catalogue()
		return confReq{}, ""
	})
	add("POST /v2/components", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		sd.catalogue() // has the example's "Стаканчик"
		if status == http.StatusUnprocessableEntity {
			return confReq{}, ""
		}
		return confReq{body: map[string]any{"name": "Сахар-рафинад", "unit": 1}}, ""
	})
	add("GET /v2/locations", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		sd.seedLocation()
		return confReq{}, ""
	})
	add("POST /v2/locations", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		if status == http.StatusUnprocessableEntity {
			sd.seedLocation()
			return confReq{body: map[string]any{"name": "БЦ Конфетка", "address": "x"}}, ""
		}
		return confReq{body: map[string]any{"name": "БЦ Новая", "address": "Большая Посадская, 1"}}, ""
	})
	add("PUT /v2/locations/{id}", func(sd *confSeed, ex specExample, status int) (confReq, string) {
		if status == http.StatusUnprocessableEntity {
			return confReq{body: map[string]any{"name": "McBryde's Pub"}}, "" // the other location's
		}
		return confReq{}, ""
	})
	add("DELETE /v2/locations/{id}", ok2xx)

	// Fields beyond the spec's examples, documented in openapi.json.
	for p, fields := range map[string][]string{
		// The group's vend and payment type (the example shows only the sums).
		"GET /v2/stats/vends/payments/summary": {"[].vend_type", "[].payment_type"},
		// The full list shows each layout entry as the detail does.
		"GET /v2/planograms": {"[].layout[].price"},
		// Packaged products are loaded per selection.
		"GET /v2/vending_machines/{id}/loading_tx": {"[].data[].layout_number"},
	} {
		conformanceExtras[p] = fields
	}
}

// conformanceKnownDiffs are differences from examples that are themselves
// inconsistent with the spec, keyed by confDiffKey, with why.
var conformanceKnownDiffs = map[string]string{
	confDiffKey("POST /v2/products/{id}/components", 422, "errors.id: not in the spec's example (allow it in conformanceExtras if documented)"): "the example's message is about id but files it under name",
	confDiffKey("POST /v2/products/{id}/components", 422, "errors.name: missing"):                                                               "the example's message is about id but files it under name",
}

func confDiffKey(pattern string, status int, diff string) string {
	return pattern + " → " + strconv.Itoa(status) + " → " + diff
}
