package protocol

// MaxAuditText is the largest audit text, in bytes once decoded. EVA-DTS
// audits are 2..50 KB in practice (research/mqtt.md §4.4); the limit leaves
// room for large machines without letting one message hold unbounded memory.
const MaxAuditText = 256 << 10

// auditEnvelope is the room an audit payload has besides its data: header,
// port, time, enc, cmd and the JSON punctuation.
const auditEnvelope = 1 << 10

// maxAuditPayload is MaxAuditText base64-encoded (4 bytes per started 3) plus
// the envelope. A raw (enc "") text must fit the same bound after JSON
// escaping; base64 is the safe choice for large audits.
const maxAuditPayload = 4*((MaxAuditText+2)/3) + auditEnvelope

// Per-class payload limits in bytes (docs/protocol.md "Size limits").
const (
	maxHelloPayload      = 4 << 10
	maxStatePayload      = 1 << 10
	maxHeartbeatPayload  = 1 << 10
	maxEventPayload      = 8 << 10
	maxVendPayload       = 2 << 10
	maxCmdResultPayload  = 16 << 10
	maxCmdRequestPayload = 16 << 10
)

// packetSlack covers everything in an MQTT PUBLISH besides topic and payload:
// fixed header (≤ 5 bytes), topic length (2), packet id (2) and MQTT 5
// properties a client may add.
const packetSlack = 1 << 10

// MaxPacket is the largest MQTT packet the broker must accept: the largest
// payload (an audit) plus the longest topic plus header slack. Configure the
// broker's maximum packet size to this value.
const MaxPacket = maxAuditPayload + MaxTopicLen + packetSlack

// MaxPayload returns the largest payload, in bytes, accepted for class c; 0
// for ClassUnknown. Decoders check it before parsing and Encode after
// marshalling.
func MaxPayload(c Class) int {
	switch c {
	case ClassHello:
		return maxHelloPayload
	case ClassState:
		return maxStatePayload
	case ClassHeartbeat:
		return maxHeartbeatPayload
	case ClassEvent:
		return maxEventPayload
	case ClassVend:
		return maxVendPayload
	case ClassAudit:
		return maxAuditPayload
	case ClassCommandResult:
		return maxCmdResultPayload
	case ClassCommandRequest:
		return maxCmdRequestPayload
	}
	return 0
}
