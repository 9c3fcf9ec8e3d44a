package vmc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"vendgate/dex"
	"vendgate/emulator/machine"
)

// ErrConfig is returned by Run for an unusable Config.
var ErrConfig = errors.New("vmc: invalid config")

// Faults configures fault injection on the machine's side of the line.
// Counted blocks are the data blocks the machine writes (DLE STX ...),
// retransmissions included; handshakes and control sequences pass untouched.
type Faults struct {
	// CorruptEvery corrupts one byte of every Nth data block (0: never),
	// so the reader must NAK it and get it again (EVA-DTS 6.2 §4.4).
	CorruptEvery int
	// SilentAfter makes the machine write nothing at all after this many
	// data blocks, for the rest of the line's life (0: never), as a
	// machine that hangs or loses its cable mid-transfer.
	SilentAfter int
}

// Line wraps the machine's end of a DEX line and applies Faults to what the
// machine writes. It relies on the dex driver writing every frame in one
// Write call (dex.Session outputs are written whole).
type Line struct {
	rw     io.ReadWriter
	faults Faults

	mu     sync.Mutex
	blocks int // data blocks written (or swallowed) so far
}

// NewLine returns rw with faults applied to its writes.
func NewLine(rw io.ReadWriter, faults Faults) *Line { return &Line{rw: rw, faults: faults} }

// Read reads from the line unchanged.
func (l *Line) Read(p []byte) (int, error) { return l.rw.Read(p) }

// Write writes p, corrupted or swallowed as Faults say. A swallowed write
// reports success: the machine believes it talked.
func (l *Line) Write(p []byte) (int, error) {
	l.mu.Lock()
	if l.faults.SilentAfter > 0 && l.blocks >= l.faults.SilentAfter {
		l.mu.Unlock()
		return len(p), nil
	}
	if len(p) < 2 || p[0] != dex.DLE || p[1] != dex.STX {
		l.mu.Unlock()
		return l.rw.Write(p)
	}
	l.blocks++
	n := l.blocks
	l.mu.Unlock()
	if k := l.faults.CorruptEvery; k > 0 && n%k == 0 {
		q := append([]byte(nil), p...)
		corrupt(q)
		if _, err := l.rw.Write(q); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return l.rw.Write(p)
}

// Blocks returns how many data blocks the machine has written so far.
func (l *Line) Blocks() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.blocks
}

// SetReadDeadline passes deadlines to the line when it supports them, so the
// dex driver can stop its reader between sessions.
func (l *Line) SetReadDeadline(t time.Time) error {
	if d, ok := l.rw.(interface{ SetReadDeadline(time.Time) error }); ok {
		return d.SetReadDeadline(t)
	}
	return errors.ErrUnsupported
}

// corrupt changes one byte of the framed block b (DLE STX text DLE ETx crc
// crc) so its block check fails without breaking the framing: a printable
// text character in the middle becomes another one, or, when there is none
// to change safely, the last CRC byte is flipped. CRC-16 detects every
// single-byte change, so the reader always sees a bad block.
func corrupt(b []byte) {
	end := len(b) - 4 // DLE ETB/ETX and the two CRC bytes
	for i := 2 + (end-2)/2; i < end && i >= 2; i++ {
		c := b[i]
		if c >= 0x20 && c < 0x7f && b[i-1] != dex.DLE && b[i+1] != dex.DLE {
			if c == 'X' {
				b[i] = 'Y'
			} else {
				b[i] = 'X'
			}
			return
		}
	}
	b[len(b)-1] ^= 0x5a
}

// Config configures Run.
type Config struct {
	Machine *machine.Machine // the machine whose audit is served; required
	DEX     dex.Config       // link timers and identity (zero: spec defaults)
	// MachineMaster makes the machine master of the first handshake (it
	// keeps sending ENQ until a reader answers), see dex.Slave.
	MachineMaster bool
	// VendRate is random customer vends per minute (0: none), so that
	// successive audits differ.
	VendRate float64
	Faults   Faults
	// OnSession, if set, is called after every DEX session with its
	// outcome (nil for a completed transfer) and the audit size served.
	OnSession func(err error, auditBytes int)
}

// Run serves the machine's audit on rw until ctx ends or rw fails, and makes
// vends at cfg.VendRate meanwhile. It returns nil when ctx ends or rw reaches
// EOF, else the line's error.
func Run(ctx context.Context, rw io.ReadWriter, cfg Config) error {
	if cfg.Machine == nil {
		return fmt.Errorf("%w: no machine", ErrConfig)
	}
	if cfg.VendRate < 0 || cfg.Faults.CorruptEvery < 0 || cfg.Faults.SilentAfter < 0 {
		return fmt.Errorf("%w: negative vend rate or fault count", ErrConfig)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	if cfg.VendRate > 0 {
		every := time.Duration(float64(time.Minute) / cfg.VendRate)
		wg.Go(func() { vend(ctx, cfg.Machine, max(every, time.Millisecond)) })
	}
	var mu sync.Mutex
	served := 0
	sl := &dex.Slave{Config: cfg.DEX, MachineMaster: cfg.MachineMaster}
	sl.OnSession = func(err error) {
		mu.Lock()
		n := served
		served = 0
		mu.Unlock()
		if cfg.OnSession != nil {
			cfg.OnSession(err, n)
		}
	}
	err := sl.Serve(ctx, NewLine(rw, cfg.Faults), func() ([]byte, error) {
		text := cfg.Machine.Audit()
		mu.Lock()
		served = len(text)
		mu.Unlock()
		return text, nil
	})
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// vend makes one random vend every period until ctx ends. Machine events
// are drained as they come: nobody reads them on a DEX-only line.
func vend(ctx context.Context, m *machine.Machine, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = m.RandomVend()
			m.Events()
		}
	}
}
