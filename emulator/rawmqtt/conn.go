package rawmqtt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultMaxPacket  = 1 << 20
	DefaultReadBuffer = 1024 // small: a fleet holds tens of thousands of readers
)

// Errors of the driver.
var (
	ErrInflightFull = errors.New("rawmqtt: all packet ids in flight")
	ErrClosed       = errors.New("rawmqtt: connection closed")
	ErrUnexpected   = errors.New("rawmqtt: unexpected packet")
)

// ConnackError is a CONNACK with a non-zero return code (§3.2.2.3): 1 bad
// protocol, 2 client id rejected, 3 server unavailable, 4 bad user name or
// password, 5 not authorised.
type ConnackError struct{ Code byte }

func (e *ConnackError) Error() string {
	return fmt.Sprintf("rawmqtt: connection refused, code %d", e.Code)
}

// Config configures Dial.
type Config struct {
	Addr       string       // broker host:port
	LocalAddr  *net.TCPAddr // source address to bind, e.g. 127.0.0.7:0; nil: any
	Connect    ConnectOptions
	Timeout    time.Duration // dial + CONNACK; a write gets timeout/2..timeout [DefaultTimeout]
	MaxPacket  int           // largest remaining length read [DefaultMaxPacket]
	ReadBuffer int           // bufio size [DefaultReadBuffer]
}

// Message is an outgoing QoS 1 publish awaiting its PUBACK.
type Message struct {
	Topic   string
	Payload []byte // owned by the Conn once published: do not modify
	Retain  bool
	Sent    time.Time
	Tag     int64 // caller's value, returned with the PUBACK (e.g. a command's ts)

	subscribe bool
}

// Conn is one MQTT connection. Its write methods may be called from any goroutine;
// ReadPacket must be called from one goroutine only.
//
// Writes are coalesced: between two ReadPacket calls (while the reading goroutine
// handles a packet, e.g. publishes the next uplink for a PUBACK) and after Cork,
// encoded packets queue in one buffer, and ReadPacket sends them in a single
// write just before it would wait for the peer (or when more than maxPending
// bytes queue). While the reader is waiting, a write from another goroutine goes
// out at once. So a burst of acks answered with a burst of publishes costs one
// read and one write system call instead of one each per packet; the reader's
// loop must therefore come back to ReadPacket (or call Flush) after handling a
// packet, as a reader loop does anyway.
type Conn struct {
	nc      net.Conn
	r       *bufio.Reader
	timeout time.Duration
	max     int
	rbuf    []byte
	ack     Message // returned by ReadPacket, valid until the next call

	wmu       sync.Mutex
	wbuf      []byte    // encoded packets not yet written
	held      bool      // queue writes: the reader will flush before it waits
	werr      error     // sticky: the first failed write ends the connection
	wdeadline time.Time // write deadline currently set on nc
	closed    bool
	lastWrite atomic.Int64 // unix nanoseconds

	mu       sync.Mutex
	nextID   uint16
	inflight map[uint16]Message
}

// maxPending bounds the bytes queued while writes are held.
const maxPending = 16 << 10

// Dial connects, sends CONNECT and waits for the CONNACK. A refused connection
// returns a *ConnackError.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxPacket <= 0 {
		cfg.MaxPacket = DefaultMaxPacket
	}
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = DefaultReadBuffer
	}
	d := net.Dialer{Timeout: cfg.Timeout}
	if cfg.LocalAddr != nil {
		d.LocalAddr = cfg.LocalAddr
	}
	nc, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	c := NewConn(nc, cfg)
	if err := c.handshake(cfg.Connect); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// NewConn wraps an established stream (tests use net.Pipe) without handshaking;
// Handshake then sends CONNECT.
func NewConn(nc net.Conn, cfg Config) *Conn {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxPacket <= 0 {
		cfg.MaxPacket = DefaultMaxPacket
	}
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = DefaultReadBuffer
	}
	return &Conn{nc: nc, r: bufio.NewReaderSize(nc, cfg.ReadBuffer), timeout: cfg.Timeout, max: cfg.MaxPacket,
		inflight: map[uint16]Message{}}
}

// Handshake sends CONNECT and reads the CONNACK (for a Conn from NewConn).
func (c *Conn) Handshake(o ConnectOptions) error { return c.handshake(o) }

func (c *Conn) handshake(o ConnectOptions) error {
	if err := c.write(func(b []byte) []byte { return AppendConnect(b, o) }); err != nil {
		return err
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(c.timeout))
	p, err := c.read()
	_ = c.nc.SetReadDeadline(time.Time{})
	if err != nil {
		return err
	}
	if p.Type != CONNACK {
		return fmt.Errorf("%w: type %d before CONNACK", ErrUnexpected, p.Type)
	}
	if p.ReturnCode != 0 {
		return &ConnackError{Code: p.ReturnCode}
	}
	return nil
}

// LocalAddr is the connection's source address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// SetReadDeadline bounds the next ReadPacket (zero: none).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

func (c *Conn) write(enc func([]byte) []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.werr != nil {
		return c.werr
	}
	c.wbuf = enc(c.wbuf)
	if c.held && len(c.wbuf) < maxPending {
		return nil
	}
	return c.flushLocked()
}

// flushLocked writes the queued packets in one system call (under wmu).
func (c *Conn) flushLocked() error {
	if c.werr != nil {
		return c.werr
	}
	if len(c.wbuf) == 0 || c.closed {
		return nil
	}
	now := time.Now()
	// Moving a deadline costs a runtime timer update: renew it only when less
	// than half the timeout is left, so a write still gets at least timeout/2.
	if now.Add(c.timeout / 2).After(c.wdeadline) {
		c.wdeadline = now.Add(c.timeout)
		_ = c.nc.SetWriteDeadline(c.wdeadline)
	}
	_, err := c.nc.Write(c.wbuf)
	c.wbuf = c.wbuf[:0]
	if cap(c.wbuf) > 4096 {
		c.wbuf = nil // do not keep a large audit's buffer per connection
	}
	if err != nil {
		c.werr = err
		return err
	}
	c.lastWrite.Store(now.UnixNano())
	return nil
}

// Cork queues the following writes until the next ReadPacket or Flush, so that
// a sequence of packets (subscribe, state, hello, resends) goes out in one write.
func (c *Conn) Cork() {
	c.wmu.Lock()
	c.held = true
	c.wmu.Unlock()
}

// Flush writes the queued packets now and stops queueing until the reader next
// handles a packet (ReadPacket does this itself before it waits for the peer).
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.held = false
	if c.closed {
		return ErrClosed
	}
	return c.flushLocked()
}

// id reserves a free packet id for m.
func (c *Conn) id(m Message) (uint16, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.inflight) >= 65535 {
		return 0, ErrInflightFull
	}
	for {
		c.nextID++
		if c.nextID == 0 {
			continue
		}
		if _, used := c.inflight[c.nextID]; !used {
			c.inflight[c.nextID] = m
			return c.nextID, nil
		}
	}
}

func (c *Conn) release(id uint16) (Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.inflight[id]
	if ok {
		delete(c.inflight, id)
	}
	return m, ok
}

// Publish sends a PUBLISH. At QoS 1 the message is tracked under the returned
// packet id until ReadPacket sees its PUBACK; qos above 1 is treated as 1.
func (c *Conn) Publish(topic string, payload []byte, qos byte, retain bool, tag int64) (uint16, error) {
	var id uint16
	if qos > 0 {
		qos = 1
		var err error
		if id, err = c.id(Message{Topic: topic, Payload: payload, Retain: retain, Sent: time.Now(), Tag: tag}); err != nil {
			return 0, err
		}
	}
	err := c.write(func(b []byte) []byte { return AppendPublish(b, topic, payload, qos, retain, false, id) })
	if err != nil && qos > 0 {
		// Keep it tracked: the caller resends Unacked() after a reconnect.
		return id, err
	}
	return id, err
}

// Subscribe sends a SUBSCRIBE for one filter; ReadPacket returns its SUBACK.
func (c *Conn) Subscribe(filter string, qos byte) (uint16, error) {
	id, err := c.id(Message{Topic: filter, Sent: time.Now(), subscribe: true})
	if err != nil {
		return 0, err
	}
	return id, c.write(func(b []byte) []byte { return AppendSubscribe(b, id, filter, qos) })
}

// Ping sends a PINGREQ.
func (c *Conn) Ping() error { return c.write(AppendPingreq) }

// PingIfIdle sends a PINGREQ when nothing was written for idle; it reports
// whether it did. Keepalive (§3.1.2.10) only needs some packet per interval.
func (c *Conn) PingIfIdle(idle time.Duration) (bool, error) {
	if time.Since(time.Unix(0, c.lastWrite.Load())) < idle {
		return false, nil
	}
	return true, c.Ping()
}

// ReadPacket reads the next packet. A PUBACK or SUBACK releases its packet id and
// returns the tracked message (nil for an unknown id; the Message is valid until
// the next call); an incoming QoS 1 PUBLISH is acknowledged (the PUBACK is
// queued with the caller's replies, see Conn) before it is returned. The Payload
// aliases an internal buffer valid until the next call.
func (c *Conn) ReadPacket() (Packet, *Message, error) {
	if !c.packetBuffered() {
		// About to wait for the peer: send what was queued meanwhile.
		c.wmu.Lock()
		c.held = false
		err := c.flushLocked()
		c.wmu.Unlock()
		if err != nil {
			return Packet{}, nil, err
		}
	}
	p, err := c.read()
	if err != nil {
		return p, nil, err
	}
	c.wmu.Lock()
	c.held = true // the caller handles p now; its replies are queued
	c.wmu.Unlock()
	switch p.Type {
	case PUBACK, SUBACK:
		if m, ok := c.release(p.PacketID); ok {
			c.ack = m
			return p, &c.ack, nil
		}
	case PUBLISH:
		if p.QoS == 1 {
			if err := c.write(func(b []byte) []byte { return AppendPuback(b, p.PacketID) }); err != nil {
				return p, nil, err
			}
		}
	}
	return p, nil, nil
}

// packetBuffered reports whether a whole packet is already in the read buffer,
// so that the next read will not wait for the peer.
func (c *Conn) packetBuffered() bool {
	n := c.r.Buffered()
	if n < 2 {
		return false
	}
	b, _ := c.r.Peek(n)
	_, remLen, hs, err := Header(b)
	return err == nil && hs+remLen <= n
}

func (c *Conn) read() (Packet, error) {
	if c.r.Buffered() == 0 {
		// One system call fills the buffer with whatever the peer sent (often
		// several small acks); the packets are then decoded in place.
		if _, err := c.r.Peek(1); err != nil {
			return Packet{}, err
		}
	}
	if n := c.r.Buffered(); n >= 2 {
		b, _ := c.r.Peek(n)
		first, remLen, hs, err := Header(b)
		if err == ErrMalformed {
			return Packet{}, &DecodeError{Type: first >> 4, Offset: 5, Err: ErrMalformed}
		}
		if err == nil && remLen > c.max {
			return Packet{}, &DecodeError{Type: first >> 4, Offset: 1, Err: ErrTooLarge}
		}
		if err == nil && hs+remLen <= n {
			// The payload aliases the bufio buffer, which stays put until the
			// next read.
			p, _, err := Decode(b[:hs+remLen], c.max)
			_, _ = c.r.Discard(hs + remLen)
			return p, err
		}
	}
	return c.readSlow()
}

// readSlow reads a packet that is not wholly buffered (larger than the buffer,
// or still arriving) into rbuf.
func (c *Conn) readSlow() (Packet, error) {
	c.rbuf = c.rbuf[:0]
	first, err := c.r.ReadByte()
	if err != nil {
		return Packet{}, err
	}
	c.rbuf = append(c.rbuf, first)
	remLen, mult := 0, 1
	for i := 0; ; i++ {
		if i == 4 {
			return Packet{}, &DecodeError{Type: first >> 4, Offset: 5, Err: ErrMalformed}
		}
		d, err := c.r.ReadByte()
		if err != nil {
			return Packet{}, noEOF(err)
		}
		c.rbuf = append(c.rbuf, d)
		remLen += int(d&0x7f) * mult
		mult *= 128
		if d&0x80 == 0 {
			break
		}
	}
	if remLen > c.max {
		return Packet{}, &DecodeError{Type: first >> 4, Offset: 1, Err: ErrTooLarge}
	}
	hs := len(c.rbuf)
	c.rbuf = append(c.rbuf, make([]byte, remLen)...)
	if _, err := io.ReadFull(c.r, c.rbuf[hs:]); err != nil {
		return Packet{}, noEOF(err)
	}
	p, _, err := Decode(c.rbuf, c.max)
	if cap(c.rbuf) > 4096 {
		defer func() { c.rbuf = nil }() // the payload aliases it until the next read
	}
	return p, err
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Inflight is the number of QoS 1 publishes and subscribes awaiting their ack.
func (c *Conn) Inflight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.inflight)
}

// Unacked returns the QoS 1 publishes still awaiting a PUBACK, oldest first, for
// resending on a new connection (subscribes are left out).
func (c *Conn) Unacked() []Message {
	c.mu.Lock()
	out := make([]Message, 0, len(c.inflight))
	for _, m := range c.inflight {
		if !m.subscribe {
			out = append(out, m)
		}
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Message) int { return a.Sent.Compare(b.Sent) })
	return out
}

// Disconnect sends DISCONNECT (no Will is published, §3.14.4), after whatever
// was queued, and closes.
func (c *Conn) Disconnect() error {
	c.wmu.Lock()
	c.held = false
	c.wmu.Unlock()
	err := c.write(AppendDisconnect)
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the connection without DISCONNECT (the broker publishes the Will),
// which also ends a blocked ReadPacket.
func (c *Conn) Close() error {
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		return nil
	}
	c.closed = true
	c.wmu.Unlock()
	return c.nc.Close()
}
