package machine

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/mdb"
	"vendgate/mdb/cashless"
)

func TestToScaled(t *testing.T) {
	tests := []struct {
		name            string
		minor           int64
		scale, decimals byte
		expanded        bool
		want            uint32
		ok              bool
	}{
		{"kopecks", 150, 1, 2, false, 150, true},
		{"scale 5", 150, 5, 2, false, 30, true},
		{"not a multiple of the scale", 151, 5, 2, false, 0, false},
		{"one decimal", 150, 1, 1, false, 15, true},
		{"one decimal, odd kopeck", 155, 1, 1, false, 0, false},
		{"three decimals", 150, 1, 3, false, 1500, true},
		{"FFFF is reserved", 0xFFFF, 1, 2, false, 0, false},
		{"expanded fits", 0xFFFF, 1, 2, true, 0xFFFF, true},
		{"negative", -1, 1, 2, true, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := toScaled(tt.minor, tt.scale, tt.decimals, tt.expanded)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
			if ok {
				assert.Equal(t, tt.minor, toMinor(got, tt.scale, tt.decimals), "round trip")
			}
		})
	}
}

// rig runs a CashlessVMC for a 3-selection machine against a real reader
// over an in-memory MDB pipe, inside a synctest bubble.
func rig(t *testing.T, cfg CashlessConfig) (*CashlessVMC, *cashless.Peripheral, *Machine) {
	t.Helper()
	mach := New(Config{Selections: 3, Prices: []int64{100, 150, 200}, Seed: 1})
	vmcEnd, perEnd := mdb.Pipe(mdb.PipeOptions{})
	link := mdb.Config{Response: 20 * time.Millisecond}
	p, err := cashless.NewPeripheral(cashless.PeripheralConfig{Reader: cashless.ReaderConfig{
		Country: 0x1643, Scale: 1, Decimals: 2, Options: cashless.Opt32Bit}})
	require.NoError(t, err)
	v, err := mach.NewCashlessVMC(mdb.NewMaster(vmcEnd, link), cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = p.Run(ctx, mdb.NewPeripheral(perEnd, link, p.Complete)); done <- struct{}{} }()
	go func() { _ = v.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	time.Sleep(time.Second)
	require.True(t, v.Ready(), "initialised within a second")
	require.Equal(t, cashless.Enabled, p.State())
	return v, p, mach
}

func TestCashlessVMCCustomer(t *testing.T) {
	tests := []struct {
		name   string
		visit  *Visit
		credit uint32
		want   []uint16 // selections vended
	}{
		{name: "dearest affordable", credit: 170, want: []uint16{11}},
		{name: "planned selection", visit: &Visit{Selection: 10}, credit: 500, want: []uint16{10}},
		{name: "two products", visit: &Visit{Vends: 2}, credit: 300, want: []uint16{12, 10}},
		{name: "nothing affordable", credit: 99, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				v, p, mach := rig(t, CashlessConfig{PollInterval: 50 * time.Millisecond, Think: 200 * time.Millisecond})
				v.Expect(tt.visit)
				require.NoError(t, p.GrantCredit(tt.credit, true, time.Minute))
				time.Sleep(2 * time.Second)
				var got []uint16
			drain:
				for {
					select {
					case r := <-p.Records():
						assert.True(t, r.OK, "%+v", r)
						got = append(got, r.Selection)
					default:
						break drain
					}
				}
				assert.Equal(t, tt.want, got)
				assert.EqualValues(t, len(tt.want), mach.Counters().CashlessVends)
				assert.Equal(t, cashless.Enabled, p.State(), "session closed")
				assert.Equal(t, 1, v.Stats().Sessions)
			})
		})
	}
}

func TestCashlessVMCAddressAndFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, p, mach := rig(t, CashlessConfig{PollInterval: 50 * time.Millisecond})
		require.NoError(t, p.SetAddress(2))
		require.NoError(t, v.SetAddress(2))
		assert.ErrorIs(t, v.SetAddress(3), cashless.ErrAddress)
		time.Sleep(time.Second)
		assert.True(t, v.Ready())
		assert.Equal(t, 2, v.Stats().Inits)
		assert.Equal(t, cashless.Enabled, p.State())

		// A faulted machine takes the approval and reports VEND FAILURE.
		mach.SetFault("E01")
		require.NoError(t, p.GrantCredit(500, true, time.Minute))
		time.Sleep(time.Second)
		r := <-p.Records()
		assert.False(t, r.OK)
		assert.Equal(t, 1, v.Stats().Approved)
		assert.Zero(t, v.Stats().Vends)
		assert.EqualValues(t, 1, mach.Counters().Failed)
	})
}
