package dex

// FrameKind tells what the Decoder recognised.
type FrameKind uint8

// Frame kinds.
const (
	FrameInvalid FrameKind = iota
	FrameENQ               // ENQ
	FrameEOT               // EOT (or BSC's DLE EOT)
	FrameNAK               // NAK
	FrameACK0              // DLE '0'
	FrameACK1              // DLE '1'
	FrameWACK              // DLE ';'
	FrameRVI               // DLE '<'
	FrameHeader            // DLE SOH text DLE ETX CRC: a handshake message
	FrameBlock             // DLE STX text DLE ETB|ETX CRC: a data block
	FrameBad               // a corrupt frame; Err says why (*FrameError)
)

var frameKindNames = [...]string{"invalid", "ENQ", "EOT", "NAK", "ACK0", "ACK1", "WACK", "RVI", "header", "block", "bad frame"}

// String names the kind.
func (k FrameKind) String() string {
	if int(k) < len(frameKindNames) {
		return frameKindNames[k]
	}
	return "FrameKind(?)"
}

// Frame is one unit of the DEX wire stream.
type Frame struct {
	Kind FrameKind
	Text []byte // FrameHeader, FrameBlock: the text, DLE doubling removed
	Last bool   // FrameBlock: closed by ETX (last block) rather than ETB
	Err  error  // FrameBad: a *FrameError
}

// DefaultMaxFrame bounds the text of a frame the Decoder accepts. Blocks are
// at most MaxBlock bytes on the wire; the margin tolerates machines that send
// larger blocks while keeping memory bounded on a noisy line.
const DefaultMaxFrame = 4096

type decState uint8

const (
	dsIdle    decState = iota // between frames
	dsDLE                     // DLE seen between frames
	dsText                    // inside the text of a header or block
	dsTextDLE                 // DLE seen inside text
	dsCRC1                    // close character seen, expecting CRC low byte
	dsCRC2                    // expecting CRC high byte
)

// Decoder is the framing layer: a resumable decoder that turns the byte
// stream from the peer into Frames whatever the chunking of Feed calls.
//
// Bytes outside frames that are not control sequences (line noise) are
// skipped. A frame whose CRC does not match, or that contains an invalid DLE
// sequence, becomes a FrameBad and the decoder resynchronises on the next
// DLE; the session answers a bad block with NAK and the sender repeats it
// (EVA-DTS 6.2 §4.5, BSC rules). DLE SYN (time fill) is ignored everywhere.
// The zero value is ready to use.
type Decoder struct {
	// MaxFrame bounds the text length of one frame; 0 means DefaultMaxFrame.
	MaxFrame int

	state decState
	open  byte   // SOH or STX of the frame in progress
	close byte   // ETB or ETX of the frame in progress
	text  []byte // text of the frame in progress
	crc   uint16 // running CRC of the frame in progress
	lo    byte   // received CRC low byte
	start int64  // stream offset of the frame's DLE
	off   int64  // stream offset of the next byte
	out   []Frame
}

// Feed decodes p and returns the frames completed by it, in order. The
// returned slice is reused by the next call of Feed; the Text of a frame is
// never reused by the decoder and belongs to the caller. Feed never fails:
// corrupt input yields FrameBad frames.
func (d *Decoder) Feed(p []byte) []Frame {
	d.out = d.out[:0]
	for _, b := range p {
		d.step(b)
		d.off++
	}
	return d.out
}

// InFrame reports whether the decoder is inside a header or block, so the
// driver knows to apply the inter-character timer (Timer B).
func (d *Decoder) InFrame() bool { return d.state >= dsText }

// Abort drops a partial frame (Timer B expired inside it) and returns the
// FrameBad that reports it, or ok=false if no frame was in progress.
func (d *Decoder) Abort() (f Frame, ok bool) {
	if !d.InFrame() {
		d.state = dsIdle
		return Frame{}, false
	}
	f = d.bad(ErrFraming)
	return f, true
}

// Reset forgets any partial frame.
func (d *Decoder) Reset() { d.state = dsIdle; d.text = d.text[:0] }

func (d *Decoder) emit(f Frame) { d.out = append(d.out, f) }

func (d *Decoder) bad(err error) Frame {
	d.state = dsIdle
	return Frame{Kind: FrameBad, Err: &FrameError{Offset: d.start, Err: err}}
}

func (d *Decoder) max() int {
	if d.MaxFrame > 0 {
		return d.MaxFrame
	}
	return DefaultMaxFrame
}

func (d *Decoder) step(b byte) {
	switch d.state {
	case dsIdle:
		switch b {
		case ENQ:
			d.emit(Frame{Kind: FrameENQ})
		case EOT:
			d.emit(Frame{Kind: FrameEOT})
		case NAK:
			d.emit(Frame{Kind: FrameNAK})
		case DLE:
			d.state, d.start = dsDLE, d.off
		}
	case dsDLE:
		d.state = dsIdle
		switch b {
		case ACK0:
			d.emit(Frame{Kind: FrameACK0})
		case ACK1:
			d.emit(Frame{Kind: FrameACK1})
		case WACK:
			d.emit(Frame{Kind: FrameWACK})
		case RVI:
			d.emit(Frame{Kind: FrameRVI})
		case EOT:
			d.emit(Frame{Kind: FrameEOT})
		case SOH, STX:
			d.state, d.open, d.text, d.crc = dsText, b, d.text[:0], 0
		case DLE:
			// A repeated DLE: resynchronise on the later one.
			d.state, d.start = dsDLE, d.off
		case ENQ:
			d.emit(Frame{Kind: FrameENQ})
		case NAK:
			d.emit(Frame{Kind: FrameNAK})
		}
	case dsText:
		if b == DLE {
			d.state = dsTextDLE
			return
		}
		d.addText(b)
	case dsTextDLE:
		switch b {
		case DLE: // doubled DLE is one data DLE, counted once in the CRC
			d.state = dsText
			d.addText(DLE)
		case SYN: // time fill, not data, not in the CRC
			d.state = dsText
		case ETX, ETB:
			if d.open == SOH && b == ETB {
				d.emit(d.bad(ErrFraming))
				return
			}
			d.close = b
			d.crc = crcByte(d.crc, b)
			d.state = dsCRC1
		case SOH, STX:
			// A new frame starts inside the old one: the old one was cut.
			d.emit(d.bad(ErrFraming))
			d.state, d.open, d.text, d.crc, d.start = dsText, b, d.text[:0], 0, d.off-1
		default:
			d.emit(d.bad(ErrFraming))
		}
	case dsCRC1:
		d.lo, d.state = b, dsCRC2
	case dsCRC2:
		d.state = dsIdle
		if got := uint16(d.lo) | uint16(b)<<8; got != d.crc {
			d.emit(d.bad(ErrBadCRC))
			return
		}
		f := Frame{Kind: FrameBlock, Text: d.text, Last: d.close == ETX}
		if d.open == SOH {
			f.Kind, f.Last = FrameHeader, false
		}
		d.emit(f)
		// The next frame must not overwrite this one's text before the caller
		// has seen it: start a fresh buffer.
		d.text = nil
	}
}

func (d *Decoder) addText(b byte) {
	if len(d.text) >= d.max() {
		d.emit(d.bad(ErrFrameTooLong))
		return
	}
	d.text = append(d.text, b)
	d.crc = crcByte(d.crc, b)
}
