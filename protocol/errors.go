package protocol

import (
	"errors"
	"strings"
)

// Sentinel errors. Every error of the decoders and of Encode is a *DecodeError
// whose Err is one of these (test with errors.Is); ParseTopic's errors wrap
// ErrTopic.
var (
	// ErrTooLarge: the payload exceeds MaxPayload of its class, or the audit
	// text exceeds MaxAuditText.
	ErrTooLarge = errors.New("protocol: too large")
	// ErrSyntax: the payload is not exactly one JSON object.
	ErrSyntax = errors.New("protocol: malformed json")
	// ErrUnknownField: the object has a member this version does not define.
	// Names are matched exactly (case-sensitive).
	ErrUnknownField = errors.New("protocol: unknown field")
	// ErrMissingField: a required member is absent.
	ErrMissingField = errors.New("protocol: missing field")
	// ErrInvalidValue: a member has the wrong JSON type, is null where a value
	// is required, or is out of range.
	ErrInvalidValue = errors.New("protocol: invalid value")
	// ErrVersion: the envelope's "v" is not Version.
	ErrVersion = errors.New("protocol: unsupported version")
	// ErrTopic: the topic does not follow the v1 grammar, or the payload
	// contradicts it (see MatchTopic).
	ErrTopic = errors.New("protocol: invalid topic")
)

// DecodeError describes why a payload was refused: the class, the member (a
// dotted path such as "cashless.address" or "args.amount"; "" for the whole
// payload), the sentinel and a human-readable detail. Encode returns it too,
// for values that Decode would refuse.
type DecodeError struct {
	Class  Class  // the message class being decoded or encoded
	Field  string // JSON path of the offending member, "" for the whole payload
	Err    error  // one of the sentinels
	Detail string // what exactly is wrong, for logs
}

// Error formats the error as "protocol: {class}[.{field}]: {sentinel}[: {detail}]".
func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("protocol: ")
	b.WriteString(e.Class.String())
	if e.Field != "" {
		b.WriteByte('.')
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "protocol: "))
	} else {
		b.WriteString("error")
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns the sentinel so errors.Is works.
func (e *DecodeError) Unwrap() error { return e.Err }

// Reason maps an error to a short stable label for metrics:
// "too_large", "syntax", "unknown_field", "missing_field", "invalid_value",
// "unsupported_version", "topic" or "other" (also for nil).
func Reason(err error) string {
	switch {
	case err == nil:
		return "other"
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrSyntax):
		return "syntax"
	case errors.Is(err, ErrUnknownField):
		return "unknown_field"
	case errors.Is(err, ErrMissingField):
		return "missing_field"
	case errors.Is(err, ErrInvalidValue):
		return "invalid_value"
	case errors.Is(err, ErrVersion):
		return "unsupported_version"
	case errors.Is(err, ErrTopic):
		return "topic"
	}
	return "other"
}

func newErr(c Class, field string, sentinel error, detail string) *DecodeError {
	return &DecodeError{Class: c, Field: field, Err: sentinel, Detail: detail}
}

// clip shortens untrusted text quoted in error details so a hostile payload
// cannot blow up logs.
func clip(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
