// Package fleet runs many emulated modems (emulator/modem) against one broker, for
// load tests and demos, and summarises what they saw: connections, uplinks sent and
// acknowledged, commands received and answered, and command latency as measured on
// the modem side (from the request's ts to the publish of the terminal result).
//
// It is the top "driver" layer of the emulator; like the modems it reaches the gateway
// only over MQTT (protocol v1, docs/protocol.md).
//
// Two clients (Config.Client). "paho" runs a full emulator/modem per member (a
// machine model, offline buffer, every command): realistic, but a paho client per
// modem costs several goroutines and tens of KB, so it suits tens to hundreds. "raw"
// (the default above 100 modems) runs one emulator/rawmqtt connection per modem
// with a single goroutine each (reader and reconnect loop) and a shared timer heap
// for heartbeats, events, vends, audits and keepalive pings: it holds 19,000 modems
// in one process (open-file limit 20,000), spreads source addresses over
// 127.0.0.x (ParseSourceRange) against the 28k ephemeral ports per address, backs
// off with jitter on reconnect, resends unacknowledged uplinks with their ids,
// answers every cmd/req with accepted then succeeded (expired past exp; a repeated
// id is answered, not re-run) and measures the command round trip from the
// request's ts to the PUBACK of its "succeeded". Flood > 0 turns it into a
// closed-loop QoS 1 throughput generator (the summary's AckRate).
//
// The raw client shares the 2-core machine with the gateway it measures, so it
// is kept lean per message: rawmqtt coalesces the packets a reader produces for
// one batch of incoming packets into one write, the frequent payloads are
// appended without fmt, command requests are read by a one-pass scanner (with
// the full protocol decoder as fallback and on every 64th request), and the
// read deadline is renewed only when half of it is used. Benchmarks:
// BenchmarkRawFleetFlood and BenchmarkRawFleetCommands (CPU per uplink/command).
//
// Fleet credentials. IMEIs are a digit prefix (default "35") followed by the
// zero-padded index 1..N to 15 digits: IMEI("35", 1) = "350000000000001". Each modem's
// password is Password(secret, imei) = lower-case hex of the first 12 bytes of
// HMAC-SHA256(key = secret, message = imei), 24 characters. A gateway is provisioned
// for the same fleet either by computing the same function or by importing the
// "imei password" lines that WriteProvision (vendemu fleet --provision-file) writes.
package fleet
