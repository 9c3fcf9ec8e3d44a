package cashless

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"vendgate/mdb"
)

// Errors callers branch on.
var (
	// ErrUnknown means a command or response code this package does not know.
	ErrUnknown = errors.New("cashless: unknown code")
	// ErrLength means a message has the wrong length for its code.
	ErrLength = errors.New("cashless: bad length")
	// ErrTooLong means messages do not fit one MDB block.
	ErrTooLong = errors.New("cashless: messages exceed one block")
)

// DecodeError positions a decoding failure: the code being decoded, the byte
// offset of the message in the block, and the cause (wrapped).
type DecodeError struct {
	What   string // "command" or "response"
	Code   uint16
	Offset int
	Err    error
}

// Error implements error.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("cashless: %s %s at byte %d: %v", e.What, codeName(e.What, e.Code), e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

func codeName(what string, c uint16) string {
	if what == "command" {
		return CmdCode(c).String()
	}
	return RespCode(c).String()
}

// CmdCode identifies a VMC command: the command number (low three bits of the
// address byte) in the high byte and the sub-command in the low byte
// [MDB 4.2 §7.3 Table 1]. RESET and POLL have no sub-command.
type CmdCode uint16

// Commands [MDB 4.2 §7.4].
const (
	CmdReset           CmdCode = 0x000
	CmdSetupConfig     CmdCode = 0x100
	CmdSetupPrices     CmdCode = 0x101
	CmdPoll            CmdCode = 0x200
	CmdVendRequest     CmdCode = 0x300
	CmdVendCancel      CmdCode = 0x301
	CmdVendSuccess     CmdCode = 0x302
	CmdVendFailure     CmdCode = 0x303
	CmdSessionComplete CmdCode = 0x304
	CmdCashSale        CmdCode = 0x305
	CmdNegativeVend    CmdCode = 0x306 // level 3
	CmdReaderDisable   CmdCode = 0x400
	CmdReaderEnable    CmdCode = 0x401
	CmdReaderCancel    CmdCode = 0x402
	CmdDataEntry       CmdCode = 0x403 // level 3 option: DATA ENTRY RESPONSE
	CmdRevalue         CmdCode = 0x500 // level 2+
	CmdRevalueLimit    CmdCode = 0x501 // level 2+
	CmdRequestID       CmdCode = 0x700
	CmdReadUserFile    CmdCode = 0x701 // level 2, obsolete
	CmdWriteUserFile   CmdCode = 0x702 // level 2, obsolete
	CmdWriteTimeDate   CmdCode = 0x703
	CmdOptionEnable    CmdCode = 0x704 // level 3: OPTIONAL FEATURE ENABLED
	CmdFTLReqToRcv     CmdCode = 0x7FA // level 3 option: file transport layer
	CmdFTLRetryDeny    CmdCode = 0x7FB
	CmdFTLSendBlock    CmdCode = 0x7FC
	CmdFTLOkToSend     CmdCode = 0x7FD
	CmdFTLReqToSend    CmdCode = 0x7FE
	CmdDiagnostics     CmdCode = 0x7FF
)

// AllCommands lists every command code, in code order.
var AllCommands = []CmdCode{
	CmdReset, CmdSetupConfig, CmdSetupPrices, CmdPoll,
	CmdVendRequest, CmdVendCancel, CmdVendSuccess, CmdVendFailure, CmdSessionComplete, CmdCashSale, CmdNegativeVend,
	CmdReaderDisable, CmdReaderEnable, CmdReaderCancel, CmdDataEntry,
	CmdRevalue, CmdRevalueLimit,
	CmdRequestID, CmdReadUserFile, CmdWriteUserFile, CmdWriteTimeDate, CmdOptionEnable,
	CmdFTLReqToRcv, CmdFTLRetryDeny, CmdFTLSendBlock, CmdFTLOkToSend, CmdFTLReqToSend, CmdDiagnostics,
}

var cmdNames = map[CmdCode]string{
	CmdReset: "RESET", CmdSetupConfig: "SETUP CONFIG", CmdSetupPrices: "SETUP PRICES", CmdPoll: "POLL",
	CmdVendRequest: "VEND REQUEST", CmdVendCancel: "VEND CANCEL", CmdVendSuccess: "VEND SUCCESS",
	CmdVendFailure: "VEND FAILURE", CmdSessionComplete: "SESSION COMPLETE", CmdCashSale: "CASH SALE",
	CmdNegativeVend: "NEGATIVE VEND", CmdReaderDisable: "READER DISABLE", CmdReaderEnable: "READER ENABLE",
	CmdReaderCancel: "READER CANCEL", CmdDataEntry: "DATA ENTRY RESPONSE", CmdRevalue: "REVALUE REQUEST",
	CmdRevalueLimit: "REVALUE LIMIT REQUEST", CmdRequestID: "EXPANSION REQUEST ID",
	CmdReadUserFile: "EXPANSION READ USER FILE", CmdWriteUserFile: "EXPANSION WRITE USER FILE",
	CmdWriteTimeDate: "EXPANSION WRITE TIME/DATE", CmdOptionEnable: "EXPANSION OPTIONAL FEATURE ENABLED",
	CmdFTLReqToRcv: "FTL REQ TO RCV", CmdFTLRetryDeny: "FTL RETRY/DENY", CmdFTLSendBlock: "FTL SEND BLOCK",
	CmdFTLOkToSend: "FTL OK TO SEND", CmdFTLReqToSend: "FTL REQ TO SEND", CmdDiagnostics: "EXPANSION DIAGNOSTICS",
}

// String returns the spec name of the command.
func (c CmdCode) String() string {
	if n, ok := cmdNames[c]; ok {
		return n
	}
	return fmt.Sprintf("CMD(%03X)", uint16(c))
}

func (c CmdCode) hasSub() bool { return c != CmdReset && c != CmdPoll }

// Identity is the identification block of EXPANSION REQUEST ID and PERIPHERAL
// ID [MDB 4.2 §7.4.4, §7.4.17]: fixed-width ASCII fields (kept byte for byte
// when decoding; padded with spaces when shorter on encoding) and a BCD
// software version.
type Identity struct {
	Manufacturer string // 3 bytes, an EVA-DTS manufacturer code
	Serial       string // 12 bytes
	Model        string // 12 bytes
	Software     uint16 // BCD
}

func appendFixed(dst []byte, s string, n int) []byte {
	for i := 0; i < n; i++ {
		if i < len(s) {
			dst = append(dst, s[i])
		} else {
			dst = append(dst, ' ')
		}
	}
	return dst
}

func (id Identity) append(dst []byte) []byte {
	dst = appendFixed(dst, id.Manufacturer, 3)
	dst = appendFixed(dst, id.Serial, 12)
	dst = appendFixed(dst, id.Model, 12)
	return binary.BigEndian.AppendUint16(dst, id.Software)
}

func decodeIdentity(b []byte) Identity { // len(b) >= 29
	return Identity{
		Manufacturer: string(b[0:3]), Serial: string(b[3:15]), Model: string(b[15:27]),
		Software: binary.BigEndian.Uint16(b[27:29]),
	}
}

// Level-3 option bits (EXPANSION REQUEST ID reply and OPTIONAL FEATURE ENABLED)
// [MDB 4.2 §7.4.4, §7.4.22].
const (
	OptFTL           uint32 = 1 << 0 // file transport layer
	Opt32Bit         uint32 = 1 << 1 // 32-bit monetary format
	OptMultiCurrency uint32 = 1 << 2 // multi currency / multi lingual
	OptNegativeVend  uint32 = 1 << 3
	OptDataEntry     uint32 = 1 << 4
	OptAlwaysIdle    uint32 = 1 << 5
	// OptRemoteVend is bit 6, which an MDB 4.3 VMC sets to announce remote
	// product selection (seen in Qibixx documentation; 4.3 bytes unknown).
	OptRemoteVend uint32 = 1 << 6
)

// Expanded reports whether enabled options switch on expanded currency mode
// (32-bit amounts and currency fields): option b1 or b2 [MDB 4.2 §7.4.22].
func Expanded(options uint32) bool { return options&(Opt32Bit|OptMultiCurrency) != 0 }

// Reader configuration misc options, READER CONFIG Z8 [MDB 4.2 §7.4.4].
const (
	MiscRefund    byte = 1 << 0 // reader can restore funds to the media
	MiscMultivend byte = 1 << 1 // several vends per session
	MiscDisplay   byte = 1 << 2 // reader has its own display
	MiscCashSale  byte = 1 << 3 // VEND/CASH SALE supported
)

// Command is one VMC-to-reader command. Which fields are used depends on Code;
// the others are zero.
type Command struct {
	Code CmdCode
	// Expanded selects the expanded currency form (32-bit amounts, currency
	// fields) of SETUP PRICES, VEND REQUEST, CASH SALE, NEGATIVE VEND and
	// REVALUE REQUEST. DecodeCommand sets it from the length.
	Expanded bool

	// SETUP CONFIG: VMC feature level, display columns, rows, display type.
	VMCLevel, Columns, Rows, DisplayType byte
	// SETUP PRICES: maximum and minimum price (FFFF / 0000 = unknown).
	MaxPrice, MinPrice uint32
	// Currency (ISO 4217 as packed BCD, e.g. 0x1978 = EUR) of expanded SETUP
	// PRICES and CASH SALE.
	Currency uint16
	// Amount is the scaled price of VEND REQUEST, CASH SALE, NEGATIVE VEND and
	// the amount of REVALUE REQUEST.
	Amount uint32
	// Item is the item number of VEND REQUEST, VEND SUCCESS, CASH SALE and
	// NEGATIVE VEND (FFFF = undefined).
	Item uint16
	// ID is the VMC identity of EXPANSION REQUEST ID.
	ID Identity
	// Options are the option bits of OPTIONAL FEATURE ENABLED.
	Options uint32
	// File is the user file number of READ/WRITE USER FILE.
	File byte
	// Data holds the variable part: user file data, the 10 BCD bytes of WRITE
	// TIME/DATE (YY MM DD hh mm ss dow week summer holiday), DATA ENTRY keys,
	// FTL and diagnostics payloads.
	Data []byte
}

// amtLen is the width of an amount: 2 bytes, or 4 in expanded currency mode.
func amtLen(expanded bool) int {
	if expanded {
		return 4
	}
	return 2
}

func appendAmt(dst []byte, v uint32, expanded bool) []byte {
	if expanded {
		return binary.BigEndian.AppendUint32(dst, v)
	}
	return binary.BigEndian.AppendUint16(dst, uint16(v))
}

func amt(b []byte) uint32 {
	if len(b) == 4 {
		return binary.BigEndian.Uint32(b)
	}
	return uint32(binary.BigEndian.Uint16(b))
}

// fixedLen is the block length (address byte … last data byte, CHK excluded)
// of a command; 0 means variable.
func fixedLen(c CmdCode, expanded bool) int {
	a := amtLen(expanded)
	switch c {
	case CmdReset, CmdPoll:
		return 1
	case CmdSetupConfig:
		return 6
	case CmdSetupPrices:
		if expanded {
			return 12
		}
		return 6
	case CmdVendRequest, CmdNegativeVend:
		return 4 + a
	case CmdCashSale:
		if expanded {
			return 10
		}
		return 6
	case CmdVendCancel, CmdVendFailure, CmdSessionComplete, CmdReaderDisable, CmdReaderEnable,
		CmdReaderCancel, CmdRevalueLimit:
		return 2
	case CmdVendSuccess:
		return 4
	case CmdDataEntry:
		return 10 // Y2–Y9: eight bytes of entered data [MDB 4.2 §7.4.14]
	case CmdRevalue:
		return 2 + a
	case CmdRequestID:
		return 31
	case CmdReadUserFile:
		return 3
	case CmdWriteTimeDate:
		return 12
	case CmdOptionEnable:
		return 6
	}
	return 0
}

// CommandLength tells a peripheral framer how long the VMC block starting with
// b is, CHK included: the total when known, 0 when more bytes are needed to
// tell, -1 when the length cannot be known from the bytes (unknown command or
// variable-length payload: wait for an inter-byte gap). expanded is the
// reader's current currency mode.
func CommandLength(b []byte, expanded bool) int {
	if len(b) == 0 {
		return 0
	}
	cmd := CmdCode(uint16(mdb.CommandOf(b[0])) << 8)
	if cmd == CmdReset || cmd == CmdPoll {
		return 2
	}
	if len(b) < 2 {
		return 0
	}
	cmd |= CmdCode(b[1])
	if cmd == CmdWriteUserFile {
		if len(b) < 4 {
			return 0
		}
		return 4 + int(b[3]) + 1
	}
	if n := fixedLen(cmd, expanded); n > 0 {
		return n + 1
	}
	return -1
}

// Complete is a Framer.Complete function for a reader at address addr in the
// given currency mode: it ends a block addressed to addr as soon as its length
// is reached.
func Complete(addr mdb.Address, expanded func() bool) func(b []byte) bool {
	return func(b []byte) bool {
		if len(b) == 0 || mdb.AddressOf(b[0]) != addr {
			return false
		}
		n := CommandLength(b, expanded())
		return n > 0 && len(b) == n
	}
}

// Encode returns the block for c sent to address addr (0x10 or 0x60), CHK
// excluded. It fails for an unknown code or a Data field of the wrong size.
func (c Command) Encode(addr mdb.Address) ([]byte, error) {
	if _, ok := cmdNames[c.Code]; !ok {
		return nil, &DecodeError{What: "command", Code: uint16(c.Code), Err: ErrUnknown}
	}
	b := []byte{byte(addr) | byte(c.Code>>8)}
	if c.Code.hasSub() {
		b = append(b, byte(c.Code))
	}
	x := c.Expanded
	switch c.Code {
	case CmdSetupConfig:
		b = append(b, c.VMCLevel, c.Columns, c.Rows, c.DisplayType)
	case CmdSetupPrices:
		b = appendAmt(b, c.MaxPrice, x)
		b = appendAmt(b, c.MinPrice, x)
		if x {
			b = binary.BigEndian.AppendUint16(b, c.Currency)
		}
	case CmdVendRequest, CmdNegativeVend:
		b = appendAmt(b, c.Amount, x)
		b = binary.BigEndian.AppendUint16(b, c.Item)
	case CmdCashSale:
		b = appendAmt(b, c.Amount, x)
		b = binary.BigEndian.AppendUint16(b, c.Item)
		if x {
			b = binary.BigEndian.AppendUint16(b, c.Currency)
		}
	case CmdVendSuccess:
		b = binary.BigEndian.AppendUint16(b, c.Item)
	case CmdRevalue:
		b = appendAmt(b, c.Amount, x)
	case CmdRequestID:
		b = c.ID.append(b)
	case CmdOptionEnable:
		b = binary.BigEndian.AppendUint32(b, c.Options)
	case CmdReadUserFile:
		b = append(b, c.File)
	case CmdWriteUserFile:
		if len(c.Data) > mdb.MaxBlock-5 {
			return nil, ErrTooLong
		}
		b = append(b, c.File, byte(len(c.Data)))
		b = append(b, c.Data...)
	case CmdDataEntry, CmdWriteTimeDate:
		b = append(b, c.Data...)
	case CmdFTLReqToRcv, CmdFTLRetryDeny, CmdFTLSendBlock, CmdFTLOkToSend, CmdFTLReqToSend, CmdDiagnostics:
		b = append(b, c.Data...)
	}
	if n := fixedLen(c.Code, x); n > 0 && len(b) != n {
		return nil, &DecodeError{What: "command", Code: uint16(c.Code), Err: fmt.Errorf("%w: %d bytes, want %d", ErrLength, len(b), n)}
	}
	if len(b)+1 > mdb.MaxBlock {
		return nil, ErrTooLong
	}
	return b, nil
}

// DecodeCommand decodes a VMC block (address byte … data, CHK excluded). The
// address bits of b[0] are ignored: the caller checks them. The expanded form
// is recognised by its length.
func DecodeCommand(b []byte) (Command, error) {
	if len(b) == 0 {
		return Command{}, &DecodeError{What: "command", Err: fmt.Errorf("%w: empty block", ErrLength)}
	}
	c := Command{Code: CmdCode(uint16(mdb.CommandOf(b[0])) << 8)}
	fail := func(err error) (Command, error) {
		return Command{}, &DecodeError{What: "command", Code: uint16(c.Code), Err: err}
	}
	if c.Code == 0x600 {
		return fail(ErrUnknown) // command 6 is not defined for cashless devices
	}
	if c.Code.hasSub() {
		if len(b) < 2 {
			return fail(fmt.Errorf("%w: missing sub-command", ErrLength))
		}
		c.Code |= CmdCode(b[1])
	}
	if _, ok := cmdNames[c.Code]; !ok {
		return fail(ErrUnknown)
	}
	n := len(b)
	want := fixedLen(c.Code, false)
	switch {
	case want == 0:
	case n == want:
	case fixedLen(c.Code, true) == n:
		c.Expanded = true
	default:
		return fail(fmt.Errorf("%w: %d bytes, want %d", ErrLength, n, want))
	}
	p := b[1:]
	if c.Code.hasSub() {
		p = b[2:]
	}
	a := amtLen(c.Expanded)
	switch c.Code {
	case CmdSetupConfig:
		c.VMCLevel, c.Columns, c.Rows, c.DisplayType = p[0], p[1], p[2], p[3]
	case CmdSetupPrices:
		c.MaxPrice, c.MinPrice = amt(p[:a]), amt(p[a:2*a])
		if c.Expanded {
			c.Currency = binary.BigEndian.Uint16(p[8:10])
		}
	case CmdVendRequest, CmdNegativeVend:
		c.Amount, c.Item = amt(p[:a]), binary.BigEndian.Uint16(p[a:a+2])
	case CmdCashSale:
		c.Amount, c.Item = amt(p[:a]), binary.BigEndian.Uint16(p[a:a+2])
		if c.Expanded {
			c.Currency = binary.BigEndian.Uint16(p[a+2 : a+4])
		}
	case CmdVendSuccess:
		c.Item = binary.BigEndian.Uint16(p)
	case CmdRevalue:
		c.Amount = amt(p)
	case CmdRequestID:
		c.ID = decodeIdentity(p)
	case CmdOptionEnable:
		c.Options = binary.BigEndian.Uint32(p)
	case CmdReadUserFile:
		c.File = p[0]
	case CmdWriteUserFile:
		if len(p) < 2 || len(p) != 2+int(p[1]) {
			return fail(fmt.Errorf("%w: user file length", ErrLength))
		}
		c.File, c.Data = p[0], clone(p[2:])
	default:
		if want == 0 || c.Code == CmdDataEntry || c.Code == CmdWriteTimeDate {
			c.Data = clone(p)
		}
	}
	return c, nil
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// String renders c with its fields, e.g. "VEND REQUEST price=60 item=11".
func (c Command) String() string {
	var sb strings.Builder
	sb.WriteString(c.Code.String())
	f := func(format string, a ...any) { fmt.Fprintf(&sb, " "+format, a...) }
	if c.Expanded {
		f("expanded")
	}
	switch c.Code {
	case CmdSetupConfig:
		f("vmc_level=%d columns=%d rows=%d display_type=%d", c.VMCLevel, c.Columns, c.Rows, c.DisplayType)
	case CmdSetupPrices:
		f("max=%d min=%d", c.MaxPrice, c.MinPrice)
		if c.Expanded {
			f("currency=%04X", c.Currency)
		}
	case CmdVendRequest, CmdNegativeVend:
		f("price=%d item=%d", c.Amount, c.Item)
	case CmdCashSale:
		f("price=%d item=%d", c.Amount, c.Item)
		if c.Expanded {
			f("currency=%04X", c.Currency)
		}
	case CmdVendSuccess:
		f("item=%d", c.Item)
	case CmdRevalue:
		f("amount=%d", c.Amount)
	case CmdRequestID:
		f("manufacturer=%q serial=%q model=%q software=%04X", c.ID.Manufacturer, c.ID.Serial, c.ID.Model, c.ID.Software)
	case CmdOptionEnable:
		f("options=%08X", c.Options)
	case CmdReadUserFile:
		f("file=%d", c.File)
	case CmdWriteUserFile:
		f("file=%d data=% X", c.File, c.Data)
	default:
		if len(c.Data) > 0 {
			f("data=% X", c.Data)
		}
	}
	return sb.String()
}
