package mdb

import (
	"fmt"
	"strings"
)

// Direction tells who sent a frame; it decides where the mode bit goes.
type Direction uint8

// Directions.
const (
	// FromVMC: the mode bit marks the address byte (first byte) only [MDB 4.2 §2.1].
	FromVMC Direction = iota
	// FromPeripheral: the mode bit marks the last byte (the CHK, or a lone ACK/NAK) [MDB 4.2 §2.1].
	FromPeripheral
)

// String returns "VMC" or "PER".
func (d Direction) String() string {
	if d == FromVMC {
		return "VMC"
	}
	return "PER"
}

// Kind classifies a frame.
type Kind uint8

// Frame kinds.
const (
	KindBlock Kind = iota // a data block with CHK
	KindACK               // a lone ACK
	KindNAK               // a lone NAK
	KindRET               // a lone RET (VMC only)
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindBlock:
		return "block"
	case KindACK:
		return "ACK"
	case KindNAK:
		return "NAK"
	case KindRET:
		return "RET"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Frame is one unit on the bus: a block (bytes plus CHK) or a lone response
// code.
type Frame struct {
	Dir  Direction
	Kind Kind
	// Data is the block without its CHK. For a VMC block Data[0] is the address
	// byte. Empty for ACK/NAK/RET.
	Data []byte
	// Err is set by Framer for a block that was received but is malformed
	// (*ChecksumError, ErrTooLong, ErrStray); Data then holds the bytes received
	// without the presumed CHK.
	Err error
}

// Block returns a data-block frame for dir.
func Block(dir Direction, data ...byte) Frame { return Frame{Dir: dir, Kind: KindBlock, Data: data} }

// Encode appends the 9-bit wire form of f to dst: for a block the bytes and the
// CHK, with the mode bit on the first byte (VMC) or on the CHK (peripheral);
// for ACK/NAK/RET a single word, with the mode bit only from a peripheral.
func (f Frame) Encode(dst []Word) []Word {
	mode := f.Dir == FromPeripheral
	switch f.Kind {
	case KindACK:
		return append(dst, W(ACK, mode))
	case KindNAK:
		return append(dst, W(NAK, mode))
	case KindRET:
		return append(dst, W(RET, mode))
	}
	for i, b := range f.Data {
		dst = append(dst, W(b, f.Dir == FromVMC && i == 0))
	}
	return append(dst, W(Checksum(f.Data), mode))
}

// String renders f in the notation of the vector files, e.g. "VMC 112* 012".
func (f Frame) String() string {
	var sb strings.Builder
	sb.WriteString(f.Dir.String())
	for _, w := range f.Encode(nil) {
		sb.WriteByte(' ')
		sb.WriteString(w.String())
	}
	if f.Err != nil {
		sb.WriteString(" (")
		sb.WriteString(f.Err.Error())
		sb.WriteByte(')')
	}
	return sb.String()
}

// Framer assembles frames from a stream of 9-bit words of one direction,
// fed in any chunking. The zero value frames peripheral traffic is not usable:
// set Dir.
//
// Peripheral blocks end at the word with the mode bit. VMC blocks begin at the
// word with the mode bit and their end is not marked on the wire: Complete (if
// set) is asked after each byte, and otherwise a block ends when the next
// address byte arrives or when the caller, seeing an inter-byte gap, calls
// Flush. A lone byte outside a VMC block is the VMC's ACK/RET/NAK.
type Framer struct {
	Dir Direction
	// Complete reports whether a VMC block is complete: b holds the address byte,
	// the data and, last, the candidate CHK. Peripherals supply their command
	// length table here so they can answer without waiting for a gap.
	Complete func(b []byte) bool

	buf  []byte
	open bool // a VMC block has started
	bad  bool // the current block overflowed; drop until its end
}

// Feed consumes words and returns the frames they complete, in order.
func (f *Framer) Feed(words []Word) []Frame {
	var out []Frame
	for _, w := range words {
		if fr, ok := f.feed(w); ok {
			out = append(out, fr)
		}
	}
	return out
}

// FeedWord consumes one word; it is Feed without the slice.
func (f *Framer) FeedWord(w Word) (Frame, bool) { return f.feed(w) }

func (f *Framer) feed(w Word) (Frame, bool) {
	if f.Dir == FromPeripheral {
		return f.feedPeripheral(w)
	}
	return f.feedVMC(w)
}

func (f *Framer) feedPeripheral(w Word) (Frame, bool) {
	b := w.Byte()
	if !w.Mode() {
		if len(f.buf) >= MaxBlock {
			f.bad = true
			return Frame{}, false
		}
		f.buf = append(f.buf, b)
		return Frame{}, false
	}
	data := f.take()
	bad := f.bad
	f.bad = false
	if len(data) == 0 {
		switch b {
		case ACK:
			return Frame{Dir: FromPeripheral, Kind: KindACK}, true
		case NAK:
			return Frame{Dir: FromPeripheral, Kind: KindNAK}, true
		}
		// A one-byte block would be its own CHK, i.e. 00 = ACK; anything else is malformed.
		return Frame{Dir: FromPeripheral, Kind: KindBlock, Err: &ChecksumError{Got: b, Want: 0}}, true
	}
	fr := Frame{Dir: FromPeripheral, Kind: KindBlock, Data: data}
	switch {
	case bad || len(data)+1 > MaxBlock:
		fr.Err = ErrTooLong
	case Checksum(data) != b:
		fr.Err = &ChecksumError{Got: b, Want: Checksum(data)}
	}
	return fr, true
}

func (f *Framer) feedVMC(w Word) (Frame, bool) {
	b := w.Byte()
	if w.Mode() {
		// A new address byte ends whatever was open.
		prev, had := f.Flush()
		f.open = true
		f.buf = append(f.buf[:0], b)
		return prev, had
	}
	if !f.open {
		switch b {
		case ACK:
			return Frame{Dir: FromVMC, Kind: KindACK}, true
		case RET:
			return Frame{Dir: FromVMC, Kind: KindRET}, true
		case NAK:
			return Frame{Dir: FromVMC, Kind: KindNAK}, true
		}
		return Frame{Dir: FromVMC, Kind: KindBlock, Data: []byte{b}, Err: ErrStray}, true
	}
	if f.bad {
		return Frame{}, false
	}
	if len(f.buf) >= MaxBlock {
		f.bad = true
		return Frame{}, false
	}
	f.buf = append(f.buf, b)
	if f.Complete != nil && f.Complete(f.buf) {
		return f.Flush()
	}
	return Frame{}, false
}

// Flush ends an open VMC block (the caller saw an inter-byte gap) and returns it.
// It returns false when no block was open.
func (f *Framer) Flush() (Frame, bool) {
	if f.Dir != FromVMC || !f.open {
		return Frame{}, false
	}
	f.open = false
	bad := f.bad
	f.bad = false
	raw := f.take()
	fr := Frame{Dir: FromVMC, Kind: KindBlock}
	switch {
	case bad:
		fr.Data, fr.Err = raw, ErrTooLong
	case len(raw) < 2:
		// An address byte with no CHK.
		fr.Data, fr.Err = raw, &ChecksumError{Got: 0, Want: Checksum(raw)}
	default:
		data, chk := raw[:len(raw)-1], raw[len(raw)-1]
		fr.Data = data
		if Checksum(data) != chk {
			fr.Err = &ChecksumError{Got: chk, Want: Checksum(data)}
		}
	}
	return fr, true
}

// Pending reports whether a block is partly assembled.
func (f *Framer) Pending() bool { return f.open || len(f.buf) > 0 }

// Reset drops any partial block.
func (f *Framer) Reset() { f.buf, f.open, f.bad = f.buf[:0], false, false }

func (f *Framer) take() []byte {
	out := make([]byte, len(f.buf))
	copy(out, f.buf)
	f.buf = f.buf[:0]
	return out
}
