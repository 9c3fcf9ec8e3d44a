// Package uart is the MDB link over a Linux UART, using termios directly
// (golang.org/x/sys/unix): the 9th (mode) bit is sent as a forced parity bit
// and received through PARMRK escaping.
//
// It is the framing-layer transport (an mdb.Port) for native serial ports. How
// it works [MDB 4.2 §2.1; GNU libc "Input Modes"; termios(3)]:
//
//   - Line: 9600 baud, 8 data bits, "sticky" parity (PARENB|CMSPAR), so every
//     character has 11 bits like an MDB character.
//   - Transmit: the parity bit is the mode bit. PARODD set = mark (1), clear =
//     space (0). WriteWords groups words by mode bit and, before switching
//     parity, waits for the output to drain (TCSBRK 1 = tcdrain), because a
//     termios change applies to characters still queued.
//   - Receive: space parity with INPCK|PARMRK and IGNPAR/ISTRIP clear. A byte
//     that arrived with the mode bit fails the parity check and is delivered as
//     FF 00 b, a data byte FF as FF FF; mdb.ParmrkDecoder undoes this.
//
// Limits: tcdrain waits for the kernel buffer, not provably for the UART shift
// register, and Linux is not real-time, so the 1 ms inter-byte limit between
// the data and the mode-bit CHK must be measured on the target UART; dedicated
// adapters are the recommendation for production timing. Many USB-serial
// chips do not support mark/space parity or report parity errors per byte.
// A pseudo-terminal stores but ignores parity settings, so tests over a pty
// check the termios flags, FF escaping and timing behaviour, not the mode
// bit on the wire.
//
// This package and internal/pty are the only importers of golang.org/x/sys/unix.
package uart

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"vendgate/mdb"
)

// Config configures a UART port.
type Config struct {
	// Baud is the line speed; 0 means 9600, the MDB rate [MDB 4.2 §2.1].
	// 19200, 38400, 57600 and 115200 are accepted for bench setups.
	Baud int
}

// ErrBaud means an unsupported line speed.
var ErrBaud = errors.New("uart: unsupported baud rate")

var bauds = map[int]uint32{9600: unix.B9600, 19200: unix.B19200, 38400: unix.B38400, 57600: unix.B57600, 115200: unix.B115200}

// Port is an MDB port over a Linux serial device. It implements mdb.Port.
type Port struct {
	f    *os.File
	rc   interface{ Control(func(fd uintptr)) error }
	base unix.Termios // configured termios with space parity

	mu   sync.Mutex // serialises writers
	mark bool       // current transmit parity

	dec     mdb.ParmrkDecoder
	rbuf    []byte
	pending []mdb.Word
}

// Open opens path (e.g. /dev/ttyAMA0) and configures it for MDB.
func Open(path string, cfg Config) (*Port, error) {
	if cfg.Baud == 0 {
		cfg.Baud = 9600
	}
	speed, ok := bauds[cfg.Baud]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrBaud, cfg.Baud)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("uart: open %s: %w", path, err)
	}
	// A non-blocking descriptor makes os.File use the runtime poller, so read
	// deadlines work.
	f := os.NewFile(uintptr(fd), path)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("uart: %w", err)
	}
	p := &Port{f: f, rc: rc, rbuf: make([]byte, 256)}
	var t *unix.Termios
	err = p.control(func(fd int) error {
		var err error
		if t, err = unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
			return err
		}
		t.Iflag = unix.INPCK | unix.PARMRK // IGNPAR, ISTRIP, IXON, ICRNL… clear
		t.Oflag = 0
		t.Lflag = 0
		t.Cflag = unix.CS8 | unix.CREAD | unix.CLOCAL | unix.PARENB | unix.CMSPAR | speed
		t.Ispeed, t.Ospeed = uint32(cfg.Baud), uint32(cfg.Baud)
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
			return err
		}
		return unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIOFLUSH)
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("uart: configure %s: %w", path, err)
	}
	p.base = *t
	return p, nil
}

func (p *Port) control(fn func(fd int) error) error {
	var err error
	if cerr := p.rc.Control(func(fd uintptr) { err = fn(int(fd)) }); cerr != nil {
		return cerr
	}
	return err
}

// Termios returns the terminal settings currently in force (for diagnostics
// and tests).
func (p *Port) Termios() (unix.Termios, error) {
	var t *unix.Termios
	err := p.control(func(fd int) error {
		var err error
		t, err = unix.IoctlGetTermios(fd, unix.TCGETS)
		return err
	})
	if err != nil {
		return unix.Termios{}, err
	}
	return *t, nil
}

// setParity switches the transmit parity to mark (mode bit 1) or space,
// after the queued output has left.
func (p *Port) setParity(mark bool) error {
	if mark == p.mark {
		return nil
	}
	t := p.base
	if mark {
		t.Cflag |= unix.PARODD
	}
	err := p.control(func(fd int) error {
		if err := unix.IoctlSetInt(fd, unix.TCSBRK, 1); err != nil { // tcdrain
			return err
		}
		return unix.IoctlSetTermios(fd, unix.TCSETS, &t)
	})
	if err != nil {
		return fmt.Errorf("uart: parity: %w", err)
	}
	p.mark = mark
	return nil
}

// WriteWords implements mdb.Port: runs of words with the same mode bit are
// written with the matching parity; the port returns to space parity (the
// receive setting) afterwards.
func (p *Port) WriteWords(w []mdb.Word) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	buf := make([]byte, 0, len(w))
	for i := 0; i < len(w); {
		mode := w[i].Mode()
		buf = buf[:0]
		for ; i < len(w) && w[i].Mode() == mode; i++ {
			buf = append(buf, w[i].Byte())
		}
		if err := p.setParity(mode); err != nil {
			return err
		}
		if _, err := p.f.Write(buf); err != nil {
			return fmt.Errorf("uart: write: %w", err)
		}
	}
	return p.setParity(false)
}

// ReadWords implements mdb.Port, decoding the PARMRK stream.
func (p *Port) ReadWords(w []mdb.Word) (int, error) {
	if len(w) == 0 {
		return 0, nil
	}
	var perr error
	for len(p.pending) == 0 {
		n, err := p.f.Read(p.rbuf)
		var derr error
		p.pending, derr = p.dec.Decode(p.pending[:0], p.rbuf[:n])
		if derr != nil && perr == nil {
			perr = derr
		}
		if err != nil {
			if len(p.pending) > 0 {
				break
			}
			return 0, err
		}
	}
	n := copy(w, p.pending)
	p.pending = p.pending[n:]
	return n, perr
}

// SetReadDeadline implements mdb.Port.
func (p *Port) SetReadDeadline(t time.Time) error { return p.f.SetReadDeadline(t) }

// Close closes the device; a blocked ReadWords returns.
func (p *Port) Close() error { return p.f.Close() }
