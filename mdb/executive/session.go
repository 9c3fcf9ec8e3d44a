package executive

import (
	"fmt"
	"math"
)

// State is the master's view of the vending machine (the state-machine
// layer). The transitions are in Session.Step; doc.go explains the model.
type State uint8

const (
	// StateOffline: no valid answer yet, or Retries exchanges in a row failed.
	// The master polls STATUS only and refuses remote actions.
	StateOffline State = iota
	// StateIdle: online, no credit and no Dispense authorisation on offer.
	StateIdle
	// StateCredit: credit or a Dispense authorisation is on offer; the
	// master polls CREDIT for the customer's selection.
	StateCredit
	// StatePriceRequest: price-holding mode; the VMC requested a selection
	// (price line) and the master is looking its price up in its own table.
	StatePriceRequest
	// StateDenied: the VMC's vend request is pending but not authorised
	// (credit too low, price unknown, vending inhibited, not the dispensed
	// selection). The master keeps polling; the VMC withdraws the request
	// (CREDIT → FE) or more credit arrives.
	StateDenied
	// StateVending: VEND is authorised; the master sends VEND (again after a
	// PNAK) and waits up to Config.VendTimeout for the result.
	StateVending
	numStates
)

// String returns a readable form for logs and test names.
func (s State) String() string {
	switch s {
	case StateOffline:
		return "offline"
	case StateIdle:
		return "idle"
	case StateCredit:
		return "credit"
	case StatePriceRequest:
		return "price-request"
	case StateDenied:
		return "denied"
	case StateVending:
		return "vending"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// EventKind enumerates the inputs of the state machine: decoded answers of
// the VMC, link failures and the modem's remote actions.
type EventKind uint8

const (
	// EvStatus: STATUS answered; Event.Status holds it.
	EvStatus EventKind = iota
	// EvNoRequest: CREDIT answered FE (no selection).
	EvNoRequest
	// EvVendRequest: CREDIT answered a value (Event.Value): the price in
	// wire units, or in price-holding mode the selection number.
	EvVendRequest
	// EvPrice: price-holding lookup result; Event.Amount (minor units) and
	// Event.Known (false = no price for that selection).
	EvPrice
	// EvVendResult: VEND answered; Event.Value is the code (00 = success).
	EvVendResult
	// EvAck: ACCEPT DATA acknowledged.
	EvAck
	// EvPNAK: the VMC answered PNAK; the command is repeated.
	EvPNAK
	// EvCorrupt: the answer was unusable (ninth bit wrong, invalid byte).
	EvCorrupt
	// EvSilence: no answer within the timeout.
	EvSilence
	// EvGrant: remote action, add Event.Amount (minor units) of credit.
	EvGrant
	// EvDispense: remote action, authorise one free vend of selection
	// Event.Value (price-holding mode only).
	EvDispense
	// EvReset: remote action, drop credit, authorisation and pending request.
	EvReset
	numEvents
)

// String returns a readable form for logs and test names.
func (k EventKind) String() string {
	names := [...]string{"status", "no-request", "vend-request", "price", "vend-result", "ack", "pnak", "corrupt", "silence", "grant", "dispense", "reset"}
	if int(k) < len(names) {
		return names[k]
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is one input of Session.Step; which fields matter depends on Kind.
type Event struct {
	Kind   EventKind
	Status Status // EvStatus
	Value  byte   // EvVendRequest, EvVendResult, EvDispense
	Amount uint32 // EvPrice, EvGrant (minor currency units)
	Known  bool   // EvPrice
}

// SelectionUnknown is VendRecord.Selection in non-price-holding mode: the
// VMC reports a price, not which product was chosen.
const SelectionUnknown = -1

// VendRecord is the outcome of one authorised vend, for the uplink.
type VendRecord struct {
	Selection int    // price-holding: selection / price line; else SelectionUnknown
	Price     uint32 // minor currency units
	OK        bool   // the VMC reported success
	Free      bool   // not charged (Dispense or the VMC's free-vend mode)
	Code      byte   // the VMC's VEND reply when Err is nil (00 = success)
	// Err is nil when the VMC answered; otherwise the outcome is unknown and
	// nothing was charged: ErrTimeout (no answer within VendTimeout),
	// ErrUnexpectedReply (corrupted answer) or ErrOffline.
	Err error
}

// Effects is what a Step asks of its driver.
type Effects struct {
	// Lookup: price-holding mode; look up the price of Selection and feed
	// the result back as EvPrice.
	Lookup    bool
	Selection byte
	// Record: a vend finished (or its outcome became unknowable).
	Record *VendRecord
	// Denied: a new vend request was refused.
	Denied bool
	// Err: the event was refused (remote actions): ErrOffline,
	// ErrUnsupported or ErrRange; the session is unchanged.
	Err error
}

// SessionConfig parameterises a Session (see Config for the meaning).
type SessionConfig struct {
	PriceHolding   bool
	Scale          uint32 // minor currency units per wire unit; 0 means 1
	MultiVend      bool
	AnnounceCredit bool
	Retries        int // 0 means DefaultRetries
}

// Session is the pure state machine of the Executive master: no clock, no
// I/O. Next says which command to send; Step digests what happened.
type Session struct {
	cfg        SessionConfig
	state      State
	status     Status
	credit     uint32
	armed      bool // a Dispense authorisation is on offer
	armedSel   byte
	req        byte // pending request (PriceRequest, Denied, Vending)
	price      uint32
	priceKnown bool
	free       bool // the authorised vend is not charged
	byArm      bool // … because of the Dispense authorisation
	failures   int
	announce   bool // credit changed since the VMC last acknowledged it
	toggle     bool
}

// NewSession returns a session in StateOffline.
func NewSession(cfg SessionConfig) *Session {
	if cfg.Scale == 0 {
		cfg.Scale = 1
	}
	if cfg.Retries <= 0 {
		cfg.Retries = DefaultRetries
	}
	return &Session{cfg: cfg}
}

// State returns the current state.
func (s *Session) State() State { return s.state }

// Credit returns the credit on offer, in minor currency units.
func (s *Session) Credit() uint32 { return s.credit }

// LastStatus returns the last STATUS answer.
func (s *Session) LastStatus() Status { return s.status }

// Failures returns the number of failed exchanges in a row.
func (s *Session) Failures() int { return s.failures }

// Armed returns the selection a Dispense authorised, if any.
func (s *Session) Armed() (selection byte, ok bool) { return s.armedSel, s.armed }

// Request returns the pending vend request value (price in wire units, or
// the selection in price-holding mode), if any.
func (s *Session) Request() (value byte, ok bool) {
	switch s.state {
	case StatePriceRequest, StateDenied, StateVending:
		return s.req, true
	}
	return 0, false
}

// Display returns the credit in wire units as ACCEPT DATA carries it,
// capped at MaxValue.
func (s *Session) Display() byte {
	v := s.credit / s.cfg.Scale
	if v > uint32(MaxValue) {
		return MaxValue
	}
	return byte(v)
}

// Next returns the command to send now. Outside StateVending it alternates
// STATUS and CREDIT polls, preceded by ACCEPT DATA when the credit changed
// and AnnounceCredit is set.
func (s *Session) Next() Command {
	switch s.state {
	case StateOffline, StatePriceRequest:
		return Command{Op: OpStatus}
	case StateVending:
		return Command{Op: OpVend}
	}
	if s.announce && s.cfg.AnnounceCredit {
		return Command{Op: OpAcceptData, Data: s.Display()}
	}
	s.toggle = !s.toggle
	if s.toggle {
		return Command{Op: OpStatus}
	}
	return Command{Op: OpCredit}
}

func (s *Session) base() State {
	if s.credit > 0 || s.armed {
		return StateCredit
	}
	return StateIdle
}

// answered records a valid answer: the VMC is there.
func (s *Session) answered() {
	s.failures = 0
	if s.state == StateOffline {
		s.state = s.base()
		s.toggle = true // STATUS was just polled: CREDIT comes next
	}
}

// failed records a failed exchange and goes offline after Retries of them.
func (s *Session) failed(eff *Effects) {
	s.failures++
	if s.failures < s.cfg.Retries || s.state == StateOffline {
		return
	}
	if s.state == StateVending && eff.Record == nil {
		eff.Record = s.record(false, 0, ErrOffline)
	}
	s.state = StateOffline
}

func (s *Session) record(ok bool, code byte, err error) *VendRecord {
	r := &VendRecord{Selection: SelectionUnknown, Price: s.price, OK: ok, Free: s.free, Code: code, Err: err}
	if s.cfg.PriceHolding {
		r.Selection = int(s.req)
	}
	return r
}

// decide authorises the pending request or denies it.
func (s *Session) decide() {
	s.free, s.byArm = false, false
	switch {
	case s.status.Inhibited:
		s.state = StateDenied
	case s.cfg.PriceHolding && s.armed && s.armedSel == s.req:
		s.free, s.byArm = true, true
		s.state = StateVending
	case s.status.FreeVend:
		s.free = true
		s.state = StateVending
	case s.priceKnown && s.credit >= s.price:
		s.state = StateVending
	default:
		s.state = StateDenied
	}
}

// Step feeds one event and returns what the driver must do. Events that do
// not apply to the current state are ignored (they change nothing).
func (s *Session) Step(ev Event) (eff Effects) {
	switch ev.Kind {
	case EvStatus:
		s.status = ev.Status
		s.answered()
	case EvNoRequest:
		s.answered()
		if s.state == StateDenied || s.state == StatePriceRequest {
			s.state = s.base() // the VMC withdrew the request
		}
	case EvVendRequest:
		s.answered()
		s.vendRequest(ev.Value, &eff)
	case EvPrice:
		if s.state != StatePriceRequest {
			return
		}
		s.price, s.priceKnown = ev.Amount, ev.Known
		s.decide()
		eff.Denied = s.state == StateDenied
	case EvVendResult:
		s.answered()
		if s.state != StateVending {
			return
		}
		ok := ev.Value == ByteACK
		eff.Record = s.record(ok, ev.Value, nil)
		if ok {
			s.charge()
		}
		s.state = s.base()
	case EvAck:
		s.answered()
		s.announce = false
	case EvPNAK:
		s.failed(&eff) // in StateVending VEND is repeated: the VMC did not take it
	case EvCorrupt, EvSilence:
		if s.state == StateVending {
			// The VMC may have vended: the outcome is unknown. Nothing is
			// charged (see doc.go) and the request is not retried.
			err := ErrTimeout
			if ev.Kind == EvCorrupt {
				err = ErrUnexpectedReply
			}
			eff.Record = s.record(false, 0, err)
			s.state = s.base()
		}
		s.failed(&eff)
	case EvGrant:
		eff.Err = s.grant(ev.Amount)
	case EvDispense:
		eff.Err = s.dispense(ev.Value)
	case EvReset:
		s.credit, s.armed = 0, false
		s.failures = 0
		s.announce = true
		switch s.state {
		case StateOffline:
		case StateVending:
			// VEND is already with the VMC: its result still produces the
			// vend record (nothing is left to charge).
		default:
			s.state = StateIdle
		}
	}
	return eff
}

func (s *Session) vendRequest(v byte, eff *Effects) {
	switch s.state {
	case StateVending:
		return // VEND is outstanding; a stray CREDIT answer changes nothing
	case StatePriceRequest:
		if v == s.req {
			eff.Lookup, eff.Selection = true, v // still waiting for the price
			return
		}
	}
	repeat := s.state == StateDenied && v == s.req
	s.req = v
	if s.cfg.PriceHolding {
		if !repeat {
			s.priceKnown = false
			s.state = StatePriceRequest
			eff.Lookup, eff.Selection = true, v
			return
		}
	} else {
		s.price, s.priceKnown = uint32(v)*s.cfg.Scale, true
	}
	s.decide()
	eff.Denied = s.state == StateDenied && !repeat
}

func (s *Session) charge() {
	before := s.credit
	switch {
	case s.byArm:
		s.armed = false
	case !s.free:
		s.credit -= min(s.price, s.credit) // less only after a Reset during the vend
	}
	if !s.cfg.MultiVend && !s.byArm {
		s.credit = 0
	}
	if s.credit != before {
		s.announce = true
	}
}

func (s *Session) grant(amount uint32) error {
	switch {
	case s.state == StateOffline:
		return ErrOffline
	case amount == 0 || amount > math.MaxUint32-s.credit:
		return fmt.Errorf("executive: grant credit %d: %w", amount, ErrRange)
	}
	s.credit += amount
	s.announce = true
	switch s.state {
	case StateIdle:
		s.state = StateCredit
	case StateDenied:
		s.decide()
	}
	return nil
}

func (s *Session) dispense(sel byte) error {
	switch {
	case !s.cfg.PriceHolding:
		return fmt.Errorf("executive: dispense needs price-holding mode (the VMC reports prices, not selections): %w", ErrUnsupported)
	case s.state == StateOffline:
		return ErrOffline
	case sel > MaxValue:
		return fmt.Errorf("executive: dispense selection %d: %w", sel, ErrRange)
	}
	s.armed, s.armedSel = true, sel
	switch s.state {
	case StateIdle:
		s.state = StateCredit
	case StateDenied:
		s.decide()
	}
	return nil
}
