package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"vendgate/protocol"
)

// Errors of the package.
var (
	// ErrBadCredentials is returned (possibly wrapped) by an Authenticator
	// for an unknown IMEI or a wrong password. Any other error is taken as a
	// temporary failure and the modem is told "server unavailable".
	ErrBadCredentials = errors.New("broker: bad credentials")
	// ErrDrop is returned by Handler.Publish for a message that is to be
	// acknowledged and discarded (malformed input the modem must not resend).
	ErrDrop = errors.New("broker: drop message")

	ErrNotConnected  = errors.New("broker: modem not connected")              // Publish, Disconnect: no established connection
	ErrNotSubscribed = errors.New("broker: modem not subscribed to commands") // Publish: the modem has no matching subscription yet
	ErrInflightFull  = errors.New("broker: too many unacknowledged messages") // Publish: InflightMax reached
	ErrQueueFull     = errors.New("broker: modem's write queue is full")      // Publish: the modem took nothing for WriteTimeout; the connection is closed
	ErrTopic         = errors.New("broker: not a command topic of the modem") // Publish: topic is not vm/v1/{imei}/cmd/req/{id}
	ErrQoS           = errors.New("broker: qos must be 0 or 1")               // Publish: commands are sent at QoS 0 or 1
	ErrClosed        = errors.New("broker: closed")                           // Start/Publish after Close
	ErrStarted       = errors.New("broker: already started")                  // Start twice
	ErrHandler       = errors.New("broker: handler refused message")          // wraps a Handler.Publish error as the disconnect cause
)

// Authenticator checks a modem's credentials.
type Authenticator interface {
	// Authenticate checks a modem's credentials; it returns the modem's id.
	// It returns an error wrapping ErrBadCredentials for an unknown IMEI or a
	// wrong password; any other error means "try again later".
	Authenticate(ctx context.Context, imei, password string) (modemID int64, err error)
}

// QuickAuthenticator is an Authenticator that can accept most logins from
// memory. AuthenticateQuick runs on the connection's read goroutine: it must
// neither block nor read a store, nor go deep on the stack; it returns false
// whenever it cannot accept at once, and Authenticate then decides.
type QuickAuthenticator interface {
	Authenticator
	AuthenticateQuick(imei, password string) (modemID int64, ok bool)
}

// Conn describes one MQTT connection of a modem.
type Conn struct {
	ModemID int64     // from the Authenticator
	IMEI    string    // client id = username
	ConnID  uint64    // unique per connection for the life of the Broker, increasing
	Remote  string    // remote address
	At      time.Time // when the credentials were accepted
}

// Epoch is the connection's presence epoch: its start in microseconds,
// which orders a modem's connections across gateway processes (the ingest
// handler stamps presences with the same value).
func (c Conn) Epoch() uint64 { return uint64(c.At.UnixMicro()) }

// Handler receives the broker's events. Connected, Disconnected, Subscribed
// and Publish of one connection run on that connection's read goroutine, in
// order. The connections of one modem do not overlap: Disconnected of a
// connection (also of the old one of a takeover) returns before Connected of
// the modem's next connection is called. Events of different modems
// interleave in any order.
// Delivered runs on the read goroutine too (it is the modem's PUBACK).
// Connections ended by Broker.Shutdown get no Disconnected: Shutdown returns
// them. Methods must not call Broker.Close or Broker.Shutdown.
type Handler interface {
	// Connected: a modem's session is established (after CONNACK).
	Connected(c Conn)
	// Disconnected: a connection ended; takenOver is true when a newer
	// connection of the same modem replaced it. err is nil for a clean
	// MQTT DISCONNECT.
	Disconnected(c Conn, takenOver bool, err error)
	// Subscribed: the modem subscribed to its command topic (time to send
	// queued commands). It is also called right after Connected when the
	// modem resumed a session that already holds the subscription.
	Subscribed(c Conn)
	// Publish: an uplink arrived. It runs on the modem's read goroutine
	// BEFORE the PUBACK is sent: return nil once the message is durably
	// stored (PUBACK follows), or an error to refuse it: ErrDrop =
	// acknowledge-and-discard (malformed, counted by the handler), any other
	// error = do not acknowledge (the connection is closed so the QoS 1
	// message is redelivered on reconnect). payload is not reused by the
	// broker; the Handler may keep it.
	Publish(c Conn, topic string, payload []byte, qos byte, retain bool) error
	// Delivered: the modem acknowledged (PUBACK) a message we published to it.
	Delivered(c Conn, topic string)
}

// AsyncHandler is a Handler that can store uplinks without holding up the
// modem's read goroutine. mochi handles the packets of one client in order
// and sends a QoS 1 PUBACK when OnPublish returns, so with the synchronous
// Publish a modem has one uplink committing at a time and everything after
// it waits — its next uplinks and its SUBSCRIBE, i.e. the delivery of its
// queued commands. With PublishAsync the broker sends the PUBACK itself when
// the commit is done, in the order the PUBLISH packets came (MQTT 3.1.1
// §4.6), and keeps reading meanwhile, up to Config.UplinkWindow uplinks per
// connection. The PUBACK still means "stored".
type AsyncHandler interface {
	Handler
	// PublishAsync runs on the read goroutine, in packet order. It returns
	// nil once the uplink is queued for the store, and then done is called
	// exactly once, on another goroutine, with the outcome as Publish would
	// return it (nil: stored, PUBACK; ErrDrop: PUBACK, discarded; other:
	// connection closed unacknowledged). A non-nil return is such an
	// outcome already and done is not called. ctx ends when the connection
	// closes: waiting for room in the store's queue must end with it.
	PublishAsync(ctx context.Context, c Conn, topic string, payload []byte, qos byte, retain bool, done func(error)) error
}

// Config configures a Broker. Zero fields take the defaults in brackets.
type Config struct {
	Listen          string        // TCP address ["127.0.0.1:1883"]; ":0" picks a port
	ConnectTimeout  time.Duration // deadline for the CONNECT packet, also bounds authentication [10s]
	MaxKeepalive    uint16        // refuse keepalive 0 and > MaxKeepalive, seconds [1200]
	MaxPacketSize   uint32        // largest packet accepted [protocol.MaxPacket]
	MaxClients      int           // connected modems; more are refused "server unavailable" [19000, below the 20000 fd limit of mqtt.md §1.3]
	WritesPending   int           // mochi MaximumClientWritesPending: outbound queue per client [4]; Publish writes directly and mochi routes nothing to modems, so it stays empty: each slot is 8 bytes per connection
	ReadBufferSize  int           // bufio reader per client [512: a modem's packets are small; larger ones are read straight into the packet]
	WriteBufferSize int           // write coalescing threshold per client [2048]
	SessionExpiry   uint32        // seconds a disconnected persistent session is kept [3600]
	InflightMax     uint16        // per client outbound QoS 1 messages awaiting PUBACK [16]
	AuthConcurrency int           // concurrent Authenticate calls [64]
	Logger          *slog.Logger  // [slog.Default()]; mochi's own Info/Warn records are logged at Debug
	// UplinkWindow bounds the QoS 1 uplinks of one connection handed to an
	// AsyncHandler and not yet acknowledged; a modem that sends more waits
	// (its read loop stops) until the oldest is committed [32].
	UplinkWindow int
	// WriteTimeout bounds Publish: a command whose bytes are not in the
	// modem's socket this long after Publish was called ends the connection
	// (a modem that does not read; its socket buffer is full) [2s].
	WriteTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:1883"
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.MaxKeepalive == 0 {
		c.MaxKeepalive = 1200
	}
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = uint32(protocol.MaxPacket)
	}
	if c.MaxClients <= 0 {
		c.MaxClients = 19000
	}
	if c.WritesPending <= 0 {
		c.WritesPending = 4
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = 512
	}
	if c.WriteBufferSize <= 0 {
		c.WriteBufferSize = 2048
	}
	if c.SessionExpiry == 0 {
		c.SessionExpiry = 3600
	}
	if c.InflightMax == 0 {
		c.InflightMax = 16
	}
	if c.AuthConcurrency <= 0 {
		c.AuthConcurrency = 64
	}
	if c.UplinkWindow <= 0 {
		c.UplinkWindow = 32
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Broker is the embedded MQTT broker for modems.
type Broker struct {
	cfg  Config
	auth Authenticator
	h    Handler
	ah   AsyncHandler // h, when it is one
	log  *slog.Logger
	srv  *mqtt.Server

	ctx      context.Context // cancelled by Close; parent of authentication contexts
	cancel   context.CancelFunc
	authSem  chan struct{}
	authJobs chan authJob  // unbuffered: taken by an idle auth worker (startAuth)
	nextID   atomic.Uint64 // ConnID source
	count    atomic.Int64  // established connections

	mu      sync.Mutex
	conns   map[*conn]struct{}       // every accepted, not yet closed connection
	modems  map[string]*conn         // IMEI → newest connection that passed authentication, until mochi has finished with it
	gates   map[string]chan struct{} // IMEI → gate of the connection being established (see OnSessionEstablish)
	ln      *listener
	started bool
	closing bool

	closeOnce sync.Once
	bulk      atomic.Bool // Shutdown: connections it ends are collected in gone, not reported
	gone      []Conn      // guarded by mu

	// Drain (see drain.go). hgate is held for reading around every Handler
	// call; Drain takes it for writing, so once it has set drained no
	// Handler call is in progress and none starts.
	draining atomic.Bool  // set by Drain under mu: no new session is established
	hgate    sync.RWMutex // read: a Handler call; write: Drain
	drained  bool         // guarded by hgate
	listed   bool         // guarded by mu: Drain has listed the connections, OnDisconnect collects no more
}

// New builds a Broker; it does not listen until Start.
func New(cfg Config, auth Authenticator, h Handler) (*Broker, error) {
	if auth == nil || h == nil {
		return nil, errors.New("broker: nil Authenticator or Handler")
	}
	cfg.setDefaults()
	if cfg.WritesPending > 1<<20 || cfg.MaxClients > 1<<30 {
		return nil, errors.New("broker: WritesPending or MaxClients out of range")
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		cfg:     cfg,
		auth:    auth,
		h:       h,
		log:     cfg.Logger,
		ctx:     ctx,
		cancel:  cancel,
		authSem: make(chan struct{}, cfg.AuthConcurrency), authJobs: make(chan authJob),
		conns:  make(map[*conn]struct{}),
		modems: make(map[string]*conn),
		gates:  make(map[string]chan struct{}),
	}
	b.ah, _ = h.(AsyncHandler)

	// Start from mochi's defaults and change single fields: a Capabilities
	// literal would leave MaximumQos, ReceiveMaximum, ... at 0 (mqtt.md §4.4).
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClients = int64(cfg.MaxClients)
	caps.MaximumClientWritesPending = int32(cfg.WritesPending)
	caps.MaximumSessionExpiryInterval = cfg.SessionExpiry
	caps.MaximumPacketSize = cfg.MaxPacketSize
	caps.MaximumInflight = cfg.InflightMax
	// The ACL is checked on the topic name before mochi resolves a topic
	// alias, so aliases are not offered (absent in CONNACK means 0, MQTT 5
	// §3.2.2.3.8); it also keeps the per-client alias maps empty.
	caps.TopicAliasMaximum = 0
	caps.SharedSubAvailable = 0 // modems subscribe to their own commands only

	b.srv = mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		ClientNetReadBufferSize:  cfg.ReadBufferSize,
		ClientNetWriteBufferSize: cfg.WriteBufferSize,
		Logger:                   slog.New(demote{cfg.Logger.Handler()}),
		// $SYS topics are of no use (no client may subscribe to them) but
		// mochi builds them, with a runtime.ReadMemStats, every interval, and
		// retains them (see dropRetained). Once at start, then every 10 years.
		SysTopicResendInterval: 10 * 365 * 24 * 3600,
	})
	if err := b.srv.AddHook(&hook{b: b}, nil); err != nil {
		return nil, fmt.Errorf("broker: add hook: %w", err)
	}
	return b, nil
}

// Start binds the listener and serves in the background; it returns once
// the socket is listening.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return ErrClosed
	}
	if b.started {
		return ErrStarted
	}
	inner, err := net.Listen("tcp", b.cfg.Listen)
	if err != nil {
		return fmt.Errorf("broker: listen: %w", err)
	}
	inner = wrapListener(inner)
	b.ln = &listener{Listener: inner, b: b}
	if err := b.srv.AddListener(&serveListener{ln: b.ln}); err != nil {
		_ = inner.Close()
		return fmt.Errorf("broker: add listener: %w", err)
	}
	if err := b.srv.Serve(); err != nil { // non-blocking: starts the accept loop and housekeeping
		_ = inner.Close()
		return fmt.Errorf("broker: serve: %w", err)
	}
	b.dropRetained()
	b.started = true
	return nil
}

// dropRetained removes the $SYS messages mochi retained when it started.
// Nothing else is ever retained here (uplinks and wills are not, see the
// package doc), and with the retained store empty mochi skips its scan of
// the topic tree on every SUBSCRIBE: that recursive scan and the stack
// growth it caused were ~8% of the gateway's CPU in a reconnect storm.
func (b *Broker) dropRetained() {
	for topic := range b.srv.Topics.Retained.GetAll() {
		b.srv.Topics.RetainMessage(packets.Packet{TopicName: topic,
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true}}) // empty payload: delete
	}
}

// unindex takes a modem's subscription out of mochi's topic index; the
// client keeps it in its own list (cl.State.Subscriptions), which is what
// Publish checks. Commands are written to the modem directly, never routed
// through the index, and no client may publish to another's command topics
// (ACL), so the entry served nothing, yet it cost four tree nodes of five
// maps each: ~1.9 KB of heap per modem, and 15-20 % of the time a
// collection spends per idle connection (BenchmarkIdleConnMemory). mochi's
// subscription count (Info.Subscriptions) counts index entries and stays
// true; its own removal on disconnect then finds nothing, which is harmless.
func (b *Broker) unindex(cl *mqtt.Client, filter string) {
	if b.srv.Topics.Unsubscribe(filter, cl.ID) {
		atomic.AddInt64(&b.srv.Info.Subscriptions, -1)
	}
}

// Addr returns the listening address, nil before Start.
func (b *Broker) Addr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ln == nil {
		return nil
	}
	return b.ln.Addr()
}

// Close stops listening, disconnects every client and waits until their
// connections have ended (and every Disconnected has been delivered, so Close
// waits for a Handler.Publish in progress). Established clients get an MQTT 5
// DISCONNECT "server shutting down" (3.1.1 clients just see the socket
// close); mochi publishes their wills, which reach no one (see package doc),
// and the Handler gets Disconnected with takenOver false. Close is
// idempotent and may be called without Start.
func (b *Broker) Close() error {
	b.closeOnce.Do(b.close)
	return nil
}

func (b *Broker) close() {
	b.mu.Lock()
	b.closing = true
	ln := b.ln
	all := make([]*conn, 0, len(b.conns))
	for c := range b.conns {
		all = append(all, c)
	}
	b.mu.Unlock()

	b.cancel() // abort authentications in progress
	if ln != nil {
		_ = ln.Close()
	}
	t0 := time.Now()
	b.hgate.RLock()
	drained := b.drained
	b.hgate.RUnlock()
	if drained {
		b.closeDrained(all)
		return
	}
	b.sweep(all)
	swept := time.Since(t0)
	_ = b.srv.Close() // disconnects the rest, waits for every client goroutine
	b.log.Debug("broker closed", "conns", len(all), "sockets_closed", swept, "clients_ended", time.Since(t0))
}

// sweep ends every connection in all, on GOMAXPROCS goroutines.
func (b *Broker) sweep(all []*conn) { parallel(all, b.end) }

// end closes one connection for Close. Connections still before CONNACK are
// not in mochi's client list, so mochi's Close would not end them.
func (b *Broker) end(c *conn) {
	cl := c.client()
	if cl == nil || !c.established.Load() {
		_ = c.Close()
		return
	}
	if cl.Properties.ProtocolVersion >= 5 {
		_ = b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		return
	}
	// MQTT 3.1.1 has no server DISCONNECT (mochi would write one): the
	// socket just closes, a write fewer per modem.
	cl.Stop(packets.ErrServerShuttingDown)
}

// Shutdown is Close for a Handler that records the end of many connections
// at once: the connections the shutdown ends get no Handler.Disconnected
// (those of a takeover still do, marked takenOver); they are returned
// instead, once every one has ended, for the caller to write in bulk. A
// connection that ended before Shutdown was reported as usual and is not
// returned. With 19,000 modems the Disconnected calls were 19,000 presence
// writes queued behind each other while the gateway was going down (~4 s),
// and the fleet's reconnect backoff grew all that time. After Close,
// Shutdown returns nil; after Drain too (Drain has returned every
// connection), and the Handler gets no call at all.
func (b *Broker) Shutdown() []Conn {
	ran := false
	b.closeOnce.Do(func() {
		ran = true
		b.bulk.Store(true)
		b.close()
	})
	if !ran {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	gone := b.gone
	b.gone = nil
	return gone
}

// lookup returns the established, open connection of imei.
func (b *Broker) lookup(imei string) *conn {
	b.mu.Lock()
	c := b.modems[imei]
	b.mu.Unlock()
	if c == nil || !c.established.Load() || c.closed.Load() {
		return nil
	}
	return c
}

// Connected reports whether imei has an established connection.
func (b *Broker) Connected(imei string) bool { return b.lookup(imei) != nil }

// Count returns the number of established modem connections.
func (b *Broker) Count() int { return int(b.count.Load()) }

// Stats are counters for metrics.
type Stats struct {
	Clients         int   // established modem connections
	Inflight        int64 // QoS messages in flight (both directions), mochi's count
	InflightDropped int64 // outbound QoS messages dropped: per-client inflight limit or expiry
	MessagesDropped int64 // commands not written because the modem took nothing for WriteTimeout (Publish's ErrQueueFull)
}

// Stats returns current counters.
func (b *Broker) Stats() Stats {
	return Stats{
		Clients:         b.Count(),
		Inflight:        atomic.LoadInt64(&b.srv.Info.Inflight),
		InflightDropped: atomic.LoadInt64(&b.srv.Info.InflightDropped),
		MessagesDropped: atomic.LoadInt64(&b.srv.Info.MessagesDropped),
	}
}

// Publish sends a command to a connected modem on topic
// vm/v1/{imei}/cmd/req/{id}. It returns ErrNotConnected or ErrNotSubscribed
// when the modem cannot receive it now (the broker keeps no offline queue:
// the caller keeps commands and sends them on Handler.Subscribed), and
// ErrInflightFull when InflightMax messages (or fewer, the Receive Maximum
// of an MQTT 5 modem) await a PUBACK. A nil error means the PUBLISH is
// written to the modem's socket; Handler.Delivered follows on PUBACK (QoS 1
// only, and only if the modem subscribed at QoS 1: a command goes out at
// the lower of the two QoS, as mochi delivers).
//
// The PUBLISH is written on the caller's goroutine, through mochi's
// Client.WritePacket (which serialises it with mochi's own writes and the
// broker's PUBACK batches), not through mochi's topic index, per-client
// queue and write goroutine: the modem's one command subscription is known,
// and the hop to the write goroutine was most of a command's cost in the
// broker. A QoS 1 command takes a packet id and an entry in the client's
// inflight store as mochi's own delivery does, so mochi processes the
// modem's PUBACK (and resends the command on a resumed session) as before.
// The payload is copied into the inflight store; the caller may reuse it.
//
// A modem that does not read its socket cannot hold the caller: when the
// PUBLISH is not written within WriteTimeout of the call (the socket buffer
// stayed full, or a write ahead of it did), the connection is closed — part
// of a packet may be on the wire — and Publish returns ErrQueueFull, the
// successor of mochi's full write queue; Handler.Disconnected follows with
// an error wrapping ErrQueueFull. Either way the command was not delivered
// and the caller sends it again on the modem's next connection.
func (b *Broker) Publish(imei, topic string, payload []byte, qos byte) error {
	start := time.Now()
	if qos > 1 {
		return ErrQoS
	}
	t, err := protocol.ParseTopic(topic)
	if err != nil || t.Class != protocol.ClassCommandRequest || t.IMEI != imei {
		return fmt.Errorf("%w: %q for %q", ErrTopic, topic, imei)
	}
	b.mu.Lock()
	closing := b.closing
	b.mu.Unlock()
	if closing || b.draining.Load() {
		return ErrClosed
	}
	c := b.lookup(imei)
	if c == nil {
		return fmt.Errorf("%w: %s", ErrNotConnected, imei)
	}
	cl := c.client()
	sub, ok := commandSubscription(cl, imei, topic)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotSubscribed, imei)
	}
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: min(qos, sub.qos)}, // never retained
		TopicName:   topic,                                                              // no topic alias: OnConnect allows none
		Payload:     payload,
		Created:     start.Unix(),
	}
	if exp := b.srv.Options.Capabilities.MaximumMessageExpiryInterval; exp > 0 {
		pk.Expiry = pk.Created + exp // as mochi stamps a message: expires from the inflight store, MQTT 5 interval
	}
	if cl.Properties.ProtocolVersion >= 5 {
		pk.Properties.SubscriptionIdentifier = sub.ids // [MQTT-3.3.4-3]
	}

	// One Publish per connection at a time: packet ids go out in order, and
	// each call's write bound is its own.
	c.pub.Lock()
	defer c.pub.Unlock()
	c.boundWrites(start.Add(b.cfg.WriteTimeout)) // also cuts short a write ahead of ours (cl's lock is held while writing)
	defer c.unboundWrites()
	if pk.FixedHeader.Qos > 0 {
		if err := b.track(cl, &pk); err != nil {
			return fmt.Errorf("%w: %s", err, imei)
		}
	}
	err = cl.WritePacket(pk)
	if err == nil {
		return nil
	}
	// The PUBLISH did not reach the socket whole: the modem cannot
	// acknowledge it, so it leaves the inflight store (mochi must not
	// resend it on a resumed session either: the caller does).
	if pk.FixedHeader.Qos > 0 && cl.State.Inflight.Delete(pk.PacketID) {
		atomic.AddInt64(&b.srv.Info.Inflight, -1)
		cl.State.Inflight.IncreaseSendQuota()
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(cl.StopCause(), errStalled):
		// Our write timed out, or one ahead of ours did: conn.write has
		// closed the connection.
		atomic.AddInt64(&b.srv.Info.MessagesDropped, 1)
		return fmt.Errorf("%w: %s: not written within %v, disconnected", ErrQueueFull, imei, b.cfg.WriteTimeout)
	case errors.Is(err, mqtt.ErrConnectionClosed) || cl.Closed():
		return fmt.Errorf("%w: %s", ErrNotConnected, imei)
	}
	return fmt.Errorf("broker: publish %s: %w", topic, err)
}

// track gives the QoS 1 message pk a packet id and records it in cl's
// inflight store, keeping mochi's counters as its own delivery does
// (server.go publishToClient): processPuback then completes it, and a
// resumed session resends it. Called with the connection's pub lock held.
func (b *Broker) track(cl *mqtt.Client, pk *packets.Packet) error {
	limit := int(b.cfg.InflightMax)
	if rm := int(cl.Properties.Props.ReceiveMaximum); cl.Properties.ProtocolVersion >= 5 && rm > 0 && rm < limit {
		// MQTT 5 §3.3.4: no more unacknowledged messages than the client's
		// Receive Maximum (mochi would hold the excess back and lose track
		// of it once sent).
		limit = rm
	}
	if cl.State.Inflight.Len() >= limit {
		return ErrInflightFull
	}
	id, err := cl.NextPacketID()
	if err != nil { // every packet id in use
		atomic.AddInt64(&b.srv.Info.InflightDropped, 1)
		return ErrInflightFull
	}
	pk.PacketID = uint16(id)
	stored := *pk
	stored.ProtocolVersion = cl.Properties.ProtocolVersion
	stored.Payload = bytes.Clone(pk.Payload) // kept until the PUBACK: the caller's buffer is its own
	if cl.State.Inflight.Set(stored) {
		atomic.AddInt64(&b.srv.Info.Inflight, 1)
		cl.State.Inflight.DecreaseSendQuota()
	}
	return nil
}

// cmdSub is the modem's subscription a command topic matches, merged as
// mochi merges a client's matching subscriptions: the highest QoS and every
// subscription identifier.
type cmdSub struct {
	qos byte
	ids []int
}

// commandSubscription returns the subscription of cl that topic matches:
// the wildcard filter, the exact topic, or both (the ACL allows no other
// filter).
func commandSubscription(cl *mqtt.Client, imei, topic string) (cmdSub, bool) {
	var s cmdSub
	found := false
	for _, f := range [2]string{protocol.CommandRequestFilter(imei), topic} {
		sub, ok := cl.State.Subscriptions.Get(f)
		if !ok {
			continue
		}
		found = true
		s.qos = max(s.qos, sub.Qos)
		if sub.Identifier > 0 {
			s.ids = append(s.ids, sub.Identifier)
		}
	}
	slices.Sort(s.ids)
	return s, found
}

// hasCommandSubscription reports whether cl holds any command subscription
// (used when a session is resumed with its subscriptions).
func hasCommandSubscription(cl *mqtt.Client) bool {
	if cl.State.Subscriptions.Len() == 0 {
		return false
	}
	for f := range cl.State.Subscriptions.GetAll() {
		if strings.HasPrefix(f, protocol.Prefix(cl.ID)+"cmd/req/") {
			return true
		}
	}
	return false
}

// Disconnect force-closes the connection of imei (MQTT 5 clients get a
// DISCONNECT "administrative action"). The Handler gets Disconnected with a
// non-nil error; mochi publishes the will as for a lost link.
func (b *Broker) Disconnect(imei string) error {
	c := b.lookup(imei)
	if c == nil {
		return fmt.Errorf("%w: %s", ErrNotConnected, imei)
	}
	_ = b.srv.DisconnectClient(c.client(), packets.ErrAdministrativeAction)
	return nil
}
