package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// ClassOf returns the class of a message value or pointer (Hello, *Hello,
// State, ...), or ClassUnknown for anything else, including nil pointers.
func ClassOf(v any) Class {
	switch x := v.(type) {
	case Hello:
		return ClassHello
	case *Hello:
		if x != nil {
			return ClassHello
		}
	case State:
		return ClassState
	case *State:
		if x != nil {
			return ClassState
		}
	case Heartbeat:
		return ClassHeartbeat
	case *Heartbeat:
		if x != nil {
			return ClassHeartbeat
		}
	case Event:
		return ClassEvent
	case *Event:
		if x != nil {
			return ClassEvent
		}
	case Vend:
		return ClassVend
	case *Vend:
		if x != nil {
			return ClassVend
		}
	case Audit:
		return ClassAudit
	case *Audit:
		if x != nil {
			return ClassAudit
		}
	case CommandResult:
		return ClassCommandResult
	case *CommandResult:
		if x != nil {
			return ClassCommandResult
		}
	case CommandRequest:
		return ClassCommandRequest
	case *CommandRequest:
		if x != nil {
			return ClassCommandRequest
		}
	}
	return ClassUnknown
}

// validate applies the class's value rules to a message value or pointer.
func validate(v any) error {
	switch x := v.(type) {
	case Hello:
		return validateHello(&x)
	case *Hello:
		return validateHello(x)
	case State:
		return validateState(&x)
	case *State:
		return validateState(x)
	case Heartbeat:
		return validateHeartbeat(&x)
	case *Heartbeat:
		return validateHeartbeat(x)
	case Event:
		return validateEvent(&x)
	case *Event:
		return validateEvent(x)
	case Vend:
		return validateVend(&x)
	case *Vend:
		return validateVend(x)
	case Audit:
		return validateAudit(&x)
	case *Audit:
		return validateAudit(x)
	case CommandResult:
		return validateCommandResult(&x)
	case *CommandResult:
		return validateCommandResult(x)
	case CommandRequest:
		return validateCommandRequest(&x)
	case *CommandRequest:
		return validateCommandRequest(x)
	}
	return nil
}

// Encode validates a message value or pointer (Hello, State, Heartbeat, Event,
// Vend, Audit, CommandResult, CommandRequest) with the rules of the decoders,
// marshals it to compact JSON without HTML escaping and checks the size
// against MaxPayload. Whatever it returns, the matching decoder accepts.
// Errors are *DecodeError. A CommandRequest, which the gateway sends for
// every command, is marshalled without reflection (appendCommandRequest), to
// the bytes encoding/json gives.
func Encode(v any) ([]byte, error) {
	c := ClassOf(v)
	if c == ClassUnknown {
		return nil, newErr(c, "", ErrInvalidValue, fmt.Sprintf("%T is not a protocol message", v))
	}
	if err := validate(v); err != nil {
		return nil, err
	}
	b, ok := encodeFast(v)
	if !ok {
		var err error
		if b, err = encodeJSON(c, v); err != nil {
			return nil, err
		}
	}
	if max := MaxPayload(c); len(b) > max {
		return nil, newErr(c, "", ErrTooLarge, fmt.Sprintf("%d bytes, limit %d", len(b), max))
	}
	return b, nil
}

// encodeJSON marshals v, a message of class c, with encoding/json: compact,
// without HTML escaping. It is Encode's path for the classes without a fast
// encoder (and the reference the fast encoders are tested against).
func encodeJSON(c Class, v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Keep '<', '>' and '&' as they are: the payload is not HTML, and escaping
	// would make free-form members (payload, result, args) differ after a round
	// trip.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, newErr(c, "", ErrInvalidValue, err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// NewCommandRequest builds and validates a command request: id is the command
// id (also its topic level and idempotency key), args is the argument value
// for name (ResetArgs, CashlessModeArgs, ... or a pointer to one; nil for no
// arguments), ts the creation and exp the expiry time.
func NewCommandRequest(id string, name CommandName, args any, ts, exp time.Time) (CommandRequest, error) {
	const c = ClassCommandRequest
	r := CommandRequest{
		Header: Header{V: Version, ID: id, TS: Millis(ts)},
		Name:   name,
		Exp:    Millis(exp),
	}
	if args != nil {
		if want := argsName(args); want == "" {
			return CommandRequest{}, newErr(c, "args", ErrInvalidValue, fmt.Sprintf("%T is not a command argument type", args))
		} else if want != name {
			return CommandRequest{}, newErr(c, "args", ErrInvalidValue, fmt.Sprintf("%T are the arguments of %s, not %s", args, want, clip(string(name))))
		}
		raw, err := json.Marshal(args)
		if err != nil {
			return CommandRequest{}, newErr(c, "args", ErrInvalidValue, err.Error())
		}
		r.Args = raw
	}
	if err := validateCommandRequest(&r); err != nil {
		return CommandRequest{}, err
	}
	return r, nil
}

// argsName returns the command whose argument type args is, or "".
func argsName(args any) CommandName {
	switch args.(type) {
	case ResetArgs, *ResetArgs:
		return CmdReset
	case CashlessModeArgs, *CashlessModeArgs:
		return CmdCashlessMode
	case CashlessAddressArgs, *CashlessAddressArgs:
		return CmdCashlessAddress
	case CashlessCreditArgs, *CashlessCreditArgs:
		return CmdCashlessCredit
	case DispenseArgs, *DispenseArgs:
		return CmdDispense
	case RequestArgs, *RequestArgs:
		return CmdRequest
	case SetConfigArgs, *SetConfigArgs:
		return CmdSetConfig
	}
	return ""
}

// MatchTopic checks what the payload must repeat from its topic: the class,
// Hello.IMEI = the topic's IMEI, CommandResult.Cmd and CommandRequest.ID = the
// topic's command id. Call it after decoding; errors are *DecodeError with
// ErrTopic.
func MatchTopic(t Topic, v any) error {
	c := ClassOf(v)
	if c != t.Class {
		return newErr(t.Class, "", ErrTopic, fmt.Sprintf("payload of class %s on a %s topic", c, t.Class))
	}
	switch x := v.(type) {
	case Hello:
		return matchIMEI(t, x.IMEI)
	case *Hello:
		return matchIMEI(t, x.IMEI)
	case CommandResult:
		return matchCmd(t, "cmd", x.Cmd)
	case *CommandResult:
		return matchCmd(t, "cmd", x.Cmd)
	case CommandRequest:
		return matchCmd(t, "id", x.ID)
	case *CommandRequest:
		return matchCmd(t, "id", x.ID)
	}
	return nil
}

func matchIMEI(t Topic, imei string) error {
	if imei != t.IMEI {
		return newErr(t.Class, "imei", ErrTopic, fmt.Sprintf("%q differs from the topic's %q", clip(imei), t.IMEI))
	}
	return nil
}

func matchCmd(t Topic, f, id string) error {
	if id != t.CmdID {
		return newErr(t.Class, f, ErrTopic, fmt.Sprintf("%q differs from the topic's %q", clip(id), t.CmdID))
	}
	return nil
}

// Millis returns t as Unix milliseconds, the unit of every time member.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// FromMillis returns the UTC time of Unix milliseconds ms.
func FromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
