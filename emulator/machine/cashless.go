package machine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"vendgate/mdb"
	"vendgate/mdb/cashless"
	"vendgate/protocol"
)

// CashlessConfig configures the machine's MDB controller for a cashless
// reader (see CashlessVMC).
type CashlessConfig struct {
	// Address is the cashless device number the VMC talks to: 1 (0x10) or 2
	// (0x60) [MDB 4.2 §2.3]; 0 means 1.
	Address int
	// PollInterval is the time between POLLs, 25–200 ms [MDB 4.2 §2.4.3];
	// 0 means 100 ms.
	PollInterval time.Duration
	// Think is how long the customer looks at the display after BEGIN
	// SESSION before pressing a selection; the VMC keeps polling meanwhile.
	// 0 means the customer presses at once.
	Think time.Duration
	// RetryInit is the pause before a failed init sequence is tried again.
	// The spec asks for a RESET of an unresponsive peripheral at least every
	// 10 s [MDB 4.2 §2.4.3]; 0 means 1 s, which an emulator can afford.
	RetryInit time.Duration
	// NonResponse bounds the wait for an answer that comes via POLL; 0 means
	// the reader's non-response time, 5 s [MDB 4.2 §7.5].
	NonResponse time.Duration
	// Level is the VMC feature level (1–3); 0 means 3.
	Level byte
}

// Visit is what the next customer at the machine does with a cashless
// session.
type Visit struct {
	// Selection is the number the customer presses; 0 means "the dearest
	// in-stock product the session funds cover".
	Selection int
	// Vends is how many products the customer takes at most; 0 means 1.
	Vends int
	// Funds is the credit the customer was told about (minor units), used
	// by the Executive customer (ExecutiveVMC) to choose; 0 means what the
	// machine's display shows. The MDB customer uses the session's funds.
	Funds int64
}

// CashlessStats are the controller's counters.
type CashlessStats struct {
	Inits     int // completed init sequences
	InitFails int // init sequences that failed (reader silent or refusing)
	Sessions  int // sessions the reader opened (BEGIN SESSION)
	Approved  int // vend requests the reader approved
	Denied    int // vend requests the reader denied
	Vends     int // products dispensed against an approval
	LastError string
}

// ErrCashlessConfig reports an invalid CashlessConfig.
var ErrCashlessConfig = errors.New("machine: invalid cashless config")

// CashlessVMC is the machine's vending machine controller on an MDB bus with
// one cashless reader (MDB 4.2 §7): it runs the reader's init sequence,
// polls it every PollInterval, and when the reader opens a session it plays
// the customer, who picks a selection (the Visit set with Expect, or by
// default the dearest product the funds cover), waits for VEND APPROVED, has
// the machine model vend it (Machine.Vend, paid cashless), reports VEND
// SUCCESS or VEND FAILURE and ends the session with SESSION COMPLETE.
//
// It is the driver layer of the emulated machine: it does I/O only over the
// mdb.MasterLink handed to it, in the goroutine that calls Run. The other
// methods may be called from any goroutine.
type CashlessVMC struct {
	mach *Machine
	cfg  CashlessConfig
	v    *cashless.VMC

	mu    sync.Mutex
	addr  int    // address wanted (SetAddress)
	cur   int    // address the VMC driver uses
	visit *Visit // plan for the next session
	ready bool   // initialised and not asked to re-init
	abort func() // cancels the current round (SetAddress)
	st    CashlessStats
}

// NewCashlessVMC returns the controller of machine m over link; start it with
// Run.
func (m *Machine) NewCashlessVMC(link mdb.MasterLink, cfg CashlessConfig) (*CashlessVMC, error) {
	if cfg.Address == 0 {
		cfg.Address = 1
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	if cfg.RetryInit <= 0 {
		cfg.RetryInit = time.Second
	}
	if cfg.Think < 0 {
		return nil, fmt.Errorf("%w: negative think time", ErrCashlessConfig)
	}
	v, err := cashless.NewVMC(link, cashless.VMCConfig{
		Address: cfg.Address, Level: cfg.Level, Columns: 16, Rows: 2, DisplayType: 1,
		// 32-bit amounts let a credit exceed 655.35 in two-decimal currency.
		Options:      cashless.Opt32Bit,
		PollInterval: cfg.PollInterval, NonResponse: cfg.NonResponse,
		ID: cashless.Identity{Manufacturer: "VGE", Serial: fmt.Sprintf("%012s", tail(m.Serial(), 12)), Model: m.cfg.Model, Software: 0x0100},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCashlessConfig, err)
	}
	return &CashlessVMC{mach: m, cfg: cfg, v: v, addr: cfg.Address, cur: cfg.Address}, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// SetAddress points the controller at cashless device n (1 or 2). The VMC
// runs the init sequence at the new address before it polls again. A real
// VMC is told this in its service menu; the emulator lets the modem do it.
func (c *CashlessVMC) SetAddress(n int) error {
	if n != 1 && n != 2 {
		return fmt.Errorf("%w: address %d", cashless.ErrAddress, n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addr = n
	if c.cur != n {
		c.ready = false
		if c.abort != nil {
			c.abort()
		}
	}
	return nil
}

// Expect sets what the customer of the next session does (nil: the default
// visit, one product, the dearest the funds cover). The plan is used once.
func (c *CashlessVMC) Expect(v *Visit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v != nil {
		cp := *v
		v = &cp
	}
	c.visit = v
}

// Ready reports whether the reader is initialised and being polled.
func (c *CashlessVMC) Ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

// Stats returns the counters.
func (c *CashlessVMC) Stats() CashlessStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

func (c *CashlessVMC) note(f func(*CashlessStats)) {
	c.mu.Lock()
	f(&c.st)
	c.mu.Unlock()
}

// Run drives the reader until ctx ends; it returns ctx.Err(). Bus errors are
// not fatal: a silent reader is re-initialised every RetryInit.
func (c *CashlessVMC) Run(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Each round runs under its own context, which SetAddress cancels:
		// an init or session at the old address is abandoned at once
		// instead of waiting out the non-response time.
		rctx, cancel := context.WithCancel(ctx)
		c.mu.Lock()
		c.abort = cancel
		c.mu.Unlock()
		c.round(rctx)
		cancel()
	}
}

// round is one turn of the controller: apply an address change, initialise
// the reader if needed, poll once and serve a session, wait a poll interval.
func (c *CashlessVMC) round(ctx context.Context) {
	c.mu.Lock()
	want, cur := c.addr, c.cur
	c.mu.Unlock()
	if want != cur {
		_ = c.v.SetAddress(want) // validated by SetAddress
		c.mu.Lock()
		c.cur = want
		c.mu.Unlock()
	}
	if c.v.NeedsInit() || !c.Ready() {
		c.setReady(false)
		if err := c.v.Init(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.note(func(s *CashlessStats) { s.InitFails++; s.LastError = err.Error() })
			sleep(ctx, c.cfg.RetryInit)
			return
		}
		c.mu.Lock()
		c.st.Inits++
		c.ready = c.addr == c.cur
		c.mu.Unlock()
	}
	rs, err := c.v.Poll(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		c.note(func(s *CashlessStats) { s.LastError = err.Error() })
	}
	for _, r := range rs {
		switch r.Code {
		case cashless.RespBeginSession:
			if err := c.session(ctx, r.Amount); err != nil && ctx.Err() == nil {
				c.note(func(s *CashlessStats) { s.LastError = err.Error() })
			}
		case cashless.RespSessionCancel:
			// A cancel that arrived outside the customer's turn: close the
			// session if it is still open.
			if _, open := c.v.Session(); open {
				_ = c.v.EndSession(ctx)
			}
		}
	}
	sleep(ctx, c.cfg.PollInterval)
}

func (c *CashlessVMC) setReady(v bool) {
	c.mu.Lock()
	c.ready = v
	c.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// errSessionGone means the reader cancelled or lost the session while the
// customer was choosing.
var errSessionGone = errors.New("machine: session cancelled by the reader")

// session plays the customer of one session with funds (scaled units).
func (c *CashlessVMC) session(ctx context.Context, funds uint32) error {
	c.mu.Lock()
	plan := Visit{Vends: 1}
	if c.visit != nil {
		plan = *c.visit
		c.visit = nil
	}
	c.st.Sessions++
	c.mu.Unlock()
	if plan.Vends <= 0 {
		plan.Vends = 1
	}
	unknown := funds == 0xFFFF && !c.v.Mode().Expanded || funds == 0xFFFFFFFF
	left := c.minor(funds)
	var err error
	for bought := 0; bought < plan.Vends; {
		sel, price, ok := c.choose(plan.Selection, left, unknown)
		if !ok {
			break // nothing the customer wants or can afford: walk away
		}
		if err = c.think(ctx); err != nil {
			break
		}
		var vended bool
		vended, err = c.vend(ctx, sel, price)
		if err != nil || !vended {
			break
		}
		bought++
		left -= price
	}
	if errors.Is(err, cashless.ErrReset) || c.v.NeedsInit() {
		return err // the session died with the reader
	}
	if _, open := c.v.Session(); open || errors.Is(err, errSessionGone) {
		if eerr := c.v.EndSession(ctx); eerr != nil {
			c.note(func(s *CashlessStats) { s.LastError = eerr.Error() })
			return eerr
		}
	}
	return err
}

// choose picks the selection to press: the planned one, or the dearest
// in-stock product that left (minor units) covers.
func (c *CashlessVMC) choose(planned int, left int64, unknown bool) (sel int, price int64, ok bool) {
	if planned != 0 {
		for _, s := range c.mach.Selections() {
			if s.Number == planned {
				return s.Number, s.Price, true
			}
		}
		return 0, 0, false
	}
	if unknown {
		left = 1<<62 - 1
	}
	n, found := c.mach.CheapestUpTo(left)
	if !found {
		return 0, 0, false
	}
	for _, s := range c.mach.Selections() {
		if s.Number == n {
			return n, s.Price, true
		}
	}
	return 0, 0, false
}

// think waits the customer's think time while polling; the reader may cancel
// the session meanwhile.
func (c *CashlessVMC) think(ctx context.Context) error {
	deadline := time.Now().Add(c.cfg.Think)
	for time.Now().Before(deadline) {
		if !sleep(ctx, min(c.cfg.PollInterval, time.Until(deadline))) {
			return ctx.Err()
		}
		rs, err := c.v.Poll(ctx)
		if err != nil {
			return err
		}
		for _, r := range rs {
			switch r.Code {
			case cashless.RespSessionCancel, cashless.RespEndSession:
				return errSessionGone
			case cashless.RespJustReset, cashless.RespOutOfSequence:
				return cashless.ErrReset
			}
		}
	}
	return nil
}

// vend runs one vend [MDB 4.2 §7.7 #1]: VEND REQUEST, POLL until approved or
// denied, the machine dispenses, VEND SUCCESS or VEND FAILURE.
func (c *CashlessVMC) vend(ctx context.Context, sel int, price int64) (bool, error) {
	amount, ok := c.scaled(price)
	if !ok {
		return false, fmt.Errorf("machine: price %d does not fit the reader's scale", price)
	}
	rs, err := c.v.Send(ctx, cashless.Command{Code: cashless.CmdVendRequest, Amount: amount, Item: uint16(sel)})
	if err != nil {
		return false, err
	}
	r, err := c.v.PollFor(ctx, rs, cashless.RespVendApproved, cashless.RespVendDenied)
	if err != nil {
		return false, err
	}
	if r.Code == cashless.RespVendDenied {
		c.note(func(s *CashlessStats) { s.Denied++ })
		return false, nil
	}
	c.note(func(s *CashlessStats) { s.Approved++ })
	// The product leaves the machine between VEND APPROVED and VEND SUCCESS.
	// The machine cannot tell a remote dispense from a card payment: both
	// count as cashless sales in its audit.
	_, verr := c.mach.Vend(sel, protocol.PayCashless)
	if verr != nil {
		_, err = c.v.Send(ctx, cashless.Command{Code: cashless.CmdVendFailure})
		return false, err
	}
	c.note(func(s *CashlessStats) { s.Vends++ })
	_, err = c.v.Send(ctx, cashless.Command{Code: cashless.CmdVendSuccess, Item: uint16(sel)})
	return err == nil, err
}

// scaled converts minor currency units to the reader's scaled units.
func (c *CashlessVMC) scaled(minor int64) (uint32, bool) {
	rc := c.v.ReaderConfig()
	return toScaled(minor, rc.Scale, rc.Decimals, c.v.Mode().Expanded)
}

// minor converts the reader's scaled units to minor currency units.
func (c *CashlessVMC) minor(amount uint32) int64 {
	rc := c.v.ReaderConfig()
	return toMinor(amount, rc.Scale, rc.Decimals)
}

// toScaled converts minor units of a two-decimal currency to scaled units:
// price = amount × X × 10^-Y [MDB 4.2 §7.4.4 READER CONFIG]. ok is false when
// the price is not a whole number of units or does not fit (FFFF, or
// FFFFFFFF in expanded mode, are reserved).
func toScaled(minor int64, scale, decimals byte, expanded bool) (uint32, bool) {
	if minor < 0 {
		return 0, false
	}
	x, y := int64(max(scale, 1)), int(decimals)
	v := minor
	for ; y < 2; y++ {
		if v%10 != 0 {
			return 0, false
		}
		v /= 10
	}
	for ; y > 2; y-- {
		if v > 1<<40 {
			return 0, false
		}
		v *= 10
	}
	if v%x != 0 {
		return 0, false
	}
	v /= x
	limit := int64(0xFFFF)
	if expanded {
		limit = 0xFFFFFFFF
	}
	if v >= limit {
		return 0, false
	}
	return uint32(v), true
}

// toMinor converts scaled units to minor units of a two-decimal currency.
func toMinor(amount uint32, scale, decimals byte) int64 {
	v := int64(amount) * int64(max(scale, 1))
	y := int(decimals)
	for ; y < 2; y++ {
		v *= 10
	}
	for ; y > 2; y-- {
		v /= 10
	}
	return v
}
