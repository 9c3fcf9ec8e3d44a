package protocol

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// The reflection-free encoder of the one message the gateway sends on every
// command, CommandRequest. It writes byte for byte what encoding/json writes
// for the struct (FuzzEncodeCommandRequest holds the two equal): the members
// in field order (v, id, ts, name, args, exp), args left out when empty,
// integers in decimal, strings escaped as encoding/json escapes them, and
// args compacted as encoding/json compacts a json.RawMessage. html is
// encoding/json's EscapeHTML; Encode turns it off.

// encodeFast marshals v without reflection when it is a class with a fast
// encoder; ok false: use encoding/json.
func encodeFast(v any) (b []byte, ok bool) {
	switch x := v.(type) {
	case CommandRequest:
		return appendCommandRequest(nil, &x, false)
	case *CommandRequest:
		return appendCommandRequest(nil, x, false)
	}
	return nil, false
}

// commandRequestFrame is the room of a request besides its values: member
// names and punctuation.
const commandRequestFrame = len(`{"v":,"id":"","ts":,"name":"","args":,"exp":}`)

// decimalLen is the length of strconv.AppendInt(nil, n, 10).
func decimalLen(n int64) int {
	l := 1
	if n < 0 {
		l++ // the '-'
		if n > -10 {
			return l
		}
		n = -(n / 10) // the digits but the last (no overflow for math.MinInt64)
		l++
	}
	for ; n >= 10; n /= 10 {
		l++
	}
	return l
}

// appendCommandRequest appends the JSON of r to dst; false (and dst as it
// was) when r.Args is not valid JSON, which encoding/json refuses.
func appendCommandRequest(dst []byte, r *CommandRequest, html bool) ([]byte, bool) {
	if len(r.Args) > 0 && !json.Valid(r.Args) {
		return dst, false
	}
	if dst == nil {
		// The exact size unless a string needs escaping or args whitespace
		// is dropped.
		n := commandRequestFrame + decimalLen(int64(r.V)) + len(r.ID) + decimalLen(r.TS) +
			len(r.Name) + len(r.Args) + decimalLen(r.Exp)
		if len(r.Args) == 0 {
			n -= len(`,"args":`)
		}
		dst = make([]byte, 0, n)
	}
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, int64(r.V), 10)
	dst = append(dst, `,"id":`...)
	dst = AppendJSONString(dst, r.ID, html)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, r.TS, 10)
	dst = append(dst, `,"name":`...)
	dst = AppendJSONString(dst, string(r.Name), html)
	if len(r.Args) > 0 {
		dst = append(dst, `,"args":`...)
		dst = appendCompactValid(dst, r.Args, html)
	}
	dst = append(dst, `,"exp":`...)
	dst = strconv.AppendInt(dst, r.Exp, 10)
	return append(dst, '}'), true
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string the way encoding/json writes
// a Go string: '"' and '\' escaped with a backslash, control characters as
// \b \f \n \r \t or \u00XX, invalid UTF-8 as \ufffd, U+2028 and U+2029 as
// \u2028 and \u2029, and with html also '<', '>' and '&' as \u00XX.
func AppendJSONString(dst []byte, s string, html bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!html || (c != '<' && c != '>' && c != '&')) {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendCompactValid appends src, which must be valid JSON, without the
// whitespace between its tokens: what encoding/json writes for a
// json.RawMessage. With html it also escapes '<', '>', '&', U+2028 and
// U+2029 (which valid JSON has only inside strings) as encoding/json does,
// byte by byte.
func appendCompactValid(dst, src []byte, html bool) []byte {
	start := 0
	inString := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			switch {
			case c == '\\':
				i++ // the escaped byte: '"', '\', '/', a letter; never one of those below
			case c == '"':
				inString = false
			case !html:
			case c == '<' || c == '>' || c == '&':
				dst = append(dst, src[start:i]...)
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
				start = i + 1
			case c == 0xe2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xa8:
				dst = append(dst, src[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[src[i+2]&0xf])
				i += 2
				start = i + 1
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ' ', '\t', '\r', '\n':
			dst = append(dst, src[start:i]...)
			start = i + 1
		}
	}
	return append(dst, src[start:]...)
}
