package qibixx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Driver errors.
var (
	// ErrState means the command does not fit the slave's current state (e.g.
	// approving when no vend request is pending).
	ErrState = errors.New("qibixx: command not allowed in this state")
	// ErrNoReply means the adapter did not report anything after C,1 within
	// Config.ReplyTimeout: wrong port, wrong baud rate, or no adapter.
	ErrNoReply = errors.New("qibixx: no reply from the adapter")
	// ErrDecisionTimeout is reported (EventVendTimeout) when a vend request
	// was not decided within Config.DecisionTimeout and was denied.
	ErrDecisionTimeout = errors.New("qibixx: vend request not decided in time")
	// ErrAdapter wraps an error line of the adapter ("c,ERR,...").
	ErrAdapter = errors.New("qibixx: adapter error")
)

// Config configures a Reader. Zero fields take the defaults.
type Config struct {
	// ReplyTimeout is how long Enable waits for the adapter's first report
	// after "C,1". Default 1 s: the adapter answers at once (both example
	// sessions show c,STATUS,INACTIVE right after C,1 even with no VMC),
	// the host link is 115200 Bd, so silence means no adapter.
	ReplyTimeout time.Duration
	// DecisionTimeout is how long a vend request may wait for ApproveVend or
	// DenyVend before the Reader denies it ("C,STOP"). Default 25 s: the
	// Qibixx reader announces 30 s as its maximum response time in READER
	// CONFIG (Z7 = 1E in the api-sniff capture), after which the VMC gives
	// up on the reader [MDB 4.2 §7.5]; denying first keeps the VMC in step.
	DecisionTimeout time.Duration
	// OnEvent, if set, receives every event synchronously from Run's
	// goroutine; it may call the Reader's methods. Otherwise events go to
	// the channel returned by Events.
	OnEvent func(Event)
	// EventBuffer is the capacity of the Events channel; default 32. Sends
	// never block: a full channel drops the event and counts it (Dropped).
	EventBuffer int
	// MaxLine bounds a line (see Framer); 0 means DefaultMaxLine.
	MaxLine int
}

// Defaults for Config.
const (
	DefaultReplyTimeout    = time.Second
	DefaultDecisionTimeout = 25 * time.Second
)

func (c Config) withDefaults() Config {
	if c.ReplyTimeout <= 0 {
		c.ReplyTimeout = DefaultReplyTimeout
	}
	if c.DecisionTimeout <= 0 {
		c.DecisionTimeout = DefaultDecisionTimeout
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = 32
	}
	return c
}

// SlaveState is the cashless-slave state the adapter last reported
// ("c,STATUS,<state>"). The names follow the reader states of
// [MDB 4.2 §7.2]: the adapter reports IDLE for Session Idle.
type SlaveState string

// Slave states reported by the adapter.
const (
	StateOff      SlaveState = ""         // nothing reported since Disable / before Enable
	StateInactive SlaveState = "INACTIVE" // on the bus, not yet set up by the VMC
	StateDisabled SlaveState = "DISABLED" // set up, reader disabled by the VMC
	StateEnabled  SlaveState = "ENABLED"  // ready: a session may start
	StateIdle     SlaveState = "IDLE"     // session open (Session Idle)
	StateVend     SlaveState = "VEND"     // a vend request is waiting for the host
)

// EventKind classifies an Event.
type EventKind uint8

// Event kinds.
const (
	EventStatus      EventKind = iota // the slave state changed (State)
	EventVendRequest                  // the VMC asks to vend Item for Price: answer with ApproveVend or DenyVend
	EventVendSuccess                  // the approved product was dispensed ("c,VEND,SUCCESS")
	EventVendFailure                  // the approved vend failed ("c,ERR,VEND 3"); the sale is void
	EventVendTimeout                  // the host did not decide in time; the Reader denied the request
	EventError                        // an adapter error line or an unreadable line (Err)
	EventOther                        // any other line (Line), e.g. "r,ACK" is not reported
)

// String names the kind.
func (k EventKind) String() string {
	switch k {
	case EventStatus:
		return "status"
	case EventVendRequest:
		return "vend-request"
	case EventVendSuccess:
		return "vend-success"
	case EventVendFailure:
		return "vend-failure"
	case EventVendTimeout:
		return "vend-timeout"
	case EventError:
		return "error"
	case EventOther:
		return "other"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is something the adapter reported.
type Event struct {
	Kind  EventKind
	State SlaveState // the state after the line (every kind)
	Price Amount     // vend request / outcome: requested price
	Item  int        // vend request / outcome: product number
	Err   error      // EventError, EventVendFailure, EventVendTimeout
	Line  string     // the line that caused the event (empty for a timeout)
}

// Reader drives the adapter's cashless slave: the adapter emulates a cashless
// reader towards the machine's VMC and forwards its decisions to the host,
// which makes them (the gateway's modem role). Create with NewReader, start
// Run, then Enable. Methods are safe for concurrent use.
type Reader struct {
	rw     io.ReadWriter
	cfg    Config
	events chan Event
	drops  atomic.Int64

	wmu sync.Mutex // serialises writes (lines must not interleave)
	// emu orders events: a decision timeout holds it from its C,STOP to its
	// event, so that what the adapter answers to the STOP (read by Run) is
	// reported after the timeout, not before it.
	emu sync.Mutex

	mu       sync.Mutex
	state    SlaveState
	pending  *VendRequest // undecided vend request
	approved *VendRequest // approved, outcome not reported yet
	timer    *time.Timer  // decision timeout of pending
	gen      uint64       // invalidates a timer that fired late
	waiters  []chan struct{}
	wbuf     []byte
}

// NewReader returns a Reader talking to the adapter over rw (an open serial
// port at 115200 8N1, or a pipe in tests).
func NewReader(rw io.ReadWriter, cfg Config) *Reader {
	cfg = cfg.withDefaults()
	r := &Reader{rw: rw, cfg: cfg}
	if cfg.OnEvent == nil {
		r.events = make(chan Event, cfg.EventBuffer)
	}
	return r
}

// Events returns the event channel (nil when Config.OnEvent is set).
func (r *Reader) Events() <-chan Event { return r.events }

// Dropped counts events lost because the channel was full.
func (r *Reader) Dropped() int64 { return r.drops.Load() }

// State returns the last reported slave state.
func (r *Reader) State() SlaveState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Pending returns the undecided vend request, if any.
func (r *Reader) Pending() (VendRequest, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		return VendRequest{}, false
	}
	return *r.pending, true
}

func (r *Reader) send(m Message) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.wbuf = AppendLine(r.wbuf[:0], m)
	if _, err := r.rw.Write(r.wbuf); err != nil {
		return fmt.Errorf("qibixx: write %q: %w", m.String(), err)
	}
	return nil
}

// Enable starts the cashless slave ("C,1") and waits up to
// Config.ReplyTimeout for the adapter to report anything from the slave
// (Run must be running). The VMC then sets the reader up; watch for
// EventStatus with StateEnabled.
func (r *Reader) Enable(ctx context.Context) error {
	w := make(chan struct{})
	r.mu.Lock()
	r.waiters = append(r.waiters, w)
	r.mu.Unlock()
	if err := r.send(SlaveEnable{On: true}); err != nil {
		r.dropWaiter(w)
		return err
	}
	t := time.NewTimer(r.cfg.ReplyTimeout)
	defer t.Stop()
	select {
	case <-w:
		return nil
	case <-t.C:
		r.dropWaiter(w)
		return ErrNoReply
	case <-ctx.Done():
		r.dropWaiter(w)
		return ctx.Err()
	}
}

func (r *Reader) dropWaiter(w chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, x := range r.waiters {
		if x == w {
			r.waiters = append(r.waiters[:i], r.waiters[i+1:]...)
			return
		}
	}
}

// Disable stops the cashless slave ("C,0"): the adapter leaves the bus. A
// pending vend request is dropped (the adapter no longer answers for it).
func (r *Reader) Disable() error {
	r.mu.Lock()
	r.clearPendingLocked()
	r.approved = nil
	r.state = StateOff
	r.mu.Unlock()
	return r.send(SlaveEnable{On: false})
}

// SetConf sets an adapter parameter ("C,SETCONF,<key>=<value>"). The
// api-configuration page asks for the slave to be disabled first ("C,0"),
// so this refuses while the slave is on.
func (r *Reader) SetConf(key, value string) error {
	if key == "" || strings.ContainsAny(key+value, ",=\r\n") {
		return fmt.Errorf("%w: SETCONF key/value %q=%q", ErrSyntax, key, value)
	}
	r.mu.Lock()
	st := r.state
	r.mu.Unlock()
	if st != StateOff {
		return fmt.Errorf("%w: SETCONF needs the slave disabled (state %s)", ErrState, st)
	}
	return r.send(SetConf{Key: key, Value: value})
}

// StartSession offers funds to the customer ("C,START,<funds>",
// authorization first): the adapter begins a session on the bus. Allowed
// when the slave is Enabled.
func (r *Reader) StartSession(funds Amount) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != StateEnabled {
		return fmt.Errorf("%w: start session in state %q", ErrState, r.state)
	}
	return r.send(SlaveStart{Funds: funds})
}

// ApproveVend approves the pending vend request for amount ("C,VEND,<amount>").
func (r *Reader) ApproveVend(amount Amount) error {
	return r.approve(SlaveVend{Amount: amount})
}

// ApproveVendItem approves the pending vend request, naming the product too
// ("C,VEND,<amount>,<item>", as in the two-device example).
func (r *Reader) ApproveVendItem(amount Amount, item int) error {
	return r.approve(SlaveVend{Amount: amount, Item: item, HasItem: true})
}

func (r *Reader) approve(m SlaveVend) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		return fmt.Errorf("%w: no vend request to approve", ErrState)
	}
	if err := r.send(m); err != nil {
		return err
	}
	req := *r.pending
	r.clearPendingLocked()
	r.approved = &req
	return nil
}

// DenyVend denies the pending vend request ("C,STOP").
func (r *Reader) DenyVend() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		return fmt.Errorf("%w: no vend request to deny", ErrState)
	}
	if err := r.send(SlaveStop{}); err != nil {
		return err
	}
	r.clearPendingLocked()
	return nil
}

// EndSession ends the open session ("C,STOP"; the pages document no other
// command, and C,STOP is the adapter's "stop" for a session as for a
// request). Allowed while a session is open (Idle or Vend).
func (r *Reader) EndSession() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != StateIdle && r.state != StateVend {
		return fmt.Errorf("%w: no session to end in state %q", ErrState, r.state)
	}
	if err := r.send(SlaveStop{}); err != nil {
		return err
	}
	r.clearPendingLocked()
	return nil
}

func (r *Reader) clearPendingLocked() {
	r.pending = nil
	r.gen++
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

func (r *Reader) decisionExpired(gen uint64) {
	r.emu.Lock()
	defer r.emu.Unlock()
	r.mu.Lock()
	if r.gen != gen || r.pending == nil {
		r.mu.Unlock()
		return
	}
	req := *r.pending
	err := r.send(SlaveStop{})
	r.clearPendingLocked()
	st := r.state
	r.mu.Unlock()
	ev := Event{Kind: EventVendTimeout, State: st, Price: req.Price, Item: req.Item, Err: ErrDecisionTimeout}
	if err != nil {
		ev.Err = errors.Join(ErrDecisionTimeout, err)
	}
	r.emitLocked(ev)
}

func (r *Reader) emit(e Event) {
	r.emu.Lock()
	defer r.emu.Unlock()
	r.emitLocked(e)
}

// emitLocked reports e; r.emu is held.
func (r *Reader) emitLocked(e Event) {
	if r.cfg.OnEvent != nil {
		r.cfg.OnEvent(e)
		return
	}
	select {
	case r.events <- e:
	default:
		r.drops.Add(1)
	}
}

// Run reads the adapter's lines and turns them into events until ctx ends or
// reading fails. If rw has SetReadDeadline (a serial port, a net.Conn), ctx
// cancellation interrupts a blocked read; otherwise Run returns at the next
// line or when rw is closed. io.EOF ends Run with a nil error.
func (r *Reader) Run(ctx context.Context) error {
	if d, ok := r.rw.(interface{ SetReadDeadline(time.Time) error }); ok {
		stop := context.AfterFunc(ctx, func() { _ = d.SetReadDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	defer func() {
		r.mu.Lock()
		r.clearPendingLocked()
		r.mu.Unlock()
	}()
	lr := NewLineReader(r.rw, r.cfg.MaxLine)
	for {
		line, err := lr.ReadLine()
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			if errors.Is(err, ErrLineTooLong) {
				r.emit(Event{Kind: EventError, State: r.State(), Err: err})
				continue
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("qibixx: read: %w", err)
		}
		r.handle(line)
	}
}

// handle applies one adapter line.
func (r *Reader) handle(line string) {
	m, err := Parse(line)
	if err != nil {
		r.emit(Event{Kind: EventError, State: r.State(), Err: err, Line: line})
		return
	}
	r.mu.Lock()
	if m.Prefix() == PrefixSlave {
		for _, w := range r.waiters {
			close(w)
		}
		r.waiters = nil
	}
	ev, ok := r.applyLocked(m)
	ev.State, ev.Line = r.state, line
	r.mu.Unlock()
	if ok {
		r.emit(ev)
	}
}

func (r *Reader) applyLocked(m Message) (Event, bool) {
	switch m := m.(type) {
	case VendRequest:
		r.state = StateVend
		if r.pending != nil && r.pending.Price.Equal(m.Price) && r.pending.Item == m.Item {
			return Event{}, false // a repeat of the request we are deciding
		}
		r.clearPendingLocked()
		r.approved = nil
		req := m
		r.pending = &req
		gen := r.gen
		r.timer = time.AfterFunc(r.cfg.DecisionTimeout, func() { r.decisionExpired(gen) })
		return Event{Kind: EventVendRequest, Price: m.Price, Item: m.Item}, true
	case Status:
		if m.From != PrefixSlave {
			return Event{Kind: EventOther}, true
		}
		prev := r.state
		r.state = SlaveState(m.State)
		if r.state != StateVend {
			// The VMC left the vend (cancelled, or the adapter moved on).
			r.clearPendingLocked()
		}
		if r.state == prev {
			return Event{}, false
		}
		return Event{Kind: EventStatus}, true
	case VendResult:
		ev := Event{Kind: EventVendSuccess}
		if !m.OK() {
			ev = Event{Kind: EventVendFailure, Err: fmt.Errorf("%w: VEND %s", ErrAdapter, m.Result)}
		}
		if r.approved != nil {
			ev.Price, ev.Item = r.approved.Price, r.approved.Item
		}
		r.approved = nil
		return ev, true
	case ErrorReport:
		err := fmt.Errorf("%w: %s", ErrAdapter, m.Text)
		if m.From == PrefixSlave && strings.HasPrefix(m.Text, "VEND") {
			// "c,ERR,VEND 3": the product was not dispensed (QBX
			// cashless-device-accept-a-vend-request-from-vmc-in-always-idle).
			ev := Event{Kind: EventVendFailure, Err: err}
			if r.approved != nil {
				ev.Price, ev.Item = r.approved.Price, r.approved.Item
			}
			r.approved = nil
			r.clearPendingLocked()
			return ev, true
		}
		return Event{Kind: EventError, Err: err}, true
	case Ack:
		return Event{}, false // "r,ACK": bus bookkeeping, nothing for the host
	case ModeReply:
		if m.From == PrefixSlave {
			return Event{}, false // "c,1": the adapter confirms C,1
		}
	}
	return Event{Kind: EventOther}, true
}
