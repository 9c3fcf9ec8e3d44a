package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"vendgate/gateway/internal/store"
)

// BenchmarkVMList measures GET /v2/vending_machines over 100 machines with
// online modems seen by an operator through a group (auth lookup, list
// queries, visibility filter, JSON), without the network.
func BenchmarkVMList(b *testing.B) {
	e := newEnv(b)
	vms := make([]store.Machine, 0, 100)
	for i := 0; i < 100; i++ {
		m := e.modem(fmt.Sprintf("8600000000%05d", i), 1)
		e.online(m.ID, "mdb", nil)
		vms = append(vms, e.machine(fmt.Sprintf("VM %d", i), 1, m.ID, "Europe/Moscow"))
	}
	accessGrant(b, e, e.oper, vms...) // the operator's group holds them all
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
	accessGrant(b, e, e.oper, vm)
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
