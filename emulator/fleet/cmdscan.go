package fleet

import "strconv"

// scanCommand reads the three fields a raw modem needs from a command request
// (protocol §7: "id", "ts", "exp") in one pass, without reflection or
// allocation beyond the id string. It is the fast path of rawModem.command: the
// full protocol.DecodeCommandRequest cost a fleet more CPU per command than
// its sockets. ok is false for anything it does not plainly understand (not
// an object, escapes in the id or a key, non-integer ts/exp, a field missing,
// trailing bytes); the caller then falls back to the full decoder.
func scanCommand(b []byte) (id string, ts, exp int64, ok bool) {
	s := cmdScanner{b: b}
	s.ws()
	if !s.byte('{') {
		return "", 0, 0, false
	}
	var haveTS, haveExp bool
	s.ws()
	if s.byte('}') {
		return "", 0, 0, false
	}
	for {
		s.ws()
		key, plain := s.str()
		if !plain {
			return "", 0, 0, false
		}
		s.ws()
		if !s.byte(':') {
			return "", 0, 0, false
		}
		s.ws()
		switch string(key) {
		case "id":
			v, plain := s.str()
			if !plain {
				return "", 0, 0, false
			}
			id = string(v)
		case "ts":
			if ts, plain = s.int(); !plain {
				return "", 0, 0, false
			}
			haveTS = true
		case "exp":
			if exp, plain = s.int(); !plain {
				return "", 0, 0, false
			}
			haveExp = true
		default:
			if !s.skip(0) {
				return "", 0, 0, false
			}
		}
		s.ws()
		if s.byte(',') {
			continue
		}
		if !s.byte('}') {
			return "", 0, 0, false
		}
		break
	}
	s.ws()
	return id, ts, exp, s.i == len(s.b) && id != "" && haveTS && haveExp
}

type cmdScanner struct {
	b []byte
	i int
}

func (s *cmdScanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *cmdScanner) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string without escapes or control characters (false otherwise).
func (s *cmdScanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// int reads a JSON integer that fits an int64.
func (s *cmdScanner) int() (int64, bool) {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, false
	}
	digits := s.b[start:s.i]
	if len(digits) > 1 && digits[0] == '0' || len(digits) > 2 && digits[0] == '-' && digits[1] == '0' {
		return 0, false // JSON has no leading zeros
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	return n, err == nil
}

// skip passes over any JSON value (checked only loosely: the full decoder is
// the judge of a request's other fields).
func (s *cmdScanner) skip(depth int) bool {
	if depth > 32 || s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		s.i++
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '\\':
				s.i += 2
				continue
			case '"':
				s.i++
				return true
			}
			s.i++
		}
		return false
	case c == '{' || c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		s.i++
		s.ws()
		if s.byte(end) {
			return true
		}
		for {
			s.ws()
			if c == '{' {
				if _, ok := s.keyAny(); !ok {
					return false
				}
				s.ws()
				if !s.byte(':') {
					return false
				}
				s.ws()
			}
			if !s.skip(depth + 1) {
				return false
			}
			s.ws()
			if s.byte(',') {
				continue
			}
			return s.byte(end)
		}
	default:
		start := s.i
		for s.i < len(s.b) {
			c := s.b[s.i]
			if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				break
			}
			s.i++
		}
		return s.i > start
	}
}

// keyAny reads an object key, escapes allowed.
func (s *cmdScanner) keyAny() (struct{}, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return struct{}{}, false
	}
	return struct{}{}, s.skip(0)
}
