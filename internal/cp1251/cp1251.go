package cp1251

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// ErrNotRepresentable reports a character that Windows-1251 cannot encode.
var ErrNotRepresentable = errors.New("cp1251: character not representable in windows-1251")

// ErrInvalidUTF8 reports input to FromUTF8 that is not valid UTF-8.
var ErrInvalidUTF8 = errors.New("cp1251: invalid utf-8")

// ToUTF8 decodes Windows-1251 bytes to UTF-8. Every byte value maps to a
// character (0x98, unassigned, maps to U+FFFD), so it only fails on
// internal errors of the decoder.
func ToUTF8(b []byte) ([]byte, error) {
	out, err := charmap.Windows1251.NewDecoder().Bytes(b)
	if err != nil {
		return nil, fmt.Errorf("cp1251: decode: %w", err)
	}
	return out, nil
}

// FromUTF8 encodes UTF-8 text as Windows-1251. It fails with
// ErrInvalidUTF8 or ErrNotRepresentable (with the byte offset) instead of
// substituting characters, so no audit text is silently altered.
func FromUTF8(b []byte) ([]byte, error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return nil, fmt.Errorf("%w at byte %d", ErrInvalidUTF8, i)
		}
		c, ok := charmap.Windows1251.EncodeRune(r)
		if !ok {
			return nil, fmt.Errorf("%w: %q at byte %d", ErrNotRepresentable, r, i)
		}
		out = append(out, c)
		i += n
	}
	return out, nil
}
