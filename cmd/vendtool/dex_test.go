package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"vendgate/dex"
	"vendgate/internal/pty"
	"vendgate/internal/serialport"
)

func dexAudit(t *testing.T) []byte {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "testdata", "evadts", "mdisibio__dex-parse__test.dex"))
	if err != nil {
		t.Skipf("shared sample audits not present: %v", err)
	}
	return b
}

// machineOnPTY plays a vending machine on the master side of a fresh pty
// and returns the slave path for vendtool. mangle, if set, filters what the
// machine writes.
func machineOnPTY(t *testing.T, audit []byte, mangle func([]byte) []byte) string {
	t.Helper()
	m, path, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	// Hold the slave side open for the whole test: when no process has it
	// open, reads on the master fail with EIO (hang-up), which would end the
	// machine between two reads.
	hold, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	require.NoError(t, pty.MakeRaw(hold))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		sl := &dex.Slave{Config: dex.Config{CommID: "TST0000001"}}
		_ = sl.Serve(ctx, &filterRW{File: m, mangle: mangle}, func() ([]byte, error) { return audit, nil })
	})
	t.Cleanup(func() { cancel(); wg.Wait(); m.Close(); hold.Close() })
	return path
}

type filterRW struct {
	*os.File
	mu     sync.Mutex
	mangle func([]byte) []byte
}

func (f *filterRW) Write(p []byte) (int, error) {
	if f.mangle != nil {
		f.mu.Lock()
		q := f.mangle(append([]byte(nil), p...))
		f.mu.Unlock()
		if len(q) == 0 {
			return len(p), nil
		}
		_, err := f.File.Write(q)
		return len(p), err
	}
	return f.File.Write(p)
}

func TestDexReadOverPTY(t *testing.T) {
	audit := dexAudit(t)
	path := machineOnPTY(t, audit, nil)
	out := filepath.Join(t.TempDir(), "audit.dex")
	var stdout, stderr bytes.Buffer
	code := run([]string{"dex", "read", "--port", path, "--out", out, "--expect", "975"}, env{nil, &stdout, &stderr})
	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, audit, got)
	assert.Empty(t, stdout.String(), "with --out the audit goes to the file only")
	assert.Contains(t, stderr.String(), "blocks")
	assert.Contains(t, stderr.String(), "975 bytes")
	assert.Contains(t, stderr.String(), "left")

	// Second read on the same machine, as parsed JSON.
	stdout.Reset()
	stderr.Reset()
	code = run([]string{"dex", "read", "--port", path, "--json", "--quiet"}, env{nil, &stdout, &stderr})
	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	var doc map[string]any
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &doc), stdout.String())
	assert.Contains(t, stdout.String(), "9259630009", "the DXS communication id of the sample")
	assert.Empty(t, stderr.String())
}

func TestDexReadMachineGoesSilent(t *testing.T) {
	audit := dexAudit(t)
	blocks := 0
	path := machineOnPTY(t, audit, func(p []byte) []byte {
		if len(p) > 2 && p[0] == dex.DLE && p[1] == dex.STX {
			blocks++
		}
		if blocks >= 2 {
			return nil
		}
		return p
	})
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run([]string{"dex", "read", "--port", path, "--timer-d", "300ms", "--timer-b", "50ms"}, env{nil, &stdout, &stderr})
	elapsed := time.Since(start)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "stopped answering")
	assert.Contains(t, stderr.String(), "timeout")
	assert.Empty(t, stdout.String())
	assert.Less(t, elapsed, 3*time.Second, "a silent machine must end the read in bounded time")
}

func TestDexReadNoMachine(t *testing.T) {
	m, path, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer m.Close()
	var stdout, stderr bytes.Buffer
	code := run([]string{"dex", "read", "--port", path, "--timer-a", "50ms", "--retries", "1"}, env{nil, &stdout, &stderr})
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "no answer from a machine on "+path)
}

func TestDexReadWrongCommID(t *testing.T) {
	m, path, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		sl := &dex.Slave{AcceptCommID: func(id string) bool { return id == "GOOD000001" }}
		_ = sl.Serve(ctx, m, func() ([]byte, error) { return []byte("x"), nil })
	})
	defer func() { cancel(); wg.Wait(); m.Close() }()
	var stdout, stderr bytes.Buffer
	code := run([]string{"dex", "read", "--port", path, "--comm-id", "BAD0000001"}, env{nil, &stdout, &stderr})
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), `rejected our communication ID "BAD0000001"`)
}

func TestDexUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no subcommand", []string{"dex"}, 2, "Usage"},
		{"unknown subcommand", []string{"dex", "write"}, 2, "unknown subcommand"},
		{"missing port", []string{"dex", "read"}, 2, "--port is required"},
		{"bad comm id", []string{"dex", "read", "--port", "/dev/null", "--comm-id", "short"}, 2, "10 characters"},
		{"bad flag", []string{"dex", "read", "--nope"}, 2, "not defined"},
		{"missing device", []string{"dex", "read", "--port", "/dev/does-not-exist"}, 1, "serialport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			assert.Equal(t, tt.code, run(tt.args, env{nil, &stdout, &stderr}))
			assert.Contains(t, stderr.String(), tt.msg)
		})
	}
}

func TestAuditJSONFallback(t *testing.T) {
	b, err := auditJSON([]byte("not an audit"))
	require.NoError(t, err)
	var doc struct {
		Bytes int    `json:"bytes"`
		Text  string `json:"text"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	assert.Equal(t, 12, doc.Bytes)
	assert.True(t, strings.HasPrefix(doc.Text, "not"))
}

// ratedLine makes writes take the time the bytes need on a serial line (10
// bits per character): a pty moves bytes instantly whatever its baud
// setting, so the benchmark simulates the 9600 bit/s DEX cable this way.
type ratedLine struct {
	rw interface {
		Read([]byte) (int, error)
		Write([]byte) (int, error)
		SetReadDeadline(time.Time) error
	}
	baud int
	wire *atomic.Int64
}

func (l *ratedLine) Read(p []byte) (int, error)        { return l.rw.Read(p) }
func (l *ratedLine) SetReadDeadline(t time.Time) error { return l.rw.SetReadDeadline(t) }
func (l *ratedLine) Write(p []byte) (int, error) {
	time.Sleep(time.Duration(len(p)) * 10 * time.Second / time.Duration(l.baud))
	l.wire.Add(int64(len(p)))
	return l.rw.Write(p)
}

// BenchmarkDexReadPTY reads a real 3.5 KB audit through the whole stack
// (dex.Master over internal/serialport over a pty, dex.Slave on the pty
// master) with both directions limited to 9600 bit/s. Each op takes ~4.5 s;
// run with -benchtime=1x.
func BenchmarkDexReadPTY(b *testing.B) {
	audit, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "testdata", "evadts", "sigalabs__DEXUCS-VendingMachine-B2C-Simulator__evadts.txt"))
	if err != nil {
		b.Skipf("sample audit missing: %v", err)
	}
	m, path, err := pty.Open()
	if err != nil {
		b.Skipf("no pseudo-terminals: %v", err)
	}
	defer m.Close()
	p, err := serialport.Open(path, serialport.Config{Baud: 9600})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var wire atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = (&dex.Slave{}).Serve(ctx, &ratedLine{rw: m, baud: 9600, wire: &wire}, func() ([]byte, error) { return audit, nil })
	})
	defer func() { cancel(); wg.Wait() }()
	reader := &ratedLine{rw: p, baud: 9600, wire: &wire}

	b.ResetTimer()
	start := time.Now()
	for range b.N {
		got, err := (&dex.Master{}).Read(ctx, reader)
		if err != nil || !bytes.Equal(got, audit) {
			b.Fatalf("read: %v (%d of %d bytes)", err, len(got), len(audit))
		}
	}
	elapsed := time.Since(start) / time.Duration(b.N)
	b.StopTimer()
	rate := float64(len(audit)) / elapsed.Seconds()
	steady := float64(dex.MaxBlockText) / (float64(dex.MaxBlock+4+2)/960 + 2*dex.DefaultResponseDelay.Seconds())
	b.ReportMetric(rate, "B/s")
	b.ReportMetric(100*rate/960, "%line")
	b.ReportMetric(100*rate/steady, "%blockmax")
	b.ReportMetric(100*float64(len(audit))*float64(b.N)/float64(wire.Load()), "%payload/wire")
}
