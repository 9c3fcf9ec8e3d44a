package dex

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lineRate makes writes take the time the bytes need on a serial line of
// the given speed (10 bits per character for 8N1): a pipe or pty moves bytes
// instantly, so without it a throughput figure would say nothing about a
// real 9600 bit/s DEX cable. The bytes are delivered when their last bit
// would have left the wire; wire counts every byte written.
type lineRate struct {
	net interface {
		io.ReadWriter
		SetReadDeadline(time.Time) error
	}
	baud int
	wire *atomic.Int64
	mu   sync.Mutex
}

func (l *lineRate) Read(p []byte) (int, error)        { return l.net.Read(p) }
func (l *lineRate) SetReadDeadline(t time.Time) error { return l.net.SetReadDeadline(t) }
func (l *lineRate) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	time.Sleep(time.Duration(len(p)) * 10 * time.Second / time.Duration(l.baud))
	l.wire.Add(int64(len(p)))
	return l.net.Write(p)
}

// specMinimum is the shortest time EVA-DTS 6.2 allows for a DEX session that
// transfers n audit bytes at baud with full blocks: every byte on the wire
// at 10 bits, a response delay before every reply and the two intersession
// pauses (§4.4, §4.5.3, §4.5.8).
func specMinimum(n, baud int, reply, pause time.Duration) (time.Duration, int) {
	char := 10 * time.Second / time.Duration(baud)
	wire := 0
	replies := 0
	// First handshake: ENQ, ACK0, request (2+17+2+2), ACK1, EOT.
	wire += 1 + 2 + 23 + 2 + 1
	replies += 4
	// Second handshake: ENQ, ACK0, response (2+18+2+2), ACK1, EOT.
	wire += 1 + 2 + 24 + 2 + 1
	replies += 4
	// Data: ENQ, ACK0, blocks each answered by an ACK, EOT.
	blocks := (n + MaxBlockText - 1) / MaxBlockText
	wire += 1 + 2 + n + blocks*(6+2) + 1
	replies += 1 + 2*blocks
	return time.Duration(wire)*char + time.Duration(replies)*reply + 2*pause, wire
}

// TestLineRateEfficiency measures a full read over a simulated 9600 bit/s
// line on the fake clock and checks it reaches at least 90 % of the rate the
// spec allows (it has no waits of its own beyond the spec's).
func TestLineRateEfficiency(t *testing.T) {
	audit := sampleAudit(t)
	synctest.Test(t, func(t *testing.T) {
		a, b := linePair()
		var wire atomic.Int64
		rd := &lineRate{net: a, baud: 9600, wire: &wire}
		mc := &lineRate{net: b, baud: 9600, wire: &wire}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() { _ = (&Slave{}).ServeOne(ctx, mc, func() ([]byte, error) { return audit, nil }) })
		start := time.Now()
		got, err := (&Master{}).Read(ctx, rd)
		elapsed := time.Since(start)
		require.NoError(t, err)
		require.Equal(t, audit, got)
		synctest.Wait()
		cancel()
		wg.Wait()
		a.Close()
		b.Close()

		const lineBps = 960.0 // 9600 bit/s, 8N1
		rate := float64(len(got)) / elapsed.Seconds()
		min, minWire := specMinimum(len(got), 9600, DefaultResponseDelay, DefaultPause)
		steady := float64(MaxBlockText) / ((float64(MaxBlock+4+2))/lineBps + 2*DefaultResponseDelay.Seconds())
		t.Logf("%d bytes in %v (fake clock): %.0f B/s = %.1f%% of the 960 B/s line, %.1f%% of the 245-byte-block steady state (%.0f B/s)",
			len(got), elapsed, rate, 100*rate/lineBps, 100*rate/steady, steady)
		t.Logf("spec minimum for this session %v → %.1f%% of the theoretical maximum; wire bytes %d (model %d), payload/wire %.1f%%",
			min, 100*min.Seconds()/elapsed.Seconds(), wire.Load(), minWire, 100*float64(len(got))/float64(wire.Load()))
		assert.GreaterOrEqual(t, min.Seconds()/elapsed.Seconds(), 0.90)
		assert.Equal(t, int64(minWire), wire.Load(), "no retransmissions on a clean line")
	})
}
