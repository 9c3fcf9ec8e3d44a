package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"vendgate/emulator/modem"
	"vendgate/protocol"
)

// cmdResult is a command with its result code.
type cmdResult struct {
	ID      string  `json:"id"`
	State   string  `json:"state"`
	Status  *string `json:"status"`
	Code    int     `json:"code"`
	Message *string `json:"message"`
}

func (g *gw) command(t *testing.T, id string) cmdResult {
	t.Helper()
	var c cmdResult
	g.api(t, "GET", "/v2/commands/"+id, nil, 200, &c)
	return c
}

// vendRow is a stored vend (the store's type is internal to the gateway).
type vendRow struct {
	Selection, Payment, Type string
	Price                    int64
	OK                       bool
}

// vendsOf returns the machine's stored vends caused by command id.
func (g *gw) vendsOf(t *testing.T, vmID int64, id string) []vendRow {
	t.Helper()
	all, err := g.Store().ListVends(context.Background(), vmID, time.Time{}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var out []vendRow
	for _, v := range all {
		if v.CommandID == id {
			out = append(out, vendRow{Selection: v.Selection, Payment: v.Payment, Type: v.Type, Price: v.Price, OK: v.OK})
		}
	}
	return out
}

// TestMDBRemoteCommands: REST → gateway → MQTT → modem → MDB cashless reader
// → the machine's VMC, which vends; the vend and the command result come
// back and are visible through the gateway.
func TestMDBRemoteCommands(t *testing.T) {
	g := startGateway(t, t.TempDir(), "127.0.0.1:0", nil)
	ctx := context.Background()
	broker := "tcp://" + g.MQTTAddr().String()
	const nMDB, nNone = 0, 1
	imeis := []string{imeiN(40), imeiN(41)}
	for i, imei := range imeis {
		if err := g.Provision(ctx, imei, modemPassword, fmt.Sprintf("mdb %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	f := &fleet{}
	defer f.stop()
	m := newModem(t, broker, imeis[nMDB], 40)
	f.start(m)
	plain, err := modem.New(modem.Config{Broker: broker, IMEI: imeis[nNone], Password: modemPassword,
		HBInterval: time.Second, Keepalive: 10 * time.Second, Bus: protocol.BusNone, Seed: 41,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f.start(plain)

	var vms []vmJSON
	eventually(t, 10*time.Second, "both machines working", func() bool {
		g.api(t, "GET", "/v2/vending_machines", nil, 200, &vms)
		return len(vms) == 2 && vms[0].State == 1 && vms[1].State == 1
	})
	vm := vms[nMDB].ID
	var mods []struct {
		ID   int64  `json:"id"`
		IMEI string `json:"imei"`
	}
	g.api(t, "GET", "/v2/modems", nil, 200, &mods)
	modemID := map[string]int64{}
	for _, md := range mods {
		modemID[md.IMEI] = md.ID
	}
	bus := m.MDB()
	eventually(t, 5*time.Second, "the machine initialised the reader", func() bool { return bus.VMC().Ready() })

	credit := func(t *testing.T, kopecks int64) string {
		t.Helper()
		var ok struct {
			Status    string `json:"status"`
			CommandID string `json:"command_id"`
		}
		g.api(t, "POST", fmt.Sprintf("/v2/vending_machines/%d/vendista-credit", vm), map[string]any{"amount": kopecks}, 200, &ok)
		if ok.Status != "ok" || ok.CommandID == "" {
			t.Fatalf("vendista-credit answered %+v", ok)
		}
		return ok.CommandID
	}
	set := func(t *testing.T, field string, value any) string {
		t.Helper()
		var res struct {
			Res      bool     `json:"res"`
			Commands []string `json:"commands"`
		}
		g.api(t, "POST", fmt.Sprintf("/v2/modems/%d/set", modemID[imeis[nMDB]]), map[string]any{field: value}, 200, &res)
		if !res.Res || len(res.Commands) != 1 {
			t.Fatalf("set %s answered %+v", field, res)
		}
		return res.Commands[0]
	}
	// paidVend checks the single vend command id caused.
	paidVend := func(t *testing.T, id string, maxPrice int64) vendRow {
		t.Helper()
		var vs []vendRow
		eventually(t, 5*time.Second, "the vend of "+id+" stored", func() bool {
			vs = g.vendsOf(t, vm, id)
			return len(vs) > 0
		})
		if len(vs) != 1 {
			t.Fatalf("%d vends for one credit", len(vs))
		}
		v := vs[0]
		if !v.OK || v.Payment != string(protocol.PayCashless) || v.Type != string(protocol.VendPaid) || v.Price <= 0 || v.Price > maxPrice {
			t.Fatalf("vend %+v, want an OK cashless paid vend of at most %d", v, maxPrice)
		}
		return v
	}

	t.Run("vendista-credit vends", func(t *testing.T) {
		sel, found := m.Machine().CheapestUpTo(500)
		if !found {
			t.Fatal("nothing costs 5.00 or less")
		}
		before := m.Machine().Counters().CashlessVends
		id := credit(t, 500)
		g.waitCommand(t, id, "succeeded")
		v := paidVend(t, id, 500)
		if v.Selection != fmt.Sprint(sel) {
			t.Fatalf("vended %s, want the dearest affordable %d", v.Selection, sel)
		}
		if got := m.Machine().Counters().CashlessVends; got != before+1 {
			t.Fatalf("machine counted %d cashless vends, want %d", got, before+1)
		}
	})

	t.Run("set cashless_credit credit,amount,autoapprove", func(t *testing.T) {
		// Credit exactly the cheapest price, written in rubles as the spec's
		// "100.50,6,1" example, so exactly one product is affordable.
		cheapest := int64(-1)
		for _, sel := range m.Machine().Selections() {
			if sel.Stock > 0 && (cheapest < 0 || sel.Price < cheapest) {
				cheapest = sel.Price
			}
		}
		if cheapest <= 0 {
			t.Fatal("the emulated machine has nothing to sell")
		}
		path := fmt.Sprintf("/v2/modems/%d/set", modemID[imeis[nMDB]])
		var res struct {
			Commands []string `json:"commands"`
		}
		credit := fmt.Sprintf("%d.%02d,1,1", cheapest/100, cheapest%100)
		if code := g.call(t, "POST", path, g.token, map[string]any{"cashless_credit": credit}, &res); code != 200 || len(res.Commands) != 1 {
			t.Fatalf("set cashless_credit %s: status %d, %+v", credit, code, res)
		}
		id := res.Commands[0]
		g.waitCommand(t, id, "succeeded")
		paidVend(t, id, cheapest)
	})

	t.Run("credit too small fails", func(t *testing.T) {
		id := credit(t, 1) // one kopeck buys nothing: the customer walks away
		c := g.waitCommand(t, id, "failed")
		if got := g.command(t, c.ID).Code; got != protocol.CodeTimeout {
			t.Fatalf("code %d, want %d (session ended without a vend)", got, protocol.CodeTimeout)
		}
		if vs := g.vendsOf(t, vm, id); len(vs) != 0 {
			t.Fatalf("vends stored for a credit that bought nothing: %+v", vs)
		}
	})

	t.Run("cashless_mode 0 refuses credit", func(t *testing.T) {
		g.waitCommand(t, set(t, "cashless_mode", 0), "succeeded")
		id := credit(t, 500)
		g.waitCommand(t, id, "rejected")
		if c := g.command(t, id); c.Code != protocol.CodeUnsupported {
			t.Fatalf("code %d, want %d (cashless disabled)", c.Code, protocol.CodeUnsupported)
		}
		g.waitCommand(t, set(t, "cashless_mode", 1), "succeeded")
		id = credit(t, 500)
		g.waitCommand(t, id, "succeeded")
		paidVend(t, id, 500)
	})

	t.Run("cashless_address 2 re-initialises", func(t *testing.T) {
		inits := bus.VMC().Stats().Inits
		g.waitCommand(t, set(t, "cashless_address", 2), "succeeded")
		if got := bus.Reader().Address(); got != 0x60 {
			t.Fatalf("reader at %#x, want 0x60", got)
		}
		if got := bus.VMC().Stats().Inits; got <= inits {
			t.Fatalf("inits %d → %d: the machine did not re-initialise", inits, got)
		}
		id := credit(t, 500)
		g.waitCommand(t, id, "succeeded")
		paidVend(t, id, 500)
	})

	t.Run("dispense vends that selection", func(t *testing.T) {
		before := m.Machine().Selections()[1] // selection 11
		var ok struct {
			Status    string `json:"status"`
			CommandID string `json:"command_id"`
		}
		g.api(t, "POST", fmt.Sprintf("/v2/vending_machines/%d/dispense", vm), map[string]any{"number": 11, "cup": true, "sugar": 0}, 200, &ok)
		g.waitCommand(t, ok.CommandID, "succeeded")
		var vs []vendRow
		eventually(t, 5*time.Second, "the dispensed vend stored", func() bool {
			vs = g.vendsOf(t, vm, ok.CommandID)
			return len(vs) == 1
		})
		v := vs[0]
		if v.Selection != "11" || !v.OK || v.Payment != string(protocol.PayNone) || v.Type != string(protocol.VendFree) || v.Price != before.Price {
			t.Fatalf("dispense vend %+v, want selection 11 at %d, free, payment none", v, before.Price)
		}
		if got := m.Machine().Selections()[1].Stock; got != before.Stock-1 {
			t.Fatalf("stock of 11: %d → %d", before.Stock, got)
		}
	})

	t.Run("dispense without a payment bus is 422", func(t *testing.T) {
		var e struct {
			Status string `json:"status"`
			Data   struct {
				VMID      int64   `json:"vm_id"`
				ModemID   *int64  `json:"modem_id"`
				ModemTime *string `json:"modem_time"`
			} `json:"data"`
		}
		g.api(t, "POST", fmt.Sprintf("/v2/vending_machines/%d/dispense", vms[nNone].ID), map[string]any{"number": 11, "cup": true, "sugar": 0}, 422, &e)
		if e.Status != "error" || e.Data.VMID != vms[nNone].ID || e.Data.ModemID == nil || *e.Data.ModemID != modemID[imeis[nNone]] ||
			e.Data.ModemTime == nil || *e.Data.ModemTime == "" {
			t.Fatalf("422 body %+v", e)
		}
	})

	t.Run("reset resets the reader and reboots the modem", func(t *testing.T) {
		inits, epoch := bus.VMC().Stats().Inits, m.Epoch()
		var ok struct {
			CommandID string `json:"command_id"`
		}
		g.api(t, "POST", fmt.Sprintf("/v2/vending_machines/%d/reset", vm), nil, 200, &ok)
		g.waitCommand(t, ok.CommandID, "succeeded")
		eventually(t, 10*time.Second, "the modem reconnected", func() bool { return m.Connected() && m.Epoch() > epoch })
		eventually(t, 5*time.Second, "the machine re-initialised the reader", func() bool {
			return bus.VMC().Stats().Inits > inits && bus.VMC().Ready()
		})
		eventually(t, 10*time.Second, "machine working again", func() bool { return g.machineState(t, vm) == 1 })
		id := credit(t, 500)
		g.waitCommand(t, id, "succeeded")
		paidVend(t, id, 500)
	})
}
