package evadts

// CRC-16/ARC as used by G85 (EVA-DTS 6.2 §2.4.3, reference code §6.1.2):
// polynomial x^16+x^15+x^2+1 processed LSB first (reflected 0xA001), initial
// value 0, no final XOR. check("123456789") = 0xBB3D.
//
// A slicing-by-4 table keeps validation cheap next to the parser (the
// benchmark target is 200 MB/s).
var crcTab = func() (t [4][256]uint16) {
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
		for k := 1; k < 4; k++ {
			c = t[0][c&0xFF] ^ c>>8
			t[k][i] = c
		}
	}
	return t
}()

// CRC16 returns the CRC-16/ARC of p continuing from crc (start with 0).
func CRC16(crc uint16, p []byte) uint16 {
	for len(p) >= 4 {
		c := crc ^ (uint16(p[0]) | uint16(p[1])<<8)
		crc = crcTab[3][c&0xFF] ^ crcTab[2][c>>8] ^ crcTab[1][p[2]] ^ crcTab[0][p[3]]
		p = p[4:]
	}
	for _, b := range p {
		crc = crcTab[0][byte(crc)^b] ^ crc>>8
	}
	return crc
}

// crcString is CRC16 over a string without copying it.
func crcString(crc uint16, s string) uint16 {
	for len(s) >= 4 {
		c := crc ^ (uint16(s[0]) | uint16(s[1])<<8)
		crc = crcTab[3][c&0xFF] ^ crcTab[2][c>>8] ^ crcTab[1][s[2]] ^ crcTab[0][s[3]]
		s = s[4:]
	}
	for i := 0; i < len(s); i++ {
		crc = crcTab[0][byte(crc)^s[i]] ^ crc>>8
	}
	return crc
}
