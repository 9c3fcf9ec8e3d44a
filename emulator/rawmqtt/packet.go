package rawmqtt

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Packet types (MQTT 3.1.1 §2.2.1).
const (
	CONNECT     byte = 1
	CONNACK     byte = 2
	PUBLISH     byte = 3
	PUBACK      byte = 4
	SUBSCRIBE   byte = 8
	SUBACK      byte = 9
	PINGREQ     byte = 12
	PINGRESP    byte = 13
	DISCONNECT  byte = 14
	maxRemLen        = 268_435_455 // §2.2.3: four length bytes at most
	protocolLvl      = 4           // §3.1.2.2: 3.1.1
)

// Errors of the codec. Decode wraps them in a *DecodeError.
var (
	ErrIncomplete  = errors.New("rawmqtt: incomplete packet")
	ErrMalformed   = errors.New("rawmqtt: malformed packet")
	ErrUnsupported = errors.New("rawmqtt: unsupported packet type")
	ErrTooLarge    = errors.New("rawmqtt: packet too large")
)

// DecodeError says where in the buffer a packet failed to decode.
type DecodeError struct {
	Type   byte // packet type from the fixed header (0 if unread)
	Offset int  // byte offset in the buffer given to Decode
	Err    error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("rawmqtt: packet type %d at byte %d: %v", e.Type, e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Packet is a decoded control packet. Only the fields of its Type are set.
type Packet struct {
	Type           byte
	Dup, Retain    bool   // PUBLISH
	QoS            byte   // PUBLISH
	PacketID       uint16 // PUBLISH (QoS > 0), PUBACK, SUBSCRIBE, SUBACK
	Topic          string // PUBLISH; SUBSCRIBE: the first filter
	Payload        []byte // PUBLISH; aliases the decode buffer
	SessionPresent bool   // CONNACK
	ReturnCode     byte   // CONNACK; SUBACK: the first return code; SUBSCRIBE: the first requested QoS
}

// ConnectOptions are the fields of a CONNECT packet.
type ConnectOptions struct {
	ClientID     string
	Username     string
	Password     string
	Keepalive    uint16 // seconds
	CleanSession bool
	WillTopic    string // empty: no Will
	WillPayload  []byte
	WillQoS      byte
	WillRetain   bool
}

func appendHeader(b []byte, first byte, remLen int) []byte {
	b = append(b, first)
	for {
		d := byte(remLen % 128)
		remLen /= 128
		if remLen > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if remLen == 0 {
			return b
		}
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// AppendConnect appends a CONNECT packet (§3.1). Strings longer than 65535 bytes
// are the caller's mistake and are truncated by the length prefix.
func AppendConnect(b []byte, o ConnectOptions) []byte {
	flags := byte(0)
	n := 10 + 2 + len(o.ClientID)
	if o.CleanSession {
		flags |= 0x02
	}
	if o.WillTopic != "" {
		flags |= 0x04 | (o.WillQoS&3)<<3
		if o.WillRetain {
			flags |= 0x20
		}
		n += 2 + len(o.WillTopic) + 2 + len(o.WillPayload)
	}
	if o.Username != "" {
		flags |= 0x80
		n += 2 + len(o.Username)
	}
	if o.Password != "" {
		flags |= 0x40
		n += 2 + len(o.Password)
	}
	b = appendHeader(b, CONNECT<<4, n)
	b = appendString(b, "MQTT")
	b = append(b, protocolLvl, flags)
	b = binary.BigEndian.AppendUint16(b, o.Keepalive)
	b = appendString(b, o.ClientID)
	if o.WillTopic != "" {
		b = appendString(b, o.WillTopic)
		b = appendString(b, string(o.WillPayload))
	}
	if o.Username != "" {
		b = appendString(b, o.Username)
	}
	if o.Password != "" {
		b = appendString(b, o.Password)
	}
	return b
}

// AppendPublish appends a PUBLISH packet (§3.3); id is ignored at QoS 0.
func AppendPublish(b []byte, topic string, payload []byte, qos byte, retain, dup bool, id uint16) []byte {
	first := PUBLISH<<4 | (qos&3)<<1
	if retain {
		first |= 1
	}
	if dup && qos > 0 {
		first |= 8
	}
	n := 2 + len(topic) + len(payload)
	if qos > 0 {
		n += 2
	}
	b = appendHeader(b, first, n)
	b = appendString(b, topic)
	if qos > 0 {
		b = binary.BigEndian.AppendUint16(b, id)
	}
	return append(b, payload...)
}

// AppendPuback appends a PUBACK (§3.4).
func AppendPuback(b []byte, id uint16) []byte {
	return binary.BigEndian.AppendUint16(append(b, PUBACK<<4, 2), id)
}

// AppendSubscribe appends a SUBSCRIBE with one filter (§3.8).
func AppendSubscribe(b []byte, id uint16, filter string, qos byte) []byte {
	b = appendHeader(b, SUBSCRIBE<<4|2, 2+2+len(filter)+1)
	b = binary.BigEndian.AppendUint16(b, id)
	b = appendString(b, filter)
	return append(b, qos&3)
}

// AppendSuback appends a SUBACK with one return code (§3.9); used by tests and
// fake brokers.
func AppendSuback(b []byte, id uint16, code byte) []byte {
	return append(binary.BigEndian.AppendUint16(append(b, SUBACK<<4, 3), id), code)
}

// AppendConnack appends a CONNACK (§3.2); used by tests and fake brokers.
func AppendConnack(b []byte, sessionPresent bool, code byte) []byte {
	sp := byte(0)
	if sessionPresent {
		sp = 1
	}
	return append(b, CONNACK<<4, 2, sp, code)
}

// AppendPingreq, AppendPingresp and AppendDisconnect append the two-byte packets.
func AppendPingreq(b []byte) []byte { return append(b, PINGREQ<<4, 0) }

// AppendPingresp appends a PINGRESP (§3.13).
func AppendPingresp(b []byte) []byte { return append(b, PINGRESP<<4, 0) }

// AppendDisconnect appends a DISCONNECT (§3.14).
func AppendDisconnect(b []byte) []byte { return append(b, DISCONNECT<<4, 0) }

// Append encodes p again (for the packet types Decode knows); it is the inverse of
// Decode and exists for round-trip tests and fake brokers.
func Append(b []byte, p Packet) ([]byte, error) {
	switch p.Type {
	case CONNACK:
		return AppendConnack(b, p.SessionPresent, p.ReturnCode), nil
	case PUBLISH:
		return AppendPublish(b, p.Topic, p.Payload, p.QoS, p.Retain, p.Dup, p.PacketID), nil
	case PUBACK:
		return AppendPuback(b, p.PacketID), nil
	case SUBSCRIBE:
		return AppendSubscribe(b, p.PacketID, p.Topic, p.ReturnCode), nil
	case SUBACK:
		return AppendSuback(b, p.PacketID, p.ReturnCode), nil
	case PINGREQ:
		return AppendPingreq(b), nil
	case PINGRESP:
		return AppendPingresp(b), nil
	case DISCONNECT:
		return AppendDisconnect(b), nil
	}
	return b, fmt.Errorf("%w: %d", ErrUnsupported, p.Type)
}

// Header reads the fixed header at the start of b (§2.2): the first byte, the
// remaining length and the header's size. It returns ErrIncomplete when b ends
// inside it and ErrMalformed for a remaining length over four bytes. Decode
// uses it; a test peer playing the broker's side frames CONNECT and SUBSCRIBE
// packets (which Decode refuses) with it.
func Header(b []byte) (first byte, remLen, size int, err error) {
	if len(b) < 2 {
		return 0, 0, 0, ErrIncomplete
	}
	mult := 1
	for i := 1; ; i++ {
		if i > 4 {
			return b[0], 0, 0, ErrMalformed // §2.2.3: at most four bytes
		}
		if i >= len(b) {
			return b[0], 0, 0, ErrIncomplete
		}
		remLen += int(b[i]&0x7f) * mult
		if b[i]&0x80 == 0 {
			return b[0], remLen, i + 1, nil
		}
		mult *= 128
	}
}

// Decode decodes the first packet in b and returns it with the number of bytes it
// used. Errors are *DecodeError wrapping ErrIncomplete (b holds only part of a
// packet: read more), ErrMalformed, ErrTooLarge (remaining length above max, when
// max > 0) or ErrUnsupported (a type a broker does not send to this client, such
// as CONNECT or QoS 2 flows).
func Decode(b []byte, max int) (Packet, int, error) {
	first, remLen, hs, err := Header(b)
	typ := first >> 4
	if err != nil {
		return Packet{}, 0, &DecodeError{Type: typ, Offset: min(len(b), 1), Err: err}
	}
	if max > 0 && remLen > max {
		return Packet{}, 0, &DecodeError{Type: typ, Offset: 1, Err: ErrTooLarge}
	}
	if len(b) < hs+remLen {
		return Packet{}, 0, &DecodeError{Type: typ, Offset: len(b), Err: ErrIncomplete}
	}
	body := b[hs : hs+remLen]
	p := Packet{Type: typ}
	bad := func(off int, why string) (Packet, int, error) {
		return Packet{}, 0, &DecodeError{Type: typ, Offset: hs + off, Err: fmt.Errorf("%w: %s", ErrMalformed, why)}
	}
	flags := first & 0x0f
	switch typ {
	case CONNACK:
		if flags != 0 || remLen != 2 || body[0]&^1 != 0 {
			return bad(0, "connack must be 2 bytes, flags 0")
		}
		p.SessionPresent, p.ReturnCode = body[0] == 1, body[1]
	case PUBACK:
		if flags != 0 || remLen != 2 {
			return bad(0, "puback must be 2 bytes, flags 0")
		}
		p.PacketID = binary.BigEndian.Uint16(body)
	case SUBACK:
		if flags != 0 || remLen < 3 {
			return bad(0, "suback needs an id and a return code")
		}
		p.PacketID, p.ReturnCode = binary.BigEndian.Uint16(body), body[2]
		for i, c := range body[2:] {
			if c != 0 && c != 1 && c != 2 && c != 0x80 {
				return bad(2+i, "bad suback return code")
			}
		}
	case PINGREQ, PINGRESP, DISCONNECT:
		if flags != 0 || remLen != 0 {
			return bad(0, "must be empty, flags 0")
		}
	case PUBLISH:
		p.Dup, p.QoS, p.Retain = flags&8 != 0, flags>>1&3, flags&1 != 0
		if p.QoS == 3 {
			return bad(0, "qos 3")
		}
		if p.QoS == 0 && p.Dup {
			return bad(0, "dup at qos 0") // §3.3.1.1
		}
		if p.QoS == 2 {
			return Packet{}, 0, &DecodeError{Type: typ, Offset: 0, Err: fmt.Errorf("%w: qos 2 publish", ErrUnsupported)}
		}
		topic, off, ok := readString(body, 0)
		if !ok || topic == "" {
			return bad(off, "topic")
		}
		p.Topic = topic
		if p.QoS > 0 {
			if len(body) < off+2 {
				return bad(off, "packet id")
			}
			p.PacketID = binary.BigEndian.Uint16(body[off:])
			if p.PacketID == 0 {
				return bad(off, "packet id 0") // §2.3.1
			}
			off += 2
		}
		p.Payload = body[off:]
	case SUBSCRIBE:
		if flags != 2 || remLen < 2 {
			return bad(0, "subscribe flags must be 2")
		}
		p.PacketID = binary.BigEndian.Uint16(body)
		if p.PacketID == 0 {
			return bad(0, "packet id 0")
		}
		off := 2
		for off < len(body) {
			f, next, ok := readString(body, off)
			if !ok || f == "" || next >= len(body) || body[next] > 2 {
				return bad(off, "topic filter")
			}
			if p.Topic == "" {
				p.Topic, p.ReturnCode = f, body[next]
			}
			off = next + 1
		}
		if p.Topic == "" {
			return bad(off, "no topic filter") // §3.8.3
		}
	default:
		return Packet{}, 0, &DecodeError{Type: typ, Offset: 0, Err: ErrUnsupported}
	}
	return p, hs + remLen, nil
}

func readString(b []byte, off int) (string, int, bool) {
	if len(b) < off+2 {
		return "", off, false
	}
	n := int(binary.BigEndian.Uint16(b[off:]))
	if len(b) < off+2+n {
		return "", off, false
	}
	return string(b[off+2 : off+2+n]), off + 2 + n, true
}
