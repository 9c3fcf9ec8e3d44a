package uart

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"vendgate/internal/pty"
	"vendgate/mdb"
)

func openPTY(t *testing.T) (*os.File, *Port) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	p, err := Open(slave, Config{})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return master, p
}

func TestOpenConfiguresTermios(t *testing.T) {
	_, p := openPTY(t)
	tio, err := p.Termios()
	require.NoError(t, err)
	assert.Equal(t, uint32(unix.INPCK|unix.PARMRK), tio.Iflag, "INPCK|PARMRK, IGNPAR/ISTRIP clear")
	// The Linux pty driver forces CS8 and clears PARENB (pty_set_termios) and
	// drops CMSPAR, so the parity flags cannot be checked on a pty.
	assert.Zero(t, tio.Cflag&unix.PARODD, "space parity for receiving")
	assert.Equal(t, uint32(unix.CS8), tio.Cflag&unix.CSIZE)
	assert.Equal(t, uint32(unix.B9600), tio.Cflag&unix.CBAUD)
	assert.Zero(t, tio.Lflag&(unix.ICANON|unix.ECHO))
}

func TestWriteWordsOverPTY(t *testing.T) {
	master, p := openPTY(t)
	// A pty ignores parity: the mode bit is lost, the bytes arrive in order and
	// the port is back on space parity afterwards.
	require.NoError(t, p.WriteWords(mdb.Block(mdb.FromPeripheral, 0x05, 0x00, 0x3C).Encode(nil)))
	buf := make([]byte, 16)
	require.NoError(t, master.SetReadDeadline(time.Now().Add(2*time.Second)))
	var got []byte
	for len(got) < 4 {
		n, err := master.Read(buf)
		require.NoError(t, err)
		got = append(got, buf[:n]...)
	}
	assert.Equal(t, []byte{0x05, 0x00, 0x3C, 0x41}, got)
}

func TestReadWordsPARMRK(t *testing.T) {
	master, p := openPTY(t)
	// With PARMRK the line discipline doubles a received FF; the decoder turns
	// it back into one data byte.
	_, err := master.Write([]byte{0x41, 0xFF, 0x42})
	require.NoError(t, err)
	require.NoError(t, p.SetReadDeadline(time.Now().Add(2*time.Second)))
	var got []mdb.Word
	buf := make([]mdb.Word, 8)
	for len(got) < 3 {
		n, err := p.ReadWords(buf)
		require.NoError(t, err)
		got = append(got, buf[:n]...)
	}
	assert.Equal(t, []mdb.Word{0x41, 0xFF, 0x42}, got)

	require.NoError(t, p.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err = p.ReadWords(buf)
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "%v", err)
}

func TestOpenErrors(t *testing.T) {
	_, err := Open("/nonexistent/tty", Config{})
	assert.Error(t, err)
	_, err = Open("/dev/null", Config{Baud: 12345})
	assert.ErrorIs(t, err, ErrBaud)
	_, err = Open("/dev/null", Config{})
	assert.Error(t, err, "not a terminal")
}
