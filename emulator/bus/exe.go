package bus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"vendgate/emulator/machine"
	"vendgate/mdb/executive"
)

// DefaultEXEVendTime is how long the emulated machine takes to vend before it
// answers VEND: quick, so remote commands finish fast (a real machine takes
// seconds; executive.DefaultMachineVendTime is 2 s).
const DefaultEXEVendTime = 100 * time.Millisecond

// Errors of the Executive bus (besides the MDB ones it shares: ErrNotRunning,
// ErrBusy, ErrDisabled, ErrNoVend, ErrVendFailed, ErrConfig).
var (
	// ErrOffline: the machine does not answer the payment system's polls.
	ErrOffline = errors.New("bus: the machine does not answer on the executive link")
	// ErrUnsupported: Executive cannot do what was asked (a dispense in
	// non-price-holding mode, an address change). It also matches
	// executive.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("bus: %w", executive.ErrUnsupported)
)

// EXEConfig tunes an Executive bus. Zero fields take the defaults.
type EXEConfig struct {
	// PriceHolding runs both ends in price-holding mode: the machine sends
	// selection numbers and the payment system holds the prices (taken from
	// the machine model). Off, the machine sends prices and the payment
	// system never learns the selection — and cannot dispense.
	PriceHolding bool
	// Framing of the ninth bit (default executive.FramingModeBit).
	Framing executive.Framing
	// Scale is the value of one wire unit in minor currency units; 0 lets
	// the machine choose (see machine.ExecutiveConfig.Scale).
	Scale int64
	// Disabled starts with remote payments off (cashless_mode 0).
	Disabled bool
	// PollInterval is the payment system's poll interval; 0 means
	// DefaultPollInterval.
	PollInterval time.Duration
	// ResponseTimeout and VendTimeout bound the machine's answers; 0 means
	// the executive defaults (100 ms, 60 s).
	ResponseTimeout, VendTimeout time.Duration
	// VendTime is how long the machine takes to vend; 0 means
	// DefaultEXEVendTime.
	VendTime time.Duration
	// Think is how long the emulated customer takes to press a selection.
	Think time.Duration
	// SessionTimeout bounds a credit or dispense when the command gives no
	// timeout; 0 means DefaultSessionTimeout.
	SessionTimeout time.Duration
	// StartTimeout is how long a grant waits for a machine that does not
	// answer yet; 0 means DefaultStartTimeout.
	StartTimeout time.Duration
}

func (c EXEConfig) withDefaults() EXEConfig {
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.VendTime <= 0 {
		c.VendTime = DefaultEXEVendTime
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	return c
}

// EXEStats are the Executive bus counters.
type EXEStats struct {
	Ops       int             // remote operations started
	Unclaimed int             // vend records that belonged to no operation
	State     executive.State // the payment system's view of the machine
	Machine   machine.ExecutiveStats
}

// exeOp is one remote operation in flight on the Executive bus.
type exeOp struct {
	want   int // vends after which the operation is complete
	onVend func(Vend)
	done   chan struct{}

	// guarded by EXE.mu
	finished bool
	err      error
	vends    []Vend
}

// EXE is an in-process Executive bus: the modem's payment system
// (executive.Master, which polls) on one end of an executive.Pipe, the
// machine's controller (machine.ExecutiveVMC) on the other. Create with
// NewEXE, run with Run; Credit and Dispense may be called from any goroutine
// while Run runs, one at a time (a second gets ErrBusy).
//
// What a remote operator gets over Executive (see also mdb/executive
// doc.go):
//
//   - Credit: GrantCredit offers the amount; the emulated customer sees it
//     on the display (ACCEPT DATA, which the bus turns on) and buys. The
//     master authorises what the credit covers. Executive has no session to
//     close: Credit returns after Vends vends, a failed vend, or the
//     timeout, and then withdraws what is left (Master.Reset). AutoApprove
//     changes nothing: the master always approves within the credit.
//   - Dispense: price-holding mode only — in the other mode the machine
//     reports a price, never which selection was pressed, so a vend of one
//     selection cannot be authorised (ErrUnsupported). Dispense authorises
//     one free vend of the selection; Executive has no command to start a
//     vend, so the emulated customer is told to press it.
//   - No addresses (one payment system on a point-to-point loop):
//     SetAddress fails with ErrUnsupported.
//   - Reset: the master's Reset (credit, authorisations and the pending
//     request dropped, one STATUS poll); there is no public Executive
//     command that resets the machine.
type EXE struct {
	cfg    EXEConfig
	mach   *machine.Machine
	master *executive.Master
	vmc    *machine.ExecutiveVMC

	mu      sync.Mutex
	running bool
	enabled bool
	op      *exeOp
	st      EXEStats
}

// NewEXE builds the bus for machine m; it starts nothing.
func NewEXE(m *machine.Machine, cfg EXEConfig) (*EXE, error) {
	cfg = cfg.withDefaults()
	masterEnd, vmcEnd := executive.Pipe()
	b := &EXE{cfg: cfg, mach: m, enabled: !cfg.Disabled}
	v, err := m.NewExecutiveVMC(executive.NewStreamLink(vmcEnd, cfg.Framing), machine.ExecutiveConfig{
		Framing: cfg.Framing, PriceHolding: cfg.PriceHolding, Scale: cfg.Scale,
		VendTime: cfg.VendTime, Think: cfg.Think,
		// The customer looks at the display as often as the master may
		// change it: no busier than the bus itself.
		Look: cfg.PollInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	b.vmc = v
	b.master = executive.NewMaster(executive.NewStreamLink(masterEnd, cfg.Framing), executive.Config{
		Framing:      cfg.Framing,
		PriceHolding: cfg.PriceHolding,
		Prices:       b.price,
		Scale:        uint32(v.Scale()),
		// Several vends per credit (CreditRequest.Vends); what is left is
		// withdrawn when the operation ends.
		MultiVend: true,
		// The emulated customer learns of the credit from the display.
		AnnounceCredit:  true,
		ResponseTimeout: cfg.ResponseTimeout,
		VendTimeout:     cfg.VendTimeout,
		PollInterval:    cfg.PollInterval,
		OnVend:          b.record,
	})
	return b, nil
}

// price is the payment system's price table in price-holding mode: the
// machine model's prices (a real modem is configured with them).
func (b *EXE) price(sel byte) (uint32, bool) {
	for _, s := range b.mach.Selections() {
		if s.Number == int(sel) && s.Price >= 0 && s.Price <= math.MaxUint32 {
			return uint32(s.Price), true
		}
	}
	return 0, false
}

// Master returns the payment system's end (the modem's).
func (b *EXE) Master() *executive.Master { return b.master }

// VMC returns the machine's controller.
func (b *EXE) VMC() *machine.ExecutiveVMC { return b.vmc }

// PriceHolding reports whether the bus runs in price-holding mode.
func (b *EXE) PriceHolding() bool { return b.cfg.PriceHolding }

// Running reports whether Run is running.
func (b *EXE) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
}

// Busy reports whether a remote operation is in flight.
func (b *EXE) Busy() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.op != nil
}

// Enabled reports whether remote payments are on.
func (b *EXE) Enabled() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.enabled
}

// Online reports whether the machine answers the payment system's polls.
func (b *EXE) Online() bool { return b.master.State() != executive.StateOffline }

// Stats returns the counters.
func (b *EXE) Stats() EXEStats {
	b.mu.Lock()
	s := b.st
	b.mu.Unlock()
	s.State = b.master.State()
	s.Machine = b.vmc.Stats()
	return s
}

// Run runs both ends of the bus until ctx ends (it then returns nil) or the
// link fails.
func (b *EXE) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.running {
		b.mu.Unlock()
		return fmt.Errorf("bus: already running")
	}
	b.running = true
	b.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var verr error
	wg.Go(func() {
		verr = b.vmc.Run(ctx)
		cancel()
	})
	merr := b.master.Run(ctx)
	cancel()
	wg.Wait()
	b.mu.Lock()
	b.running = false
	if b.op != nil {
		b.finishLocked(b.op, ErrNotRunning)
	}
	b.mu.Unlock()
	for _, err := range []error{merr, verr} {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}

// SetEnabled switches remote payments on or off; off withdraws a credit or
// dispense in flight (its operation fails with ErrDisabled).
func (b *EXE) SetEnabled(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enabled = on
	if !on && b.op != nil {
		b.finishLocked(b.op, ErrDisabled)
	}
}

// SetAddress fails with ErrUnsupported: Executive has no device addresses.
func (b *EXE) SetAddress(context.Context, int) error {
	return fmt.Errorf("%w: executive has no bus addresses (one payment system on a point-to-point loop)", ErrUnsupported)
}

// Reset resets the payment system's session (executive.Master.Reset: credit
// and authorisations dropped, one STATUS poll); an operation in flight fails
// with ErrInterrupted. It returns the STATUS poll's error: ErrOffline-like
// exchange errors mean the machine did not answer.
func (b *EXE) Reset(ctx context.Context) error {
	b.mu.Lock()
	if b.op != nil {
		b.finishLocked(b.op, ErrInterrupted)
	}
	b.mu.Unlock()
	return b.master.Reset(ctx)
}

// Credit offers a cashless credit and waits until the customer has bought
// req.Vends products, a vend failed, or the timeout passed; what is left of
// the credit is then withdrawn. It fails with ErrNoVend when the customer
// bought nothing and ErrVendFailed when every vend failed; the Result lists
// the vends either way. In non-price-holding mode the vends' Selection is
// executive.SelectionUnknown (-1): the machine reports only prices.
func (b *EXE) Credit(ctx context.Context, req CreditRequest) (Result, error) {
	if req.Amount <= 0 || req.Amount > math.MaxUint32 {
		return Result{}, fmt.Errorf("bus: credit %d out of range", req.Amount)
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = b.cfg.SessionTimeout
	}
	want := max(1, req.Vends)
	o := &exeOp{want: want, onVend: req.OnVend}
	return b.remote(ctx, o, &machine.Visit{Vends: want, Funds: req.Amount}, timeout, func() error {
		return b.master.GrantCredit(uint32(req.Amount))
	})
}

// Dispense authorises one free vend of selection sel (price-holding mode
// only, else ErrUnsupported) and waits until it happened or the timeout
// passed; the emulated customer is told to press sel. onVend (may be nil)
// is called for the vend as it happens.
func (b *EXE) Dispense(ctx context.Context, sel int, timeout time.Duration, onVend func(Vend)) (Result, error) {
	if !b.cfg.PriceHolding {
		return Result{}, fmt.Errorf("%w: dispense needs price-holding mode (the machine reports prices, not selections)", ErrUnsupported)
	}
	if sel < 0 || sel > int(executive.MaxValue) {
		return Result{}, fmt.Errorf("bus: selection %d out of range", sel)
	}
	if timeout <= 0 {
		timeout = b.cfg.SessionTimeout
	}
	o := &exeOp{want: 1, onVend: onVend}
	return b.remote(ctx, o, &machine.Visit{Selection: sel, Vends: 1}, timeout, func() error {
		return b.master.Dispense(byte(sel))
	})
}

func (b *EXE) remote(ctx context.Context, o *exeOp, visit *machine.Visit, timeout time.Duration, place func() error) (Result, error) {
	o.done = make(chan struct{})
	b.mu.Lock()
	if err := admit(b.running, b.enabled, b.op != nil); err != nil {
		b.mu.Unlock()
		return Result{}, err
	}
	b.op = o
	b.st.Ops++
	b.mu.Unlock()
	defer b.end(o)

	// Right after start the master has not heard the machine yet: retry an
	// offline refusal for StartTimeout.
	startBy := time.Now().Add(b.cfg.StartTimeout)
	for {
		err := place()
		if err == nil {
			break
		}
		if !errors.Is(err, executive.ErrOffline) {
			return Result{}, err
		}
		if !time.Now().Before(startBy) {
			return Result{}, fmt.Errorf("%w: %w", ErrOffline, err)
		}
		if !sleep(ctx, 10*time.Millisecond) {
			return Result{}, ctx.Err()
		}
	}
	b.vmc.Expect(visit)

	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-o.done:
	case <-t.C:
	case <-ctx.Done():
	}
	b.mu.Lock()
	b.finishLocked(o, ctx.Err())
	res, err := Result{Vends: append([]Vend(nil), o.vends...)}, o.err
	b.mu.Unlock()
	return outcome(res, err)
}

// end closes operation o: the customer leaves and what is left of the
// credit or authorisation is withdrawn, so the next operation starts clean.
func (b *EXE) end(o *exeOp) {
	b.vmc.Leave()
	if b.Running() {
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.StartTimeout)
		_ = b.master.Reset(ctx)
		cancel()
	}
	b.mu.Lock()
	if b.op == o {
		b.op = nil
	}
	b.mu.Unlock()
}

func (b *EXE) finishLocked(o *exeOp, err error) {
	if o.finished {
		return
	}
	o.finished, o.err = true, err
	close(o.done)
}

// record attributes one of the master's vend records to the operation in
// flight (master goroutine). An operation is complete after its wanted
// number of vends or a failed one (the customer walks away).
func (b *EXE) record(r executive.VendRecord) {
	v := Vend{Selection: r.Selection, Price: int64(r.Price), OK: r.OK && r.Err == nil, Time: time.Now()}
	b.mu.Lock()
	o := b.op
	if o == nil || o.finished {
		b.st.Unclaimed++
		b.mu.Unlock()
		return
	}
	o.vends = append(o.vends, v)
	n := len(o.vends)
	b.mu.Unlock()
	if o.onVend != nil {
		o.onVend(v) // before the operation can end: the vend goes up before the result
	}
	if !v.OK || n >= o.want {
		b.mu.Lock()
		b.finishLocked(o, nil)
		b.mu.Unlock()
	}
}
