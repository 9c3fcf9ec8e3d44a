package dex

import (
	"fmt"
	"strconv"
)

// Control characters (EVA-DTS 6.2 §4.4, ASCII).
const (
	SOH byte = 0x01 // start of header: opens a handshake message (after DLE)
	STX byte = 0x02 // start of text: opens a data block (after DLE)
	ETX byte = 0x03 // end of text: closes a handshake message or the last data block
	EOT byte = 0x04 // end of transmission: closes each exchange (or aborts one)
	ENQ byte = 0x05 // enquiry: asks for the line, or for the last answer to be repeated
	DLE byte = 0x10 // data link escape: prefixes every control sequence
	NAK byte = 0x15 // negative acknowledge: the last frame was corrupt, send it again
	SYN byte = 0x16 // synchronous idle: DLE SYN is time fill inside a block, ignored
	ETB byte = 0x17 // end of transmission block: closes a data block that is not the last
)

// Second characters of two-byte DLE sequences.
const (
	ACK0 byte = '0' // DLE '0': even acknowledgement (answer to ENQ and to even frames)
	ACK1 byte = '1' // DLE '1': odd acknowledgement
	WACK byte = ';' // DLE ';': wait before transmitting, frame accepted but not ready
	RVI  byte = '<' // DLE '<': reverse interrupt (BSC); EVA-DTS does not use it, decoded only
)

// Block limits (EVA-DTS 6.2 §4.4): a block counts at most 245 bytes from the
// byte after DLE STX through DLE ETB/ETX inclusive (the CRC not counted), so
// at most 243 wire bytes of text.
const (
	MaxBlock     = 245
	MaxBlockText = MaxBlock - 2
)

// Sequences every session uses, as wire bytes.
var (
	seqACK0 = []byte{DLE, ACK0}
	seqACK1 = []byte{DLE, ACK1}
	seqWACK = []byte{DLE, WACK}
	seqENQ  = []byte{ENQ}
	seqEOT  = []byte{EOT}
	seqNAK  = []byte{NAK}
)

// ackFor returns the acknowledgement for the n-th frame of an exchange (the
// ENQ that opens it is frame 0): ACK0 for even n, ACK1 for odd n.
func ackFor(n int) byte {
	if n%2 == 0 {
		return ACK0
	}
	return ACK1
}

// AppendFrame appends one framed message to dst and returns the result:
//
//	DLE open text… DLE close CRClo CRChi
//
// open is SOH (handshake) or STX (data block); close is ETX (handshake, last
// block) or ETB (more blocks follow). A DLE inside text is sent twice (BSC
// transparent text; EVA-DTS text is 7-bit ASCII so it never happens in real
// audits). The CRC (CRC16) covers the text, counting a doubled DLE once, and
// the close character, but not the DLEs of the framing; it is sent low byte
// first (§4.4: 1234h is sent as 34h 12h).
func AppendFrame(dst []byte, open byte, text []byte, close byte) []byte {
	dst = append(dst, DLE, open)
	for _, b := range text {
		if b == DLE {
			dst = append(dst, DLE)
		}
		dst = append(dst, b)
	}
	crc := UpdateCRC(UpdateCRC(0, text), []byte{close})
	return append(dst, DLE, close, byte(crc), byte(crc>>8))
}

// AppendBlock appends a data block: DLE STX text DLE ETB (or DLE ETX when
// last) and the CRC.
func AppendBlock(dst, text []byte, last bool) []byte {
	if last {
		return AppendFrame(dst, STX, text, ETX)
	}
	return AppendFrame(dst, STX, text, ETB)
}

// SplitBlocks cuts data into block texts so that each block, with its DLEs
// doubled, counts at most size bytes between DLE STX and the closing DLE
// ETB/ETX inclusive (size ≤ 0 or > MaxBlock means MaxBlock; at least one text
// byte per block). Empty data yields one empty block, so a transfer always
// has a last (ETX) block.
func SplitBlocks(data []byte, size int) [][]byte {
	if size <= 2 || size > MaxBlock {
		size = MaxBlock
	}
	room := size - 2
	var out [][]byte
	for len(data) > 0 {
		n, w := 0, 0
		for n < len(data) {
			c := 1
			if data[n] == DLE {
				c = 2
			}
			if w+c > room && n > 0 {
				break
			}
			w += c
			n++
		}
		out = append(out, data[:n:n])
		data = data[n:]
	}
	if out == nil {
		out = [][]byte{{}}
	}
	return out
}

// Operation requests (EVA-DTS 6.2 §4.5.5).
const (
	OpRead          byte = 'R' // DC master: the DC wants to read (audit)
	OpSend          byte = 'S' // DC master: the DC sends configuration; VMD master: the VMD wants to send
	OpManufacturer  byte = 'M' // manufacturer-specific state (DTS 6.0)
	CommIDLen            = 10  // communication ID length (§4.5.4)
	requestLen           = CommIDLen + 1 + 6
	responseLen          = 2 + CommIDLen + 6
	DefaultRevision      = 0 // R00L06 = DTS 6.x (§4.5.6)
	DefaultLevel         = 6
)

// ResponseCode answers a first-handshake request in the second handshake
// (EVA-DTS 6.2 §4.5.7).
type ResponseCode uint8

// Response codes.
const (
	ResponseOK                ResponseCode = 0  // 00 OK
	ResponseUnknownCommID     ResponseCode = 1  // 01 unrecognised communication ID
	ResponseUnsupportedRev    ResponseCode = 2  // 02 unsupported revision/level
	ResponseOpConflict        ResponseCode = 3  // 03 operation conflict
	ResponseNoData            ResponseCode = 4  // 04 no data to transfer
	ResponseUndefinedError    ResponseCode = 5  // 05 undefined error
	ResponseManufacturerState ResponseCode = 90 // 90 manufacturer-specific state
)

// String gives the two-digit code and its meaning.
func (c ResponseCode) String() string {
	names := map[ResponseCode]string{
		ResponseOK: "ok", ResponseUnknownCommID: "unrecognised communication id",
		ResponseUnsupportedRev: "unsupported revision/level", ResponseOpConflict: "operation conflict",
		ResponseNoData: "no data", ResponseUndefinedError: "undefined error",
		ResponseManufacturerState: "manufacturer-specific state",
	}
	if n, ok := names[c]; ok {
		return fmt.Sprintf("%02d (%s)", uint8(c), n)
	}
	return fmt.Sprintf("%02d", uint8(c))
}

// Request is the first-handshake message of the master (EVA-DTS 6.2 §4.5.3):
//
//	CommID(10) Op(1) 'R' rev(2) 'L' level(2)     e.g. "1234567890RR00L06"
type Request struct {
	CommID   string // 10 characters; shorter IDs are padded with spaces when encoding
	Op       byte   // OpRead, OpSend, OpManufacturer
	Revision int    // 0..99
	Level    int    // 0..99
}

// Response is the second-handshake message (EVA-DTS 6.2 §4.5.3):
//
//	Code(2) CommID(10) 'R' rev(2) 'L' level(2)   e.g. "001234567890R00L06"
type Response struct {
	Code     ResponseCode
	CommID   string
	Revision int
	Level    int
}

// AppendRequest appends r framed as DLE SOH … DLE ETX CRC.
func AppendRequest(dst []byte, r Request) []byte {
	text := make([]byte, 0, requestLen)
	text = append(text, padCommID(r.CommID)...)
	text = append(text, r.Op)
	text = appendRevLevel(text, r.Revision, r.Level)
	return AppendFrame(dst, SOH, text, ETX)
}

// AppendResponse appends r framed as DLE SOH … DLE ETX CRC.
func AppendResponse(dst []byte, r Response) []byte {
	text := make([]byte, 0, responseLen)
	text = append(text, byte('0'+r.Code/10%10), byte('0'+r.Code%10))
	text = append(text, padCommID(r.CommID)...)
	text = appendRevLevel(text, r.Revision, r.Level)
	return AppendFrame(dst, SOH, text, ETX)
}

// ParseRequest parses the text of a first-handshake message (without
// framing). The communication ID is returned as sent, padding included.
func ParseRequest(text []byte) (Request, error) {
	if len(text) != requestLen {
		return Request{}, &HandshakeError{Field: "length", Msg: clone(text)}
	}
	rev, lvl, ok := parseRevLevel(text[CommIDLen+1:])
	if !ok {
		return Request{}, &HandshakeError{Field: "revision/level", Msg: clone(text)}
	}
	return Request{CommID: string(text[:CommIDLen]), Op: text[CommIDLen], Revision: rev, Level: lvl}, nil
}

// ParseResponse parses the text of a second-handshake message.
func ParseResponse(text []byte) (Response, error) {
	if len(text) != responseLen {
		return Response{}, &HandshakeError{Field: "length", Msg: clone(text)}
	}
	code, err := strconv.ParseUint(string(text[:2]), 10, 8)
	if err != nil || text[0] < '0' || text[0] > '9' {
		return Response{}, &HandshakeError{Field: "response code", Msg: clone(text)}
	}
	rev, lvl, ok := parseRevLevel(text[2+CommIDLen:])
	if !ok {
		return Response{}, &HandshakeError{Field: "revision/level", Msg: clone(text)}
	}
	return Response{Code: ResponseCode(code), CommID: string(text[2 : 2+CommIDLen]), Revision: rev, Level: lvl}, nil
}

// padCommID returns id cut or space-padded to exactly CommIDLen bytes.
func padCommID(id string) []byte {
	b := []byte(id)
	if len(b) > CommIDLen {
		b = b[:CommIDLen]
	}
	for len(b) < CommIDLen {
		b = append(b, ' ')
	}
	return b
}

func appendRevLevel(dst []byte, rev, lvl int) []byte {
	return fmt.Appendf(dst, "R%02dL%02d", uint(rev)%100, uint(lvl)%100)
}

// parseRevLevel reads "RnnLnn".
func parseRevLevel(p []byte) (rev, lvl int, ok bool) {
	if len(p) != 6 || p[0] != 'R' || p[3] != 'L' {
		return 0, 0, false
	}
	for _, i := range []int{1, 2, 4, 5} {
		if p[i] < '0' || p[i] > '9' {
			return 0, 0, false
		}
	}
	return int(p[1]-'0')*10 + int(p[2]-'0'), int(p[4]-'0')*10 + int(p[5]-'0'), true
}

func clone(p []byte) []byte { return append([]byte(nil), p...) }
