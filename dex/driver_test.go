package dex

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sampleAudit returns a real audit from the shared test data, or a synthetic
// one when that folder is absent.
func sampleAudit(t testing.TB) []byte {
	p := filepath.Join("..", "..", "shared", "testdata", "evadts", "sigalabs__DEXUCS-VendingMachine-B2C-Simulator__evadts.txt")
	b, err := os.ReadFile(p)
	if err != nil {
		var buf bytes.Buffer
		buf.WriteString("DXS*VGT0000001*VA*V0/6*1\r\nST*001*0001\r\n")
		for i := range 120 {
			buf.WriteString("PA1*" + string(rune('A'+i%26)) + "*150*Product\r\n")
		}
		buf.WriteString("SE*122*0001\r\nDXE*1*1\r\n")
		return buf.Bytes()
	}
	return b
}

// wire is one end of a test line: it records what passes and can corrupt or
// drop bytes going out.
type wire struct {
	net.Conn
	mu      sync.Mutex
	mangle  func(p []byte) []byte // applied to every Write
	written bytes.Buffer
}

func (w *wire) Write(p []byte) (int, error) {
	q := p
	w.mu.Lock()
	if w.mangle != nil {
		q = w.mangle(append([]byte(nil), p...))
	}
	w.written.Write(q)
	w.mu.Unlock()
	if len(q) == 0 {
		return len(p), nil
	}
	if _, err := w.Conn.Write(q); err != nil {
		return 0, err
	}
	return len(p), nil
}

func linePair() (reader, machine *wire) {
	a, b := net.Pipe()
	return &wire{Conn: a}, &wire{Conn: b}
}

// runPair runs a Master read against a Slave serving audit, inside the
// caller's synctest bubble, and returns the read result and Serve's error.
func runPair(t *testing.T, m *Master, sl *Slave, audit []byte, rd, mc *wire) ([]byte, error, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var serveErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		serveErr = sl.ServeOne(ctx, mc, func() ([]byte, error) { return audit, nil })
	})
	got, err := m.Read(ctx, rd)
	// Let the machine finish (it sends EOT after the last ACK) or give up.
	synctest.Wait()
	cancel()
	wg.Wait()
	rd.Close()
	mc.Close()
	return got, err, serveErr
}

func TestMasterSlaveRead(t *testing.T) {
	audit := sampleAudit(t)
	tests := []struct {
		name    string
		slave   Slave
		blocks  int
		mangleM func([]byte) []byte
	}{
		{name: "reader master", blocks: (len(audit) + MaxBlockText - 1) / MaxBlockText},
		{name: "machine master repeats ENQ", slave: Slave{MachineMaster: true}},
		{name: "small blocks", slave: Slave{Config: Config{BlockSize: 40}}},
		{name: "busy machine WACKs", slave: Slave{WACKs: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rd, mc := linePair()
				var progress []int
				m := &Master{Progress: func(blocks, n int) { progress = append(progress, blocks, n) }}
				start := time.Now()
				got, err, serveErr := runPair(t, m, &tt.slave, audit, rd, mc)
				require.NoError(t, err)
				require.NoError(t, serveErr)
				assert.Equal(t, audit, got)
				require.NotEmpty(t, progress)
				assert.Equal(t, len(audit), progress[len(progress)-1])
				if tt.blocks > 0 {
					assert.Equal(t, tt.blocks, progress[len(progress)-2])
				}
				assert.Equal(t, tt.slave.MachineMaster, m.Peer().VMDMaster)
				assert.Equal(t, DefaultCommID, m.Peer().CommID)
				t.Logf("read %d bytes in %v (fake clock)", len(got), time.Since(start))
			})
		})
	}
}

// corruptNth flips a bit in the n-th data block (counting DLE STX frames)
// the first `times` times it is sent.
func corruptNth(n, times int) func([]byte) []byte {
	seen := 0
	return func(p []byte) []byte {
		if len(p) > 4 && p[0] == DLE && p[1] == STX {
			seen++
			if seen >= n && seen < n+times {
				p[len(p)/2] ^= 0x01
			}
		}
		return p
	}
}

func TestReadResyncAfterCorruptBlock(t *testing.T) {
	audit := sampleAudit(t)
	tests := []struct {
		name    string
		mangle  func([]byte) []byte
		wantErr error
		wantNAK bool
	}{
		{"one corrupt block", corruptNth(3, 1), nil, true},
		{"corrupt up to the retry limit", corruptNth(2, DefaultRetries), nil, true},
		{"corrupt beyond the retry limit", corruptNth(2, DefaultRetries+1), ErrCRC, true},
		{"garbage between frames is skipped", func(p []byte) []byte { return append([]byte("zz\x10x"), p...) }, nil, false},
		{"CRC byte lost", func() func([]byte) []byte {
			done := false
			return func(p []byte) []byte {
				if !done && len(p) > 10 && p[1] == STX {
					done = true
					return p[:len(p)-1] // Timer B then NAK
				}
				return p
			}
		}(), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rd, mc := linePair()
				mc.mangle = tt.mangle
				got, err, _ := runPair(t, &Master{}, &Slave{}, audit, rd, mc)
				if tt.wantErr != nil {
					require.ErrorIs(t, err, tt.wantErr)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, audit, got)
				assert.Equal(t, tt.wantNAK, bytes.IndexByte(rd.written.Bytes(), NAK) >= 0, "reader sent NAK")
			})
		})
	}
}

func TestReadSilentMachine(t *testing.T) {
	audit := sampleAudit(t)
	synctest.Test(t, func(t *testing.T) {
		rd, mc := linePair()
		blocks := 0
		mc.mangle = func(p []byte) []byte {
			if len(p) > 2 && p[1] == STX {
				blocks++
			}
			if blocks >= 3 {
				return nil // the machine hangs after two blocks
			}
			return p
		}
		var silentSince time.Time
		m := &Master{Progress: func(b, _ int) { silentSince = time.Now() }}
		got, err, _ := runPair(t, m, &Slave{}, audit, rd, mc)
		require.ErrorIs(t, err, ErrTimeout)
		assert.Equal(t, 2, len(got)/MaxBlockText)
		elapsed := time.Since(silentSince)
		t.Logf("error %q after %v of silence", err, elapsed)
		assert.LessOrEqual(t, elapsed, DefaultTimerD+DefaultTimerB+DefaultResponseDelay)
		assert.GreaterOrEqual(t, elapsed, DefaultTimerD)
	})
}

func TestReadNoAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rd, mc := linePair()
		go io.Copy(io.Discard, mc) // a line with nobody answering
		start := time.Now()
		_, err := (&Master{}).Read(t.Context(), rd)
		require.ErrorIs(t, err, ErrNoAnswer)
		assert.Equal(t, time.Duration(DefaultRetries+1)*DefaultTimerA, time.Since(start))
		rd.Close()
		mc.Close()
	})
}

func TestReadWrongCommID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rd, mc := linePair()
		sl := &Slave{AcceptCommID: func(id string) bool { return id == "ABC1234567" }}
		_, err, serveErr := runPair(t, &Master{Config: Config{CommID: "XYZ0000000"}}, sl, sampleAudit(t), rd, mc)
		require.ErrorIs(t, err, ErrCommID)
		require.ErrorIs(t, serveErr, ErrCommID)
		var re *ResponseError
		require.True(t, errors.As(err, &re))
		assert.Equal(t, ResponseUnknownCommID, re.Code)
	})
}

func TestReadNoData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rd, mc := linePair()
		ctx := t.Context()
		var serveErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			serveErr = (&Slave{}).ServeOne(ctx, mc, func() ([]byte, error) { return nil, ErrNoData })
		})
		_, err := (&Master{}).Read(ctx, rd)
		wg.Wait()
		rd.Close()
		mc.Close()
		var re *ResponseError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, ResponseNoData, re.Code)
		assert.ErrorIs(t, serveErr, ErrRefused)
	})
}

// pipeRW joins two io.Pipes into a ReadWriter without deadlines, so the
// driver must rely on its own reader goroutine and timers.
type pipeRW struct {
	*io.PipeReader
	*io.PipeWriter
}

func (p pipeRW) Close() error { p.PipeReader.Close(); return p.PipeWriter.Close() }

func TestReadWithoutDeadlines(t *testing.T) {
	audit := sampleAudit(t)
	synctest.Test(t, func(t *testing.T) {
		r1, w1 := io.Pipe()
		r2, w2 := io.Pipe()
		rd, mc := pipeRW{r1, w2}, pipeRW{r2, w1}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() {
			_ = (&Slave{}).Serve(ctx, mc, func() ([]byte, error) { return audit, nil })
		})
		got, err := (&Master{}).Read(ctx, rd)
		require.NoError(t, err)
		assert.Equal(t, audit, got)
		cancel()
		rd.Close()
		mc.Close()
		wg.Wait()
	})
}

func TestReadContextCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rd, mc := linePair()
		go io.Copy(io.Discard, mc)
		ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
		defer cancel()
		_, err := (&Master{}).Read(ctx, rd)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		rd.Close()
		mc.Close()
	})
}
