package broker

import (
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/protocol"
)

// TestShutdownReturnsConnections: the connections Shutdown ends are returned
// (for a bulk presence write) instead of being reported one by one; one that
// ended before is reported as usual and not returned.
func TestShutdownReturnsConnections(t *testing.T) {
	b, _, h := startBroker(t, Config{})
	a := dialRaw(t, b, 4)
	a.login(imeiA, passA)
	ca := h.expect(t, "connected")
	b1 := dialRaw(t, b, 5)
	b1.login(imeiB, passB)
	h.expect(t, "connected")
	_ = b1.c.Close()
	h.expect(t, "disconnected")
	b2 := dialRaw(t, b, 5)
	b2.login(imeiB, passB)
	cb := h.expect(t, "connected")
	require.Equal(t, 2, b.Count())

	gone := b.Shutdown()
	h.none(t)
	assert.ElementsMatch(t, []uint64{ca.c.ConnID, cb.c.ConnID}, []uint64{gone[0].ConnID, gone[1].ConnID})
	for _, c := range gone {
		assert.NotZero(t, c.ModemID)
		assert.Equal(t, uint64(c.At.UnixMicro()), c.Epoch())
	}
	assert.Zero(t, b.Count())
	a.expectClosed()
	b2.expectClosed()
	assert.Nil(t, b.Shutdown(), "second Shutdown")
	assert.NoError(t, b.Close())
}

// TestShutdownAfterClose: Close reports every connection; a later Shutdown
// has nothing to return.
func TestShutdownAfterClose(t *testing.T) {
	b, _, h := startBroker(t, Config{})
	a := dialRaw(t, b, 4)
	a.login(imeiA, passA)
	h.expect(t, "connected")
	require.NoError(t, b.Close())
	d := h.expect(t, "disconnected")
	assert.False(t, d.takenOver)
	assert.Nil(t, b.Shutdown())
}

// TestDrain: Drain refuses new connections, keeps the established ones open
// (they still get PINGRESP) and returns them; from then on the Handler hears
// nothing — an uplink is neither handed over nor acknowledged (the modem
// sends it again on its next connection), a SUBSCRIBE is not reported, and
// a connection that ends is returned, not reported. Shutdown then closes
// every socket and has nothing more to return.
func TestDrain(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(map[bool]string{false: "sync", true: "async"}[async], func(t *testing.T) {
			var b *Broker
			var h *fakeHandler
			if async {
				var ah *asyncHandler
				b, ah = startAsyncBroker(t, Config{})
				h = ah.fakeHandler
				t.Cleanup(func() { ah.noCall(t, 0) })
			} else {
				b, _, h = startBroker(t, Config{})
			}
			a := dialRaw(t, b, 4)
			a.login(imeiA, passA)
			ca := h.expect(t, "connected")
			m := dialRaw(t, b, 5)
			m.login(imeiB, passB)
			cb := h.expect(t, "connected")
			pre := dialRaw(t, b, 4) // accepted, no CONNECT yet

			gone := b.Drain()
			require.Len(t, gone, 2)
			assert.ElementsMatch(t, []uint64{ca.c.ConnID, cb.c.ConnID}, []uint64{gone[0].ConnID, gone[1].ConnID})
			assert.Nil(t, b.Drain(), "second Drain")
			pre.expectClosed()
			_, err := net.Dial("tcp", b.Addr().String())
			require.Error(t, err, "new connections are refused")

			a.ping()
			a.publish(protocol.TopicFor(imeiA, protocol.ClassVend), []byte("{}"), 1, 7, false)
			a.publish(protocol.TopicFor(imeiA, protocol.ClassHeartbeat), []byte("{}"), 0, 0, false)
			a.noPacket(100 * time.Millisecond) // no PUBACK
			a.ping()
			assert.Equal(t, []byte{1}, a.subscribe(3, protocol.CommandRequestFilter(imeiA)))
			require.ErrorIs(t, b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, "c1"), []byte("{}"), 1), ErrClosed)
			if !async {
				_ = m.c.Close() // a modem that leaves while the gateway saves its state
				waitUntil(t, func() bool { return b.Count() == 1 })
			}
			h.none(t)

			assert.Nil(t, b.Shutdown())
			a.expectClosed(packets.Puback)
			if async { // MQTT 5: told why
				d := m.mustRead(packets.Disconnect)
				assert.Equal(t, packets.ErrServerShuttingDown.Code, d.ReasonCode)
				m.expectClosed()
			}
			h.none(t)
			assert.Zero(t, b.Count())
		})
	}
}

// waitUntil polls ok for up to wait.
func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	end := time.Now().Add(wait)
	for !ok() {
		require.False(t, time.Now().After(end), "condition not met within %v", wait)
		time.Sleep(time.Millisecond)
	}
}
