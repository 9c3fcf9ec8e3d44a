package evadts

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCRCLineCRLF checks the folded tail against the bitwise reference for
// every line length 0..40 (each tail length, short and long lines).
func TestCRCLineCRLF(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 41 {
		for range 8 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.UintN(256))
			}
			init := uint16(rng.UintN(1 << 16))
			want := crcBitwise(init, append(b, '\r', '\n'))
			require.Equal(t, want, crcLineCRLF(init, string(b)), "len %d", n)
		}
	}
}

func BenchmarkCRCLineCRLF(b *testing.B) {
	line := "PA2*123*45600*12*3400*0*0*0*0" // a typical record
	b.SetBytes(int64(len(line) + 2))
	var crc uint16
	for b.Loop() {
		crc = crcLineCRLF(crc, line)
	}
	_ = crc
}

func BenchmarkCRC16(b *testing.B) {
	p := make([]byte, 64<<10)
	for i := range p {
		p[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(p)))
	var crc uint16
	for b.Loop() {
		crc = CRC16(crc, p)
	}
	_ = crc
}

// TestLineCRC checks the fused line-end search and CRC against
// strings.IndexByte and crcLineCRLF, for '\n' (with and without a '\r'
// before it) at every offset across 0..40-byte lines.
func TestLineCRC(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for n := range 41 {
		for _, cr := range []bool{false, true} {
			for tail := range 10 {
				b := make([]byte, n, n+2+tail)
				for i := range b {
					b[i] = byte('A' + rng.UintN(60)) // no '\n' or '\r' (those are < 'A')
				}
				if cr {
					b = append(b, '\r')
				}
				b = append(b, '\n')
				for range tail {
					b = append(b, byte(rng.UintN(256)))
				}
				s := string(b)
				init := uint16(rng.UintN(1 << 16))
				nl, crc, ok := lineCRC(s, init)
				if !ok {
					require.GreaterOrEqual(t, n+boolInt(cr), len(s)&^7, "falls back only when the '\\n' is in the last partial word")
					continue
				}
				require.Equal(t, strings.IndexByte(s, '\n'), nl)
				require.Equal(t, crcLineCRLF(init, strings.TrimSuffix(s[:nl], "\r")), crc, "%q", s)
			}
		}
	}
	_, _, ok := lineCRC(strings.Repeat("x", 40), 0)
	require.False(t, ok, "no line end")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
