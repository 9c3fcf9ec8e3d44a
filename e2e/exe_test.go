package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"vendgate/emulator/bus"
	"vendgate/emulator/modem"
	"vendgate/protocol"
)

// newEXEModem is newModem on an Executive bus (the modem's payment system
// polls the machine every 20 ms), in price-holding mode or not.
func newEXEModem(t testing.TB, broker, imei string, i int, priceHolding bool) *modem.Modem {
	t.Helper()
	m, err := modem.New(modem.Config{Broker: broker, IMEI: imei, Password: modemPassword,
		HBInterval: time.Second, Keepalive: 10 * time.Second, Bus: protocol.BusEXE,
		// Executive has no addresses or MDB levels.
		Cashless: protocol.Cashless{Enabled: true},
		EXE: bus.EXEConfig{PriceHolding: priceHolding, PollInterval: 20 * time.Millisecond,
			VendTime: 20 * time.Millisecond, SessionTimeout: 5 * time.Second},
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 300 * time.Millisecond, RebootDelay: 100 * time.Millisecond,
		Seed: int64(i + 1)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEXERemoteCommands: REST → gateway → MQTT → modem → Executive master,
// which polls the machine's controller; the machine's customer vends, and
// the vend and the command result come back through the gateway.
func TestEXERemoteCommands(t *testing.T) {
	g := startGateway(t, t.TempDir(), "127.0.0.1:0", nil)
	ctx := context.Background()
	broker := "tcp://" + g.MQTTAddr().String()
	const nPH, nNPH = 0, 1
	imeis := []string{imeiN(50), imeiN(51)}
	for i, imei := range imeis {
		if err := g.Provision(ctx, imei, modemPassword, fmt.Sprintf("exe %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	f := &fleet{}
	defer f.stop()
	mods := []*modem.Modem{newEXEModem(t, broker, imeis[nPH], 50, true), newEXEModem(t, broker, imeis[nNPH], 51, false)}
	for _, m := range mods {
		f.start(m)
	}

	var vms []vmJSON
	eventually(t, 10*time.Second, "both machines working", func() bool {
		g.api(t, "GET", "/v2/vending_machines", nil, 200, &vms)
		return len(vms) == 2 && vms[0].State == 1 && vms[1].State == 1
	})
	var modemList []struct {
		ID   int64  `json:"id"`
		IMEI string `json:"imei"`
	}
	g.api(t, "GET", "/v2/modems", nil, 200, &modemList)
	modemID := map[string]int64{}
	for _, md := range modemList {
		modemID[md.IMEI] = md.ID
	}
	for _, m := range mods {
		eventually(t, 5*time.Second, "the payment system hears the machine", m.EXE().Online)
	}

	credit := func(t *testing.T, n int, kopecks int64) string {
		t.Helper()
		var ok struct {
			Status    string `json:"status"`
			CommandID string `json:"command_id"`
		}
		g.api(t, "POST", fmt.Sprintf("/v2/vending_machines/%d/vendista-credit", vms[n].ID), map[string]any{"amount": kopecks}, 200, &ok)
		if ok.Status != "ok" || ok.CommandID == "" {
			t.Fatalf("vendista-credit answered %+v", ok)
		}
		return ok.CommandID
	}
	dispense := func(t *testing.T, n, number int) string {
		t.Helper()
		var ok struct {
			Status    string `json:"status"`
			CommandID string `json:"command_id"`
		}
		g.api(t, "POST", fmt.Sprintf("/v2/vending_machines/%d/dispense", vms[n].ID), map[string]any{"number": number, "cup": true, "sugar": 0}, 200, &ok)
		if ok.Status != "ok" || ok.CommandID == "" {
			t.Fatalf("dispense answered %+v", ok)
		}
		return ok.CommandID
	}
	set := func(t *testing.T, n int, field string, value any) string {
		t.Helper()
		var res struct {
			Res      bool     `json:"res"`
			Commands []string `json:"commands"`
		}
		g.api(t, "POST", fmt.Sprintf("/v2/modems/%d/set", modemID[imeis[n]]), map[string]any{field: value}, 200, &res)
		if !res.Res || len(res.Commands) != 1 {
			t.Fatalf("set %s answered %+v", field, res)
		}
		return res.Commands[0]
	}
	// finished waits for command id to reach state want; another final
	// state fails at once, with the modem's code and message.
	finished := func(t *testing.T, id, want string) {
		t.Helper()
		var c cmdResult
		eventually(t, 10*time.Second, "command "+id+" "+want, func() bool {
			c = g.command(t, id)
			switch c.State {
			case "succeeded", "failed", "rejected", "expired", "timed_out":
				return true
			}
			return false
		})
		if c.State != want {
			msg := ""
			if c.Message != nil {
				msg = *c.Message
			}
			t.Fatalf("command %s: %s (code %d, %q), want %s", id, c.State, c.Code, msg, want)
		}
	}
	rejected := func(t *testing.T, id string, code int) {
		t.Helper()
		finished(t, id, "rejected")
		if c := g.command(t, id); c.Code != code {
			t.Fatalf("command %s: code %d, want %d", id, c.Code, code)
		}
	}
	// oneVend waits for the single vend command id caused on machine n.
	oneVend := func(t *testing.T, n int, id string) vendRow {
		t.Helper()
		var vs []vendRow
		eventually(t, 5*time.Second, "the vend of "+id+" stored", func() bool {
			vs = g.vendsOf(t, vms[n].ID, id)
			return len(vs) > 0
		})
		if len(vs) != 1 {
			t.Fatalf("%d vends for command %s, want 1: %+v", len(vs), id, vs)
		}
		return vs[0]
	}
	paid := func(t *testing.T, v vendRow, maxPrice int64) {
		t.Helper()
		if !v.OK || v.Payment != string(protocol.PayCashless) || v.Type != string(protocol.VendPaid) || v.Price <= 0 || v.Price > maxPrice {
			t.Fatalf("vend %+v, want an OK cashless paid vend of at most %d", v, maxPrice)
		}
	}

	t.Run("vendista-credit vends, price-holding", func(t *testing.T) {
		m := mods[nPH]
		sel, found := m.Machine().CheapestUpTo(500)
		if !found {
			t.Fatal("nothing costs 5.00 or less")
		}
		before := m.Machine().Counters().CashlessVends
		id := credit(t, nPH, 500)
		finished(t, id, "succeeded")
		v := oneVend(t, nPH, id)
		paid(t, v, 500)
		if v.Selection != fmt.Sprint(sel) {
			t.Fatalf("vended %s, want the dearest affordable %d", v.Selection, sel)
		}
		if got := m.Machine().Counters().CashlessVends; got != before+1 {
			t.Fatalf("machine counted %d cashless vends, want %d", got, before+1)
		}
	})

	t.Run("vendista-credit vends, non-price-holding", func(t *testing.T) {
		m := mods[nNPH]
		sel, _ := m.Machine().CheapestUpTo(500)
		var price int64
		for _, s := range m.Machine().Selections() {
			if s.Number == sel {
				price = s.Price
			}
		}
		id := credit(t, nNPH, 500)
		finished(t, id, "succeeded")
		v := oneVend(t, nNPH, id)
		paid(t, v, 500)
		// The machine sends prices, not selections.
		if v.Selection != "?" || v.Price != price {
			t.Fatalf("vend %+v, want selection \"?\" at %d", v, price)
		}
	})

	t.Run("dispense in price-holding mode vends that selection for free", func(t *testing.T) {
		m := mods[nPH]
		before := m.Machine().Selections()[1] // selection 11
		id := dispense(t, nPH, 11)
		finished(t, id, "succeeded")
		v := oneVend(t, nPH, id)
		if v.Selection != "11" || !v.OK || v.Payment != string(protocol.PayNone) || v.Type != string(protocol.VendFree) || v.Price != before.Price {
			t.Fatalf("dispense vend %+v, want selection 11 at %d, free, payment none", v, before.Price)
		}
		if got := m.Machine().Selections()[1].Stock; got != before.Stock-1 {
			t.Fatalf("stock of 11: %d → %d", before.Stock, got)
		}
	})

	t.Run("dispense in non-price-holding mode is rejected", func(t *testing.T) {
		vends := mods[nNPH].Machine().Counters().Vends
		id := dispense(t, nNPH, 11)
		rejected(t, id, protocol.CodeUnsupported)
		if got := mods[nNPH].Machine().Counters().Vends; got != vends {
			t.Fatalf("the machine vended (%d → %d)", vends, got)
		}
	})

	t.Run("cashless_address is rejected", func(t *testing.T) {
		rejected(t, set(t, nPH, "cashless_address", 2), protocol.CodeUnsupported)
	})

	t.Run("cashless_mode 0 refuses credit and dispense", func(t *testing.T) {
		finished(t, set(t, nPH, "cashless_mode", 0), "succeeded")
		rejected(t, credit(t, nPH, 500), protocol.CodeUnsupported)
		rejected(t, dispense(t, nPH, 10), protocol.CodeUnsupported)
		finished(t, set(t, nPH, "cashless_mode", 1), "succeeded")
		id := credit(t, nPH, 500)
		finished(t, id, "succeeded")
		paid(t, oneVend(t, nPH, id), 500)
	})

	t.Run("reset resets the payment system and reboots the modem", func(t *testing.T) {
		m := mods[nPH]
		epoch := m.Epoch()
		var ok struct {
			CommandID string `json:"command_id"`
		}
		g.api(t, "POST", fmt.Sprintf("/v2/vending_machines/%d/reset", vms[nPH].ID), nil, 200, &ok)
		finished(t, ok.CommandID, "succeeded")
		eventually(t, 10*time.Second, "the modem reconnected", func() bool { return m.Connected() && m.Epoch() > epoch })
		eventually(t, 10*time.Second, "machine working again", func() bool { return g.machineState(t, vms[nPH].ID) == 1 })
		if !m.EXE().Online() {
			t.Fatal("the payment system lost the machine")
		}
		id := dispense(t, nPH, 10)
		finished(t, id, "succeeded")
		if v := oneVend(t, nPH, id); v.Selection != "10" || v.Type != string(protocol.VendFree) {
			t.Fatalf("dispense after reset: %+v", v)
		}
	})
}
