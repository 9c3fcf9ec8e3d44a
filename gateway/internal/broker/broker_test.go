package broker

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/protocol"
)

func TestGoodLogin(t *testing.T) {
	b, _, h := startBroker(t, Config{})
	c, err := pahoClient(t, b, imeiA, imeiA, passA, nil)
	require.NoError(t, err)

	e := h.expect(t, "connected")
	assert.Equal(t, imeiA, e.c.IMEI)
	assert.Equal(t, int64(1), e.c.ModemID)
	assert.NotZero(t, e.c.ConnID)
	assert.NotEmpty(t, e.c.Remote)
	assert.True(t, b.Connected(imeiA))
	assert.False(t, b.Connected(imeiB))
	assert.Equal(t, 1, b.Count())
	assert.Equal(t, 1, b.Stats().Clients)

	c.Disconnect(100)
	d := h.expect(t, "disconnected")
	assert.Equal(t, e.c.ConnID, d.c.ConnID)
	assert.False(t, d.takenOver)
	assert.NoError(t, d.err, "clean DISCONNECT")
	assert.False(t, b.Connected(imeiA))
	assert.Equal(t, 0, b.Count())

	// A second connection gets a larger ConnID.
	_, err = pahoClient(t, b, imeiA, imeiA, passA, nil)
	require.NoError(t, err)
	assert.Greater(t, h.expect(t, "connected").c.ConnID, e.c.ConnID)
}

func TestConnectRefused(t *testing.T) {
	willOther := connectPacket(imeiA, imeiA, passA, 60)
	willOther.Connect.WillFlag = true
	willOther.Connect.WillTopic = protocol.TopicFor(imeiB, protocol.ClassState)
	willOther.Connect.WillPayload = []byte("x")
	willCmd := connectPacket(imeiA, imeiA, passA, 60)
	willCmd.Connect.WillFlag = true
	willCmd.Connect.WillTopic = protocol.CommandRequestTopic(imeiA, "x1")
	willCmd.Connect.WillPayload = []byte("x")

	tests := []struct {
		name     string
		pk       packets.Packet
		authFail error
		v3, v5   byte
		authed   bool // the Authenticator is consulted
	}{
		{"wrong password", connectPacket(imeiA, imeiA, "nope", 60), nil, 0x05, 0x86, true},
		{"unknown imei", connectPacket("356938035643825", "356938035643825", passA, 60), nil, 0x05, 0x86, true},
		{"no password", connectPacket(imeiA, imeiA, "", 60), nil, 0x05, 0x86, false},
		{"client id differs from username", connectPacket(imeiA, imeiB, passB, 60), nil, 0x05, 0x86, false},
		{"client id not an imei", connectPacket("modem-1", "modem-1", passA, 60), nil, 0x02, 0x85, false},
		{"keepalive 0", connectPacket(imeiA, imeiA, passA, 0), nil, 0x05, 0x83, false},
		{"keepalive too large", connectPacket(imeiA, imeiA, passA, 1201), nil, 0x05, 0x83, false},
		{"will on another modem's topic", willOther, nil, 0x05, 0x87, false},
		{"will on a command topic", willCmd, nil, 0x05, 0x87, false},
		{"authenticator down", connectPacket(imeiA, imeiA, passA, 60), errors.New("db down"), 0x03, 0x88, true},
	}
	for _, ver := range []byte{4, 5} {
		for _, tc := range tests {
			t.Run(tc.name+"/v"+string('0'+ver), func(t *testing.T) {
				b, auth, h := startBroker(t, Config{})
				if tc.authFail != nil {
					auth.fail.Store(tc.authFail)
				}
				r := dialRaw(t, b, ver)
				ack := r.connect(tc.pk)
				want := tc.v3
				if ver == 5 {
					want = tc.v5
				}
				assert.Equal(t, want, ack.ReasonCode)
				r.expectClosed(packets.Connack)
				assert.Equal(t, tc.authed, auth.calls.Load() > 0, "authenticator consulted")
				h.none(t)
				assert.Equal(t, 0, b.Count())
			})
		}
	}
}

func TestPahoRefused(t *testing.T) {
	b, _, h := startBroker(t, Config{})
	_, err := pahoClient(t, b, imeiA, imeiA, "wrong", nil)
	require.Error(t, err)
	_, err = pahoClient(t, b, imeiA, imeiA, passA, func(o *paho.ClientOptions) { o.SetKeepAlive(0) })
	require.Error(t, err)
	h.none(t)
}

func TestAuthConcurrencyBounded(t *testing.T) {
	b, auth, h := startBroker(t, Config{AuthConcurrency: 2})
	auth.gate = make(chan struct{})
	const n = 6
	var wg sync.WaitGroup
	codes := make([]byte, n)
	raws := make([]*raw, n)
	for i := range n {
		r := dialRaw(t, b, 4)
		raws[i] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.send(connectPacket(imeiA, imeiA, passA, 60))
			pk, err := r.read()
			if err == nil {
				codes[i] = pk.ReasonCode
			}
		}()
	}
	require.Eventually(t, func() bool { return auth.active.Load() == 2 }, wait, time.Millisecond)
	close(auth.gate)
	wg.Wait()
	assert.Equal(t, int32(2), auth.maxSeen.Load())
	assert.Equal(t, make([]byte, n), codes, "none refused")
	// n connections of the same modem: each took over the previous one;
	// exactly one remains.
	require.Eventually(t, func() bool { return b.Count() == 1 && b.Connected(imeiA) }, wait, time.Millisecond, "count %d connected %v codes %v", b.Count(), b.Connected(imeiA), codes)

	// Presence events of one modem do not interleave: each connection is
	// reported taken over before the next one is reported connected.
	var last Conn
	for i := range 2*n - 1 {
		e := h.next(t)
		if i%2 == 0 {
			require.Equal(t, "connected", e.kind, "event %d: %+v", i, e)
			last = e.c
			continue
		}
		require.Equal(t, "disconnected", e.kind, "event %d: %+v", i, e)
		assert.Equal(t, last.ConnID, e.c.ConnID, "event %d", i)
		assert.True(t, e.takenOver, "event %d", i)
	}
	h.none(t)

	// Exactly one socket is still served, and it is mochi's client of the
	// modem (the one a command would be delivered to).
	alive := 0
	for _, r := range raws {
		r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
		for {
			pk, err := r.read()
			if err != nil {
				break
			}
			if pk.FixedHeader.Type == packets.Pingresp {
				alive++
				break
			}
		}
	}
	assert.Equal(t, 1, alive)
	cl, ok := b.srv.Clients.Get(imeiA)
	require.True(t, ok)
	assert.Same(t, b.lookup(imeiA).client(), cl)
	assert.Equal(t, last.ConnID, b.lookup(imeiA).info.ConnID)
}

// A socket that never sends CONNECT is closed at ConnectTimeout.
func TestConnectDeadline(t *testing.T) {
	b, _, _ := startBroker(t, Config{ConnectTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", b.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	start := time.Now()
	require.NoError(t, c.SetReadDeadline(start.Add(wait)))
	_, err = c.Read(make([]byte, 1))
	took := time.Since(start)
	require.Error(t, err)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "broker did not close the silent socket")
	assert.GreaterOrEqual(t, took, 150*time.Millisecond)
	assert.Less(t, took, 2*time.Second)
}

// The keepalive deadline replaces the CONNECT deadline.
func TestConnectDeadlineReplacedAfterConnect(t *testing.T) {
	b, _, h := startBroker(t, Config{ConnectTimeout: 100 * time.Millisecond})
	r := dialRaw(t, b, 4)
	r.login(imeiA, passA)
	h.expect(t, "connected")
	time.Sleep(300 * time.Millisecond) // real socket: past the CONNECT deadline
	r.ping()
}

func TestPublishACL(t *testing.T) {
	other := protocol.TopicFor(imeiB, protocol.ClassHeartbeat)
	own := protocol.TopicFor(imeiA, protocol.ClassHeartbeat)

	t.Run("qos0 to another modem is dropped", func(t *testing.T) {
		b, _, h := startBroker(t, Config{})
		r := dialRaw(t, b, 4)
		r.login(imeiA, passA)
		h.expect(t, "connected")
		for _, topic := range []string{other, protocol.CommandRequestTopic(imeiA, "c1"), "vm/v1/" + imeiA + "/tele/hb/x", "$SYS/x", "other"} {
			r.publish(topic, []byte("x"), 0, 0, false)
		}
		r.publish(own, []byte("mine"), 1, 7, false)
		assert.Equal(t, uint16(7), r.mustRead(packets.Puback).PacketID)
		e := h.expect(t, "publish") // the first publish the handler sees is the allowed one
		assert.Equal(t, own, e.topic)
		assert.Equal(t, []byte("mine"), e.payload)
		h.none(t)
	})
	// MQTT 3.1.1 cannot refuse a QoS 1 message; mochi closes the connection
	// without a PUBACK.
	t.Run("qos1 v3.1.1 closes the connection", func(t *testing.T) {
		b, _, h := startBroker(t, Config{})
		r := dialRaw(t, b, 4)
		r.login(imeiA, passA)
		h.expect(t, "connected")
		r.publish(other, []byte("x"), 1, 1, false)
		r.expectClosed(packets.Puback)
		e := h.expect(t, "disconnected")
		assert.Error(t, e.err)
	})
	t.Run("qos1 v5 gets PUBACK not authorized", func(t *testing.T) {
		b, _, h := startBroker(t, Config{})
		r := dialRaw(t, b, 5)
		r.login(imeiA, passA)
		h.expect(t, "connected")
		r.publish(other, []byte("x"), 1, 3, false)
		ack := r.mustRead(packets.Puback)
		assert.Equal(t, uint16(3), ack.PacketID)
		assert.Equal(t, packets.ErrNotAuthorized.Code, ack.ReasonCode)
		r.ping()
		h.none(t)
	})
}

func TestSubscribeACL(t *testing.T) {
	for _, ver := range []byte{4, 5} {
		b, _, h := startBroker(t, Config{})
		r := dialRaw(t, b, ver)
		r.login(imeiA, passA)
		h.expect(t, "connected")
		refused := byte(0x80)
		if ver == 5 {
			refused = packets.ErrNotAuthorized.Code
		}
		codes := r.subscribe(1,
			protocol.CommandRequestFilter(imeiB),
			"#",
			"vm/v1/+/cmd/req/+",
			"$SYS/#",
			protocol.Prefix(imeiA)+"#",
			protocol.TopicFor(imeiA, protocol.ClassHeartbeat),
			"$share/g/"+protocol.CommandRequestFilter(imeiA),
		)
		for i, c := range codes {
			assert.Equal(t, refused, c, "filter %d, v%d", i, ver)
		}
		h.none(t)
		assert.Equal(t, []byte{1, 1}, r.subscribe(2, protocol.CommandRequestFilter(imeiA), protocol.CommandRequestTopic(imeiA, "c-9")))
		assert.Equal(t, imeiA, h.expect(t, "subscribed").c.IMEI)
		h.none(t) // one Subscribed per SUBSCRIBE packet
	}
}

// Handler.Publish runs before the PUBACK: the client's token completes only
// after the handler returns.
func TestUplinkBeforePuback(t *testing.T) {
	b, _, h := startBroker(t, Config{})
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	h.publish = func(Conn, string, []byte) error {
		entered <- struct{}{}
		<-release
		return nil
	}
	c, err := pahoClient(t, b, imeiA, imeiA, passA, nil)
	require.NoError(t, err)
	h.expect(t, "connected")

	topic := protocol.TopicFor(imeiA, protocol.ClassState)
	tok := c.Publish(topic, 1, true, []byte(`{"online":true}`))
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("handler not called")
	}
	assert.False(t, tok.WaitTimeout(150*time.Millisecond), "PUBACK before the handler returned")
	close(release)
	require.True(t, tok.WaitTimeout(wait))
	require.NoError(t, tok.Error())

	e := h.expect(t, "publish")
	assert.Equal(t, topic, e.topic)
	assert.Equal(t, byte(1), e.qos)
	assert.True(t, e.retain)
	// Uplinks are neither retained nor forwarded by mochi.
	assert.Empty(t, b.srv.Topics.Messages(topic))
}

func TestHandlerErrorNoPuback(t *testing.T) {
	for _, ver := range []byte{4, 5} {
		t.Run("v"+string('0'+ver), func(t *testing.T) {
			b, _, h := startBroker(t, Config{})
			dbDown := errors.New("db down")
			h.publish = func(Conn, string, []byte) error { return dbDown }
			r := dialRaw(t, b, ver)
			r.login(imeiA, passA)
			h.expect(t, "connected")
			r.publish(protocol.TopicFor(imeiA, protocol.ClassVend), []byte("{}"), 1, 5, false)
			r.expectClosed(packets.Puback)
			h.expect(t, "publish")
			e := h.expect(t, "disconnected")
			assert.ErrorIs(t, e.err, ErrHandler)
			assert.ErrorIs(t, e.err, dbDown)
			assert.False(t, e.takenOver)
			assert.False(t, b.Connected(imeiA))
		})
	}
}

func TestErrDropAcknowledged(t *testing.T) {
	b, _, h := startBroker(t, Config{})
	h.publish = func(Conn, string, []byte) error { return ErrDrop }
	r := dialRaw(t, b, 4)
	r.login(imeiA, passA)
	h.expect(t, "connected")
	r.publish(protocol.TopicFor(imeiA, protocol.ClassEvent), []byte("garbage"), 1, 9, false)
	assert.Equal(t, uint16(9), r.mustRead(packets.Puback).PacketID)
	h.expect(t, "publish")
	r.ping()
	assert.True(t, b.Connected(imeiA))
}

func TestPublishToModem(t *testing.T) {
	b, _, h := startBroker(t, Config{})
	topic := protocol.CommandRequestTopic(imeiA, "cmd-1")

	assert.ErrorIs(t, b.Publish(imeiA, topic, []byte("x"), 1), ErrNotConnected)
	assert.ErrorIs(t, b.Publish(imeiA, topic, []byte("x"), 2), ErrQoS)
	assert.ErrorIs(t, b.Publish(imeiB, topic, []byte("x"), 1), ErrTopic)
	assert.ErrorIs(t, b.Publish(imeiA, protocol.TopicFor(imeiA, protocol.ClassState), nil, 1), ErrTopic)

	got := make(chan paho.Message, 1)
	c, err := pahoClient(t, b, imeiA, imeiA, passA, nil)
	require.NoError(t, err)
	h.expect(t, "connected")
	assert.ErrorIs(t, b.Publish(imeiA, topic, []byte("x"), 1), ErrNotSubscribed)

	tok := c.Subscribe(protocol.CommandRequestFilter(imeiA), 1, func(_ paho.Client, m paho.Message) { got <- m })
	require.True(t, tok.WaitTimeout(wait))
	require.NoError(t, tok.Error())
	h.expect(t, "subscribed")
	assertUnindexed(t, b, topic)

	require.NoError(t, b.Publish(imeiA, topic, []byte(`{"v":1}`), 1))
	select {
	case m := <-got:
		assert.Equal(t, topic, m.Topic())
		assert.Equal(t, []byte(`{"v":1}`), m.Payload())
		assert.Equal(t, byte(1), m.Qos())
	case <-time.After(wait):
		t.Fatal("command not delivered")
	}
	e := h.expect(t, "delivered")
	assert.Equal(t, topic, e.topic)
	assert.Equal(t, imeiA, e.c.IMEI)
	assert.Eventually(t, func() bool { return b.Stats().Inflight == 0 }, wait, time.Millisecond)
}

// The modem's PUBACK is told apart from the completion of the modem's own
// QoS 1 publish that uses the same packet id.
func TestDeliveredNotConfusedByUplinkAck(t *testing.T) {
	b, _, h := startBroker(t, Config{})
	r := subscribedRaw(t, b, h, 4)

	topic := protocol.CommandRequestTopic(imeiA, "c7")
	require.NoError(t, b.Publish(imeiA, topic, []byte("go"), 1))
	cmd := r.mustRead(packets.Publish)
	assert.Equal(t, topic, cmd.TopicName)

	r.publish(protocol.CommandResultTopic(imeiA, "c7"), []byte("ok"), 1, cmd.PacketID, false)
	assert.Equal(t, cmd.PacketID, r.mustRead(packets.Puback).PacketID)
	h.expect(t, "publish")
	h.none(t) // no Delivered yet

	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: cmd.PacketID})
	assert.Equal(t, topic, h.expect(t, "delivered").topic)
}

func TestInflightFull(t *testing.T) {
	b, _, h := startBroker(t, Config{InflightMax: 2})
	subscribedRaw(t, b, h, 4) // the connection stays open until the test ends (dialRaw)
	require.NoError(t, b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, "a"), nil, 1))
	require.NoError(t, b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, "b"), nil, 1))
	assert.ErrorIs(t, b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, "c"), nil, 1), ErrInflightFull)
	assert.NoError(t, b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, "d"), nil, 0), "QoS 0 is not tracked")
}

// A second connection of the same modem takes over: the old one is reported
// with takenOver=true, its will reaches neither the Handler nor mochi's
// retained store, and presence stays "connected".
func TestTakeover(t *testing.T) {
	for _, ver := range []byte{4, 5} {
		t.Run("v"+string('0'+ver), func(t *testing.T) {
			b, _, h := startBroker(t, Config{})
			state := protocol.TopicFor(imeiA, protocol.ClassState)
			old := dialRaw(t, b, ver)
			pk := connectPacket(imeiA, imeiA, passA, 60)
			pk.Connect.WillFlag = true
			pk.Connect.WillTopic = state
			pk.Connect.WillRetain = true
			pk.Connect.WillQos = 1
			pk.Connect.WillPayload = []byte(`{"online":false,"reason":"lwt"}`)
			require.Equal(t, byte(0), old.connect(pk).ReasonCode)
			first := h.expect(t, "connected")

			nu := dialRaw(t, b, ver)
			nu.login(imeiA, passA)
			old.expectClosed(packets.Puback)

			var connected, disconnected event
			for range 2 { // order between the two is not defined
				e := h.next(t)
				switch e.kind {
				case "connected":
					connected = e
				case "disconnected":
					disconnected = e
				default:
					t.Fatalf("unexpected event %+v", e)
				}
			}
			assert.Greater(t, connected.c.ConnID, first.c.ConnID)
			assert.Equal(t, first.c.ConnID, disconnected.c.ConnID)
			assert.True(t, disconnected.takenOver)
			assert.ErrorIs(t, disconnected.err, packets.ErrSessionTakenOver)
			h.none(t) // in particular no Publish of the will

			assert.True(t, b.Connected(imeiA))
			assert.Equal(t, 1, b.Count())
			assert.Empty(t, b.srv.Topics.Messages(state), "will retained by mochi")
			nu.ping()
		})
	}
}

// A v3.1.1 modem resuming a persistent session keeps its subscription and
// gets Subscribed without subscribing again.
func TestResumedSessionSubscribed(t *testing.T) {
	b, _, h := startBroker(t, Config{})
	pk := connectPacket(imeiA, imeiA, passA, 60)
	pk.Connect.Clean = false
	r := dialRaw(t, b, 4)
	r.connect(pk)
	h.expect(t, "connected")
	r.subscribe(1, protocol.CommandRequestFilter(imeiA))
	h.expect(t, "subscribed")
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	r.expectClosed()
	h.expect(t, "disconnected")

	r2 := dialRaw(t, b, 4)
	ack := r2.connect(pk)
	assert.True(t, ack.SessionPresent)
	h.expect(t, "connected")
	h.expect(t, "subscribed")
	assertUnindexed(t, b, protocol.CommandRequestTopic(imeiA, "z")) // mochi indexed the inherited one again
	require.NoError(t, b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, "z"), []byte("1"), 1))
	assert.Equal(t, "1", string(r2.mustRead(packets.Publish).Payload))
}

// assertUnindexed checks that no subscription to topic is left in mochi's
// topic index (Broker.unindex), and that its count agrees.
func assertUnindexed(t *testing.T, b *Broker, topic string) {
	t.Helper()
	subs := b.srv.Topics.Subscribers(topic)
	assert.Empty(t, subs.Subscriptions, "subscription left in mochi's topic index")
	assert.Zero(t, atomic.LoadInt64(&b.srv.Info.Subscriptions))
}

func TestDisconnect(t *testing.T) {
	b, _, h := startBroker(t, Config{})
	assert.ErrorIs(t, b.Disconnect(imeiA), ErrNotConnected)
	r := dialRaw(t, b, 5)
	r.login(imeiA, passA)
	h.expect(t, "connected")
	require.NoError(t, b.Disconnect(imeiA))
	assert.Equal(t, packets.ErrAdministrativeAction.Code, r.mustRead(packets.Disconnect).ReasonCode)
	r.expectClosed()
	e := h.expect(t, "disconnected")
	assert.ErrorIs(t, e.err, packets.ErrAdministrativeAction)
	assert.False(t, e.takenOver)
	assert.False(t, b.Connected(imeiA))
}

func TestCloseNoLeaks(t *testing.T) {
	base := runtime.NumGoroutine()
	auth, h := &fakeAuth{}, newFakeHandler()
	b, err := New(Config{Listen: "127.0.0.1:0", Logger: quietLogger()}, auth, h)
	require.NoError(t, err)
	require.NoError(t, b.Start())
	assert.ErrorIs(t, b.Start(), ErrStarted)

	a := dialRaw(t, b, 4)
	a.login(imeiA, passA)
	v5 := dialRaw(t, b, 5)
	v5.login(imeiB, passB)
	h.expect(t, "connected")
	h.expect(t, "connected")
	silent := dialRaw(t, b, 4) // never sends CONNECT; the 10 s deadline must not delay Close
	auth.gate = make(chan struct{})
	authing := dialRaw(t, b, 4) // stuck in authentication
	authing.send(connectPacket(imeiA, imeiA, passA, 60))
	require.Eventually(t, func() bool { return auth.active.Load() == 1 }, wait, time.Millisecond)

	start := time.Now()
	require.NoError(t, b.Close())
	assert.Less(t, time.Since(start), 2*time.Second)
	require.NoError(t, b.Close(), "idempotent")
	assert.ErrorIs(t, b.Start(), ErrClosed)
	assert.ErrorIs(t, b.Publish(imeiA, protocol.CommandRequestTopic(imeiA, "x"), nil, 1), ErrClosed)

	for range 2 {
		e := h.expect(t, "disconnected")
		assert.ErrorIs(t, e.err, packets.ErrServerShuttingDown)
		assert.False(t, e.takenOver)
	}
	h.none(t)
	assert.Equal(t, packets.ErrServerShuttingDown.Code, v5.mustRead(packets.Disconnect).ReasonCode)
	for _, r := range []*raw{a, v5, silent} {
		r.expectClosed()
	}
	// authing's connection closed too (its CONNACK refused or none at all).
	authing.expectClosed(packets.Publish)
	assert.Equal(t, 0, b.Count())

	for _, r := range []*raw{a, v5, silent, authing} {
		_ = r.c.Close()
	}
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before, %d after:\n%s", base, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestCloseWithoutStart(t *testing.T) {
	b, err := New(Config{Logger: quietLogger()}, &fakeAuth{}, newFakeHandler())
	require.NoError(t, err)
	assert.Nil(t, b.Addr())
	require.NoError(t, b.Close())
	require.NoError(t, b.Close())
}

func TestNewValidates(t *testing.T) {
	_, err := New(Config{}, nil, newFakeHandler())
	assert.Error(t, err)
	_, err = New(Config{}, &fakeAuth{}, nil)
	assert.Error(t, err)
}
