package mdb

import "fmt"

// PARMRK escaping [GNU libc manual "Input Modes"; termios(3)]: a UART set to
// space parity with INPCK|PARMRK (IGNPAR and ISTRIP clear) delivers a byte that
// arrived with the mode bit set (a parity error under space parity) as FF 00 b,
// a data byte FF as FF FF, and every other byte as itself.
//
// StreamPort uses the same escaping in both directions to carry 9-bit words
// over an 8-bit stream such as a pseudo-terminal; it is unambiguous and costs
// nothing for the common bytes.

// AppendParmrk appends the PARMRK-escaped form of words to dst.
func AppendParmrk(dst []byte, words []Word) []byte {
	for _, w := range words {
		b := w.Byte()
		switch {
		case w.Mode():
			dst = append(dst, 0xFF, 0x00, b)
		case b == 0xFF:
			dst = append(dst, 0xFF, 0xFF)
		default:
			dst = append(dst, b)
		}
	}
	return dst
}

// ParmrkError reports an escape sequence the kernel never produces (FF
// followed by something other than 00 or FF). Offset is the position of that
// FF among all bytes fed to the decoder.
type ParmrkError struct {
	Offset int64
	Byte   byte
}

// Error implements error.
func (e *ParmrkError) Error() string {
	return fmt.Sprintf("mdb: parmrk: invalid escape FF %02X at byte %d", e.Byte, e.Offset)
}

// ParmrkDecoder turns a PARMRK-escaped byte stream back into 9-bit words. It is
// resumable: an escape split across calls is completed by the next call. The
// zero value is ready to use.
type ParmrkDecoder struct {
	state uint8 // 0 plain, 1 after FF, 2 after FF 00
	off   int64
}

// Decode appends the words encoded in p to dst. On an invalid escape FF x it
// keeps going (it yields FF and x as data, the most likely reading) and returns
// the first *ParmrkError.
func (d *ParmrkDecoder) Decode(dst []Word, p []byte) ([]Word, error) {
	var err error
	for _, b := range p {
		switch d.state {
		case 0:
			if b == 0xFF {
				d.state = 1
			} else {
				dst = append(dst, Word(b))
			}
		case 1:
			switch b {
			case 0xFF:
				dst = append(dst, 0xFF)
				d.state = 0
			case 0x00:
				d.state = 2
			default:
				if err == nil {
					err = &ParmrkError{Offset: d.off - 1, Byte: b}
				}
				dst = append(dst, 0xFF, Word(b))
				d.state = 0
			}
		case 2:
			dst = append(dst, W(b, true))
			d.state = 0
		}
		d.off++
	}
	return dst, err
}

// Pending reports whether an escape sequence is incomplete.
func (d *ParmrkDecoder) Pending() bool { return d.state != 0 }
