package broker

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
