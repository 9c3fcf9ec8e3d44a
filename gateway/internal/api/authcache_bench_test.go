package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"vendgate/internal/proccpu"
)

// reportCPU reports the process CPU per operation ("cpu-us/op"): on a machine
// shared with other jobs it moves far less than ns/op.
func reportCPU(b *testing.B) func() {
	start := proccpu.Used()
	return func() {
		b.ReportMetric(float64((proccpu.Used()-start).Microseconds())/float64(b.N), "cpu-us/op")
	}
}

// BenchmarkRESTHot measures hot authenticated calls through the real handler
// on a file SQLite store, without the network, with and without the session
// cache: GET of an open request (token, user, machine, group visibility and
// request look-ups), POST reset (the same plus a command insert) and GET
// /v2/modems (an operator's empty list: little but authentication). The
// operator sees the machine through a group, the costlier visibility rule.
func BenchmarkRESTHot(b *testing.B) {
	for _, ttl := range []time.Duration{-1, DefaultAuthCacheTTL} {
		cache := "session-cache"
		if ttl < 0 {
			cache = "no-session-cache"
		}
		b.Run(cache, func(b *testing.B) {
			e := newEnv(b, func(c *Config) { c.AuthCacheTTL = ttl })
			m := e.modem("860000000000001", 1)
			vm := e.machine("VM", 1, m.ID, "")
			accessGrant(b, e, e.oper, vm)
			rq, _, err := e.st.OpenRequest(context.Background(), vm.ID, true, false, t0)
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range []struct{ name, method, path string }{
				{"get-request", http.MethodGet, fmt.Sprintf("/v2/vending_machines/%d/request/%d", vm.ID, rq.ID)},
				{"post-reset", http.MethodPost, fmt.Sprintf("/v2/vending_machines/%d/reset", vm.ID)},
				{"get-modems", http.MethodGet, "/v2/modems"},
			} {
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					defer reportCPU(b)()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							req := httptest.NewRequest(c.method, c.path, nil)
							req.Header.Set("Authorization", "Bearer "+e.operTok)
							rec := httptest.NewRecorder()
							e.h.ServeHTTP(rec, req)
							if rec.Code != http.StatusOK {
								b.Errorf("status %d: %s", rec.Code, rec.Body.Bytes())
								return
							}
						}
					})
				})
			}
		})
	}
}
