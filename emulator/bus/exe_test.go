package bus

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/emulator/machine"
	"vendgate/mdb/executive"
	"vendgate/protocol"
)

// runEXE starts an Executive bus on a 3-selection machine (1.00, 1.50,
// 2.00; selections 10, 11, 12) inside the synctest bubble and waits until
// the payment system hears the machine.
func runEXE(t *testing.T, cfg EXEConfig) (*EXE, *machine.Machine) {
	t.Helper()
	mach := machine.New(machine.Config{Selections: 3, Prices: []int64{100, 150, 200}, Seed: 1})
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	b, err := NewEXE(mach, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
		assert.False(t, b.Running())
	})
	time.Sleep(100 * time.Millisecond)
	require.True(t, b.Online(), "the machine answers within a few polls")
	return b, mach
}

func TestEXECredit(t *testing.T) {
	tests := []struct {
		name    string
		ph      bool
		req     CreditRequest
		wantErr error
		want    []Vend // OK, Time ignored
	}{
		{name: "non-price-holding: the selection stays unknown", req: CreditRequest{Amount: 170, AutoApprove: true},
			want: []Vend{{Selection: executive.SelectionUnknown, Price: 150}}},
		{name: "price-holding: the selection is known", ph: true, req: CreditRequest{Amount: 170, AutoApprove: true},
			want: []Vend{{Selection: 11, Price: 150}}},
		{name: "two vends", ph: true, req: CreditRequest{Amount: 400, Vends: 2},
			want: []Vend{{Selection: 12, Price: 200}, {Selection: 12, Price: 200}}},
		{name: "too little for anything", req: CreditRequest{Amount: 50, AutoApprove: true, Timeout: 2 * time.Second},
			wantErr: ErrNoVend},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b, mach := runEXE(t, EXEConfig{PriceHolding: tt.ph})
				var log vendLog
				tt.req.OnVend = log.add
				start := time.Now()
				res, err := b.Credit(context.Background(), tt.req)
				require.ErrorIs(t, err, tt.wantErr)
				var got []Vend
				for _, v := range res.Vends {
					require.True(t, v.OK)
					got = append(got, Vend{Selection: v.Selection, Price: v.Price})
				}
				assert.Equal(t, tt.want, got)
				assert.Equal(t, res.Vends, log.vs, "each vend reported as it happened")
				assert.EqualValues(t, len(tt.want), mach.Counters().CashlessVends)
				if tt.wantErr == nil {
					assert.Less(t, time.Since(start), time.Second, "a few polls, not a timeout")
				} else {
					assert.GreaterOrEqual(t, time.Since(start), tt.req.Timeout, "waited out the credit's timeout")
				}
				assert.Zero(t, b.Master().Credit(), "what was left is withdrawn")
				assert.False(t, b.Busy())
			})
		})
	}
}

func TestEXEDispense(t *testing.T) {
	t.Run("price-holding", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b, mach := runEXE(t, EXEConfig{PriceHolding: true})
			res, err := b.Dispense(context.Background(), 12, 0, nil)
			require.NoError(t, err)
			require.Len(t, res.Vends, 1)
			assert.Equal(t, Vend{Selection: 12, Price: 200, OK: true, Time: res.Vends[0].Time}, res.Vends[0])
			assert.Equal(t, 19, mach.Selections()[2].Stock)
			assert.Zero(t, b.Master().Credit(), "a dispense grants no credit")
			_, armed := sessionArmed(b)
			assert.False(t, armed, "the authorisation was used")

			// A sold-out selection: VEND answered failure.
			for range 19 {
				_, err := mach.Vend(12, protocol.PayCash)
				require.NoError(t, err)
			}
			res, err = b.Dispense(context.Background(), 12, 0, nil)
			require.ErrorIs(t, err, ErrVendFailed)
			require.Len(t, res.Vends, 1)
			assert.False(t, res.Vends[0].OK)
			assert.Equal(t, 1, b.VMC().Stats().Failed)
		})
	})
	t.Run("non-price-holding is unsupported", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b, mach := runEXE(t, EXEConfig{})
			_, err := b.Dispense(context.Background(), 12, 0, nil)
			require.ErrorIs(t, err, ErrUnsupported)
			require.ErrorIs(t, err, executive.ErrUnsupported)
			assert.Contains(t, err.Error(), "price-holding")
			assert.Zero(t, mach.Counters().Vends)
			assert.Zero(t, b.Stats().Ops, "refused before starting")
		})
	})
}

// sessionArmed reports whether a Dispense authorisation is still on offer
// (the master's state is Credit with no credit).
func sessionArmed(b *EXE) (executive.State, bool) {
	st := b.Master().State()
	return st, st == executive.StateCredit && b.Master().Credit() == 0
}

func TestEXEDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _ := runEXE(t, EXEConfig{Disabled: true})
		_, err := b.Credit(context.Background(), CreditRequest{Amount: 500})
		require.ErrorIs(t, err, ErrDisabled)
		b.SetEnabled(true)
		res, err := b.Credit(context.Background(), CreditRequest{Amount: 500})
		require.NoError(t, err)
		assert.Equal(t, 1, res.OK())
	})
}

func TestEXEDisableWithdraws(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, mach := runEXE(t, EXEConfig{Think: 5 * time.Second})
		done := make(chan error, 1)
		go func() {
			_, err := b.Credit(context.Background(), CreditRequest{Amount: 500})
			done <- err
		}()
		time.Sleep(time.Second)
		b.SetEnabled(false)
		require.ErrorIs(t, <-done, ErrDisabled)
		time.Sleep(10 * time.Second)
		assert.Zero(t, mach.Counters().Vends, "the customer left before pressing")
		assert.Zero(t, b.Master().Credit())
	})
}

func TestEXESetAddressUnsupported(t *testing.T) {
	b, err := NewEXE(machine.New(machine.Config{}), EXEConfig{})
	require.NoError(t, err)
	require.ErrorIs(t, b.SetAddress(context.Background(), 2), ErrUnsupported)
}

func TestEXEResetInterrupts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, mach := runEXE(t, EXEConfig{Think: time.Second})
		done := make(chan error, 1)
		go func() {
			_, err := b.Credit(context.Background(), CreditRequest{Amount: 500})
			done <- err
		}()
		time.Sleep(500 * time.Millisecond)
		require.NoError(t, b.Reset(context.Background()))
		require.ErrorIs(t, <-done, ErrInterrupted)
		time.Sleep(2 * time.Second)
		assert.Zero(t, b.Master().Credit(), "the reset dropped the credit")
		assert.Zero(t, mach.Counters().Vends)
		assert.Equal(t, executive.StateIdle, b.Master().State())
	})
}

func TestEXEPatience(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Price-holding, but the payment system never learns a price the
		// credit covers: the customer's selection is never vended and the
		// credit times out.
		b, mach := runEXE(t, EXEConfig{PriceHolding: true})
		b.VMC().Expect(&machine.Visit{Selection: 12})
		require.NoError(t, b.Master().GrantCredit(150)) // 12 costs 200
		time.Sleep(time.Second)
		sel, pending := b.VMC().Protocol().Pending()
		require.True(t, pending)
		assert.EqualValues(t, 12, sel)
		assert.Equal(t, executive.StateDenied, b.Master().State())
		time.Sleep(machine.DefaultExecutivePatience)
		_, pending = b.VMC().Protocol().Pending()
		assert.False(t, pending, "the customer gave up")
		assert.Equal(t, 1, b.VMC().Stats().GaveUp)
		assert.Zero(t, mach.Counters().Vends)
	})
}

func TestEXEOffline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _ := runEXE(t, EXEConfig{StartTimeout: time.Second})
		b.VMC().Protocol().SetSilent(true)
		time.Sleep(2 * time.Second)
		require.False(t, b.Online())
		_, err := b.Credit(context.Background(), CreditRequest{Amount: 500})
		require.ErrorIs(t, err, ErrOffline)
		require.ErrorIs(t, err, executive.ErrOffline)
		b.VMC().Protocol().SetSilent(false)
		time.Sleep(time.Second)
		res, err := b.Credit(context.Background(), CreditRequest{Amount: 500})
		require.NoError(t, err)
		assert.Equal(t, 1, res.OK())
	})
}

func TestEXEBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _ := runEXE(t, EXEConfig{PriceHolding: true, Think: time.Second})
		done := make(chan error, 1)
		go func() {
			_, err := b.Credit(context.Background(), CreditRequest{Amount: 500})
			done <- err
		}()
		time.Sleep(100 * time.Millisecond)
		_, err := b.Dispense(context.Background(), 10, 0, nil)
		require.ErrorIs(t, err, ErrBusy)
		require.NoError(t, <-done)
		_, err = b.Dispense(context.Background(), 10, 0, nil)
		require.NoError(t, err)
	})
}

func TestEXENotRunningAndConfig(t *testing.T) {
	b, err := NewEXE(machine.New(machine.Config{Prices: []int64{100}}), EXEConfig{PriceHolding: true})
	require.NoError(t, err)
	_, err = b.Credit(context.Background(), CreditRequest{Amount: 100})
	require.ErrorIs(t, err, ErrNotRunning)
	_, err = b.Dispense(context.Background(), 10, 0, nil)
	require.ErrorIs(t, err, ErrNotRunning)
	_, err = b.Credit(context.Background(), CreditRequest{Amount: 0})
	require.Error(t, err)

	// 1.01 and 10.00 fit no scale of one byte in non-price-holding mode.
	_, err = NewEXE(machine.New(machine.Config{Selections: 2, Prices: []int64{101, 1000}}), EXEConfig{})
	require.ErrorIs(t, err, ErrConfig)
	require.ErrorIs(t, err, machine.ErrExecutiveConfig)
	// Price-holding does not put prices on the wire.
	_, err = NewEXE(machine.New(machine.Config{Selections: 2, Prices: []int64{101, 1000}}), EXEConfig{PriceHolding: true})
	require.NoError(t, err)
}
