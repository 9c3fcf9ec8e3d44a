package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
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
		c := &conn{Conn: nc, b: l.b, id: l.b.nextID.Add(1), done: make(chan struct{})}
		c.ctx, c.cancel = context.WithCancel(l.b.ctx)
		l.b.mu.Lock()
		if l.b.closing || l.b.draining.Load() {
			// Drain (or Close) has listed, or is about to list, the
			// connections to close: one accepted from the queue just before
			// the listener closed would be missed and stay open until its
			// connect timeout.
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

// wrapListener lets tests put a faulty listener under the broker.
var wrapListener = func(l net.Listener) net.Listener { return l }

// acceptRetries counts failed Accepts the loop went on from (tests read it).
var acceptRetries atomic.Int64

// serveListener is the listeners.Listener handed to mochi. It does what
// mochi's listeners.Net does, plus one thing the broker needs: it knows when
// mochi has finished with a connection (EstablishConnection returned, so
// mochi's cleanup of the client, including removing it from its client
// list, is over) and closes conn.done. OnSessionEstablish waits for that
// before a newer connection of the same modem may touch mochi's client list.
type serveListener struct {
	ln   *listener
	log  *slog.Logger
	once sync.Once
	end  atomic.Bool
}

// ID implements listeners.Listener.
func (s *serveListener) ID() string { return "modems" }

// Address implements listeners.Listener.
func (s *serveListener) Address() string { return s.ln.Addr().String() }

// Protocol implements listeners.Listener.
func (s *serveListener) Protocol() string { return s.ln.Addr().Network() }

// Init implements listeners.Listener.
func (s *serveListener) Init(log *slog.Logger) error {
	s.log = log
	return nil
}

// Serve implements listeners.Listener: it accepts until the listener is
// closed and runs mochi's establish function for each connection on a
// goroutine of its own (that goroutine is the client's read loop).
func (s *serveListener) Serve(establish listeners.EstablishFn) {
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.end.Load() {
				return
			}
			// Anything else (EMFILE/ENFILE when a reconnect storm meets the
			// open-file limit, ECONNABORTED, ...) passes: stopping here would
			// leave the gateway deaf to every new connection for good while
			// the listening socket kept completing handshakes into its queue.
			// Back off as net/http does, so a full fd table is not spun on.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			if s.log != nil {
				s.log.Warn("broker: accept failed; retrying", "err", err, "in", delay)
			}
			acceptRetries.Add(1)
			time.Sleep(delay)
			continue
		}
		delay = 0
		c := nc.(*conn)
		if s.end.Load() {
			_ = c.Close()
			c.finish()
			continue
		}
		go func() {
			err := establish(s.ID(), c)
			c.finish()
			if err != nil && s.log != nil {
				s.log.Debug("broker: connection ended", "remote", c.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// Close implements listeners.Listener. It does not call mochi's
// closeClients: Broker.Close has already disconnected every connection it
// accepted (and accepts no more), and closeClients deadlocks under exactly
// that load — Clients.GetByListener read-locks the client list twice
// (RLock, then Len's RLock), so a Clients.Delete of a disconnecting client
// queued between the two blocks both forever (mochi issue #488, unreleased
// fix #489). A 19,000-modem gateway hung on SIGTERM this way.
func (s *serveListener) Close(listeners.CloseFn) {
	s.once.Do(func() { s.end.Store(true) })
	_ = s.ln.Close()
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
	done        chan struct{} // closed when mochi has finished with the connection (see serveListener)

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

	// Write path (see Write): every write to the socket holds wmu, so the
	// bytes of a corked batch and of other writers keep their call order.
	wmu    sync.Mutex
	corked bool
	wbuf   []byte

	// Write deadlines (see boundWrites). mochi sets the socket's deadline,
	// reads and writes, to 1.5 × keepalive before every packet it reads;
	// while Broker.Publish writes under its own shorter bound, mochi's
	// deadline goes to reads only.
	pub      sync.Mutex // held by Broker.Publish: one command write at a time
	dmu      sync.Mutex
	deadline time.Time // the last deadline mochi set
	bounded  bool      // a Publish's write deadline is on the socket

	closeOnce sync.Once
	ending    atomic.Bool // quiesced by a drained broker's Close: reads fail, the socket stays open until hangUp
}

// Read implements net.Conn; a quiesced connection reads nothing more.
func (c *conn) Read(p []byte) (int, error) {
	if c.ending.Load() {
		return 0, errEnding
	}
	return c.Conn.Read(p)
}

// SetDeadline implements net.Conn; mochi sets the keepalive deadline after
// every packet, which must neither undo quiesce's nor lengthen the write
// bound of a Publish in progress.
func (c *conn) SetDeadline(t time.Time) error {
	if c.ending.Load() {
		return nil
	}
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.deadline = t
	if c.bounded {
		return c.Conn.SetReadDeadline(t)
	}
	return c.Conn.SetDeadline(t)
}

// boundWrites makes every write to the socket fail after until — a write
// in progress too, whoever makes it — until unboundWrites. Broker.Publish
// calls it with its pub lock held, so one bound is on the socket at a time.
// A write that fails this way ends the connection (see write).
func (c *conn) boundWrites(until time.Time) {
	c.dmu.Lock()
	c.bounded = true
	_ = c.Conn.SetWriteDeadline(until)
	c.dmu.Unlock()
}

// unboundWrites puts mochi's deadline back on writes.
func (c *conn) unboundWrites() {
	c.dmu.Lock()
	c.bounded = false
	_ = c.Conn.SetWriteDeadline(c.deadline)
	c.dmu.Unlock()
}

// write writes p to the socket; the caller holds wmu. A write that timed out
// may have put part of a packet on the wire, after which the modem could
// parse nothing we send: the connection ends (mochi's write deadline, or
// the bound of a Publish; the Publish reports it as ErrQueueFull).
func (c *conn) write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		cl := c.client()
		if cl == nil { // before CONNACK: mochi ends it on the error
			_ = c.Close()
			return n, err
		}
		if !cl.Closed() {
			c.b.log.Warn("broker: modem not reading, write timed out; closing connection", "imei", cl.ID, "remote", cl.Net.Remote)
		}
		cl.Stop(errStalled) // closes the socket (Close) and is the cause Disconnected gets
	}
	return n, err
}

// errStalled ends a connection whose write timed out.
var errStalled = fmt.Errorf("%w: a write to the modem timed out", ErrQueueFull)

// SetReadDeadline implements net.Conn (see SetDeadline).
func (c *conn) SetReadDeadline(t time.Time) error {
	if c.ending.Load() {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

// errEnding is the read error of a quiesced connection.
var errEnding = errors.New("broker: connection ending")

// quiesce makes mochi end the connection without closing its socket: its
// read loop fails at once (a read in progress by the past deadline, a later
// one by ending), and Close leaves the socket to hangUp.
func (c *conn) quiesce() {
	c.ending.Store(true)
	_ = c.Conn.SetReadDeadline(time.Unix(1, 0))
}

// hangUp closes a quiesced connection's socket, after an MQTT 5 DISCONNECT
// "server shutting down" (3.1.1 has no server DISCONNECT).
func (c *conn) hangUp() {
	if cl := c.client(); cl != nil && c.established.Load() && cl.Properties.ProtocolVersion >= 5 {
		// A modem that does not read must not hold the others up: the
		// deadline also ends a write in progress (its writer holds wmu),
		// and a Publish that ends meanwhile puts it back (unboundWrites).
		c.dmu.Lock()
		c.deadline = time.Now().Add(50 * time.Millisecond)
		_ = c.Conn.SetWriteDeadline(c.deadline)
		c.dmu.Unlock()
		c.wmu.Lock()
		_, _ = c.Conn.Write(disconnectV5)
		c.wmu.Unlock()
	}
	_ = c.Conn.Close()
}

// Write implements net.Conn. While the connection is corked (flushAcks is
// writing the PUBACKs of a committed batch) writes are gathered and go out in
// one system call at uncork: a PUBACK each was a write(2) each, 20% of the
// gateway's CPU at 20,000 uplinks/s. A Publish's write (see boundWrites) is
// never gathered.
func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.corked {
		if !c.isBounded() {
			c.wbuf = append(c.wbuf, p...)
			return len(p), nil
		}
		// A Publish's bound is on the socket: its command must be in the
		// socket, or the connection ended, when Publish returns. What the
		// batch gathered goes out first (order kept), and the batch goes
		// on gathering after.
		if len(c.wbuf) > 0 {
			_, err := c.write(c.wbuf)
			c.wbuf = c.wbuf[:0]
			if err != nil {
				return 0, err
			}
		}
	}
	return c.write(p)
}

// isBounded reports whether a Publish's write bound is on the socket.
func (c *conn) isBounded() bool {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	return c.bounded
}

// cork starts gathering writes.
func (c *conn) cork() {
	c.wmu.Lock()
	c.corked = true
	c.wmu.Unlock()
}

// uncork writes what was gathered. An error is the connection's end, which
// its read side sees and handles; a kept buffer is bounded by one batch.
func (c *conn) uncork() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.corked = false
	if len(c.wbuf) == 0 {
		return nil
	}
	_, err := c.write(c.wbuf)
	if cap(c.wbuf) > 4096 {
		c.wbuf = nil // a rare large batch: do not keep its buffer per connection
	} else {
		c.wbuf = c.wbuf[:0]
	}
	return err
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
// write), so this is where the broker forgets the connection. It stays in
// Broker.modems until finish: a newer connection of the modem must wait for
// mochi's cleanup of this one (see hook.OnSessionEstablish).
func (c *conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		if c.cancel != nil {
			c.cancel()
		}
		if !c.ending.Load() { // quiesced: hangUp closes it
			err = c.Conn.Close()
		}
		c.b.mu.Lock()
		delete(c.b.conns, c)
		c.releaseGateLocked()
		c.b.mu.Unlock()
	})
	return err
}

// finish runs once mochi has returned from the connection (its socket is
// closed by then): the connection leaves Broker.modems and a newer
// connection of the same modem waiting in OnSessionEstablish may go on.
func (c *conn) finish() {
	c.b.mu.Lock()
	if c.registered && c.b.modems[c.info.IMEI] == c {
		delete(c.b.modems, c.info.IMEI)
	}
	c.b.mu.Unlock()
	close(c.done)
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

// connOf returns the broker state of a mochi client, nil for anything not
// accepted by our listener.
func connOf(cl *mqtt.Client) *conn {
	c, _ := cl.Net.Conn.(*conn)
	return c
}
