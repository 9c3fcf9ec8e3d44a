package command

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// requireIndexed checks that byModem lists exactly the flights, each under
// its modem.
func requireIndexed(t *testing.T, s *Service) {
	t.Helper()
	n := 0
	for m, ids := range s.byModem {
		require.NotEmpty(t, ids, "modem %d: no empty lists kept", m)
		for _, id := range ids {
			f := s.flights[id]
			require.NotNil(t, f, "indexed %s has a flight", id)
			require.Equal(t, m, f.modemID, "%s indexed under its modem", id)
		}
		n += len(ids)
	}
	require.Equal(t, len(s.flights), n, "every flight is indexed once")
}

func TestFlightIndex(t *testing.T) {
	t.Parallel()
	s := New(nil, nil, nil, Config{})
	at := time.Unix(1_700_000_000, 0)
	for m := int64(1); m <= 3; m++ {
		for k := range int(m) {
			s.track(fmt.Sprintf("m%d-%d", m, k), m, at, false)
		}
	}
	requireIndexed(t, s)

	t.Run("retrack replaces", func(t *testing.T) {
		s.track("m1-0", 1, at.Add(time.Second), true)
		requireIndexed(t, s)
		require.True(t, s.flights["m1-0"].acked)
	})
	t.Run("reconnect forgets only its modem", func(t *testing.T) {
		s.ModemReady(3, "imei3")
		requireIndexed(t, s)
		for id, f := range s.flights {
			require.NotEqual(t, int64(3), f.modemID, "%s of the reconnected modem is forgotten", id)
		}
		require.Len(t, s.flights, 3, "the other modems' flights stay")
	})
	t.Run("drop", func(t *testing.T) {
		s.mu.Lock()
		s.dropFlight("m2-0")
		s.dropFlight("absent")
		s.mu.Unlock()
		requireIndexed(t, s)
		require.Equal(t, []string{"m2-1"}, s.byModem[2])
		s.mu.Lock()
		s.dropFlight("m2-1")
		s.mu.Unlock()
		requireIndexed(t, s)
		_, ok := s.byModem[2]
		require.False(t, ok, "an emptied modem leaves the index")
	})
	t.Run("all modems", func(t *testing.T) {
		ms := slices.Sorted(func(yield func(int64) bool) {
			for m := range s.byModem {
				if !yield(m) {
					return
				}
			}
		})
		for _, m := range ms {
			s.ModemReady(m, "x")
		}
		requireIndexed(t, s)
		require.Empty(t, s.flights)
	})
}

// BenchmarkModemReady is one reconnect with 10,000 other modems' commands in
// flight: the index makes it independent of them.
func BenchmarkModemReady(b *testing.B) {
	s := New(nil, nil, nil, Config{})
	at := time.Unix(1_700_000_000, 0)
	for m := range int64(10_000) {
		s.track(fmt.Sprintf("c%d", m), m+1, at, false)
	}
	for b.Loop() {
		s.ModemReady(20_000, "imei")
		s.ModemGone(20_000)
	}
}
