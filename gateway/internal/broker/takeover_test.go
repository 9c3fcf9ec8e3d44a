package broker

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cleanupBlocker is a second mochi hook that holds the first client cleanup
// it sees. mochi calls OnUnsubscribed from UnsubscribeClient in
// attachClient's cleanup of a clean session: after it checked IsTakenOver
// and before it deletes the client id from its client list — the window in
// which a newer connection's takeover used to be lost.
type cleanupBlocker struct {
	mqtt.HookBase
	held    atomic.Bool
	reached chan *mqtt.Client
	release chan struct{}
}

func (k *cleanupBlocker) ID() string { return "test-cleanup-blocker" }

func (k *cleanupBlocker) Provides(b byte) bool { return b == mqtt.OnUnsubscribed }

func (k *cleanupBlocker) OnUnsubscribed(cl *mqtt.Client, _ packets.Packet) {
	if k.held.CompareAndSwap(false, true) { // only the first; later calls must not wait
		k.reached <- cl
		<-k.release
	}
}

// A modem reconnects while mochi is still cleaning up its lost connection.
// Before the fix, the new connection took over the half-removed client,
// the old cleanup then deleted the new client from mochi's client list, and
// the next CONNECT of the modem did not take it over: two connections
// stayed up and Count was 2. Now the new connection waits until mochi has
// finished with the old one.
func TestTakeoverDuringCleanup(t *testing.T) {
	auth, h := &fakeAuth{}, newFakeHandler()
	b, err := New(Config{Listen: "127.0.0.1:0", Logger: quietLogger()}, auth, h)
	require.NoError(t, err)
	blk := &cleanupBlocker{reached: make(chan *mqtt.Client, 1), release: make(chan struct{})}
	require.NoError(t, b.srv.AddHook(blk, nil))
	require.NoError(t, b.Start())
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(blk.release) }) }
	t.Cleanup(func() { release(); _ = b.Close() })

	first := dialRaw(t, b, 4)
	first.login(imeiA, passA)
	c1 := h.expect(t, "connected")
	_ = first.c.Close() // link lost: mochi's cleanup starts and is held
	d1 := h.expect(t, "disconnected")
	assert.Equal(t, c1.c.ConnID, d1.c.ConnID)
	assert.False(t, d1.takenOver)
	var held *mqtt.Client
	select {
	case held = <-blk.reached:
	case <-time.After(wait):
		t.Fatal("mochi's cleanup did not reach OnUnsubscribed")
	}
	assert.Equal(t, imeiA, held.ID)

	second := dialRaw(t, b, 4)
	second.send(connectPacket(imeiA, imeiA, passA, 60))
	// The second connection is registered and waits for mochi's cleanup of
	// the first one: no CONNACK yet.
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		c := b.modems[imeiA]
		return c != nil && c.info.ConnID != c1.c.ConnID
	}, wait, time.Millisecond)
	require.NoError(t, second.c.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, err = second.r.Peek(1)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "CONNACK sent before mochi finished with the old client: %v", err)
	release()
	assert.Equal(t, byte(0), second.mustRead(packets.Connack).ReasonCode)
	c2 := h.expect(t, "connected")
	cl, ok := b.srv.Clients.Get(imeiA)
	require.True(t, ok, "new client missing from mochi's client list")
	assert.NotSame(t, held, cl)
	assert.Same(t, b.lookup(imeiA).client(), cl)

	// The next CONNECT takes the second connection over.
	third := dialRaw(t, b, 4)
	third.login(imeiA, passA)
	second.expectClosed()
	d2 := h.expect(t, "disconnected")
	assert.Equal(t, c2.c.ConnID, d2.c.ConnID)
	assert.True(t, d2.takenOver)
	assert.ErrorIs(t, d2.err, packets.ErrSessionTakenOver)
	c3 := h.expect(t, "connected")
	assert.Greater(t, c3.c.ConnID, c2.c.ConnID)
	third.ping()
	assert.Equal(t, 1, b.Count())
	h.none(t)
}
