package cashless

import (
	"errors"
	"fmt"

	"vendgate/mdb"
)

// State is a reader state [MDB 4.2 §7.2]. The values are the state codes of
// CMD OUT OF SEQUENCE (level 2/3) [MDB 4.2 §7.4.4].
type State uint8

// Reader states.
const (
	Inactive     State = 1
	Disabled     State = 2
	Enabled      State = 3
	SessionIdle  State = 4
	Vend         State = 5
	Revalue      State = 6
	NegativeVend State = 7
)

// AllStates lists the states in code order.
var AllStates = []State{Inactive, Disabled, Enabled, SessionIdle, Vend, Revalue, NegativeVend}

// String names the state.
func (s State) String() string {
	switch s {
	case Inactive:
		return "Inactive"
	case Disabled:
		return "Disabled"
	case Enabled:
		return "Enabled"
	case SessionIdle:
		return "SessionIdle"
	case Vend:
		return "Vend"
	case Revalue:
		return "Revalue"
	case NegativeVend:
		return "NegativeVend"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ErrState means a local action is not possible in the reader's state.
var ErrState = errors.New("cashless: not possible in this state")

// ReaderConfig is what the reader reports about itself (READER CONFIG and
// PERIPHERAL ID) [MDB 4.2 §7.4.4].
type ReaderConfig struct {
	Level       byte   // feature level 1–3; 0 means 3
	Country     uint16 // currency, packed BCD ISO 4217 (0x1978 EUR, 0x1840 USD, 0x1643 RUB); 0 means EUR
	Scale       byte   // scale factor X; 0 means 1
	Decimals    byte   // decimal places Y; 0 is valid (use Scale to scale)
	MaxResponse byte   // application maximum response time, seconds; 0 means 5 [MDB 4.2 §7.5]
	Misc        byte   // Misc* bits
	ID          Identity
	// Options are the level-3 option bits the reader supports (Opt*); the VMC
	// enables a subset with OPTIONAL FEATURE ENABLED.
	Options uint32
	// RevalueLimit is the answer to REVALUE LIMIT REQUEST (0 = revalue not offered).
	RevalueLimit uint32
}

func (c ReaderConfig) withDefaults() ReaderConfig {
	if c.Level == 0 || c.Level > 3 {
		c.Level = 3
	}
	if c.Country == 0 {
		c.Country = 0x1978
	}
	if c.Scale == 0 {
		c.Scale = 1
	}
	if c.MaxResponse == 0 {
		c.MaxResponse = 5
	}
	if c.Level < 3 {
		c.Options = 0
	}
	return c
}

// EventKind says what a Step or local action means to the driver.
type EventKind uint8

// Events.
const (
	EventNone           EventKind = iota
	EventVendRequest              // VMC asks to vend Item for Amount: approve or deny
	EventVendResult               // a vend ended: OK says success (Amount charged) or failure/cancel
	EventCashSale                 // VMC reports a cash sale of Item for Amount
	EventNegativeVend             // VMC asks to credit Amount for a returned Item: approve or deny
	EventRevalueRequest           // VMC asks to add Amount to the media: approve or deny
	EventSessionEnd               // the session ended (END SESSION queued, or reset)
	EventReset                    // RESET received
	EventTimeDate                 // WRITE TIME/DATE: Data holds the BCD bytes
	EventEnabled                  // READER ENABLE moved the reader to Enabled
)

// Event is what a transition tells the driver.
type Event struct {
	Kind      EventKind
	Amount    uint32 // price / amount (scaled units)
	Item      uint16
	OK        bool
	Cancelled bool // EventVendResult: the VMC cancelled before the answer
	Data      []byte
}

// Output is the result of Step: the immediate answer (empty = ACK) and the
// events for the driver.
type Output struct {
	Reply  []Response
	Events []Event
}

// Machine is the reader state machine: pure (no clock, no I/O), driven by
// Step for VMC commands and by the local actions (BeginSession, Approve, …).
// Messages produced by local actions wait in a queue and leave with the next
// POLL answer; call Delivered after each POLL answer with whether the VMC
// acknowledged it, so unacknowledged messages are offered again
// [MDB 4.2 §2.2]. The zero value is not usable: use NewMachine.
type Machine struct {
	cfg   ReaderConfig
	state State
	mode  Mode
	opts  uint32 // enabled level-3 options

	pending  []Response
	inflight []Response

	maxPrice, minPrice uint32

	disableAfter bool   // READER DISABLE during a transaction
	idleVend     bool   // the current vend started without a session (always-idle)
	vendAmount   uint32 // current VEND / NEGATIVE VEND / REVALUE request
	vendItem     uint16
	answerQueued bool // approve/deny queued
	answerSent   bool // approve/deny delivered
	approved     bool
	approvedAmt  uint32
	endQueued    bool
}

// NewMachine returns a machine in Inactive with JUST RESET queued (power-up).
func NewMachine(cfg ReaderConfig) *Machine {
	m := &Machine{cfg: cfg.withDefaults()}
	m.reset()
	return m
}

func (m *Machine) reset() {
	*m = Machine{cfg: m.cfg, state: Inactive, mode: Mode{Level: 1}}
	m.pending = []Response{{Code: RespJustReset}}
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Mode returns the negotiated mode.
func (m *Machine) Mode() Mode { return m.mode }

// Config returns the reader configuration.
func (m *Machine) Config() ReaderConfig { return m.cfg }

// Options returns the level-3 options the VMC enabled.
func (m *Machine) Options() uint32 { return m.opts }

// Prices returns the max/min prices from SETUP PRICES.
func (m *Machine) Prices() (max, min uint32) { return m.maxPrice, m.minPrice }

// Pending returns the messages waiting for a POLL.
func (m *Machine) Pending() []Response { return append([]Response(nil), m.pending...) }

// Approved reports whether the current vend was approved and for how much.
func (m *Machine) Approved() (uint32, bool) { return m.approvedAmt, m.approved }

// AlwaysIdle reports whether the VMC enabled always-idle mode (option b5).
func (m *Machine) AlwaysIdle() bool { return m.opts&OptAlwaysIdle != 0 }

// Step applies one VMC command and returns the answer and events.
func (m *Machine) Step(c Command) Output {
	var out Output
	ev := func(e Event) { out.Events = append(out.Events, e) }
	oos := func() Output {
		// ACK, ignore, and report on the next POLL; the VMC will RESET
		// [MDB 4.2 §7.3 "uninterruptible sequences"].
		m.pending = append(m.pending, Response{Code: RespOutOfSequence, Detail: byte(m.state)})
		return out
	}
	s := m.state
	in := func(states ...State) bool {
		for _, x := range states {
			if s == x {
				return true
			}
		}
		return false
	}
	idleOK := s == SessionIdle || (s == Enabled && m.AlwaysIdle())
	switch c.Code {
	case CmdReset:
		if s == Vend && m.approved && m.answerSent {
			// "A reset between VEND APPROVED and VEND SUCCESS shall be
			// interpreted as a VEND SUCCESS" [MDB 4.2 §7.4.7].
			ev(Event{Kind: EventVendResult, Amount: m.approvedAmt, Item: m.vendItem, OK: true})
		}
		if s >= SessionIdle {
			ev(Event{Kind: EventSessionEnd})
		}
		ev(Event{Kind: EventReset})
		m.reset()
	case CmdSetupConfig:
		if !in(Inactive, Disabled, Enabled) {
			return oos()
		}
		lvl := c.VMCLevel
		if lvl == 0 {
			lvl = 1
		}
		m.mode.Level = min(lvl, m.cfg.Level)
		m.mode.DisplaySize = int(c.Columns) * int(c.Rows)
		out.Reply = []Response{{Code: RespReaderConfig, Level: m.cfg.Level, Country: m.cfg.Country,
			Scale: m.cfg.Scale, Decimals: m.cfg.Decimals, MaxResponse: m.cfg.MaxResponse, Misc: m.cfg.Misc}}
	case CmdSetupPrices:
		if !in(Inactive, Disabled, Enabled) {
			return oos()
		}
		m.maxPrice, m.minPrice = c.MaxPrice, c.MinPrice
		if s == Inactive {
			m.state = Disabled
		}
	case CmdPoll:
		out.Reply = m.takePending()
	case CmdVendRequest:
		switch {
		case s == Vend && !m.answerSent && c.Amount == m.vendAmount && c.Item == m.vendItem:
			// The VMC repeats VEND REQUEST until it sees our ACK; act once [MDB 4.2 §7.7 #8c].
		case idleOK:
			m.startVend(Vend, c, s == Enabled)
			ev(Event{Kind: EventVendRequest, Amount: c.Amount, Item: c.Item})
		default:
			return oos()
		}
	case CmdVendCancel:
		switch {
		case s == Vend && !m.answerSent:
			m.dropAnswer()
			out.Reply = []Response{{Code: RespVendDenied}}
			ev(Event{Kind: EventVendResult, Amount: m.vendAmount, Item: m.vendItem, Cancelled: true})
			m.endVend()
		case in(Vend, SessionIdle, Enabled):
		default:
			return oos()
		}
	case CmdVendSuccess:
		switch {
		case s == Vend && m.approved && m.answerSent:
			ev(Event{Kind: EventVendResult, Amount: m.approvedAmt, Item: c.Item, OK: true})
			m.state = SessionIdle
		case s == SessionIdle:
		default:
			return oos()
		}
	case CmdVendFailure:
		switch {
		case s == Vend && m.approved && m.answerSent:
			ev(Event{Kind: EventVendResult, Amount: m.approvedAmt, Item: m.vendItem})
			m.state = SessionIdle
		case s == SessionIdle:
		default:
			return oos()
		}
	case CmdSessionComplete:
		switch s {
		case SessionIdle:
			if !m.endQueued {
				m.pending = append(m.pending, Response{Code: RespEndSession})
				m.endQueued = true
				ev(Event{Kind: EventSessionEnd})
			}
		case Enabled, Disabled:
		default:
			return oos()
		}
	case CmdCashSale:
		if !in(Disabled, Enabled, SessionIdle) {
			return oos()
		}
		ev(Event{Kind: EventCashSale, Amount: c.Amount, Item: c.Item})
	case CmdNegativeVend:
		if m.mode.Level < 3 || !idleOK {
			return oos()
		}
		m.startVend(NegativeVend, c, s == Enabled)
		ev(Event{Kind: EventNegativeVend, Amount: c.Amount, Item: c.Item})
	case CmdReaderDisable:
		switch s {
		case Disabled, Enabled:
			m.state = Disabled
		case Inactive:
		default:
			// "Any transaction in progress … should continue to its normal
			// completion" [MDB 4.2 §7.4.12].
			m.disableAfter = true
		}
	case CmdReaderEnable:
		switch s {
		case Inactive:
			return oos()
		case Disabled:
			m.state = Enabled
			ev(Event{Kind: EventEnabled})
		}
		m.disableAfter = false
	case CmdReaderCancel:
		switch s {
		case Inactive:
			return oos()
		case Enabled:
			out.Reply = []Response{{Code: RespCancelled}}
		}
	case CmdDataEntry, CmdWriteUserFile, CmdFTLReqToRcv, CmdFTLRetryDeny, CmdFTLSendBlock, CmdFTLOkToSend, CmdFTLReqToSend:
		if s == Inactive {
			return oos()
		}
	case CmdRevalue:
		if m.mode.Level < 2 || !idleOK {
			return oos()
		}
		m.startVend(Revalue, c, s == Enabled)
		ev(Event{Kind: EventRevalueRequest, Amount: c.Amount})
	case CmdRevalueLimit:
		if m.mode.Level < 2 || !in(Enabled, SessionIdle) {
			return oos()
		}
		out.Reply = []Response{{Code: RespRevalueLimit, Amount: m.cfg.RevalueLimit}}
	case CmdRequestID:
		if !in(Inactive, Disabled, Enabled) {
			return oos()
		}
		r := Response{Code: RespPeripheralID, ID: m.cfg.ID}
		if m.mode.Level >= 3 {
			r.Options = m.cfg.Options
		}
		out.Reply = []Response{r}
	case CmdReadUserFile:
		if m.mode.Level < 2 || s == Inactive {
			return oos()
		}
		// User files are obsolete; answer an empty file.
		out.Reply = []Response{{Code: RespUserFileData, Detail: c.File}}
	case CmdWriteTimeDate:
		ev(Event{Kind: EventTimeDate, Data: c.Data})
	case CmdOptionEnable:
		if m.mode.Level < 3 || !in(Inactive, Disabled, Enabled) {
			return oos()
		}
		m.opts = c.Options & m.cfg.Options
		m.mode.Expanded = Expanded(m.opts)
	case CmdDiagnostics:
		// Manufacturer specific: acknowledged and ignored.
	}
	return out
}

func (m *Machine) startVend(to State, c Command, idle bool) {
	m.state = to
	m.idleVend = idle
	m.vendAmount, m.vendItem = c.Amount, c.Item
	m.answerQueued, m.answerSent, m.approved, m.approvedAmt = false, false, false, 0
}

// endVend returns from a vend/revalue/negative vend without a charge.
func (m *Machine) endVend() {
	if m.idleVend {
		m.state = Enabled
		if m.disableAfter {
			m.state, m.disableAfter = Disabled, false
		}
	} else {
		m.state = SessionIdle
	}
	m.answerQueued, m.answerSent = false, false
}

func (m *Machine) dropAnswer() {
	kept := m.pending[:0]
	for _, r := range m.pending {
		switch r.Code {
		case RespVendApproved, RespVendDenied:
			continue
		}
		kept = append(kept, r)
	}
	m.pending = kept
	m.answerQueued, m.approved = false, false
}

// takePending moves as many queued messages as fit in one block to the
// in-flight list and applies the state changes their sending implies.
func (m *Machine) takePending() []Response {
	if len(m.pending) == 0 {
		return nil
	}
	var n, size int
	var buf []byte
	for _, r := range m.pending {
		b, err := r.Append(buf[:0], m.mode)
		if err != nil || size+len(b)+1 > mdb.MaxBlock {
			break
		}
		size += len(b)
		n++
	}
	if n == 0 {
		// A message that cannot be encoded would block the queue forever.
		m.pending = m.pending[1:]
		return nil
	}
	m.inflight = append(m.inflight[:0], m.pending[:n]...)
	m.pending = m.pending[n:]
	for _, r := range m.inflight {
		m.sent(r)
	}
	return append([]Response(nil), m.inflight...)
}

// sent applies the transition implied by sending r.
func (m *Machine) sent(r Response) {
	switch r.Code {
	case RespBeginSession:
		if m.state == Enabled {
			m.state = SessionIdle
		}
	case RespVendApproved:
		if m.state == Vend {
			m.answerSent = true
		} else if m.state == NegativeVend {
			m.endVend()
		}
	case RespVendDenied:
		if m.state == Vend || m.state == NegativeVend {
			m.endVend()
		}
	case RespRevalueApproved, RespRevalueDenied:
		if m.state == Revalue {
			m.endVend()
		}
	case RespEndSession:
		m.endQueued = false
		if m.state == SessionIdle {
			m.state = Enabled
			if m.disableAfter {
				m.state, m.disableAfter = Disabled, false
			}
		}
	}
}

// Delivered tells the machine whether the last POLL answer was acknowledged;
// if not, its messages go back to the front of the queue.
func (m *Machine) Delivered(ok bool) {
	if !ok && len(m.inflight) > 0 {
		m.pending = append(append([]Response(nil), m.inflight...), m.pending...)
	}
	m.inflight = m.inflight[:0]
}

// BeginSession queues BEGIN SESSION with funds (scaled; 0xFFFF, or
// 0xFFFFFFFF in expanded mode, = funds unknown). Only in Enabled.
func (m *Machine) BeginSession(funds uint32) error {
	if m.state != Enabled || m.hasPending(RespBeginSession) {
		return fmt.Errorf("%w: begin session in %v", ErrState, m.state)
	}
	m.pending = append(m.pending, Response{Code: RespBeginSession, Amount: funds})
	return nil
}

func (m *Machine) hasPending(c RespCode) bool {
	for _, r := range m.pending {
		if r.Code == c {
			return true
		}
	}
	return false
}

// Approve queues VEND APPROVED for amount (the sum actually charged), or for a
// negative vend the approval of the credit. Only in Vend/NegativeVend before an
// answer.
func (m *Machine) Approve(amount uint32) error {
	if (m.state != Vend && m.state != NegativeVend) || m.answerQueued {
		return fmt.Errorf("%w: approve in %v", ErrState, m.state)
	}
	m.answerQueued, m.approved, m.approvedAmt = true, true, amount
	m.pending = append(m.pending, Response{Code: RespVendApproved, Amount: amount})
	return nil
}

// Deny queues VEND DENIED. Only in Vend/NegativeVend before an answer.
func (m *Machine) Deny() error {
	if (m.state != Vend && m.state != NegativeVend) || m.answerQueued {
		return fmt.Errorf("%w: deny in %v", ErrState, m.state)
	}
	m.answerQueued = true
	m.pending = append(m.pending, Response{Code: RespVendDenied})
	return nil
}

// RevalueResult queues REVALUE APPROVED or DENIED. Only in Revalue.
func (m *Machine) RevalueResult(ok bool) error {
	if m.state != Revalue || m.answerQueued {
		return fmt.Errorf("%w: revalue result in %v", ErrState, m.state)
	}
	m.answerQueued = true
	code := RespRevalueDenied
	if ok {
		code = RespRevalueApproved
	}
	m.pending = append(m.pending, Response{Code: code})
	return nil
}

// CancelSession queues SESSION CANCEL REQUEST; the VMC answers with SESSION
// COMPLETE. Only in SessionIdle.
func (m *Machine) CancelSession() error {
	if m.state != SessionIdle || m.hasPending(RespSessionCancel) || m.endQueued {
		return fmt.Errorf("%w: cancel session in %v", ErrState, m.state)
	}
	m.pending = append(m.pending, Response{Code: RespSessionCancel})
	return nil
}

// Malfunction queues MALFUNCTION/ERROR with code (type<<4 | sub-code)
// [MDB 4.2 §7.4.4].
func (m *Machine) Malfunction(code byte) {
	m.pending = append(m.pending, Response{Code: RespMalfunction, Detail: code})
}

// JustReset returns to Inactive as after power-up and queues JUST RESET, so the
// VMC re-runs its init sequence [MDB 4.2 §7.4.1].
func (m *Machine) JustReset() { m.reset() }

// Current returns the current vend request (amount, item).
func (m *Machine) Current() (uint32, uint16) { return m.vendAmount, m.vendItem }
