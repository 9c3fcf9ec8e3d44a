package executive

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// Link is a transport of 9-bit words, the lowest layer the drivers use.
//
// ReadWords blocks until at least one word is available, the read deadline
// passes (the error then matches os.ErrDeadlineExceeded) or the link is
// closed; it may return n > 0 with an error. WriteWords sends all words in
// order. SetReadDeadline sets the deadline of pending and future reads (zero =
// none) and may be called while a read is blocked. The shape matches package
// mdb's Port, so either can be adapted to the other.
type Link interface {
	ReadWords(p []Word) (n int, err error)
	WriteWords(p []Word) error
	SetReadDeadline(t time.Time) error
}

// Conn is the byte stream a StreamLink runs over: a net.Conn, a serial port
// wrapper, or a Pipe end.
type Conn interface {
	io.Reader
	io.Writer
	SetReadDeadline(t time.Time) error
}

// StreamLink carries words over a byte stream with the escaped encoding of
// StreamDecoder/AppendStream (which is what a Linux UART delivers with
// PARMRK). A stream escape error is returned from ReadWords wrapped as
// ErrEscape, after any words decoded before it.
type StreamLink struct {
	conn    Conn
	framing Framing
	dec     StreamDecoder
	rbuf    []byte
	wbuf    []byte
	pending []Word
	perr    error // stream error found while words were still pending
}

// NewStreamLink returns a Link over conn using framing f.
func NewStreamLink(conn Conn, f Framing) *StreamLink {
	return &StreamLink{conn: conn, framing: f, dec: StreamDecoder{Framing: f}, rbuf: make([]byte, 256)}
}

// ReadWords implements Link.
func (l *StreamLink) ReadWords(p []Word) (int, error) {
	if len(l.pending) == 0 && l.perr != nil {
		err := l.perr
		l.perr = nil
		return 0, err
	}
	for len(l.pending) == 0 {
		n, err := l.conn.Read(l.rbuf)
		var derr error
		l.pending, derr = l.dec.Feed(l.pending, l.rbuf[:n])
		if derr != nil {
			if len(l.pending) == 0 {
				return 0, derr
			}
			l.perr = derr // reported once the words before it are read
		}
		if err != nil {
			if len(l.pending) > 0 {
				break
			}
			if errors.Is(err, io.EOF) {
				err = ErrClosed
			}
			return 0, err
		}
	}
	n := copy(p, l.pending)
	l.pending = l.pending[:copy(l.pending, l.pending[n:])]
	return n, nil
}

// WriteWords implements Link.
func (l *StreamLink) WriteWords(p []Word) error {
	l.wbuf = AppendStream(l.wbuf[:0], p, l.framing)
	_, err := l.conn.Write(l.wbuf)
	if errors.Is(err, io.ErrClosedPipe) {
		err = ErrClosed
	}
	return err
}

// SetReadDeadline implements Link.
func (l *StreamLink) SetReadDeadline(t time.Time) error { return l.conn.SetReadDeadline(t) }

// Pipe returns the two ends of an in-memory, buffered, full-duplex byte
// stream: what one end writes the other reads. Unlike net.Pipe a Write
// never waits for the reader, as on a serial line, so a late answer cannot
// deadlock the two sides. Deadlines use the time package, so a Pipe works
// inside testing/synctest bubbles. Closing either end closes both.
func Pipe() (a, b *PipeEnd) {
	x, y := newHalf(), newHalf()
	done := &pipeDone{ch: make(chan struct{})}
	return &PipeEnd{rx: x, tx: y, done: done}, &PipeEnd{rx: y, tx: x, done: done}
}

type pipeDone struct {
	once sync.Once
	ch   chan struct{}
}

type half struct {
	mu       sync.Mutex
	buf      []byte
	wake     chan struct{} // buffered 1: data arrived or the deadline changed
	deadline time.Time
}

func newHalf() *half { return &half{wake: make(chan struct{}, 1)} }

func (h *half) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// PipeEnd is one end of a Pipe; it implements Conn and io.Closer.
type PipeEnd struct {
	rx, tx *half
	done   *pipeDone
}

// Write implements io.Writer; it never blocks.
func (p *PipeEnd) Write(b []byte) (int, error) {
	select {
	case <-p.done.ch:
		return 0, ErrClosed
	default:
	}
	p.tx.mu.Lock()
	p.tx.buf = append(p.tx.buf, b...)
	p.tx.mu.Unlock()
	p.tx.signal()
	return len(b), nil
}

// Read implements io.Reader, honouring the read deadline.
func (p *PipeEnd) Read(b []byte) (int, error) {
	h := p.rx
	for {
		h.mu.Lock()
		if len(h.buf) > 0 {
			n := copy(b, h.buf)
			h.buf = h.buf[:copy(h.buf, h.buf[n:])]
			h.mu.Unlock()
			return n, nil
		}
		dl := h.deadline
		h.mu.Unlock()
		select {
		case <-p.done.ch:
			return 0, ErrClosed
		default:
		}
		if dl.IsZero() {
			select {
			case <-h.wake:
			case <-p.done.ch:
			}
			continue
		}
		d := time.Until(dl)
		if d <= 0 {
			return 0, os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		select {
		case <-h.wake:
		case <-t.C:
		case <-p.done.ch:
		}
		t.Stop()
	}
}

// SetReadDeadline implements Conn.
func (p *PipeEnd) SetReadDeadline(t time.Time) error {
	p.rx.mu.Lock()
	p.rx.deadline = t
	p.rx.mu.Unlock()
	p.rx.signal()
	return nil
}

// Close closes both ends; blocked reads return ErrClosed.
func (p *PipeEnd) Close() error {
	p.done.once.Do(func() { close(p.done.ch) })
	return nil
}
