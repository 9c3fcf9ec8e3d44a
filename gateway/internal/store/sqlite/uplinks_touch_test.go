package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// TestTouchLastSeen: a batch leaves every modem's last_seen at the newest
// Received of its uplinks, never earlier than the stored one, whether the
// batch writes it with one statement per modem or one for all (qTouchAll).
func TestTouchLastSeen(t *testing.T) {
	for _, tt := range []struct {
		name string
		min  int // touchAllMin
	}{{"one statement", 1}, {"one per modem", 1 << 30}} {
		t.Run(tt.name, func(t *testing.T) {
			defer func(v int) { touchAllMin = v }(touchAllMin)
			touchAllMin = tt.min
			db := openDisk(t)
			ids := benchModems(t, db, 6)
			at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
			// Modem 0 was seen later than anything in the batch.
			require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{{Kind: store.UpPresence, ModemID: ids[0], Received: at(100),
				Presence: &store.Presence{Online: true, Epoch: 1}}}))
			ev := func(modem int64, s int) store.Uplink {
				return store.Uplink{Kind: store.UpEvent, ModemID: modem, Received: at(s),
					Event: &store.Event{MsgID: fmt.Sprintf("m%d-%d", modem, s), Code: "EA", Time: at(s)}}
			}
			batch := []store.Uplink{
				ev(ids[0], 10), ev(ids[1], 12), ev(ids[2], 30), ev(ids[1], 11), ev(ids[3], 5),
				// Modem 4's newest uplink is a heartbeat, which writes last_seen itself.
				ev(ids[4], 7), {Kind: store.UpHeartbeat, ModemID: ids[4], Received: at(8),
					Heartbeat: &store.Heartbeat{Uptime: 1, Signal: 10}},
				ev(ids[2], 20),
				ev(9999, 50), // unknown modem: skipped
			}
			require.NoError(t, db.ApplyUplinks(ctx, batch))
			want := []time.Time{at(100), at(12), at(30), at(5), at(8), {}}
			for i, id := range ids {
				m, err := db.GetModem(ctx, id)
				require.NoError(t, err)
				assert.True(t, m.LastSeen.Equal(want[i]), "modem %d: last seen %v, want %v", i, m.LastSeen, want[i])
			}
		})
	}
}
