package evadts

import (
	"encoding/binary"
	"math/bits"
)

// CRC-16/ARC as used by G85 (EVA-DTS 6.2 §2.4.3, reference code §6.1.2):
// polynomial x^16+x^15+x^2+1 processed LSB first (reflected 0xA001), initial
// value 0, no final XOR. check("123456789") = 0xBB3D.
//
// Slicing tables keep validation cheap next to the parser (the benchmark
// target is 200 MB/s): crcTab[k][b] is the CRC register after byte b
// followed by k zero bytes. Sixteen of them (8 KiB, well inside L1) let one
// step take 16 bytes: the steps form a dependency chain, so fewer, wider
// steps are what makes the CRC of short records fast.
var crcTab = func() (t [16][256]uint16) {
	for i := range 256 {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[0][i] = c
	}
	for i := range 256 {
		c := t[0][i]
		for k := 1; k < len(t); k++ {
			c = t[0][c&0xFF] ^ c>>8
			t[k][i] = c
		}
	}
	return t
}()

// crcWord advances crc over eight bytes given as a little-endian word.
//
// The tables are linear (crcTab[k][a^b] == crcTab[k][a]^crcTab[k][b]), so
// crc only enters the two lookups of the first two bytes. Those come last:
// Go XORs left to right, and the six lookups that do not wait for crc are
// then done before it is known. The chain from one step to the next is one
// lookup and two XORs instead of eight sequential XORs, which is what
// bounds the CRC of short records.
func crcWord(crc uint16, x uint64) uint16 {
	return crcTab[5][byte(x>>16)] ^ crcTab[4][byte(x>>24)] ^ crcTab[3][byte(x>>32)] ^
		crcTab[2][byte(x>>40)] ^ crcTab[1][byte(x>>48)] ^ crcTab[0][byte(x>>56)] ^
		crcTab[7][byte(x)^byte(crc)] ^ crcTab[6][byte(x>>8)^byte(crc>>8)]
}

// crcWord16 advances crc over sixteen bytes given as two little-endian
// words (crc last, as in crcWord).
func crcWord16(crc uint16, x, y uint64) uint16 {
	return crcTab[13][byte(x>>16)] ^ crcTab[12][byte(x>>24)] ^
		crcTab[11][byte(x>>32)] ^ crcTab[10][byte(x>>40)] ^ crcTab[9][byte(x>>48)] ^ crcTab[8][byte(x>>56)] ^
		crcTab[7][byte(y)] ^ crcTab[6][byte(y>>8)] ^ crcTab[5][byte(y>>16)] ^ crcTab[4][byte(y>>24)] ^
		crcTab[3][byte(y>>32)] ^ crcTab[2][byte(y>>40)] ^ crcTab[1][byte(y>>48)] ^ crcTab[0][byte(y>>56)] ^
		crcTab[15][byte(x)^byte(crc)] ^ crcTab[14][byte(x>>8)^byte(crc>>8)]
}

// CRC16 returns the CRC-16/ARC of p continuing from crc (start with 0).
func CRC16(crc uint16, p []byte) uint16 {
	for len(p) >= 16 {
		crc = crcWord16(crc, binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:]))
		p = p[16:]
	}
	for len(p) >= 8 {
		crc = crcWord(crc, binary.LittleEndian.Uint64(p))
		p = p[8:]
	}
	for _, b := range p {
		crc = crcTab[0][byte(crc)^b] ^ crc>>8
	}
	return crc
}

// crcString is CRC16 over a string without copying it.
func crcString(crc uint16, s string) uint16 {
	for len(s) >= 8 {
		crc = crcWord(crc, load64(s))
		s = s[8:]
	}
	if len(s) >= 4 { // slicing-by-4 step: records are short, tails matter
		c := crc ^ (uint16(s[0]) | uint16(s[1])<<8)
		crc = crcTab[3][byte(c)] ^ crcTab[2][byte(c>>8)] ^ crcTab[1][s[2]] ^ crcTab[0][s[3]]
		s = s[4:]
	}
	for i := 0; i < len(s); i++ {
		crc = crcTab[0][byte(crc)^s[i]] ^ crc>>8
	}
	return crc
}

// load64 reads the first eight bytes of s as a little-endian word (the
// compiler turns this into a single load).
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// crcCRLF continues crc over "\r\n".
func crcCRLF(crc uint16) uint16 {
	crc = crcTab[0][byte(crc)^'\r'] ^ crc>>8
	return crcTab[0][byte(crc)^'\n'] ^ crc>>8
}

// crcLineCRLF continues crc over s followed by "\r\n", the way G85 counts
// every record (EVA-DTS 6.2 §2.4.3), without a per-byte tail loop: the
// last 0..7 bytes of s and the CRLF are folded into at most two table
// steps. It equals crcCRLF(crcString(crc, s)).
func crcLineCRLF(crc uint16, s string) uint16 {
	n := len(s)
	full := n &^ 7
	i := 0
	for ; i+16 <= full; i += 16 {
		crc = crcWord16(crc, load64(s[i:]), load64(s[i+8:]))
	}
	if i < full {
		crc = crcWord(crc, load64(s[i:]))
	}
	t := n - full // tail bytes, 0..7
	var w uint64  // the tail, little-endian
	if t > 0 {
		if n >= 8 {
			w = load64(s[n-8:]) >> (64 - 8*t)
		} else {
			for i := n - 1; i >= 0; i-- {
				w = w<<8 | uint64(s[i])
			}
		}
	}
	if t <= 6 {
		// m = t+2 bytes: placed at the top of a word, the zero bytes below
		// them add crcTab[k][0] = 0, so one word step handles them all.
		m := uint(t + 2)
		w |= 0x0A0D << (8 * uint(t))
		return crcFold(crc, w, m)
	}
	crc = crcWord(crc, w|0x0D<<56)
	return crcTab[0][byte(crc)^'\n'] ^ crc>>8
}

// lineCRC finds the first '\n' in s and, in the same pass over the words of
// s, computes the CRC of the line before it as G85 counts it: continuing
// from crc over the text without a trailing '\r', then CRLF (which equals
// crcLineCRLF(crc, text)). Index uses it so that one pass both splits the
// input into lines and checksums them. ok is false when s has fewer than 8
// bytes left before the '\n' or has none: the caller then falls back to
// strings.IndexByte and crcLineCRLF.
func lineCRC(s string, crc uint16) (nl int, out uint16, ok bool) {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
		lfs   = '\n' * ones
	)
	j := 0
	for j+16 <= len(s) {
		w, w2 := load64(s[j:]), load64(s[j+8:])
		x, x2 := w^lfs, w2^lfs
		// High bit of the lowest '\n' byte (bits above it may be false
		// positives from the borrow; only the lowest is used).
		z, z2 := (x-ones)&^x&highs, (x2-ones)&^x2&highs
		if z|z2 == 0 {
			crc = crcWord16(crc, w, w2)
			j += 16
			continue
		}
		if z == 0 {
			crc = crcWord(crc, w)
			j += 8
			w, z = w2, z2
		}
		return j + foldLF(s, j, w, z, &crc), crc, true
	}
	for j+8 <= len(s) {
		w := load64(s[j:])
		x := w ^ lfs
		if z := (x - ones) &^ x & highs; z != 0 {
			return j + foldLF(s, j, w, z, &crc), crc, true
		}
		crc = crcWord(crc, w)
		j += 8
	}
	return 0, 0, false
}

// foldLF finishes lineCRC on the word w read at s[j:], whose lowest '\n'
// is marked in z; it returns the offset of that '\n' in w.
func foldLF(s string, j int, w, z uint64, crc *uint16) int {
	k := bits.TrailingZeros64(z) >> 3 // w's byte k is the '\n'
	c := *crc
	switch {
	case j+k > 0 && s[j+k-1] == '\r':
		// Stored as CRLF: the bytes up to the '\n' are the text and CRLF.
		if k == 0 { // the '\r' ended the previous word
			c = crcTab[0][byte(c)^'\n'] ^ c>>8
		} else {
			c = crcFold(c, w, uint(k+1))
		}
	case k <= 6:
		// LF only: the k text bytes, then CRLF in place of the LF.
		w = w&(1<<(8*uint(k))-1) | 0x0A0D<<(8*uint(k))
		c = crcFold(c, w, uint(k+2))
	default: // k == 7: seven text bytes and '\r' fill the word
		c = crcWord(c, w&(1<<56-1)|0x0D<<56)
		c = crcTab[0][byte(c)^'\n'] ^ c>>8
	}
	*crc = c
	return k
}

// crcFold advances crc over the low m bytes of w (2 <= m <= 8) in one
// step: placed at the top of a word, the zero bytes below them add
// crcTab[k][0] = 0. By linearity crc's part is two lookups apart, done
// last (see crcWord).
func crcFold(crc uint16, w uint64, m uint) uint16 {
	return crcWord(0, w<<(64-8*m)) ^ crcTab[(m-1)&15][byte(crc)] ^ crcTab[(m-2)&15][byte(crc>>8)]
}
