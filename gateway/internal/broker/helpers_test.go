package broker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"vendgate/protocol"
)

const (
	imeiA = "356938035643809"
	imeiB = "356938035643817"
	passA = "secret-a"
	passB = "secret-b"
	wait  = 3 * time.Second // upper bound for anything that should happen at once
)

// fakeAuth knows two modems. fail, when set, is returned for every call.
type fakeAuth struct {
	fail    atomic.Value // error
	calls   atomic.Int32
	active  atomic.Int32
	maxSeen atomic.Int32
	gate    chan struct{} // when non-nil, Authenticate waits for it (or ctx)
}

func (f *fakeAuth) Authenticate(ctx context.Context, imei, password string) (int64, error) {
	f.calls.Add(1)
	n := f.active.Add(1)
	defer f.active.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if err, _ := f.fail.Load().(error); err != nil {
		return 0, err
	}
	switch {
	case imei == imeiA && password == passA:
		return 1, nil
	case imei == imeiB && password == passB:
		return 2, nil
	}
	return 0, fmt.Errorf("modem %s: %w", imei, ErrBadCredentials)
}

type event struct {
	kind      string // connected, disconnected, subscribed, publish, delivered
	c         Conn
	takenOver bool
	err       error
	topic     string
	payload   []byte
	qos       byte
	retain    bool
}

// fakeHandler records events; publish, when set, decides Publish's result.
type fakeHandler struct {
	events  chan event
	publish func(c Conn, topic string, payload []byte) error
}

func newFakeHandler() *fakeHandler { return &fakeHandler{events: make(chan event, 4096)} }

func (h *fakeHandler) Connected(c Conn)  { h.events <- event{kind: "connected", c: c} }
func (h *fakeHandler) Subscribed(c Conn) { h.events <- event{kind: "subscribed", c: c} }
func (h *fakeHandler) Disconnected(c Conn, takenOver bool, err error) {
	h.events <- event{kind: "disconnected", c: c, takenOver: takenOver, err: err}
}
func (h *fakeHandler) Delivered(c Conn, topic string) {
	h.events <- event{kind: "delivered", c: c, topic: topic}
}
func (h *fakeHandler) Publish(c Conn, topic string, payload []byte, qos byte, retain bool) error {
	var err error
	if h.publish != nil {
		err = h.publish(c, topic, payload)
	}
	h.events <- event{kind: "publish", c: c, topic: topic, payload: payload, qos: qos, retain: retain}
	return err
}

// next returns the next event; it fails the test if none comes in time.
func (h *fakeHandler) next(t testing.TB) event {
	t.Helper()
	select {
	case e := <-h.events:
		return e
	case <-time.After(wait):
		t.Fatalf("no handler event within %v", wait)
		return event{}
	}
}

// expect returns the next event and checks its kind.
func (h *fakeHandler) expect(t testing.TB, kind string) event {
	t.Helper()
	e := h.next(t)
	require.Equal(t, kind, e.kind, "event %+v", e)
	return e
}

// none checks that no event is pending.
func (h *fakeHandler) none(t testing.TB) {
	t.Helper()
	select {
	case e := <-h.events:
		t.Fatalf("unexpected handler event %+v", e)
	default:
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startBroker starts a broker on a free loopback port.
func startBroker(t testing.TB, cfg Config) (*Broker, *fakeAuth, *fakeHandler) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	auth, h := &fakeAuth{}, newFakeHandler()
	b, err := New(cfg, auth, h)
	require.NoError(t, err)
	require.NoError(t, b.Start())
	t.Cleanup(func() { _ = b.Close() })
	return b, auth, h
}

// pahoClient connects a paho (MQTT 3.1.1) client.
func pahoClient(t testing.TB, b *Broker, id, user, pass string, mod func(*paho.ClientOptions)) (paho.Client, error) {
	t.Helper()
	o := paho.NewClientOptions().
		AddBroker("tcp://" + b.Addr().String()).
		SetClientID(id).SetUsername(user).SetPassword(pass).
		SetKeepAlive(30 * time.Second).
		SetAutoReconnect(false).SetConnectRetry(false).
		SetCleanSession(true).
		SetConnectTimeout(wait).
		SetProtocolVersion(4)
	if mod != nil {
		mod(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		return nil, errors.New("paho connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if c.IsConnected() {
			c.Disconnect(0)
		}
	})
	return c, nil
}

// raw is a minimal MQTT client over a real socket, built from mochi's packet
// codec, for the flows paho hides (exact reason codes, missing PUBACKs).
type raw struct {
	t   testing.TB
	c   net.Conn
	r   *bufio.Reader
	ver byte
}

// subscribedRaw is modem A logged in over a bare client of MQTT version ver
// and subscribed to its commands (SUBACK granted, Connected and Subscribed
// reported): the start of every command test.
func subscribedRaw(t testing.TB, b *Broker, h *fakeHandler, ver byte) *raw {
	t.Helper()
	r := dialRaw(t, b, ver)
	r.login(imeiA, passA)
	h.expect(t, "connected")
	require.Equal(t, []byte{1}, r.subscribe(1, protocol.CommandRequestFilter(imeiA)))
	h.expect(t, "subscribed")
	return r
}

func dialRaw(t testing.TB, b *Broker, ver byte) *raw {
	t.Helper()
	c, err := net.Dial("tcp", b.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return &raw{t: t, c: c, r: bufio.NewReader(c), ver: ver}
}

func (r *raw) send(pk packets.Packet) {
	r.t.Helper()
	pk.ProtocolVersion = r.ver
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	default:
		r.t.Fatalf("raw: cannot send type %d", pk.FixedHeader.Type)
	}
	require.NoError(r.t, err)
	_, err = r.c.Write(buf.Bytes())
	require.NoError(r.t, err)
}

// read returns the next packet, or an error (io.EOF when the broker closed).
func (r *raw) read() (packets.Packet, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(wait))
	var pk packets.Packet
	pk.ProtocolVersion = r.ver
	hb, err := r.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(hb); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(r.r)
	if err != nil {
		return pk, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r.r, body); err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Pingresp:
	default:
		err = fmt.Errorf("raw: unexpected packet type %d", pk.FixedHeader.Type)
	}
	return pk, err
}

// mustRead reads a packet of the given type.
func (r *raw) mustRead(typ byte) packets.Packet {
	r.t.Helper()
	pk, err := r.read()
	require.NoError(r.t, err)
	require.Equal(r.t, typ, pk.FixedHeader.Type, "packet %+v", pk)
	return pk
}

// expectClosed reads until the broker closes the socket; it fails on any
// packet of a type in forbidden (a DISCONNECT on the way is fine).
func (r *raw) expectClosed(forbidden ...byte) {
	r.t.Helper()
	for {
		pk, err := r.read()
		if err != nil {
			var ne net.Error
			require.False(r.t, errors.As(err, &ne) && ne.Timeout(), "socket still open after %v", wait)
			return
		}
		for _, f := range forbidden {
			require.NotEqual(r.t, f, pk.FixedHeader.Type, "unexpected packet %+v", pk)
		}
	}
}

func connectPacket(id, user, pass string, keepalive uint16) packets.Packet {
	return packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect: packets.ConnectParams{
			ProtocolName:     []byte("MQTT"),
			Clean:            true,
			Keepalive:        keepalive,
			ClientIdentifier: id,
			UsernameFlag:     user != "",
			Username:         []byte(user),
			PasswordFlag:     pass != "",
			Password:         []byte(pass),
		},
	}
}

// connect sends CONNECT and returns the CONNACK.
func (r *raw) connect(pk packets.Packet) packets.Packet {
	r.t.Helper()
	r.send(pk)
	return r.mustRead(packets.Connack)
}

// login connects as a known modem and checks success.
func (r *raw) login(imei, pass string) {
	r.t.Helper()
	ack := r.connect(connectPacket(imei, imei, pass, 60))
	require.Equal(r.t, byte(0), ack.ReasonCode)
}

func (r *raw) publish(topic string, payload []byte, qos byte, id uint16, retain bool) {
	r.t.Helper()
	r.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		TopicName:   topic,
		Payload:     payload,
		PacketID:    id,
	})
}

// subscribe sends one SUBSCRIBE and returns the SUBACK's reason codes.
func (r *raw) subscribe(id uint16, filters ...string) []byte {
	r.t.Helper()
	subs := make(packets.Subscriptions, len(filters))
	for i, f := range filters {
		subs[i] = packets.Subscription{Filter: f, Qos: 1}
	}
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: id, Filters: subs})
	return r.mustRead(packets.Suback).ReasonCodes
}

// ping checks the connection is alive.
func (r *raw) ping() {
	r.t.Helper()
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	r.mustRead(packets.Pingresp)
}
