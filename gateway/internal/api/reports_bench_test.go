package api

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"vendgate/internal/proccpu"
)

// Fleet size of BenchmarkReportsFleet. The vend count defaults to a million
// (quick); VENDGATE_BENCH_VENDS=10000000 runs the target size.
const (
	benchMachines = 10_000
	benchVends    = 1_000_000
	benchDays     = 30
)

// benchVendCount is VENDGATE_BENCH_VENDS when set to a positive integer,
// else benchVends.
func benchVendCount(b *testing.B) int {
	v := os.Getenv("VENDGATE_BENCH_VENDS")
	if v == "" {
		return benchVends
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("VENDGATE_BENCH_VENDS=%q: want a positive integer", v)
	}
	return n
}

// seedFleet bulk-inserts machines with bound modems and vends straight into
// the database file (one transaction, prepared statements), bypassing the
// ingest path; the triggers on vends (vend_hours, ...) still run. The
// indexes of vends are dropped for the insert and rebuilt after it: SQLite
// builds an index from sorted keys far faster than it inserts 10 M random
// keys into a B-tree that outgrows the page cache.
func seedFleet(b *testing.B, path string, machines, vends int) {
	b.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)&_pragma=cache_size(-1000000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var names, idx []string
	rows, err := db.Query(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'vends' AND sql IS NOT NULL`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var name, q string
		if err := rows.Scan(&name, &q); err != nil {
			b.Fatal(err)
		}
		names, idx = append(names, name), append(idx, q)
	}
	if err := rows.Close(); err != nil {
		b.Fatal(err)
	}
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
	for _, name := range names {
		if _, err := tx.Exec(`DROP INDEX "` + name + `"`); err != nil {
			b.Fatal(err)
		}
	}
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
	for _, q := range idx {
		if _, err := tx.Exec(q); err != nil {
			b.Fatal(err)
		}
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
	vends := benchVendCount(b)
	seedFleet(b, e.st.Path(), benchMachines, vends)
	b.Logf("seeded %d machines, %d vends in %v", benchMachines, vends, time.Since(start).Round(time.Second))
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
			// The first request runs on cold caches (SQLite pages, the
			// machine list's full read): reported apart as first-ms, so
			// that p99-ms is the steady state.
			first := serveFleet(b, e, tc.path)
			var ds []time.Duration
			cpu0 := proccpu.Used()
			for b.Loop() {
				ds = append(ds, serveFleet(b, e, tc.path))
			}
			b.ReportMetric(ms(proccpu.Used()-cpu0)/float64(len(ds)), "cpu-ms/op")
			slices.Sort(ds)
			b.ReportMetric(ms(ds[len(ds)*99/100]), "p99-ms")
			b.ReportMetric(ms(first), "first-ms") // after the loop: b.Loop's reset clears metrics
		})
	}
	// VMListChurn: before each request 100 random modems report (last_seen
	// moves, as heartbeats do), so every request re-reads the changed rows.
	db, err := sql.Open("sqlite", e.st.Path()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.Run("VMListChurn100", func(b *testing.B) {
		var ds []time.Duration
		var cpu time.Duration
		for b.Loop() {
			b.StopTimer()
			if _, err := db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
				UPDATE modems SET last_seen = last_seen + 1000 WHERE id IN (SELECT 1000001 + abs(random()) % ? FROM n)`, benchMachines); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			c0 := proccpu.Used()
			ds = append(ds, serveFleet(b, e, "/v2/vending_machines"))
			cpu += proccpu.Used() - c0
		}
		b.ReportMetric(ms(cpu)/float64(len(ds)), "cpu-ms/op")
		slices.Sort(ds)
		b.ReportMetric(ms(ds[len(ds)*99/100]), "p99-ms")
	})
}

// serveFleet serves one GET as the admin and returns its latency.
func serveFleet(b *testing.B, e *env, path string) time.Duration {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+e.adminTok)
	rec := httptest.NewRecorder()
	t := time.Now()
	e.h.ServeHTTP(rec, req)
	d := time.Since(t)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
	}
	return d
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
