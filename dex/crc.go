package dex

// CRC-16 used by DEX/UCS for block and handshake checks (EVA-DTS 6.2 §4.4,
// reference code in §6.1.2) and by EVA-DTS for the G85 record: generator
// polynomial x¹⁶+x¹⁵+x²+1 (0x8005), processed least significant bit first
// (reflected, so the shift register uses 0xA001), initial value 0x0000, no
// final XOR. This is the catalogued CRC-16/ARC; its check value over
// "123456789" is 0xBB3D.

// crcTable holds the CRC of every byte value, computed once at start-up from
// the bitwise definition in EVA-DTS 6.2 §6.1.2.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
		t[i] = crc
	}
	return t
}()

// UpdateCRC returns the CRC-16/ARC register crc advanced over p. Start with 0.
func UpdateCRC(crc uint16, p []byte) uint16 {
	for _, b := range p {
		crc = crcByte(crc, b)
	}
	return crc
}

// CRC16 returns the CRC-16/ARC of p (init 0, reflected 0xA001, no final XOR).
// A block followed by its CRC, low byte first, has a CRC of 0 (the residue
// check used by some readers).
func CRC16(p []byte) uint16 { return UpdateCRC(0, p) }

// crcByte advances the CRC register over one byte.
func crcByte(crc uint16, b byte) uint16 { return crc>>8 ^ crcTable[byte(crc)^b] }
