package broker

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/protocol"
)

// inflight returns the inflight store of imei's mochi client.
func inflight(t testing.TB, b *Broker, imei string) *mqtt.Inflight {
	t.Helper()
	c := b.lookup(imei)
	require.NotNil(t, c, "%s not connected", imei)
	return c.client().State.Inflight
}

// A real MQTT client (paho, 3.1.1) gets a QoS 1 command with a packet id and
// acknowledges it; mochi's processing of that PUBACK empties the client's
// inflight store, the broker's count and reports Delivered.
func TestCommandPubackClearsInflight(t *testing.T) {
	b, _, h := startBroker(t, Config{})
	got := make(chan paho.Message, 1)
	c, err := pahoClient(t, b, imeiA, imeiA, passA, nil)
	require.NoError(t, err)
	h.expect(t, "connected")
	tok := c.Subscribe(protocol.CommandRequestFilter(imeiA), 1, func(_ paho.Client, m paho.Message) { got <- m })
	require.True(t, tok.WaitTimeout(wait))
	require.NoError(t, tok.Error())
	h.expect(t, "subscribed")

	topic := protocol.CommandRequestTopic(imeiA, "cmd-1")
	require.NoError(t, b.Publish(imeiA, topic, []byte(`{"v":1}`), 1))
	select {
	case m := <-got:
		assert.Equal(t, topic, m.Topic())
		assert.Equal(t, byte(1), m.Qos())
		assert.NotZero(t, m.MessageID(), "a QoS 1 PUBLISH has a packet id")
		assert.False(t, m.Retained())
		assert.False(t, m.Duplicate())
	case <-time.After(wait):
		t.Fatal("command not delivered")
	}
	assert.Equal(t, topic, h.expect(t, "delivered").topic)
	assert.Zero(t, inflight(t, b, imeiA).Len(), "the PUBACK cleared the inflight entry")
	assert.Zero(t, b.Stats().Inflight)
}

// With a bare client, for MQTT 3.1.1 and 5: the command's packet id is the
// one in the inflight store until the modem's PUBACK removes it; the payload
// the caller passed may be reused at once.
func TestCommandInflightUntilPuback(t *testing.T) {
	for _, ver := range []byte{4, 5} {
		t.Run(fmt.Sprintf("v%d", ver), func(t *testing.T) {
			b, _, h := startBroker(t, Config{})
			r := subscribedRaw(t, b, h, ver)

			topic := protocol.CommandRequestTopic(imeiA, "c1")
			payload := []byte(`{"v":1,"id":"c1"}`)
			require.NoError(t, b.Publish(imeiA, topic, payload, 1))
			copy(payload, "XXXXXXXX") // the caller's buffer is its own again
			pk := r.mustRead(packets.Publish)
			assert.Equal(t, topic, pk.TopicName)
			assert.Equal(t, `{"v":1,"id":"c1"}`, string(pk.Payload))
			assert.Equal(t, byte(1), pk.FixedHeader.Qos)
			assert.False(t, pk.FixedHeader.Retain)
			assert.NotZero(t, pk.PacketID)
			if ver == 5 {
				assert.Positive(t, pk.Properties.MessageExpiryInterval, "expiry as mochi stamps it")
			}

			in := inflight(t, b, imeiA)
			stored, ok := in.Get(pk.PacketID)
			require.True(t, ok, "packet id %d not in flight", pk.PacketID)
			assert.Equal(t, topic, stored.TopicName)
			assert.Equal(t, `{"v":1,"id":"c1"}`, string(stored.Payload), "the inflight copy is the broker's")
			assert.EqualValues(t, 1, b.Stats().Inflight)
			h.none(t)

			r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
			assert.Equal(t, topic, h.expect(t, "delivered").topic)
			assert.Zero(t, in.Len())
			assert.Zero(t, b.Stats().Inflight)
			r.ping()
		})
	}
}

// A modem subscribed at QoS 0 gets commands at QoS 0: no packet id, nothing
// in flight, no Delivered (as mochi delivers at the lower QoS). A QoS 0
// Publish is written the same way.
func TestCommandQoS0(t *testing.T) {
	b, _, h := startBroker(t, Config{})
	r := dialRaw(t, b, 4)
	r.login(imeiA, passA)
	h.expect(t, "connected")
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: protocol.CommandRequestFilter(imeiA), Qos: 0}}})
	require.Equal(t, []byte{0}, r.mustRead(packets.Suback).ReasonCodes)
	h.expect(t, "subscribed")

	require.NoError(t, b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, "a"), []byte("1"), 1))
	require.NoError(t, b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, "b"), []byte("2"), 0))
	for _, want := range []string{"1", "2"} {
		pk := r.mustRead(packets.Publish)
		assert.Equal(t, want, string(pk.Payload))
		assert.Zero(t, pk.FixedHeader.Qos)
		assert.Zero(t, pk.PacketID)
	}
	assert.Zero(t, inflight(t, b, imeiA).Len())
	r.ping()
	h.none(t)
}

// MQTT 5: an identifier the modem gave its subscription comes back with
// every command (MQTT 5 §3.3.4), and no more commands await a PUBACK than
// the modem's Receive Maximum.
func TestCommandV5SubscriptionAndReceiveMaximum(t *testing.T) {
	b, _, h := startBroker(t, Config{})
	r := dialRaw(t, b, 5)
	pk := connectPacket(imeiA, imeiA, passA, 60)
	pk.Properties.ReceiveMaximum = 1
	require.Zero(t, r.connect(pk).ReasonCode)
	h.expect(t, "connected")
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Properties: packets.Properties{SubscriptionIdentifier: []int{7}},
		Filters:    packets.Subscriptions{{Filter: protocol.CommandRequestFilter(imeiA), Qos: 1}}})
	require.Equal(t, []byte{1}, r.mustRead(packets.Suback).ReasonCodes)
	h.expect(t, "subscribed")

	require.NoError(t, b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, "a"), nil, 1))
	assert.ErrorIs(t, b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, "b"), nil, 1), ErrInflightFull)
	cmd := r.mustRead(packets.Publish)
	assert.Equal(t, []int{7}, cmd.Properties.SubscriptionIdentifier)
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: cmd.PacketID})
	h.expect(t, "delivered")
	require.NoError(t, b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, "b"), nil, 1))
	assert.Equal(t, protocol.CommandRequestTopic(imeiA, "b"), r.mustRead(packets.Publish).TopicName)
}

// Commands to one modem arrive in the order they were published, with
// increasing packet ids, and each PUBACK, in any order, completes its own.
func TestCommandOrder(t *testing.T) {
	const n = 20
	b, _, h := startBroker(t, Config{InflightMax: n})
	r := subscribedRaw(t, b, h, 4)
	for i := range n {
		require.NoError(t, b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, fmt.Sprint("c", i)), []byte(fmt.Sprint(i)), 1))
	}
	ids := make([]uint16, n)
	for i := range n {
		pk := r.mustRead(packets.Publish)
		require.Equal(t, protocol.CommandRequestTopic(imeiA, fmt.Sprint("c", i)), pk.TopicName)
		require.Equal(t, fmt.Sprint(i), string(pk.Payload))
		ids[i] = pk.PacketID
		if i > 0 {
			require.Greater(t, ids[i], ids[i-1])
		}
	}
	for i := n - 1; i >= 0; i-- {
		r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: ids[i]})
		assert.Equal(t, protocol.CommandRequestTopic(imeiA, fmt.Sprint("c", i)), h.expect(t, "delivered").topic)
	}
	assert.Zero(t, inflight(t, b, imeiA).Len())
}

// Commands written while the broker writes corked batches of PUBACKs (an
// AsyncHandler completing uplinks on other goroutines) keep the stream
// whole: the modem parses every PUBACK, in uplink order, and every command,
// in publish order.
func TestCommandsBetweenPubackBatches(t *testing.T) {
	const n = 50
	auth, h := &fakeAuth{}, &asyncHandler{fakeHandler: newFakeHandler(), calls: make(chan call, n)}
	b, err := New(Config{Listen: "127.0.0.1:0", Logger: quietLogger(), InflightMax: n, UplinkWindow: n}, auth, h)
	require.NoError(t, err)
	require.NoError(t, b.Start())
	t.Cleanup(func() { _ = b.Close() })
	r := subscribedRaw(t, b, h.fakeHandler, 4)

	for i := range n {
		r.publish(protocol.TopicFor(imeiA, protocol.ClassHeartbeat), []byte("{}"), 1, uint16(1000+i), false)
	}
	calls := make([]call, n)
	for i := range calls {
		calls[i] = h.nextCall(t)
	}
	var wg sync.WaitGroup
	wg.Go(func() { // complete the uplinks in bursts: flushAcks corks each burst
		for i := 0; i < n; i += 5 {
			for j := i + 4; j >= i; j-- { // the oldest last: the burst goes out as one batch
				calls[j].done(nil)
			}
		}
	})
	for i := range n {
		require.NoError(t, b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, fmt.Sprint("c", i)), []byte(fmt.Sprint(i)), 1))
	}
	wg.Wait()
	acks, cmds := 0, 0
	for acks+cmds < 2*n {
		pk, err := r.read()
		require.NoError(t, err, "after %d PUBACKs and %d commands", acks, cmds)
		switch pk.FixedHeader.Type {
		case packets.Puback:
			require.Equal(t, uint16(1000+acks), pk.PacketID)
			acks++
		case packets.Publish:
			require.Equal(t, fmt.Sprint(cmds), string(pk.Payload))
			cmds++
		default:
			t.Fatalf("unexpected packet %+v", pk)
		}
	}
	r.ping()
}

// stallListener gives every accepted connection a small socket send buffer,
// so that a modem that does not read blocks the broker's writes after a few
// kilobytes.
type stallListener struct{ net.Listener }

func (l stallListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return nc, err
}

// A modem that stops reading cannot hold the callers of Publish: once its
// socket is full, a Publish returns ErrQueueFull within WriteTimeout, the
// connection is closed (part of a PUBLISH may be on the wire) and reported
// with ErrQueueFull; concurrent callers return as promptly.
func TestPublishToModemNotReading(t *testing.T) {
	const timeout = 200 * time.Millisecond
	b, h, nc := stalledModem(t, Config{WriteTimeout: timeout, InflightMax: 200})

	// The modem reads nothing more. Four callers publish 16 KB commands
	// until the broker gives up on the modem.
	payload := make([]byte, 16<<10)
	type result struct {
		err  error
		took time.Duration
	}
	results := make(chan result, 200)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				t0 := time.Now()
				err := b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, fmt.Sprintf("c%d-%d", g, i)), payload, 1)
				results <- result{err, time.Since(t0)}
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	close(results)
	var full time.Duration // the longest call that gave up
	for res := range results {
		assert.Less(t, res.took, timeout+time.Second, "Publish held its caller (%v)", res.err)
		switch {
		case res.err == nil:
		case errors.Is(res.err, ErrQueueFull): // timed out, or waited for the one that did
			full = max(full, res.took)
		case errors.Is(res.err, ErrNotConnected): // after the connection closed
		default:
			t.Errorf("unexpected error %v", res.err)
		}
	}
	assert.GreaterOrEqual(t, full, timeout, "no Publish gave up on the modem after WriteTimeout")

	e := h.expect(t, "disconnected")
	assert.ErrorIs(t, e.err, ErrQueueFull)
	assert.False(t, e.takenOver)
	assert.False(t, b.Connected(imeiA))
	assert.ErrorIs(t, b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, "late"), nil, 1), ErrNotConnected)
	assert.Eventually(t, func() bool { return b.Stats().Inflight == 0 }, wait, time.Millisecond)
	assert.Positive(t, b.Stats().MessagesDropped)
	// What reached the socket is readable; then it is closed.
	_ = nc.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 64<<10)
	for {
		if _, err := nc.Read(buf); err != nil {
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "socket still open")
			break
		}
	}
}

// A Publish that comes while flushAcks has the connection corked still
// writes its command to the socket under its own bound: to a modem that
// reads nothing it gives up within WriteTimeout, the connection ends, and
// the corked batch's uncork does not hang on it either.
func TestPublishWhileCorked(t *testing.T) {
	const timeout = 200 * time.Millisecond
	b, h, _ := stalledModem(t, Config{WriteTimeout: timeout})

	c := b.lookup(imeiA)
	require.NotNil(t, c)
	c.cork() // as flushAcks does around a batch of PUBACKs
	t0 := time.Now()
	err := b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, "big"), make([]byte, 256<<10), 1)
	took := time.Since(t0)
	require.ErrorIs(t, err, ErrQueueFull, "Publish returned before its command was in the socket")
	assert.GreaterOrEqual(t, took, timeout)
	assert.Less(t, took, timeout+time.Second)

	uncorked := make(chan error, 1)
	go func() { uncorked <- c.uncork() }()
	select {
	case <-uncorked:
	case <-time.After(wait):
		t.Fatal("uncork still blocked on a modem that does not read")
	}
	e := h.expect(t, "disconnected")
	assert.ErrorIs(t, e.err, ErrQueueFull)
	assert.Eventually(t, func() bool { return b.Stats().Inflight == 0 }, wait, time.Millisecond)
}

// stalledModem starts a broker whose sockets have small send buffers
// (stallListener) and connects modem A, subscribed to its commands, over a
// socket with a small receive buffer: once the test stops reading nc, a few
// commands fill both.
func stalledModem(t *testing.T, cfg Config) (*Broker, *fakeHandler, net.Conn) {
	t.Helper()
	wrapListener = func(l net.Listener) net.Listener { return stallListener{l} }
	t.Cleanup(func() { wrapListener = func(l net.Listener) net.Listener { return l } })
	b, _, h := startBroker(t, cfg)
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	nc, err := d.Dial("tcp", b.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	r := &raw{t: t, c: nc, r: bufio.NewReader(nc), ver: 4}
	r.login(imeiA, passA)
	h.expect(t, "connected")
	r.subscribe(1, protocol.CommandRequestFilter(imeiA))
	h.expect(t, "subscribed")
	return b, h, nc
}
