package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Value rules shared by the decoders and Encode, so that Encode never produces
// a payload Decode refuses. docs/protocol.md lists them per field.

// String length limits (bytes).
const (
	maxVersionLen = 64  // firmware, hw_version, boot_version
	maxICCIDLen   = 32  // ICCIDs are 19..20 digits; room for vendor formatting
	maxPhoneLen   = 32  // E.164 is at most 15 digits plus '+'
	maxReasonLen  = 64  // state reason
	maxSelLen     = 16  // vend selection
	maxMsgLen     = 256 // command result message
	maxCodeLen    = 16  // event code
	maxResultCode = 999 // result codes above the known ones are vendor-specific
	maxHBInterval = 3600
	maxCreditTime = 3600 // cashless_credit timeout, seconds
	maxSugar      = 4
)

// Known reports whether n is a command of v1.
func (n CommandName) Known() bool {
	switch n {
	case CmdReset, CmdCashlessMode, CmdCashlessAddress, CmdCashlessCredit, CmdDispense, CmdRequest, CmdSetConfig:
		return true
	}
	return false
}

// Valid reports whether b is one of the v1 buses.
func (b Bus) Valid() bool { return b == BusNone || b == BusMDB || b == BusEXE }

// Valid reports whether p is one of the v1 payments.
func (p Payment) Valid() bool {
	return p == PayCash || p == PayCashless || p == PayToken || p == PayNone
}

// Valid reports whether t is one of the v1 vend types.
func (t VendType) Valid() bool { return t == VendPaid || t == VendFree || t == VendTest }

// Valid reports whether s is one of the v1 statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusAccepted, StatusInProgress, StatusSucceeded, StatusFailed, StatusRejected, StatusExpired:
		return true
	}
	return false
}

// printable reports whether s is min..max bytes of printable ASCII.
func printable(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// text reports whether s is at most max bytes of valid UTF-8 without control
// characters.
func text(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

func invalid(c Class, f, format string, a ...any) error {
	return newErr(c, f, ErrInvalidValue, fmt.Sprintf(format, a...))
}

func validateHeader(c Class, h *Header) error {
	if h.V != Version {
		return newErr(c, "v", ErrVersion, fmt.Sprintf("got %d, want %d", h.V, Version))
	}
	if !ValidID(h.ID) {
		return invalid(c, "id", "%q is not 1..64 of [A-Za-z0-9_.:-]", clip(h.ID))
	}
	if h.TS <= 0 {
		return invalid(c, "ts", "%d is not a positive Unix time in milliseconds", h.TS)
	}
	return nil
}

func validateHello(h *Hello) error {
	const c = ClassHello
	if err := validateHeader(c, &h.Header); err != nil {
		return err
	}
	switch {
	case !ValidIMEI(h.IMEI):
		return invalid(c, "imei", "%q is not 14..16 decimal digits", clip(h.IMEI))
	case !printable(h.ICCID, 0, maxICCIDLen):
		return invalid(c, "iccid", "want at most %d printable ASCII characters", maxICCIDLen)
	case !printable(h.HWVersion, 0, maxVersionLen):
		return invalid(c, "hw_version", "want at most %d printable ASCII characters", maxVersionLen)
	case !printable(h.BootVersion, 0, maxVersionLen):
		return invalid(c, "boot_version", "want at most %d printable ASCII characters", maxVersionLen)
	case !printable(h.Firmware, 1, maxVersionLen):
		return invalid(c, "firmware", "want 1..%d printable ASCII characters", maxVersionLen)
	case !printable(h.Phone, 0, maxPhoneLen):
		return invalid(c, "phone", "want at most %d printable ASCII characters", maxPhoneLen)
	case !h.Bus.Valid():
		return invalid(c, "bus", "%q is not none, mdb or exe", clip(string(h.Bus)))
	case h.Cashless.Address < 0 || h.Cashless.Address > 2:
		return invalid(c, "cashless.address", "%d is not 0, 1 or 2", h.Cashless.Address)
	case h.Cashless.Level < 0 || h.Cashless.Level > 3:
		return invalid(c, "cashless.level", "%d is not 1..3 (or absent)", h.Cashless.Level)
	case h.HBInterval < 1 || h.HBInterval > maxHBInterval:
		return invalid(c, "hb_interval", "%d is not 1..%d seconds", h.HBInterval, maxHBInterval)
	}
	for i, name := range h.Caps {
		if !CommandName(name).Known() {
			return invalid(c, "caps", "caps[%d] %q is not a v1 command", i, clip(name))
		}
		for _, prev := range h.Caps[:i] {
			if prev == name {
				return invalid(c, "caps", "caps[%d] %q repeated", i, name)
			}
		}
	}
	return nil
}

func validateState(s *State) error {
	const c = ClassState
	if err := validateHeader(c, &s.Header); err != nil {
		return err
	}
	if !printable(s.Reason, 0, maxReasonLen) {
		return invalid(c, "reason", "want at most %d printable ASCII characters", maxReasonLen)
	}
	return nil
}

func validateHeartbeat(h *Heartbeat) error {
	const c = ClassHeartbeat
	if err := validateHeader(c, &h.Header); err != nil {
		return err
	}
	if h.Uptime < 0 {
		return invalid(c, "uptime", "%d is negative", h.Uptime)
	}
	if (h.Signal < 0 || h.Signal > 31) && h.Signal != 99 {
		return invalid(c, "signal", "%d is not 0..31 or 99", h.Signal)
	}
	return nil
}

// validEventCode reports whether s is 1..16 of [A-Z0-9_].
func validEventCode(s string) bool {
	if len(s) == 0 || len(s) > maxCodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_') {
			return false
		}
	}
	return true
}

// validContainer reports whether raw is absent or a JSON object (or, when
// arrays is set, an array). Leading whitespace is allowed; json.Marshal
// compacts it away.
func validContainer(raw json.RawMessage, arrays bool) bool {
	if len(raw) == 0 {
		return true
	}
	if !json.Valid(raw) || !utf8.Valid(raw) {
		return false
	}
	switch firstByte(raw) {
	case '{':
		return true
	case '[':
		return arrays
	}
	// "null" is normalised to absent by the decoders; accept it from callers
	// of Encode too, since it encodes as null and decodes as absent.
	return string(bytes.TrimSpace(raw)) == "null"
}

func validateEvent(e *Event) error {
	const c = ClassEvent
	if err := validateHeader(c, &e.Header); err != nil {
		return err
	}
	if !validEventCode(e.Code) {
		return invalid(c, "code", "%q is not 1..%d of [A-Z0-9_]", clip(e.Code), maxCodeLen)
	}
	if e.Time <= 0 {
		return invalid(c, "time", "%d is not a positive Unix time in milliseconds", e.Time)
	}
	if !validContainer(e.Payload, true) {
		return invalid(c, "payload", "want a JSON object or array")
	}
	return nil
}

func validateVend(v *Vend) error {
	const c = ClassVend
	if err := validateHeader(c, &v.Header); err != nil {
		return err
	}
	switch {
	case !printable(v.Selection, 1, maxSelLen):
		return invalid(c, "sel", "%q is not 1..%d printable ASCII characters", clip(v.Selection), maxSelLen)
	case v.Price < 0:
		return invalid(c, "price", "%d is negative", v.Price)
	case !v.Payment.Valid():
		return invalid(c, "payment", "%q is not cash, cashless, token or none", clip(string(v.Payment)))
	case !v.Type.Valid():
		return invalid(c, "type", "%q is not paid, free or test", clip(string(v.Type)))
	case v.Time <= 0:
		return invalid(c, "time", "%d is not a positive Unix time in milliseconds", v.Time)
	case v.Cmd != "" && !ValidID(v.Cmd):
		return invalid(c, "cmd", "%q is not a command id", clip(v.Cmd))
	}
	return nil
}

// auditB64 decodes strictly: canonical padding, no embedded line breaks
// (which encoding/base64 would otherwise skip).
var auditB64 = base64.StdEncoding.Strict()

// auditText validates the encoding and size of a's data and returns the
// text; keep false skips the copy of a raw text (validation only).
func auditText(a *Audit, keep bool) ([]byte, error) {
	const c = ClassAudit
	switch a.Enc {
	case "":
		if len(a.Data) > MaxAuditText {
			return nil, newErr(c, "data", ErrTooLarge, fmt.Sprintf("%d bytes of text, limit %d", len(a.Data), MaxAuditText))
		}
		if a.Data == "" {
			return nil, invalid(c, "data", "empty audit")
		}
		if !keep {
			return nil, nil
		}
		return []byte(a.Data), nil
	case "base64":
		if max := auditB64.EncodedLen(MaxAuditText); len(a.Data) > max {
			return nil, newErr(c, "data", ErrTooLarge, fmt.Sprintf("%d bytes of base64, limit %d", len(a.Data), max))
		}
		if strings.ContainsAny(a.Data, "\r\n") {
			return nil, invalid(c, "data", "line break in base64")
		}
		t, err := auditB64.DecodeString(a.Data)
		if err != nil {
			return nil, invalid(c, "data", "bad base64: %v", err)
		}
		if len(t) == 0 {
			return nil, invalid(c, "data", "empty audit")
		}
		if len(t) > MaxAuditText {
			return nil, newErr(c, "data", ErrTooLarge, fmt.Sprintf("%d bytes of text, limit %d", len(t), MaxAuditText))
		}
		return t, nil
	}
	return nil, invalid(c, "enc", "%q is not \"\" or \"base64\"", clip(a.Enc))
}

// Text returns the audit text, decoding base64 when Enc is "base64". It
// applies the same checks as DecodeAudit.
func (a Audit) Text() ([]byte, error) { return auditText(&a, true) }

func validateAudit(a *Audit) error {
	const c = ClassAudit
	if err := validateHeader(c, &a.Header); err != nil {
		return err
	}
	switch {
	case a.Port != 1 && a.Port != 2:
		return invalid(c, "port", "%d is not 1 (EVA-DTS DDCMP) or 2 (DEX)", a.Port)
	case a.Time <= 0:
		return invalid(c, "time", "%d is not a positive Unix time in milliseconds", a.Time)
	case a.Cmd != "" && !ValidID(a.Cmd):
		return invalid(c, "cmd", "%q is not a command id", clip(a.Cmd))
	}
	_, err := auditText(a, false)
	return err
}

func validateCommandResult(r *CommandResult) error {
	const c = ClassCommandResult
	if err := validateHeader(c, &r.Header); err != nil {
		return err
	}
	switch {
	case !ValidID(r.Cmd):
		return invalid(c, "cmd", "%q is not a command id", clip(r.Cmd))
	case !r.Status.Valid():
		return invalid(c, "status", "%q is not a v1 status", clip(string(r.Status)))
	case r.Code < 0 || r.Code > maxResultCode:
		return invalid(c, "code", "%d is not 0..%d", r.Code, maxResultCode)
	case r.Code != CodeOK && !r.Status.failure():
		return invalid(c, "code", "%d with status %s: only failed, rejected and expired carry a non-zero code", r.Code, r.Status)
	case r.Code == CodeOK && r.Status.failure():
		return invalid(c, "code", "0 with status %s: a failure needs a non-zero code", r.Status)
	case !text(r.Message, maxMsgLen):
		return invalid(c, "msg", "want at most %d bytes of text without control characters", maxMsgLen)
	case !validContainer(r.Result, false):
		return invalid(c, "result", "want a JSON object")
	}
	return nil
}

// failure reports whether s is a terminal status other than success.
func (s Status) failure() bool {
	return s == StatusFailed || s == StatusRejected || s == StatusExpired
}

func validateCommandRequest(r *CommandRequest) error {
	const c = ClassCommandRequest
	if err := validateHeader(c, &r.Header); err != nil {
		return err
	}
	if !r.Name.Known() {
		return invalid(c, "name", "unknown command %q", clip(string(r.Name)))
	}
	if r.Exp <= r.TS {
		return invalid(c, "exp", "%d is not after ts %d", r.Exp, r.TS)
	}
	if !validContainer(r.Args, false) {
		return invalid(c, "args", "want a JSON object")
	}
	return checkArgs(r.Name, r.Args)
}

func validateCashlessAddressArgs(a *CashlessAddressArgs) error {
	if a.Address != 1 && a.Address != 2 {
		return invalid(ClassCommandRequest, "args.address", "%d is not 1 or 2", a.Address)
	}
	return nil
}

func validateCashlessCreditArgs(a *CashlessCreditArgs) error {
	if a.Amount <= 0 {
		return invalid(ClassCommandRequest, "args.amount", "%d is not positive", a.Amount)
	}
	if a.Timeout < 0 || a.Timeout > maxCreditTime {
		return invalid(ClassCommandRequest, "args.timeout", "%d is not 0..%d seconds", a.Timeout, maxCreditTime)
	}
	if a.Vends < 0 || a.Vends > maxCreditVends {
		return invalid(ClassCommandRequest, "args.vends", "%d is not 0..%d", a.Vends, maxCreditVends)
	}
	return nil
}

// maxCreditVends bounds how many vends one remote credit may pay for.
const maxCreditVends = 100

func validateDispenseArgs(a *DispenseArgs) error {
	switch {
	case a.Number < 0:
		return invalid(ClassCommandRequest, "args.number", "%d is negative", a.Number)
	case a.Sugar < 0 || a.Sugar > maxSugar:
		return invalid(ClassCommandRequest, "args.sugar", "%d is not 0..%d", a.Sugar, maxSugar)
	case a.Discount < 0:
		return invalid(ClassCommandRequest, "args.discount", "%d is negative", a.Discount)
	}
	return nil
}

func validateRequestArgs(a *RequestArgs) error {
	if !a.Report && !a.Config {
		return invalid(ClassCommandRequest, "args", "report or config must be true")
	}
	return nil
}

func validateSetConfigArgs(a *SetConfigArgs) error {
	if a.HBInterval == nil && a.Phone == nil {
		return invalid(ClassCommandRequest, "args", "no setting given")
	}
	if a.HBInterval != nil && (*a.HBInterval < 1 || *a.HBInterval > maxHBInterval) {
		return invalid(ClassCommandRequest, "args.hb_interval", "%d is not 1..%d seconds", *a.HBInterval, maxHBInterval)
	}
	if a.Phone != nil && !printable(*a.Phone, 0, maxPhoneLen) {
		return invalid(ClassCommandRequest, "args.phone", "want at most %d printable ASCII characters", maxPhoneLen)
	}
	return nil
}
