package evadts

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func machineAudit(serial string, vends, value int64) *Report {
	r := NewReport("TST0000001")
	r.Machine.Serial = serial
	r.Meters.Paid = &Meter{Totals: Totals{ValueInit: value, CountInit: vends, ValueReset: 7, CountReset: 7}}
	r.Cash.Sales = &Totals{ValueInit: value, CountInit: vends}
	r.Cashless = []Cashless{{Prefix: "DA", Sales: &Totals{ValueInit: 10 * vends, CountInit: vends}}}
	r.Products = []Product{
		{ID: "1", Paid: &PaidVends{VendCount: VendCount{CountInit: vends, ValueInit: value}}},
		{ID: "2", ByDevice: []DeviceVends{{Device: "DA", PriceList: "1", CountInit: vends, ValueInit: 2 * vends}}},
	}
	r.Events.Counters = []EventCounter{{Code: "EGS", CountInit: vends}}
	return r
}

func TestSales(t *testing.T) {
	tests := []struct {
		name          string
		prev, cur     *Report
		vends, value  int64
		wrapped       bool
		reinitialised bool
	}{
		{"plain", machineAudit("M1", 10, 1000), machineAudit("M1", 13, 1450), 3, 450, false, false},
		{"no sales", machineAudit("M1", 10, 1000), machineAudit("M1", 10, 1000), 0, 0, false, false},
		{"wrap at 10^8", machineAudit("M1", 99_999_998, 99_999_900), machineAudit("M1", 1, 100), 3, 200, true, false},
		{"wrap at 2^32", machineAudit("M1", 10, 4294967200), machineAudit("M1", 12, 50), 2, 146, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Sales(tc.prev, tc.cur)
			require.NoError(t, err)
			assert.Equal(t, "M1", d.Machine)
			assert.Equal(t, Amount{tc.vends, tc.value}, d.Vends)
			assert.Equal(t, Amount{tc.vends, tc.value}, d.Cash)
			assert.Equal(t, tc.vends, d.Cashless.Count)
			assert.Equal(t, tc.wrapped, len(d.Wrapped) > 0, "%v", d.Wrapped)
			if tc.vends == 0 {
				assert.Empty(t, d.Products)
				assert.Empty(t, d.Events)
				return
			}
			require.Len(t, d.Products, 2)
			assert.Equal(t, Amount{tc.vends, tc.value}, d.Products[0].Amount)
			assert.Equal(t, tc.vends, d.Products[1].Count, "PA7-only product counted from PA7")
			assert.Equal(t, map[string]Amount{"DA/1": {tc.vends, d.Products[1].Value}}, d.Products[1].ByDevice)
			assert.Equal(t, []EventCount{{Code: "EGS", Count: tc.vends}}, d.Events)
		})
	}
}

func TestSalesReinitialised(t *testing.T) {
	prev, cur := machineAudit("M1", 500, 5000), machineAudit("M1", 4, 40)
	prev.Events.Initialised = &DateTime{Date: "20240101", Time: "0000"}
	cur.Events.Initialised = &DateTime{Date: "20250101", Time: "0000"}
	d, err := Sales(prev, cur)
	require.NoError(t, err)
	assert.True(t, d.Reinitialised)
	assert.Empty(t, d.Wrapped)
	assert.Equal(t, Amount{4, 40}, d.Vends)
}

func TestSalesNewEvents(t *testing.T) {
	prev, cur := machineAudit("M1", 1, 1), machineAudit("M1", 1, 1)
	old := TimedEvent{Code: "EGS", Date: "250101", Time: "0800"}
	prev.Events.Timed = []TimedEvent{old}
	cur.Events.Timed = []TimedEvent{old, {Code: "EJJ", Date: "250102", Time: "0900", Duration: 5}}
	d, err := Sales(prev, cur)
	require.NoError(t, err)
	require.Len(t, d.NewEvents, 1)
	assert.Equal(t, "EJJ", d.NewEvents[0].Code)
}

func TestSalesDifferentMachine(t *testing.T) {
	_, err := Sales(machineAudit("M1", 1, 1), machineAudit("M2", 2, 2))
	require.ErrorIs(t, err, ErrDifferentMachine)
	a, b := machineAudit("", 1, 1), machineAudit("", 2, 2)
	b.Header.CommID = "OTHER00001"
	_, err = Sales(a, b)
	require.ErrorIs(t, err, ErrDifferentMachine, "falls back to the DXS comm id")
}
