package evadts

import "encoding/binary"

// CRC-16/ARC as used by G85 (EVA-DTS 6.2 §2.4.3, reference code §6.1.2):
// polynomial x^16+x^15+x^2+1 processed LSB first (reflected 0xA001), initial
// value 0, no final XOR. check("123456789") = 0xBB3D.
//
// Slicing-by-8 tables keep validation cheap next to the parser (the
// benchmark target is 200 MB/s): crcTab[k][b] is the CRC register after byte b
// followed by k zero bytes.
var crcTab = func() (t [8][256]uint16) {
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
		for k := 1; k < 8; k++ {
			c = t[0][c&0xFF] ^ c>>8
			t[k][i] = c
		}
	}
	return t
}()

// crcWord advances crc over eight bytes given as a little-endian word.
func crcWord(crc uint16, x uint64) uint16 {
	x ^= uint64(crc)
	return crcTab[7][byte(x)] ^ crcTab[6][byte(x>>8)] ^ crcTab[5][byte(x>>16)] ^ crcTab[4][byte(x>>24)] ^
		crcTab[3][byte(x>>32)] ^ crcTab[2][byte(x>>40)] ^ crcTab[1][byte(x>>48)] ^ crcTab[0][byte(x>>56)]
}

// CRC16 returns the CRC-16/ARC of p continuing from crc (start with 0).
func CRC16(crc uint16, p []byte) uint16 {
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
