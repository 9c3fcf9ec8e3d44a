package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkVMList measures GET /v2/vending_machines over 100 machines with
// online modems (auth lookup, two list queries, JSON), without the network.
func BenchmarkVMList(b *testing.B) {
	e := newEnv(b)
	for i := 0; i < 100; i++ {
		m := e.modem(fmt.Sprintf("8600000000%05d", i), 1)
		e.online(m.ID, "mdb", nil)
		e.machine(fmt.Sprintf("VM %d", i), 1, m.ID, "Europe/Moscow")
	}
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/v2/vending_machines?local=1", nil)
		req.Header.Set("Authorization", "Bearer "+e.operTok)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
		}
	}
}

// BenchmarkVMReset measures an authenticated command submission (fake
// Commander storing the command in SQLite).
func BenchmarkVMReset(b *testing.B) {
	e := newEnv(b)
	m := e.modem("860000000000001", 1)
	vm := e.machine("VM", 1, m.ID, "")
	path := fmt.Sprintf("/v2/vending_machines/%d/reset", vm.ID)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, path, nil)
		req.Header.Set("Authorization", "Bearer "+e.operTok)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
		}
	}
}
