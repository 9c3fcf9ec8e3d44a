package machine

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/protocol"
)

func fixedClock() func() time.Time {
	t0 := time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)
	return func() time.Time { return t0 }
}

func TestCRC16ARC(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want uint16
	}{
		{"check value", "123456789", 0xBB3D},
		{"empty", "", 0},
		{"handshake", "CNV   DE32SR01L01\x03", 0x9B75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, CRC16ARC([]byte(tt.in)))
		})
	}
}

func TestVend(t *testing.T) {
	m := New(Config{Selections: 3, Prices: []int64{100, 150, 200}, Capacity: 1, Now: fixedClock()})
	tests := []struct {
		name    string
		sel     int
		pay     protocol.Payment
		wantErr error
		wantOK  bool
		typ     protocol.VendType
	}{
		{"cash", 10, protocol.PayCash, nil, true, protocol.VendPaid},
		{"sold out", 10, protocol.PayCash, ErrSoldOut, false, protocol.VendPaid},
		{"cashless", 11, protocol.PayCashless, nil, true, protocol.VendPaid},
		{"free", 12, protocol.PayNone, nil, true, protocol.VendFree},
		{"unknown selection", 99, protocol.PayCash, ErrUnknownSelection, false, ""},
		{"bad payment", 10, protocol.Payment("gold"), ErrBadPayment, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := m.Vend(tt.sel, tt.pay)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantOK, rec.OK)
			assert.Equal(t, tt.typ, rec.Type)
		})
	}
	c := m.Counters()
	assert.Equal(t, Counters{Vends: 3, CashVends: 1, CashValue: 100, CashlessVends: 1, CashlessValue: 150, FreeVends: 1, Failed: 1}, c)
	codes := []string{}
	for _, e := range m.Events() {
		codes = append(codes, e.Code)
	}
	assert.Equal(t, []string{EventSoldOut, EventSoldOut, EventSoldOut}, codes)
	assert.Empty(t, m.Events(), "Events drains the queue")
}

func TestFaultBlocksVends(t *testing.T) {
	m := New(Config{Now: fixedClock()})
	m.SetFault("E07")
	_, err := m.Vend(10, protocol.PayCash)
	require.ErrorIs(t, err, ErrOutOfService)
	m.SetFault("")
	_, err = m.Vend(10, protocol.PayCash)
	require.NoError(t, err)
	ev := m.Events()
	require.Len(t, ev, 2)
	assert.Equal(t, map[string]any{"fault": true, "code": "E07"}, ev[0].Payload)
	assert.Equal(t, map[string]any{"fault": false, "code": "E07"}, ev[1].Payload)
}

func TestCheapestUpTo(t *testing.T) {
	m := New(Config{Selections: 3, Prices: []int64{100, 150, 200}})
	n, ok := m.CheapestUpTo(170)
	require.True(t, ok)
	assert.Equal(t, 11, n)
	_, ok = m.CheapestUpTo(50)
	assert.False(t, ok)
}

func TestDeterministic(t *testing.T) {
	run := func() []VendRecord {
		m := New(Config{Seed: 42, Now: fixedClock()})
		var out []VendRecord
		for range 50 {
			r, _ := m.RandomVend()
			out = append(out, r)
			m.RandomEvent()
		}
		return out
	}
	a, b := run(), run()
	assert.Equal(t, a, b)
	c := New(Config{Seed: 43, Now: fixedClock()})
	var other []VendRecord
	for range 50 {
		r, _ := c.RandomVend()
		other = append(other, r)
		c.RandomEvent()
	}
	assert.NotEqual(t, a, other)
}

func TestRandomVendRestocksWhenEmpty(t *testing.T) {
	m := New(Config{Selections: 2, Capacity: 1, Now: fixedClock()})
	for range 5 {
		rec, err := m.RandomVend()
		require.NoError(t, err)
		require.True(t, rec.OK)
	}
	assert.EqualValues(t, 5, m.Counters().Vends)
}

func TestAudit(t *testing.T) {
	m := New(Config{Selections: 2, Prices: []int64{100, 250}, Serial: "SN1", Model: "M1", Now: fixedClock()})
	_, err := m.Vend(10, protocol.PayCash)
	require.NoError(t, err)
	_, err = m.Vend(11, protocol.PayCashless)
	require.NoError(t, err)
	_, err = m.Vend(11, protocol.PayCash)
	require.NoError(t, err)
	m.Events()

	text := m.Audit()
	lines := strings.Split(strings.TrimSuffix(string(text), "\r\n"), "\r\n")
	assert.Equal(t, "DXS*SN1*VA*V0/6*1", lines[0])
	assert.Equal(t, "DXE*1*1", lines[len(lines)-1])
	assert.Contains(t, lines, "ID1*SN1*M1*0001")
	assert.Contains(t, lines, "VA1*600*3*600*3")
	assert.Contains(t, lines, "CA2*350*2*350*2")
	assert.Contains(t, lines, "DA2*250*1*250*1")
	assert.Contains(t, lines, "PA1*11*250")
	assert.Contains(t, lines, "PA2*2*500*2*500")

	// G85 covers ST through the CRLF before G85; SE counts ST..SE.
	st := bytes.Index(text, []byte("ST*"))
	g := bytes.Index(text, []byte("G85*"))
	require.Positive(t, st)
	require.Greater(t, g, st)
	want := CRC16ARC(text[st:g])
	assert.Equal(t, "G85*"+strings.ToUpper(hex4(want)), lines[len(lines)-3])
	// ST is line 1 and SE the one before DXE: SE01 counts them both and all between.
	assert.Equal(t, fmt.Sprintf("SE*%d*0001", len(lines)-2), lines[len(lines)-2])
	assert.Equal(t, "ST*001*0001", lines[1])

	ev := m.Events()
	require.Len(t, ev, 1)
	assert.Equal(t, EventAuditRead, ev[0].Code)
}

func hex4(v uint16) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[v>>12], digits[v>>8&15], digits[v>>4&15], digits[v&15]})
}

func TestEventQueueBounded(t *testing.T) {
	m := New(Config{Now: fixedClock()})
	for i := range eventQueueMax + 10 {
		m.SetDoor(i%2 == 0)
	}
	assert.Len(t, m.Events(), eventQueueMax)
	assert.EqualValues(t, 10, m.DroppedEvents())
}

// TestG85ScopeOnRealAudit checks the G85 scope (ST through the CRLF before G85) on a
// real audit from shared/testdata (read in place; it has no licence to copy).
func TestG85ScopeOnRealAudit(t *testing.T) {
	b, err := os.ReadFile("../../../shared/testdata/evadts/mdisibio__dex-parse__test.dex")
	if err != nil {
		t.Skip("shared testdata not available:", err)
	}
	text := strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n", "\r\n")
	st := strings.Index(text, "ST*")
	g := strings.Index(text, "G85*")
	require.True(t, st >= 0 && g > st)
	assert.Equal(t, text[g+4:g+8], fmt.Sprintf("%04X", CRC16ARC([]byte(text[st:g]))))
}
