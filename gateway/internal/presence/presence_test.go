package presence

import (
	"testing"
	"time"

	"vendgate/gateway/internal/store"
)

func TestMachineState(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := Config{DefaultHB: 60 * time.Second}
	base := store.Modem{HBInterval: 10, Online: true, LastSeen: now.Add(-5 * time.Second), LastHB: now.Add(-5 * time.Second), VMLink: true}
	cases := []struct {
		name string
		mod  func(m *store.Modem)
		nil  bool
		want int
	}{
		{"no modem", nil, true, StateUnknown},
		{"never seen", func(m *store.Modem) { m.LastSeen = time.Time{} }, false, StateUnknown},
		{"working", func(m *store.Modem) {}, false, StateWorking},
		{"no hb yet", func(m *store.Modem) { m.LastHB = time.Time{}; m.VMLink = false }, false, StateWorking},
		{"vm link down", func(m *store.Modem) { m.VMLink = false }, false, StateNotWorking},
		{"vm fault", func(m *store.Modem) { m.Errors = 1 }, false, StateNotWorking},
		{"other error flag", func(m *store.Modem) { m.Errors = 2 }, false, StateWorking},
		{"offline", func(m *store.Modem) { m.Online = false }, false, StateNoGSM},
		{"stale at 25.1s", func(m *store.Modem) { m.LastSeen = now.Add(-25100 * time.Millisecond) }, false, StateNoGSM},
		{"fresh at 24.9s", func(m *store.Modem) { m.LastSeen = now.Add(-24900 * time.Millisecond) }, false, StateWorking},
		{"default hb", func(m *store.Modem) { m.HBInterval = 0; m.LastSeen = now.Add(-149 * time.Second) }, false, StateWorking},
		{"default hb stale", func(m *store.Modem) { m.HBInterval = 0; m.LastSeen = now.Add(-151 * time.Second) }, false, StateNoGSM},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.nil {
				if got := c.MachineState(nil, now); got != tc.want {
					t.Fatalf("got %d want %d", got, tc.want)
				}
				return
			}
			m := base
			tc.mod(&m)
			if got := c.MachineState(&m, now); got != tc.want {
				t.Fatalf("got %d want %d", got, tc.want)
			}
		})
	}
}
