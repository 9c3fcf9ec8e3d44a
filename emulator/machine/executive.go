package machine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"vendgate/mdb/executive"
	"vendgate/protocol"
)

// Defaults of ExecutiveConfig.
const (
	// DefaultExecutiveLook is how often the emulated customer looks at the
	// display and at the selection they pressed.
	DefaultExecutiveLook = 20 * time.Millisecond
	// DefaultExecutivePatience is how long the customer waits for a pressed
	// selection to vend before pressing "coin return" (Executive has no
	// "vend denied" answer: the machine just never gets VEND).
	DefaultExecutivePatience = 10 * time.Second
)

// ExecutiveConfig configures the machine's Executive side (ExecutiveVMC).
type ExecutiveConfig struct {
	// Framing of the ninth bit; must match the payment system's.
	Framing executive.Framing
	// PriceHolding: the machine answers CREDIT with the selection number and
	// the payment system holds the prices; otherwise the machine answers
	// with the price in wire units.
	PriceHolding bool
	// Scale is the value of one wire unit in minor currency units; it must
	// match the payment system's (executive.Config.Scale). 0 means the
	// smallest of 1, 10, 100, 1000 that carries every price of the machine
	// in one byte (00..FD) — needed only in non-price-holding mode.
	Scale int64
	// VendTime is how long a vend takes before VEND is answered; 0 means
	// executive.DefaultMachineVendTime.
	VendTime time.Duration
	// Think is how long the customer looks at the offer before pressing.
	Think time.Duration
	// Look is how often the customer looks at the display and at the
	// pressed selection; 0 means DefaultExecutiveLook.
	Look time.Duration
	// Patience is how long the customer waits for a pressed selection to
	// vend before cancelling it; 0 means DefaultExecutivePatience.
	Patience time.Duration
}

// ExecutiveStats are the Executive side's counters.
type ExecutiveStats struct {
	Visits  int // customers who came to the machine (an Expect, or credit on the display)
	Presses int // selections pressed
	Vends   int // products the model vended against a VEND
	Failed  int // VENDs the model could not serve (sold out, fault): VEND answered failure
	GaveUp  int // pressed selections withdrawn because nobody paid in time
}

// ErrExecutiveConfig reports an invalid ExecutiveConfig or a machine the
// Executive byte values cannot describe.
var ErrExecutiveConfig = errors.New("machine: invalid executive config")

// ExecutiveVMC is the machine's controller on an Executive link, where the
// payment system (the modem) is the master and polls the machine. It wraps
// an executive.Machine (the protocol side) and ties it to the model:
//
//   - the product leaves the model (Machine.Vend, paid cashless: the
//     machine cannot tell a remote dispense from a card payment, as on MDB)
//     when VEND arrives; a vend the model refuses (sold out, fault) is
//     answered as a failed vend;
//   - a customer stands at the machine: when the display shows credit (the
//     master's ACCEPT DATA) or a visit is planned with Expect, they press the
//     planned selection or the dearest product the credit covers, wait for
//     the vend and, for a multi-vend visit, go on while the money lasts.
//
// Executive gives the machine no signal that a selection was refused; a
// customer whose selection is not vended within Patience cancels it (coin
// return). It is the driver layer of the emulated machine: Run serves the
// link in the calling goroutine and runs the customer in one goroutine of
// its own, both ended when Run returns. The other methods may be called from
// any goroutine.
type ExecutiveVMC struct {
	mach  *Machine
	cfg   ExecutiveConfig
	em    *executive.Machine
	link  executive.Link
	scale int64

	mu      sync.Mutex
	visit   *Visit             // plan for the next visit
	leave   context.CancelFunc // ends the current visit (Leave)
	vending bool               // VEND received, answer not yet sent: no cancelling now
	shown   int64              // credit on the display when the customer last looked
	st      ExecutiveStats
}

// NewExecutiveVMC returns the Executive controller of machine m over link;
// start it with Run. Selection numbers must fit a byte (00..FD), and in
// non-price-holding mode every price must be a whole number of wire units
// up to FD.
func (m *Machine) NewExecutiveVMC(link executive.Link, cfg ExecutiveConfig) (*ExecutiveVMC, error) {
	if cfg.Think < 0 || cfg.Look < 0 || cfg.Patience < 0 || cfg.VendTime < 0 || cfg.Scale < 0 {
		return nil, fmt.Errorf("%w: negative duration or scale", ErrExecutiveConfig)
	}
	if cfg.Look == 0 {
		cfg.Look = DefaultExecutiveLook
	}
	if cfg.Patience == 0 {
		cfg.Patience = DefaultExecutivePatience
	}
	sels := m.Selections()
	scale := cfg.Scale
	if scale == 0 {
		scale = 1
		if !cfg.PriceHolding {
			scale = autoScale(sels)
		}
	}
	prices := make(map[byte]byte, len(sels))
	for _, s := range sels {
		if s.Number < 0 || s.Number > int(executive.MaxValue) {
			return nil, fmt.Errorf("%w: selection %d does not fit a byte (00..FD)", ErrExecutiveConfig, s.Number)
		}
		if cfg.PriceHolding {
			prices[byte(s.Number)] = 0 // the payment system holds the prices
			continue
		}
		if s.Price%scale != 0 || s.Price/scale > int64(executive.MaxValue) {
			return nil, fmt.Errorf("%w: price %d of selection %d is not a whole number of wire units (scale %d) up to FD",
				ErrExecutiveConfig, s.Price, s.Number, scale)
		}
		prices[byte(s.Number)] = byte(s.Price / scale)
	}
	em, err := executive.NewMachine(executive.MachineConfig{
		Framing: cfg.Framing, PriceHolding: cfg.PriceHolding, Prices: prices, VendTime: cfg.VendTime,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExecutiveConfig, err)
	}
	return &ExecutiveVMC{mach: m, cfg: cfg, em: em, link: link, scale: scale}, nil
}

// autoScale is the smallest power of ten (up to 1000) that carries every
// price in one byte; 1 when none does (NewExecutiveVMC then reports which).
func autoScale(sels []Selection) int64 {
	for _, sc := range []int64{1, 10, 100, 1000} {
		fits := true
		for _, s := range sels {
			if s.Price%sc != 0 || s.Price/sc > int64(executive.MaxValue) {
				fits = false
				break
			}
		}
		if fits {
			return sc
		}
	}
	return 1
}

// Scale returns the value of one wire unit in minor currency units.
func (c *ExecutiveVMC) Scale() int64 { return c.scale }

// PriceHolding reports whether the machine runs in price-holding mode.
func (c *ExecutiveVMC) PriceHolding() bool { return c.cfg.PriceHolding }

// Protocol returns the protocol side (executive.Machine), e.g. to press a
// selection directly or make the machine silent in tests.
func (c *ExecutiveVMC) Protocol() *executive.Machine { return c.em }

// Expect plans the next visit (nil: no plan). A visit with a Selection is
// pressed at once (a remote dispense: someone was told to press it); one
// without waits until the display shows credit. The plan is used once.
func (c *ExecutiveVMC) Expect(v *Visit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v != nil {
		cp := *v
		v = &cp
	}
	c.visit = v
}

// Leave drops the plan and ends the current visit: a pressed selection that
// is not being vended is cancelled.
func (c *ExecutiveVMC) Leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.visit = nil
	if c.leave != nil {
		c.leave()
	}
}

// Stats returns the counters.
func (c *ExecutiveVMC) Stats() ExecutiveStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

// Run serves the link and plays the customer until ctx ends (it returns
// ctx.Err()) or the link fails.
func (c *ExecutiveVMC) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { c.customer(ctx) })
	err := c.em.Serve(ctx, &vendTap{Link: c.link, c: c, dec: executive.CommandDecoder{Framing: c.cfg.Framing}})
	cancel()
	wg.Wait()
	return err
}

// onVend runs in the serving goroutine when VEND arrives, before the
// protocol side sleeps the vend time and answers: the product leaves the
// model now, and a vend the model refuses makes the answer a failure.
func (c *ExecutiveVMC) onVend() {
	c.mu.Lock()
	defer c.mu.Unlock()
	sel, pending := c.em.Pending()
	if !pending {
		return // answered VEND FAILED by the protocol side: nothing selected
	}
	c.vending = true
	if _, err := c.mach.Vend(int(sel), protocol.PayCashless); err != nil {
		c.em.FailNextVend(executive.VendFailed)
		c.st.Failed++
		return
	}
	c.st.Vends++
}

// answered runs after the serving goroutine wrote an answer.
func (c *ExecutiveVMC) answered() {
	c.mu.Lock()
	c.vending = false
	c.mu.Unlock()
}

// customer is the person at the machine.
func (c *ExecutiveVMC) customer(ctx context.Context) {
	for sleep(ctx, c.cfg.Look) {
		plan, funds, ok := c.arrive()
		if !ok {
			continue
		}
		vctx, leave := context.WithCancel(ctx)
		c.mu.Lock()
		c.leave = leave
		c.st.Visits++
		c.mu.Unlock()
		c.shop(ctx, vctx, plan, funds)
		// Credit still on the display was seen by the customer who just
		// left: it brings no passer-by (only credit appearing does).
		d, shown := c.em.Display()
		c.mu.Lock()
		c.leave = nil
		c.shown = 0
		if shown {
			c.shown = int64(d) * c.scale
		}
		c.mu.Unlock()
		leave()
	}
}

// arrive decides whether a visit starts now: a planned dispense at once, a
// planned credit visit once the display shows credit, and without a plan a
// passer-by when credit appears on a display that showed none.
func (c *ExecutiveVMC) arrive() (plan Visit, funds int64, ok bool) {
	d, shown := c.em.Display()
	credit := int64(0)
	if shown {
		credit = int64(d) * c.scale
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rising := credit > 0 && c.shown == 0
	c.shown = credit
	switch {
	case c.visit != nil && (c.visit.Selection != 0 || credit > 0):
		plan, c.visit = *c.visit, nil
	case c.visit == nil && rising:
		plan = Visit{}
	default:
		return Visit{}, 0, false
	}
	funds = plan.Funds
	if funds <= 0 {
		funds = credit
	}
	return plan, funds, true
}

// shop plays one visit: up to plan.Vends products, while the money lasts.
// vctx ends with the visit (Leave), ctx with Run.
func (c *ExecutiveVMC) shop(ctx, vctx context.Context, plan Visit, funds int64) {
	left := funds
	for bought := 0; bought < max(1, plan.Vends); bought++ {
		sel, price, ok := c.choose(plan.Selection, left)
		if !ok || !sleep(vctx, c.cfg.Think) {
			return
		}
		if !c.press(ctx, vctx, sel) {
			return
		}
		left -= price
	}
}

// choose picks the planned selection or the dearest in-stock product left
// covers.
func (c *ExecutiveVMC) choose(planned int, left int64) (sel int, price int64, ok bool) {
	if planned == 0 {
		n, found := c.mach.CheapestUpTo(left)
		if !found {
			return 0, 0, false
		}
		planned = n
	}
	for _, s := range c.mach.Selections() {
		if s.Number == planned {
			return s.Number, s.Price, true
		}
	}
	return 0, 0, false
}

// press presses sel and waits for its vend; it reports whether the product
// came out. The customer gives up (cancels the selection) after Patience or
// when the visit ends, unless VEND has already arrived.
func (c *ExecutiveVMC) press(ctx, vctx context.Context, sel int) bool {
	before := len(c.em.Vends())
	if err := c.em.Select(byte(sel)); err != nil {
		return false // someone else's selection is pending
	}
	c.mu.Lock()
	c.st.Presses++
	c.mu.Unlock()
	deadline := time.Now().Add(c.cfg.Patience)
	for {
		// Pending before Vends: the protocol side clears the one and
		// appends to the other in one step.
		_, pending := c.em.Pending()
		if vs := c.em.Vends(); len(vs) > before {
			return vs[len(vs)-1].OK
		}
		if !pending {
			return false // withdrawn (Cancel from elsewhere)
		}
		if vctx.Err() != nil || !time.Now().Before(deadline) {
			c.mu.Lock()
			busy := c.vending
			if !busy {
				c.em.Cancel()
				c.st.GaveUp++
			}
			c.mu.Unlock()
			if !busy {
				// The answer may have been written just before the cancel.
				if vs := c.em.Vends(); len(vs) > before {
					return vs[len(vs)-1].OK
				}
				return false
			}
		}
		if !sleep(ctx, c.cfg.Look) {
			return false
		}
	}
}

// vendTap is the machine's end of the link, watched: a complete VEND
// command is seen as it is read, before the protocol side acts on it, and
// the answer written after it ends the vend.
type vendTap struct {
	executive.Link
	c      *ExecutiveVMC
	dec    executive.CommandDecoder
	inVend bool
}

// ReadWords implements executive.Link. The tap decodes what the protocol
// side decodes; a VEND read while the protocol side drops the line (it
// answers none then) cannot happen: the master waits for the VEND answer.
func (t *vendTap) ReadWords(p []executive.Word) (int, error) {
	n, err := t.Link.ReadWords(p)
	for _, w := range p[:n] {
		if cmd, ok, _ := t.dec.Feed(w); ok && cmd.Op == executive.OpVend {
			t.inVend = true
			t.c.onVend()
		}
	}
	return n, err
}

// WriteWords implements executive.Link.
func (t *vendTap) WriteWords(p []executive.Word) error {
	err := t.Link.WriteWords(p)
	if t.inVend {
		t.inVend = false
		t.c.answered()
	}
	return err
}
