package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/protocol"
)

// TestAuditSales: a machine whose sales are not tracked on the bus is read
// twice over DEX (REST report requests); what it sold in between, including
// vends the modem never saw on the bus, shows up in the vend statistics, and
// its EVA-DTS event counters in the event list.
func TestAuditSales(t *testing.T) {
	g := startGateway(t, t.TempDir(), "127.0.0.1:0", nil)
	ctx := context.Background()
	imei := imeiN(700)
	require.NoError(t, g.Provision(ctx, imei, modemPassword, "dex sales"))
	m := newModem(t, "tcp://"+g.MQTTAddr().String(), imei, 700)
	f := &fleet{}
	defer f.stop()
	f.start(m)

	var vms []struct {
		ID            int64  `json:"id"`
		Name          string `json:"name"`
		TrackBusVends bool   `json:"track_bus_vends"`
	}
	g.api(t, "GET", "/v2/vending_machines", nil, 200, &vms)
	require.Len(t, vms, 1)
	vm := vms[0]
	require.False(t, vm.TrackBusVends, "a new machine takes its sales from audits")
	eventually(t, 10*time.Second, "machine working", func() bool { return g.machineState(t, vm.ID) == 1 })

	start := time.Now().UTC().Add(-time.Hour)
	window := func() string {
		return "since=" + url.QueryEscape(start.Format("2006-01-02T15:04:05")) +
			"&until=" + url.QueryEscape(time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04:05"))
	}
	type summary struct {
		Number int64 `json:"number"`
		Value  int64 `json:"value"`
	}
	sales := func() summary {
		var s []summary
		g.api(t, "GET", fmt.Sprintf("/v2/vending_machines/%d/stats/vends/summary?%s", vm.ID, window()), nil, 200, &s)
		require.Len(t, s, 1)
		return s[0]
	}
	type event struct {
		Code    string          `json:"code"`
		Payload json.RawMessage `json:"payload"`
	}
	dexEvents := func() []event {
		var evs []event
		g.api(t, "GET", fmt.Sprintf("/v2/vending_machines/%d/events?%s", vm.ID, window()), nil, 200, &evs)
		var out []event
		for _, e := range evs {
			var p struct {
				Source string `json:"source"`
			}
			if json.Unmarshal(e.Payload, &p) == nil && p.Source == "eva-dts" {
				out = append(out, e)
			}
		}
		return out
	}
	report := func() {
		t.Helper()
		var r struct {
			RequestID int64 `json:"request_id"`
		}
		g.api(t, "POST", fmt.Sprintf("/v2/vending_machines/%d/request", vm.ID), map[string]any{"report": true}, 200, &r)
		require.NotZero(t, r.RequestID)
		eventually(t, 10*time.Second, "report request done", func() bool {
			return g.call(t, "GET", fmt.Sprintf("/v2/vending_machines/%d/request/%d", vm.ID, r.RequestID), g.token, nil, nil) == 404
		})
	}

	report() // the baseline: no sales yet
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, summary{}, sales())
	require.Empty(t, dexEvents())

	// One vend the modem sees on the bus, three it does not (the machine
	// sells by itself), and the door opened once.
	rec, err := m.Vend(10, protocol.PayCashless)
	require.NoError(t, err)
	want := summary{Number: 1, Value: rec.Price}
	eventually(t, 5*time.Second, "bus vend stored", func() bool { return sales() == want })
	for _, v := range []struct {
		sel int
		pay protocol.Payment
	}{{11, protocol.PayCash}, {11, protocol.PayCash}, {12, protocol.PayCashless}} {
		r, err := m.Machine().Vend(v.sel, v.pay)
		require.NoError(t, err)
		want.Number++
		want.Value += r.Price
	}
	m.Machine().SetDoor(true)
	m.Machine().SetDoor(false)

	report()
	eventually(t, 5*time.Second, "derived sales visible", func() bool { return sales() == want })
	var doors []event
	eventually(t, 5*time.Second, "EVA-DTS door event visible", func() bool {
		doors = dexEvents()
		return len(doors) == 1
	})
	require.Equal(t, "EGS", doors[0].Code)
	var p struct {
		Record string `json:"record"`
		Count  int64  `json:"count"`
	}
	require.NoError(t, json.Unmarshal(doors[0].Payload, &p))
	require.Equal(t, "EA2", p.Record)
	require.EqualValues(t, 1, p.Count)

	// A third read with nothing sold adds nothing.
	report()
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, want, sales())
	require.Len(t, dexEvents(), 1)
}
