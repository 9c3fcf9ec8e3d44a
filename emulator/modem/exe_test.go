package modem

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/emulator/bus"
	"vendgate/protocol"
)

// exeConfig is testConfig on an Executive bus with 20 ms polls.
func exeConfig(b *broker, priceHolding bool) Config {
	cfg := testConfig(b)
	cfg.Bus = protocol.BusEXE
	cfg.EXE = bus.EXEConfig{PriceHolding: priceHolding, PollInterval: 20 * time.Millisecond,
		VendTime: 20 * time.Millisecond, SessionTimeout: time.Second}
	return cfg
}

// commandVend waits for the vend uplink naming command id.
func commandVend(t *testing.T, obs *sink, id string) protocol.Vend {
	t.Helper()
	return obs.wait(t, 1, func(m msg) bool { v, ok := m.value.(protocol.Vend); return ok && v.Cmd == id })[0].value.(protocol.Vend)
}

func TestEXECommands(t *testing.T) {
	type step struct {
		cmd  protocol.CommandName
		args any
		want protocol.Status
		code int
	}
	tests := []struct {
		name  string
		ph    bool
		steps []step
		check func(t *testing.T, m *Modem, obs *sink, res []protocol.CommandResult)
	}{
		{name: "credit, non-price-holding", steps: []step{
			{protocol.CmdCashlessCredit, protocol.CashlessCreditArgs{Amount: 170, AutoApprove: true}, protocol.StatusSucceeded, 0}},
			check: func(t *testing.T, m *Modem, obs *sink, res []protocol.CommandResult) {
				v := commandVend(t, obs, res[0].Cmd)
				assert.Equal(t, protocol.PayCashless, v.Payment)
				assert.Equal(t, protocol.VendPaid, v.Type)
				assert.True(t, v.OK)
				assert.EqualValues(t, 150, v.Price)
				assert.Equal(t, "?", v.Selection, "the machine reports prices only")
				var r map[string]any
				require.NoError(t, json.Unmarshal(res[0].Result, &r))
				assert.EqualValues(t, 150, r["charged"])
				assert.EqualValues(t, 1, m.Machine().Counters().CashlessVends)
			}},
		{name: "credit, price-holding", ph: true, steps: []step{
			{protocol.CmdCashlessCredit, protocol.CashlessCreditArgs{Amount: 170, AutoApprove: true}, protocol.StatusSucceeded, 0}},
			check: func(t *testing.T, _ *Modem, obs *sink, res []protocol.CommandResult) {
				v := commandVend(t, obs, res[0].Cmd)
				assert.Equal(t, "11", v.Selection)
				assert.EqualValues(t, 150, v.Price)
			}},
		{name: "credit buys nothing: timeout", steps: []step{
			{protocol.CmdCashlessCredit, protocol.CashlessCreditArgs{Amount: 1}, protocol.StatusFailed, protocol.CodeTimeout}}},
		{name: "dispense, price-holding", ph: true, steps: []step{
			{protocol.CmdDispense, protocol.DispenseArgs{Number: 12}, protocol.StatusSucceeded, 0}},
			check: func(t *testing.T, m *Modem, obs *sink, res []protocol.CommandResult) {
				v := commandVend(t, obs, res[0].Cmd)
				assert.Equal(t, "12", v.Selection)
				assert.Equal(t, protocol.PayNone, v.Payment)
				assert.Equal(t, protocol.VendFree, v.Type)
				assert.EqualValues(t, 200, v.Price)
				assert.Equal(t, 19, m.Machine().Selections()[2].Stock)
			}},
		{name: "dispense, non-price-holding", steps: []step{
			{protocol.CmdDispense, protocol.DispenseArgs{Number: 12}, protocol.StatusRejected, protocol.CodeUnsupported}},
			check: func(t *testing.T, m *Modem, _ *sink, res []protocol.CommandResult) {
				assert.Contains(t, res[0].Message, "price-holding")
				assert.Zero(t, m.Machine().Counters().Vends)
			}},
		{name: "cashless_address", ph: true, steps: []step{
			{protocol.CmdCashlessAddress, protocol.CashlessAddressArgs{Address: 2}, protocol.StatusRejected, protocol.CodeUnsupported}},
			check: func(t *testing.T, _ *Modem, _ *sink, res []protocol.CommandResult) {
				assert.Contains(t, res[0].Message, "no bus addresses")
			}},
		{name: "cashless_mode 0 refuses until 1", ph: true, steps: []step{
			{protocol.CmdCashlessMode, protocol.CashlessModeArgs{Enabled: false}, protocol.StatusSucceeded, 0},
			{protocol.CmdCashlessCredit, protocol.CashlessCreditArgs{Amount: 500}, protocol.StatusRejected, protocol.CodeUnsupported},
			{protocol.CmdDispense, protocol.DispenseArgs{Number: 10}, protocol.StatusRejected, protocol.CodeUnsupported},
			{protocol.CmdCashlessMode, protocol.CashlessModeArgs{Enabled: true}, protocol.StatusSucceeded, 0},
			{protocol.CmdDispense, protocol.DispenseArgs{Number: 10}, protocol.StatusSucceeded, 0}},
			check: func(t *testing.T, m *Modem, obs *sink, res []protocol.CommandResult) {
				assert.Equal(t, "10", commandVend(t, obs, res[4].Cmd).Selection)
				assert.EqualValues(t, 1, m.Machine().Counters().Vends)
			}},
		{name: "silent machine", ph: true, steps: []step{
			{protocol.CmdDispense, protocol.DispenseArgs{Number: 10}, protocol.StatusFailed, protocol.CodeVMUnreachable}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startBroker(t, "127.0.0.1:0", &sink{})
			obs, c := observe(t, b)
			cfg := exeConfig(b, tt.ph)
			if tt.name == "silent machine" {
				cfg.EXE.StartTimeout = 300 * time.Millisecond
				cfg.EXE.ResponseTimeout = 20 * time.Millisecond
			}
			m := runModem(t, cfg)
			obs.wait(t, 1, class(protocol.ClassHello))
			require.Eventually(t, m.EXE().Online, waitMax, 5*time.Millisecond)
			if tt.name == "silent machine" {
				m.EXE().VMC().Protocol().SetSilent(true)
				require.Eventually(t, func() bool { return !m.EXE().Online() }, waitMax, 5*time.Millisecond)
			}
			var res []protocol.CommandResult
			for j, s := range tt.steps {
				id := fmt.Sprintf("exe-%d-%d", i, j)
				sendCommand(t, c, id, s.cmd, s.args, inAMinute())
				r := obs.wait(t, 1, func(m msg) bool {
					r, ok := m.value.(protocol.CommandResult)
					return ok && r.Cmd == id && r.Status.Terminal()
				})[0].value.(protocol.CommandResult)
				assert.Equal(t, s.want, r.Status, "step %d: %s", j, r.Message)
				assert.Equal(t, s.code, r.Code, "step %d: %s", j, r.Message)
				res = append(res, r)
			}
			if tt.check != nil {
				tt.check(t, m, obs, res)
			}
			assert.Empty(t, obs.decodeErrors())
		})
	}
}

func TestEXEResetReboots(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0", &sink{})
	obs, c := observe(t, b)
	m := runModem(t, exeConfig(b, true))
	obs.wait(t, 1, class(protocol.ClassHello))
	require.Eventually(t, m.EXE().Online, waitMax, 5*time.Millisecond)
	require.NoError(t, m.EXE().Master().GrantCredit(50)) // left over, too little to buy anything

	sendCommand(t, c, "rst-exe", protocol.CmdReset, nil, inAMinute())
	obs.wait(t, 1, result("rst-exe", protocol.StatusSucceeded))
	assert.Zero(t, m.EXE().Master().Credit(), "the master's reset dropped the credit")
	obs.wait(t, 1, func(m msg) bool { s, ok := m.value.(protocol.State); return ok && s.Online && s.Epoch == 2 })
	assert.True(t, m.EXE().Online(), "the bus keeps running across the modem's reboot")
}
