// Package fleet runs many emulated modems (emulator/modem) against one broker, for
// load tests and demos, and summarises what they saw: connections, uplinks sent and
// acknowledged, commands received and answered, and command latency as measured on
// the modem side (from the request's ts to the publish of the terminal result).
//
// It is the top "driver" layer of the emulator; like the modems it reaches the gateway
// only over MQTT (protocol v1, docs/protocol.md).
//
// Fleet credentials. IMEIs are a digit prefix (default "35") followed by the
// zero-padded index 1..N to 15 digits: IMEI("35", 1) = "350000000000001". Each modem's
// password is Password(secret, imei) = lower-case hex of the first 12 bytes of
// HMAC-SHA256(key = secret, message = imei), 24 characters. A gateway is provisioned
// for the same fleet either by computing the same function or by importing the
// "imei password" lines that WriteProvision (vendemu fleet --provision-file) writes.
package fleet
