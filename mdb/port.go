package mdb

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// Port is a transport of 9-bit words: the lowest layer a link is built on.
//
// ReadWords blocks until at least one word is available, the read deadline
// passes (it then returns an error matching os.ErrDeadlineExceeded) or the
// port is closed; it may return n > 0 together with a non-fatal error.
// WriteWords sends every word of p in order, as one burst. SetReadDeadline
// sets the absolute deadline for pending and future reads; the zero time
// means none. A Port is used by one reader and one writer at a time, and
// SetReadDeadline may be called concurrently with ReadWords.
type Port interface {
	ReadWords(p []Word) (n int, err error)
	WriteWords(p []Word) error
	SetReadDeadline(t time.Time) error
}

// PipeOptions tunes Pipe.
type PipeOptions struct {
	// CharTime is how long one word takes on the wire; WriteWords blocks for
	// len(p)·CharTime before the words reach the other end. MDB at 9600 baud
	// with 11-bit characters is ≈1.146 ms per word [MDB 4.2 §2.1]; zero means
	// instant delivery.
	CharTime time.Duration
}

// Pipe returns the two ends of an in-memory bus: what vmc writes, peripheral
// reads, and the reverse. It works inside testing/synctest bubbles. Closing
// either end closes both.
func Pipe(opt PipeOptions) (vmc, peripheral *PipeEnd) {
	a := make(chan []Word, 256)
	b := make(chan []Word, 256)
	done := make(chan struct{})
	once := new(sync.Once)
	vmc = &PipeEnd{rx: b, tx: a, done: done, once: once, charTime: opt.CharTime, wake: make(chan struct{})}
	peripheral = &PipeEnd{rx: a, tx: b, done: done, once: once, charTime: opt.CharTime, wake: make(chan struct{})}
	return vmc, peripheral
}

// PipeEnd is one end of a Pipe; it implements Port.
type PipeEnd struct {
	rx, tx   chan []Word
	done     chan struct{}
	once     *sync.Once
	charTime time.Duration
	pending  []Word

	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{} // closed and replaced when the deadline changes
}

// WriteWords implements Port.
func (p *PipeEnd) WriteWords(w []Word) error {
	if len(w) == 0 {
		return nil
	}
	select {
	case <-p.done:
		return ErrClosed
	default:
	}
	if p.charTime > 0 {
		// Deliver word by word, each after its transmission time.
		for i := range w {
			time.Sleep(p.charTime)
			if err := p.send(w[i : i+1 : i+1]); err != nil {
				return err
			}
		}
		return nil
	}
	return p.send(w)
}

func (p *PipeEnd) send(w []Word) error {
	c := make([]Word, len(w))
	copy(c, w)
	select {
	case p.tx <- c:
		return nil
	case <-p.done:
		return ErrClosed
	}
}

// ReadWords implements Port.
func (p *PipeEnd) ReadWords(w []Word) (int, error) {
	if len(w) == 0 {
		return 0, nil
	}
	for len(p.pending) == 0 {
		p.mu.Lock()
		dl, wake := p.deadline, p.wake
		p.mu.Unlock()
		var timeout <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			timeout = t.C
			defer t.Stop()
		}
		select {
		case c := <-p.rx:
			p.pending = c
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		case <-wake:
		case <-p.done:
			return 0, ErrClosed
		}
	}
	n := copy(w, p.pending)
	p.pending = p.pending[n:]
	return n, nil
}

// SetReadDeadline implements Port.
func (p *PipeEnd) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	p.deadline = t
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
	return nil
}

// Close closes both ends; pending and later calls return ErrClosed.
func (p *PipeEnd) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

// ErrNoDeadline is returned by StreamPort.SetReadDeadline when the underlying
// stream cannot time out reads.
var ErrNoDeadline = errors.New("mdb: stream does not support read deadlines")

// StreamPort carries 9-bit words over an 8-bit byte stream using PARMRK
// escaping in both directions (see AppendParmrk): a word with the mode bit is
// sent as FF 00 b, a data byte FF as FF FF. Both ends of the stream must be
// StreamPorts (or a UART receiver with PARMRK). Over a pseudo-terminal both
// sides must be in raw mode so the bytes pass unchanged.
type StreamPort struct {
	rw      io.ReadWriter
	dec     ParmrkDecoder
	rbuf    []byte
	pending []Word
	wbuf    []byte
}

// NewStreamPort wraps rw. Read deadlines work when rw has a
// SetReadDeadline(time.Time) error method (os.File on a pollable descriptor,
// net.Conn).
func NewStreamPort(rw io.ReadWriter) *StreamPort {
	return &StreamPort{rw: rw, rbuf: make([]byte, 256)}
}

// ReadWords implements Port. An invalid escape is reported as a *ParmrkError
// alongside the words decoded.
func (s *StreamPort) ReadWords(w []Word) (int, error) {
	if len(w) == 0 {
		return 0, nil
	}
	var perr error
	for len(s.pending) == 0 {
		n, err := s.rw.Read(s.rbuf)
		var derr error
		s.pending, derr = s.dec.Decode(s.pending[:0], s.rbuf[:n])
		if derr != nil && perr == nil {
			perr = derr
		}
		if err != nil {
			if len(s.pending) > 0 {
				break
			}
			return 0, err
		}
	}
	n := copy(w, s.pending)
	s.pending = s.pending[n:]
	return n, perr
}

// WriteWords implements Port.
func (s *StreamPort) WriteWords(w []Word) error {
	s.wbuf = AppendParmrk(s.wbuf[:0], w)
	_, err := s.rw.Write(s.wbuf)
	return err
}

// SetReadDeadline implements Port when the stream supports deadlines.
func (s *StreamPort) SetReadDeadline(t time.Time) error {
	if d, ok := s.rw.(interface{ SetReadDeadline(time.Time) error }); ok {
		return d.SetReadDeadline(t)
	}
	return ErrNoDeadline
}
