package command

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
	"vendgate/protocol"
)

// Another process on the same database (a second handle) leaves a command in
// flight for a modem that is connected here and that this service believes
// idle: Submit must not send directly (the fence is broken), the other
// command goes out first, one at a time; once a new fence is taken, idle
// modems get their commands directly again.
func TestFenceSeesAnotherProcess(t *testing.T) {
	e := newDirect(t)
	other := openDirect(t, e.path)
	_, _, err := other.CreateSentCommand(context.Background(), store.Command{ID: "elsewhere", ModemID: e.mid,
		Name: string(protocol.CmdCashlessMode), Args: []byte(`{"enabled":true}`), CreatedAt: time.Now(),
		ExpiresAt: time.Now().Add(time.Hour)}, time.Now())
	require.NoError(t, err)
	// Reconnect: the connection is not verified, so only the fence could
	// vouch for the modem.
	e.s.ModemGone(e.mid)
	e.s.ModemReady(e.mid, imei)

	c := submit(t, e.s, e.mid, "mine")
	assert.Equal(t, store.CmdQueued, c.State, "not sent directly")
	e.s.mu.Lock()
	assert.Nil(t, e.s.fence, "the fence is dropped")
	e.s.mu.Unlock()
	waitFor(t, "the other command resent", func() bool { return len(e.pub.ids()) == 1 })
	time.Sleep(20 * time.Millisecond)
	require.Equal(t, []string{"elsewhere"}, e.pub.ids(), "one in flight, the older one first")
	assert.Equal(t, store.CmdQueued, state(t, e.db, "mine").State)
	result(t, e.s, e.db, e.mid, "elsewhere", protocol.StatusSucceeded)
	waitFor(t, "mine sent", func() bool { return len(e.pub.ids()) == 2 })
	assert.Equal(t, "mine", e.pub.ids()[1])
	result(t, e.s, e.db, e.mid, "mine", protocol.StatusSucceeded)
	waitFor(t, "the modem to settle", func() bool { return !e.pending() })

	// A new fence (sweep takes one; called here to skip the wait), then a
	// new connection: its first command goes out directly again.
	e.s.renewFence(context.Background())
	e.s.mu.Lock()
	require.NotNil(t, e.s.fence)
	e.s.mu.Unlock()
	e.s.ModemGone(e.mid)
	e.s.ModemReady(e.mid, imei)
	c = submit(t, e.s, e.mid, "again")
	assert.Equal(t, store.CmdSent, c.State)
}

// A command the other process queues after the fence broke is found by the
// renewal and delivered to the modem connected here, without a reconnect.
func TestFenceRenewalDeliversForeignCommand(t *testing.T) {
	e := newDirect(t)
	other := openDirect(t, e.path)
	_, _, err := other.CreateCommand(context.Background(), store.Command{ID: "queued-elsewhere", ModemID: e.mid,
		Name: string(protocol.CmdCashlessMode), Args: []byte(`{"enabled":true}`), CreatedAt: time.Now(),
		ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	e.s.mu.Lock()
	e.s.fence = nil // as a refused insert leaves it
	e.s.mu.Unlock()
	e.s.renewFence(context.Background())
	waitFor(t, "the foreign command sent", func() bool { return len(e.pub.ids()) == 1 })
	assert.Equal(t, "queued-elsewhere", e.pub.ids()[0])
}
