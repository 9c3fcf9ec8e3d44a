package broker

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quickAuth accepts modem A from memory and leaves everything else to
// fakeAuth.Authenticate.
type quickAuth struct {
	*fakeAuth
	quick atomic.Int32
}

func (q *quickAuth) AuthenticateQuick(imei, password string) (int64, bool) {
	q.quick.Add(1)
	if imei == imeiA && password == passA {
		return 1, true
	}
	return 0, false
}

// A login the Authenticator accepts from memory is established without an
// Authenticate call; one it cannot vouch for (another modem, a wrong
// password) still goes through Authenticate, which decides.
func TestQuickAuthenticate(t *testing.T) {
	auth, h := &quickAuth{fakeAuth: &fakeAuth{}}, newFakeHandler()
	b, err := New(Config{Listen: "127.0.0.1:0", Logger: quietLogger()}, auth, h)
	require.NoError(t, err)
	require.NoError(t, b.Start())
	t.Cleanup(func() { _ = b.Close() })

	a := dialRaw(t, b, 4)
	a.login(imeiA, passA)
	c := h.expect(t, "connected")
	assert.Equal(t, int64(1), c.c.ModemID)
	assert.Zero(t, auth.calls.Load(), "no Authenticate call")

	m := dialRaw(t, b, 4)
	m.login(imeiB, passB)
	c = h.expect(t, "connected")
	assert.Equal(t, int64(2), c.c.ModemID)
	assert.Equal(t, int32(1), auth.calls.Load(), "B went through Authenticate")

	bad := dialRaw(t, b, 4)
	ack := bad.connect(connectPacket(imeiA, imeiA, "wrong", 60))
	assert.NotZero(t, ack.ReasonCode, "a wrong password is refused")
	assert.Equal(t, int32(2), auth.calls.Load())
	assert.Equal(t, int32(3), auth.quick.Load())
}
