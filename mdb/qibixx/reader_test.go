package qibixx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeAdapter plays the adapter side of a script: it writes the "<" lines and
// requires the host to send exactly the ">" lines, in order, and nothing
// more (checked for a minute of fake time after the script). It records when
// each host line arrived, relative to the start.
func fakeAdapter(conn net.Conn, steps []vectorStep, at *[]time.Duration) error {
	start := time.Now()
	lr := NewLineReader(conn, 0)
	for i, s := range steps {
		if s.host {
			got, err := lr.ReadLine()
			if err != nil || got != s.line {
				return fmt.Errorf("step %d: want host line %q, got %q (%v)", i, s.line, got, err)
			}
			*at = append(*at, time.Since(start))
			continue
		}
		if _, err := conn.Write([]byte(s.line + "\n")); err != nil {
			return fmt.Errorf("step %d: write %q: %w", i, s.line, err)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	if got, err := lr.ReadLine(); !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("host sent more than the script: %q (%v)", got, err)
	}
	return conn.Close()
}

type scriptResult struct {
	events []string
	hostAt []time.Duration
}

// runScript runs a Reader against fakeAdapter inside a synctest bubble. The
// host enables the slave, then policy reacts to events (it may call the
// Reader).
func runScript(t *testing.T, steps []vectorStep, cfg Config, policy func(r *Reader, ev Event)) scriptResult {
	t.Helper()
	var res scriptResult
	synctest.Test(t, func(t *testing.T) {
		host, adapter := net.Pipe()
		var mu sync.Mutex
		var r *Reader
		cfg.OnEvent = func(ev Event) {
			mu.Lock()
			res.events = append(res.events, describe(ev))
			mu.Unlock()
			if policy != nil {
				policy(r, ev)
			}
		}
		r = NewReader(host, cfg)
		runDone := make(chan error, 1)
		go func() { runDone <- r.Run(context.Background()) }()
		fakeDone := make(chan error, 1)
		go func() { fakeDone <- fakeAdapter(adapter, steps, &res.hostAt) }()
		require.NoError(t, r.Enable(context.Background()))
		require.NoError(t, <-fakeDone)
		require.NoError(t, <-runDone, "Run ends cleanly at EOF")
		_ = host.Close()
	})
	return res
}

func describe(ev Event) string {
	s := ev.Kind.String() + " " + string(ev.State)
	switch ev.Kind {
	case EventVendRequest, EventVendSuccess, EventVendFailure, EventVendTimeout:
		s += fmt.Sprintf(" %s #%d", ev.Price, ev.Item)
	}
	if ev.Err != nil {
		s += " err=" + ev.Err.Error()
	}
	return s
}

func only(steps []vectorStep, prefixes string) []vectorStep {
	var out []vectorStep
	for _, s := range steps {
		if strings.IndexByte(prefixes, s.line[0]) >= 0 {
			out = append(out, s)
		}
	}
	return out
}

func approveAsIs(r *Reader, ev Event) {
	if ev.Kind == EventVendRequest {
		if err := r.ApproveVend(ev.Price); err != nil {
			panic(err)
		}
	}
}

func TestReaderVectorSessions(t *testing.T) {
	v := loadVectors(t)
	okSession := func(item int, price string) []string {
		return []string{
			"status INACTIVE", "status DISABLED", "status ENABLED",
			fmt.Sprintf("vend-request VEND %s #%d", price, item),
			fmt.Sprintf("vend-success VEND %s #%d", price, item),
			"status IDLE", "status ENABLED",
		}
	}
	t.Run("[1] always idle, approve", func(t *testing.T) {
		res := runScript(t, v["[1]"], Config{}, approveAsIs)
		assert.Equal(t, okSession(2, "1.00"), res.events)
	})
	t.Run("[1] dispense failure", func(t *testing.T) {
		// The file's note: on dispense failure "c,ERR,VEND 3" comes instead of SUCCESS.
		steps := append([]vectorStep(nil), v["[1]"][:6]...)
		require.Equal(t, "C,VEND,1.00", steps[5].line)
		steps = append(steps, vectorStep{line: "c,ERR,VEND 3"})
		res := runScript(t, steps, Config{}, approveAsIs)
		assert.Equal(t, []string{
			"status INACTIVE", "status DISABLED", "status ENABLED", "vend-request VEND 1.00 #2",
			"vend-failure VEND 1.00 #2 err=qibixx: adapter error: VEND 3",
		}, res.events)
	})
	t.Run("[2] slave side of the two-device session", func(t *testing.T) {
		// The D/d lines belong to the other adapter (the master); our
		// Reader sees the slave's C/c/r lines.
		steps := only(v["[2]"], "Ccr")
		require.Len(t, steps, 16)
		res := runScript(t, steps, Config{}, func(r *Reader, ev Event) {
			if ev.Kind == EventVendRequest {
				// As in the example: approve 1 (currency unit) naming the product.
				if err := r.ApproveVendItem(NewAmount(1, 0), ev.Item); err != nil {
					panic(err)
				}
			}
		})
		assert.Equal(t, okSession(5, "1.00"), res.events)
	})
}

func steps(lines ...string) []vectorStep {
	var out []vectorStep
	for _, l := range lines {
		out = append(out, vectorStep{host: l[0] == '>', line: strings.TrimSpace(l[1:])})
	}
	return out
}

var enabled = []string{"> C,1", "< c,STATUS,INACTIVE", "< c,STATUS,DISABLED", "< c,STATUS,ENABLED"}

func TestReaderDeny(t *testing.T) {
	script := steps(append(enabled, "< c,STATUS,VEND,3.00,9", "> C,STOP", "< c,STATUS,ENABLED")...)
	res := runScript(t, script, Config{}, func(r *Reader, ev Event) {
		if ev.Kind == EventVendRequest {
			if err := r.DenyVend(); err != nil {
				panic(err)
			}
		}
	})
	assert.Equal(t, []string{"status INACTIVE", "status DISABLED", "status ENABLED", "vend-request VEND 3.00 #9", "status ENABLED"}, res.events)
}

func TestReaderDecisionTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want time.Duration
	}{
		{"default", Config{}, DefaultDecisionTimeout},
		{"configured", Config{DecisionTimeout: 3 * time.Second}, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := steps(append(enabled, "< c,STATUS,VEND,3.00,9", "> C,STOP", "< c,STATUS,ENABLED")...)
			res := runScript(t, script, tc.cfg, nil)
			require.Len(t, res.hostAt, 2)
			assert.Equal(t, tc.want, res.hostAt[1]-res.hostAt[0], "C,STOP leaves exactly DecisionTimeout after the request")
			assert.Equal(t, []string{"status INACTIVE", "status DISABLED", "status ENABLED", "vend-request VEND 3.00 #9",
				"vend-timeout VEND 3.00 #9 err=" + ErrDecisionTimeout.Error(), "status ENABLED"}, res.events)
		})
	}
}

func TestReaderCancelledRequestStopsTimer(t *testing.T) {
	// The VMC cancels (the slave goes back to ENABLED) before the host
	// decides: no C,STOP may follow later.
	script := steps(append(enabled, "< c,STATUS,VEND,3.00,9", "< c,STATUS,ENABLED")...)
	res := runScript(t, script, Config{DecisionTimeout: time.Second}, nil)
	assert.Equal(t, []string{"status INACTIVE", "status DISABLED", "status ENABLED", "vend-request VEND 3.00 #9", "status ENABLED"}, res.events)
}

func TestReaderAuthorizationFirst(t *testing.T) {
	// The replies to C,START are assumed (the pages consulted stop before them):
	// session idle, a vend request, success, then the host ends the session.
	script := steps(append(enabled,
		"> C,START,5.00", "< c,STATUS,IDLE", "< c,STATUS,VEND,1.50,3", "> C,VEND,1.50",
		"< c,VEND,SUCCESS", "< c,STATUS,IDLE", "> C,STOP", "< c,STATUS,ENABLED")...)
	started, sold := false, false
	res := runScript(t, script, Config{}, func(r *Reader, ev Event) {
		var err error
		switch {
		case ev.Kind == EventStatus && ev.State == StateEnabled && !started:
			started = true
			err = r.StartSession(NewAmount(500, 2))
		case ev.Kind == EventVendRequest:
			err = r.ApproveVend(ev.Price)
		case ev.Kind == EventVendSuccess:
			sold = true
		case ev.Kind == EventStatus && ev.State == StateIdle && sold:
			err = r.EndSession()
		}
		if err != nil {
			panic(err)
		}
	})
	assert.Equal(t, []string{"status INACTIVE", "status DISABLED", "status ENABLED", "status IDLE",
		"vend-request VEND 1.50 #3", "vend-success VEND 1.50 #3", "status IDLE", "status ENABLED"}, res.events)
}

func TestReaderBadLines(t *testing.T) {
	script := steps("> C,1", "< c,STATUS,VEND,x,1", "< c,ERR,BUS", "< d,STATUS,IDLE", "< "+strings.Repeat("z", 600), "< c,STATUS,INACTIVE")
	res := runScript(t, script, Config{}, nil)
	require.Len(t, res.events, 5)
	assert.Contains(t, res.events[0], "error  err=qibixx: bad amount")
	assert.Equal(t, "error  err=qibixx: adapter error: BUS", res.events[1])
	assert.Equal(t, "other ", res.events[2])
	assert.Contains(t, res.events[3], "line too long")
	assert.Equal(t, "status INACTIVE", res.events[4])
}

func TestReaderErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		host, adapter := net.Pipe()
		r := NewReader(host, Config{})
		ctx, cancel := context.WithCancel(context.Background())
		runDone := make(chan error, 1)
		go func() { runDone <- r.Run(ctx) }()
		got := make(chan string, 8)
		go func() {
			lr := NewLineReader(adapter, 0)
			for {
				l, err := lr.ReadLine()
				if err != nil {
					close(got)
					return
				}
				got <- l
			}
		}()

		assert.ErrorIs(t, r.ApproveVend(NewAmount(1, 0)), ErrState)
		assert.ErrorIs(t, r.DenyVend(), ErrState)
		assert.ErrorIs(t, r.StartSession(NewAmount(1, 0)), ErrState)
		assert.ErrorIs(t, r.EndSession(), ErrState)
		assert.ErrorIs(t, r.SetConf("a,b", "c"), ErrSyntax)

		require.NoError(t, r.SetConf("key", "v"))
		assert.Equal(t, "C,SETCONF,key=v", <-got)

		start := time.Now()
		assert.ErrorIs(t, r.Enable(ctx), ErrNoReply, "a silent adapter")
		assert.Equal(t, DefaultReplyTimeout, time.Since(start))
		assert.Equal(t, "C,1", <-got)

		require.NoError(t, r.Disable())
		assert.Equal(t, "C,0", <-got)
		assert.Equal(t, StateOff, r.State())
		_, pending := r.Pending()
		assert.False(t, pending)

		cancel()
		assert.ErrorIs(t, <-runDone, context.Canceled, "cancellation interrupts a blocked read")
		host.Close()
		adapter.Close()
		for range got {
		}
		assert.Zero(t, r.Dropped())
	})
}

func TestReaderEventsChannel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		host, adapter := net.Pipe()
		r := NewReader(host, Config{EventBuffer: 2})
		runDone := make(chan error, 1)
		go func() { runDone <- r.Run(context.Background()) }()
		_, err := adapter.Write([]byte("c,STATUS,INACTIVE\nc,STATUS,DISABLED\nc,STATUS,ENABLED\n"))
		require.NoError(t, err)
		adapter.Close()
		require.NoError(t, <-runDone)
		assert.Equal(t, StateInactive, (<-r.Events()).State)
		assert.Equal(t, StateDisabled, (<-r.Events()).State)
		assert.Equal(t, int64(1), r.Dropped(), "a full channel drops, never blocks")
		assert.Equal(t, StateEnabled, r.State())
		host.Close()
	})
}
