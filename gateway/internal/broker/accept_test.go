package broker

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// failingListener fails its first n Accepts the way a full file-descriptor
// table does (the pending connection stays queued in the kernel).
type failingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.n.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(),
			Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// A reconnect storm that meets the open-file limit made Accept fail once, and
// the accept loop returned: every modem not yet connected stayed out for good
// (the kernel went on completing their handshakes into the listen queue).
func TestAcceptErrorsDoNotStopTheBroker(t *testing.T) {
	wrapListener = func(l net.Listener) net.Listener {
		f := &failingListener{Listener: l}
		f.n.Store(3)
		return f
	}
	t.Cleanup(func() { wrapListener = func(l net.Listener) net.Listener { return l } })
	before := acceptRetries.Load()
	b, _, h := startBroker(t, Config{})
	_, err := pahoClient(t, b, imeiA, imeiA, passA, nil)
	require.NoError(t, err, "the broker stopped accepting after EMFILE")
	h.expect(t, "connected")
	require.EqualValues(t, 3, acceptRetries.Load()-before)
	// And it still stops cleanly.
	require.NoError(t, b.Close())
}
