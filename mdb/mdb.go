package mdb

import (
	"errors"
	"fmt"
	"time"
)

// Word is one 9-bit MDB character: bits 0–7 are the data byte, bit 8 is the
// mode bit [MDB 4.2 §2.1]. Bits above 8 must be zero.
type Word uint16

// ModeBit is the mode (9th) bit of a Word.
const ModeBit Word = 0x100

// W builds a Word from a byte and a mode flag.
func W(b byte, mode bool) Word {
	if mode {
		return Word(b) | ModeBit
	}
	return Word(b)
}

// Byte is the data byte of w.
func (w Word) Byte() byte { return byte(w) }

// Mode reports whether w carries the mode bit.
func (w Word) Mode() bool { return w&ModeBit != 0 }

// String formats w in the 9-bit notation of the vector files: "1xx" when the
// mode bit is set, "0xx" otherwise.
func (w Word) String() string { return fmt.Sprintf("%03X", uint16(w&0x1FF)) }

// Response codes [MDB 4.2 §2.2 "Response Codes"]. A peripheral sends ACK/NAK
// with the mode bit set; the VMC sends ACK/RET/NAK without it.
const (
	ACK byte = 0x00 // acknowledgement, also "no data" answer to POLL
	RET byte = 0xAA // retransmit the previous data block; only the VMC may send it
	NAK byte = 0xFF // negative acknowledgement
)

// MaxBlock is the longest block, CHK included, in either direction [MDB 4.2 §2.2].
const MaxBlock = 36

// Address is a peripheral address: the upper five bits of the address byte
// [MDB 4.2 §2.3]. The lower three bits carry the command.
type Address byte

// Peripheral addresses [MDB 4.2 §2.3]. Cashless #2 is 0x60 (the §7.1 binary
// "11000xxxB" is a typo; every implementation uses 0x60).
const (
	AddrVMC             Address = 0x00
	AddrChanger         Address = 0x08
	AddrCashless1       Address = 0x10
	AddrGateway         Address = 0x18
	AddrDisplay         Address = 0x20
	AddrEnergy          Address = 0x28
	AddrBillValidator   Address = 0x30
	AddrUSD1            Address = 0x40
	AddrUSD2            Address = 0x48
	AddrUSD3            Address = 0x50
	AddrCoinHopper1     Address = 0x58
	AddrCashless2       Address = 0x60
	AddrAgeVerification Address = 0x68
	AddrCoinHopper2     Address = 0x70
	AddrExperimental1   Address = 0xE0
	AddrExperimental2   Address = 0xE8
	AddrVMCSpecific1    Address = 0xF0
	AddrVMCSpecific2    Address = 0xF8
)

// AddressOf returns the peripheral address of an address byte (its upper five bits).
func AddressOf(b byte) Address { return Address(b & 0xF8) }

// CommandOf returns the command number (lower three bits) of an address byte.
func CommandOf(b byte) byte { return b & 0x07 }

// Checksum is the CHK of a block: the 8-bit sum, carry dropped, of the address
// byte (VMC blocks) and all data bytes [MDB 4.2 §2.2 "CHK Byte"].
func Checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// Config holds the link timing. Zero fields take the spec default (see
// WithDefaults); tests and slow adapters may set larger values.
type Config struct {
	// Response is the longest time a device may take to start its answer
	// (t response, max 5 ms) [MDB 4.2 §3.1]. Silence beyond it counts as a NAK.
	Response time.Duration
	// InterByte is the longest gap between the bytes of one block
	// (t inter-byte, max 1 ms) [MDB 4.2 §3.1].
	InterByte time.Duration
	// NonResponse is the peripheral's non-response time: how long the VMC keeps
	// retrying before it considers the peripheral offline. Cashless default 5 s,
	// superseded by the reader's "application maximum response time" when larger
	// [MDB 4.2 §7.5].
	NonResponse time.Duration
	// Setup is the minimum wait after a bus reset before the VMC talks again
	// (t setup, min 200 ms) [MDB 4.2 §3.1].
	Setup time.Duration
	// Break is the duration of a bus reset (t break, min 100 ms) [MDB 4.2 §3.1].
	Break time.Duration
	// OfflineReset is how often the VMC sends RESET to an offline peripheral
	// (at least every 10 s) [MDB 4.2 §2.4.3].
	OfflineReset time.Duration
	// CharTime is the transmission time of one 11-bit character: ≈1.146 ms at
	// 9600 baud [MDB 4.2 §2.1, §3.2]. A receiver sees a byte only once it is
	// complete, so the link waits Response+CharTime for the first byte of an
	// answer and InterByte+CharTime between bytes. Set it small for in-memory
	// pipes that deliver instantly.
	CharTime time.Duration
	// Retries is how many times a link repeats a block after RET/NAK/bad CHK
	// before it gives up (not fixed by the spec; 2 by default).
	Retries int
}

// Spec defaults [MDB 4.2 §3.1, §2.4.3, §7.5].
const (
	DefaultResponse     = 5 * time.Millisecond
	DefaultInterByte    = 1 * time.Millisecond
	DefaultNonResponse  = 5 * time.Second
	DefaultSetup        = 200 * time.Millisecond
	DefaultBreak        = 100 * time.Millisecond
	DefaultOfflineReset = 10 * time.Second
	DefaultRetries      = 2
	DefaultCharTime     = 11 * time.Second / 9600
)

// WithDefaults returns c with every zero field set to its spec default.
func (c Config) WithDefaults() Config {
	if c.Response <= 0 {
		c.Response = DefaultResponse
	}
	if c.InterByte <= 0 {
		c.InterByte = DefaultInterByte
	}
	if c.NonResponse <= 0 {
		c.NonResponse = DefaultNonResponse
	}
	if c.Setup <= 0 {
		c.Setup = DefaultSetup
	}
	if c.Break <= 0 {
		c.Break = DefaultBreak
	}
	if c.OfflineReset <= 0 {
		c.OfflineReset = DefaultOfflineReset
	}
	if c.CharTime <= 0 {
		c.CharTime = DefaultCharTime
	}
	if c.Retries <= 0 {
		c.Retries = DefaultRetries
	}
	return c
}

// Errors callers branch on.
var (
	// ErrTimeout means the other side did not answer within the response time
	// (which the spec treats as a NAK).
	ErrTimeout = errors.New("mdb: response timeout")
	// ErrNAK means the other side answered NAK.
	ErrNAK = errors.New("mdb: NAK")
	// ErrChecksum means a block's CHK did not match.
	ErrChecksum = errors.New("mdb: checksum mismatch")
	// ErrTooLong means a block exceeded MaxBlock bytes.
	ErrTooLong = errors.New("mdb: block longer than 36 bytes")
	// ErrStray means a byte arrived outside any block (e.g. data without a
	// preceding address byte).
	ErrStray = errors.New("mdb: stray byte outside a block")
	// ErrClosed means the port was closed.
	ErrClosed = errors.New("mdb: port closed")
	// ErrSyntax means a trace could not be parsed.
	ErrSyntax = errors.New("mdb: trace syntax")
)

// ChecksumError reports a block whose CHK did not match; it wraps ErrChecksum.
type ChecksumError struct {
	Got, Want byte // received CHK, computed CHK
}

// Error implements error.
func (e *ChecksumError) Error() string {
	return fmt.Sprintf("mdb: checksum mismatch: got %02X, want %02X", e.Got, e.Want)
}

// Unwrap returns ErrChecksum.
func (e *ChecksumError) Unwrap() error { return ErrChecksum }
