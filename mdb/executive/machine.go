package executive

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// DefaultMachineVendTime is how long the emulated VMC takes to vend before it
// answers VEND (an emulator choice, well inside DefaultVendTimeout).
const DefaultMachineVendTime = 2 * time.Second

// MachineConfig describes an emulated vending machine.
type MachineConfig struct {
	// Framing of the ninth bit; must match the master's.
	Framing Framing
	// PriceHolding: answer CREDIT with the selection number (price line) and
	// leave prices to the payment system; otherwise answer with the price.
	PriceHolding bool
	// Prices maps each selection to its price in wire units (00..FD). In
	// price-holding mode only the keys matter (which selections exist).
	Prices map[byte]byte
	// VendTime is how long a vend takes before VEND is answered.
	VendTime time.Duration
	// RequestTimeout withdraws a selection nobody paid for after this long
	// (zero: it waits until Cancel). Real machines have such a timer; the
	// Vendo G-Drink manual (C3) adds up to 250 s for slow Executive systems.
	RequestTimeout time.Duration
}

// MachineVend is one vend the emulated machine performed (or failed).
type MachineVend struct {
	Selection byte
	Price     byte // wire units (non-price-holding); 0 in price-holding mode
	OK        bool
	Code      byte // the VEND answer sent
}

// Machine emulates the VMC side of Executive: it answers a Master's commands
// like a vending machine with selections and prices. Selections are made
// with Select, as a customer pressing a button would. Serve runs the link;
// the other methods may be called from any goroutine.
type Machine struct {
	cfg MachineConfig

	mu        sync.Mutex
	status    Status
	pending   bool
	sel       byte
	reqAt     time.Time
	display   byte
	displayed bool
	failCode  byte
	silent    bool
	vends     []MachineVend
	commands  int
}

// NewMachine returns a machine; it fails with ErrRange when a selection or
// price does not fit a reply byte (00..FD).
func NewMachine(cfg MachineConfig) (*Machine, error) {
	if !cfg.Framing.valid() {
		return nil, fmt.Errorf("executive: machine framing %v: %w", cfg.Framing, ErrRange)
	}
	for sel, p := range cfg.Prices {
		if sel > MaxValue || p > MaxValue {
			return nil, fmt.Errorf("executive: machine selection %d price %d: %w", sel, p, ErrRange)
		}
	}
	if cfg.VendTime <= 0 {
		cfg.VendTime = DefaultMachineVendTime
	}
	return &Machine{cfg: cfg}, nil
}

// Selections returns the configured selection numbers in order.
func (m *Machine) Selections() []byte {
	out := make([]byte, 0, len(m.cfg.Prices))
	for s := range m.cfg.Prices {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Select presses selection sel: the next CREDIT answer requests it.
func (m *Machine) Select(sel byte) error {
	if _, ok := m.cfg.Prices[sel]; !ok {
		return fmt.Errorf("executive: machine has no selection %d: %w", sel, ErrRange)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending {
		return ErrBusy
	}
	m.pending, m.sel, m.reqAt = true, sel, time.Now()
	return nil
}

// Cancel withdraws the pending selection (coin return, customer walked away).
func (m *Machine) Cancel() { m.mu.Lock(); m.pending = false; m.mu.Unlock() }

// Pending returns the selection waiting for VEND, if any.
func (m *Machine) Pending() (byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sel, m.pending
}

// SetInhibited sets STATUS bit 6 (vending inhibited).
func (m *Machine) SetInhibited(v bool) { m.mu.Lock(); m.status.Inhibited = v; m.mu.Unlock() }

// SetFreeVend sets STATUS bit 7 (free vend).
func (m *Machine) SetFreeVend(v bool) { m.mu.Lock(); m.status.FreeVend = v; m.mu.Unlock() }

// SetAudit sets the STATUS audit nibble (bits 3..0).
func (m *Machine) SetAudit(n byte) { m.mu.Lock(); m.status.Audit = n & 0x0F; m.mu.Unlock() }

// FailNextVend makes the next VEND fail with code (0 clears; 0xFF, being
// PNAK, is replaced by VendFailed).
func (m *Machine) FailNextVend(code byte) {
	if code == BytePNAK {
		code = VendFailed
	}
	m.mu.Lock()
	m.failCode = code
	m.mu.Unlock()
}

// SetSilent makes the machine stop (true) or resume (false) answering.
func (m *Machine) SetSilent(v bool) { m.mu.Lock(); m.silent = v; m.mu.Unlock() }

// Display returns the last value received with ACCEPT DATA.
func (m *Machine) Display() (value byte, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.display, m.displayed
}

// Vends returns the vends performed so far.
func (m *Machine) Vends() []MachineVend {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]MachineVend(nil), m.vends...)
}

// Commands returns how many commands the machine has received.
func (m *Machine) Commands() int { m.mu.Lock(); defer m.mu.Unlock(); return m.commands }

// Answer returns the reply byte to cmd at time now, without the vend delay
// (Serve adds it). ok is false when the machine stays silent.
func (m *Machine) Answer(cmd Command, now time.Time) (reply byte, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.commands++
	if m.silent {
		return 0, false
	}
	if m.pending && m.cfg.RequestTimeout > 0 && now.Sub(m.reqAt) >= m.cfg.RequestTimeout {
		m.pending = false
	}
	switch cmd.Op {
	case OpStatus:
		return m.status.Byte(), true
	case OpCredit:
		if !m.pending {
			return ByteNoVendRequest, true
		}
		if m.cfg.PriceHolding {
			return m.sel, true
		}
		return m.cfg.Prices[m.sel], true
	case OpVend:
		if !m.pending {
			return VendFailed, true // nothing selected: nothing to vend
		}
		v := MachineVend{Selection: m.sel, Code: m.failCode}
		if !m.cfg.PriceHolding {
			v.Price = m.cfg.Prices[m.sel]
		}
		v.OK = v.Code == ByteACK
		m.vends = append(m.vends, v)
		m.pending, m.failCode = false, 0
		return v.Code, true
	case OpAcceptData:
		m.display, m.displayed = cmd.Data, true
		return ByteACK, true
	}
	return BytePNAK, true
}

// Serve answers commands from link until ctx ends (returning ctx.Err()) or
// the link fails. Commands with a bad ninth bit or an unknown opcode get
// PNAK (SOFTJOURN); stray data bytes are ignored.
func (m *Machine) Serve(ctx context.Context, link Link) error {
	stop := context.AfterFunc(ctx, func() { _ = link.SetReadDeadline(past) })
	defer stop()
	if err := link.SetReadDeadline(time.Time{}); err != nil {
		return err
	}
	dec := CommandDecoder{Framing: m.cfg.Framing}
	var buf [64]Word
	out := make([]Word, 1)
	for {
		n, err := link.ReadWords(buf[:])
		for _, w := range buf[:n] {
			cmd, ok, derr := dec.Feed(w)
			var reply byte
			answer := false
			switch {
			case ok && cmd.Op == OpVend:
				if !m.sleep(ctx) {
					return ctx.Err()
				}
				// A VMC busy vending does not listen: what the master sent
				// meanwhile is dropped, not answered late.
				dec.Reset()
				if derr := dropPending(link); derr != nil {
					return derr
				}
				if ctx.Err() != nil { // a cancel may have hit the reset deadline
					return ctx.Err()
				}
				reply, answer = m.Answer(cmd, time.Now())
			case ok:
				reply, answer = m.Answer(cmd, time.Now())
			case errors.Is(derr, ErrParity), errors.Is(derr, ErrUnknownCommand):
				m.mu.Lock()
				answer = !m.silent
				m.mu.Unlock()
				reply = BytePNAK
			}
			if answer {
				out[0] = m.cfg.Framing.Word(reply, false)
				if werr := link.WriteWords(out); werr != nil {
					return werr
				}
			}
			if ok && cmd.Op == OpVend {
				break // the rest of buf arrived during the vend
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, ErrEscape) {
				continue
			}
			return err
		}
	}
}

// dropPending discards the words already received on link.
func dropPending(link Link) error {
	if err := link.SetReadDeadline(past); err != nil {
		return err
	}
	var buf [64]Word
	for {
		n, err := link.ReadWords(buf[:])
		if n == 0 || err != nil {
			break
		}
	}
	return link.SetReadDeadline(time.Time{})
}

func (m *Machine) sleep(ctx context.Context) bool {
	t := time.NewTimer(m.cfg.VendTime)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
