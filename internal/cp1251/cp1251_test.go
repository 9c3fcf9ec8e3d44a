package cp1251

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConvert(t *testing.T) {
	tests := []struct {
		name string
		utf8 string
		cp   []byte
	}{
		{"ascii", "PA1*1*150*Cola", []byte("PA1*1*150*Cola")},
		{"cyrillic", "Кофе", []byte{0xCA, 0xEE, 0xF4, 0xE5}},
		{"yo and euro", "ёЁ€", []byte{0xB8, 0xA8, 0x88}},
		{"empty", "", []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromUTF8([]byte(tc.utf8))
			require.NoError(t, err)
			assert.Equal(t, tc.cp, got)
			back, err := ToUTF8(tc.cp)
			require.NoError(t, err)
			assert.Equal(t, tc.utf8, string(back))
		})
	}
}

func TestFromUTF8Errors(t *testing.T) {
	_, err := FromUTF8([]byte("Кофе 日本"))
	require.ErrorIs(t, err, ErrNotRepresentable)
	assert.Contains(t, err.Error(), "byte 9")
	_, err = FromUTF8([]byte{'a', 0xFF})
	require.ErrorIs(t, err, ErrInvalidUTF8)
}

func TestAllBytesDecode(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	u, err := ToUTF8(all)
	require.NoError(t, err)
	require.True(t, utf8.Valid(u))
	// Every assigned byte survives the round trip (0x98 is unassigned).
	back, err := FromUTF8(bytes.ReplaceAll(u, []byte("\uFFFD"), []byte("?")))
	require.NoError(t, err)
	want := bytes.Clone(all)
	want[0x98] = '?'
	assert.Equal(t, want, back)
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("Кофе"))
	f.Add([]byte{0xCA, 0xEE, 0x98, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ToUTF8(b)
		require.NoError(t, err)
		if bytes.IndexByte(b, 0x98) >= 0 {
			return
		}
		back, err := FromUTF8(u)
		require.NoError(t, err)
		require.Equal(t, b, back)
	})
}
