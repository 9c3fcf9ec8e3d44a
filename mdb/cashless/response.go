package cashless

import (
	"encoding/binary"
	"fmt"
	"strings"

	"vendgate/mdb"
)

// RespCode is the first byte of a reader response [MDB 4.2 §7.4, Table 1].
type RespCode byte

// Responses.
const (
	RespJustReset        RespCode = 0x00
	RespReaderConfig     RespCode = 0x01
	RespDisplayRequest   RespCode = 0x02
	RespBeginSession     RespCode = 0x03
	RespSessionCancel    RespCode = 0x04 // SESSION CANCEL REQUEST
	RespVendApproved     RespCode = 0x05
	RespVendDenied       RespCode = 0x06
	RespEndSession       RespCode = 0x07
	RespCancelled        RespCode = 0x08
	RespPeripheralID     RespCode = 0x09
	RespMalfunction      RespCode = 0x0A
	RespOutOfSequence    RespCode = 0x0B
	RespRevalueApproved  RespCode = 0x0D
	RespRevalueDenied    RespCode = 0x0E
	RespRevalueLimit     RespCode = 0x0F
	RespUserFileData     RespCode = 0x10 // level 2, obsolete
	RespTimeDateRequest  RespCode = 0x11
	RespDataEntryRequest RespCode = 0x12
	RespDataEntryCancel  RespCode = 0x13
	RespFTLReqToRcv      RespCode = 0x1B
	RespFTLRetryDeny     RespCode = 0x1C
	RespFTLSendBlock     RespCode = 0x1D
	RespFTLOkToSend      RespCode = 0x1E
	RespFTLReqToSend     RespCode = 0x1F
	RespDiagnostic       RespCode = 0xFF
)

var respNames = map[RespCode]string{
	RespJustReset: "JUST RESET", RespReaderConfig: "READER CONFIG", RespDisplayRequest: "DISPLAY REQUEST",
	RespBeginSession: "BEGIN SESSION", RespSessionCancel: "SESSION CANCEL REQUEST", RespVendApproved: "VEND APPROVED",
	RespVendDenied: "VEND DENIED", RespEndSession: "END SESSION", RespCancelled: "CANCELLED",
	RespPeripheralID: "PERIPHERAL ID", RespMalfunction: "MALFUNCTION/ERROR", RespOutOfSequence: "CMD OUT OF SEQUENCE",
	RespRevalueApproved: "REVALUE APPROVED", RespRevalueDenied: "REVALUE DENIED", RespRevalueLimit: "REVALUE LIMIT AMOUNT",
	RespUserFileData: "USER FILE DATA", RespTimeDateRequest: "TIME/DATE REQUEST", RespDataEntryRequest: "DATA ENTRY REQUEST",
	RespDataEntryCancel: "DATA ENTRY CANCEL", RespFTLReqToRcv: "FTL REQ TO RCV", RespFTLRetryDeny: "FTL RETRY/DENY",
	RespFTLSendBlock: "FTL SEND BLOCK", RespFTLOkToSend: "FTL OK TO SEND", RespFTLReqToSend: "FTL REQ TO SEND",
	RespDiagnostic: "DIAGNOSTIC RESPONSE",
}

// String returns the spec name of the response.
func (c RespCode) String() string {
	if n, ok := respNames[c]; ok {
		return n
	}
	return fmt.Sprintf("RESP(%02X)", byte(c))
}

// Mode is what both sides negotiated and what decides message layouts.
type Mode struct {
	// Level is the common feature level, 1–3 (0 is taken as 1) [MDB 4.2 §2.4.4].
	Level uint8
	// Expanded is expanded currency mode: option b1/b2 enabled by the VMC
	// (level 3 only) [MDB 4.2 §7.4.22].
	Expanded bool
	// DisplaySize is columns × rows from SETUP CONFIG; the text of DISPLAY
	// REQUEST has this length. 0 lets the text run to the end of the block.
	DisplaySize int
}

// Response is one reader message. Which fields are used depends on Code.
type Response struct {
	Code RespCode

	// READER CONFIG [MDB 4.2 §7.4.4]: reader level, country/currency code
	// (packed BCD; leading 1 = ISO 4217), scale factor, decimal places,
	// application maximum response time (seconds), misc options (Misc*).
	Level, Scale, Decimals, MaxResponse, Misc byte
	Country                                   uint16

	// Amount is the funds of BEGIN SESSION (FFFF = unknown), the amount of VEND
	// APPROVED (FFFF = token) and of REVALUE LIMIT AMOUNT.
	Amount uint32
	// BEGIN SESSION, level 2/3: media ID, payment type, payment data; expanded:
	// also language (2 ASCII), currency and card options.
	MediaID     uint32
	PaymentType byte
	PaymentData uint16
	Language    uint16
	Currency    uint16
	CardOptions byte

	// PERIPHERAL ID: identity and (level 3) option bits.
	ID      Identity
	Options uint32

	// Detail is the one-byte argument of MALFUNCTION (error code), CMD OUT OF
	// SEQUENCE (reader state, level 2/3), DATA ENTRY REQUEST (length/repeat),
	// DISPLAY REQUEST (display time in 0.1 s) and USER FILE DATA (file number).
	Detail byte
	// Data is the text of DISPLAY REQUEST, the data of USER FILE DATA, or the
	// payload of FTL and DIAGNOSTIC responses.
	Data []byte
}

// length is the message length for code in mode m, 0 for "the rest of the
// block", -1 when it needs more bytes (user file data) or is unknown.
func respLength(code RespCode, m Mode, rest []byte) int {
	l3, x := m.Level >= 3, m.Expanded && m.Level >= 3
	switch code {
	case RespJustReset, RespSessionCancel, RespVendDenied, RespEndSession, RespCancelled,
		RespRevalueApproved, RespRevalueDenied, RespTimeDateRequest, RespDataEntryCancel:
		return 1
	case RespReaderConfig:
		return 8
	case RespDisplayRequest:
		if m.DisplaySize > 0 {
			return 2 + m.DisplaySize
		}
		return 0
	case RespBeginSession:
		switch {
		case x:
			return 17
		case m.Level >= 2:
			return 10
		}
		return 3
	case RespVendApproved, RespRevalueLimit:
		if x {
			return 5
		}
		return 3
	case RespPeripheralID:
		if l3 {
			return 34
		}
		return 30
	case RespMalfunction, RespDataEntryRequest:
		return 2
	case RespOutOfSequence:
		if m.Level >= 2 {
			return 2
		}
		return 1
	case RespUserFileData:
		if len(rest) < 3 {
			return -1
		}
		return 3 + int(rest[2])
	case RespFTLReqToRcv, RespFTLRetryDeny, RespFTLSendBlock, RespFTLOkToSend, RespFTLReqToSend, RespDiagnostic:
		return 0
	}
	return -1
}

// Append appends the encoding of r in mode m to dst.
func (r Response) Append(dst []byte, m Mode) ([]byte, error) {
	start := len(dst)
	x := m.Expanded && m.Level >= 3
	dst = append(dst, byte(r.Code))
	switch r.Code {
	case RespReaderConfig:
		dst = append(dst, r.Level)
		dst = binary.BigEndian.AppendUint16(dst, r.Country)
		dst = append(dst, r.Scale, r.Decimals, r.MaxResponse, r.Misc)
	case RespDisplayRequest:
		dst = append(dst, r.Detail)
		dst = append(dst, r.Data...)
	case RespBeginSession:
		n := respLength(r.Code, m, nil)
		dst = appendAmt(dst, r.Amount, n == 17)
		if n >= 10 {
			dst = binary.BigEndian.AppendUint32(dst, r.MediaID)
			dst = append(dst, r.PaymentType)
			dst = binary.BigEndian.AppendUint16(dst, r.PaymentData)
		}
		if n == 17 {
			dst = binary.BigEndian.AppendUint16(dst, r.Language)
			dst = binary.BigEndian.AppendUint16(dst, r.Currency)
			dst = append(dst, r.CardOptions)
		}
	case RespVendApproved, RespRevalueLimit:
		dst = appendAmt(dst, r.Amount, x)
	case RespPeripheralID:
		dst = r.ID.append(dst)
		if m.Level >= 3 {
			dst = binary.BigEndian.AppendUint32(dst, r.Options)
		}
	case RespMalfunction, RespDataEntryRequest:
		dst = append(dst, r.Detail)
	case RespOutOfSequence:
		if m.Level >= 2 {
			dst = append(dst, r.Detail)
		}
	case RespUserFileData:
		if len(r.Data) > mdb.MaxBlock-4 {
			return dst[:start], ErrTooLong
		}
		dst = append(dst, r.Detail, byte(len(r.Data)))
		dst = append(dst, r.Data...)
	case RespFTLReqToRcv, RespFTLRetryDeny, RespFTLSendBlock, RespFTLOkToSend, RespFTLReqToSend, RespDiagnostic:
		dst = append(dst, r.Data...)
	default:
		if _, ok := respNames[r.Code]; !ok {
			return dst[:start], &DecodeError{What: "response", Code: uint16(r.Code), Err: ErrUnknown}
		}
	}
	if n := respLength(r.Code, m, dst[start:]); n > 0 && len(dst)-start != n {
		return dst[:start], &DecodeError{What: "response", Code: uint16(r.Code), Err: fmt.Errorf("%w: %d bytes, want %d", ErrLength, len(dst)-start, n)}
	}
	return dst, nil
}

// EncodeResponses packs messages into one block (multi-message response
// [MDB 4.2 §7.3.1]), CHK excluded. It fails when they do not fit in 35 bytes.
func EncodeResponses(m Mode, rs ...Response) ([]byte, error) {
	var b []byte
	for _, r := range rs {
		var err error
		if b, err = r.Append(b, m); err != nil {
			return nil, err
		}
	}
	if len(b)+1 > mdb.MaxBlock {
		return nil, ErrTooLong
	}
	return b, nil
}

// DecodeResponses splits a reader block (CHK excluded) into its messages
// [MDB 4.2 §7.3.1] using the layouts of mode m. Variable-length messages
// (diagnostics, FTL, a DISPLAY REQUEST with unknown size) take the rest of the
// block.
func DecodeResponses(b []byte, m Mode) ([]Response, error) {
	var out []Response
	for off := 0; off < len(b); {
		code := RespCode(b[off])
		rest := b[off:]
		n := respLength(code, m, rest)
		fail := func(err error) ([]Response, error) {
			return out, &DecodeError{What: "response", Code: uint16(code), Offset: off, Err: err}
		}
		switch {
		case n < 0 && len(rest) < 3 && code == RespUserFileData:
			return fail(fmt.Errorf("%w: truncated", ErrLength))
		case n < 0:
			return fail(ErrUnknown)
		case n == 0 && code == RespDisplayRequest && len(rest) < 2:
			return fail(fmt.Errorf("%w: display request without time", ErrLength))
		case n == 0:
			n = len(rest)
		case n > len(rest):
			return fail(fmt.Errorf("%w: %d bytes, want %d", ErrLength, len(rest), n))
		}
		out = append(out, decodeResponse(rest[:n], m))
		off += n
	}
	return out, nil
}

// decodeResponse decodes one message whose length is already checked.
func decodeResponse(p []byte, m Mode) Response {
	r := Response{Code: RespCode(p[0])}
	d := p[1:]
	switch r.Code {
	case RespReaderConfig:
		r.Level, r.Country = d[0], binary.BigEndian.Uint16(d[1:3])
		r.Scale, r.Decimals, r.MaxResponse, r.Misc = d[3], d[4], d[5], d[6]
	case RespDisplayRequest:
		if len(d) > 0 {
			r.Detail, r.Data = d[0], clone(d[1:])
		}
	case RespBeginSession:
		switch len(p) {
		case 3:
			r.Amount = amt(d[:2])
		case 10:
			r.Amount, r.MediaID = amt(d[:2]), binary.BigEndian.Uint32(d[2:6])
			r.PaymentType, r.PaymentData = d[6], binary.BigEndian.Uint16(d[7:9])
		case 17:
			r.Amount, r.MediaID = amt(d[:4]), binary.BigEndian.Uint32(d[4:8])
			r.PaymentType, r.PaymentData = d[8], binary.BigEndian.Uint16(d[9:11])
			r.Language, r.Currency, r.CardOptions = binary.BigEndian.Uint16(d[11:13]), binary.BigEndian.Uint16(d[13:15]), d[15]
		}
	case RespVendApproved, RespRevalueLimit:
		r.Amount = amt(d)
	case RespPeripheralID:
		r.ID = decodeIdentity(d)
		if len(d) == 33 {
			r.Options = binary.BigEndian.Uint32(d[29:33])
		}
	case RespMalfunction, RespDataEntryRequest:
		r.Detail = d[0]
	case RespOutOfSequence:
		if len(d) > 0 {
			r.Detail = d[0]
		}
	case RespUserFileData:
		r.Detail, r.Data = d[0], clone(d[2:])
	case RespFTLReqToRcv, RespFTLRetryDeny, RespFTLSendBlock, RespFTLOkToSend, RespFTLReqToSend, RespDiagnostic:
		r.Data = clone(d)
	}
	return r
}

// GuessResponses decodes a reader block when the negotiated mode is not known
// (trace tools): it tries the level-3, level-1, expanded and level-2 layouts
// and returns the first that accounts for every byte, with the mode used.
func GuessResponses(b []byte) ([]Response, Mode, error) {
	var firstErr error
	for _, m := range []Mode{{Level: 3}, {Level: 1}, {Level: 3, Expanded: true}, {Level: 2}} {
		rs, err := DecodeResponses(b, m)
		if err == nil {
			return rs, m, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, Mode{}, firstErr
}

// String renders r with its fields.
func (r Response) String() string {
	var sb strings.Builder
	sb.WriteString(r.Code.String())
	f := func(format string, a ...any) { fmt.Fprintf(&sb, " "+format, a...) }
	switch r.Code {
	case RespReaderConfig:
		f("level=%d country=%04X scale=%d decimals=%d max_response=%ds misc=%02X", r.Level, r.Country, r.Scale, r.Decimals, r.MaxResponse, r.Misc)
	case RespDisplayRequest:
		f("time=%d text=%q", r.Detail, r.Data)
	case RespBeginSession:
		f("funds=%d", r.Amount)
		if r.MediaID != 0 || r.PaymentType != 0 || r.PaymentData != 0 {
			f("media=%08X payment_type=%02X payment_data=%04X", r.MediaID, r.PaymentType, r.PaymentData)
		}
		if r.Language != 0 || r.Currency != 0 || r.CardOptions != 0 {
			f("language=%04X currency=%04X card_options=%02X", r.Language, r.Currency, r.CardOptions)
		}
	case RespVendApproved, RespRevalueLimit:
		f("amount=%d", r.Amount)
	case RespPeripheralID:
		f("manufacturer=%q serial=%q model=%q software=%04X options=%08X", r.ID.Manufacturer, r.ID.Serial, r.ID.Model, r.ID.Software, r.Options)
	case RespMalfunction:
		f("error=%02X", r.Detail)
	case RespOutOfSequence:
		f("state=%d", r.Detail)
	case RespDataEntryRequest:
		f("length_repeat=%02X", r.Detail)
	case RespUserFileData:
		f("file=%d data=% X", r.Detail, r.Data)
	default:
		if len(r.Data) > 0 {
			f("data=% X", r.Data)
		}
	}
	return sb.String()
}
