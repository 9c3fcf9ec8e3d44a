package executive

// Framing layer: resumable decoders fed in any chunking.
//
// Two encodings meet here:
//
//  1. Words on the wire (Word, 9 bits). CommandDecoder assembles the VMC's
//     view: command words, and the data byte that follows ACCEPT DATA. The
//     master's view needs no assembler: every reply is exactly one word
//     (SOFTJOURN reads single bytes), checked with Framing and DecodeReply.
//
//  2. Words carried over an 8-bit byte stream (StreamDecoder / AppendStream),
//     escaped the way a Linux UART reports them with INPCK+PARMRK: a "marked"
//     byte b travels as FF 00 b, a plain data byte FF as FF FF, anything else
//     as itself (glibc manual, "Input Modes"; see ../shared/research/mdb.md
//     §3.1). What "marked" means follows the Framing, so the stream is exactly
//     what the kernel delivers for that framing:
//     - FramingModeBit (space parity on receive): marked = ninth bit set;
//     - parity framings (8E1/8O1 on receive): marked = parity error, i.e. the
//       ninth bit is the wrong parity.

// StreamDecoder turns the escaped byte stream into words. It is resumable:
// an escape split across Feed calls is completed by the next call. The zero
// value decodes FramingModeBit.
type StreamDecoder struct {
	Framing Framing

	state  uint8 // 0 plain, 1 after FF, 2 after FF 00
	off    int64 // offset of the next byte
	escOff int64 // offset of the FF that opened the current escape
}

// Feed decodes p, appending words to dst. It consumes all of p; when the
// stream holds invalid escapes it returns the first as a *StreamError
// (ErrEscape), drops the escape and goes on with the next byte.
func (d *StreamDecoder) Feed(dst []Word, p []byte) ([]Word, error) {
	var first error
	for _, b := range p {
		off := d.off
		d.off++
		switch d.state {
		case 0:
			if b == 0xFF {
				d.state, d.escOff = 1, off
				continue
			}
			dst = append(dst, d.word(b, false))
		case 1:
			switch b {
			case 0xFF:
				d.state = 0
				dst = append(dst, d.word(0xFF, false))
			case 0x00:
				d.state = 2
			default:
				d.state = 0
				if first == nil {
					first = &StreamError{Offset: d.escOff, Byte: b}
				}
			}
		case 2:
			d.state = 0
			dst = append(dst, d.word(b, true))
		}
	}
	return dst, first
}

// Pending reports whether an escape is incomplete.
func (d *StreamDecoder) Pending() bool { return d.state != 0 }

// Reset drops an incomplete escape (the offset keeps counting).
func (d *StreamDecoder) Reset() { d.state = 0 }

func (d *StreamDecoder) word(b byte, marked bool) Word {
	ninth := marked
	if d.Framing != FramingModeBit {
		ninth = d.Framing.parityBit(b) != marked
	}
	if ninth {
		return Word(b) | NinthBit
	}
	return Word(b)
}

// AppendStream appends the escaped byte encoding of words to dst (the
// inverse of StreamDecoder.Feed for the same framing).
func AppendStream(dst []byte, words []Word, f Framing) []byte {
	for _, w := range words {
		b := w.Byte()
		marked := w.Ninth()
		if f != FramingModeBit {
			marked = w.Ninth() != f.parityBit(b)
		}
		switch {
		case marked:
			dst = append(dst, 0xFF, 0x00, b)
		case b == 0xFF:
			dst = append(dst, 0xFF, 0xFF)
		default:
			dst = append(dst, b)
		}
	}
	return dst
}

// CommandDecoder assembles master → VMC commands from words, one word at a
// time, so any chunking works. The zero value decodes FramingModeBit.
type CommandDecoder struct {
	Framing Framing

	op   Opcode // command waiting for its data byte
	want int    // data bytes still missing
	off  int64  // offset of the next word
}

// Feed consumes one word. It returns a complete command with ok true, or a
// *WordError for a bad word (ErrParity, ErrStray, ErrUnknownCommand,
// ErrTruncated). Under FramingModeBit a command word that arrives while
// ACCEPT DATA still waits for its data byte reports ErrTruncated for the
// abandoned command AND decodes the new one: both results may be set.
func (d *CommandDecoder) Feed(w Word) (cmd Command, ok bool, err error) {
	off := d.off
	d.off++
	if d.want > 0 {
		if d.Framing == FramingModeBit && w.Ninth() {
			d.want = 0
			err = &WordError{Offset: off, Word: w, Err: ErrTruncated}
			cmd, ok, err2 := d.command(w, off)
			if err2 != nil {
				return cmd, ok, err2 // the newer problem is the actionable one
			}
			return cmd, ok, err
		}
		if !d.Framing.ok(w, false) {
			d.want = 0
			return Command{}, false, &WordError{Offset: off, Word: w, Err: ErrParity}
		}
		d.want = 0
		return Command{Op: d.op, Data: w.Byte()}, true, nil
	}
	return d.command(w, off)
}

func (d *CommandDecoder) command(w Word, off int64) (Command, bool, error) {
	if !d.Framing.ok(w, true) {
		e := ErrParity
		if d.Framing == FramingModeBit {
			e = ErrStray
		}
		return Command{}, false, &WordError{Offset: off, Word: w, Err: e}
	}
	op := Opcode(w.Byte())
	if !op.Known() {
		return Command{}, false, &WordError{Offset: off, Word: w, Err: ErrUnknownCommand}
	}
	if n := op.dataLen(); n > 0 {
		d.op, d.want = op, n
		return Command{}, false, nil
	}
	return Command{Op: op}, true, nil
}

// Pending reports whether a command waits for its data byte.
func (d *CommandDecoder) Pending() bool { return d.want > 0 }

// Reset drops a partly received command.
func (d *CommandDecoder) Reset() { d.want = 0 }

// DecodeReplyWord checks the framing of a reply word (a non-command word) and
// decodes it as the answer to op.
func DecodeReplyWord(op Opcode, w Word, f Framing) (Reply, error) {
	if !f.ok(w, false) {
		return nil, &WordError{Word: w, Err: ErrParity}
	}
	return DecodeReply(op, w.Byte())
}
