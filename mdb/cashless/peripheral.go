package cashless

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"vendgate/mdb"
)

// Driver errors.
var (
	// ErrDisabled means the remote side disabled cashless payments.
	ErrDisabled = errors.New("cashless: reader disabled")
	// ErrBusy means a session or grant is already in progress.
	ErrBusy = errors.New("cashless: session in progress")
	// ErrAddress means an address other than 1 or 2.
	ErrAddress = errors.New("cashless: address must be 1 or 2")
)

// VendRecord is one finished vend as the uplink reports it.
type VendRecord struct {
	Selection uint16    // item number from the VMC
	Price     uint32    // requested price (scaled units)
	Charged   uint32    // amount approved / charged (0 when denied or failed)
	OK        bool      // product dispensed and paid
	Cash      bool      // CASH SALE reported by the VMC (not paid by us)
	Denied    bool      // we denied the request
	Cancelled bool      // the VMC cancelled the request
	Remote    bool      // paid with remotely granted credit or dispense
	Time      time.Time // when the outcome was known
}

// PeripheralConfig configures a Peripheral.
type PeripheralConfig struct {
	// Address is the cashless device number: 1 (0x10) or 2 (0x60); 0 means 1.
	Address int
	// Reader is what the reader reports about itself.
	Reader ReaderConfig
	// Records receives every vend outcome; when nil the Peripheral makes a
	// buffered channel of 64 (see Records). Sends never block: a full channel
	// drops the record and counts it (see Dropped).
	Records chan VendRecord
	// OnVendRequest, when set, is called (from Run's goroutine; it must not
	// block) for a vend request that no auto-approving grant decides; answer
	// with DecideVend. Without it such requests are denied.
	OnVendRequest func(price uint32, item uint16)
}

type grant struct {
	amount    uint32
	auto      bool
	timeout   time.Duration
	selection int // -1: any item
	started   bool
	deadline  time.Time
}

// Peripheral is the cashless-device driver: it answers the VMC through a
// PeripheralLink and turns the remote actions (SetEnabled, GrantCredit,
// Dispense, SetAddress, Reset) into reader messages. Create with
// NewPeripheral; all methods are safe for concurrent use.
type Peripheral struct {
	mu       sync.Mutex
	m        *Machine
	enabled  bool
	g        *grant
	funds    uint32 // remaining session funds
	records  chan VendRecord
	dropped  atomic.Int64
	onReq    func(uint32, uint16)
	addr     atomic.Uint32
	expanded atomic.Bool
}

// NewPeripheral returns a reader in Inactive, enabled for remote credit.
func NewPeripheral(cfg PeripheralConfig) (*Peripheral, error) {
	p := &Peripheral{m: NewMachine(cfg.Reader), enabled: true, records: cfg.Records, onReq: cfg.OnVendRequest}
	if p.records == nil {
		p.records = make(chan VendRecord, 64)
	}
	n := cfg.Address
	if n == 0 {
		n = 1
	}
	a, err := addressOf(n)
	if err != nil {
		return nil, err
	}
	p.addr.Store(uint32(a))
	return p, nil
}

func addressOf(n int) (mdb.Address, error) {
	switch n {
	case 1:
		return mdb.AddrCashless1, nil
	case 2:
		return mdb.AddrCashless2, nil
	}
	return 0, fmt.Errorf("%w: %d", ErrAddress, n)
}

// Address returns the current bus address.
func (p *Peripheral) Address() mdb.Address { return mdb.Address(p.addr.Load()) }

// Complete is the Framer.Complete function for this reader: pass it to
// mdb.NewPeripheral so commands are answered as soon as they are complete.
func (p *Peripheral) Complete(b []byte) bool {
	if len(b) == 0 || mdb.AddressOf(b[0]) != p.Address() {
		return false
	}
	n := CommandLength(b, p.expanded.Load())
	return n > 0 && len(b) == n
}

// Records returns the channel of vend outcomes.
func (p *Peripheral) Records() <-chan VendRecord { return p.records }

// Dropped counts records lost because the channel was full.
func (p *Peripheral) Dropped() int64 { return p.dropped.Load() }

// State returns the reader state.
func (p *Peripheral) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m.State()
}

// Mode returns the negotiated mode.
func (p *Peripheral) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m.Mode()
}

// SetEnabled switches remote payments on or off. Off: no new sessions, a
// granted credit is withdrawn (an open session is cancelled) and vend requests
// are denied. MDB has no way for a reader to disable itself towards the VMC
// (READER ENABLE/DISABLE are VMC commands [MDB 4.2 §7.4.12]), so the reader
// stays on the bus and keeps answering.
func (p *Peripheral) SetEnabled(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.enabled = on
	if !on {
		p.g = nil
		if p.m.State() == SessionIdle {
			_ = p.m.CancelSession()
		}
	}
}

// SetAddress moves the reader to cashless #1 (0x10) or #2 (0x60). The reader
// returns to Inactive and announces JUST RESET so the VMC (configured for the
// new address) runs its init sequence again.
func (p *Peripheral) SetAddress(n int) error {
	a, err := addressOf(n)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addr.Store(uint32(a))
	p.resetLocked()
	return nil
}

// Reset aborts any session, returns to Inactive and announces JUST RESET
// [MDB 4.2 §7.4.1]. A reader cannot reset the VMC; this makes the VMC
// re-initialise the reader.
func (p *Peripheral) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resetLocked()
}

func (p *Peripheral) resetLocked() {
	p.m.JustReset()
	p.g = nil
	p.expanded.Store(false)
}

// GrantCredit offers amount (scaled units, see ReaderConfig Scale/Decimals)
// to the customer: BEGIN SESSION with these funds at the next POLL once the
// reader is Enabled. With autoApprove, vend requests up to the remaining funds
// are approved and larger ones denied; otherwise they go to OnVendRequest.
// After timeout (0 = no limit) without a vend the session is cancelled.
func (p *Peripheral) GrantCredit(amount uint32, autoApprove bool, timeout time.Duration) error {
	return p.setGrant(&grant{amount: amount, auto: autoApprove, timeout: timeout, selection: -1})
}

// Dispense prepares a vend of one selection: it opens a session whose funds
// are "unknown" (FFFF) and approves only a vend request for that item number,
// for the price the VMC asks; any other selection is denied.
//
// MDB 4.2 gives a cashless device no command to select or dispense a product:
// only the VMC issues VEND REQUEST after a customer pressed a selection
// [MDB 4.2 §7.2–7.4]. So Dispense still needs someone to press the button
// within timeout; it merely pays for that one product. The selection must be
// the VMC's item number, which is not always the label on the machine. MDB
// 4.3 remote product selection (option bit 6) is not implemented: its bytes
// are not in any public source.
func (p *Peripheral) Dispense(selection uint16, timeout time.Duration) error {
	return p.setGrant(&grant{amount: 0xFFFF, auto: true, timeout: timeout, selection: int(selection)})
}

func (p *Peripheral) setGrant(g *grant) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.enabled {
		return ErrDisabled
	}
	if s := p.m.State(); s > Enabled || p.g != nil && p.g.started {
		return ErrBusy
	}
	p.g = g
	return nil
}

// DecideVend answers a pending vend request passed to OnVendRequest.
func (p *Peripheral) DecideVend(approve bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if approve {
		amt, _ := p.m.Current()
		return p.m.Approve(amt)
	}
	return p.m.Deny()
}

// Run answers the VMC over link until ctx ends or the link fails. The link
// should be built with p.Complete (see mdb.NewPeripheral). Each command is
// answered as soon as it has been decoded; nothing blocks in between, so the
// answer leaves well inside t response (5 ms) [MDB 4.2 §3.1].
func (p *Peripheral) Run(ctx context.Context, link mdb.PeripheralLink) error {
	for {
		f, err := link.Recv(ctx)
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if len(f.Data) == 0 || mdb.AddressOf(f.Data[0]) != p.Address() {
			if err != nil && !isFrameErr(err) {
				return err
			}
			continue // another peripheral's traffic, or garbage
		}
		if err != nil {
			if !isFrameErr(err) {
				return err
			}
			_ = link.NAK(ctx) // corrupted block for us: ask the VMC to repeat
			continue
		}
		cmd, derr := DecodeCommand(f.Data)
		if derr != nil {
			_ = link.NAK(ctx)
			continue
		}
		reply, isPoll := p.step(cmd)
		err = link.Reply(ctx, reply)
		if isPoll {
			p.mu.Lock()
			p.m.Delivered(err == nil)
			p.mu.Unlock()
		}
		if err != nil && !errors.Is(err, mdb.ErrNAK) && !errors.Is(err, mdb.ErrTimeout) {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			return err
		}
	}
}

func isFrameErr(err error) bool {
	return errors.Is(err, mdb.ErrChecksum) || errors.Is(err, mdb.ErrTooLong) || errors.Is(err, mdb.ErrStray)
}

// step runs one command through the machine and the remote policy.
func (p *Peripheral) step(cmd Command) (reply []byte, isPoll bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	m := p.m
	if cmd.Code == CmdPoll {
		p.policy(now)
	}
	out := m.Step(cmd)
	for _, e := range out.Events {
		p.handle(e, now)
	}
	p.expanded.Store(m.Mode().Expanded)
	b, err := EncodeResponses(m.Mode(), out.Reply...)
	if err != nil {
		return nil, cmd.Code == CmdPoll
	}
	return b, cmd.Code == CmdPoll
}

// policy starts granted sessions and enforces the session timeout.
func (p *Peripheral) policy(now time.Time) {
	m := p.m
	g := p.g
	if g == nil {
		return
	}
	switch {
	case !g.started && m.State() == Enabled && p.enabled:
		funds := g.amount
		if g.selection >= 0 && m.Mode().Expanded {
			funds = 0xFFFFFFFF
		}
		if m.BeginSession(funds) == nil {
			g.started = true
			p.funds = g.amount
			if g.timeout > 0 {
				g.deadline = now.Add(g.timeout)
			}
		}
	case g.started && !g.deadline.IsZero() && now.After(g.deadline) && m.State() == SessionIdle:
		if m.CancelSession() == nil {
			g.deadline = time.Time{}
		}
	}
}

func (p *Peripheral) handle(e Event, now time.Time) {
	m := p.m
	switch e.Kind {
	case EventVendRequest:
		g := p.g
		switch {
		case !p.enabled:
			_ = m.Deny()
			p.record(VendRecord{Selection: e.Item, Price: e.Amount, Denied: true, Time: now})
		case g != nil && g.started && g.auto:
			ok := g.selection < 0 && e.Amount <= p.funds || g.selection >= 0 && int(e.Item) == g.selection
			if ok {
				_ = m.Approve(e.Amount)
			} else {
				_ = m.Deny()
				p.record(VendRecord{Selection: e.Item, Price: e.Amount, Denied: true, Remote: true, Time: now})
			}
		case p.onReq != nil:
			p.onReq(e.Amount, e.Item)
		default:
			_ = m.Deny()
			p.record(VendRecord{Selection: e.Item, Price: e.Amount, Denied: true, Time: now})
		}
	case EventNegativeVend:
		_ = m.Deny() // refunds to remote credit are not offered
	case EventRevalueRequest:
		_ = m.RevalueResult(false)
	case EventVendResult:
		r := VendRecord{Selection: e.Item, Price: e.Amount, OK: e.OK, Cancelled: e.Cancelled, Time: now, Remote: p.g != nil}
		if e.OK {
			r.Charged = e.Amount
			if p.g != nil {
				if p.funds >= e.Amount {
					p.funds -= e.Amount
				} else {
					p.funds = 0
				}
				if p.g.selection >= 0 {
					p.funds = 0
				}
			}
		}
		if price, item := m.Current(); e.Cancelled || !e.OK {
			r.Price, r.Selection = price, item
		}
		p.record(r)
	case EventCashSale:
		p.record(VendRecord{Selection: e.Item, Price: e.Amount, Charged: e.Amount, OK: true, Cash: true, Time: now})
	case EventSessionEnd, EventReset:
		if p.g != nil && p.g.started {
			p.g = nil
		}
	}
}

func (p *Peripheral) record(r VendRecord) {
	select {
	case p.records <- r:
	default:
		p.dropped.Add(1)
	}
}
