// Package serialport opens serial lines (USB-RS232 adapters, UARTs, pseudo
// terminals). It is the only package that imports go.bug.st/serial, and it
// gives the rest of the code a plain io.ReadWriteCloser with read timeouts
// and deadlines that report os.ErrDeadlineExceeded like net.Conn, instead of
// the library's "(0, nil) on timeout".
package serialport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.bug.st/serial"
)

// Parity of a character.
type Parity byte

// Parities.
const (
	ParityNone  Parity = 'N'
	ParityOdd   Parity = 'O'
	ParityEven  Parity = 'E'
	ParityMark  Parity = 'M'
	ParitySpace Parity = 'S'
)

// Config is the line setting. Zero fields take the DEX/UCS default 9600 8N1
// (EVA-DTS 6.2 §4.4).
type Config struct {
	Baud     int    // bit/s; 0 means 9600
	DataBits int    // 5..8; 0 means 8
	Parity   Parity // 0 means ParityNone
	StopBits int    // 1 or 2; 0 means 1
}

// Port is an open serial line.
type Port interface {
	io.ReadWriteCloser
	// SetReadTimeout bounds each Read: with no byte within d, Read returns
	// os.ErrDeadlineExceeded. d ≤ 0 removes the bound.
	SetReadTimeout(d time.Duration) error
	// SetReadDeadline makes a pending or future Read return
	// os.ErrDeadlineExceeded at t (within pollInterval); the zero time
	// removes the deadline. It overrides SetReadTimeout while set.
	SetReadDeadline(t time.Time) error
}

// pollInterval bounds how long the underlying read blocks, so a deadline
// changed during a Read is noticed (the library cannot interrupt a read
// except by Close).
const pollInterval = 50 * time.Millisecond

// Open opens the serial device at path with cfg.
func Open(path string, cfg Config) (Port, error) {
	mode, err := cfg.mode()
	if err != nil {
		return nil, err
	}
	p, err := serial.Open(path, mode)
	if err != nil {
		return nil, fmt.Errorf("serialport: open %s: %w", path, err)
	}
	return &port{p: p}, nil
}

func (c Config) mode() (*serial.Mode, error) {
	m := &serial.Mode{BaudRate: c.Baud, DataBits: c.DataBits, Parity: serial.NoParity, StopBits: serial.OneStopBit}
	if m.BaudRate == 0 {
		m.BaudRate = 9600
	}
	if m.BaudRate < 0 {
		return nil, fmt.Errorf("serialport: bad baud rate %d", c.Baud)
	}
	if m.DataBits == 0 {
		m.DataBits = 8
	}
	if m.DataBits < 5 || m.DataBits > 8 {
		return nil, fmt.Errorf("serialport: bad data bits %d", c.DataBits)
	}
	switch c.Parity {
	case 0, ParityNone:
	case ParityOdd:
		m.Parity = serial.OddParity
	case ParityEven:
		m.Parity = serial.EvenParity
	case ParityMark:
		m.Parity = serial.MarkParity
	case ParitySpace:
		m.Parity = serial.SpaceParity
	default:
		return nil, fmt.Errorf("serialport: bad parity %q", rune(c.Parity))
	}
	switch c.StopBits {
	case 0, 1:
	case 2:
		m.StopBits = serial.TwoStopBits
	default:
		return nil, fmt.Errorf("serialport: bad stop bits %d", c.StopBits)
	}
	return m, nil
}

// ParseParity reads "N", "E", "O", "M" or "S" (any case).
func ParseParity(s string) (Parity, error) {
	if len(s) == 1 {
		switch p := Parity(s[0] &^ 0x20); p {
		case ParityNone, ParityOdd, ParityEven, ParityMark, ParitySpace:
			return p, nil
		}
	}
	return 0, fmt.Errorf("serialport: bad parity %q", s)
}

type port struct {
	p        serial.Port
	readMu   sync.Mutex // one Read at a time
	mu       sync.Mutex
	timeout  time.Duration
	deadline time.Time
	current  time.Duration // timeout set on p
}

func (p *port) Write(b []byte) (int, error) {
	n, err := p.p.Write(b)
	if err != nil {
		err = fmt.Errorf("serialport: write: %w", err)
	}
	return n, err
}

func (p *port) Close() error { return p.p.Close() }

func (p *port) SetReadTimeout(d time.Duration) error {
	p.mu.Lock()
	p.timeout = d
	p.mu.Unlock()
	return nil
}

func (p *port) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	p.deadline = t
	p.mu.Unlock()
	return nil
}

func (p *port) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	p.readMu.Lock()
	defer p.readMu.Unlock()
	start := time.Now()
	for {
		p.mu.Lock()
		limit := p.deadline
		if limit.IsZero() && p.timeout > 0 {
			limit = start.Add(p.timeout)
		}
		p.mu.Unlock()
		wait := pollInterval
		if !limit.IsZero() {
			left := time.Until(limit)
			if left <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			wait = min(wait, left)
		}
		if wait != p.current {
			if err := p.p.SetReadTimeout(wait); err != nil {
				return 0, fmt.Errorf("serialport: %w", err)
			}
			p.current = wait
		}
		n, err := p.p.Read(b)
		if err != nil {
			var pe *serial.PortError
			if errors.As(err, &pe) && pe.Code() == serial.PortClosed {
				return n, fmt.Errorf("serialport: %w", os.ErrClosed)
			}
			return n, fmt.Errorf("serialport: read: %w", err)
		}
		if n > 0 {
			return n, nil
		}
	}
}
