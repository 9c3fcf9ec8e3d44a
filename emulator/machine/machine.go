package machine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"vendgate/protocol"
)

// Errors returned by Vend.
var (
	ErrUnknownSelection = errors.New("machine: unknown selection")
	ErrSoldOut          = errors.New("machine: selection sold out")
	ErrOutOfService     = errors.New("machine: out of service (fault)")
	ErrBadPayment       = errors.New("machine: unknown payment")
)

// Event codes the machine emits (Telemetron-style upper-case codes).
const (
	EventAuditRead = "TEVA"     // an audit was read (Audit was called)
	EventDoor      = "DOOR"     // the door opened or closed; payload {"open":bool}
	EventFault     = "FAULT"    // a fault was raised or cleared; payload {"fault":bool,"code":string}
	EventSoldOut   = "SOLD_OUT" // a selection ran out of stock; payload {"sel":string}
	EventRestock   = "RESTOCK"  // all selections were refilled
	EventPower     = "POWER_UP" // the machine was (re)started
	eventQueueMax  = 256        // pending events kept; the oldest are dropped beyond it
	defaultSels    = 10         // selections when Config.Selections is 0
	defaultCap     = 20         // stock per selection when Config.Capacity is 0
	firstSelection = 10         // selection numbers start here, like a "10, 11, 12..." keypad
)

// Config describes a machine. The zero value is a 10-selection snack machine.
type Config struct {
	Selections int              // number of selections; 0 means 10
	Prices     []int64          // price per selection in minor units; missing entries get a seeded price
	Capacity   int              // stock per selection when full; 0 means 20
	Serial     string           // machine serial number (ID101); "" means derived from Seed
	Model      string           // machine model (ID102); "" means "VGEMU"
	Seed       int64            // seed of the random source (prices, random vends and events)
	Now        func() time.Time // clock; nil means time.Now
	// ResetOnRead makes every Audit zero the "since last reset" counters
	// after taking its snapshot, as a machine in AUTO read mode does
	// (EVA-DTS 6.2 §2.6, SD105/SD106). Off, the reset counters equal the
	// init ones (a machine nobody ever reset).
	ResetOnRead bool
}

// Selection is one product slot.
type Selection struct {
	Number   int    // numeric selection number (what a dispense command names)
	Code     string // the selection as the machine names it (decimal Number)
	Price    int64  // minor units
	Stock    int    // items left
	Capacity int    // items when full
	Vends    int64  // paid vends since initialisation
	Value    int64  // value of paid vends since initialisation
	Free     int64  // free/test vends since initialisation
}

// Counters are the machine's totals since initialisation.
type Counters struct {
	Vends         int64 // all successful vends
	CashVends     int64 // paid with cash (or token)
	CashValue     int64 // minor units
	CashlessVends int64 // paid cashless
	CashlessValue int64 // minor units
	FreeVends     int64 // free or test vends
	Failed        int64 // vend attempts that failed
}

// VendRecord is the outcome of one vend attempt.
type VendRecord struct {
	Selection string
	Number    int
	Price     int64
	Payment   protocol.Payment
	Type      protocol.VendType
	OK        bool
	Time      time.Time
}

// Event is something that happened at the machine.
type Event struct {
	Code    string
	Time    time.Time
	Payload map[string]any // JSON-encodable metadata, may be nil
}

// Machine is the model. It is safe for concurrent use.
type Machine struct {
	mu       sync.Mutex
	cfg      Config
	now      func() time.Time
	rng      *rand.Rand
	sels     []Selection
	cnt      Counters
	door     bool
	fault    string
	events   []Event
	dropped  int64
	audits   int
	lastRead time.Time

	// Audit bookkeeping (audit.go).
	initAt    time.Time        // EA4: when the machine was initialised (New)
	doorOpens int64            // EA2 EGS since init
	faults    map[string]int64 // EA2 per fault code since init
	faultSeq  []string         // fault codes in order of first appearance
	powerUps  int64            // EA7 since init
	resetsN   int64            // EA310: resets since init
	base      resetBase        // counters at the last reset
}

// New builds a machine from cfg.
func New(cfg Config) *Machine {
	if cfg.Selections <= 0 {
		cfg.Selections = defaultSels
	}
	if cfg.Capacity <= 0 {
		cfg.Capacity = defaultCap
	}
	if cfg.Model == "" {
		cfg.Model = "VGEMU"
	}
	if cfg.Serial == "" {
		cfg.Serial = fmt.Sprintf("VG%010d", uint64(cfg.Seed)%10_000_000_000)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x76656e64)) //nolint:gosec // simulation, not crypto
	cfg.Serial, cfg.Model = auditSafe(cfg.Serial), auditSafe(cfg.Model)
	m := &Machine{cfg: cfg, now: now, rng: rng, faults: map[string]int64{}}
	m.initAt = now()
	for i := 0; i < cfg.Selections; i++ {
		price := int64(50 + 10*rng.IntN(20)) // 50..240 in steps of 10
		if i < len(cfg.Prices) && cfg.Prices[i] >= 0 {
			price = cfg.Prices[i]
		}
		n := firstSelection + i
		m.sels = append(m.sels, Selection{
			Number: n, Code: strconv.Itoa(n), Price: price, Stock: cfg.Capacity, Capacity: cfg.Capacity,
		})
	}
	return m
}

// Serial returns the machine's serial number.
func (m *Machine) Serial() string { return m.cfg.Serial }

// Selections returns a copy of the selections.
func (m *Machine) Selections() []Selection {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Selection(nil), m.sels...)
}

// Counters returns the totals since initialisation.
func (m *Machine) Counters() Counters {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cnt
}

// DoorOpen reports whether the door is open.
func (m *Machine) DoorOpen() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.door
}

// Fault returns the current fault code, "" when none.
func (m *Machine) Fault() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fault
}

// DroppedEvents reports how many events were dropped because nobody drained the queue.
func (m *Machine) DroppedEvents() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropped
}

func (m *Machine) find(number int) int {
	for i := range m.sels {
		if m.sels[i].Number == number {
			return i
		}
	}
	return -1
}

// Vend vends selection number sel paid by payment. A payment of protocol.PayNone
// makes a free vend (price still reported). A failed attempt returns a record with
// OK false and an error saying why; an unknown selection or payment returns only the error.
func (m *Machine) Vend(sel int, payment protocol.Payment) (VendRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.vendLocked(sel, payment)
}

func (m *Machine) vendLocked(sel int, payment protocol.Payment) (VendRecord, error) {
	switch payment {
	case protocol.PayCash, protocol.PayCashless, protocol.PayToken, protocol.PayNone:
	default:
		return VendRecord{}, fmt.Errorf("%w: %q", ErrBadPayment, payment)
	}
	i := m.find(sel)
	if i < 0 {
		return VendRecord{}, fmt.Errorf("%w: %d", ErrUnknownSelection, sel)
	}
	s := &m.sels[i]
	rec := VendRecord{
		Selection: s.Code, Number: s.Number, Price: s.Price, Payment: payment,
		Type: protocol.VendPaid, Time: m.now(),
	}
	if payment == protocol.PayNone {
		rec.Type = protocol.VendFree
	}
	switch {
	case m.fault != "":
		m.cnt.Failed++
		return rec, ErrOutOfService
	case s.Stock <= 0:
		m.cnt.Failed++
		return rec, fmt.Errorf("%w: %s", ErrSoldOut, s.Code)
	}
	s.Stock--
	rec.OK = true
	m.cnt.Vends++
	switch payment {
	case protocol.PayCash, protocol.PayToken:
		m.cnt.CashVends++
		m.cnt.CashValue += s.Price
	case protocol.PayCashless:
		m.cnt.CashlessVends++
		m.cnt.CashlessValue += s.Price
	case protocol.PayNone:
		m.cnt.FreeVends++
	}
	if payment == protocol.PayNone {
		s.Free++
	} else {
		s.Vends++
		s.Value += s.Price
	}
	if s.Stock == 0 {
		m.emitLocked(EventSoldOut, map[string]any{"sel": s.Code})
	}
	return rec, nil
}

// CheapestUpTo returns the number of an in-stock selection whose price is at most
// amount, preferring the most expensive such one, or false if there is none. The
// modem uses it to spend a remote cashless credit.
func (m *Machine) CheapestUpTo(amount int64) (int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	best, found := -1, false
	for i, s := range m.sels {
		if s.Stock > 0 && s.Price <= amount && (!found || s.Price > m.sels[best].Price) {
			best, found = i, true
		}
	}
	if !found {
		return 0, false
	}
	return m.sels[best].Number, true
}

// RandomVend makes a vend of a random in-stock selection with a random payment
// (cash 60 %, cashless 35 %, token 5 %), as a customer would. When everything is sold
// out it restocks first, like a route driver who comes by just in time.
func (m *Machine) RandomVend() (VendRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var avail []int
	for _, s := range m.sels {
		if s.Stock > 0 {
			avail = append(avail, s.Number)
		}
	}
	if len(avail) == 0 {
		m.restockLocked()
		for _, s := range m.sels {
			avail = append(avail, s.Number)
		}
	}
	pay := protocol.PayCash
	switch r := m.rng.IntN(100); {
	case r >= 95:
		pay = protocol.PayToken
	case r >= 60:
		pay = protocol.PayCashless
	}
	return m.vendLocked(avail[m.rng.IntN(len(avail))], pay)
}

// RandomEvent makes something happen at the machine (door opens/closes, a fault is
// raised or cleared, a restock) and returns the event it queued.
func (m *Machine) RandomEvent() Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch r := m.rng.IntN(10); {
	case r < 5:
		m.setDoorLocked(!m.door)
	case r < 8:
		if m.fault == "" {
			m.setFaultLocked(fmt.Sprintf("E%02d", 1+m.rng.IntN(20)))
		} else {
			m.setFaultLocked("")
		}
	default:
		m.restockLocked()
	}
	return m.events[len(m.events)-1]
}

// SetDoor opens or closes the door, queuing a DOOR event when it changes.
func (m *Machine) SetDoor(open bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.door != open {
		m.setDoorLocked(open)
	}
}

func (m *Machine) setDoorLocked(open bool) {
	m.door = open
	if open {
		m.doorOpens++
	}
	m.emitLocked(EventDoor, map[string]any{"open": open})
}

// SetFault raises a fault with code (or clears it with ""), queuing a FAULT event.
// While a fault is raised every vend fails with ErrOutOfService.
func (m *Machine) SetFault(code string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fault != code {
		m.setFaultLocked(code)
	}
}

func (m *Machine) setFaultLocked(code string) {
	prev := m.fault
	m.fault = code
	if code != "" {
		if m.faults[code] == 0 {
			m.faultSeq = append(m.faultSeq, code)
		}
		m.faults[code]++
	}
	if code == "" {
		code = prev
	}
	m.emitLocked(EventFault, map[string]any{"fault": m.fault != "", "code": code})
}

// Restock refills every selection, queuing a RESTOCK event.
func (m *Machine) Restock() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.restockLocked()
}

func (m *Machine) restockLocked() {
	n := 0
	for i := range m.sels {
		n += m.sels[i].Capacity - m.sels[i].Stock
		m.sels[i].Stock = m.sels[i].Capacity
	}
	m.emitLocked(EventRestock, map[string]any{"items": n})
}

// PowerUp queues a POWER_UP event, as a machine does after a restart.
func (m *Machine) PowerUp() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.powerUps++
	m.emitLocked(EventPower, nil)
}

func (m *Machine) emitLocked(code string, payload map[string]any) {
	if len(m.events) >= eventQueueMax {
		m.events = m.events[1:]
		m.dropped++
	}
	m.events = append(m.events, Event{Code: code, Time: m.now(), Payload: payload})
}

// Events returns the events queued since the last call and clears the queue.
func (m *Machine) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	ev := m.events
	m.events = nil
	return ev
}

// Audit reads the machine's audit: the EVA-DTS text of its counters (see
// audit.go for the records). Each read counts in EA3, queues a TEVA event
// and, with Config.ResetOnRead, zeroes the "since last reset" counters.
func (m *Machine) Audit() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.audits++
	r := m.reportLocked(now)
	m.lastRead = now
	if m.cfg.ResetOnRead {
		m.resetLocked()
	}
	m.emitLocked(EventAuditRead, map[string]any{"reads": m.audits})
	return encodeAudit(r)
}
