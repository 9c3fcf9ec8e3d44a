// Package rawmqtt is a small MQTT 3.1.1 client for load generation: just enough of
// the protocol (OASIS MQTT Version 3.1.1, §2 fixed header and remaining length, §3.1
// CONNECT with a Will, §3.2 CONNACK, §3.3 PUBLISH at QoS 0/1, §3.4 PUBACK, §3.8/§3.9
// SUBSCRIBE/SUBACK, §3.12/§3.13 PINGREQ/PINGRESP, §3.14 DISCONNECT) to hold tens of
// thousands of modem connections from one process.
//
// Layers: packet.go is the codec (pure functions over byte slices, no I/O: Append*
// encoders and Decode), conn.go is the driver: a Conn wraps one net.Conn, writes
// under a mutex from any goroutine, and is read by exactly one goroutine (the
// owner's), which is the only goroutine a connection needs. QoS 1 publishes are
// tracked until their PUBACK; incoming QoS 1 publishes are acknowledged by
// ReadPacket. Writes are coalesced: what the reader (or anyone) writes while the
// reader handles a packet is sent in one write just before ReadPacket next waits
// for the peer, so a batch of PUBACKs answered by a batch of PUBLISHes costs one
// system call each way (see Conn). There is no QoS 2, no MQTT 5 and no automatic
// reconnect: the caller (emulator/fleet) owns timers and reconnects, so the
// package starts no goroutines.
package rawmqtt
