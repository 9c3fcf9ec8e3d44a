package rawmqtt

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeBroker reads client packets from the server end of a pipe.
type fakeBroker struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func (b *fakeBroker) readRaw() []byte {
	b.t.Helper()
	hdr := []byte{0}
	_, err := io.ReadFull(b.r, hdr)
	require.NoError(b.t, err)
	n, mult := 0, 1
	for {
		d, err := b.r.ReadByte()
		require.NoError(b.t, err)
		hdr = append(hdr, d)
		n += int(d&0x7f) * mult
		mult *= 128
		if d&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	_, err = io.ReadFull(b.r, body)
	require.NoError(b.t, err)
	return append(hdr, body...)
}

func (b *fakeBroker) read() Packet {
	b.t.Helper()
	p, _, err := Decode(b.readRaw(), 0)
	require.NoError(b.t, err)
	return p
}

func (b *fakeBroker) send(p []byte) {
	b.t.Helper()
	_, err := b.nc.Write(p)
	require.NoError(b.t, err)
}

func pipe(t *testing.T) (*Conn, *fakeBroker) {
	cl, sv := net.Pipe()
	t.Cleanup(func() { cl.Close(); sv.Close() })
	return NewConn(cl, Config{Timeout: 5 * time.Second}), &fakeBroker{t: t, nc: sv, r: bufio.NewReader(sv)}
}

func TestConnSession(t *testing.T) {
	c, b := pipe(t)
	opts := ConnectOptions{ClientID: "350000000000001", Username: "350000000000001", Password: "pw", Keepalive: 30,
		CleanSession: true, WillTopic: "vm/v1/350000000000001/state", WillPayload: []byte("{}"), WillQoS: 1, WillRetain: true}
	done := make(chan error, 1)
	go func() { done <- c.Handshake(opts) }()
	assert.Equal(t, AppendConnect(nil, opts), b.readRaw())
	b.send(AppendConnack(nil, false, 0))
	require.NoError(t, <-done)

	// Writes go through the pipe synchronously, so the broker reads in a goroutine.
	got := make(chan Packet, 8)
	go func() {
		for range 4 {
			got <- b.read()
		}
	}()
	sid, err := c.Subscribe("vm/v1/350000000000001/cmd/req/+", 1)
	require.NoError(t, err)
	id1, err := c.Publish("vm/v1/350000000000001/evt", []byte("a"), 1, false, 42)
	require.NoError(t, err)
	id2, err := c.Publish("vm/v1/350000000000001/evt", []byte("b"), 1, false, 43)
	require.NoError(t, err)
	_, err = c.Publish("vm/v1/350000000000001/tele/hb", []byte("c"), 0, false, 0)
	require.NoError(t, err)
	assert.NotEqual(t, id1, id2)
	assert.Equal(t, 3, c.Inflight())
	assert.Equal(t, SUBSCRIBE, (<-got).Type)
	p := <-got
	assert.Equal(t, Packet{Type: PUBLISH, QoS: 1, PacketID: id1, Topic: "vm/v1/350000000000001/evt", Payload: []byte("a")}, p)
	<-got
	assert.Equal(t, byte(0), (<-got).QoS)

	go func() {
		b.send(AppendSuback(nil, sid, 1))
		b.send(AppendPuback(nil, id2))
		b.send(AppendPuback(nil, 999)) // unknown id: returned without a message
		b.send(AppendPublish(nil, "vm/v1/350000000000001/cmd/req/c1", []byte("req"), 1, false, false, 77))
	}()
	p, m, err := c.ReadPacket()
	require.NoError(t, err)
	assert.Equal(t, SUBACK, p.Type)
	require.NotNil(t, m)
	p, m, err = c.ReadPacket()
	require.NoError(t, err)
	assert.Equal(t, PUBACK, p.Type)
	require.NotNil(t, m)
	assert.Equal(t, int64(43), m.Tag)
	_, m, err = c.ReadPacket()
	require.NoError(t, err)
	assert.Nil(t, m)

	// The incoming QoS 1 publish is acknowledged by ReadPacket; the PUBACK is
	// queued with the caller's replies and goes out at Flush (or the next read).
	acked := make(chan Packet, 1)
	p, _, err = c.ReadPacket()
	require.NoError(t, err)
	assert.Equal(t, "req", string(p.Payload))
	go func() { acked <- b.read() }()
	require.NoError(t, c.Flush())
	assert.Equal(t, Packet{Type: PUBACK, PacketID: 77}, <-acked)

	un := c.Unacked()
	require.Len(t, un, 1)
	assert.Equal(t, "a", string(un[0].Payload))

	go func() { acked <- b.read() }()
	require.NoError(t, c.Disconnect())
	assert.Equal(t, DISCONNECT, (<-acked).Type)
	_, err = c.Publish("x", nil, 0, false, 0)
	assert.ErrorIs(t, err, ErrClosed)
	_, _, err = c.ReadPacket()
	assert.Error(t, err)
}

func TestConnRefused(t *testing.T) {
	tests := []struct {
		name  string
		reply []byte
		check func(t *testing.T, err error)
	}{
		{"bad password", AppendConnack(nil, false, 4), func(t *testing.T, err error) {
			var ce *ConnackError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, byte(4), ce.Code)
		}},
		{"not a connack", AppendPingresp(nil), func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrUnexpected) }},
		{"garbage", []byte{0x20, 5, 0, 0, 0, 0, 0}, func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrMalformed) }},
		{"closed", nil, func(t *testing.T, err error) { assert.ErrorIs(t, err, io.ErrUnexpectedEOF) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, b := pipe(t)
			done := make(chan error, 1)
			go func() { done <- c.Handshake(ConnectOptions{ClientID: "x", Keepalive: 1}) }()
			b.readRaw()
			if tt.reply == nil {
				// A half-written packet, then close.
				b.send([]byte{0x20})
				b.nc.Close()
			} else {
				b.send(tt.reply)
			}
			tt.check(t, <-done)
		})
	}
}

func TestDialTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		b := &fakeBroker{t: t, nc: nc, r: bufio.NewReader(nc)}
		b.readRaw()
		b.send(AppendConnack(nil, false, 0))
		b.read() // PINGREQ
		b.send(AppendPingresp(nil))
		b.read() // DISCONNECT
	}()
	c, err := Dial(context.Background(), Config{Addr: ln.Addr().String(),
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}, Connect: ConnectOptions{ClientID: "x", Keepalive: 5}})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.3", c.LocalAddr().(*net.TCPAddr).IP.String())
	sent, err := c.PingIfIdle(time.Hour)
	require.NoError(t, err)
	assert.False(t, sent, "just wrote CONNECT")
	sent, err = c.PingIfIdle(0)
	require.NoError(t, err)
	assert.True(t, sent)
	p, _, err := c.ReadPacket()
	require.NoError(t, err)
	assert.Equal(t, PINGRESP, p.Type)
	require.NoError(t, c.Disconnect())
}

// TestConnCoalescesWrites checks that the packets written while the reader
// handles a packet go out in one write, sent before ReadPacket waits again,
// and that a write while the reader waits is not held back.
func TestConnCoalescesWrites(t *testing.T) {
	c, b := pipe(t)
	first := make(chan Packet, 1)
	go func() { first <- b.read() }()
	id, err := c.Publish("vm/v1/350000000000001/evt", []byte("a"), 1, false, 1)
	require.NoError(t, err)
	assert.Equal(t, PUBLISH, (<-first).Type, "not held before the first read")

	// A PUBACK and a command request arrive together; the reader answers both.
	go b.send(append(AppendPuback(nil, id), AppendPublish(nil, "vm/v1/350000000000001/cmd/req/c1", []byte("r"), 1, false, false, 9)...))
	p, m, err := c.ReadPacket()
	require.NoError(t, err)
	require.Equal(t, PUBACK, p.Type)
	require.NotNil(t, m)
	assert.Equal(t, int64(1), m.Tag)
	_, err = c.Publish("vm/v1/350000000000001/evt", []byte("b"), 1, false, 2)
	require.NoError(t, err)
	p, _, err = c.ReadPacket() // buffered: nothing is written yet
	require.NoError(t, err)
	require.Equal(t, PUBLISH, p.Type)
	id3, err := c.Publish("vm/v1/350000000000001/cmd/res/c1", []byte("ok"), 1, false, 3)
	require.NoError(t, err)

	// The next ReadPacket would wait: it first writes all three packets at once.
	raw := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 4096)
		n, err := b.nc.Read(buf)
		assert.NoError(t, err)
		raw <- buf[:n]
		b.send(AppendPuback(nil, id3))
	}()
	p, m, err = c.ReadPacket()
	require.NoError(t, err)
	require.NotNil(t, m)
	assert.Equal(t, int64(3), m.Tag)
	var types []byte
	for got := <-raw; len(got) > 0; {
		q, n, err := Decode(got, 0)
		require.NoError(t, err)
		types = append(types, q.Type)
		got = got[n:]
	}
	assert.Equal(t, []byte{PUBLISH, PUBACK, PUBLISH}, types, "one write")

	// After Flush (as while the reader waits) a publish goes out at once.
	_, err = c.Publish("vm/v1/350000000000001/evt", []byte("c"), 0, false, 0) // held: the reader has a packet
	require.NoError(t, err)
	go func() { first <- b.read() }()
	require.NoError(t, c.Flush())
	assert.Equal(t, PUBLISH, (<-first).Type)
	go func() { first <- b.read() }()
	_, err = c.Publish("vm/v1/350000000000001/evt", []byte("d"), 0, false, 0)
	require.NoError(t, err)
	assert.Equal(t, []byte("d"), (<-first).Payload)
}

// streamConn is a net.Conn that reads a fixed stream and discards writes.
type streamConn struct {
	io.Reader
	net.Conn // nil: only the methods below are used
}

func (s streamConn) Read(b []byte) (int, error)     { return s.Reader.Read(b) }
func (streamConn) Write(b []byte) (int, error)      { return len(b), nil }
func (streamConn) Close() error                     { return nil }
func (streamConn) SetReadDeadline(time.Time) error  { return nil }
func (streamConn) SetWriteDeadline(time.Time) error { return nil }
func (streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (streamConn) SetDeadline(t time.Time) error    { return nil }
func (streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// FuzzConnRead: a Conn reading a byte stream (decoded in place from the read
// buffer, or copied when a packet does not fit it) returns the same packets
// as Decode applied to the stream, and never panics.
func FuzzConnRead(f *testing.F) {
	var seed []byte
	seed = AppendPuback(seed, 7)
	seed = AppendPublish(seed, "vm/v1/350000000000001/cmd/req/c1", []byte(`{"id":"c1"}`), 1, false, false, 9)
	seed = AppendSuback(seed, 3, 1)
	f.Add(seed, uint8(16))
	f.Add(AppendPublish(nil, "t", make([]byte, 300), 0, false, false, 0), uint8(0))
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}, uint8(64))
	f.Fuzz(func(t *testing.T, stream []byte, size uint8) {
		c := NewConn(streamConn{Reader: bytes.NewReader(stream)}, Config{ReadBuffer: int(size), MaxPacket: 1 << 12})
		rest := stream
		for {
			p, _, err := c.ReadPacket()
			want, n, werr := Decode(rest, 1<<12)
			if err != nil {
				if werr == nil {
					t.Fatalf("conn: %v; decode: %+v", err, want)
				}
				return
			}
			if werr != nil {
				t.Fatalf("conn: %+v; decode: %v", p, werr)
			}
			if p.Type != want.Type || p.PacketID != want.PacketID || p.Topic != want.Topic || !bytes.Equal(p.Payload, want.Payload) {
				t.Fatalf("conn %+v, decode %+v", p, want)
			}
			rest = rest[n:]
		}
	})
}
