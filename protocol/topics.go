package protocol

import (
	"fmt"
	"strings"
)

// TopicPrefix starts every topic of protocol v1: vm/v1/{imei}/...
const TopicPrefix = "vm/v1/"

// Topic suffixes after vm/v1/{imei}/ (docs/protocol.md "Topics").
const (
	segHello   = "hello"
	segState   = "state"
	segHB      = "tele/hb"
	segEvent   = "evt"
	segVend    = "vend"
	segAudit   = "audit"
	segCmdRes  = "cmd/res/"
	segCmdReq  = "cmd/req/"
	maxIMEILen = 16
	maxIDLen   = 64
)

// MaxTopicLen is the length of the longest valid topic:
// vm/v1/{16-digit imei}/cmd/res/{64-char id}. ParseTopic refuses longer input
// before looking at it.
const MaxTopicLen = len(TopicPrefix) + maxIMEILen + 1 + len(segCmdRes) + maxIDLen

// Topic is a parsed topic: the modem, the message class and, for
// cmd/req/{cmdId} and cmd/res/{cmdId}, the command id.
type Topic struct {
	IMEI  string // the modem's IMEI, which is also its MQTT client id and username
	Class Class  // the message class the topic carries
	CmdID string // the command id; set only for ClassCommandRequest and ClassCommandResult
}

// ParseTopic parses a topic of protocol v1. It is strict: the exact grammar
// vm/v1/{imei}/{hello|state|tele/hb|evt|vend|audit|cmd/res/{id}|cmd/req/{id}}
// with a valid IMEI and id, nothing else (no wildcards, no trailing slash, no
// extra levels). Errors wrap ErrTopic.
func ParseTopic(s string) (Topic, error) {
	if len(s) > MaxTopicLen {
		return Topic{}, fmt.Errorf("%w: %d bytes, longer than %d", ErrTopic, len(s), MaxTopicLen)
	}
	rest, ok := strings.CutPrefix(s, TopicPrefix)
	if !ok {
		return Topic{}, fmt.Errorf("%w: %q does not start with %q", ErrTopic, s, TopicPrefix)
	}
	imei, suffix, ok := strings.Cut(rest, "/")
	if !ok {
		return Topic{}, fmt.Errorf("%w: %q has no message level", ErrTopic, s)
	}
	if !ValidIMEI(imei) {
		return Topic{}, fmt.Errorf("%w: %q: invalid imei %q", ErrTopic, s, imei)
	}
	t := Topic{IMEI: imei}
	switch suffix {
	case segHello:
		t.Class = ClassHello
	case segState:
		t.Class = ClassState
	case segHB:
		t.Class = ClassHeartbeat
	case segEvent:
		t.Class = ClassEvent
	case segVend:
		t.Class = ClassVend
	case segAudit:
		t.Class = ClassAudit
	default:
		var id string
		if id, ok = strings.CutPrefix(suffix, segCmdRes); ok {
			t.Class = ClassCommandResult
		} else if id, ok = strings.CutPrefix(suffix, segCmdReq); ok {
			t.Class = ClassCommandRequest
		} else {
			return Topic{}, fmt.Errorf("%w: %q: unknown message level %q", ErrTopic, s, suffix)
		}
		if !ValidID(id) {
			return Topic{}, fmt.Errorf("%w: %q: invalid command id %q", ErrTopic, s, id)
		}
		t.CmdID = id
	}
	return t, nil
}

// String returns the topic's text. It does not validate; a Topic of
// ClassUnknown yields "".
func (t Topic) String() string {
	switch t.Class {
	case ClassCommandResult:
		return CommandResultTopic(t.IMEI, t.CmdID)
	case ClassCommandRequest:
		return CommandRequestTopic(t.IMEI, t.CmdID)
	}
	return TopicFor(t.IMEI, t.Class)
}

// TopicFor returns the topic of a class that has no command id (hello, state,
// tele/hb, evt, vend, audit). For the command classes and ClassUnknown it
// returns "": use CommandRequestTopic and CommandResultTopic.
func TopicFor(imei string, c Class) string {
	var seg string
	switch c {
	case ClassHello:
		seg = segHello
	case ClassState:
		seg = segState
	case ClassHeartbeat:
		seg = segHB
	case ClassEvent:
		seg = segEvent
	case ClassVend:
		seg = segVend
	case ClassAudit:
		seg = segAudit
	default:
		return ""
	}
	return Prefix(imei) + seg
}

// CommandRequestTopic returns vm/v1/{imei}/cmd/req/{cmdID}, where the gateway
// publishes a command.
func CommandRequestTopic(imei, cmdID string) string {
	return Prefix(imei) + segCmdReq + cmdID
}

// CommandResultTopic returns vm/v1/{imei}/cmd/res/{cmdID}, where the modem
// publishes the acknowledgement and result of a command.
func CommandResultTopic(imei, cmdID string) string {
	return Prefix(imei) + segCmdRes + cmdID
}

// CommandRequestFilter returns vm/v1/{imei}/cmd/req/+, the only filter a modem
// may subscribe to.
func CommandRequestFilter(imei string) string {
	return Prefix(imei) + segCmdReq + "+"
}

// Prefix returns vm/v1/{imei}/, the root of every topic of one modem (used by
// the ACL: a modem publishes only below its own prefix).
func Prefix(imei string) string {
	return TopicPrefix + imei + "/"
}

// ValidIMEI reports whether s is 14..16 ASCII decimal digits. IMEIs are 15
// digits (IMEISV 16); Telemetron examples use both, and 14 allows an IMEI
// without its check digit.
func ValidIMEI(s string) bool {
	if len(s) < 14 || len(s) > maxIMEILen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidID reports whether s is a valid message or command id: 1..64 of
// [A-Za-z0-9_.:-]. The set excludes MQTT's '/', '+', '#' so an id can be a
// topic level, and fits ULIDs and UUIDs.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idByte(s[i]) {
			return false
		}
	}
	return true
}

func idByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '_', c == '.', c == ':', c == '-':
		return true
	}
	return false
}

// String returns the class's short name, stable for use as a metric label:
// "hello", "state", "hb", "evt", "vend", "audit", "cmd_res", "cmd_req" or
// "unknown".
func (c Class) String() string {
	switch c {
	case ClassHello:
		return "hello"
	case ClassState:
		return "state"
	case ClassHeartbeat:
		return "hb"
	case ClassEvent:
		return "evt"
	case ClassVend:
		return "vend"
	case ClassAudit:
		return "audit"
	case ClassCommandResult:
		return "cmd_res"
	case ClassCommandRequest:
		return "cmd_req"
	}
	return "unknown"
}

// Uplink reports whether the class travels modem → gateway (everything but
// the command request). The ACL lets a modem publish only uplink classes.
func (c Class) Uplink() bool {
	switch c {
	case ClassHello, ClassState, ClassHeartbeat, ClassEvent, ClassVend, ClassAudit, ClassCommandResult:
		return true
	}
	return false
}
