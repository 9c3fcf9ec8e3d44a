package cashless

import (
	"context"
	"errors"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/internal/pty"
	"vendgate/mdb"
)

type rig struct {
	vmc  *VMC
	per  *Peripheral
	stop func()
}

// newRig connects a VMC driver and a Peripheral through vmcPort/perPort and
// starts the peripheral. stop cancels it and waits for Run to return.
func newRig(t *testing.T, vmcPort, perPort mdb.Port, link mdb.Config, vcfg VMCConfig, pcfg PeripheralConfig) *rig {
	t.Helper()
	p, err := NewPeripheral(pcfg)
	require.NoError(t, err)
	v, err := NewVMC(mdb.NewMaster(vmcPort, link), vcfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, mdb.NewPeripheral(perPort, link, p.Complete)) }()
	return &rig{vmc: v, per: p, stop: func() {
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
	}}
}

func pipeRig(t *testing.T, vcfg VMCConfig, pcfg PeripheralConfig) *rig {
	v, p := mdb.Pipe(mdb.PipeOptions{CharTime: mdb.DefaultCharTime})
	t.Cleanup(func() { v.Close() })
	return newRig(t, v, p, mdb.Config{}, vcfg, pcfg)
}

var testReader = ReaderConfig{Level: 3, Country: 0x1978, Scale: 1, Decimals: 2, Misc: MiscRefund | MiscMultivend,
	ID: Identity{Manufacturer: "VGT", Serial: "000000000042", Model: "vendgate", Software: 0x0100}, Options: OptAlwaysIdle}

func nextRecord(t *testing.T, p *Peripheral) VendRecord {
	t.Helper()
	select {
	case r := <-p.Records():
		return r
	default:
		t.Fatal("no vend record")
		return VendRecord{}
	}
}

func TestDriverInitGrantVend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := pipeRig(t, VMCConfig{Columns: 16, Rows: 2, Options: OptAlwaysIdle, PollInterval: 50 * time.Millisecond}, PeripheralConfig{Reader: testReader})
		defer r.stop()
		ctx := context.Background()
		require.NoError(t, r.vmc.Init(ctx))
		assert.Equal(t, Enabled, r.per.State())
		assert.Equal(t, byte(3), r.vmc.ReaderConfig().Level)
		assert.Equal(t, "VGT", r.vmc.PeripheralID().ID.Manufacturer)
		assert.Equal(t, OptAlwaysIdle, r.vmc.Options())
		assert.Equal(t, Mode{Level: 3, DisplaySize: 32}, r.per.Mode())

		// Grant 5.00 with auto-approve: BEGIN SESSION at the next POLL.
		require.NoError(t, r.per.GrantCredit(500, true, time.Minute))
		funds, err := r.vmc.WaitSession(ctx)
		require.NoError(t, err)
		assert.Equal(t, uint32(500), funds)
		assert.Equal(t, SessionIdle, r.per.State())
		assert.ErrorIs(t, r.per.GrantCredit(100, true, 0), ErrBusy)

		start := time.Now()
		out, err := r.vmc.Vend(ctx, 200, 12, true)
		require.NoError(t, err)
		assert.Equal(t, VendOutcome{Approved: true, Amount: 200}, out)
		rec := nextRecord(t, r.per)
		assert.Equal(t, VendRecord{Selection: 12, Price: 200, Charged: 200, OK: true, Remote: true, Time: rec.Time}, rec)
		assert.WithinDuration(t, time.Now(), rec.Time, time.Second)
		assert.Less(t, time.Since(start), 200*time.Millisecond, "one poll interval plus bus time")

		// 3.00 left: a 4.00 vend is denied.
		out, err = r.vmc.Vend(ctx, 400, 13, true)
		require.NoError(t, err)
		assert.False(t, out.Approved)
		rec = nextRecord(t, r.per)
		assert.True(t, rec.Denied)
		assert.Equal(t, uint16(13), rec.Selection)

		// Failed vend: approved, then VEND FAILURE, recorded as not OK.
		out, err = r.vmc.Vend(ctx, 100, 14, false)
		require.NoError(t, err)
		assert.True(t, out.Approved)
		rec = nextRecord(t, r.per)
		assert.False(t, rec.OK)
		assert.Equal(t, uint16(14), rec.Selection)

		require.NoError(t, r.vmc.EndSession(ctx))
		assert.Equal(t, Enabled, r.per.State())
		_, open := r.vmc.Session()
		assert.False(t, open)
	})
}

func TestDriverSessionTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := pipeRig(t, VMCConfig{PollInterval: 100 * time.Millisecond}, PeripheralConfig{Reader: testReader})
		defer r.stop()
		ctx := context.Background()
		require.NoError(t, r.vmc.Init(ctx))
		require.NoError(t, r.per.GrantCredit(500, true, 2*time.Second))
		_, err := r.vmc.WaitSession(ctx)
		require.NoError(t, err)
		start := time.Now()
		_, err = r.vmc.PollFor(ctx, nil, RespSessionCancel)
		require.NoError(t, err)
		assert.InDelta(t, 2*time.Second, time.Since(start), float64(200*time.Millisecond))
		require.NoError(t, r.vmc.EndSession(ctx))
		assert.Equal(t, Enabled, r.per.State())
	})
}

func TestDriverDisable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := pipeRig(t, VMCConfig{Options: OptAlwaysIdle, PollInterval: 50 * time.Millisecond}, PeripheralConfig{Reader: testReader})
		defer r.stop()
		ctx := context.Background()
		require.NoError(t, r.vmc.Init(ctx))

		// An open session is cancelled when the remote side disables payments.
		require.NoError(t, r.per.GrantCredit(500, true, 0))
		_, err := r.vmc.WaitSession(ctx)
		require.NoError(t, err)
		r.per.SetEnabled(false)
		_, err = r.vmc.PollFor(ctx, nil, RespSessionCancel)
		require.NoError(t, err)
		require.NoError(t, r.vmc.EndSession(ctx))

		assert.ErrorIs(t, r.per.GrantCredit(500, true, 0), ErrDisabled)
		// An always-idle vend request is denied.
		out, err := r.vmc.Vend(ctx, 100, 3, true)
		require.NoError(t, err)
		assert.False(t, out.Approved)
		assert.True(t, nextRecord(t, r.per).Denied)
		assert.Equal(t, Enabled, r.per.State(), "still answering the VMC")

		r.per.SetEnabled(true)
		require.NoError(t, r.per.GrantCredit(100, true, 0))
		funds, err := r.vmc.WaitSession(ctx)
		require.NoError(t, err)
		assert.Equal(t, uint32(100), funds)
	})
}

func TestDriverAddressChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := pipeRig(t, VMCConfig{PollInterval: 50 * time.Millisecond}, PeripheralConfig{Reader: testReader})
		defer r.stop()
		ctx := context.Background()
		require.NoError(t, r.vmc.Init(ctx))

		require.NoError(t, r.per.SetAddress(2))
		assert.Equal(t, mdb.AddrCashless2, r.per.Address())
		assert.Equal(t, Inactive, r.per.State())
		_, err := r.vmc.Poll(ctx)
		assert.ErrorIs(t, err, mdb.ErrTimeout, "nobody at 0x10 any more")

		require.NoError(t, r.vmc.SetAddress(2))
		rs, err := r.vmc.Poll(ctx)
		require.NoError(t, err)
		assert.Equal(t, []Response{{Code: RespJustReset}}, rs, "the reader announces itself at 0x60")
		require.NoError(t, r.vmc.Init(ctx))
		assert.Equal(t, Enabled, r.per.State())
		assert.ErrorIs(t, r.per.SetAddress(3), ErrAddress)
	})
}

func TestDriverReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := pipeRig(t, VMCConfig{PollInterval: 50 * time.Millisecond}, PeripheralConfig{Reader: testReader})
		defer r.stop()
		ctx := context.Background()
		require.NoError(t, r.vmc.Init(ctx))
		require.NoError(t, r.per.GrantCredit(500, true, 0))
		_, err := r.vmc.WaitSession(ctx)
		require.NoError(t, err)

		r.per.Reset()
		assert.Equal(t, Inactive, r.per.State())
		rs, err := r.vmc.Poll(ctx)
		require.NoError(t, err)
		assert.Equal(t, []Response{{Code: RespJustReset}}, rs)
		assert.True(t, r.vmc.NeedsInit())
		_, open := r.vmc.Session()
		assert.False(t, open)
		require.NoError(t, r.vmc.Init(ctx))
		assert.Equal(t, Enabled, r.per.State())
	})
}

func TestDriverDispense(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := pipeRig(t, VMCConfig{PollInterval: 50 * time.Millisecond}, PeripheralConfig{Reader: testReader})
		defer r.stop()
		ctx := context.Background()
		require.NoError(t, r.vmc.Init(ctx))
		require.NoError(t, r.per.Dispense(7, time.Minute))
		funds, err := r.vmc.WaitSession(ctx)
		require.NoError(t, err)
		assert.Equal(t, uint32(0xFFFF), funds, "funds not shown")
		out, err := r.vmc.Vend(ctx, 150, 8, true)
		require.NoError(t, err)
		assert.False(t, out.Approved, "another selection is denied")
		nextRecord(t, r.per)
		out, err = r.vmc.Vend(ctx, 150, 7, true)
		require.NoError(t, err)
		assert.True(t, out.Approved)
		rec := nextRecord(t, r.per)
		assert.True(t, rec.OK)
		assert.Equal(t, uint16(7), rec.Selection)
		assert.Equal(t, uint32(150), rec.Charged)
	})
}

func TestDriverRunLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := pipeRig(t, VMCConfig{PollInterval: 25 * time.Millisecond}, PeripheralConfig{Reader: testReader})
		defer r.stop()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var seen []RespCode
		go func() {
			time.Sleep(time.Second)
			_ = r.per.GrantCredit(300, true, 500*time.Millisecond)
		}()
		err := r.vmc.Run(ctx, func(x Response) { seen = append(seen, x.Code) })
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		// Run initialised the reader, received the session, answered the
		// timeout's SESSION CANCEL REQUEST with SESSION COMPLETE and got END SESSION.
		assert.Equal(t, []RespCode{RespBeginSession, RespSessionCancel, RespEndSession}, seen)
		assert.Equal(t, Enabled, r.per.State())
	})
}

// TestDriverOverPTY runs init, credit and a vend through a pseudo-terminal
// with the PARMRK-style stream encoding (the mode bit travels as FF 00 b).
func TestDriverOverPTY(t *testing.T) {
	master, slavePath, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer master.Close()
	slave, err := os.OpenFile(slavePath, os.O_RDWR|0x100 /* O_NOCTTY */, 0)
	require.NoError(t, err)
	defer slave.Close()
	require.NoError(t, pty.MakeRaw(slave))

	// Real time and a real kernel: generous timing.
	link := mdb.Config{Response: 200 * time.Millisecond, InterByte: 50 * time.Millisecond}
	r := newRig(t, mdb.NewStreamPort(master), mdb.NewStreamPort(slave), link,
		VMCConfig{PollInterval: 25 * time.Millisecond}, PeripheralConfig{Reader: testReader})
	defer r.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, r.vmc.Init(ctx))
	require.NoError(t, r.per.GrantCredit(300, true, 0))
	_, err = r.vmc.WaitSession(ctx)
	require.NoError(t, err)
	out, err := r.vmc.Vend(ctx, 0xFF, 0xFF, true) // FF bytes exercise the escaping
	require.NoError(t, err)
	assert.Equal(t, VendOutcome{Approved: true, Amount: 0xFF}, out)
	select {
	case rec := <-r.per.Records():
		assert.True(t, rec.OK)
		assert.Equal(t, uint16(0xFF), rec.Selection)
	case <-ctx.Done():
		t.Fatal("no record")
	}
	require.NoError(t, r.vmc.EndSession(ctx))
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("too slow")
	}
}
