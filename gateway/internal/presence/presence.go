// Package presence derives a machine's working state (Telemetron "state") from
// what its modem last reported.
package presence

import (
	"time"

	"vendgate/gateway/internal/store"
)

// Telemetron machine states.
const (
	StateUnknown    = 0 // the modem never reported
	StateWorking    = 1
	StateNotWorking = 2 // modem online, but the machine link is down or the machine reports a fault
	StateNoGSM      = 3 // modem offline
)

// StaleFactor is how many heartbeat intervals without news make a modem offline.
const StaleFactor = 2.5

// Config holds the defaults used when a modem has not said its interval.
type Config struct {
	DefaultHB time.Duration // heartbeat interval assumed before hello (default 60 s)
}

// Stale reports whether a modem that is online by its connection has gone quiet
// for longer than StaleFactor heartbeat intervals (half-open links).
func (c Config) Stale(m store.Modem, now time.Time) bool {
	hb := time.Duration(m.HBInterval) * time.Second
	if hb <= 0 {
		hb = c.DefaultHB
		if hb <= 0 {
			hb = 60 * time.Second
		}
	}
	last := m.LastSeen
	if last.IsZero() {
		return false
	}
	return now.Sub(last) > time.Duration(float64(hb)*StaleFactor)
}

// Online reports whether the modem counts as online now.
func (c Config) Online(m store.Modem, now time.Time) bool {
	return m.Online && !c.Stale(m, now)
}

// MachineState is the Telemetron state of a machine whose modem is m (nil: no modem).
func (c Config) MachineState(m *store.Modem, now time.Time) int {
	if m == nil || m.LastSeen.IsZero() {
		return StateUnknown
	}
	if !c.Online(*m, now) {
		return StateNoGSM
	}
	if !m.LastHB.IsZero() && (!m.VMLink || m.Errors&1 != 0) {
		return StateNotWorking
	}
	return StateWorking
}
