package api

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// Fleet size of BenchmarkReportsFleet. 10 M vends take too long to seed here
// (~10 min); the per-request costs scale as noted in the report.
const (
	benchMachines = 10_000
	benchVends    = 1_000_000
	benchDays     = 30
)

// seedFleet bulk-inserts machines with bound modems and vends straight into
// the database file (one transaction, prepared statements), bypassing the
// ingest path; the vend_hours triggers still run.
func seedFleet(b *testing.B, path string, machines, vends int) {
	b.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	mo, _ := tx.Prepare(`INSERT INTO modems (id, company_id, imei, online, epoch, last_seen, last_hb, hb_interval, bus)
		VALUES (?, 1, ?, 1, 1, ?, ?, 60, 'mdb')`)
	vm, _ := tx.Prepare(`INSERT INTO machines (id, company_id, name, modem_id, tz, created_at) VALUES (?, 1, ?, ?, 'Europe/Moscow', ?)`)
	now := t0.UnixMilli()
	for i := 1; i <= machines; i++ {
		id := int64(1_000_000 + i)
		if _, err := mo.Exec(id, fmt.Sprintf("86%013d", i), now, now); err != nil {
			b.Fatal(err)
		}
		if _, err := vm.Exec(id, fmt.Sprintf("VM %d", i), id, now); err != nil {
			b.Fatal(err)
		}
	}
	// Vends are generated inside SQLite (a recursive CTE): a million Exec
	// round trips through the driver would dominate the benchmark's run time.
	span := int64(benchDays) * 24 * 3600 * 1000
	if _, err := tx.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?),
		r(i, vm, a, b, c) AS (SELECT i, 1000001 + abs(random()) % ?, abs(random()), abs(random()), abs(random()) FROM n)
		INSERT INTO vends (modem_id, vm_id, msg_id, selection, price, payment, type, ok, time)
		SELECT vm, vm, i, 1 + a % 40,
			CASE WHEN b % 20 = 0 THEN 0 ELSE 5000 + (a % 20) * 500 END,
			CASE WHEN b % 20 = 0 THEN 'none' ELSE CASE c % 4 WHEN 0 THEN 'cash' WHEN 3 THEN 'token' ELSE 'cashless' END END,
			CASE WHEN b % 20 = 0 THEN 'free' ELSE 'paid' END,
			c % 50 != 0, ? - (a / 7) % ?
		FROM r`, vends, machines, now, span); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReportsFleet seeds benchMachines machines and benchVends vends over
// benchDays days and reports the p99 latency (p99-ms) of the fleet read paths
// through the whole handler (auth, store, JSON), without the network.
func BenchmarkReportsFleet(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds a million vends")
	}
	e := newEnv(b)
	start := time.Now()
	seedFleet(b, e.st.Path(), benchMachines, benchVends)
	b.Logf("seeded %d machines, %d vends in %v", benchMachines, benchVends, time.Since(start).Round(time.Second))
	vm := int64(1_000_000 + benchMachines/2)
	month := fmt.Sprintf("since=%s&until=%s", t0.AddDate(0, 0, -30).Format("2006-01-02T15:04:05Z"), t0.Format("2006-01-02T15:04:05Z"))
	week := fmt.Sprintf("since=%s&until=%s", t0.AddDate(0, 0, -7).Add(17*time.Minute).Format("2006-01-02T15:04:05Z"),
		t0.Add(-3*time.Minute).Format("2006-01-02T15:04:05Z"))
	for _, tc := range []struct{ name, path string }{
		{"VMList", "/v2/vending_machines"},
		{"VMSummaryMonth", fmt.Sprintf("/v2/vending_machines/%d/stats/vends/summary?%s", vm, month)},
		{"VMProductsMonth", fmt.Sprintf("/v2/vending_machines/%d/stats/vends/products?%s", vm, month)},
		{"FleetSummaryDay", "/v2/stats/vends/summary"},
		{"FleetSummaryWeek", "/v2/stats/vends/summary?" + week},
		{"FleetPaymentsWeek", "/v2/stats/vends/payments/summary?" + week},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, tc.path, nil)
				req.Header.Set("Authorization", "Bearer "+e.adminTok)
				rec := httptest.NewRecorder()
				t := time.Now()
				e.h.ServeHTTP(rec, req)
				ds = append(ds, time.Since(t))
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
				}
			}
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
