package machine

import (
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

func TestEventQueueBounded(t *testing.T) {
	m := New(Config{Now: fixedClock()})
	for i := range eventQueueMax + 10 {
		m.SetDoor(i%2 == 0)
	}
	assert.Len(t, m.Events(), eventQueueMax)
	assert.EqualValues(t, 10, m.DroppedEvents())
}
