package pty

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestOpenPair(t *testing.T) {
	m, path, err := Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer m.Close()
	s, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, MakeRaw(s))

	// Raw mode: every byte value passes unchanged, both ways.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	_, err = s.Write(all)
	require.NoError(t, err)
	got := make([]byte, 0, 256)
	buf := make([]byte, 256)
	require.NoError(t, m.SetReadDeadline(time.Now().Add(2*time.Second)))
	for len(got) < 256 {
		n, err := m.Read(buf)
		require.NoError(t, err)
		got = append(got, buf[:n]...)
	}
	assert.Equal(t, all, got)

	// The master honours read deadlines (the DEX driver relies on it).
	require.NoError(t, m.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err = m.Read(buf)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
}
