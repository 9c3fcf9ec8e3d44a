package mdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// MasterLink is the VMC's view of the bus: one command, one answer.
//
// Transact sends req (address byte first, CHK excluded: the link adds it) and
// returns the peripheral's data block without its CHK, or a nil slice when the
// peripheral answered ACK. The link acknowledges a good data block itself, asks
// for retransmission (RET) of a corrupted one, and reports silence as
// ErrTimeout and a peripheral NAK as ErrNAK; repeating the command is the
// caller's decision (the spec lets the VMC repeat or send another command
// [MDB 4.2 §2.2]).
type MasterLink interface {
	Transact(ctx context.Context, req []byte) (resp []byte, err error)
}

// PeripheralLink is a peripheral's view of the bus.
//
// Recv returns the next VMC block, of any address: the caller ignores blocks
// that are not addressed to it (and must then not answer). A block that arrived
// corrupted is returned with a non-nil error (the Frame's Err). Reply answers
// the block just received: empty data sends ACK, otherwise a data block whose
// CHK carries the mode bit; for a data block it waits for the VMC's ACK,
// resends on RET, and returns ErrNAK or ErrTimeout when the VMC did not
// acknowledge — the data must then be offered again at the next occasion
// [MDB 4.2 §2.2, §2.5 D]. NAK answers NAK.
type PeripheralLink interface {
	Recv(ctx context.Context) (Frame, error)
	Reply(ctx context.Context, data []byte) error
	NAK(ctx context.Context) error
}

// ErrBlockSize is returned when a block to send is empty or longer than MaxBlock.
var ErrBlockSize = errors.New("mdb: block size out of range")

// base holds what Master and Peripheral share: the port, timing, deadlines
// that honour ctx cancellation.
type base struct {
	port Port
	cfg  Config
	fr   Framer
	rbuf []Word
	wbuf []Word
	q    []Frame // frames assembled but not consumed yet

	mu sync.Mutex // orders deadline updates against ctx cancellation
}

var past = time.Unix(1, 0)

// watch arranges for ctx cancellation to interrupt a blocked read.
func (l *base) watch(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() {
		l.mu.Lock()
		_ = l.port.SetReadDeadline(past)
		l.mu.Unlock()
	})
}

func (l *base) setDeadline(ctx context.Context, t time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && (t.IsZero() || d.Before(t)) {
		t = d
	}
	return l.port.SetReadDeadline(t)
}

// next returns the next frame, waiting until deadline (zero = none). While a
// VMC block is open the wait is cut to the inter-byte time and a gap ends the
// block. It returns ErrTimeout when the deadline passes with nothing framed.
func (l *base) next(ctx context.Context, deadline time.Time) (Frame, error) {
	for {
		if len(l.q) > 0 {
			f := l.q[0]
			l.q = l.q[1:]
			return f, nil
		}
		dl := deadline
		inBlock := l.fr.Pending()
		if inBlock {
			// Inside a block the next byte must follow within t inter-byte
			// [MDB 4.2 §3.1]; the response deadline only bounds the first byte.
			gap := time.Now().Add(l.cfg.InterByte + l.cfg.CharTime)
			if l.fr.Dir == FromPeripheral || dl.IsZero() || gap.Before(dl) {
				dl = gap
			}
		}
		if err := l.setDeadline(ctx, dl); err != nil {
			return Frame{}, err
		}
		n, err := l.port.ReadWords(l.rbuf)
		if n > 0 {
			l.q = append(l.q, l.fr.Feed(l.rbuf[:n])...)
		}
		if err != nil {
			var pe *ParmrkError
			switch {
			case errors.As(err, &pe):
				continue // the words were decoded leniently; framing and CHK judge them
			case errors.Is(err, os.ErrDeadlineExceeded):
				if cerr := ctx.Err(); cerr != nil {
					return Frame{}, cerr
				}
				if inBlock && l.fr.Dir == FromPeripheral {
					// A peripheral block cut short: treat as no answer.
					l.fr.Reset()
					return Frame{}, ErrTimeout
				}
				if f, ok := l.fr.Flush(); ok {
					l.q = append(l.q, f)
					continue
				}
				if len(l.q) > 0 {
					continue
				}
				if !deadline.IsZero() && !time.Now().Before(deadline) {
					return Frame{}, ErrTimeout
				}
				if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
					return Frame{}, context.DeadlineExceeded
				}
				continue
			default:
				return Frame{}, err
			}
		}
	}
}

func (l *base) write(f Frame) error {
	l.wbuf = f.Encode(l.wbuf[:0])
	return l.port.WriteWords(l.wbuf)
}

// Master implements MasterLink over a Port.
type Master struct {
	base
	dirty bool // the last exchange failed; a late answer may follow
}

// NewMaster returns the VMC end of a link over p; zero Config fields take the spec defaults.
func NewMaster(p Port, cfg Config) *Master {
	m := &Master{base: base{port: p, cfg: cfg.WithDefaults(), rbuf: make([]Word, 64)}}
	m.fr.Dir = FromPeripheral
	return m
}

// Config returns the timing in use.
func (m *Master) Config() Config { return m.cfg }

// Transact implements MasterLink.
func (m *Master) Transact(ctx context.Context, req []byte) ([]byte, error) {
	if len(req) == 0 || len(req)+1 > MaxBlock {
		return nil, fmt.Errorf("%w: %d bytes", ErrBlockSize, len(req))
	}
	stop := m.watch(ctx)
	defer stop()
	// Whatever arrived before our command is stale. After a failed exchange a
	// late answer may still be on its way: wait one response time for it and
	// drop it, so it is not taken for the answer to this command.
	if m.dirty {
		m.dirty = false
		if err := m.drain(ctx, time.Now().Add(m.cfg.Response+m.cfg.CharTime)); err != nil {
			return nil, err
		}
	}
	m.fr.Reset()
	m.q = m.q[:0]
	resp, err := m.transact(ctx, req)
	if err != nil && ctx.Err() == nil {
		m.dirty = true
	}
	return resp, err
}

// drain discards input until deadline.
func (m *Master) drain(ctx context.Context, deadline time.Time) error {
	for {
		if err := m.setDeadline(ctx, deadline); err != nil {
			return err
		}
		if _, err := m.port.ReadWords(m.rbuf); err != nil {
			var pe *ParmrkError
			switch {
			case errors.As(err, &pe):
			case errors.Is(err, os.ErrDeadlineExceeded):
				if cerr := ctx.Err(); cerr != nil {
					return cerr
				}
				return nil
			default:
				return err
			}
		}
	}
}

func (m *Master) transact(ctx context.Context, req []byte) ([]byte, error) {
	if err := m.write(Block(FromVMC, req...)); err != nil {
		return nil, err
	}
	for try := 0; ; try++ {
		f, err := m.next(ctx, time.Now().Add(m.cfg.Response+m.cfg.CharTime))
		if err != nil {
			return nil, err
		}
		switch f.Kind {
		case KindACK:
			return nil, nil
		case KindNAK:
			return nil, ErrNAK
		}
		if f.Err == nil {
			if err := m.write(Frame{Dir: FromVMC, Kind: KindACK}); err != nil {
				return nil, err
			}
			return f.Data, nil
		}
		if try >= m.cfg.Retries {
			_ = m.write(Frame{Dir: FromVMC, Kind: KindNAK})
			return nil, f.Err
		}
		// Ask for the same block again [MDB 4.2 §2.2 RET].
		if err := m.write(Frame{Dir: FromVMC, Kind: KindRET}); err != nil {
			return nil, err
		}
	}
}

// Peripheral implements PeripheralLink over a Port.
type Peripheral struct {
	base
}

// NewPeripheral returns the peripheral end of a link over p. complete, when
// not nil, tells from the bytes received so far (address byte … candidate CHK)
// whether a VMC block is complete, so the answer need not wait for an
// inter-byte gap; see Framer.Complete.
func NewPeripheral(p Port, cfg Config, complete func(b []byte) bool) *Peripheral {
	l := &Peripheral{base{port: p, cfg: cfg.WithDefaults(), rbuf: make([]Word, 64)}}
	l.fr.Dir = FromVMC
	l.fr.Complete = complete
	return l
}

// Config returns the timing in use.
func (l *Peripheral) Config() Config { return l.cfg }

// Recv implements PeripheralLink. Lone ACK/RET/NAK bytes outside a reply are
// skipped.
func (l *Peripheral) Recv(ctx context.Context) (Frame, error) {
	stop := l.watch(ctx)
	defer stop()
	for {
		f, err := l.next(ctx, time.Time{})
		if err != nil {
			return Frame{}, err
		}
		if f.Kind != KindBlock {
			continue
		}
		return f, f.Err
	}
}

// Reply implements PeripheralLink.
func (l *Peripheral) Reply(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return l.write(Frame{Dir: FromPeripheral, Kind: KindACK})
	}
	if len(data)+1 > MaxBlock {
		return fmt.Errorf("%w: %d bytes", ErrBlockSize, len(data))
	}
	stop := l.watch(ctx)
	defer stop()
	blk := Block(FromPeripheral, data...)
	if err := l.write(blk); err != nil {
		return err
	}
	for try := 0; ; try++ {
		f, err := l.next(ctx, time.Now().Add(l.cfg.Response+l.cfg.CharTime))
		if err != nil {
			return err
		}
		switch f.Kind {
		case KindACK:
			return nil
		case KindNAK:
			return ErrNAK
		case KindRET:
			if try >= l.cfg.Retries {
				return ErrNAK
			}
			if err := l.write(blk); err != nil {
				return err
			}
			continue
		}
		// The VMC went on with a new command instead of acknowledging: keep the
		// command for Recv and report the data as not delivered.
		l.q = append([]Frame{f}, l.q...)
		return ErrTimeout
	}
}

// NAK implements PeripheralLink.
func (l *Peripheral) NAK(ctx context.Context) error {
	return l.write(Frame{Dir: FromPeripheral, Kind: KindNAK})
}
