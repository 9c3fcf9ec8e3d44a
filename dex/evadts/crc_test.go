package evadts

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crcBitwise is the reference loop of EVA-DTS 6.2 §6.1.2.
func crcBitwise(crc uint16, p []byte) uint16 {
	for _, d := range p {
		for range 8 {
			if (uint16(d)^crc)&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
			d >>= 1
		}
	}
	return crc
}

func TestCRC16(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want uint16
	}{
		{"check value", "123456789", 0xBB3D},
		{"handshake Crane 423", "CNV   DE32SR01L01\x03", 0x9B75},
		{"handshake DC master", "1234567890RR00L06\x03", 0xBDE1},
		{"empty", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, CRC16(0, []byte(tc.in)))
			assert.Equal(t, tc.want, crcString(0, tc.in))
		})
	}
}

func TestCRC16MatchesBitwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 40 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		init := uint16(rng.UintN(1 << 16))
		want := crcBitwise(init, b)
		assert.Equal(t, want, CRC16(init, b), "len %d", n)
		assert.Equal(t, want, crcString(init, string(b)), "len %d", n)
	}
}

// TestFindStarsCRC checks the word-at-a-time scanners against a
// byte-by-byte reference for every line length 0..24 (whole words and
// every tail length) and '*' positions across word boundaries.
func TestFindStarsCRC(t *testing.T) {
	for n := 0; n <= 24; n++ {
		for star := -1; star < n; star++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte('A' + i)
			}
			if star >= 0 {
				b[star] = '*'
				if star+3 < n {
					b[star+3] = '*'
				}
			}
			var wantStars []int
			for i, c := range b {
				if c == '*' {
					wantStars = append(wantStars, i)
				}
			}
			gotStars, gotCRC := findStarsCRC(nil, string(b), 0x1234)
			require.Equal(t, wantStars, gotStars, "line %q", b)
			require.Equal(t, CRC16(0x1234, b), gotCRC, "line %q", b)
			require.Equal(t, wantStars, findStars(nil, string(b)), "line %q", b)
		}
	}
}
