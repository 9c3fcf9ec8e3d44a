package serialport

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/internal/pty"
)

func openPair(t *testing.T) (*os.File, Port) {
	t.Helper()
	m, path, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	p, err := Open(path, Config{})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close(); m.Close() })
	return m, p
}

func TestPortOverPTY(t *testing.T) {
	m, p := openPair(t)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	// Both directions, every byte value (raw mode).
	_, err := m.Write(all)
	require.NoError(t, err)
	got := make([]byte, 0, 256)
	buf := make([]byte, 64)
	require.NoError(t, p.SetReadTimeout(2*time.Second))
	for len(got) < 256 {
		n, err := p.Read(buf)
		require.NoError(t, err)
		got = append(got, buf[:n]...)
	}
	assert.Equal(t, all, got)

	_, err = p.Write([]byte("ENQ\x05"))
	require.NoError(t, err)
	require.NoError(t, m.SetReadDeadline(time.Now().Add(2*time.Second)))
	n, err := m.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "ENQ\x05", string(buf[:n]))
}

func TestPortTimeouts(t *testing.T) {
	_, p := openPair(t)
	buf := make([]byte, 8)

	require.NoError(t, p.SetReadTimeout(30*time.Millisecond))
	start := time.Now()
	_, err := p.Read(buf)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second)

	// A deadline set while a Read is pending ends it.
	require.NoError(t, p.SetReadTimeout(0))
	done := make(chan error, 1)
	go func() { _, err := p.Read(buf); done <- err }()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, p.SetReadDeadline(time.Now()))
	select {
	case err := <-done:
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	case <-time.After(2 * time.Second):
		t.Fatal("deadline did not end the pending read")
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default 9600 8N1", Config{}, true},
		{"7E1", Config{Baud: 2400, DataBits: 7, Parity: ParityEven}, true},
		{"mark parity two stops", Config{Parity: ParityMark, StopBits: 2}, true},
		{"bad data bits", Config{DataBits: 9}, false},
		{"bad parity", Config{Parity: 'X'}, false},
		{"bad stop bits", Config{StopBits: 3}, false},
		{"negative baud", Config{Baud: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.cfg.mode()
			if !tt.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.NotZero(t, m.BaudRate)
		})
	}
	p, err := ParseParity("e")
	require.NoError(t, err)
	assert.Equal(t, ParityEven, p)
	_, err = ParseParity("x")
	require.Error(t, err)

	_, err = Open("/dev/nonexistent-tty", Config{})
	require.Error(t, err)
}
