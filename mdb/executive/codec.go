package executive

import (
	"errors"
	"fmt"
	"math/bits"
)

// Word is one 9-bit character on the Executive link: the low 8 bits are the
// data byte, bit 8 is the ninth bit (NinthBit). What the ninth bit means
// depends on the Framing: a mode bit that marks command bytes, or a parity
// bit over the eight data bits (see doc.go, "Framing").
//
// The representation (bit 8 = ninth bit) is the same as package mdb's Word, so
// an adapter between the two is a plain conversion.
type Word uint16

// NinthBit is the ninth (mode or parity) bit of a Word.
const NinthBit Word = 0x100

// Byte returns the eight data bits.
func (w Word) Byte() byte { return byte(w) }

// Ninth reports whether the ninth bit is set.
func (w Word) Ninth() bool { return w&NinthBit != 0 }

// String formats w as three hex digits, "1xx" when the ninth bit is set, the
// notation of the reference notes.
func (w Word) String() string { return fmt.Sprintf("%03X", uint16(w&0x1FF)) }

// Framing says what the ninth bit of a character carries. The public sources
// only say that a parity bit exists (the VMC answers PNAK "when … parity bit
// doesn't match", SOFTJOURN Executive.java); both readings are supported.
type Framing uint8

const (
	// FramingModeBit: the ninth bit is a mode bit, set on the command byte the
	// master sends and clear on every other byte (data bytes after ACCEPT
	// DATA, every VMC reply) — the MDB convention [MDB 4.2 §2.1] applied to
	// Executive. This is the zero value.
	FramingModeBit Framing = iota
	// FramingEvenParity: the ninth bit makes the number of ones in the nine
	// bits even (8E1 on a UART). Commands and data are told apart by position.
	FramingEvenParity
	// FramingOddParity: the ninth bit makes the number of ones odd (8O1).
	FramingOddParity
)

// String returns a readable form for logs and test names.
func (f Framing) String() string {
	switch f {
	case FramingModeBit:
		return "mode-bit"
	case FramingEvenParity:
		return "even-parity"
	case FramingOddParity:
		return "odd-parity"
	}
	return fmt.Sprintf("framing(%d)", uint8(f))
}

func (f Framing) valid() bool { return f <= FramingOddParity }

// parityBit is the ninth bit a correctly framed byte b carries under a parity
// framing.
func (f Framing) parityBit(b byte) bool {
	odd := bits.OnesCount8(b)&1 == 1
	if f == FramingOddParity {
		return !odd
	}
	return odd
}

// Word returns b framed as a command byte (command true) or as any other byte.
func (f Framing) Word(b byte, command bool) Word {
	var ninth bool
	if f == FramingModeBit {
		ninth = command
	} else {
		ninth = f.parityBit(b)
	}
	if ninth {
		return Word(b) | NinthBit
	}
	return Word(b)
}

// ok reports whether w is correctly framed as a command (command true) or as
// another byte. Under FramingModeBit the mode bit itself says which it is, so
// callers that do not know the role check w.Ninth() instead.
func (f Framing) ok(w Word, command bool) bool {
	if f == FramingModeBit {
		return w.Ninth() == command
	}
	return w.Ninth() == f.parityBit(w.Byte())
}

// Opcode is a master → VMC command byte.
//
// Byte layout: one byte, sent as a command word (mode bit set under
// FramingModeBit). STATUS, CREDIT and VEND are the only codes found in a
// public source (SOFTJOURN Executive.java: 0b00110001..0b00110011).
type Opcode byte

const (
	// OpStatus asks for the VMC status byte (SOFTJOURN STATUS_REQUEST).
	OpStatus Opcode = 0x31
	// OpCredit asks whether a selection has been made: the reply is
	// NoVendRequest or the requested price / price line (SOFTJOURN
	// CREDIT_REQUEST).
	OpCredit Opcode = 0x32
	// OpVend authorises the requested vend; the VMC answers when the vend
	// has finished (SOFTJOURN VEND_REQUEST).
	OpVend Opcode = 0x33
	// OpAcceptData announces one data byte from the master (the credit to
	// display). NOT from a public source: the real ACCEPT DATA code is in
	// the non-public MEI "20 mA Protocol A" spec (10102-000304001-PS); 0x38 is
	// vendgate's placeholder. Master sends it only with
	// Config.AnnounceCredit; verify on hardware before enabling it there.
	OpAcceptData Opcode = 0x38
)

// String returns a readable form for logs and test names.
func (o Opcode) String() string {
	switch o {
	case OpStatus:
		return "STATUS"
	case OpCredit:
		return "CREDIT"
	case OpVend:
		return "VEND"
	case OpAcceptData:
		return "ACCEPT DATA"
	}
	return fmt.Sprintf("opcode(%02X)", byte(o))
}

// Known reports whether o is a command this package understands.
func (o Opcode) Known() bool {
	return o == OpStatus || o == OpCredit || o == OpVend || o == OpAcceptData
}

// dataLen is how many data bytes follow the opcode.
func (o Opcode) dataLen() int {
	if o == OpAcceptData {
		return 1
	}
	return 0
}

// Reserved reply bytes. SOFTJOURN: 0xFF is PNAK from the VMC ("wrong request"
// or parity mismatch; the master retries), 0xFE answers CREDIT when no vend
// is requested; 0x00 acknowledges.
const (
	ByteACK           byte = 0x00
	ByteNoVendRequest byte = 0xFE
	BytePNAK          byte = 0xFF
	// MaxValue is the largest price, price line, selection or credit value
	// one byte can carry without colliding with 0xFE/0xFF.
	MaxValue byte = 0xFD
)

// Command is one master → VMC command.
//
// Wire layout (master → VMC):
//
//	STATUS       31*          (* = command word)
//	CREDIT       32*
//	VEND         33*
//	ACCEPT DATA  38* dd       dd = value (credit in wire units, 00..FD)
type Command struct {
	Op   Opcode
	Data byte // ACCEPT DATA only
}

// AppendWords appends the framed words of c to dst.
func (c Command) AppendWords(dst []Word, f Framing) []Word {
	dst = append(dst, f.Word(byte(c.Op), true))
	if c.Op.dataLen() == 1 {
		dst = append(dst, f.Word(c.Data, false))
	}
	return dst
}

// String returns a readable form for logs and test names.
func (c Command) String() string {
	if c.Op.dataLen() == 1 {
		return fmt.Sprintf("%v %02X", c.Op, c.Data)
	}
	return c.Op.String()
}

// Reply is a VMC → master answer: one byte whose meaning depends on the
// command it answers (DecodeReply). Byte returns the wire byte.
type Reply interface {
	Byte() byte
	String() string
}

// PNAK is the VMC's "did not understand" answer (0xFF) to any command
// (SOFTJOURN: "wrong request / parity mismatch"); the master repeats.
type PNAK struct{}

// Byte returns 0xFF.
func (PNAK) Byte() byte { return BytePNAK }

// String returns a readable form for logs and test names.
func (PNAK) String() string { return "PNAK" }

// Ack is the VMC's acceptance (0x00) of ACCEPT DATA.
type Ack struct{}

// Byte returns 0x00.
func (Ack) Byte() byte { return ByteACK }

// String returns a readable form for logs and test names.
func (Ack) String() string { return "ACK" }

// Status is the reply to STATUS.
//
// Byte layout (SOFTJOURN Executive.status and the vectors):
//
//	bit 7     free vend
//	bit 6     vending inhibited (wins over bit 7)
//	bits 5..4 not described publicly; kept in Reserved
//	bits 3..0 "audit data"; SOFTJOURN masks them off
//
// 0xFF is PNAK, not a status: a status with every bit set cannot be sent.
type Status struct {
	FreeVend  bool
	Inhibited bool
	Reserved  byte // bits 5..4, as a value 0..3
	Audit     byte // bits 3..0, as a value 0..15
}

// Byte returns the wire byte of s.
func (s Status) Byte() byte {
	var b byte
	if s.FreeVend {
		b |= 0x80
	}
	if s.Inhibited {
		b |= 0x40
	}
	return b | (s.Reserved&3)<<4 | s.Audit&0x0F
}

// String returns a readable form for logs and test names.
func (s Status) String() string {
	return fmt.Sprintf("STATUS(free=%t inhibited=%t reserved=%d audit=%X)", s.FreeVend, s.Inhibited, s.Reserved, s.Audit)
}

// CreditReply is the reply to CREDIT: either no vend request (0xFE) or the
// value of the request — the price in wire units in non-price-holding mode,
// the selection / price-line number in price-holding mode (SOFTJOURN;
// Vendo G-Drink manual C2, GPE DRX manual; see doc.go).
type CreditReply struct {
	Requested bool
	Value     byte // 00..FD when Requested
}

// Byte returns the wire byte of r.
func (r CreditReply) Byte() byte {
	if !r.Requested {
		return ByteNoVendRequest
	}
	return r.Value
}

// String returns a readable form for logs and test names.
func (r CreditReply) String() string {
	if !r.Requested {
		return "CREDIT(no vend request)"
	}
	return fmt.Sprintf("CREDIT(vend request %02X)", r.Value)
}

// VendResult is the reply to VEND: 0x00 = vend succeeded, any other byte
// except 0xFF (PNAK) = vend failed (SOFTJOURN Executive.vend).
type VendResult struct {
	Code byte
}

// VendFailed is the failure code the emulated Machine sends (the value used
// in the SOFTJOURN tests).
const VendFailed byte = 0x80

// OK reports whether the vend succeeded.
func (v VendResult) OK() bool { return v.Code == ByteACK }

// Byte returns the wire byte of v.
func (v VendResult) Byte() byte { return v.Code }

// String returns a readable form for logs and test names.
func (v VendResult) String() string {
	if v.OK() {
		return "VEND(success)"
	}
	return fmt.Sprintf("VEND(failed %02X)", v.Code)
}

// DecodeReply interprets the reply byte b to a command with opcode op.
// Every byte decodes for STATUS, CREDIT and VEND; ACCEPT DATA accepts only
// ACK and PNAK. Decoding then re-encoding with Byte returns b.
func DecodeReply(op Opcode, b byte) (Reply, error) {
	if !op.Known() {
		return nil, fmt.Errorf("executive: decode reply to %v: %w", op, ErrUnknownCommand)
	}
	if b == BytePNAK {
		return PNAK{}, nil
	}
	switch op {
	case OpStatus:
		return Status{FreeVend: b&0x80 != 0, Inhibited: b&0x40 != 0, Reserved: b >> 4 & 3, Audit: b & 0x0F}, nil
	case OpCredit:
		if b == ByteNoVendRequest {
			return CreditReply{}, nil
		}
		return CreditReply{Requested: true, Value: b}, nil
	case OpVend:
		return VendResult{Code: b}, nil
	default: // OpAcceptData
		if b == ByteACK {
			return Ack{}, nil
		}
		return nil, &ReplyError{Op: op, Byte: b}
	}
}

// Errors callers branch on (errors.Is).
var (
	// ErrParity: the ninth bit of a word is wrong for its position (parity
	// mismatch, or a missing/extra mode bit).
	ErrParity = errors.New("executive: ninth bit (parity/mode) mismatch")
	// ErrUnknownCommand: an opcode this package does not know.
	ErrUnknownCommand = errors.New("executive: unknown command")
	// ErrStray: a data word arrived where a command was expected.
	ErrStray = errors.New("executive: data byte outside a command")
	// ErrTruncated: a command's data byte is missing (a new command began).
	ErrTruncated = errors.New("executive: command truncated")
	// ErrUnexpectedReply: a reply byte that is not valid for its command.
	ErrUnexpectedReply = errors.New("executive: unexpected reply")
	// ErrEscape: an invalid escape sequence in the byte stream encoding.
	ErrEscape = errors.New("executive: invalid stream escape")
	// ErrTimeout: the VMC did not answer in time.
	ErrTimeout = errors.New("executive: no answer from the VMC")
	// ErrPNAK: the VMC answered PNAK.
	ErrPNAK = errors.New("executive: VMC answered PNAK")
	// ErrOffline: the VMC has not answered for Config.Retries exchanges; the
	// master keeps polling STATUS and refuses remote actions meanwhile.
	ErrOffline = errors.New("executive: VMC offline")
	// ErrUnsupported: the action is impossible in the configured mode.
	ErrUnsupported = errors.New("executive: not supported")
	// ErrRange: a value does not fit the protocol (amounts, selections).
	ErrRange = errors.New("executive: value out of range")
	// ErrClosed: the link or pipe is closed.
	ErrClosed = errors.New("executive: link closed")
	// ErrBusy: the emulated machine is already serving a selection.
	ErrBusy = errors.New("executive: machine busy")
)

// ReplyError reports a reply byte that is invalid for the command it
// answers; it wraps ErrUnexpectedReply.
type ReplyError struct {
	Op   Opcode
	Byte byte
}

// Error implements error.
func (e *ReplyError) Error() string {
	return fmt.Sprintf("executive: unexpected reply %02X to %v", e.Byte, e.Op)
}

// Unwrap returns ErrUnexpectedReply.
func (e *ReplyError) Unwrap() error { return ErrUnexpectedReply }

// WordError reports a bad word at a position of a word stream (counted from
// 0 since the decoder was created or reset).
type WordError struct {
	Offset int64
	Word   Word
	Err    error // ErrParity, ErrUnknownCommand, ErrStray, ErrTruncated
}

// Error implements error.
func (e *WordError) Error() string {
	return fmt.Sprintf("executive: word %d (%v): %v", e.Offset, e.Word, trimPrefix(e.Err))
}

// Unwrap returns the cause.
func (e *WordError) Unwrap() error { return e.Err }

// StreamError reports an invalid escape in the byte encoding at a stream
// offset; it wraps ErrEscape.
type StreamError struct {
	Offset int64 // offset of the 0xFF that starts the escape
	Byte   byte  // the byte that followed it
}

// Error implements error.
func (e *StreamError) Error() string {
	return fmt.Sprintf("executive: byte %d: invalid escape FF %02X", e.Offset, e.Byte)
}

// Unwrap returns ErrEscape.
func (e *StreamError) Unwrap() error { return ErrEscape }

func trimPrefix(err error) string {
	const p = "executive: "
	s := err.Error()
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
