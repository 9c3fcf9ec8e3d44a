package evadts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parseOne(t *testing.T, b []byte) *Report {
	t.Helper()
	rs, err := ParseBytes(b)
	require.NoError(t, err)
	require.Len(t, rs, 1)
	return rs[0]
}

func TestParseTypedFields(t *testing.T) {
	r := parseOne(t, sharedFile(t, "mdisibio__dex-parse__test.dex"))
	assert.Equal(t, Header{CommID: "9259630009", FunctionalID: "VA", Version: "V1/1", Transmission: "1",
		SetID: "001", SetControl: "0001"}, r.Header)
	require.NotNil(t, r.Machine.Currency)
	assert.Equal(t, Currency{Decimals: 0, Numeric: "039", Alpha: "050"}, *r.Machine.Currency)
	assert.Equal(t, Totals{ValueInit: 69250, CountInit: 1306}, r.Meters.Paid.Totals)
	assert.Equal(t, &Totals{ValueInit: 54400, CountInit: 302}, r.Cash.Sales)
	assert.Equal(t, &CashIn{InInit: 74250, ToBoxInit: 35650, ToTubesInit: 38600}, r.Cash.In)
	assert.Equal(t, &CashOut{DispensedInit: 39600, ManualInit: 35200}, r.Cash.Out)
	assert.Equal(t, &ResetInit{Init: 8300}, r.Cash.Overpay)
	assert.Equal(t, &CashFilled{Init: 6850}, r.Cash.Filled)
	require.Len(t, r.Cashless, 1)
	assert.Equal(t, &Totals{ValueInit: 12600, CountInit: 220}, r.Cashless[0].Sales)
	assert.Equal(t, []string{"DA3", "DA4", "DA5"}, segIDs(r.Cashless[0].Other))
	require.Len(t, r.Products, 10)
	p := r.Products[9]
	assert.Equal(t, "10", p.ID)
	assert.Equal(t, int64(500), p.Price)
	assert.Equal(t, "0100", p.Loop)
	assert.Equal(t, &PaidVends{}, p.Paid)
	assert.Equal(t, &ResetInit{Reset: 0, Init: 119}, r.Events.PowerOutages)
	assert.Equal(t, int64(23), r.Events.Reads.ReadsWithReset)
	require.Len(t, r.Config, 9)
	assert.Equal(t, MA5{Block: "MISC", Values: []string{"1", "0", "17", "0"}, Loop: "0200"}, r.Config[8])
	assert.Equal(t, []string{"TA2", "TA3", "TA5"}, segIDs(r.Unknown))
	assert.Equal(t, Trailer{CheckValue: "E8BC", SegmentCount: "54", SetControl: "0001", DXE: []string{"1", "1"}}, r.Trailer)
	assert.Empty(t, r.Issues)
}

func TestParseProductsAndEvents(t *testing.T) {
	r := parseOne(t, sharedFile(t, "mdisibio__dex-parse__test2.dex"))
	require.Len(t, r.Products, 10)
	p := r.Products[0]
	assert.Equal(t, "010", p.ID)
	assert.Equal(t, PaidVends{VendCount: VendCount{CountInit: 6, ValueInit: 350, CountReset: 6, ValueReset: 350},
		Discounts: &VendCount{}, Surcharges: &VendCount{}}, *p.Paid)
	assert.Equal(t, &VendCount{2, 150, 2, 150}, p.Test)
	assert.Equal(t, &SoldOut{Date: "20120301", Time: "125320"}, p.SoldOut)
	// EA2*ELA after a product's PA5 belongs to that product.
	require.NotEmpty(t, r.Events.Counters)
	assert.Equal(t, EventCounter{Code: "ELA", CountReset: 1, CountInit: 1, Product: "010"}, r.Events.Counters[0])
	assert.Equal(t, []CoinTube{
		{CoinType: "0", Value: 5, InTube: 49, Inserted: 40, Dispensed: 17},
		{CoinType: "1", Value: 10, InTube: 93, Inserted: 50, Dispensed: 14},
		{CoinType: "2", Value: 25, InTube: 161, Inserted: 20, Dispensed: 17},
	}, r.Cash.Tubes)
	assert.Equal(t, "BP4SX       ", r.Cash.BillValidator.Model, "spaces kept as sent")
	// CA15*5200*TUBE1*... is not a number where the dictionary has one: kept raw.
	assert.Equal(t, []string{"CA15", "CA15", "CA16"}, segIDs(r.Cash.Other))
}

func TestParsePA7AndEA1(t *testing.T) {
	r := parseOne(t, sharedFile(t, "sigalabs__DEXUCS-VendingMachine-B2C-Simulator__evadts.txt"))
	var esp *Product
	for i := range r.Products {
		if r.Products[i].Name == "Espresso" {
			esp = &r.Products[i]
		}
	}
	require.NotNil(t, esp)
	assert.Equal(t, []DeviceVends{{Product: "110", Device: "DA", PriceList: "1", Price: 200,
		CountInit: 3, ValueInit: 500, CountReset: 3, ValueReset: 500}}, esp.ByDevice)
	require.Len(t, r.Cashless, 2)
	assert.Equal(t, "DB", r.Cashless[1].Prefix)
	assert.Equal(t, &Totals{ValueInit: 7355, CountInit: 22}, r.Cashless[1].Sales)
	assert.Equal(t, &Device{Serial: "122920444915", Model: "DMX - 2011  ", Software: "10"}, r.Cashless[0].Device)
	require.NotNil(t, r.Events.Reads)
	// EA3*3702*…*0001***3702: EA309 empty, EA310 resets since init.
	assert.Equal(t, int64(3702), r.Events.Reads.Resets)
	assert.Equal(t, int64(0), r.Events.Reads.ReadsTotal)
	assert.Equal(t, &DateTime{Date: "20201124", Time: "000000"}, r.Events.Initialised)
}

func TestParseIssuesAndJunk(t *testing.T) {
	in := "notes\r\nMC5*x\r\nDXS*A*VA*V0/6*1\r\nST*001*0001\r\nVA1*978*EUR*2\r\nPA2*1*2\r\nPA1*1*1.50\r\nSE*5*0001\r\nDXE*1*1\r\n"
	r := parseOne(t, []byte(in))
	require.Len(t, r.Issues, 2)
	assert.Equal(t, "evadts: line 5, segment VA102: not an integer", r.Issues[0].Error())
	assert.Equal(t, "evadts: line 7, segment PA102: not an integer", r.Issues[1].Error())
	assert.Equal(t, []string{"PA2"}, segIDs(r.Unknown), "PA2 before any PA1 is an orphan")
	v := r.Validate()
	assert.Equal(t, CheckMissing, v.Check)
	assert.Equal(t, CountOK, v.Count)
	assert.True(t, v.Valid())
}

func TestParseNoAudit(t *testing.T) {
	_, err := ParseBytes([]byte("just text\n"))
	require.ErrorIs(t, err, ErrNoAudit)
	_, err = ParseBytes(nil)
	require.ErrorIs(t, err, ErrNoAudit)
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true}, {"0", 0, true}, {" 42 ", 42, true}, {"-5", -5, true},
		{"4294967295", 4294967295, true}, {"9223372036854775799", 9223372036854775799, true},
		{"99999999999999999999", 0, false}, {"1.50", 0, false}, {"-", 0, false}, {"FFFF", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			v, ok := parseInt(tc.in)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, v)
		})
	}
}

func segIDs(s []Segment) []string {
	var out []string
	for _, x := range s {
		out = append(out, x.ID)
	}
	return out
}

// audit builds a small audit around body records (CRLF) with a correct G85
// and SE, so the deviation tests can damage it in controlled ways.
func audit(body ...string) string {
	lines := append([]string{"ST*001*0001"}, body...)
	span := strings.Join(lines, "\r\n") + "\r\n"
	crc := CRC16(0, []byte(span))
	return fmt.Sprintf("DXS*TST0000001*VA*V0/6*1\r\n%sG85*%04X\r\nSE*%d*0001\r\nDXE*1*1\r\n", span, crc, len(lines)+2)
}

func TestValidateDeviations(t *testing.T) {
	good := audit("ID1*S1", "VA1*100*1*100*1", "PA1*1*100", "PA2*1*100*1*100")
	span := good[strings.Index(good, "ST*"):strings.Index(good, "G85*")]
	full := CRC16(0, []byte(span))
	noLast := CRC16(0, []byte(strings.TrimSuffix(span, "\r\n")))
	withG85 := func(s string) string {
		i := strings.Index(good, "G85*")
		return good[:i] + "G85*" + s + good[i+8:]
	}
	tests := []struct {
		name  string
		in    string
		check CheckOutcome
		devs  []Deviation
		count CountOutcome
		valid bool
	}{
		{"spec", good, CheckOK, nil, CountOK, true},
		{"lf line ends", strings.ReplaceAll(good, "\r\n", "\n"), CheckOK, []Deviation{DevLFLineEnds}, CountOK, true},
		{"lowercase hex", withG85(strings.ToLower(fmt.Sprintf("%04X", full))), CheckOK, []Deviation{DevLowercaseHex}, CountOK, true},
		{"without last crlf", withG85(fmt.Sprintf("%04X", noLast)), CheckDeviation, []Deviation{DevWithoutLastCRLF}, CountOK, true},
		{"byte swapped", withG85(fmt.Sprintf("%04X", full>>8|full<<8)), CheckDeviation, []Deviation{DevByteSwapped}, CountOK, true},
		{"wrong", withG85(fmt.Sprintf("%04X", full^1)), CheckMismatch, nil, CountOK, false},
		{"not hex", withG85("XYZW"), CheckMismatch, nil, CountOK, false},
		{"missing", strings.Replace(good, good[strings.Index(good, "G85*"):strings.Index(good, "SE*")], "", 1),
			CheckMissing, []Deviation{DevMissingCheck}, CountMismatch, true},
		{"se wrong", strings.Replace(good, "SE*7*", "SE*9*", 1), CheckOK, nil, CountMismatch, true},
		{"se missing dxe", strings.TrimSuffix(good, "DXE*1*1\r\n"), CheckOK, []Deviation{DevMissingDXE}, CountOK, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, good, "SE*7*")
			r := parseOne(t, []byte(tc.in))
			v := r.Validate()
			assert.Equal(t, tc.check, v.Check, v.String())
			assert.Equal(t, tc.devs, v.Deviations)
			assert.Equal(t, tc.count, v.Count)
			assert.Equal(t, tc.valid, v.Valid())
		})
	}
	t.Run("truncated", func(t *testing.T) {
		cut := good[:strings.Index(good, "PA2")+5]
		rs, err := ParseBytes([]byte(cut))
		require.ErrorIs(t, err, ErrTruncated)
		require.Len(t, rs, 1)
		assert.True(t, rs[0].Truncated)
		v := rs[0].Validate()
		assert.False(t, v.Valid())
		assert.Contains(t, v.String(), "TRUNCATED")
		assert.Equal(t, int64(1), rs[0].Products[0].Paid.CountInit, "what was read is kept")
	})
}

// TestParseReaderMatchesBytes: Parse reads its io.Reader to the end before
// parsing; the result must not depend on how the reader hands out the data
// (nor on whether it reports its length), and must equal ParseBytes.
func TestParseReaderMatchesBytes(t *testing.T) {
	inputs := map[string][]byte{
		"junk and CR": []byte("junk\rDXS*1\r\nST*001*0001\r\nPA1*1*x\r\n\r\nSE*3*0001\r\nDXE*1\r"),
		"cut":         []byte("DXS*1\nST*001*0001\nCA2*0*0*"),
		"empty":       nil,
	}
	for _, n := range sampleNames(t) {
		inputs[n] = sharedFile(t, n)
	}
	for name, b := range inputs {
		t.Run(name, func(t *testing.T) {
			want, wantErr := ParseBytes(b)
			for _, r := range []io.Reader{bytes.NewReader(b), iotest.OneByteReader(bytes.NewReader(b)),
				iotest.DataErrReader(bytes.NewReader(b)), &chunks{parts: [][]byte{bytes.Clone(b[:len(b)/3]), bytes.Clone(b[len(b)/3:])}}} {
				got, err := Parse(r)
				require.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(err))
				require.Equal(t, want, got)
			}
		})
	}
}

// TestParseReadError: a read error ends the input; what was read is
// returned, the open audit marked truncated, and the error passed on.
func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	rs, err := Parse(io.MultiReader(strings.NewReader("DXS*1\nST*001*0001\nPA1*7*150\n"), iotest.ErrReader(boom)))
	require.ErrorIs(t, err, boom)
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 3, pe.Line)
	assert.Equal(t, "PA1", pe.Segment)
	require.Len(t, rs, 1)
	assert.True(t, rs[0].Truncated)
	require.Len(t, rs[0].Products, 1)
	assert.Equal(t, int64(150), rs[0].Products[0].Price)
}
