package poller

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/emulator/ukm5"
	"vendgate/gateway/internal/store"
)

// sink records the updates the poller hands over.
type sink struct {
	mu      sync.Mutex
	updates []Update
	last    map[int64]Update
}

func (s *sink) save(_ context.Context, us []Update) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[int64]Update{}
	}
	for _, u := range us {
		s.updates = append(s.updates, u)
		s.last[u.State.RegisterID] = u
	}
	return nil
}

func (s *sink) lastOf(id int64) Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[id]
}

func (s *sink) changes(id int64) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, u := range s.updates {
		if u.State.RegisterID == id && u.Changed {
			out = append(out, u.State.Status)
		}
	}
	return out
}

func targets(f *ukm5.Fleet, prev map[int64]store.RegisterState) func(context.Context) ([]Target, error) {
	return func(context.Context) ([]Target, error) {
		var ts []Target
		for i, u := range f.MemURLs() {
			id := int64(i + 1)
			p := prev[id]
			if p.RegisterID == 0 {
				p.Status = StatusUnknown
			}
			ts = append(ts, Target{ID: id, StationID: "st", BaseURL: u, Prev: p})
		}
		return ts, nil
	}
}

func start(t *testing.T, f *ukm5.Fleet, s *sink, tune func(*Config)) (*Poller, func()) {
	cfg := Config{Source: targets(f, nil), Sink: s.save, Client: &http.Client{Transport: f.Transport()},
		Workers: 16, Timeout: 2 * time.Second, Interval: 10 * time.Second, Reload: time.Second}
	if tune != nil {
		tune(&cfg)
	}
	p, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	return p, func() { cancel(); <-done }
}

func TestRateLimitAndStatuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := ukm5.New(ukm5.Config{N: 60, Seed: 3, Slow: 10 * time.Second})
		s := &sink{}
		p, stop := start(t, f, s, nil)
		time.Sleep(30 * time.Second)
		for i := range 60 {
			assert.Equal(t, StatusOnline, s.lastOf(int64(i+1)).State.Status, "register %d", i)
		}
		faults := map[int]struct {
			f    ukm5.Fault
			want int
		}{
			1: {ukm5.FaultDown, StatusNoConn}, 2: {ukm5.FaultSlow, StatusNoConn}, 3: {ukm5.Fault401, StatusLogin},
			4: {ukm5.Fault500, StatusNoFiles}, 5: {ukm5.FaultMalformed, StatusNoFiles}, 6: {ukm5.FaultHangup, StatusUnknownE},
		}
		for i, c := range faults {
			require.NoError(t, f.Register(i).SetFault(c.f))
		}
		f.Register(10).Update(func(s *ukm5.State) { s.Paper, s.Vision, s.OFDPending = false, false, 3 })
		time.Sleep(30 * time.Second) // within two cycles of 10 s (each at least 7 s of requests)
		for i, c := range faults {
			u := s.lastOf(int64(i + 1))
			assert.Equal(t, c.want, u.State.Status, "fault %s", c.f)
			assert.Equal(t, []int{StatusOnline, c.want}, s.changes(int64(i+1)), "fault %s", c.f)
			assert.Len(t, u.State.Endpoints, len(Endpoints))
		}
		assert.Equal(t, []string{AlertOFDBacklog, AlertPaperOut, AlertVisionDown}, s.lastOf(11).State.Alerts)
		// Recovery is seen within two cycles too.
		for i := range faults {
			require.NoError(t, f.Register(i).SetFault(ukm5.FaultNone))
		}
		time.Sleep(40 * time.Second)
		for i := range faults {
			assert.Equal(t, StatusOnline, s.lastOf(int64(i+1)).State.Status, "register %d recovered", i)
		}
		stop()
		var total int64
		for i := range 60 {
			st := f.Register(i).Stats()
			total += st.Requests
			assert.Zero(t, st.Below1s, "register %d saw requests less than 1 s apart", i)
			assert.GreaterOrEqual(t, st.MinGap, time.Second, "register %d", i)
		}
		assert.Greater(t, total, int64(60*7*8), "every register polled about every 10 s")
		assert.Equal(t, map[int]int{StatusOnline: 60}, p.StatusCounts())
	})
}

// Many registers and a long interval: the limiter, not the interval, bounds
// the rate even with an interval of zero (the default is used) and MinGap
// asked below one second.
func TestNeverFasterThanOnePerSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := ukm5.New(ukm5.Config{N: 200})
		s := &sink{}
		_, stop := start(t, f, s, func(c *Config) { c.Interval, c.MinGap = time.Millisecond, time.Millisecond })
		time.Sleep(60 * time.Second)
		stop()
		for i := range 200 {
			st := f.Register(i).Stats()
			assert.Zero(t, st.Below1s, "register %d", i)
			assert.InDelta(t, 55, st.Requests, 6, "register %d: back-to-back cycles at 1/s", i)
		}
	})
}

func TestPrevStateAndKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := ukm5.New(ukm5.Config{N: 2})
		s := &sink{}
		prev := map[int64]store.RegisterState{1: {RegisterID: 1, Status: StatusOnline, Since: time.Now().Add(-time.Hour)}}
		_, stop := start(t, f, s, func(c *Config) { c.Source = targets(f, prev); c.KeepAlive = 25 * time.Second })
		time.Sleep(70 * time.Second)
		stop()
		assert.Empty(t, s.changes(1), "online before the restart and after: no change")
		assert.Equal(t, []int{StatusOnline}, s.changes(2), "never polled before: the first status is a change")
		ka := 0
		for _, u := range s.updates {
			if u.State.RegisterID == 1 && u.KeepAlive {
				ka++
			}
		}
		assert.Equal(t, 2, ka, "keep-alives at cycle ends, every 25 s in 70 s (first cycle starts within 5 s)")
	})
}

func TestRemovedRegisterStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := ukm5.New(ukm5.Config{N: 3})
		s := &sink{}
		var mu sync.Mutex
		n := 3
		src := func(ctx context.Context) ([]Target, error) {
			ts, _ := targets(f, nil)(ctx)
			mu.Lock()
			defer mu.Unlock()
			return ts[:n], nil
		}
		_, stop := start(t, f, s, func(c *Config) { c.Source = src })
		time.Sleep(20 * time.Second)
		mu.Lock()
		n = 1
		mu.Unlock()
		time.Sleep(3 * time.Second)
		before := f.Register(2).Stats().Requests
		time.Sleep(30 * time.Second)
		stop()
		assert.Equal(t, before, f.Register(2).Stats().Requests, "not polled once removed")
		assert.Greater(t, f.Register(0).Stats().Requests, before)
	})
}

func TestNewNeedsSourceAndSink(t *testing.T) {
	_, err := New(Config{})
	require.ErrorIs(t, err, ErrConfig)
}
