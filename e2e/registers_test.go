package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"testing"
	"time"

	"vendgate/emulator/petrosoft"
	"vendgate/emulator/ukm5"
	"vendgate/gateway"
)

// registersOutage is how long the monitoring API stays down in
// TestRegisters200 beyond the time the changes take to appear: a minute, as
// the issue asks; E2E_REGISTERS_OUTAGE=3s shortens it for a quick local run.
var registersOutage = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("E2E_REGISTERS_OUTAGE")); err == nil {
		return d
	}
	return time.Minute
}()

type regStatusJSON struct {
	Status int      `json:"status"`
	Alerts []string `json:"alerts"`
}

type regJSON struct {
	ID        int64          `json:"id"`
	Name      string         `json:"name"`
	StationID string         `json:"station_id"`
	Status    *regStatusJSON `json:"status"`
}

// TestRegisters200 runs 200 emulated UKM5 registers (one port each) against a
// gateway pushing to an emulated Petrosoft monitoring API: faults show in the
// REST status and are pushed within two poll cycles, an outage of the
// monitoring API and a gateway restart lose no change and keep the order per
// station, and no register ever sees two requests less than a second apart.
func TestRegisters200(t *testing.T) {
	if testing.Short() {
		t.Skip("register e2e skipped in -short mode")
	}
	const (
		n        = 200
		interval = 8 * time.Second // a cycle is 7 requests ≥ 1 s apart
		cycles2  = 2*interval + 4*time.Second
		token    = "e2e-petrosoft-token"
	)
	fleet := ukm5.New(ukm5.Config{N: n, Seed: 7, Slow: 3 * time.Second})
	urls, err := fleet.ListenEach("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fleet.Close)
	ps := petrosoft.New(petrosoft.Config{Token: token})
	psSrv := httptest.NewServer(ps)
	t.Cleanup(psSrv.Close)

	cfg := gateway.RegistersConfig{Interval: gateway.Duration(interval), Timeout: gateway.Duration(time.Second),
		Reload: gateway.Duration(500 * time.Millisecond), Workers: 64,
		Monitoring: gateway.MonitoringConfig{URL: ps.URL(psSrv.URL), Token: token, KeepAlive: gateway.Duration(-1),
			RetryMin: gateway.Duration(200 * time.Millisecond), RetryMax: gateway.Duration(time.Second)}}
	for i, u := range urls {
		cfg.Registers = append(cfg.Registers, gateway.RegisterConfig{Name: fmt.Sprint("pos-", i), StationID: fmt.Sprint("st-", i), URL: u})
	}
	dir := t.TempDir()
	g := startGateway(t, dir, "127.0.0.1:0", nil)
	startRegs := func(g *gw) func() {
		stop, err := g.StartRegisters(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		return stop
	}
	stopRegs := startRegs(g)

	list := func(g *gw) map[string]regJSON {
		var out []regJSON
		g.api(t, "GET", "/v2/registers", nil, 200, &out)
		m := map[string]regJSON{}
		for _, r := range out {
			m[r.Name] = r
		}
		return m
	}
	statusOf := func(r regJSON) int {
		if r.Status == nil {
			return -1
		}
		return r.Status.Status
	}
	pushed := func(i int) []int {
		var out []int
		for _, p := range ps.Pushes(fmt.Sprint("st-", i)) {
			out = append(out, p.Status)
		}
		return out
	}

	// 1. Every register online and pushed once.
	eventually(t, 5*time.Second+cycles2, "all registers online and pushed", func() bool {
		m := list(g)
		for i := range n {
			if statusOf(m[fmt.Sprint("pos-", i)]) != 0 || len(ps.Pushes(fmt.Sprint("st-", i))) != 1 {
				t.Logf("pos-%d: status %d, pushes %v, emulator %+v", i, statusOf(m[fmt.Sprint("pos-", i)]), pushed(i), fleet.Register(i).Stats())
				return false
			}
		}
		return true
	})

	// 2. Faults during an outage of the monitoring API: shown over REST within
	// two cycles, queued, then delivered in order after the outage and a
	// gateway restart.
	faults := []struct {
		f    ukm5.Fault
		want int
	}{{ukm5.FaultDown, 2}, {ukm5.FaultSlow, 2}, {ukm5.Fault401, 5}, {ukm5.Fault500, 3}, {ukm5.FaultMalformed, 3}, {ukm5.FaultHangup, 6}}
	ps.SetMode(petrosoft.ModeDown, 0)
	for i, f := range faults {
		if err := fleet.Register(i).SetFault(f.f); err != nil {
			t.Fatal(err)
		}
	}
	fleet.Register(10).Update(func(s *ukm5.State) { s.Paper = false })
	eventually(t, cycles2, "faults and paper-out shown over REST", func() bool {
		m := list(g)
		for i, f := range faults {
			if statusOf(m[fmt.Sprint("pos-", i)]) != f.want {
				return false
			}
		}
		r := m["pos-10"]
		return r.Status != nil && slices.Contains(r.Status.Alerts, "paper_out")
	})
	if d := g.metric(t, "vendgate_register_outbox_depth"); d < float64(len(faults)) {
		t.Fatalf("outbox depth %v during the outage, want at least %d", d, len(faults))
	}
	time.Sleep(registersOutage)
	stopRegs()
	g.stop(t) // restart with pushes waiting
	g = startGateway(t, dir, "127.0.0.1:0", nil)
	startRegs(g)
	ps.SetMode(petrosoft.ModeOK, 0)
	eventually(t, 10*time.Second, "queued changes delivered after the outage", func() bool {
		for i, f := range faults {
			if !slices.Equal(pushed(i), []int{0, f.want}) {
				return false
			}
		}
		return true
	})

	// 3. Recovery, pushed within two cycles.
	for i := range faults {
		if err := fleet.Register(i).SetFault(ukm5.FaultNone); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, cycles2, "recovery shown and pushed", func() bool {
		m := list(g)
		for i := range faults {
			if statusOf(m[fmt.Sprint("pos-", i)]) != 0 || len(pushed(i)) != 3 {
				return false
			}
		}
		return true
	})
	for i, f := range faults {
		if got := pushed(i); !slices.Equal(got, []int{0, f.want, 0}) {
			t.Errorf("station st-%d: pushes %v, want [0 %d 0]", i, got, f.want)
		}
	}
	for i := len(faults); i < n; i++ {
		if got := pushed(i); !slices.Equal(got, []int{0}) {
			t.Errorf("station st-%d: pushes %v, want [0] (no change, keep-alive off)", i, got)
		}
	}

	// 4. The spec's rate limit held for every register, across the restart.
	var total int64
	for i := range n {
		st := fleet.Register(i).Stats()
		total += st.Requests
		if st.Below1s > 0 {
			t.Errorf("register %d: %d requests less than 1 s after the previous one (min gap %v)", i, st.Below1s, st.MinGap)
		}
	}
	if total < n*7 {
		t.Errorf("%d requests in all, want at least one cycle per register", total)
	}
	if v := g.metric(t, "vendgate_register_polls_total", `outcome="ok"`); v == 0 {
		t.Error("vendgate_register_polls_total{outcome=ok} is 0")
	}
	if v := g.metric(t, "vendgate_register_pushes_total", `outcome="delivered"`); v == 0 {
		t.Error("vendgate_register_pushes_total{outcome=delivered} is 0")
	}
	if v := g.metric(t, "vendgate_registers", `status="0"`); v != n {
		t.Errorf("vendgate_registers{status=0} = %v, want %d", v, n)
	}
}
