package main

// Fast reading of the two gateway answers rest-load looks into per command
// (POST /v2/modems/{id}/set → "commands", GET /v2/commands/{id} → "state"):
// encoding/json's reflection was the largest CPU cost of rest-load's own code.
// Anything these scanners do not plainly understand makes them return false,
// and the caller decodes with encoding/json instead.

// topField returns the raw value of the top-level key of a JSON object
// (the last one if repeated).
func topField(b []byte, key string) ([]byte, bool) {
	s := jscan{b: b}
	s.ws()
	if !s.lit('{') {
		return nil, false
	}
	var found []byte
	s.ws()
	if s.lit('}') {
		return nil, false
	}
	for {
		s.ws()
		k, ok := s.plainString()
		if !ok {
			return nil, false
		}
		s.ws()
		if !s.lit(':') {
			return nil, false
		}
		s.ws()
		start := s.i
		if !s.value(0) {
			return nil, false
		}
		if string(k) == key {
			found = b[start:s.i]
		}
		s.ws()
		if s.lit(',') {
			continue
		}
		if !s.lit('}') {
			return nil, false
		}
		s.ws()
		return found, found != nil && s.i == len(b)
	}
}

// plainStringValue returns v's content when v is a JSON string without escapes.
func plainStringValue(v []byte) (string, bool) {
	s := jscan{b: v}
	str, ok := s.plainString()
	return string(str), ok && s.i == len(v)
}

// plainStringArray returns v's elements when v is an array of strings without
// escapes.
func plainStringArray(v []byte) ([]string, bool) {
	s := jscan{b: v}
	if !s.lit('[') {
		return nil, false
	}
	out := []string{} // as encoding/json: empty, not nil
	s.ws()
	if s.lit(']') {
		return out, s.i == len(v)
	}
	for {
		s.ws()
		str, ok := s.plainString()
		if !ok {
			return nil, false
		}
		out = append(out, string(str))
		s.ws()
		if s.lit(',') {
			continue
		}
		return out, s.lit(']') && s.i == len(v)
	}
}

type jscan struct {
	b []byte
	i int
}

func (s *jscan) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *jscan) lit(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *jscan) plainString() ([]byte, bool) {
	if !s.lit('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			s.i++
			return s.b[start : s.i-1], true
		}
		if c == '\\' || c < 0x20 {
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// value passes over one value: strings with escapes, nested containers, and
// true, false, null and numbers.
func (s *jscan) value(depth int) bool {
	if depth > 64 || s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; c {
	case '"':
		s.i++
		for s.i < len(s.b) {
			switch ch := s.b[s.i]; {
			case ch == '\\':
				if !s.escape() {
					return false
				}
				continue
			case ch == '"':
				s.i++
				return true
			case ch < 0x20:
				return false
			}
			s.i++
		}
		return false
	case '{', '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		s.i++
		s.ws()
		if s.lit(end) {
			return true
		}
		for {
			s.ws()
			if c == '{' {
				if s.i >= len(s.b) || s.b[s.i] != '"' || !s.value(depth+1) {
					return false
				}
				s.ws()
				if !s.lit(':') {
					return false
				}
				s.ws()
			}
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.lit(',') {
				continue
			}
			return s.lit(end)
		}
	case 't':
		return s.word("true")
	case 'f':
		return s.word("false")
	case 'n':
		return s.word("null")
	default:
		return s.number()
	}
}

// escape passes over one escape sequence (at the backslash).
func (s *jscan) escape() bool {
	if s.i+1 >= len(s.b) {
		return false
	}
	switch s.b[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return true
	case 'u':
		if s.i+6 > len(s.b) {
			return false
		}
		for _, h := range s.b[s.i+2 : s.i+6] {
			if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
				return false
			}
		}
		s.i += 6
		return true
	}
	return false
}

func (s *jscan) word(w string) bool {
	if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
		s.i += len(w)
		return true
	}
	return false
}

// number passes over -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *jscan) number() bool {
	s.lit('-')
	if !s.lit('0') && !s.digits() {
		return false
	}
	if s.lit('.') && !s.digits() {
		return false
	}
	if s.lit('e') || s.lit('E') {
		if !s.lit('+') {
			s.lit('-')
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

func (s *jscan) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}
