package dex

import (
	"errors"
	"fmt"
)

// Sentinel errors. Driver and session errors wrap one of them with context
// ("dex: data block 3: …"), so callers branch with errors.Is.
var (
	// ErrNoAnswer: nothing on the line answered our ENQs (no machine, cable
	// unplugged, wrong port or baud rate).
	ErrNoAnswer = errors.New("dex: no answer")
	// ErrCommID: the peer rejected the communication ID (response code 01), or
	// a machine was configured to accept only other IDs.
	ErrCommID = errors.New("dex: communication id rejected")
	// ErrRefused: the peer answered the handshake with a response code other
	// than 00. Errors matching ErrCommID also match ErrRefused.
	ErrRefused = errors.New("dex: session refused")
	// ErrCRC: too many consecutive corrupt blocks (receiving) or too many
	// NAKs (sending): the line is too noisy to transfer.
	ErrCRC = errors.New("dex: too many crc errors")
	// ErrTimeout: the peer went silent in the middle of a session (Timer D,
	// or Timer A retries exhausted).
	ErrTimeout = errors.New("dex: timeout")
	// ErrAborted: the peer ended the session (EOT) before it was complete.
	ErrAborted = errors.New("dex: session aborted by peer")
	// ErrProtocol: the peer sent something the session cannot accept at this
	// point (for example a malformed handshake message).
	ErrProtocol = errors.New("dex: protocol error")

	// ErrBadCRC: one received frame failed its block check.
	ErrBadCRC = errors.New("dex: bad block check")
	// ErrFraming: a frame was cut short or carried an invalid DLE sequence.
	ErrFraming = errors.New("dex: framing error")
	// ErrFrameTooLong: a frame exceeded Decoder.MaxFrame bytes.
	ErrFrameTooLong = errors.New("dex: frame too long")
	// ErrNoData: a Slave source may return it when the machine has no audit
	// data; the reader is then told response code 04.
	ErrNoData = errors.New("dex: no data")
)

// FrameError is a frame the Decoder could not accept: where it started in the
// stream (byte offset, counting from 0 since the decoder was created) and why
// (ErrBadCRC, ErrFraming or ErrFrameTooLong).
type FrameError struct {
	Offset int64
	Err    error
}

// Error says what was wrong and where.
func (e *FrameError) Error() string { return fmt.Sprintf("%v at byte %d", e.Err, e.Offset) }

// Unwrap returns the cause.
func (e *FrameError) Unwrap() error { return e.Err }

// ResponseError is a handshake answered with a response code other than
// ResponseOK (EVA-DTS 6.2 §4.5.7).
type ResponseError struct {
	Code ResponseCode
}

// Error names the response code.
func (e *ResponseError) Error() string {
	return fmt.Sprintf("dex: peer answered %s", e.Code)
}

// Is makes a ResponseError match ErrRefused, and ErrCommID for code 01.
func (e *ResponseError) Is(target error) bool {
	return target == ErrRefused || (target == ErrCommID && e.Code == ResponseUnknownCommID)
}

// HandshakeError is a malformed handshake message: which field is wrong and
// the message bytes.
type HandshakeError struct {
	Field string
	Msg   []byte
}

// Error quotes the message and the bad field.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("dex: malformed handshake %q: bad %s", e.Msg, e.Field)
}

// Unwrap makes a HandshakeError match ErrProtocol.
func (e *HandshakeError) Unwrap() error { return ErrProtocol }
