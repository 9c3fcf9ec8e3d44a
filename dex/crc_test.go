package dex

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// crcBitwise is the reference loop of EVA-DTS 6.2 §6.1.2, kept independent of
// the table so the table can be checked against it.
func crcBitwise(p []byte) uint16 {
	var crc uint16
	for _, data := range p {
		for range 8 {
			if (uint16(data)^crc)&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
			data >>= 1
		}
	}
	return crc
}

func TestCRC16Vectors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want uint16
	}{
		{"check value", []byte("123456789"), 0xBB3D},
		{"empty", nil, 0},
		// Crane 423 Shopper, VMD-master first handshake (robinsonkwame log): … 10 03 75 9B.
		{"crane handshake", []byte("CNV   DE32SR01L01\x03"), 0x9B75},
		// ESP32 Arduino reader canned handshake: … 10 03 1A 6D.
		{"esp32 handshake", []byte("6150210000RR01L01\x03"), 0x6D1A},
		{"nodestark handshake", []byte("1234567890RR00L06\x03"), 0xBDE1},
		// DDCMP messages from nodestark's trace use the same CRC.
		{"ddcmp ack", []byte{0x05, 0x01, 0x40, 0x01, 0x00, 0x01}, 0x55B8},
		{"ddcmp data header", []byte{0x81, 0x09, 0x40, 0x01, 0x02, 0x01}, 0xB046},
		{"ddcmp read list", []byte{0x77, 0xE2, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00}, 0x72F0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, CRC16(tt.in))
			assert.Equal(t, tt.want, crcBitwise(tt.in))
		})
	}
}

func TestCRC16Residue(t *testing.T) {
	p := []byte("DXS*9259630009*VA*V0/6*1\r\n\x17")
	c := CRC16(p)
	full := append(p, byte(c), byte(c>>8))
	assert.Zero(t, CRC16(full), "CRC over data plus its CRC (LSB first) must be 0")
	assert.Equal(t, c, UpdateCRC(UpdateCRC(0, p[:5]), p[5:]), "incremental update")
}

func FuzzCRC16(f *testing.F) {
	f.Add([]byte("123456789"))
	f.Fuzz(func(t *testing.T, p []byte) {
		if CRC16(p) != crcBitwise(p) {
			t.Fatalf("table and bitwise CRC differ for %x", p)
		}
	})
}
