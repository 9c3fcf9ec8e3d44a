package machine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/dex/evadts"
	"vendgate/protocol"
)

// TestAuditParsesWithEvadts cross-checks the audit text against the project's own
// EVA-DTS parser: the check value and segment count must validate and the numbers
// must land in the right fields.
func TestAuditParsesWithEvadts(t *testing.T) {
	m := New(Config{Selections: 2, Prices: []int64{100, 250}, Serial: "SN1", Now: fixedClock()})
	for _, v := range []struct {
		sel int
		pay protocol.Payment
	}{{10, protocol.PayCash}, {11, protocol.PayCashless}, {11, protocol.PayCash}, {10, protocol.PayNone}} {
		_, err := m.Vend(v.sel, v.pay)
		require.NoError(t, err)
	}
	reps, err := evadts.ParseBytes(m.Audit())
	require.NoError(t, err)
	require.Len(t, reps, 1)
	r := reps[0]
	val := r.Validate()
	assert.True(t, val.Valid(), val.String())
	assert.Equal(t, evadts.CheckOK, val.Check, val.String())
	assert.Equal(t, val.StatedCount, val.ReceivedCount, val.String())

	assert.Equal(t, "SN1", r.Machine.Serial)
	require.NotNil(t, r.Meters.Paid)
	assert.Equal(t, evadts.Totals{ValueInit: 600, CountInit: 3, ValueReset: 600, CountReset: 3}, r.Meters.Paid.Totals)
	require.NotNil(t, r.Cash.Sales)
	assert.EqualValues(t, 350, r.Cash.Sales.ValueInit)
	require.Len(t, r.Cashless, 1)
	assert.EqualValues(t, 250, r.Cashless[0].Sales.ValueInit)
	require.Len(t, r.Products, 2)
	assert.Equal(t, "11", r.Products[1].ID)
	assert.EqualValues(t, 250, r.Products[1].Price)
	require.NotNil(t, r.Products[1].Paid)
	assert.Equal(t, evadts.VendCount{CountInit: 2, ValueInit: 500, CountReset: 2, ValueReset: 500}, r.Products[1].Paid.VendCount)
}
