package fleet

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"vendgate/emulator/rawmqtt"
)

// DefaultSinkFilter is what a sink subscribes to: every uplink of protocol v1.
const DefaultSinkFilter = "vm/v1/#"

// sink is the subscriber side of a plain broker's forwarding baseline: a few
// anonymous QoS 1 subscriptions that count what the broker delivers to them.
// With more than one connection they share one subscription ($share/...), as
// gateway workers do in front of a clustered broker. The gateway itself refuses
// them (modems only), so a sink is for measuring a bare broker.
type sink struct {
	received atomic.Uint64
	errs     func(kind string)
	wg       sync.WaitGroup
}

// sinkFilter is the filter each of n sink connections subscribes to.
func sinkFilter(filter, run string, n int) string {
	if n > 1 {
		return "$share/vendemu-sink-" + run + "/" + filter
	}
	return filter
}

// startSink connects n subscribers and returns once each has its SUBACK; they
// then count deliveries until ctx ends.
func startSink(ctx context.Context, addr, filter, run string, n int, noteError func(string)) (*sink, error) {
	s := &sink{errs: noteError}
	for i := range n {
		cfg := rawmqtt.Config{Addr: addr, Timeout: 10 * time.Second,
			Connect: rawmqtt.ConnectOptions{ClientID: fmt.Sprintf("vendemu-sink-%s-%d", run, i), CleanSession: true}} // keepalive 0: no pings needed
		c, err := rawmqtt.Dial(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("sink %d: %w", i, err)
		}
		if _, err := c.Subscribe(sinkFilter(filter, run, n), 1); err != nil {
			c.Close()
			return nil, fmt.Errorf("sink %d: subscribe: %w", i, err)
		}
		if err := awaitSuback(c); err != nil {
			c.Close()
			return nil, fmt.Errorf("sink %d: %w", i, err)
		}
		s.wg.Go(func() { s.read(ctx, c) })
	}
	return s, nil
}

// awaitSuback reads until the SUBACK (a broker may deliver retained messages
// first) and fails on a refused subscription.
func awaitSuback(c *rawmqtt.Conn) error {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	for {
		p, _, err := c.ReadPacket()
		if err != nil {
			return fmt.Errorf("waiting for SUBACK: %w", err)
		}
		if p.Type == rawmqtt.SUBACK {
			if p.ReturnCode >= 0x80 {
				return fmt.Errorf("subscription refused (SUBACK 0x%02x)", p.ReturnCode)
			}
			return nil
		}
	}
}

// read counts live deliveries (rawmqtt acknowledges QoS 1 ones) until ctx ends or
// the connection fails; ctx ending closes the connection.
func (s *sink) read(ctx context.Context, c *rawmqtt.Conn) {
	stop := context.AfterFunc(ctx, func() { c.Disconnect(); c.Close() })
	defer func() {
		if stop() { // ended on its own: a read error
			c.Close()
		}
	}()
	for {
		p, _, err := c.ReadPacket()
		if err != nil {
			if ctx.Err() == nil {
				s.errs(errKind("sink", err))
			}
			return
		}
		// A retained message sent because of the subscription (RETAIN set,
		// MQTT-3.3.1-8) is not a forward; live deliveries have it clear.
		if p.Type == rawmqtt.PUBLISH && !p.Retain {
			s.received.Add(1)
		}
	}
}

// wait returns when every sink connection has ended.
func (s *sink) wait() { s.wg.Wait() }
