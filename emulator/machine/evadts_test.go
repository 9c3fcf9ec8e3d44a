package machine

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/dex/evadts"
	"vendgate/protocol"
)

// parseAudit reads one audit with the project's EVA-DTS parser and checks
// its G85 and SE as a reader would.
func parseAudit(t *testing.T, text []byte) *evadts.Report {
	t.Helper()
	reps, err := evadts.ParseBytes(text)
	require.NoError(t, err)
	require.Len(t, reps, 1)
	r := reps[0]
	val := r.Validate()
	require.True(t, val.Valid(), val.String())
	assert.Equal(t, evadts.CheckOK, val.Check, val.String())
	assert.Equal(t, evadts.CountOK, val.Count, val.String())
	assert.Empty(t, val.Deviations)
	assert.Empty(t, r.Issues)
	assert.Empty(t, r.Unknown)
	return r
}

type vend struct {
	sel int
	pay protocol.Payment
}

func vendAll(t *testing.T, m *Machine, vs []vend) {
	t.Helper()
	for _, v := range vs {
		_, err := m.Vend(v.sel, v.pay)
		require.NoError(t, err)
	}
}

// steppingClock advances one minute per call, so successive reads differ.
func steppingClock() func() time.Time {
	t := time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Minute); return t }
}

func TestAuditParsesWithEvadts(t *testing.T) {
	m := New(Config{Selections: 2, Prices: []int64{100, 250}, Serial: "SN1", Model: "M1", Now: fixedClock()})
	vendAll(t, m, []vend{{10, protocol.PayCash}, {11, protocol.PayCashless}, {11, protocol.PayCash}, {10, protocol.PayNone}})
	m.Events()

	text := string(m.Audit())
	assert.True(t, strings.HasPrefix(text, "DXS*SN1*VA*V0/6*1\r\nST*001*0001\r\n"), text)
	assert.True(t, strings.HasSuffix(text, "\r\nDXE*1*1\r\n"), text)
	r := parseAudit(t, []byte(text))

	assert.Equal(t, "SN1", r.Machine.Serial)
	assert.Equal(t, "M1", r.Machine.Model)
	require.NotNil(t, r.Meters.Paid)
	assert.Equal(t, evadts.Totals{ValueInit: 600, CountInit: 3, ValueReset: 600, CountReset: 3}, r.Meters.Paid.Totals)
	require.NotNil(t, r.Meters.Free)
	assert.Equal(t, evadts.Totals{ValueInit: 100, CountInit: 1, ValueReset: 100, CountReset: 1}, r.Meters.Free.Totals)
	require.NotNil(t, r.Cash.Sales)
	assert.Equal(t, evadts.Totals{ValueInit: 350, CountInit: 2, ValueReset: 350, CountReset: 2}, *r.Cash.Sales)
	require.NotNil(t, r.Cash.In)
	assert.EqualValues(t, 350, r.Cash.In.InInit)
	assert.EqualValues(t, 350, r.Cash.In.ToBoxReset)
	require.Len(t, r.Cashless, 1)
	assert.Equal(t, "DA", r.Cashless[0].Prefix)
	assert.Equal(t, evadts.Totals{ValueInit: 250, CountInit: 1, ValueReset: 250, CountReset: 1}, *r.Cashless[0].Sales)
	require.Len(t, r.Products, 2)
	assert.Equal(t, "11", r.Products[1].ID)
	assert.EqualValues(t, 250, r.Products[1].Price)
	assert.EqualValues(t, defaultCap, r.Products[1].Capacity)
	assert.EqualValues(t, defaultCap-2, r.Products[1].Level)
	require.NotNil(t, r.Products[1].Paid)
	assert.Equal(t, evadts.VendCount{CountInit: 2, ValueInit: 500, CountReset: 2, ValueReset: 500}, r.Products[1].Paid.VendCount)
	assert.Nil(t, r.Products[1].Free)
	require.NotNil(t, r.Products[0].Free)
	assert.EqualValues(t, 1, r.Products[0].Free.CountInit)
	require.NotNil(t, r.Events.Reads)
	assert.EqualValues(t, 1, r.Events.Reads.ReadsTotal)
	assert.Equal(t, "251125", r.Events.Reads.Date)
	assert.Empty(t, r.Events.Counters, "no door or fault events yet")

	ev := m.Events()
	require.Len(t, ev, 1)
	assert.Equal(t, EventAuditRead, ev[0].Code)
}

// TestAuditCountersRoundTrip compares every counter in the parsed audit with
// the machine's own view after a random day of trading.
func TestAuditCountersRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		seed  int64
		vends int
	}{
		{"fresh", 1, 0},
		{"busy", 7, 200},
		{"sold out and restocked", 3, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Config{Selections: 4, Capacity: 5, Seed: tt.seed, Now: steppingClock()})
			for i := range tt.vends {
				_, _ = m.RandomVend()
				if i%10 == 0 {
					m.RandomEvent()
				}
			}
			text := m.Audit()
			r := parseAudit(t, text)
			c := m.Counters()
			assert.Equal(t, m.Serial(), r.MachineID())
			assert.Equal(t, c.CashVends+c.CashlessVends, r.Meters.Paid.CountInit)
			assert.Equal(t, c.CashValue+c.CashlessValue, r.Meters.Paid.ValueInit)
			assert.Equal(t, c.FreeVends, r.Meters.Free.CountInit)
			assert.Equal(t, c.CashVends, r.Cash.Sales.CountInit)
			assert.Equal(t, c.CashValue, r.Cash.Sales.ValueInit)
			assert.Equal(t, c.CashlessVends, r.Cashless[0].Sales.CountInit)
			assert.Equal(t, c.CashlessValue, r.Cashless[0].Sales.ValueInit)
			sels := m.Selections()
			require.Len(t, r.Products, len(sels))
			for i, s := range sels {
				p := r.Products[i]
				assert.Equal(t, s.Code, p.ID)
				assert.Equal(t, s.Price, p.Price)
				assert.EqualValues(t, s.Stock, p.Level)
				assert.Equal(t, s.Vends, p.Paid.CountInit)
				assert.Equal(t, s.Value, p.Paid.ValueInit)
				assert.Equal(t, s.Vends, p.Paid.CountReset, "never reset")
			}
			// Re-encoding the parsed report gives the same text: nothing was
			// lost or mis-typed on the way.
			var again strings.Builder
			require.NoError(t, evadts.Encode(&again, r))
			assert.Equal(t, string(text), again.String())
		})
	}
}

func TestAuditEvents(t *testing.T) {
	m := New(Config{Selections: 1, Now: fixedClock()})
	m.SetDoor(true)
	m.SetDoor(false)
	m.SetDoor(true)
	m.SetFault("E07")
	m.SetFault("")
	m.SetFault("E09")
	m.PowerUp()
	r := parseAudit(t, m.Audit())
	assert.Equal(t, []evadts.EventCounter{
		{Code: EADoorOpen, CountReset: 2, CountInit: 2, Active: "1"},
		{Code: "E07", CountReset: 1, CountInit: 1, Active: "0"},
		{Code: "E09", CountReset: 1, CountInit: 1, Active: "1"},
	}, r.Events.Counters)
	require.NotNil(t, r.Events.PowerOutages)
	assert.Equal(t, evadts.ResetInit{Reset: 1, Init: 1}, *r.Events.PowerOutages)
	require.NotNil(t, r.Events.Initialised)
	assert.Equal(t, evadts.DateTime{Date: "251125", Time: "120000"}, *r.Events.Initialised)
}

// TestAuditSales reads two audits around some vends and checks that
// evadts.Sales finds exactly those vends, with and without reset-on-read.
func TestAuditSales(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(map[bool]string{false: "no reset", true: "reset on read"}[reset], func(t *testing.T) {
			m := New(Config{Selections: 3, Prices: []int64{100, 150, 200}, Serial: "SN9", Now: steppingClock(), ResetOnRead: reset})
			vendAll(t, m, []vend{{10, protocol.PayCash}, {12, protocol.PayCashless}})
			m.SetDoor(true)
			prev := parseAudit(t, m.Audit())
			vendAll(t, m, []vend{{11, protocol.PayCash}, {11, protocol.PayCashless}, {12, protocol.PayToken}, {10, protocol.PayNone}})
			m.SetDoor(false)
			m.SetDoor(true)
			cur := parseAudit(t, m.Audit())

			d, err := evadts.Sales(prev, cur)
			require.NoError(t, err)
			assert.Equal(t, "SN9", d.Machine)
			assert.Equal(t, evadts.Amount{Count: 3, Value: 500}, d.Vends)
			assert.Equal(t, evadts.Amount{Count: 2, Value: 350}, d.Cash)
			assert.Equal(t, evadts.Amount{Count: 1, Value: 150}, d.Cashless)
			assert.Equal(t, []evadts.ProductSales{
				{ID: "11", Amount: evadts.Amount{Count: 2, Value: 300}},
				{ID: "12", Amount: evadts.Amount{Count: 1, Value: 200}},
			}, d.Products)
			assert.Equal(t, []evadts.EventCount{{Code: EADoorOpen, Count: 1}}, d.Events)
			assert.False(t, d.Reinitialised)
			assert.Empty(t, d.Wrapped)

			// The reset counters hold what happened since the last reset.
			assert.EqualValues(t, 5, cur.Meters.Paid.CountInit)
			assert.Equal(t, cur.Events.Reads.LastTime, prev.Events.Reads.Time)
			assert.EqualValues(t, 2, cur.Events.Reads.ReadsTotal)
			if reset {
				assert.EqualValues(t, 3, cur.Meters.Paid.CountReset)
				assert.EqualValues(t, 1, cur.Products[2].Paid.CountReset)
				assert.EqualValues(t, 1, cur.Meters.Free.CountReset)
				assert.EqualValues(t, 2, cur.Events.Reads.Resets)
				assert.EqualValues(t, 2, cur.Events.Reads.ReadsWithReset)
			} else {
				assert.EqualValues(t, 5, cur.Meters.Paid.CountReset)
				assert.EqualValues(t, 2, cur.Products[2].Paid.CountReset)
				assert.EqualValues(t, 0, cur.Events.Reads.Resets)
			}
		})
	}
}

func TestAuditSafeStrings(t *testing.T) {
	m := New(Config{Selections: 1, Serial: "A*B\r\n", Model: "M*", Now: fixedClock()})
	m.SetFault("E*1")
	r := parseAudit(t, m.Audit())
	assert.Equal(t, "A_B__", r.Machine.Serial)
	assert.Equal(t, "M_", r.Machine.Model)
	assert.Equal(t, "E_1", r.Events.Counters[0].Code)
}
