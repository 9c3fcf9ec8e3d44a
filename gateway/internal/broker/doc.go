// Package broker is the gateway's MQTT transport: the driver layer between
// the modems' TCP connections and the gateway's message handling. It embeds
// the mochi-mqtt v2 broker (the only package of vendgate that imports it) and
// turns its hooks into a small, store-agnostic interface: an Authenticator
// that checks a modem's credentials and a Handler that is told about
// connections, subscriptions, uplinks and delivered downlinks.
//
// The wire contract (topics, ACL) is package vendgate/protocol and
// docs/protocol.md; the broker policy follows shared/research/mqtt.md §4 and
// §5.2. MQTT 3.1.1 and 5.0 clients are both served:
//
//   - Identity (MQTT 3.1.1 §3.1.3, MQTT 5 §3.1.3): the client id must be a
//     valid IMEI and equal the username; the password is checked by the
//     Authenticator, at most AuthConcurrency checks at a time. A bad id is
//     refused with "identifier rejected"; bad credentials with "bad user name
//     or password" (mochi sends 3.1.1 return code 5, "not authorized"); an
//     Authenticator failure that is not ErrBadCredentials with "server
//     unavailable", so the modem retries instead of believing its password
//     is wrong.
//   - Keepalive (MQTT 3.1.1 §3.1.2.10): 0 would disable mochi's read deadline
//     and let half-open cellular sockets live forever, so keepalive 0 and
//     values above MaxKeepalive are refused (MQTT 5 reason 0x83, 3.1.1
//     return code 5).
//   - CONNECT deadline: mochi reads the CONNECT packet with no deadline
//     (mqtt.md §4.7). The listener is wrapped so every accepted connection
//     gets ConnectTimeout as its deadline; mochi replaces it with
//     1.5 × keepalive once the CONNECT has been read.
//   - ACL (mqtt.md §5.2): a modem publishes only to its own uplink topics
//     (protocol.Class.Uplink) and subscribes only to its own
//     vm/v1/{imei}/cmd/req/+ or cmd/req/{id}. A refused SUBSCRIBE gets the
//     failure code 0x80 (3.1.1) or 0x87 (5) in its SUBACK. A refused PUBLISH
//     is dropped without reaching the Handler; mochi then, for QoS 0, drops it
//     silently; for QoS ≥ 1 from a 3.1.1 client, closes the connection without
//     a PUBACK (3.1.1 has no negative acknowledgement); for QoS ≥ 1 from an
//     MQTT 5 client, answers PUBACK with reason 0x87 "not authorized". The
//     Last Will topic is checked like a publish when the modem connects,
//     because mochi publishes wills without an ACL check.
//   - Uplinks are at-least-once into the Handler: Handler.Publish runs on the
//     modem's read goroutine before mochi writes the PUBACK. A Handler that is
//     an AsyncHandler gets QoS 1 uplinks through PublishAsync instead: queued
//     in packet order on the read goroutine, which goes on reading (up to
//     UplinkWindow uplinks per connection), and acknowledged by the broker
//     itself, in packet order (MQTT 3.1.1 §4.6), once each is stored. The broker never
//     forwards or retains uplinks (nobody may subscribe to them; the gateway
//     keeps the modem's state in its store), so mochi's retained store stays
//     empty (its own $SYS topics are dropped at Start: any retained message
//     makes mochi scan the topic tree on every SUBSCRIBE); the retain flag is
//     passed to the Handler instead.
//   - Downlinks: Broker.Publish writes the PUBLISH to the subscribed modem's
//     socket on the caller's goroutine (mochi's Client.WritePacket), with a
//     packet id and an entry in mochi's inflight store for QoS 1, so mochi
//     processes the modem's PUBACK, reported as Handler.Delivered, and
//     resends the message on a resumed session. mochi's topic index, per
//     client write queue and write goroutine are not used (no message is
//     ever routed by mochi: nobody may subscribe to uplinks). A modem that
//     takes nothing for WriteTimeout is disconnected, so a caller waits no
//     longer than that.
//
// Wills: mochi publishes a connection's will whenever its read loop ends with
// an error — a lost link, a session takeover (MQTT 5 §3.1.4 requires it) and
// Close. Nobody can subscribe to a modem's topics and the broker clears the
// will's retain flag, so a will reaches no one, and it is never passed to the
// Handler: presence comes from Connected and Disconnected. A takeover is
// done by the broker one connection at a time per modem (mochi's own is not
// safe against concurrent CONNECTs of one client id): the old connection is
// closed and mochi's cleanup of it is over before the new one is
// established, so its Disconnected (marked takenOver) comes before the new
// Connected, and Count is the number of live, established connections.
//
// Shutdown in two steps (Drain, then Shutdown or Close): Drain closes the
// listener and stops every Handler call while the modems stay connected
// (their uplinks are no longer acknowledged, so they resend them later), the
// gateway saves its state, and only then are the sockets closed, all within
// a few tens of milliseconds: a modem then retries once the next gateway
// process listens instead of being refused while this one finishes.
package broker
