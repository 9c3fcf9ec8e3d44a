package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fuzzBody posts body to path through the handler and fails on any 5xx or on
// an answer that is not a JSON object or array.
func fuzzBody(t *testing.T, e *env, method, path, token string, body []byte) {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s %s with %q: status %d: %s", method, path, body, rec.Code, rec.Body.Bytes())
	}
	var v any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("answer is not JSON: %q", rec.Body.Bytes())
	}
	if rec.Code >= 400 {
		obj, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("error body is not an object: %q", rec.Body.Bytes())
		}
		if _, ok := obj["message"].(string); !ok {
			t.Fatalf("error body has no message: %q", rec.Body.Bytes())
		}
	}
}

var machineSeeds = []string{
	`{"name":"Настольный кофейник","serial_number":"234441X8347CF","planogram_id":1,"location_id":42,"mm_id":1,"imei":"860000000000001","tz":"Europe/Moscow"}`,
	`{"name":"a","modem_id":1,"force":1,"is_crt_active":"1","min_price":1,"max_price":0}`,
	`{"name":null,"tz":"../x","tz_id":"9223372036854775808","planogram_id":-1}`,
	`{"name":["a"],"mm_id":{"x":1},"track_bus_vends":2.5}`,
	`{"name":"\u0000","imei":"","modem_id":null}`,
	`[]`, `null`, `{`, ``, `{"name":"a"}{"name":"b"}`, `1e999`,
}

func FuzzVMCreateBody(f *testing.F) {
	for _, s := range machineSeeds {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	m := e.modem("860000000000001", 1)
	e.machine("bound", 1, m.ID, "")
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, e, http.MethodPost, "/v2/vending_machines", e.adminTok, body)
		fuzzBody(t, e, http.MethodPut, "/v2/vending_machines/1", e.adminTok, body)
	})
}

func FuzzSetBody(f *testing.F) {
	for _, s := range []string{
		`{"cashless_mode":1,"cashless_address":1,"cashless_credit":"100.50,6,1"}`,
		`{"cashless_credit":"0.01,,0"}`, `{"cashless_credit":12.5}`, `{"cashless_credit":"9999999999999.99"}`,
		`{"cashless_mode":"true","cashless_address":"2"}`, `{"cashless_address":1e3}`,
		`{"cashless_credit":",,"}`, `{}`, `null`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	m := e.modem("860000000000001", 1)
	path := fmt.Sprintf("/v2/modems/%d/set", m.ID)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, e, http.MethodPost, path, e.adminTok, body)
	})
}
