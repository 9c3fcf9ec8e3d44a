package broker

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// listener wraps the TCP listener handed to mochi. Accept gives every
// connection a deadline of ConnectTimeout, because mochi reads the CONNECT
// packet without one (mqtt.md §4.7); mochi sets the keepalive deadline after
// the CONNECT, replacing ours. It also wraps the connection so that the
// per-connection state lives in the net.Conn mochi stores in
// Client.Net.Conn: hooks find it with a type assertion instead of a map, and
// it goes away with the client.
type listener struct {
	net.Listener
	b         *Broker
	closeOnce sync.Once
	closeErr  error
}

// Accept implements net.Listener.
func (l *listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		_ = nc.SetDeadline(time.Now().Add(l.b.cfg.ConnectTimeout))
		c := &conn{Conn: nc, b: l.b, id: l.b.nextID.Add(1)}
		c.ctx, c.cancel = context.WithCancel(l.b.ctx)
		l.b.mu.Lock()
		if l.b.closing {
			l.b.mu.Unlock()
			_ = nc.Close()
			continue // the closed listener fails the next Accept
		}
		l.b.conns[c] = struct{}{}
		l.b.mu.Unlock()
		return c, nil
	}
}

// Close implements net.Listener; it is idempotent because both Broker.Close
// and mochi close it.
func (l *listener) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.Listener.Close() })
	return l.closeErr
}

// conn is one accepted connection and the broker's state for it.
type conn struct {
	net.Conn
	b  *Broker
	id uint64

	// Written on the connection's goroutine before the connection is
	// registered in Broker.modems (under Broker.mu), read after.
	modemID    int64
	info       Conn
	registered bool          // in Broker.modems once; guarded by Broker.mu
	gate       chan struct{} // closed when this connection's establishment is over; guarded by Broker.mu
	cl         atomic.Pointer[mqtt.Client]

	established atomic.Bool   // OnSessionEstablished ran (CONNACK sent)
	takenOver   atomic.Bool   // a newer connection of the same modem replaced this one
	closed      atomic.Bool   // the socket is closed
	dropped     atomic.Uint64 // outbound messages mochi dropped (write queue full)

	// Read goroutine only.
	cause      error             // why the broker stopped the connection (Handler refused a message)
	ackPending bool              // the packet being processed is a PUBACK for our publish ...
	ackID      uint16            // ... with this packet id ...
	ackTopic   string            // ... on this topic
	subPending bool              // a command subscription was granted by the SUBSCRIBE being processed
	orphans    map[uint16]string // commands mochi dropped from its inflight store (see OnPacketRead)

	// Uplinks handed to the AsyncHandler (see hook.publishAsync).
	ctx    context.Context // ends when the socket closes (or the broker closes)
	cancel context.CancelFunc
	window chan struct{} // a token per uplink not yet acknowledged; read goroutine creates it
	ackMu  sync.Mutex
	acks   []*pendingAck // oldest first; PUBACKs go out in this order
	flush  bool          // a goroutine is writing PUBACKs
	failed error         // an uplink was refused: no more PUBACKs, the connection is closing

	closeOnce sync.Once
}

// pendingAck is a QoS 1 uplink whose commit is in progress.
type pendingAck struct {
	id   uint16
	done bool
	err  error
}

func (c *conn) client() *mqtt.Client { return c.cl.Load() }

// Close implements net.Conn. mochi closes the socket on every path that ends
// a client, including the ones where it calls no hook (a failed CONNACK
// write), so this is where the broker forgets the connection.
func (c *conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		if c.cancel != nil {
			c.cancel()
		}
		err = c.Conn.Close()
		c.b.mu.Lock()
		delete(c.b.conns, c)
		if c.registered && c.b.modems[c.info.IMEI] == c {
			delete(c.b.modems, c.info.IMEI)
		}
		c.releaseGateLocked()
		c.b.mu.Unlock()
	})
	return err
}

// releaseGate lets the next connection of the same modem be established.
func (c *conn) releaseGate() {
	c.b.mu.Lock()
	c.releaseGateLocked()
	c.b.mu.Unlock()
}

func (c *conn) releaseGateLocked() {
	if c.gate == nil {
		return
	}
	if c.b.gates[c.info.IMEI] == c.gate {
		delete(c.b.gates, c.info.IMEI)
	}
	close(c.gate)
	c.gate = nil
}

// connOf returns the broker state of a mochi client, nil for the inline
// client (or anything not accepted by our listener).
func connOf(cl *mqtt.Client) *conn {
	c, _ := cl.Net.Conn.(*conn)
	return c
}
