package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/protocol"
)

// call is one PublishAsync the test completes by hand.
type call struct {
	ctx   context.Context
	topic string
	done  func(error)
}

// asyncHandler is the fakeHandler plus PublishAsync; ret, when set, is what
// PublishAsync returns at once (done is then not kept).
type asyncHandler struct {
	*fakeHandler
	calls chan call
	ret   func(topic string) error
}

func (h *asyncHandler) PublishAsync(ctx context.Context, c Conn, topic string, payload []byte, qos byte, retain bool, done func(error)) error {
	if h.ret != nil {
		if err := h.ret(topic); err != nil {
			return err
		}
	}
	h.calls <- call{ctx: ctx, topic: topic, done: done}
	return nil
}

func (h *asyncHandler) nextCall(t testing.TB) call {
	t.Helper()
	select {
	case c := <-h.calls:
		return c
	case <-time.After(wait):
		t.Fatalf("no PublishAsync within %v", wait)
		return call{}
	}
}

func (h *asyncHandler) noCall(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case c := <-h.calls:
		t.Fatalf("unexpected PublishAsync %q", c.topic)
	case <-time.After(d):
	}
}

func startAsyncBroker(t testing.TB, cfg Config) (*Broker, *asyncHandler) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.Logger = quietLogger()
	h := &asyncHandler{fakeHandler: newFakeHandler(), calls: make(chan call, 64)}
	b, err := New(cfg, &fakeAuth{}, h)
	require.NoError(t, err)
	require.NoError(t, b.Start())
	t.Cleanup(func() { _ = b.Close() })
	return b, h
}

// noPacket checks that the broker sends nothing for a moment.
func (r *raw) noPacket(d time.Duration) {
	r.t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(d))
	_, err := r.r.Peek(1)
	var ne interface{ Timeout() bool }
	require.True(r.t, errors.As(err, &ne) && ne.Timeout(), "unexpected packet or error: %v", err)
}

// TestAsyncPipelinedAndOrdered: uplinks of one connection are all handed over
// before any commit ends, the SUBSCRIBE behind them is processed at once, and
// the PUBACKs come only after each commit, in packet order.
func TestAsyncPipelinedAndOrdered(t *testing.T) {
	b, h := startAsyncBroker(t, Config{})
	r := dialRaw(t, b, 4)
	r.login(imeiA, passA)
	h.expect(t, "connected")
	state := protocol.TopicFor(imeiA, protocol.ClassState)
	hello := protocol.TopicFor(imeiA, protocol.ClassHello)
	hb := protocol.TopicFor(imeiA, protocol.ClassHeartbeat)
	r.publish(state, []byte("{}"), 1, 1, true)
	r.publish(hello, []byte("{}"), 1, 2, false)
	r.publish(hb, []byte("{}"), 1, 3, false)
	c1, c2, c3 := h.nextCall(t), h.nextCall(t), h.nextCall(t)
	assert.Equal(t, []string{state, hello, hb}, []string{c1.topic, c2.topic, c3.topic})

	// The SUBSCRIBE is not held up by the three commits in progress.
	assert.Equal(t, []byte{1}, r.subscribe(4, protocol.CommandRequestFilter(imeiA)))
	h.expect(t, "subscribed")

	c3.done(nil)
	r.noPacket(100 * time.Millisecond) // 1 and 2 are not committed yet
	c1.done(nil)
	assert.Equal(t, uint16(1), r.mustRead(packets.Puback).PacketID)
	r.noPacket(50 * time.Millisecond)
	c2.done(ErrDrop) // acknowledged and discarded
	assert.Equal(t, uint16(2), r.mustRead(packets.Puback).PacketID)
	assert.Equal(t, uint16(3), r.mustRead(packets.Puback).PacketID)
	r.ping()
	assert.True(t, b.Connected(imeiA))
	assert.Empty(t, b.srv.Topics.Messages(state), "uplinks are not retained by mochi")
}

// TestAsyncWindow: a connection has at most UplinkWindow uplinks committing;
// the next waits until the oldest is acknowledged.
func TestAsyncWindow(t *testing.T) {
	b, h := startAsyncBroker(t, Config{UplinkWindow: 2})
	r := dialRaw(t, b, 4)
	r.login(imeiA, passA)
	h.expect(t, "connected")
	ev := protocol.TopicFor(imeiA, protocol.ClassEvent)
	for id := uint16(1); id <= 3; id++ {
		r.publish(ev, []byte("{}"), 1, id, false)
	}
	c1, c2 := h.nextCall(t), h.nextCall(t)
	h.noCall(t, 150*time.Millisecond)
	c1.done(nil)
	assert.Equal(t, uint16(1), r.mustRead(packets.Puback).PacketID)
	c3 := h.nextCall(t)
	c2.done(nil)
	c3.done(nil)
	assert.Equal(t, uint16(2), r.mustRead(packets.Puback).PacketID)
	assert.Equal(t, uint16(3), r.mustRead(packets.Puback).PacketID)
}

// TestAsyncRefused: a refused commit closes the connection; neither it nor a
// later uplink is acknowledged, and Disconnected carries the cause.
func TestAsyncRefused(t *testing.T) {
	for _, ver := range []byte{4, 5} {
		t.Run("v"+string('0'+ver), func(t *testing.T) {
			b, h := startAsyncBroker(t, Config{})
			r := dialRaw(t, b, ver)
			r.login(imeiA, passA)
			h.expect(t, "connected")
			vend := protocol.TopicFor(imeiA, protocol.ClassVend)
			r.publish(vend, []byte("{}"), 1, 5, false)
			r.publish(vend, []byte("{}"), 1, 6, false)
			c5, c6 := h.nextCall(t), h.nextCall(t)
			dbDown := errors.New("db down")
			c6.done(nil)
			c5.done(dbDown)
			r.expectClosed(packets.Puback)
			e := h.expect(t, "disconnected")
			assert.ErrorIs(t, e.err, ErrHandler)
			assert.ErrorIs(t, e.err, dbDown)
			assert.False(t, b.Connected(imeiA))
		})
	}
}

// TestAsyncImmediateOutcome: an error returned by PublishAsync itself is the
// outcome: ErrDrop is acknowledged, anything else closes the connection.
func TestAsyncImmediateOutcome(t *testing.T) {
	b, h := startAsyncBroker(t, Config{})
	h.ret = func(topic string) error {
		if topic == protocol.TopicFor(imeiA, protocol.ClassEvent) {
			return ErrDrop
		}
		return errors.New("queue closed")
	}
	r := dialRaw(t, b, 4)
	r.login(imeiA, passA)
	h.expect(t, "connected")
	r.publish(protocol.TopicFor(imeiA, protocol.ClassEvent), []byte("garbage"), 1, 9, false)
	assert.Equal(t, uint16(9), r.mustRead(packets.Puback).PacketID)
	r.publish(protocol.TopicFor(imeiA, protocol.ClassVend), []byte("{}"), 1, 10, false)
	r.expectClosed(packets.Puback)
	assert.ErrorIs(t, h.expect(t, "disconnected").err, ErrHandler)
}

// TestAsyncCloseWhileWaiting: a read loop waiting for window room (a stuck
// store) does not hold up Close, and the pending uplink's context ends.
func TestAsyncCloseWhileWaiting(t *testing.T) {
	b, h := startAsyncBroker(t, Config{UplinkWindow: 1})
	r := dialRaw(t, b, 4)
	r.login(imeiA, passA)
	h.expect(t, "connected")
	ev := protocol.TopicFor(imeiA, protocol.ClassEvent)
	r.publish(ev, []byte("{}"), 1, 1, false)
	r.publish(ev, []byte("{}"), 1, 2, false)
	c1 := h.nextCall(t)
	h.noCall(t, 100*time.Millisecond)
	closed := make(chan struct{})
	go func() {
		_ = b.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(wait):
		t.Fatal("Close waits for a commit that never ends")
	}
	select {
	case <-c1.ctx.Done():
	default:
		t.Fatal("the uplink's context did not end with the connection")
	}
	c1.done(nil) // late: nothing to write to, nothing breaks
}
