package dex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Default timer values and limits. EVA-DTS 6.2 §4.5.8 gives the timers for
// designs after July 2002; retry limits are left to the UCS/DSD guide, which
// EVA-DTS does not reproduce.
const (
	DefaultTimerA        = time.Second            // Timer A: reply expected within 1 s (§4.5.8)
	DefaultTimerB        = 100 * time.Millisecond // Timer B: max gap between characters of a block (§4.5.8)
	DefaultTimerD        = 2 * time.Second        // Timer D: no activity inside a session (§4.5.8)
	DefaultENQWait       = 3 * time.Second        // wait for the peer to open its exchange; real VMCs need up to ~3 s to assemble an audit (nodestark commit 84f3183)
	DefaultPause         = 100 * time.Millisecond // intersession pause ≥ 100 ms (§4.5.8)
	DefaultResponseDelay = 10 * time.Millisecond  // wait ≥ 10 ms before any reply: half-duplex turnaround (§4.5.8)
	DefaultWACKDelay     = 200 * time.Millisecond // after WACK wait 100–500 ms, then ENQ (§4.5.8)
	DefaultRetries       = 3                      // retransmissions per frame, the usual BSC limit (UCS leaves it to implementations)
	DefaultCommID        = "VGT0000001"           // 3 letters + 7 digits (§4.5.4); "VGT" is not an EVA-assigned code: set your own
)

// Config holds the link parameters shared by Master and Slave. Zero values
// mean the defaults above; a negative duration means none (zero wait), which
// is only useful against simulators.
type Config struct {
	CommID        string        // our communication ID, 10 characters (§4.5.4)
	Revision      int           // DEX revision we announce; with Level 0 both default to R00L06 (DTS 6.x, §4.5.6)
	Level         int           // DEX level we announce
	TimerA        time.Duration // response timer
	TimerB        time.Duration // inter-character timer inside a block
	TimerD        time.Duration // inactivity timer inside a session
	ENQWait       time.Duration // how long to wait for the peer's ENQ opening the next exchange
	Pause         time.Duration // intersession pause before we send ENQ
	ResponseDelay time.Duration // turnaround delay before a reply
	WACKDelay     time.Duration // wait after WACK before asking again
	Retries       int           // retransmissions per frame or ENQ before giving up
	MaxWACK       int           // WACKs accepted in a row (0: 10)
	BlockSize     int           // Slave: block size on the wire, ≤ MaxBlock (0: MaxBlock)
}

func dur(d, def time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d == 0:
		return def
	}
	return d
}

func (c Config) timer(t Timer) time.Duration {
	switch t {
	case TimerA:
		return dur(c.TimerA, DefaultTimerA)
	case TimerD:
		return dur(c.TimerD, DefaultTimerD)
	case TimerENQ:
		return dur(c.ENQWait, DefaultENQWait)
	case TimerPause:
		return dur(c.Pause, DefaultPause)
	case TimerWACK:
		return dur(c.WACKDelay, DefaultWACKDelay)
	}
	return 0
}

func (c Config) session(role Role) SessionConfig {
	sc := SessionConfig{Role: role, CommID: c.CommID, Revision: c.Revision, Level: c.Level,
		Retries: c.Retries, MaxWACK: c.MaxWACK, BlockSize: c.BlockSize}
	if sc.CommID == "" {
		sc.CommID = DefaultCommID
	}
	if sc.Retries == 0 {
		sc.Retries = DefaultRetries
	}
	return sc
}

// Master is the reader (data carrier) side: it reads an audit from a machine.
// Despite the name it adapts to machines that insist on being master of the
// first handshake (EVA-DTS 6.2 §4.5.1).
type Master struct {
	Config Config
	// Progress, if set, is called after every accepted data block with the
	// number of blocks and text bytes received so far. It runs on the
	// goroutine that called Read and must be quick.
	Progress func(blocks, bytes int)

	peer Peer
}

// Peer returns what the machine told about itself in the last Read.
func (m *Master) Peer() Peer { return m.peer }

// Read runs one DEX session over rw and returns the audit text (the
// concatenated block texts). On failure it returns the text received so far
// with an error matching ErrNoAnswer, ErrCommID/ErrRefused, ErrCRC,
// ErrTimeout, ErrAborted or ErrProtocol, an I/O error, or ctx's error.
//
// rw is used as a serial line. If it has SetReadDeadline (net.Conn, *os.File
// on a tty, internal/serialport), Read wakes its reader with a deadline when
// done and restores a zero deadline; otherwise its reader goroutine stays
// blocked in rw.Read until rw returns, which closing rw ensures.
func (m *Master) Read(ctx context.Context, rw io.ReadWriter) ([]byte, error) {
	l := startLink(rw)
	defer l.stop()
	s := NewSession(m.Config.session(RoleReader))
	err := drive(ctx, l, s, m.Config, s.Start(), func(out Output) error {
		if out.Block != nil && m.Progress != nil {
			m.Progress(s.Blocks(), len(s.Audit()))
		}
		return nil
	})
	m.peer = s.Peer()
	return s.Audit(), err
}

// Slave is the machine (VMD) side: it serves audits to readers. The emulator
// uses it to play a vending machine.
type Slave struct {
	Config Config
	// MachineMaster makes the machine master of the first handshake: it
	// sends ENQ every Timer A until a reader answers (coin mechanisms,
	// pre-MDB controllers).
	MachineMaster bool
	// AcceptCommID, if set, refuses readers whose communication ID it
	// rejects (response code 01).
	AcceptCommID func(id string) bool
	// WACKs makes the machine answer the reader's first handshake with this
	// many WACKs before accepting it (a busy machine).
	WACKs int
	// OnSession, if set, is called by Serve after every session with its
	// outcome (nil for a completed transfer).
	OnSession func(err error)
}

// Serve plays the machine on rw until ctx ends or rw fails: it waits for a
// reader (or, with MachineMaster, keeps calling for one), runs the session,
// and starts over. source is called once per session for the audit text; it
// may return ErrNoData. A failed session does not stop Serve (see
// OnSession). Serve returns ctx's error, nil when rw reaches EOF, or the I/O
// error. The reader goroutine is handled as in Master.Read.
func (sl *Slave) Serve(ctx context.Context, rw io.ReadWriter, source func() ([]byte, error)) error {
	l := startLink(rw)
	defer l.stop()
	for {
		err := sl.serveOne(ctx, l, source)
		if sl.OnSession != nil {
			sl.OnSession(err)
		}
		var ioErr *linkError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &ioErr):
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// ServeOne plays the machine for exactly one session and returns its outcome.
func (sl *Slave) ServeOne(ctx context.Context, rw io.ReadWriter, source func() ([]byte, error)) error {
	l := startLink(rw)
	defer l.stop()
	return sl.serveOne(ctx, l, source)
}

func (sl *Slave) serveOne(ctx context.Context, l *link, source func() ([]byte, error)) error {
	sc := sl.Config.session(RoleMachine)
	sc.MachineMaster, sc.AcceptCommID, sc.WACKs = sl.MachineMaster, sl.AcceptCommID, sl.WACKs
	s := NewSession(sc)
	return drive(ctx, l, s, sl.Config, s.Start(), func(out Output) error {
		if out.NeedData {
			data, err := source()
			return s.Provide(data, err)
		}
		return nil
	})
}

// linkError marks an I/O failure of the line (as opposed to a protocol
// failure), so Serve knows to stop.
type linkError struct{ err error }

func (e *linkError) Error() string { return "dex: line: " + e.err.Error() }
func (e *linkError) Unwrap() error { return e.err }

type deadliner interface{ SetReadDeadline(time.Time) error }

type chunk struct {
	p   []byte
	err error
}

// link owns the goroutine that reads the line, so the driver can wait for
// bytes, a timer and ctx at once whatever rw is; like a UART FIFO it drains
// the line while the driver writes.
type link struct {
	rw   io.ReadWriter
	in   chan chunk
	quit chan struct{}
	wg   sync.WaitGroup
}

func startLink(rw io.ReadWriter) *link {
	l := &link{rw: rw, in: make(chan chunk, 16), quit: make(chan struct{})}
	l.wg.Go(func() {
		for {
			buf := make([]byte, 512)
			n, err := rw.Read(buf)
			if n == 0 && err == nil {
				continue // a serial read timeout: nothing happened
			}
			select {
			case l.in <- chunk{buf[:n], err}:
			case <-l.quit:
				return
			}
			if err != nil {
				return
			}
		}
	})
	return l
}

// stop ends the reader goroutine: closing quit frees it if it is waiting to
// hand over bytes; a read deadline in the past wakes it from rw.Read when rw
// supports deadlines (and is reset afterwards for the next user of rw).
func (l *link) stop() {
	close(l.quit)
	if d, ok := l.rw.(deadliner); ok {
		if d.SetReadDeadline(time.Unix(1, 0)) == nil {
			l.wg.Wait()
			_ = d.SetReadDeadline(time.Time{})
		}
	}
}

// drive runs a session on the line until it completes or fails.
func drive(ctx context.Context, l *link, s *Session, cfg Config, first Output, hook func(Output) error) error {
	var (
		dec      Decoder
		deadline time.Time // zero: none
		armed    Timer
		lastByte time.Time
		timer    = time.NewTimer(time.Hour)
	)
	defer timer.Stop()
	timerB := dur(cfg.TimerB, DefaultTimerB)
	respDelay := dur(cfg.ResponseDelay, DefaultResponseDelay)

	// apply carries out one Output; it reports done when the session is over.
	apply := func(out Output, stepErr error) (done bool, err error) {
		if len(out.Send) > 0 {
			if out.Reply && respDelay > 0 {
				if err := sleep(ctx, timer, respDelay); err != nil {
					return true, err
				}
			}
			if _, err := l.rw.Write(out.Send); err != nil {
				return true, &linkError{fmt.Errorf("write: %w", err)}
			}
		}
		if stepErr != nil {
			return true, stepErr
		}
		if err := hook(out); err != nil {
			return true, err
		}
		if out.Done {
			return true, nil
		}
		switch out.Timer {
		case TimerKeep:
		case TimerNone:
			deadline, armed = time.Time{}, TimerNone
		default:
			deadline, armed = time.Now().Add(cfg.timer(out.Timer)), out.Timer
		}
		return false, nil
	}
	if done, err := apply(first, nil); done {
		return err
	}
	for {
		// The effective deadline: the session's timer, or Timer B inside a frame.
		wait := deadline
		if dec.InFrame() {
			if b := lastByte.Add(timerB); wait.IsZero() || b.Before(wait) {
				wait = b
			}
		}
		var tc <-chan time.Time
		if !wait.IsZero() {
			timer.Reset(time.Until(wait))
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dex: %w", ctx.Err())
		case c := <-l.in:
			stopTimer(timer)
			now := time.Now()
			if len(c.p) > 0 {
				lastByte = now
				if armed == TimerD {
					deadline = now.Add(cfg.timer(TimerD)) // any byte is activity
				}
			}
			for _, f := range dec.Feed(c.p) {
				out, err := s.Step(Event{Frame: f})
				if done, err := apply(out, err); done {
					return err
				}
			}
			if c.err != nil {
				return &linkError{fmt.Errorf("read: %w", c.err)}
			}
		case <-tc:
			var ev Event
			if f, ok := dec.Abort(); ok && (deadline.IsZero() || time.Now().Before(deadline)) {
				ev.Frame = f // Timer B: the block stopped half-way
			} else {
				ev.Timeout = true
			}
			out, err := s.Step(ev)
			if done, err := apply(out, err); done {
				return err
			}
		}
	}
}

func stopTimer(t *time.Timer) { t.Stop() }

func sleep(ctx context.Context, t *time.Timer, d time.Duration) error {
	t.Reset(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return fmt.Errorf("dex: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}
