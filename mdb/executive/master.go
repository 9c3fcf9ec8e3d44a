package executive

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Timing and retry defaults. The Executive specification (MEI 10102-000304001-PS)
// is not public; doc.go explains each choice.
const (
	// DefaultResponseTimeout: how long the master waits for the answer to
	// STATUS, CREDIT or ACCEPT DATA. vendgate's choice: ≈40 character times at
	// 9600 baud, generous next to MDB's 5 ms t-response [MDB 4.2 §3.1].
	DefaultResponseTimeout = 100 * time.Millisecond
	// DefaultVendTimeout: how long the master waits for the answer to VEND
	// (SOFTJOURN: "recommended in Executive protocol documentation to use at
	// least 60 seconds").
	DefaultVendTimeout = 60 * time.Second
	// DefaultPollInterval: pause between polls in Run; inside MDB's 25–200 ms
	// polling window [MDB 4.2 §2.4.3], which is the nearest published figure.
	DefaultPollInterval = 100 * time.Millisecond
	// DefaultRetries: failed exchanges in a row (PNAK, silence, corrupt
	// answer) before the VMC counts as offline (SOFTJOURN retries PNAK 5 times).
	DefaultRetries = 5
)

// Config parameterises a Master. Zero fields take the defaults.
type Config struct {
	// Framing of the ninth bit (default FramingModeBit).
	Framing Framing
	// PriceHolding: the VMC reports selection numbers (price lines) and the
	// master holds the prices (Prices); otherwise the VMC reports prices.
	PriceHolding bool
	// Prices returns the price (minor currency units) of a selection in
	// price-holding mode; ok false denies the vend. Called without locks held.
	Prices func(selection byte) (price uint32, ok bool)
	// Scale is the value of one wire unit in minor currency units: a price
	// byte p means p×Scale (default 1). ACCEPT DATA carries credit/Scale.
	Scale uint32
	// MultiVend keeps the remaining credit after a vend; by default what is
	// left is cleared (one vend per credit grant).
	MultiVend bool
	// AnnounceCredit sends ACCEPT DATA with the credit whenever it changes.
	// Off by default: its opcode is not from a public source (OpAcceptData).
	AnnounceCredit bool
	// ResponseTimeout bounds the wait for a STATUS/CREDIT/ACCEPT DATA answer.
	ResponseTimeout time.Duration
	// VendTimeout bounds the wait for the VEND answer.
	VendTimeout time.Duration
	// PollInterval is the pause between polls in Run.
	PollInterval time.Duration
	// Retries is the number of failed exchanges in a row before offline.
	Retries int
	// OnVend receives every vend record, in the goroutine that polled.
	OnVend func(VendRecord)
	// OnPollError, if set, receives the errors Run does not return.
	OnPollError func(error)
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Scale == 0 {
		c.Scale = 1
	}
	if c.ResponseTimeout <= 0 {
		c.ResponseTimeout = DefaultResponseTimeout
	}
	if c.VendTimeout <= 0 {
		c.VendTimeout = DefaultVendTimeout
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Retries <= 0 {
		c.Retries = DefaultRetries
	}
	return c
}

// ExchangeError reports a failed command/answer exchange. It unwraps to its
// cause (ErrTimeout, ErrPNAK, ErrParity, ErrUnexpectedReply, ErrEscape) and,
// when the failure made the VMC count as offline, to ErrOffline as well.
type ExchangeError struct {
	Cmd     Command
	Err     error
	Offline bool
}

// Error implements error.
func (e *ExchangeError) Error() string {
	s := fmt.Sprintf("executive: %v: %v", e.Cmd, trimPrefix(e.Err))
	if e.Offline {
		s += " (VMC offline)"
	}
	return s
}

// Unwrap returns the cause, and ErrOffline when Offline is set.
func (e *ExchangeError) Unwrap() []error {
	if e.Offline {
		return []error{e.Err, ErrOffline}
	}
	return []error{e.Err}
}

// Master is the driver of the payment system side: it polls the VMC over a
// Link and carries out the modem's remote actions. Poll, Run and Reset
// serialise their link exchanges; GrantCredit and Dispense only change the
// session and never wait for the link.
type Master struct {
	link Link
	cfg  Config

	io    chan struct{} // one exchange at a time; a channel, not a mutex, so waiting is durable under synctest
	dirty bool          // an answer may still be in flight: drain before writing
	rbuf  [1]Word
	wbuf  []Word
	drain [16]Word

	mu sync.Mutex // guards s
	s  *Session
}

// NewMaster returns a master for the VMC on link.
func NewMaster(link Link, cfg Config) *Master {
	cfg = cfg.WithDefaults()
	return &Master{link: link, cfg: cfg, io: make(chan struct{}, 1), s: NewSession(SessionConfig{
		PriceHolding:   cfg.PriceHolding,
		Scale:          cfg.Scale,
		MultiVend:      cfg.MultiVend,
		AnnounceCredit: cfg.AnnounceCredit,
		Retries:        cfg.Retries,
	})}
}

// Config returns the configuration in use (defaults applied).
func (m *Master) Config() Config { return m.cfg }

// State returns the session state.
func (m *Master) State() State { m.mu.Lock(); defer m.mu.Unlock(); return m.s.State() }

// Credit returns the credit on offer (minor currency units).
func (m *Master) Credit() uint32 { m.mu.Lock(); defer m.mu.Unlock(); return m.s.Credit() }

// Status returns the VMC's last STATUS answer.
func (m *Master) Status() Status { m.mu.Lock(); defer m.mu.Unlock(); return m.s.LastStatus() }

// GrantCredit offers amount (minor currency units) of credit for the next
// selection. It fails with ErrOffline while the VMC does not answer.
func (m *Master) GrantCredit(amount uint32) error {
	return m.remote(Event{Kind: EvGrant, Amount: amount})
}

// Dispense authorises one free vend of selection: Executive gives the master
// no command to start a vend, so the product is vended when someone presses
// that selection (any other selection still needs credit). Only in
// price-holding mode, where the VMC names the selection; otherwise
// ErrUnsupported.
func (m *Master) Dispense(selection byte) error {
	return m.remote(Event{Kind: EvDispense, Value: selection})
}

func (m *Master) remote(ev Event) error {
	m.mu.Lock()
	eff := m.s.Step(ev)
	m.mu.Unlock()
	return eff.Err
}

// Reset drops credit, Dispense authorisations and any pending request (a
// VEND already sent still reports its result), then polls STATUS once so the
// caller learns whether the VMC answers. Executive has no reset command that
// is publicly documented, so this is a reset of the master's session.
func (m *Master) Reset(ctx context.Context) error {
	m.mu.Lock()
	m.s.Step(Event{Kind: EvReset})
	m.mu.Unlock()
	return m.exchangeAndStep(ctx, Command{Op: OpStatus})
}

// Poll performs one exchange: the command the session asks for, the VMC's
// answer, and the resulting transition (price lookup and vend records
// included). It returns an *ExchangeError when the exchange failed, ctx's
// error when ctx ended, or the link's error.
func (m *Master) Poll(ctx context.Context) error {
	m.mu.Lock()
	cmd := m.s.Next()
	m.mu.Unlock()
	return m.exchangeAndStep(ctx, cmd)
}

// Run polls every PollInterval until ctx ends (it then returns ctx.Err()) or
// the link fails. Exchange errors are not fatal: they go to OnPollError and
// drive the session (offline after Retries).
func (m *Master) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		err := m.Poll(ctx)
		var xe *ExchangeError
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &xe):
			if m.cfg.OnPollError != nil {
				m.cfg.OnPollError(err)
			}
		default:
			return err
		}
		t.Reset(m.cfg.PollInterval)
	}
}

func (m *Master) exchangeAndStep(ctx context.Context, cmd Command) error {
	ev, xerr, err := m.exchange(ctx, cmd)
	if err != nil {
		return err
	}
	m.mu.Lock()
	eff := m.s.Step(ev)
	offline := m.s.State() == StateOffline
	m.mu.Unlock()
	m.emit(eff.Record)
	if eff.Lookup {
		var price uint32
		known := false
		if m.cfg.Prices != nil {
			price, known = m.cfg.Prices(eff.Selection)
		}
		m.mu.Lock()
		eff = m.s.Step(Event{Kind: EvPrice, Amount: price, Known: known})
		m.mu.Unlock()
		m.emit(eff.Record)
	}
	if xerr != nil {
		return &ExchangeError{Cmd: cmd, Err: xerr, Offline: offline}
	}
	return nil
}

func (m *Master) emit(r *VendRecord) {
	if r != nil && m.cfg.OnVend != nil {
		m.cfg.OnVend(*r)
	}
}

var past = time.Unix(1, 0)

// exchange writes cmd and reads its one-word answer. It returns the event
// for the session and, for failed exchanges, their cause (xerr); err is set
// only when no event applies (ctx ended, link broken).
func (m *Master) exchange(ctx context.Context, cmd Command) (ev Event, xerr, err error) {
	select {
	case m.io <- struct{}{}:
	case <-ctx.Done():
		return ev, nil, ctx.Err()
	}
	defer func() { <-m.io }()
	if err := ctx.Err(); err != nil {
		return ev, nil, err
	}
	if ctx.Done() != nil {
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			_ = m.link.SetReadDeadline(past)
			close(fired)
		})
		defer func() {
			if !stop() {
				<-fired // never let a late cancel hit the next exchange
			}
		}()
	}
	if m.dirty {
		m.discard(ctx)
		if err := ctx.Err(); err != nil {
			return ev, nil, err
		}
	}
	m.wbuf = cmd.AppendWords(m.wbuf[:0], m.cfg.Framing)
	if err := m.link.WriteWords(m.wbuf); err != nil {
		return ev, nil, fmt.Errorf("executive: write %v: %w", cmd, err)
	}
	timeout := m.cfg.ResponseTimeout
	if cmd.Op == OpVend {
		timeout = m.cfg.VendTimeout
	}
	ctxBound, err := m.setDeadline(ctx, timeout)
	if err != nil {
		return ev, nil, err
	}
	n, rerr := m.link.ReadWords(m.rbuf[:])
	if n == 0 {
		switch {
		case ctx.Err() != nil:
			return ev, nil, ctx.Err()
		case errors.Is(rerr, os.ErrDeadlineExceeded) && ctxBound:
			return ev, nil, context.DeadlineExceeded // ctx's deadline, not the VMC's
		case errors.Is(rerr, os.ErrDeadlineExceeded):
			m.dirty = true
			return Event{Kind: EvSilence}, ErrTimeout, nil
		case errors.Is(rerr, ErrEscape):
			m.dirty = true
			return Event{Kind: EvCorrupt}, rerr, nil
		default:
			return ev, nil, fmt.Errorf("executive: read answer to %v: %w", cmd, rerr)
		}
	}
	reply, derr := DecodeReplyWord(cmd.Op, m.rbuf[0], m.cfg.Framing)
	if derr != nil {
		m.dirty = true
		return Event{Kind: EvCorrupt}, derr, nil
	}
	switch r := reply.(type) {
	case PNAK:
		return Event{Kind: EvPNAK}, ErrPNAK, nil
	case Status:
		return Event{Kind: EvStatus, Status: r}, nil, nil
	case CreditReply:
		if !r.Requested {
			return Event{Kind: EvNoRequest}, nil, nil
		}
		return Event{Kind: EvVendRequest, Value: r.Value}, nil, nil
	case VendResult:
		return Event{Kind: EvVendResult, Value: r.Code}, nil, nil
	default: // Ack
		return Event{Kind: EvAck}, nil, nil
	}
}

// setDeadline arms the read deadline now+timeout, or ctx's deadline when
// that is earlier (ctxBound). Checking ctx after arming closes the race with
// the AfterFunc that moves the deadline to the past on cancellation.
func (m *Master) setDeadline(ctx context.Context, timeout time.Duration) (ctxBound bool, err error) {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxBound = d, true
	}
	if err := m.link.SetReadDeadline(deadline); err != nil {
		return false, err
	}
	if ctx.Err() != nil {
		_ = m.link.SetReadDeadline(past)
	}
	return ctxBound, nil
}

// discard runs after a failed exchange: it drops what arrives until the line
// has been quiet for one ResponseTimeout (a late or garbled answer), so that
// it is not taken for the next command's answer — Executive answers carry no
// command identification. The loop is bounded against a babbling line.
func (m *Master) discard(ctx context.Context) {
	m.dirty = false
	for range 64 {
		if _, err := m.setDeadline(ctx, m.cfg.ResponseTimeout); err != nil || ctx.Err() != nil {
			return
		}
		if n, _ := m.link.ReadWords(m.drain[:]); n == 0 {
			return
		}
	}
}
