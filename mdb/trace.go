package mdb

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseWords parses a trace of 9-bit words written in either notation of the
// vector files and the spec: "1xx"/"0xx" (three hex digits, the first is the
// mode bit), "0x1xx", or "xx" with an optional "*" for the mode bit ("12*";
// "112*" is accepted too).
// Tokens are separated by spaces, commas or tabs.
func ParseWords(s string) ([]Word, error) {
	var out []Word
	for i, tok := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' || r == '\r' }) {
		w, err := ParseWord(tok)
		if err != nil {
			return out, fmt.Errorf("token %d: %w", i+1, err)
		}
		out = append(out, w)
	}
	return out, nil
}

// ParseWord parses one token of a trace (see ParseWords).
func ParseWord(tok string) (Word, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(tok, "0x"), "0X")
	mode := false
	if strings.HasSuffix(t, "*") {
		mode = true
		t = t[:len(t)-1]
		// "12*", or the redundant "112*" some notes use.
		if len(t) != 2 && !(len(t) == 3 && t[0] == '1') {
			return 0, fmt.Errorf("%w: %q", ErrSyntax, tok)
		}
	}
	switch len(t) {
	case 2:
	case 3:
		if t[0] != '0' && t[0] != '1' {
			return 0, fmt.Errorf("%w: %q: 9-bit word must start with 0 or 1", ErrSyntax, tok)
		}
	default:
		return 0, fmt.Errorf("%w: %q", ErrSyntax, tok)
	}
	v, err := strconv.ParseUint(t, 16, 16)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, tok)
	}
	w := Word(v)
	if mode {
		w |= ModeBit
	}
	return w, nil
}

// FormatWords renders words in the "1xx"/"0xx" notation, space separated.
func FormatWords(words []Word) string {
	var sb strings.Builder
	for i, w := range words {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(w.String())
	}
	return sb.String()
}
