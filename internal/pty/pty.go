// Package pty opens Linux pseudo-terminal pairs, so serial-line code can be
// tested against a real tty without hardware. It is a test utility: the
// master side plays the far end of the "cable", the slave path is opened
// like any serial device (e.g. by internal/serialport).
package pty

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Open creates a pseudo-terminal pair. It returns the master side, opened
// non-blocking so it supports read deadlines (os.File.SetReadDeadline), and
// the path of the slave side (/dev/pts/N). The slave is left unopened; its
// termios is set to raw mode by the first opener (a serial library does) or
// by MakeRaw.
func Open() (master *os.File, slavePath string, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, "", fmt.Errorf("pty: open /dev/ptmx: %w", err)
	}
	// Use the descriptor through SyscallConn: Fd would switch the file to
	// blocking mode and lose deadline support.
	var n int
	rc, err := master.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err != nil { // unlockpt
				return
			}
			n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN) // ptsname
		})
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		master.Close()
		return nil, "", fmt.Errorf("pty: unlock/ptsname: %w", err)
	}
	return master, fmt.Sprintf("/dev/pts/%d", n), nil
}

// MakeRaw puts the terminal f into raw mode (no echo, no line editing, no
// CR/LF translation, 8-bit characters), as cfmakeraw(3) does.
func MakeRaw(f *os.File) error {
	var err error
	ctl := func(fd uintptr) {
		var t *unix.Termios
		t, err = unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		err = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	}
	rc, cerr := f.SyscallConn()
	if cerr != nil {
		return fmt.Errorf("pty: raw: %w", cerr)
	}
	if cerr := rc.Control(ctl); cerr != nil {
		return fmt.Errorf("pty: raw: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("pty: raw: %w", err)
	}
	return nil
}
