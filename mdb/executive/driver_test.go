package executive

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rig is a Master and a Machine joined by a Pipe, each running in its own
// goroutine inside a synctest bubble.
type rig struct {
	m    *Master
	vmc  *Machine
	stop func()

	mu   sync.Mutex
	recs []VendRecord
	errs []error
}

func (r *rig) records() []VendRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]VendRecord(nil), r.recs...)
}

// newRig starts both sides; run false leaves the master idle (tests call
// Poll themselves). stop ends both goroutines and waits for them.
func newRig(t *testing.T, mcfg MachineConfig, cfg Config, run bool) *rig {
	t.Helper()
	r := &rig{}
	cfg.Framing = mcfg.Framing
	cfg.OnVend = func(v VendRecord) { r.mu.Lock(); r.recs = append(r.recs, v); r.mu.Unlock() }
	cfg.OnPollError = func(err error) { r.mu.Lock(); r.errs = append(r.errs, err); r.mu.Unlock() }
	a, b := Pipe()
	vmc, err := NewMachine(mcfg)
	require.NoError(t, err)
	r.vmc = vmc
	r.m = NewMaster(NewStreamLink(a, mcfg.Framing), cfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		err := vmc.Serve(ctx, NewStreamLink(b, mcfg.Framing))
		assert.ErrorIs(t, err, context.Canceled)
	})
	if run {
		wg.Go(func() {
			err := r.m.Run(ctx)
			assert.ErrorIs(t, err, context.Canceled)
		})
	}
	r.stop = func() {
		cancel()
		wg.Wait()
		_ = a.Close()
	}
	return r
}

var snacks = map[byte]byte{1: 50, 2: 120, 11: 80}

func TestMasterCreditAndVend(t *testing.T) {
	for _, f := range []Framing{FramingModeBit, FramingEvenParity, FramingOddParity} {
		t.Run("non-price-holding/"+f.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, MachineConfig{Framing: f, Prices: snacks}, Config{Scale: 1, AnnounceCredit: true}, true)
				defer r.stop()
				time.Sleep(time.Second)
				require.Equal(t, StateIdle, r.m.State())
				require.NoError(t, r.m.GrantCredit(100))
				time.Sleep(time.Second)
				d, ok := r.vmc.Display()
				require.True(t, ok)
				assert.Equal(t, byte(100), d, "credit announced with ACCEPT DATA")

				require.NoError(t, r.vmc.Select(1))
				time.Sleep(5 * time.Second) // poll, VEND, 2 s vend time
				assert.Equal(t, []VendRecord{{Selection: SelectionUnknown, Price: 50, OK: true}}, r.records())
				assert.Equal(t, []MachineVend{{Selection: 1, Price: 50, OK: true}}, r.vmc.Vends())
				assert.Zero(t, r.m.Credit(), "single vend clears the rest")
				assert.Equal(t, StateIdle, r.m.State())
				d, _ = r.vmc.Display()
				assert.Zero(t, d, "cleared credit announced")
			})
		})
	}
	t.Run("price-holding", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			prices := map[byte]uint32{1: 150, 2: 250}
			r := newRig(t, MachineConfig{PriceHolding: true, Prices: snacks}, Config{
				PriceHolding: true,
				Prices:       func(s byte) (uint32, bool) { p, ok := prices[s]; return p, ok },
			}, true)
			defer r.stop()
			time.Sleep(time.Second)
			require.NoError(t, r.m.GrantCredit(200))

			require.NoError(t, r.vmc.Select(2)) // 250 > 200: denied
			time.Sleep(5 * time.Second)
			assert.Empty(t, r.records())
			assert.Empty(t, r.vmc.Vends())
			assert.Equal(t, StateDenied, r.m.State())

			r.vmc.Cancel()
			time.Sleep(time.Second)
			assert.Equal(t, StateCredit, r.m.State(), "withdrawn request")

			require.NoError(t, r.vmc.Select(1))
			time.Sleep(5 * time.Second)
			assert.Equal(t, []VendRecord{{Selection: 1, Price: 150, OK: true}}, r.records())
			assert.Equal(t, []MachineVend{{Selection: 1, OK: true}}, r.vmc.Vends())

			require.NoError(t, r.vmc.Select(11)) // no price in the master's table
			time.Sleep(5 * time.Second)
			assert.Equal(t, StateDenied, r.m.State())
			assert.Len(t, r.records(), 1)
		})
	})
}

func TestMasterVendFailure(t *testing.T) {
	for _, ph := range []bool{false, true} {
		name := map[bool]string{false: "non-price-holding", true: "price-holding"}[ph]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, MachineConfig{PriceHolding: ph, Prices: snacks}, Config{
					PriceHolding: ph,
					Prices:       func(byte) (uint32, bool) { return 60, true },
				}, true)
				defer r.stop()
				time.Sleep(time.Second)
				require.NoError(t, r.m.GrantCredit(100))
				r.vmc.FailNextVend(0x81)
				require.NoError(t, r.vmc.Select(1))
				time.Sleep(5 * time.Second)
				recs := r.records()
				require.Len(t, recs, 1)
				assert.False(t, recs[0].OK)
				assert.Equal(t, byte(0x81), recs[0].Code)
				assert.NoError(t, recs[0].Err, "the VMC did answer")
				assert.Equal(t, uint32(100), r.m.Credit(), "failed vend charges nothing")
				assert.Equal(t, StateCredit, r.m.State())
			})
		})
	}
}

func TestMasterDispense(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, MachineConfig{PriceHolding: true, Prices: snacks}, Config{
			PriceHolding: true,
			Prices:       func(byte) (uint32, bool) { return 90, true },
		}, true)
		defer r.stop()
		time.Sleep(time.Second)
		require.NoError(t, r.m.Dispense(2))
		require.NoError(t, r.vmc.Select(1)) // not the dispensed one, no credit
		time.Sleep(3 * time.Second)
		assert.Equal(t, StateDenied, r.m.State())
		r.vmc.Cancel()
		time.Sleep(time.Second)
		require.NoError(t, r.vmc.Select(2))
		time.Sleep(5 * time.Second)
		assert.Equal(t, []VendRecord{{Selection: 2, Price: 90, OK: true, Free: true}}, r.records())
		assert.Equal(t, StateIdle, r.m.State(), "dispense authorises one vend")
	})
	t.Run("non-price-holding", func(t *testing.T) {
		m := NewMaster(nil, Config{})
		assert.ErrorIs(t, m.Dispense(1), ErrUnsupported)
	})
}

func TestMasterSilentMachine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, MachineConfig{Prices: snacks}, Config{Retries: 3}, false)
		defer r.stop()
		ctx := context.Background()
		r.vmc.SetSilent(true)
		start := time.Now()
		err := r.m.Poll(ctx)
		assert.ErrorIs(t, err, ErrTimeout)
		var xe *ExchangeError
		require.ErrorAs(t, err, &xe)
		assert.Equal(t, OpStatus, xe.Cmd.Op)
		assert.Equal(t, DefaultResponseTimeout, time.Since(start), "silence reported after exactly one response timeout")
		assert.ErrorIs(t, r.m.GrantCredit(10), ErrOffline, "never seen online")

		r.vmc.SetSilent(false)
		require.NoError(t, r.m.Poll(ctx))
		require.Equal(t, StateIdle, r.m.State())
		require.NoError(t, r.m.GrantCredit(10))

		r.vmc.SetSilent(true)
		start = time.Now()
		for i := 1; i <= 3; i++ {
			err = r.m.Poll(ctx)
			require.ErrorIs(t, err, ErrTimeout)
			assert.Equal(t, i == 3, errors.Is(err, ErrOffline), "poll %d", i)
		}
		// Each retry first waits for a quiet line (one more timeout).
		assert.Equal(t, (2*3-1)*DefaultResponseTimeout, time.Since(start), "offline after Retries timeouts")
		assert.Equal(t, StateOffline, r.m.State())
		assert.ErrorIs(t, r.m.GrantCredit(10), ErrOffline)
		assert.Contains(t, err.Error(), "VMC offline")

		r.vmc.SetSilent(false)
		require.NoError(t, r.m.Poll(ctx))
		assert.Equal(t, StateCredit, r.m.State(), "back online, credit kept")
		assert.Equal(t, uint32(10), r.m.Credit())
	})
}

func TestMasterRunReportsSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, MachineConfig{Prices: snacks}, Config{}, true)
		defer r.stop()
		time.Sleep(time.Second)
		require.Equal(t, StateIdle, r.m.State())
		r.vmc.SetSilent(true)
		// Retries × (response timeout + poll interval) bounds the detection.
		// Bound: Retries × (quiet wait + response timeout + poll interval).
		time.Sleep(DefaultRetries * (2*DefaultResponseTimeout + DefaultPollInterval))
		assert.Equal(t, StateOffline, r.m.State())
		r.mu.Lock()
		errs := append([]error(nil), r.errs...)
		r.mu.Unlock()
		require.GreaterOrEqual(t, len(errs), DefaultRetries)
		for i, err := range errs[:DefaultRetries] {
			assert.ErrorIs(t, err, ErrTimeout)
			assert.Equal(t, i == DefaultRetries-1, errors.Is(err, ErrOffline), "error %d", i)
		}
	})
}

func TestMasterVendTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, MachineConfig{Prices: snacks, VendTime: 90 * time.Second}, Config{}, true)
		defer r.stop()
		time.Sleep(time.Second)
		require.NoError(t, r.m.GrantCredit(100))
		require.NoError(t, r.vmc.Select(1))
		time.Sleep(time.Second)
		require.Equal(t, StateVending, r.m.State())
		time.Sleep(DefaultVendTimeout)
		recs := r.records()
		require.Len(t, recs, 1)
		assert.ErrorIs(t, recs[0].Err, ErrTimeout)
		assert.False(t, recs[0].OK)
		assert.Equal(t, uint32(100), r.m.Credit(), "unknown outcome charges nothing")
		// The machine did vend, late: that is why the record says "unknown".
		time.Sleep(time.Minute)
		assert.Equal(t, []MachineVend{{Selection: 1, Price: 50, OK: true}}, r.vmc.Vends())
		assert.Equal(t, StateCredit, r.m.State(), "back online after the late answer")
		assert.Len(t, r.records(), 1)
	})
}

func TestMasterReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, MachineConfig{Prices: snacks}, Config{AnnounceCredit: true}, true)
		defer r.stop()
		time.Sleep(time.Second)
		require.NoError(t, r.m.GrantCredit(100))
		time.Sleep(time.Second)
		require.NoError(t, r.m.Reset(context.Background()))
		assert.Zero(t, r.m.Credit())
		assert.Equal(t, StateIdle, r.m.State())
		time.Sleep(time.Second)
		d, _ := r.vmc.Display()
		assert.Zero(t, d, "display cleared")
		require.NoError(t, r.vmc.Select(1))
		time.Sleep(5 * time.Second)
		assert.Equal(t, StateDenied, r.m.State(), "no credit after reset")
		assert.Empty(t, r.vmc.Vends())

		r.vmc.SetSilent(true)
		err := r.m.Reset(context.Background())
		assert.ErrorIs(t, err, ErrTimeout, "reset tells when the VMC does not answer")
	})
}

func TestMasterInhibited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, MachineConfig{Prices: snacks}, Config{}, true)
		defer r.stop()
		r.vmc.SetInhibited(true)
		time.Sleep(time.Second)
		assert.True(t, r.m.Status().Inhibited)
		require.NoError(t, r.m.GrantCredit(100))
		require.NoError(t, r.vmc.Select(1))
		time.Sleep(3 * time.Second)
		assert.Equal(t, StateDenied, r.m.State())
		r.vmc.SetInhibited(false)
		time.Sleep(3 * time.Second)
		assert.Len(t, r.records(), 1, "re-examined once the inhibit is lifted")
	})
}

// scripted answers each command read from the pipe with the next byte of
// replies (-1 = stay silent) and records the commands.
func scripted(t *testing.T, conn *PipeEnd, replies []int) <-chan []Word {
	out := make(chan []Word, 1)
	go func() {
		l := NewStreamLink(conn, FramingModeBit)
		var got []Word
		buf := make([]Word, 1)
		for _, rep := range replies {
			n, err := l.ReadWords(buf)
			if err != nil || n == 0 {
				break
			}
			got = append(got, buf[0])
			if rep >= 0 {
				assert.NoError(t, l.WriteWords([]Word{Word(rep)}))
			}
		}
		out <- got
	}()
	return out
}

func TestMasterPNAKRepeatsVend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := Pipe()
		defer a.Close()
		var recs []VendRecord
		m := NewMaster(NewStreamLink(a, FramingModeBit), Config{OnVend: func(v VendRecord) { recs = append(recs, v) }})
		// STATUS → 00, CREDIT → FE … after credit: STATUS, CREDIT → 32 (price),
		// VEND → PNAK, VEND → 00.
		done := scripted(t, b, []int{0x00, 0xFE, 0x00, 0x32, 0xFF, 0x00})
		ctx := context.Background()
		require.NoError(t, m.Poll(ctx))
		require.NoError(t, m.Poll(ctx))
		require.NoError(t, m.GrantCredit(60))
		require.NoError(t, m.Poll(ctx))
		require.NoError(t, m.Poll(ctx))
		require.Equal(t, StateVending, m.State())
		err := m.Poll(ctx)
		require.ErrorIs(t, err, ErrPNAK)
		require.Equal(t, StateVending, m.State())
		require.NoError(t, m.Poll(ctx))
		assert.Equal(t, []VendRecord{{Selection: SelectionUnknown, Price: 0x32, OK: true}}, recs)
		assert.Equal(t, []Word{0x131, 0x132, 0x131, 0x132, 0x133, 0x133}, <-done)
	})
}

func TestMasterCorruptAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := Pipe()
		defer a.Close()
		m := NewMaster(NewStreamLink(a, FramingModeBit), Config{})
		// A reply with the mode bit set is corrupt; the next poll waits for a
		// quiet line and goes on.
		done := scripted(t, b, []int{0x100, 0x00})
		err := m.Poll(context.Background())
		assert.ErrorIs(t, err, ErrParity)
		require.NoError(t, m.Poll(context.Background()))
		assert.Len(t, <-done, 2)
	})
}

func TestMasterContextCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := Pipe()
		defer a.Close()
		defer b.Close()
		m := NewMaster(NewStreamLink(a, FramingModeBit), Config{ResponseTimeout: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		err := m.Poll(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, time.Second, time.Since(start))
		ctx2, cancel2 := context.WithCancel(context.Background())
		go func() { time.Sleep(time.Second); cancel2() }()
		assert.ErrorIs(t, m.Poll(ctx2), context.Canceled)
		assert.Equal(t, 2*time.Second, time.Since(start))
	})
}

func TestMachineAnswersPNAK(t *testing.T) {
	tests := []struct {
		name  string
		f     Framing
		words []Word
		want  []Word
	}{
		{"unknown command", FramingModeBit, []Word{0x134}, []Word{0x0FF}},
		{"parity error", FramingEvenParity, []Word{0x031}, []Word{0x0FF}},
		{"stray data ignored then status", FramingModeBit, []Word{0x031, 0x131}, []Word{0x000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := Pipe()
				defer a.Close()
				vmc, err := NewMachine(MachineConfig{Framing: tc.f, Prices: snacks})
				require.NoError(t, err)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error)
				go func() { done <- vmc.Serve(ctx, NewStreamLink(b, tc.f)) }()
				l := NewStreamLink(a, tc.f)
				require.NoError(t, l.WriteWords(tc.words))
				require.NoError(t, l.SetReadDeadline(time.Now().Add(time.Second)))
				var got []Word
				buf := make([]Word, 4)
				for {
					n, err := l.ReadWords(buf)
					got = append(got, buf[:n]...)
					if err != nil {
						break
					}
				}
				want := make([]Word, len(tc.want))
				for i, w := range tc.want {
					want[i] = tc.f.Word(w.Byte(), false)
				}
				assert.Equal(t, want, got)
				cancel()
				assert.ErrorIs(t, <-done, context.Canceled)
			})
		})
	}
}

func TestNewMachineValidates(t *testing.T) {
	_, err := NewMachine(MachineConfig{Prices: map[byte]byte{1: 0xFE}})
	assert.ErrorIs(t, err, ErrRange)
	_, err = NewMachine(MachineConfig{Prices: map[byte]byte{0xFF: 1}})
	assert.ErrorIs(t, err, ErrRange)
	_, err = NewMachine(MachineConfig{Framing: 9})
	assert.ErrorIs(t, err, ErrRange)
	m, err := NewMachine(MachineConfig{Prices: snacks})
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 11}, m.Selections())
	assert.ErrorIs(t, m.Select(3), ErrRange)
	require.NoError(t, m.Select(1))
	assert.ErrorIs(t, m.Select(2), ErrBusy)
}

func TestMachineRequestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := NewMachine(MachineConfig{Prices: snacks, RequestTimeout: 30 * time.Second})
		require.NoError(t, err)
		require.NoError(t, m.Select(2))
		b, ok := m.Answer(Command{Op: OpCredit}, time.Now())
		require.True(t, ok)
		assert.Equal(t, byte(120), b)
		time.Sleep(30 * time.Second)
		b, _ = m.Answer(Command{Op: OpCredit}, time.Now())
		assert.Equal(t, ByteNoVendRequest, b)
		b, _ = m.Answer(Command{Op: OpVend}, time.Now())
		assert.Equal(t, VendFailed, b, "VEND without a selection fails")
	})
}
