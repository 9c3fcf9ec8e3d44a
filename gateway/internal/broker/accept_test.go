package broker

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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

// serveListener.Close must not run mochi's closeClients (see its comment: it
// can deadlock against disconnecting clients); Broker.Close ends them itself.
func TestServeListenerCloseLeavesClientsToTheBroker(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &serveListener{ln: &listener{Listener: inner}}
	called := false
	s.Close(func(string) { called = true })
	require.False(t, called, "mochi's closeClients was called")
	_, err = inner.Accept()
	require.ErrorIs(t, err, net.ErrClosed, "the socket is closed")
}

// Close with many connected modems ends every connection and returns.
func TestCloseWithManyClients(t *testing.T) {
	h := newFakeHandler()
	b, err := New(Config{Listen: "127.0.0.1:0", Logger: quietLogger()}, anyModem{}, h)
	require.NoError(t, err)
	require.NoError(t, b.Start())
	t.Cleanup(func() { _ = b.Close() })
	const n = 200
	conns := make([]*raw, n)
	for i := range conns {
		conns[i] = dialRaw(t, b, 4)
		imei := fmt.Sprintf("35693803%07d", i)
		conns[i].connect(connectPacket(imei, imei, passA, 30))
	}
	for range n {
		h.expect(t, "connected")
	}
	done := make(chan struct{})
	go func() { _ = b.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	for _, r := range conns {
		r.expectClosed()
	}
}

// anyModem accepts every IMEI with the password passA.
type anyModem struct{}

func (anyModem) Authenticate(_ context.Context, imei, password string) (int64, error) {
	if password != passA {
		return 0, ErrBadCredentials
	}
	var id int64
	_, _ = fmt.Sscan(imei, &id)
	return id, nil
}

// Corked writes reach the socket in one write, in call order; uncorked ones
// pass straight through.
func TestCorkGathersWrites(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &conn{Conn: a}
	got := make(chan string, 4)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := b.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n]) // net.Pipe: one Read per Write
		}
	}()
	c.cork()
	for _, p := range []string{"\x40\x02\x00\x01", "\x40\x02\x00\x02", "\x40\x02\x00\x03"} {
		n, err := c.Write([]byte(p))
		require.NoError(t, err)
		require.Equal(t, len(p), n)
	}
	select {
	case s := <-got:
		t.Fatalf("a corked write reached the socket: %q", s)
	default:
	}
	require.NoError(t, c.uncork())
	require.Equal(t, "\x40\x02\x00\x01\x40\x02\x00\x02\x40\x02\x00\x03", <-got, "one write, in order")
	_, err := c.Write([]byte("x"))
	require.NoError(t, err)
	require.Equal(t, "x", <-got)
	require.NoError(t, c.uncork(), "uncork with nothing gathered writes nothing")
}

// Nothing stays retained in mochi after Start (its $SYS topics are dropped),
// and a modem's subscription leaves it so.
func TestNothingRetained(t *testing.T) {
	b, _, h := startBroker(t, Config{})
	require.Zero(t, b.srv.Topics.Retained.Len(), "retained after Start")
	c, err := pahoClient(t, b, imeiA, imeiA, passA, nil)
	require.NoError(t, err)
	h.expect(t, "connected")
	tok := c.Subscribe("vm/v1/"+imeiA+"/cmd/req/+", 1, nil)
	require.True(t, tok.WaitTimeout(wait))
	require.NoError(t, tok.Error())
	require.Zero(t, b.srv.Topics.Retained.Len())
}
