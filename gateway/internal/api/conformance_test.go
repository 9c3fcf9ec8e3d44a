package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/auth"
	"vendgate/gateway/internal/store"
)

// Conformance: every example response of the spec, for the routes this server
// registers, is compared with what the same request returns from a seeded
// gateway: same field names and JSON types, recursively. Our responses may
// have more fields only where conformanceExtras lists them (each is documented
// in openapi.json), and may be null where the spec shows a value only where
// conformanceNullable says why. Documented error responses are provoked on
// purpose (conformanceFixtures) and must have the documented status, the
// documented subcode when the spec gives one, and the spec's fields.
//
// A registered route with spec examples but no fixture is skipped with a
// message naming it: add a fixture for it to conformanceFixtures.

// confSeed is the seeded gateway of one example.
type confSeed struct {
	e         *env
	modem     store.Modem   // online, exe bus, every identity field set
	vm        store.Machine // bound to modem, every optional field set
	offModem  store.Modem   // seen once, now offline
	offVM     store.Machine // bound to offModem
	requisite store.Requisite
	group     store.Group
	reqID     int64 // an open data request of vm
	tok       string

	// Lazily seeded by the catalogue and reports fixtures
	// (conformance_catalog_test.go).
	cat      *catSetup // components, products, a planogram and its machine
	location int64
	auditID  int64 // vm's audit of the seed
}

// offline adds offModem and offVM (only for the fixtures that need them, so
// that lists hold the fully seeded machine alone).
func (sd *confSeed) offline() {
	if sd.offVM.ID != 0 {
		return
	}
	e := sd.e
	sd.offModem = e.modem("999999999123459", store.DefaultCompanyID)
	e.online(sd.offModem.ID, "exe", []string{"dispense"})
	e.offline(sd.offModem.ID)
	sd.offVM = e.machine("offline", store.DefaultCompanyID, sd.offModem.ID, "Europe/Moscow")
}

const confIMEI = "999999999123456" // 15 digits: rendered as a JSON number like the spec's

func seedConformance(t *testing.T) *confSeed {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	sd := &confSeed{e: e, tok: e.adminTok}
	now := e.clk.Now()

	sd.modem = e.modem(confIMEI, store.DefaultCompanyID)
	require.NoError(t, e.st.ApplyUplinks(ctx, []store.Uplink{
		{Kind: store.UpHello, ModemID: sd.modem.ID, Received: now, Hello: &store.Hello{
			ICCID: "8970100000000000001", HWVersion: "2.4", BootVersion: "4.4.12", Firmware: "3.32", Bus: "exe",
			HBInterval: 60, Caps: []string{"reset", "request", "dispense", "cashless_mode", "cashless_address", "cashless_credit"},
		}},
		{Kind: store.UpPresence, ModemID: sd.modem.ID, Received: now, Presence: &store.Presence{Online: true, Epoch: 1}},
		{Kind: store.UpHeartbeat, ModemID: sd.modem.ID, Received: now, Heartbeat: &store.Heartbeat{VMLink: true, Epoch: 1}},
	}))
	require.NoError(t, e.st.UpdateModemPhone(ctx, sd.modem.ID, "79999999998"))

	sd.requisite = store.Requisite{CompanyID: store.DefaultCompanyID, Title: "ООО Ромашка", TitleShort: "Ромашка",
		AddrLegal: "Москва", AddrFact: "Тверь", INN: "7701234567", KPP: "770101001", Provider: store.ProviderOrangeData}
	require.NoError(t, e.st.CreateRequisite(ctx, &sd.requisite))

	n := func(v int64) *int64 { return &v }
	sd.vm = store.Machine{CompanyID: store.DefaultCompanyID, Name: "Тестовый ТА", SerialNumber: "AAA0000",
		PlanogramID: n(289), ModelID: n(100), ModemID: &sd.modem.ID, IsCRTActive: true, InventoryNumber: "B42",
		TZ: "Europe/Moscow", TZID: n(109), RequisiteID: &sd.requisite.ID, MinPrice: n(1000), MaxPrice: n(50000), CreatedAt: now}
	require.NoError(t, e.st.CreateMachine(ctx, &sd.vm, false))

	// Events, a vend and a valid audit an hour ago: lists and last_* are filled.
	ago := now.Add(-time.Hour)
	require.NoError(t, e.st.ApplyUplinks(ctx, []store.Uplink{
		{Kind: store.UpEvent, ModemID: sd.modem.ID, Received: ago, Event: &store.Event{MsgID: "e1", Code: "TEVA", Time: ago}},
		{Kind: store.UpEvent, ModemID: sd.modem.ID, Received: ago, Event: &store.Event{MsgID: "e2", Code: "TEVA", Time: ago.Add(time.Minute)}},
		{Kind: store.UpVend, ModemID: sd.modem.ID, Received: ago, Vend: &store.Vend{MsgID: "v1", Selection: "1", Price: 3500, OK: true, Time: ago}},
		{Kind: store.UpAudit, ModemID: sd.modem.ID, Received: ago, Audit: &store.Audit{MsgID: "a1", Port: 1, Time: ago, Received: ago, Data: []byte("DXS*1\r\n"), Valid: true}},
	}))
	sd.vm, _ = e.st.GetMachine(ctx, sd.vm.ID)

	req, _, err := e.st.OpenRequest(ctx, sd.vm.ID, true, false, now)
	require.NoError(t, err)
	sd.reqID = req.ID

	sd.group = store.Group{CompanyID: store.DefaultCompanyID, Name: "Север"}
	require.NoError(t, e.st.CreateGroup(ctx, &sd.group))
	require.NoError(t, e.st.SetGroupMachines(ctx, sd.group.ID, []int64{sd.vm.ID}))
	require.NoError(t, e.st.SetGroupUsers(ctx, sd.group.ID, []int64{e.oper.ID}))

	// The spec's login, and a last login for /v2/me.
	h, err := auth.Hash("123456", testIterations)
	require.NoError(t, err)
	me := store.User{CompanyID: store.DefaultCompanyID, Email: "me@example.com", PasswordHash: h, Role: RoleOperator, Active: true}
	require.NoError(t, e.st.CreateUser(ctx, &me))
	require.NoError(t, e.st.TouchLogin(ctx, e.admin.ID, now.Add(-time.Hour)))
	return sd
}

// confReq is the request a fixture sends for one documented status.
type confReq struct {
	path  string // path and query; "" = the example's URL with ids replaced
	body  any    // nil = the example's request body; noBody = none
	token string // "" = the seed's admin token; "-" = none
}

// noBody sends no body even when the example has one.
var noBody = struct{}{}

// fixture returns the request that should produce status for the example, or
// a reason why this status is not provoked.
type fixture func(sd *confSeed, ex specExample, status int) (confReq, string)

// ok2xx is the fixture of routes whose only documented responses are 2xx and
// the example request works as it is (ids replaced).
func ok2xx(sd *confSeed, ex specExample, status int) (confReq, string) {
	if status >= 300 {
		return confReq{}, "no fixture provokes " + strconv.Itoa(status)
	}
	return confReq{}, ""
}

var longName = strings.Repeat("я", maxNameLen+1)

// conformanceFixtures maps a mux pattern to its fixture.
var conformanceFixtures = map[string]fixture{
	"POST /auth/{$}": func(sd *confSeed, ex specExample, status int) (confReq, string) {
		body, _ := ex.Request.(map[string]any)
		body = maps2(body)
		if body["grant_type"] == "refresh_token" {
			r := sd.e.do("POST", "/auth/", "", map[string]string{"grant_type": "password", "username": "me@example.com", "password": "123456"})
			if m, ok := r.Body.(map[string]any); ok {
				body["refresh_token"] = m["refresh_token"]
			}
		}
		if status == http.StatusBadRequest {
			body["password"], body["refresh_token"] = "wrong", "wrong"
		}
		return confReq{body: body, token: "-"}, ""
	},
	"GET /logout":                             ok2xx,
	"GET /v2/me":                              ok2xx,
	"GET /v2/requisites":                      ok2xx,
	"GET /v2/modems":                          ok2xx,
	"GET /v2/modems/{id}":                     ok2xx,
	"POST /v2/modems/{id}/set":                ok2xx,
	"GET /v2/vending_machines":                ok2xx,
	"GET /v2/vending_machines/{id}":           ok2xx,
	"POST /v2/vending_machines/{id}/reset":    ok2xx,
	"POST /v2/vending_machines/{id}/request":  ok2xx,
	"GET /v2/vending_machines/{id}/timestamp": ok2xx,
	"PUT /v2/modems/{id}": func(sd *confSeed, ex specExample, status int) (confReq, string) {
		if status == http.StatusUnprocessableEntity {
			return confReq{body: map[string]string{"phone": strings.Repeat("7", 30)}}, ""
		}
		return confReq{}, ""
	},
	"POST /v2/vending_machines": func(sd *confSeed, ex specExample, status int) (confReq, string) {
		if status == http.StatusUnprocessableEntity {
			return confReq{body: map[string]string{"name": longName}}, ""
		}
		// The spec's modem (imei 123456789012345) and location are provisioned
		// elsewhere; bind the seed's free modem instead.
		sd.offline()
		body := maps2(ex.Request.(map[string]any))
		body["imei"] = sd.offModem.IMEI
		delete(body, "location_id")
		return confReq{body: body}, ""
	},
	"PUT /v2/vending_machines/{id}": func(sd *confSeed, ex specExample, status int) (confReq, string) {
		if status == http.StatusUnprocessableEntity {
			return confReq{body: map[string]string{"name": longName}}, ""
		}
		sd.offline()
		body := maps2(ex.Request.(map[string]any))
		if _, ok := body["modem_id"]; ok {
			body["modem_id"] = sd.offModem.ID
		}
		return confReq{body: body}, ""
	},
	"GET /v2/vending_machines/{id}/events": func(sd *confSeed, ex specExample, status int) (confReq, string) {
		// The spec's 2018 period is beyond the 14-day depth: same format, recent period.
		now := sd.e.clk.Now()
		q := "?since=" + now.Add(-24*time.Hour).Format("2006-01-02T15:04:05") + "%2B00:00&until=" + now.Format("2006-01-02T15:04:05") + "%2B00:00&local=1"
		return confReq{path: fmt.Sprintf("/v2/vending_machines/%d/events%s", sd.vm.ID, q)}, ""
	},
	"GET /v2/vending_machines/{id}/request/{rid}": func(sd *confSeed, ex specExample, status int) (confReq, string) {
		if status == http.StatusNotFound {
			return confReq{path: fmt.Sprintf("/v2/vending_machines/%d/request/%d", sd.vm.ID, sd.reqID+1000)}, ""
		}
		return confReq{}, ""
	},
	"POST /v2/vending_machines/{id}/dispense": func(sd *confSeed, ex specExample, status int) (confReq, string) {
		body := map[string]int{"number": 1, "cup": 1, "sugar": 2}
		if status == http.StatusUnprocessableEntity { // the modem cannot dispense: offline
			sd.offline()
			return confReq{path: fmt.Sprintf("/v2/vending_machines/%d/dispense", sd.offVM.ID), body: body}, ""
		}
		return confReq{body: body}, ""
	},
	"POST /v2/vending_machines/{id}/vendista-credit": func(sd *confSeed, ex specExample, status int) (confReq, string) {
		if status == http.StatusUnprocessableEntity {
			return confReq{body: map[string]any{}}, ""
		}
		return confReq{body: map[string]int{"amount": 15000}}, ""
	},
}

// conformanceExtras are the fields our responses have beyond the spec's
// example, by mux pattern and JSON path ("[]" is an array item). A path covers
// its subtree. Error responses may always add message, subcode, errors and
// documentation_url (spec "Errors").
var conformanceExtras = map[string][]string{
	// Attributes list serial_number though the example lacks it.
	"GET /v2/vending_machines": {"[].serial_number"},
	// Attributes list track_bus_vends, requisite_id, min/max_price;
	// last_event_dates and imei are the list's, kept in the detail.
	"GET /v2/vending_machines/{id}": {"track_bus_vends", "requisite_id", "min_price", "max_price", "last_event_dates", "imei"},
	// vendgate extension: ids of the commands submitted.
	"POST /v2/modems/{id}/set":                       {"commands"},
	"POST /v2/vending_machines/{id}/reset":           {"command_id"},
	"POST /v2/vending_machines/{id}/request":         {"command_id"},
	"POST /v2/vending_machines/{id}/dispense":        {"command_id"},
	"POST /v2/vending_machines/{id}/vendista-credit": {"command_id"},
}

// conformanceNullable are the paths where our value may be null though the
// spec's example has one, with why.
var conformanceNullable = map[string]string{
	"[].service":                          "service flags not implemented yet",
	"[].location":                         "locations belong to the catalogue",
	"[].type":                             "machine types not implemented yet",
	"[].last_event_dates.last_service":    "no feature records services yet",
	"[].last_event_dates.last_collection": "no feature records collections yet",
	"[].last_event_dates.last_loading":    "no feature records loadings yet",
	"service":                             "service flags not implemented yet",
	"location":                            "locations belong to the catalogue",
	"type":                                "machine types not implemented yet",
	"money":                               "cash levels not implemented yet",
	"last_service":                        "no feature records services yet",
	"last_collection":                     "no feature records collections yet",
	"last_loading":                        "no feature records loadings yet",
	"data.modem_time":                     "dispense: null when the modem was never seen",
}

var errorExtras = []string{"message", "subcode", "errors", "documentation_url"}

// isoOffsetRe is the spec's timestamp with an offset; where the spec shows one
// ours must have the same form.
var isoOffsetRe = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$`)

func maps2(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// shapeDiff compares got with the spec's example want. It returns one line per
// difference.
func shapeDiff(want, got any, path string, extras []string, isError bool) []string {
	var diffs []string
	extra := func(p string) bool {
		for _, x := range extras {
			if p == x || strings.HasPrefix(p, x+".") || strings.HasPrefix(p, x+"[]") {
				return true
			}
		}
		return false
	}
	var walk func(want, got any, path string)
	walk = func(want, got any, path string) {
		if want == nil {
			return // the spec shows null: any type may stand there
		}
		if got == nil {
			if _, ok := conformanceNullable[path]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s: null, spec has %s", orRoot(path), jsonType(want)))
			}
			return
		}
		if jsonType(want) != jsonType(got) {
			diffs = append(diffs, fmt.Sprintf("%s: %s, spec has %s (%v)", orRoot(path), jsonType(got), jsonType(want), want))
			return
		}
		switch w := want.(type) {
		case string:
			if isoOffsetRe.MatchString(w) && !isoOffsetRe.MatchString(got.(string)) {
				diffs = append(diffs, fmt.Sprintf("%s: %q is not ISO-8601 with offset like the spec's %q", orRoot(path), got, w))
			}
		case map[string]any:
			g := got.(map[string]any)
			for k, wv := range w {
				gv, ok := g[k]
				if !ok {
					diffs = append(diffs, fmt.Sprintf("%s: missing", join(path, k)))
					continue
				}
				walk(wv, gv, join(path, k))
			}
			for k := range g {
				if _, ok := w[k]; ok {
					continue
				}
				if isError && path == "" && slices.Contains(errorExtras, k) {
					continue
				}
				if !extra(join(path, k)) {
					diffs = append(diffs, fmt.Sprintf("%s: not in the spec's example (allow it in conformanceExtras if documented)", join(path, k)))
				}
			}
		case []any:
			g := got.([]any)
			if len(w) == 0 {
				return
			}
			if len(g) == 0 {
				diffs = append(diffs, fmt.Sprintf("%s: empty, spec has items (seed data for them)", orRoot(path)))
				return
			}
			union, always := mergeItems(w)
			for _, gv := range g {
				if gm, ok := gv.(map[string]any); ok && union != nil {
					for k := range always {
						if _, ok := gm[k]; !ok {
							diffs = append(diffs, fmt.Sprintf("%s: missing", join(path+"[]", k)))
						}
					}
					for k, gvv := range gm {
						wv, ok := union[k]
						if !ok {
							if !extra(join(path+"[]", k)) {
								diffs = append(diffs, fmt.Sprintf("%s: not in the spec's example (allow it in conformanceExtras if documented)", join(path+"[]", k)))
							}
							continue
						}
						walk(wv, gvv, join(path+"[]", k))
					}
					continue
				}
				walk(w[0], gv, path+"[]")
			}
		}
	}
	walk(want, got, path)
	slices.Sort(diffs)
	return slices.Compact(diffs)
}

// mergeItems merges the object items of a spec list: union holds each field
// with its first non-null example value, always the fields every item has.
func mergeItems(items []any) (union map[string]any, always map[string]bool) {
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, nil
		}
		if union == nil {
			union, always = map[string]any{}, map[string]bool{}
		}
		for k, v := range m {
			if cur, seen := union[k]; !seen || cur == nil {
				union[k] = v
			}
			if i == 0 {
				always[k] = true
			}
		}
		for k := range always {
			if _, ok := m[k]; !ok {
				delete(always, k)
			}
		}
	}
	return union, always
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func orRoot(path string) string {
	if path == "" {
		return "(body)"
	}
	return path
}

// loadExamples reads the spec's examples, skipping the test when the spec is
// not there.
func loadExamples(t *testing.T) []specExample {
	t.Helper()
	b, err := os.ReadFile(specPath(t))
	require.NoError(t, err)
	exs, err := parseSpecExamples(string(b))
	require.NoError(t, err)
	require.NotEmpty(t, exs)
	return exs
}

// exampleTarget is the example's URL made sendable (the spec writes spaces in
// query values) and the pattern of this server that serves it ("" = none).
func exampleTarget(srv *server, ex specExample) (string, string) {
	target := strings.ReplaceAll(ex.URL, " ", "%20")
	req, err := http.NewRequest(ex.Method, target, nil)
	if err != nil {
		return target, ""
	}
	_, pattern := srv.mux.Handler(req)
	return target, pattern
}

// substituteIDs replaces the example's ids in target by the seed's, segment by
// segment where the pattern has a wildcard.
func substituteIDs(sd *confSeed, pattern, target string) string {
	_, ppath, _ := strings.Cut(pattern, " ")
	path, query, _ := strings.Cut(target, "?")
	ps, ts := strings.Split(ppath, "/"), strings.Split(path, "/")
	for i := range ts {
		if i >= len(ps) || !strings.HasPrefix(ps[i], "{") || ps[i] == "{$}" {
			continue
		}
		switch prev := ps[i-1]; prev {
		case "vending_machines":
			ts[i] = strconv.FormatInt(sd.vm.ID, 10)
		case "modems":
			ts[i] = strconv.FormatInt(sd.modem.ID, 10)
		case "requisites":
			ts[i] = strconv.FormatInt(sd.requisite.ID, 10)
		case "groups":
			ts[i] = strconv.FormatInt(sd.group.ID, 10)
		case "request":
			ts[i] = strconv.FormatInt(sd.reqID, 10)
		case "reports":
			ts[i] = strconv.FormatInt(sd.audit(), 10)
		case "planograms":
			ts[i] = strconv.FormatInt(sd.catalogue().plano, 10)
		case "products":
			ts[i] = strconv.FormatInt(sd.catalogue().espresso, 10)
		case "components": // of a product's recipe
			ts[i] = strconv.FormatInt(sd.catalogue().coffee, 10)
		case "locations":
			ts[i] = strconv.FormatInt(sd.seedLocation(), 10)
		}
	}
	out := strings.Join(ts, "/")
	if query != "" {
		out += "?" + query
	}
	return out
}

func TestConformance(t *testing.T) {
	exs := loadExamples(t)
	probe := newEnv(t).h.(*server)
	var unfixed []string
	for _, ex := range exs {
		target, pattern := exampleTarget(probe, ex)
		name := fmt.Sprintf("%s_%s_line%d", ex.Method, ex.Template, ex.Line)
		fx, fixed := conformanceFixtures[pattern]
		if pattern != "" && !fixed {
			unfixed = append(unfixed, fmt.Sprintf("%q (spec line %d)", pattern, ex.Line))
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel() // each example seeds a gateway of its own
			if pattern == "" {
				t.Skipf("%s %s (spec line %d) is not served", ex.Method, ex.Template, ex.Line)
			}
			if !fixed {
				t.Skipf("no conformance fixture for %q (spec line %d): add one to conformanceFixtures", pattern, ex.Line)
			}
			require.NotEmpty(t, ex.Resps, "the spec documents no response")
			// One gateway per example (seeding costs most of the time under
			// -race); its responses do not disturb each other.
			sd := seedConformance(t)
			for _, want := range ex.Resps {
				t.Run(strconv.Itoa(want.Status), func(t *testing.T) {
					cr, skip := fx(sd, ex, want.Status)
					if skip != "" {
						t.Skip(skip)
					}
					path := cr.path
					if path == "" {
						path = substituteIDs(sd, pattern, target)
					}
					body := cr.body
					if body == nil {
						body = ex.Request
					}
					if body == noBody {
						body = nil
					}
					if _, ok := body.(string); ok { // the spec's "?full=1" pseudo-body
						body = nil
					}
					tok := cr.token
					switch tok {
					case "":
						tok = sd.tok
					case "-":
						tok = ""
					}
					if body != nil {
						raw, err := json.Marshal(body)
						require.NoError(t, err)
						body = string(raw)
					}
					got := sd.e.do(ex.Method, path, tok, body)
					require.Equalf(t, want.Status, got.Status, "%s %s (spec line %d): body %s", ex.Method, path, want.Line, got.Raw)
					// The response also matches what openapi.json documents.
					schema, doc := openAPIResponseSchema(t, pattern, got.Status)
					require.Emptyf(t, schemaDiff(doc, schema, got.Body, ""), "%s %s → %d differs from openapi.json; body: %s",
						ex.Method, path, got.Status, got.Raw)
					if want.Status >= 400 {
						requireError(t, got, want.Status, "")
						if w, ok := want.Body.(map[string]any); ok {
							if sub, ok := w["subcode"].(string); ok {
								require.Equal(t, sub, got.obj(t)["subcode"], "documented subcode (spec line %d)", want.Line)
							}
						}
					}
					if want.Body == nil {
						return
					}
					diffs := shapeDiff(want.Body, got.Body, "", conformanceExtras[pattern], want.Status >= 400)
					diffs = slices.DeleteFunc(diffs, func(d string) bool {
						_, known := conformanceKnownDiffs[confDiffKey(pattern, want.Status, d)]
						return known
					})
					require.Emptyf(t, diffs, "%s %s → %d differs from the spec's example at line %d:\n  %s\nbody: %s",
						ex.Method, path, got.Status, want.Line, strings.Join(diffs, "\n  "), got.Raw)
				})
			}
		})
	}
	if len(unfixed) > 0 {
		t.Logf("routes with spec examples but no conformance fixture: %s", strings.Join(unfixed, ", "))
	}
}

// TestConformanceCoversOwnRoutes makes sure the fixtures stay in use: every
// fixture names a pattern this server registers and that has a spec example.
func TestConformanceFixturesUsed(t *testing.T) {
	exs := loadExamples(t)
	srv := newEnv(t).h.(*server)
	served := map[string]bool{}
	for _, ex := range exs {
		if _, p := exampleTarget(srv, ex); p != "" {
			served[p] = true
		}
	}
	for p := range conformanceFixtures {
		require.Truef(t, served[p], "fixture %q matches no spec example served by this server", p)
	}
	for p := range conformanceExtras {
		require.Containsf(t, conformanceFixtures, p, "extras for %q without a fixture", p)
	}
	for k := range conformanceKnownDiffs {
		p, _, _ := strings.Cut(k, " → ")
		require.Containsf(t, conformanceFixtures, p, "known diff %q without a fixture", k)
	}
}

func TestShapeDiff(t *testing.T) {
	spec := map[string]any{"id": json.Number("1"), "name": "x", "when": "2015-12-22T12:09:20+03:00", "tags": []any{"a"},
		"items": []any{map[string]any{"a": json.Number("1")}, map[string]any{"a": json.Number("2"), "b": "opt"}}, "n": nil}
	cases := []struct {
		name string
		got  map[string]any
		want []string
	}{
		{"same", map[string]any{"id": json.Number("7"), "name": "y", "when": "2024-05-10T12:00:00+00:00", "tags": []any{"z"},
			"items": []any{map[string]any{"a": json.Number("3")}}, "n": true}, nil},
		{"wrong type", map[string]any{"id": "7", "name": "y", "when": "2024-05-10T12:00:00+00:00", "tags": []any{"z"},
			"items": []any{map[string]any{"a": json.Number("3"), "b": json.Number("1")}}, "n": nil},
			[]string{"id: string, spec has number (1)", "items[].b: number, spec has string (opt)"}},
		{"missing, extra, null, bad time", map[string]any{"id": json.Number("7"), "name": nil, "when": "2024-05-10 12:00:00",
			"tags": []any{}, "items": []any{map[string]any{"c": true}}, "x": json.Number("1")},
			[]string{"items[].a: missing", "items[].c: not in the spec's example (allow it in conformanceExtras if documented)",
				"n: missing", "name: null, spec has string", "tags: empty, spec has items (seed data for them)",
				`when: "2024-05-10 12:00:00" is not ISO-8601 with offset like the spec's "2015-12-22T12:09:20+03:00"`,
				"x: not in the spec's example (allow it in conformanceExtras if documented)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, shapeDiff(spec, c.got, "", nil, false))
		})
	}
	require.Empty(t, shapeDiff(spec, map[string]any{"id": json.Number("1"), "name": "x", "when": "2015-12-22T12:09:20+03:00",
		"tags": []any{"a"}, "items": []any{map[string]any{"a": json.Number("1")}}, "n": nil, "x": "1"}, "", []string{"x"}, false),
		"allow-listed extra")
	require.Empty(t, shapeDiff(map[string]any{"message": "m"}, map[string]any{"message": "n", "subcode": "E404"}, "", nil, true),
		"errors may add subcode")
}

func TestParseLoose(t *testing.T) {
	cases := []struct {
		name, in string
		want     any
	}{
		{"php array", `{ "res" => true, "errors" => [ "phone" => [ "too long" ] ] }`,
			map[string]any{"res": true, "errors": map[string]any{"phone": []any{"too long"}}}},
		{"unquoted keys, trailing comma, comment", "[ { component_id: 1, /* c */ layout_number: 'A1', }, ]",
			[]any{map[string]any{"component_id": json.Number("1"), "layout_number": "A1"}}},
		{"missing commas", "{\n \"id\": 496\n \"ok\": false\n}", map[string]any{"id": json.Number("496"), "ok": false}},
		{"broken pair string", `{"tz_id : 109", "tz : America/Grenada", "x": null}`,
			map[string]any{"tz_id": json.Number("109"), "tz": "America/Grenada", "x": nil}},
		{"placeholder and stray escape", `{"digest" : <digest>, "d": "a\r\ b"}`, map[string]any{"digest": "<digest>", "d": "a\r b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseLoose(c.in)
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
	for _, bad := range []string{`{"a": }`, `[1, 2`, `{"a" 1}`, `tru`, `"open`} {
		_, err := parseLoose(bad)
		require.Errorf(t, err, "%q", bad)
	}
}

// decodeNumber is json.Unmarshal with UseNumber, refusing trailing data.
func decodeNumber(s string, v *any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}
