package bus

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/emulator/machine"
	"vendgate/mdb/cashless"
	"vendgate/protocol"
)

// run starts a bus on a 3-selection machine (1.00, 1.50, 2.00) inside the
// synctest bubble and waits until the VMC has initialised the reader.
func run(t *testing.T, cfg MDBConfig) (*MDB, *machine.Machine) {
	t.Helper()
	mach := machine.New(machine.Config{Selections: 3, Prices: []int64{100, 150, 200}, Seed: 1})
	b, err := NewMDB(mach, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	require.NoError(t, b.waitInit(context.Background()))
	return b, mach
}

type vendLog struct {
	mu sync.Mutex
	vs []Vend
}

func (l *vendLog) add(v Vend) { l.mu.Lock(); l.vs = append(l.vs, v); l.mu.Unlock() }

func TestCredit(t *testing.T) {
	tests := []struct {
		name    string
		req     CreditRequest
		wantErr error
		want    []int64 // prices of the OK vends
	}{
		{name: "one vend, dearest affordable", req: CreditRequest{Amount: 170, AutoApprove: true}, want: []int64{150}},
		{name: "two vends", req: CreditRequest{Amount: 400, AutoApprove: true, Vends: 2}, want: []int64{200, 200}},
		{name: "host approval", req: CreditRequest{Amount: 100}, want: []int64{100}},
		{name: "too little for anything", req: CreditRequest{Amount: 50, AutoApprove: true}, wantErr: ErrNoVend},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b, mach := run(t, MDBConfig{})
				var log vendLog
				tt.req.OnVend = log.add
				start := time.Now()
				res, err := b.Credit(context.Background(), tt.req)
				require.ErrorIs(t, err, tt.wantErr)
				var got []int64
				for _, v := range res.Vends {
					require.True(t, v.OK)
					got = append(got, v.Price)
				}
				assert.Equal(t, tt.want, got)
				assert.Equal(t, res.Vends, log.vs, "each vend reported as it happened")
				assert.EqualValues(t, len(tt.want), mach.Counters().CashlessVends)
				assert.Less(t, time.Since(start), time.Second, "a few polls, not a timeout")
				assert.Equal(t, cashless.Enabled, b.reader.State(), "the session is closed")
				assert.False(t, b.Busy())
			})
		})
	}
}

func TestDispense(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, mach := run(t, MDBConfig{})
		res, err := b.Dispense(context.Background(), 12, 0, nil)
		require.NoError(t, err)
		require.Len(t, res.Vends, 1)
		assert.Equal(t, Vend{Selection: 12, Price: 200, OK: true, Time: res.Vends[0].Time}, res.Vends[0])
		assert.Equal(t, 19, mach.Selections()[2].Stock)

		// A sold-out selection: approved, then VEND FAILURE.
		for range 19 {
			_, err := mach.Vend(12, protocol.PayCash)
			require.NoError(t, err)
		}
		res, err = b.Dispense(context.Background(), 12, 0, nil)
		require.ErrorIs(t, err, ErrVendFailed)
		require.Len(t, res.Vends, 1)
		assert.False(t, res.Vends[0].OK)
	})
}

func TestDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _ := run(t, MDBConfig{Disabled: true})
		_, err := b.Credit(context.Background(), CreditRequest{Amount: 500, AutoApprove: true})
		require.ErrorIs(t, err, ErrDisabled)
		b.SetEnabled(true)
		res, err := b.Credit(context.Background(), CreditRequest{Amount: 500, AutoApprove: true})
		require.NoError(t, err)
		assert.Equal(t, 1, res.OK())
	})
}

func TestSessionTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The customer dawdles longer than the session lasts.
		b, mach := run(t, MDBConfig{Think: 10 * time.Second})
		start := time.Now()
		_, err := b.Credit(context.Background(), CreditRequest{Amount: 500, AutoApprove: true, Timeout: 2 * time.Second})
		require.ErrorIs(t, err, ErrNoVend)
		assert.InDelta(t, 2*time.Second, time.Since(start), float64(300*time.Millisecond))
		assert.Zero(t, mach.Counters().Vends)
	})
}

func TestNoSessionWithoutVMC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _ := run(t, MDBConfig{StartTimeout: time.Second})
		// The VMC keeps polling address 1 while the reader sits at 2 (no
		// re-pointing: Reader().SetAddress, not b.SetAddress).
		require.NoError(t, b.reader.SetAddress(2))
		_, err := b.Credit(context.Background(), CreditRequest{Amount: 500, AutoApprove: true})
		require.ErrorIs(t, err, ErrNoSession)
		assert.False(t, b.Busy())
	})
}

func TestAddressChangeAndReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _ := run(t, MDBConfig{})
		inits := b.vmc.Stats().Inits
		require.NoError(t, b.SetAddress(context.Background(), 2))
		assert.Equal(t, inits+1, b.vmc.Stats().Inits, "the machine re-initialised the reader")
		assert.Equal(t, cashless.Enabled, b.reader.State())
		res, err := b.Credit(context.Background(), CreditRequest{Amount: 100, AutoApprove: true})
		require.NoError(t, err)
		assert.Equal(t, 1, res.OK())

		b.Reset()
		require.NoError(t, b.waitInit(context.Background()))
		assert.Equal(t, inits+2, b.vmc.Stats().Inits)
		assert.ErrorIs(t, b.SetAddress(context.Background(), 3), cashless.ErrAddress)
	})
}

func TestBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _ := run(t, MDBConfig{Think: time.Second})
		done := make(chan error, 1)
		go func() {
			_, err := b.Credit(context.Background(), CreditRequest{Amount: 500, AutoApprove: true})
			done <- err
		}()
		synctest.Wait()
		_, err := b.Dispense(context.Background(), 10, 0, nil)
		require.ErrorIs(t, err, ErrBusy)
		require.NoError(t, <-done)
		// Straight after, the reader is free again.
		_, err = b.Dispense(context.Background(), 10, 0, nil)
		require.NoError(t, err)
	})
}

func TestInterruptedByReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, _ := run(t, MDBConfig{Think: time.Second})
		done := make(chan error, 1)
		go func() {
			_, err := b.Credit(context.Background(), CreditRequest{Amount: 500, AutoApprove: true})
			done <- err
		}()
		time.Sleep(500 * time.Millisecond)
		b.Reset()
		require.ErrorIs(t, <-done, ErrInterrupted)
	})
}

func TestNotRunning(t *testing.T) {
	b, err := NewMDB(machine.New(machine.Config{}), MDBConfig{})
	require.NoError(t, err)
	_, err = b.Credit(context.Background(), CreditRequest{Amount: 100})
	require.ErrorIs(t, err, ErrNotRunning)
	_, err = b.Dispense(context.Background(), 10, 0, nil)
	require.ErrorIs(t, err, ErrNotRunning)
	_, err = NewMDB(machine.New(machine.Config{}), MDBConfig{Address: 3})
	require.ErrorIs(t, err, ErrConfig)
}
