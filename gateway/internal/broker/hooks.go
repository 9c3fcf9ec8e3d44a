package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"vendgate/protocol"
)

// errKeepalive is the MQTT 5 CONNACK reason for a refused keepalive: 0x83
// "implementation specific error" (connection refused by server policy; MQTT 5
// §3.2.2.2). 3.1.1 clients get return code 5 "not authorized" instead, the
// only 3.1.1 code for a policy refusal.
var errKeepalive = packets.Code{Code: packets.ErrImplementationSpecificError.Code, Reason: "keepalive out of range"}

// hook adapts mochi's hooks to the Broker. Hooks of one client run on that
// client's read goroutine (mqtt.md §4.2), which is why the conn fields marked
// "read goroutine only" need no lock.
type hook struct {
	mqtt.HookBase
	b *Broker
}

var provided = [...]byte{
	mqtt.OnConnect,
	mqtt.OnConnectAuthenticate,
	mqtt.OnACLCheck,
	mqtt.OnSessionEstablish,
	mqtt.OnSessionEstablished,
	mqtt.OnDisconnect,
	mqtt.OnPacketRead,
	mqtt.OnPacketProcessed,
	mqtt.OnPublish,
	mqtt.OnQosComplete,
	mqtt.OnSubscribed,
	mqtt.OnWill,
}

// ID implements mqtt.Hook.
func (h *hook) ID() string { return "vendgate-broker" }

// Provides implements mqtt.Hook.
func (h *hook) Provides(b byte) bool { return bytes.IndexByte(provided[:], b) >= 0 }

// refuse sends a refusing CONNACK; code is an MQTT 5 reason, translated for
// 3.1.1 clients (mochi only translates a few codes itself).
func (h *hook) refuse(cl *mqtt.Client, code packets.Code) error {
	if cl.Properties.ProtocolVersion < 5 {
		switch code {
		case packets.ErrClientIdentifierNotValid, packets.ErrServerUnavailable, packets.ErrBadUsernameOrPassword:
			// mochi's V5CodesToV3 maps these (to 2, 3 and 5).
		default:
			code = packets.Err3NotAuthorized
		}
	}
	return h.b.srv.SendConnack(cl, code, false, nil)
}

// OnConnect checks everything that needs no database: identity format,
// keepalive and the will topic. An error return makes mochi drop the
// connection without a CONNACK, so the CONNACK is sent here.
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	c := connOf(cl)
	if c == nil {
		return nil
	}
	id := pk.Connect.ClientIdentifier
	var code packets.Code
	var why string
	switch {
	case !protocol.ValidIMEI(id):
		code, why = packets.ErrClientIdentifierNotValid, "client id is not an IMEI"
	case !pk.Connect.UsernameFlag || string(pk.Connect.Username) != id:
		code, why = packets.ErrBadUsernameOrPassword, "username differs from client id"
	case pk.Connect.Keepalive == 0 || pk.Connect.Keepalive > h.b.cfg.MaxKeepalive:
		code, why = errKeepalive, fmt.Sprintf("keepalive %d not in 1..%d", pk.Connect.Keepalive, h.b.cfg.MaxKeepalive)
	case pk.Connect.WillFlag && !allowedPublish(id, pk.Connect.WillTopic):
		code, why = packets.ErrNotAuthorized, "will topic not allowed"
	default:
		// Outbound topic aliases would blank the topic of an inflight
		// message, which Delivered reports; commands have unique topics
		// anyway, so aliases save nothing.
		cl.Properties.Props.TopicAliasMaximum = 0
		return nil
	}
	_ = h.refuse(cl, code)
	h.b.log.Debug("broker: connect refused", "remote", cl.Net.Remote, "client", clip(id), "reason", why)
	return fmt.Errorf("broker: connect refused: %s: %w", why, code)
}

// clip bounds attacker-controlled strings in log records.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// OnConnectAuthenticate checks the password through the Authenticator,
// bounded by the semaphore and ConnectTimeout. Returning false makes mochi
// send "bad user name or password"; for a temporary failure the hook sends
// "server unavailable" itself and closes the connection first, so mochi's
// CONNACK write fails instead of reaching the modem.
//
// The Authenticator runs on an auth worker, not on the connection's read
// goroutine: a store lookup (modernc SQLite is ~15–30 KB of stack deep) would
// grow that goroutine's stack to 32 or 64 KB, and the runtime gives it back
// only by halving it at each GC — for every modem of a reconnect storm. The
// read goroutine just waits, so its stack stays at mochi's own depth (see
// BenchmarkIdleConnMemory). At most AuthConcurrency Authenticate calls run
// at once; the workers are reused and end after authIdle without work.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	c := connOf(cl)
	if c == nil {
		return false
	}
	if !pk.Connect.PasswordFlag || len(pk.Connect.Password) == 0 {
		return false
	}
	// A login the Authenticator accepts from memory skips the worker: in a
	// reconnect storm each hand-over to a worker and back is two waits in
	// a run queue of thousands, on the path every CONNACK waits for.
	if q, ok := h.b.auth.(QuickAuthenticator); ok {
		if id, ok := q.AuthenticateQuick(cl.ID, string(pk.Connect.Password)); ok {
			c.modemID = id
			return true
		}
	}
	ctx, cancel := context.WithTimeout(h.b.ctx, h.b.cfg.ConnectTimeout)
	defer cancel()
	select {
	case h.b.authSem <- struct{}{}: // released by the goroutine when Authenticate returns
	case <-ctx.Done():
		h.unavailable(cl, fmt.Errorf("broker: waiting for an authentication slot: %w", ctx.Err()))
		return false
	}
	res := make(chan authResult, 1)
	h.b.startAuth(authJob{ctx: ctx, imei: cl.ID, password: string(pk.Connect.Password), res: res})
	var r authResult
	select {
	case r = <-res:
	case <-ctx.Done(): // an Authenticator that ignores ctx: give up, it keeps its slot until it returns
		r.err = fmt.Errorf("broker: authentication: %w", ctx.Err())
	}
	switch {
	case r.err == nil:
		c.modemID = r.modemID
		return true
	case errors.Is(r.err, ErrBadCredentials):
		h.b.log.Debug("broker: authentication failed", "imei", cl.ID, "remote", cl.Net.Remote)
		return false
	default:
		h.unavailable(cl, r.err)
		return false
	}
}

// authResult is the outcome of one Authenticate call.
type authResult struct {
	modemID int64
	err     error
}

// authJob is one Authenticate call for an auth worker; res is buffered (the
// connection may have given up waiting).
type authJob struct {
	ctx            context.Context
	imei, password string
	res            chan<- authResult
}

// authIdle is how long an auth worker waits for the next job before it ends.
const authIdle = 30 * time.Second

// startAuth hands j to an idle auth worker, or starts one. The caller holds
// an authSem slot, which the worker releases when Authenticate returns, so at
// most AuthConcurrency run at once. Workers outlive their job: a store
// look-up needs a deep stack (modernc SQLite: 15-30 KB), and a new goroutine
// per login grew one from 8 KB by copying every time (runtime.copystack was
// ~3% of the gateway's CPU in a reconnect storm).
func (b *Broker) startAuth(j authJob) {
	select {
	case b.authJobs <- j:
	default:
		go b.authWorker(j)
	}
}

func (b *Broker) authWorker(j authJob) {
	idle := time.NewTimer(authIdle)
	defer idle.Stop()
	for {
		id, err := b.auth.Authenticate(j.ctx, j.imei, j.password)
		<-b.authSem
		j.res <- authResult{modemID: id, err: err}
		idle.Reset(authIdle)
		select {
		case j = <-b.authJobs:
		case <-idle.C:
			return
		case <-b.ctx.Done():
			return
		}
	}
}

func (h *hook) unavailable(cl *mqtt.Client, err error) {
	h.b.log.Warn("broker: authentication unavailable", "imei", cl.ID, "remote", cl.Net.Remote, "err", err)
	_ = h.refuse(cl, packets.ErrServerUnavailable)
	cl.Stop(err)
}

// OnACLCheck implements the topic ACL (see allowedPublish, allowedSubscribe).
// For write=false mochi passes a SUBSCRIBE filter, or the topic of a message
// it is about to deliver to the client.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write {
		return allowedPublish(cl.ID, topic)
	}
	return allowedSubscribe(cl.ID, topic)
}

// OnSessionEstablish runs after authentication, before mochi takes over an
// older session of the same client id (inheritClientSession) and sends the
// CONNACK.
//
// mochi's takeover is not safe against concurrency on one client id: two
// CONNECTs at once can miss each other in its client list, and an old
// clean-session client's cleanup (attachClient: "if expire &&
// !cl.IsTakenOver() { … Clients.Delete(cl.ID) }") can check IsTakenOver
// before the newer connection's takeover sets it and delete the entry after
// the newer client was added. The newer client then is no longer in the
// list, so the next CONNECT does not take it over and two connections of
// the modem stay up (and commands are not delivered). So the broker does the
// takeover itself, one connection at a time per IMEI:
//
//  1. Wait until no other connection of the IMEI is being established (its
//     gate, released after OnSessionEstablished or when it closes).
//  2. Register this connection as the modem's newest and mark the previous
//     one takenOver (before closing it, so its Disconnected says so).
//  3. Stop the previous connection and wait until mochi has completely
//     finished with it (serveListener closes conn.done once
//     EstablishConnection returned): its OnDisconnect has run and its
//     cleanup is over, so nothing else touches this client id in mochi's
//     list while inheritClientSession runs. A clean session has left the
//     list by then; a persistent one is still there and is inherited.
//
// As a result the events of one modem never interleave: Disconnected of a
// connection comes before Connected of the next.
func (h *hook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	c := connOf(cl)
	if c == nil {
		return
	}
	b := h.b
	for {
		b.mu.Lock()
		if b.closing || b.draining.Load() || c.closed.Load() {
			// Only Broker.Close closes a connection that is waiting here;
			// a draining broker establishes no new session (see Drain).
			b.mu.Unlock()
			cl.Stop(ErrClosed)
			return
		}
		gate := b.gates[cl.ID]
		if gate == nil {
			break // holding b.mu
		}
		b.mu.Unlock()
		select {
		case <-gate:
		case <-b.ctx.Done():
		}
	}
	c.gate = make(chan struct{})
	b.gates[cl.ID] = c.gate
	c.info = Conn{ModemID: c.modemID, IMEI: cl.ID, ConnID: c.id, Remote: cl.Net.Remote, At: timeNow()}
	c.cl.Store(cl)
	c.registered = true
	prev := b.modems[cl.ID]
	if prev != nil && !prev.closed.Load() {
		prev.takenOver.Store(true) // replaced, not lost: presence stays "connected"
	}
	b.modems[cl.ID] = c
	b.mu.Unlock()
	if prev == nil {
		return
	}
	if pcl := prev.client(); pcl != nil {
		_ = b.srv.DisconnectClient(pcl, packets.ErrSessionTakenOver) // [MQTT-3.1.4-3]; no-op if already stopped
	}
	select {
	case <-prev.done:
	case <-b.ctx.Done():
		cl.Stop(ErrClosed)
	}
}

// OnSessionEstablished runs after the CONNACK (and the resend of inflight
// messages of a resumed session). Releasing the gate after Connected keeps
// the Connected calls of one modem in connection order.
func (h *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	c := connOf(cl)
	if c == nil || c.client() == nil {
		return
	}
	defer c.releaseGate()
	if cl.State.Subscriptions.Len() > 0 { // a resumed session's, indexed again by mochi's inheritClientSession
		for f := range cl.State.Subscriptions.GetAll() {
			h.b.unindex(cl, f)
		}
	}
	c.established.Store(true)
	h.b.count.Add(1)
	h.b.hgate.RLock()
	defer h.b.hgate.RUnlock()
	if h.b.drained {
		// Registered before Drain began, so Drain listed it: its end is
		// written with the others.
		return
	}
	h.b.h.Connected(c.info)
	if hasCommandSubscription(cl) { // resumed session: the modem need not subscribe again
		h.b.h.Subscribed(c.info)
	}
}

// OnDisconnect runs when the read loop of an established connection ended.
func (h *hook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	c := connOf(cl)
	if c == nil || !c.established.Load() {
		return
	}
	h.b.count.Add(-1)
	takenOver := c.takenOver.Load() || cl.IsTakenOver()
	cause := c.cause
	if cause == nil {
		c.ackMu.Lock()
		cause = c.failed // an uplink refused by the AsyncHandler
		c.ackMu.Unlock()
	}
	if cause == nil {
		// mochi records why it stopped a client (takeover, shutdown,
		// administrative disconnect) as a reason code; 0x00 is a clean
		// DISCONNECT from the client.
		switch sc := cl.StopCause().(type) {
		case packets.Code:
			if sc.Code >= packets.ErrUnspecifiedError.Code {
				cause = sc
			}
		case nil:
		default:
			cause = sc
		}
	}
	if cause == nil {
		cause = err
	}
	h.b.hgate.RLock()
	defer h.b.hgate.RUnlock()
	if h.b.drained {
		// Drain returns it (or has already listed it): no Handler call,
		// not even for a takeover.
		h.b.mu.Lock()
		if !h.b.listed {
			h.b.gone = append(h.b.gone, c.info)
		}
		h.b.mu.Unlock()
		return
	}
	if !takenOver && h.b.bulk.Load() { // Shutdown reports it
		h.b.mu.Lock()
		h.b.gone = append(h.b.gone, c.info)
		h.b.mu.Unlock()
		return
	}
	h.b.h.Disconnected(c.info, takenOver, cause)
}

// OnPacketRead notes a PUBACK for one of our messages while the message is
// still in the inflight store (mochi removes it before OnQosComplete, and
// OnQosComplete alone cannot tell the modem's PUBACK from the completion of
// the modem's own QoS 1 publish, which shares the packet id space).
//
// mochi keeps one inflight store for both directions although MQTT packet
// ids are per direction: a QoS ≥ 1 PUBLISH from the modem whose id equals
// that of an unacknowledged command makes mochi delete the command from the
// store (it will then neither resend it nor report its PUBACK). The hook
// remembers such commands as orphans so their PUBACK still yields Delivered.
func (h *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	c := connOf(cl)
	if c == nil {
		return pk, nil
	}
	c.ackPending = false
	switch pk.FixedHeader.Type {
	case packets.Puback:
		if out, ok := cl.State.Inflight.Get(pk.PacketID); ok && out.FixedHeader.Type == packets.Publish {
			c.ackPending, c.ackID, c.ackTopic = true, pk.PacketID, out.TopicName
			delete(c.orphans, pk.PacketID)
		} else if topic, ok := c.orphans[pk.PacketID]; ok {
			delete(c.orphans, pk.PacketID)
			h.b.delivered(c.info, topic)
		}
	case packets.Publish:
		if pk.FixedHeader.Qos > 0 {
			if out, ok := cl.State.Inflight.Get(pk.PacketID); ok && out.FixedHeader.Type == packets.Publish {
				if c.orphans == nil {
					c.orphans = make(map[uint16]string)
				}
				c.orphans[pk.PacketID] = out.TopicName
			}
		}
	}
	return pk, nil
}

// OnQosComplete reports the PUBACK noted by OnPacketRead.
func (h *hook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	c := connOf(cl)
	if c == nil || !c.ackPending || pk.FixedHeader.Type != packets.Puback || pk.PacketID != c.ackID {
		return
	}
	c.ackPending = false
	h.b.delivered(c.info, c.ackTopic)
}

// delivered calls Handler.Delivered unless the broker is drained.
func (b *Broker) delivered(c Conn, topic string) {
	b.hgate.RLock()
	defer b.hgate.RUnlock()
	if !b.drained {
		b.h.Delivered(c, topic)
	}
}

// OnPublish hands an uplink to the Handler before mochi acknowledges it
// (mochi: ACL → OnPublish → PUBACK → forward, mqtt.md §4.2). Success and
// ErrDrop return CodeSuccessIgnore: acknowledged, neither forwarded nor
// retained. Any other Handler error returns ErrRejectPacket (no PUBACK) and
// closes the connection, so the modem resends the message after reconnecting.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	c := connOf(cl)
	if c == nil {
		return pk, nil
	}
	if h.b.ah != nil && pk.FixedHeader.Qos == 1 {
		return h.publishAsync(cl, c, pk)
	}
	h.b.hgate.RLock()
	if h.b.drained {
		// Not acknowledged: the modem sends it again on its next
		// connection (a QoS 0 uplink is lost, as QoS 0 allows).
		h.b.hgate.RUnlock()
		return pk, packets.ErrRejectPacket
	}
	err := h.b.h.Publish(c.info, pk.TopicName, pk.Payload, pk.FixedHeader.Qos, pk.FixedHeader.Retain)
	h.b.hgate.RUnlock()
	if err == nil || errors.Is(err, ErrDrop) {
		return pk, packets.CodeSuccessIgnore
	}
	c.cause = fmt.Errorf("%w: %w", ErrHandler, err)
	h.b.log.Warn("broker: uplink refused, closing connection", "imei", cl.ID, "topic", pk.TopicName, "err", err)
	if cl.Properties.ProtocolVersion == 5 {
		_ = h.b.srv.DisconnectClient(cl, packets.ErrUnspecifiedError)
	} else {
		cl.Stop(c.cause) // 3.1.1 has no server DISCONNECT
	}
	return pk, packets.ErrRejectPacket
}

// publishAsync hands a QoS 1 uplink to the AsyncHandler and withholds it
// from mochi (withheld), so mochi neither acknowledges nor forwards it; the
// PUBACK is written by flushAcks once the commit is done. The read goroutine goes on
// with the modem's next packet at once — another uplink, or the SUBSCRIBE
// that lets its queued commands go out — unless UplinkWindow uplinks are
// already waiting, then it waits for the oldest (back-pressure on this
// connection only).
func (h *hook) publishAsync(cl *mqtt.Client, c *conn, pk packets.Packet) (packets.Packet, error) {
	if c.window == nil {
		c.window = make(chan struct{}, h.b.cfg.UplinkWindow)
	}
	select {
	case c.window <- struct{}{}:
	case <-c.ctx.Done(): // closing: no PUBACK, the modem sends it again
		return pk, packets.ErrRejectPacket
	}
	h.b.hgate.RLock()
	defer h.b.hgate.RUnlock()
	if h.b.drained { // draining: no PUBACK either, the modem sends it again
		<-c.window
		return pk, packets.ErrRejectPacket
	}
	a := &pendingAck{id: pk.PacketID}
	c.ackMu.Lock()
	c.acks = append(c.acks, a)
	c.ackMu.Unlock()
	err := h.b.ah.PublishAsync(c.ctx, c.info, pk.TopicName, pk.Payload, pk.FixedHeader.Qos, pk.FixedHeader.Retain,
		func(err error) { c.ackDone(cl, a, err) })
	if err != nil {
		c.ackDone(cl, a, err)
	}
	return withheld(pk)
}

// withheld returns pk so that mochi neither acknowledges, forwards nor
// retains it, as ErrRejectPacket would: as QoS 0 (mochi sends no PUBACK for
// it and leaves the receive quota alone) with Ignore set (processPublish then
// neither retains it nor matches it against subscriptions). ErrRejectPacket
// costs more on this hot path: mochi boxes the whole packet into a debug-log
// call, ~0.9 KB of garbage per uplink even with debug logging off.
func withheld(pk packets.Packet) (packets.Packet, error) {
	pk.FixedHeader.Qos = 0
	pk.Ignore = true
	return pk, nil
}

// ackDone records the outcome of one uplink and starts a PUBACK writer
// unless one runs. Writing on a goroutine of its own keeps a modem that does
// not read its socket from holding up the handler's completions (and so the
// PUBACKs of every other modem).
func (c *conn) ackDone(cl *mqtt.Client, a *pendingAck, err error) {
	c.ackMu.Lock()
	a.done, a.err = true, err
	start := !c.flush && c.acks[0].done
	if start {
		c.flush = true
	}
	c.ackMu.Unlock()
	if start {
		go c.flushAcks(cl)
	}
}

// flushAcks writes the PUBACKs of the finished uplinks at the head of the
// queue, in packet order; an uplink the handler refused (not ErrDrop) closes
// the connection instead, and nothing after it is acknowledged: the modem
// resends every unacknowledged uplink on its next connection.
func (c *conn) flushAcks(cl *mqtt.Client) {
	var ready []*pendingAck
	for {
		c.ackMu.Lock()
		n := 0
		for n < len(c.acks) && c.acks[n].done {
			n++
		}
		if n == 0 {
			c.flush = false
			c.ackMu.Unlock()
			return
		}
		ready = append(ready[:0], c.acks[:n]...)
		c.acks = append(c.acks[:0], c.acks[n:]...)
		failed, refused := c.failed, error(nil)
		for _, a := range ready {
			if failed == nil && a.err != nil && !errors.Is(a.err, ErrDrop) {
				refused = a.err
				failed = fmt.Errorf("%w: %w", ErrHandler, a.err)
				c.failed = failed
			}
		}
		c.ackMu.Unlock()
		if refused != nil {
			if c.ctx.Err() == nil { // not merely cut short by the connection's end
				c.b.log.Warn("broker: uplink refused, closing connection", "imei", cl.ID, "err", refused)
			}
			if cl.Properties.ProtocolVersion == 5 {
				_ = c.b.srv.DisconnectClient(cl, packets.ErrUnspecifiedError)
			} else {
				cl.Stop(failed) // 3.1.1 has no server DISCONNECT
			}
		}
		corked := failed == nil && len(ready) > 1
		if corked {
			c.cork() // the batch's PUBACKs in one write
		}
		for _, a := range ready {
			<-c.window
			if failed == nil {
				_ = cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: a.id})
			}
		}
		if corked {
			_ = c.uncork()
		}
	}
}

// OnSubscribed notes a granted command subscription, which it takes out of
// mochi's topic index (see unindex); Handler.Subscribed is called from
// OnPacketProcessed, after mochi has written the SUBACK.
func (h *hook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	c := connOf(cl)
	if c == nil {
		return
	}
	for i, rc := range reasonCodes {
		if rc < packets.ErrUnspecifiedError.Code { // granted; the ACL allows only command filters
			c.subPending = true
			if i < len(pk.Filters) {
				h.b.unindex(cl, pk.Filters[i].Filter)
			}
		}
	}
}

// OnPacketProcessed delivers Subscribed once the SUBACK is out.
func (h *hook) OnPacketProcessed(cl *mqtt.Client, pk packets.Packet, err error) {
	c := connOf(cl)
	if c == nil || !c.subPending || pk.FixedHeader.Type != packets.Subscribe {
		return
	}
	c.subPending = false
	if err != nil || !c.established.Load() {
		return
	}
	h.b.hgate.RLock()
	defer h.b.hgate.RUnlock()
	if !h.b.drained {
		h.b.h.Subscribed(c.info)
	}
}

// OnWill clears the retain flag of a will so mochi never stores it: the
// gateway keeps presence itself and nobody may read mochi's retained
// messages of modem topics.
func (h *hook) OnWill(_ *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	will.Retain = false
	return will, nil
}
