// Package protocol is the modem ⇄ gateway wire contract over MQTT, version 1.
//
// It is the codec layer of the modem protocol: topic grammar (build and parse),
// the JSON envelope shared by every message, one struct per message class, strict
// decoders with typed errors and per-class size limits, and encoders. It does no
// I/O and imports only the standard library. The human-readable contract is
// docs/protocol.md; golden payloads live in testdata/protocol/.
//
// Topics (all under vm/v1/{imei}/):
//
//	hello            modem → gateway  identity and capabilities, after every connect
//	state            modem → gateway  retained; also the Last Will; online flag + epoch
//	tele/hb          modem → gateway  heartbeat
//	evt              modem → gateway  machine or modem event
//	vend             modem → gateway  a vend seen on the payment bus
//	audit            modem → gateway  an EVA-DTS audit
//	cmd/res/{cmdId}  modem → gateway  acknowledgement or result of a command
//	cmd/req/{cmdId}  gateway → modem  a command
//
// Receiving: DecodeMessage (ParseTopic, then Decode by the topic's class, then
// MatchTopic, which checks the members that repeat the topic: Hello.IMEI and
// the command id). Decoding is strict (exact member names, required members,
// value ranges; see docs/protocol.md); every refusal is a *DecodeError whose
// sentinel Reason turns into a metric label. Sending: Encode, which applies the
// same rules, so it never produces a payload the decoders refuse;
// NewCommandRequest builds commands.
package protocol
