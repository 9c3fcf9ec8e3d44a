package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/dex"
	"vendgate/dex/evadts"
	"vendgate/internal/pty"
	"vendgate/internal/serialport"
)

// lockedBuffer is a bytes.Buffer safe for the command's goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startVM runs "vendemu vm --port pty ARGS" in process and returns the
// slave path it printed and its stderr.
func startVM(t *testing.T, args ...string) (string, *lockedBuffer) {
	t.Helper()
	if m, _, err := pty.Open(); err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	} else {
		m.Close()
	}
	pr, pw := io.Pipe()
	stderr := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"vm", "--port", "pty"}, args...), env{pw, stderr})
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			assert.Equal(t, 0, code, stderr.String())
		case <-time.After(5 * time.Second):
			t.Error("vendemu vm did not stop")
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err, stderr.String())
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	path := strings.TrimSpace(line)
	require.True(t, strings.HasPrefix(path, "/dev/pts/"), "printed %q", line)
	return path, stderr
}

func readDEX(t *testing.T, path string, cfg dex.Config) ([]byte, error) {
	t.Helper()
	p, err := serialport.Open(path, serialport.Config{})
	require.NoError(t, err)
	defer p.Close()
	return (&dex.Master{Config: cfg}).Read(context.Background(), p)
}

func TestVMServesAuditOnPTY(t *testing.T) {
	path, stderr := startVM(t, "--selections", "4", "--seed", "9", "--serial", "SN42", "--vend-rate", "0")
	for i := range 2 { // two readers in a row: the line survives a reader closing it
		text, err := readDEX(t, path, dex.Config{})
		require.NoError(t, err)
		reps, err := evadts.ParseBytes(text)
		require.NoError(t, err)
		require.Len(t, reps, 1)
		assert.True(t, reps[0].Validate().Valid())
		assert.Equal(t, "SN42", reps[0].MachineID())
		assert.Len(t, reps[0].Products, 4)
		assert.EqualValues(t, i+1, reps[0].Events.Reads.ReadsTotal)
	}
	require.Eventually(t, func() bool { return strings.Count(stderr.String(), "audit read (") == 2 },
		5*time.Second, 10*time.Millisecond, stderr.String())
	assert.Contains(t, stderr.String(), "machine SN42 (4 selections) serving DEX on "+path)
}

func TestVMFaults(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr error
	}{
		{"corrupt every 2nd block", []string{"--corrupt-every", "2"}, nil},
		{"machine master", []string{"--machine-master"}, nil},
		{"silent after a block", []string{"--silent-after-blocks", "1"}, dex.ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, _ := startVM(t, append([]string{"--selections", "20"}, tt.args...)...)
			text, err := readDEX(t, path, dex.Config{TimerD: 300 * time.Millisecond})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			reps, err := evadts.ParseBytes(text)
			require.NoError(t, err)
			assert.True(t, reps[0].Validate().Valid())
		})
	}
}

func TestVMFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no port", []string{"vm"}, 2, "--port is required"},
		{"bad comm id", []string{"vm", "--port", "pty", "--comm-id", "X"}, 2, "10 characters"},
		{"negative fault", []string{"vm", "--port", "pty", "--corrupt-every", "-1"}, 2, "must be positive"},
		{"zero selections", []string{"vm", "--port", "pty", "--selections", "0"}, 2, "must be positive"},
		{"no device", []string{"vm", "--port", "/dev/does-not-exist"}, 1, "serialport"},
		{"help", []string{"vm", "--help"}, 0, "-silent-after-blocks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runArgs(tt.args...)
			assert.Equal(t, tt.code, code, errs)
			assert.Contains(t, errs, tt.msg)
		})
	}
}
