package modem

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/dex"
	"vendgate/dex/evadts"
	"vendgate/emulator/machine"
	"vendgate/protocol"
)

func newOffline(t testing.TB, mach *machine.Machine) *Modem {
	t.Helper()
	m, err := New(Config{Broker: "tcp://127.0.0.1:1", IMEI: testIMEI, Machine: mach})
	require.NoError(t, err)
	return m
}

// TestReadAuditOverDEX reads the machine through the in-process DEX link and
// checks the audit arrives whole and counts as one machine read.
func TestReadAuditOverDEX(t *testing.T) {
	tests := []struct {
		name  string
		sels  int
		slave func(*dex.Slave)
	}{
		{"small", 2, nil},
		{"many blocks", 60, nil},
		{"busy machine answers WACK", 5, func(s *dex.Slave) { s.WACKs = 2 }},
		{"machine is master", 5, func(s *dex.Slave) { s.MachineMaster = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mach := machine.New(machine.Config{Selections: tt.sels, Seed: 5})
			for range 20 {
				_, _ = mach.RandomVend()
			}
			m := newOffline(t, mach)
			m.dexSlave = tt.slave
			text, err := m.readAudit(context.Background())
			require.NoError(t, err)
			reps, err := evadts.ParseBytes(text)
			require.NoError(t, err)
			require.Len(t, reps, 1)
			assert.True(t, reps[0].Validate().Valid(), reps[0].Validate().String())
			assert.Equal(t, mach.Serial(), reps[0].MachineID())
			assert.Len(t, reps[0].Products, tt.sels)
			assert.EqualValues(t, 1, reps[0].Events.Reads.ReadsTotal, "one DEX session, one machine read")
			if tt.sels == 60 {
				assert.Greater(t, len(text), 3*dex.MaxBlockText, "the audit spans several blocks")
			}
		})
	}
}

func TestReadAuditFailure(t *testing.T) {
	m := newOffline(t, machine.New(machine.Config{Selections: 2}))
	m.dexSlave = func(s *dex.Slave) { s.AcceptCommID = func(string) bool { return false } }
	err := m.SendAudit()
	require.ErrorIs(t, err, ErrDEX)
	require.ErrorIs(t, err, dex.ErrCommID)
	assert.EqualValues(t, 1, m.Stats().Errors["dex"])
	for _, u := range m.queue {
		assert.NotContains(t, u.topic, "/audit", "no audit queued")
	}
}

// TestRequestReportDEXFailure: a machine that does not answer on its DEX
// jack makes request{report} fail with CodeVMUnreachable.
func TestRequestReportDEXFailure(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0", &sink{})
	obs, c := observe(t, b)
	m, err := New(testConfig(b))
	require.NoError(t, err)
	m.dexSlave = func(s *dex.Slave) { s.AcceptCommID = func(string) bool { return false } }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitMax):
			t.Error("Run did not return")
		}
	})
	obs.wait(t, 1, class(protocol.ClassHello))

	sendCommand(t, c, "rep-1", protocol.CmdRequest, protocol.RequestArgs{Report: true}, inAMinute())
	res := obs.wait(t, 1, result("rep-1", protocol.StatusFailed))[0].value.(protocol.CommandResult)
	assert.Equal(t, protocol.CodeVMUnreachable, res.Code)
	assert.Contains(t, res.Message, "unrecognised communication id")
	assert.Empty(t, obs.all(class(protocol.ClassAudit)))
}

// BenchmarkDEXAudit measures one in-process DEX read of the machine's audit
// (dex.Slave and dex.Master over net.Pipe with the modem's in-process timing).
func BenchmarkDEXAudit(b *testing.B) {
	for _, sels := range []int{10, 40} {
		b.Run(map[int]string{10: "10sel", 40: "40sel"}[sels], func(b *testing.B) {
			mach := machine.New(machine.Config{Selections: sels, Seed: 5})
			for range 100 {
				_, _ = mach.RandomVend()
			}
			m := newOffline(b, mach)
			n := len(mach.Audit())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.readAudit(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "audit_bytes")
		})
	}
}
