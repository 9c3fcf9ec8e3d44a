package machine

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/mdb/executive"
)

// exeRig runs an ExecutiveVMC for a 3-selection machine (1.00, 1.50, 2.00)
// against a polling executive.Master over an in-memory pipe, inside a
// synctest bubble. prices, if set, is the master's price table
// (price-holding mode).
type exeRig struct {
	v    *ExecutiveVMC
	m    *executive.Master
	mach *Machine

	mu   sync.Mutex
	recs []executive.VendRecord
}

func (r *exeRig) records() []executive.VendRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]executive.VendRecord(nil), r.recs...)
}

func newExeRig(t *testing.T, cfg ExecutiveConfig, mcfg executive.Config) *exeRig {
	t.Helper()
	r := &exeRig{mach: New(Config{Selections: 3, Prices: []int64{100, 150, 200}, Seed: 1})}
	a, b := executive.Pipe()
	v, err := r.mach.NewExecutiveVMC(executive.NewStreamLink(b, cfg.Framing), cfg)
	require.NoError(t, err)
	r.v = v
	mcfg.Framing, mcfg.PriceHolding, mcfg.Scale = cfg.Framing, cfg.PriceHolding, uint32(v.Scale())
	mcfg.AnnounceCredit, mcfg.PollInterval = true, 20*time.Millisecond
	mcfg.OnVend = func(rec executive.VendRecord) { r.mu.Lock(); r.recs = append(r.recs, rec); r.mu.Unlock() }
	r.m = executive.NewMaster(executive.NewStreamLink(a, cfg.Framing), mcfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { assert.ErrorIs(t, v.Run(ctx), context.Canceled) })
	wg.Go(func() { assert.ErrorIs(t, r.m.Run(ctx), context.Canceled) })
	t.Cleanup(func() { cancel(); wg.Wait(); _ = a.Close() })
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, executive.StateIdle, r.m.State())
	return r
}

func TestExecutiveScale(t *testing.T) {
	tests := []struct {
		name   string
		prices []int64
		ph     bool
		scale  int64
		want   int64
		ok     bool
	}{
		{name: "kopecks fit", prices: []int64{100, 250}, want: 1, ok: true},
		{name: "tens", prices: []int64{100, 2500}, want: 10, ok: true},
		{name: "hundreds", prices: []int64{100, 25000}, want: 100, ok: true},
		{name: "nothing fits", prices: []int64{101, 2500}, ok: false},
		{name: "explicit scale that does not fit", prices: []int64{100, 150}, scale: 100, ok: false},
		{name: "price-holding keeps prices off the wire", prices: []int64{101, 2500}, ph: true, want: 1, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Config{Selections: len(tt.prices), Prices: tt.prices})
			a, _ := executive.Pipe()
			v, err := m.NewExecutiveVMC(executive.NewStreamLink(a, executive.FramingModeBit), ExecutiveConfig{PriceHolding: tt.ph, Scale: tt.scale})
			if !tt.ok {
				require.ErrorIs(t, err, ErrExecutiveConfig)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, v.Scale())
		})
	}
	_, err := New(Config{Selections: 300}).NewExecutiveVMC(nil, ExecutiveConfig{PriceHolding: true})
	require.ErrorIs(t, err, ErrExecutiveConfig, "selection numbers beyond FD")
}

func TestExecutiveCustomer(t *testing.T) {
	tests := []struct {
		name   string
		ph     bool
		visit  *Visit
		credit uint32 // granted; 0: a Dispense of visit.Selection instead
		want   []int  // selections vended (price-holding) or prices (not)
	}{
		{name: "passer-by buys the dearest affordable", credit: 170, want: []int{150}},
		{name: "planned credit visit", ph: true, visit: &Visit{Vends: 2, Funds: 300}, credit: 300, want: []int{12, 10}},
		{name: "planned dispense presses at once", ph: true, visit: &Visit{Selection: 10}, want: []int{10}},
		{name: "nothing affordable", credit: 99},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				prices := map[byte]uint32{10: 100, 11: 150, 12: 200}
				r := newExeRig(t, ExecutiveConfig{PriceHolding: tt.ph, VendTime: 50 * time.Millisecond},
					executive.Config{MultiVend: true, Prices: func(s byte) (uint32, bool) { p, ok := prices[s]; return p, ok }})
				r.v.Expect(tt.visit)
				if tt.credit > 0 {
					require.NoError(t, r.m.GrantCredit(tt.credit))
				} else {
					require.NoError(t, r.m.Dispense(byte(tt.visit.Selection)))
				}
				time.Sleep(2 * time.Second)
				var got []int
				for _, rec := range r.records() {
					require.True(t, rec.OK, "%+v", rec)
					assert.Equal(t, tt.credit == 0, rec.Free, "a dispense is free")
					if tt.ph {
						got = append(got, rec.Selection)
					} else {
						assert.Equal(t, executive.SelectionUnknown, rec.Selection)
						got = append(got, int(rec.Price))
					}
				}
				assert.Equal(t, tt.want, got)
				assert.EqualValues(t, len(tt.want), r.mach.Counters().CashlessVends)
				assert.Equal(t, len(tt.want), r.v.Stats().Vends)
				assert.Equal(t, 1, r.v.Stats().Visits, "one customer, no second passer-by for the leftover")
			})
		})
	}
}

func TestExecutiveModelRefusesVend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newExeRig(t, ExecutiveConfig{VendTime: 50 * time.Millisecond}, executive.Config{})
		r.mach.SetFault("E01")
		require.NoError(t, r.m.GrantCredit(500))
		time.Sleep(time.Second)
		recs := r.records()
		require.Len(t, recs, 1)
		assert.False(t, recs[0].OK)
		assert.Equal(t, executive.VendFailed, recs[0].Code)
		assert.Equal(t, 1, r.v.Stats().Failed)
		assert.EqualValues(t, 1, r.mach.Counters().Failed)
		assert.EqualValues(t, 500, r.m.Credit(), "a failed vend charges nothing")
	})
}

func TestExecutiveLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newExeRig(t, ExecutiveConfig{PriceHolding: true}, executive.Config{})
		// Nobody pays: no price table, the request stays denied.
		r.v.Expect(&Visit{Selection: 11})
		time.Sleep(time.Second)
		_, pending := r.v.Protocol().Pending()
		require.True(t, pending)
		r.v.Leave()
		time.Sleep(100 * time.Millisecond)
		_, pending = r.v.Protocol().Pending()
		assert.False(t, pending, "the selection was cancelled")
		assert.Equal(t, 1, r.v.Stats().GaveUp)
		assert.Equal(t, 1, r.v.Stats().Presses)
		assert.Empty(t, r.records())
	})
}
