package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

func TestRegistersCRUD(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/v2/registers", e.adminTok, map[string]any{"name": "Касса 1", "station_id": "st-7",
		"ip": "10.0.0.5", "port": 8080, "location": "зал", "poll_interval": 30})
	require.Equal(t, 201, r.Status, "%s", r.Raw)
	id := num(r.obj(t)["resource"].(map[string]any)["id"])

	r = e.do("GET", fmt.Sprintf("/v2/registers/%d", id), e.operTok, nil)
	require.Equal(t, 200, r.Status)
	obj := r.obj(t)
	requireShape(t, obj, map[string]string{"id": "number", "name": "string", "station_id": "string", "base_url": "string",
		"ip": "string", "port": "number", "location": "string", "enabled": "bool", "poll_interval": "number",
		"created_at": "string", "updated_at": "string", "status": "null"})
	assert.Equal(t, "http://10.0.0.5:8080", obj["base_url"])

	r = e.do("GET", fmt.Sprintf("/v2/registers/%d/status", id), e.operTok, nil)
	require.Equal(t, 200, r.Status)
	assert.Equal(t, "-1", fmt.Sprint(r.obj(t)["status"]))

	var regs store.Registers = e.st
	st := store.RegisterState{RegisterID: id, Status: 5, Since: t0, Checked: t0, Alerts: []string{"paper_out"},
		Endpoints: []store.RegisterEndpoint{{Endpoint: "paper", Code: 401, Outcome: "auth", Error: "refused", At: t0},
			{Endpoint: "ofd", Outcome: "conn", Error: "refused", At: t0}}}
	require.NoError(t, regs.SaveRegisterStates(context.Background(), []store.RegisterState{st}, nil))
	r = e.do("GET", fmt.Sprintf("/v2/registers/%d/status", id), e.operTok, nil)
	require.Equal(t, 200, r.Status)
	so := r.obj(t)
	assert.Equal(t, "5", fmt.Sprint(so["status"]))
	assert.Equal(t, "login_refused", so["status_text"])
	eps := so["endpoints"].([]any)
	require.Len(t, eps, 2)
	assert.Equal(t, "401", fmt.Sprint(eps[0].(map[string]any)["code"]))
	assert.Nil(t, eps[1].(map[string]any)["code"], "no answer: null code")

	r = e.do("PUT", fmt.Sprintf("/v2/registers/%d", id), e.adminTok, map[string]any{"base_url": "http://reg.local:81/ukm/", "enabled": false, "poll_interval": nil})
	require.Equal(t, 200, r.Status, "%s", r.Raw)
	r = e.do("GET", "/v2/registers", e.adminTok, nil)
	require.Equal(t, 200, r.Status)
	list := r.arr(t)
	require.Len(t, list, 1)
	one := list[0].(map[string]any)
	assert.Equal(t, "http://reg.local:81/ukm", one["base_url"])
	assert.Equal(t, false, one["enabled"])
	assert.Nil(t, one["poll_interval"])
	assert.Equal(t, "Касса 1", one["name"], "unchanged fields kept")
	assert.NotNil(t, one["status"])

	// Other companies see nothing; operators cannot write.
	requireError(t, e.do("GET", fmt.Sprintf("/v2/registers/%d", id), e.otherTok, nil), 404, SubNotFound)
	assert.Empty(t, e.do("GET", "/v2/registers", e.otherTok, nil).arr(t))
	requireError(t, e.do("DELETE", fmt.Sprintf("/v2/registers/%d", id), e.otherTok, nil), 404, SubNotFound)
	requireError(t, e.do("PUT", fmt.Sprintf("/v2/registers/%d", id), e.operTok, map[string]any{"name": "x"}), 403, SubForbidden)
	requireError(t, e.do("GET", "/v2/registers", "", nil), 401, SubUnauthorized)

	requireError(t, e.do("POST", "/v2/registers", e.adminTok, map[string]any{"name": "Касса 1", "base_url": "http://h:1"}), 422, SubInvalid)
	r = e.do("DELETE", fmt.Sprintf("/v2/registers/%d", id), e.adminTok, nil)
	require.Equal(t, 200, r.Status)
	requireError(t, e.do("GET", fmt.Sprintf("/v2/registers/%d", id), e.adminTok, nil), 404, SubNotFound)
	requireError(t, e.do("GET", "/v2/registers/abc", e.adminTok, nil), 404, SubNotFound)
}

func TestRegistersValidation(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		body   any
		fields []string
	}{
		{"empty", map[string]any{}, []string{"name", "base_url"}},
		{"blank name", map[string]any{"name": "  ", "base_url": "http://h:1"}, []string{"name"}},
		{"bad url", map[string]any{"name": "a", "base_url": "ftp://h"}, []string{"base_url"}},
		{"url with query", map[string]any{"name": "a", "base_url": "http://h:1/?x=1"}, []string{"base_url"}},
		{"bad ip", map[string]any{"name": "a", "ip": "not-an-ip", "port": 80}, []string{"ip"}},
		{"no port", map[string]any{"name": "a", "ip": "10.0.0.1"}, []string{"port"}},
		{"port range", map[string]any{"name": "a", "ip": "10.0.0.1", "port": 70000}, []string{"port"}},
		{"poll range", map[string]any{"name": "a", "base_url": "http://h:1", "poll_interval": 0}, []string{"poll_interval"}},
		{"types", map[string]any{"name": 5, "base_url": "http://h:1", "enabled": "maybe", "station_id": []int{1}}, []string{"name", "enabled", "station_id"}},
		{"long name", map[string]any{"name": strings.Repeat("я", 256), "base_url": "http://h:1"}, []string{"name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := requireError(t, e.do("POST", "/v2/registers", e.adminTok, tc.body), 422, SubInvalid)
			assert.ElementsMatch(t, tc.fields, fieldErrors(t, obj))
		})
	}
	requireError(t, e.do("POST", "/v2/registers", e.adminTok, `[1]`), 400, SubMalformed)
}

func FuzzRegisterBody(f *testing.F) {
	f.Add(`{"name":"a","base_url":"http://h:1"}`)
	f.Add(`{"name":"a","ip":"::1","port":"80","enabled":"1","poll_interval":"60"}`)
	f.Add(`{"name":null}`)
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		for _, m := range []struct{ method, path string }{{"POST", "/v2/registers"}, {"PUT", "/v2/registers/1"}} {
			req := httptest.NewRequest(m.method, m.path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+e.adminTok)
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %q: %d %s", m.method, body, rec.Code, rec.Body)
			}
			if rec.Code != http.StatusCreated && rec.Code != http.StatusOK && rec.Code < 400 {
				t.Fatalf("%s %q: %d", m.method, body, rec.Code)
			}
		}
	})
}
