package evadts

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func roundTrip(t testing.TB, r *Report) *Report {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, Encode(&buf, r))
	rs, err := ParseBytes(buf.Bytes())
	require.NoError(t, err, buf.String())
	require.Len(t, rs, 1)
	v := rs[0].Validate()
	require.Equal(t, CheckOK, v.Check, "encoded G85: %s", v)
	require.Equal(t, CountOK, v.Count, "encoded SE: %s", v)
	require.Empty(t, v.Deviations)
	return rs[0]
}

func TestEncodeRoundTripSamples(t *testing.T) {
	for _, name := range sampleNames(t) {
		t.Run(name, func(t *testing.T) {
			rs, _ := ParseBytes(sharedFile(t, name))
			for _, r := range rs {
				assert.Equal(t, canon(r), canon(roundTrip(t, r)))
			}
		})
	}
}

func TestEncodeBuiltReport(t *testing.T) {
	r := NewReport("TST0000001")
	r.Machine.Serial = "M-1"
	r.Machine.Currency = &Currency{Decimals: 2, Numeric: "978", Alpha: "EUR"}
	r.Meters.Paid = &Meter{Totals: Totals{ValueInit: 300, CountInit: 2}}
	r.Cash.Sales = &Totals{ValueInit: 150, CountInit: 1}
	r.Cashless = []Cashless{{Prefix: "DA", Sales: &Totals{ValueInit: 150, CountInit: 1}}}
	r.Products = []Product{
		{ID: "1", Price: 150, Name: "Cola", Loop: "0100", Paid: &PaidVends{VendCount: VendCount{CountInit: 2, ValueInit: 300}},
			ByDevice: []DeviceVends{{Product: "1", Device: "CA", PriceList: "1", Price: 150, CountInit: 1, ValueInit: 150}}},
		{ID: "2", Price: 120, Name: "Water", Loop: "0100"},
	}
	r.Events.Timed = []TimedEvent{{Code: "EGS", Date: "20250101", Time: "1200", Duration: 3}}
	r.Events.Counters = []EventCounter{{Code: "ELA", CountInit: 4, Product: "2", Loop: "0100"}}
	r.Config = []MA5{{Block: "OPT1", Values: []string{"1", "", "3"}}}

	var buf bytes.Buffer
	require.NoError(t, Encode(&buf, r))
	out := buf.String()
	assert.True(t, strings.HasPrefix(out, "DXS*TST0000001*VA*V0/6*1\r\nST*001*0001\r\nID1*M-1\r\n"), out)
	assert.Contains(t, out, "LS*0100\r\nPA1*1*150*Cola*0*0*0**0*0\r\n")
	assert.Contains(t, out, "PA1*2*120*Water*0*0*0**0*0\r\nEA2*ELA*0*4*\r\n"[:len("PA1*2*120*Water*0*0*0**0*0\r\nEA2*ELA*0*4")])
	assert.Contains(t, out, "LE*0100\r\nMA5*OPT1*1**3\r\n")
	assert.True(t, strings.HasSuffix(out, "*0001\r\nDXE*1*1\r\n"))
	assert.Equal(t, canon(r), canon(roundTrip(t, r)))
	assert.True(t, r.Validate().Valid(), "a built report validates as encoded")
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(r *Report)
	}{
		{"star in element", func(r *Report) { r.Machine.Serial = "a*b" }},
		{"newline in element", func(r *Report) { r.Products = []Product{{ID: "1", Name: "x\ny"}} }},
		{"reserved raw", func(r *Report) { r.Unknown = []Segment{{ID: "SE", Raw: "SE*1*0001"}} }},
		{"event of unknown product", func(r *Report) { r.Events.Timed = []TimedEvent{{Code: "EGS", Product: "9"}} }},
		{"bad cashless prefix", func(r *Report) { r.Cashless = []Cashless{{Prefix: "XX"}} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReport("X")
			tc.mod(r)
			assert.ErrorIs(t, Encode(&bytes.Buffer{}, r), ErrNotEncodable)
		})
	}
}
