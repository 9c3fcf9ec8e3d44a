package protocol

import (
	"encoding/json"
)

// Version is the protocol version this package speaks (the envelope's "v").
const Version = 1

// Class is the kind of a message, told by its topic.
type Class uint8

// Message classes.
const (
	ClassUnknown        Class = iota
	ClassHello                // vm/v1/{imei}/hello
	ClassState                // vm/v1/{imei}/state
	ClassHeartbeat            // vm/v1/{imei}/tele/hb
	ClassEvent                // vm/v1/{imei}/evt
	ClassVend                 // vm/v1/{imei}/vend
	ClassAudit                // vm/v1/{imei}/audit
	ClassCommandResult        // vm/v1/{imei}/cmd/res/{cmdId}
	ClassCommandRequest       // vm/v1/{imei}/cmd/req/{cmdId}
)

// Header is the envelope every message carries.
type Header struct {
	V  int    `json:"v"`  // protocol version, must be 1
	ID string `json:"id"` // message id chosen by the sender (1..64 of [A-Za-z0-9_.:-]); for a command request it is the command id
	TS int64  `json:"ts"` // time the message was made, Unix milliseconds
}

// Bus is the payment bus the modem is attached to.
type Bus string

// Payment buses.
const (
	BusNone Bus = "none"
	BusMDB  Bus = "mdb"
	BusEXE  Bus = "exe"
)

// Cashless is the modem's cashless-device settings.
type Cashless struct {
	Enabled bool `json:"enabled"`         // cashless device on (answers the VMC and starts sessions)
	Address int  `json:"address"`         // MDB cashless device number: 1 (0x10) or 2 (0x60); 0 when the bus is not MDB
	Level   int  `json:"level,omitempty"` // MDB feature level the device reports (1..3)
}

// Hello is sent by the modem after every connect: who it is and what it can do.
type Hello struct {
	Header
	IMEI        string   `json:"imei"` // must equal the topic's IMEI
	ICCID       string   `json:"iccid,omitempty"`
	HWVersion   string   `json:"hw_version,omitempty"`
	BootVersion string   `json:"boot_version,omitempty"`
	Firmware    string   `json:"firmware"`
	Phone       string   `json:"phone,omitempty"`
	Bus         Bus      `json:"bus"`
	Cashless    Cashless `json:"cashless"`
	HBInterval  int      `json:"hb_interval"`    // seconds between heartbeats (1..3600)
	Caps        []string `json:"caps,omitempty"` // command names the modem executes; empty means all of v1
}

// State is the retained presence message; the Last Will is a State with Online false.
type State struct {
	Header
	Online bool   `json:"online"`
	Epoch  uint64 `json:"epoch"`            // connection counter of the modem, incremented on every connect
	Reason string `json:"reason,omitempty"` // why offline: "lwt", "shutdown", ...
}

// Heartbeat is the modem's periodic telemetry.
type Heartbeat struct {
	Header
	Uptime int64  `json:"uptime"`  // seconds since the modem booted
	Signal int    `json:"signal"`  // GSM signal quality, CSQ 0..31, 99 = unknown
	VMLink bool   `json:"vm_link"` // the link to the vending machine (bus/DEX) works
	Errors uint32 `json:"errors"`  // error flags, see ErrorFlag
	Epoch  uint64 `json:"epoch"`   // the connection epoch of the current session
}

// ErrorFlag is one bit of Heartbeat.Errors.
type ErrorFlag uint32

// Error flags.
const (
	ErrFlagVMFault   ErrorFlag = 1 << iota // the machine reports a fault
	ErrFlagBusError                        // payment bus errors (NAK, silence)
	ErrFlagDEXError                        // the last DEX read failed
	ErrFlagPower                           // power was lost since the last heartbeat
	ErrFlagDoorOpen                        // the machine's door is open
	ErrFlagLowMemory                       // the modem is short of memory for buffering
)

// Event is something that happened at the machine or modem.
type Event struct {
	Header
	Code    string          `json:"code"`              // event code, 1..16 of [A-Z0-9_] (Telemetron event codes, e.g. "TEVA")
	Time    int64           `json:"time"`              // when it happened, Unix milliseconds
	Payload json.RawMessage `json:"payload,omitempty"` // event metadata: a JSON object or array, or absent
}

// Payment is how a vend was paid.
type Payment string

// Payments (Telemetron stats: cash|cashless|token).
const (
	PayCash     Payment = "cash"
	PayCashless Payment = "cashless"
	PayToken    Payment = "token"
	PayNone     Payment = "none" // free or test vends
)

// VendType is the kind of vend (Telemetron stats: paid|free|test).
type VendType string

// Vend types.
const (
	VendPaid VendType = "paid"
	VendFree VendType = "free"
	VendTest VendType = "test"
)

// Vend is one vend seen on the payment bus.
type Vend struct {
	Header
	Selection string   `json:"sel"`           // product/selection number as the machine names it, 1..16 chars
	Price     int64    `json:"price"`         // in minor units (kopecks), >= 0
	Payment   Payment  `json:"payment"`       //
	Type      VendType `json:"type"`          //
	OK        bool     `json:"ok"`            // the machine reported success
	Time      int64    `json:"time"`          // when it happened, Unix milliseconds
	Cmd       string   `json:"cmd,omitempty"` // id of the command that caused it (remote credit or dispense), if any
}

// Audit is an EVA-DTS audit read from the machine.
type Audit struct {
	Header
	Port int    `json:"port"`          // 1 = EVA-DTS over the DDCMP/IrDA port, 2 = DEX
	Time int64  `json:"time"`          // when it was read, Unix milliseconds
	Enc  string `json:"enc,omitempty"` // "" = Data is the text itself; "base64" = Data is base64 of the text
	Data string `json:"data"`          // the audit, at most MaxAuditText bytes once decoded
	Cmd  string `json:"cmd,omitempty"` // id of the request command that asked for it, if any
}

// CommandName names a command.
type CommandName string

// Commands of v1.
const (
	CmdReset           CommandName = "reset"
	CmdCashlessMode    CommandName = "cashless_mode"
	CmdCashlessAddress CommandName = "cashless_address"
	CmdCashlessCredit  CommandName = "cashless_credit"
	CmdDispense        CommandName = "dispense"
	CmdRequest         CommandName = "request"
	CmdSetConfig       CommandName = "set_config"
)

// CommandRequest is a command to the modem. Header.ID is the command id and the
// idempotency key: a modem that sees an id again answers with its earlier result.
type CommandRequest struct {
	Header
	Name CommandName     `json:"name"`
	Args json.RawMessage `json:"args,omitempty"` // a JSON object, shape per Name (see the *Args types)
	Exp  int64           `json:"exp"`            // expiry, Unix milliseconds: after it the modem answers "expired"
}

// ResetArgs are the arguments of "reset" (none).
type ResetArgs struct{}

// CashlessModeArgs are the arguments of "cashless_mode".
type CashlessModeArgs struct {
	Enabled bool `json:"enabled"`
}

// CashlessAddressArgs are the arguments of "cashless_address".
type CashlessAddressArgs struct {
	Address int `json:"address"` // 1 or 2
}

// CashlessCreditArgs are the arguments of "cashless_credit".
type CashlessCreditArgs struct {
	Amount      int64 `json:"amount"`            // minor units, > 0
	AutoApprove bool  `json:"auto_approve"`      // approve vend requests up to Amount without asking
	Vends       int   `json:"vends,omitempty"`   // how many vends the credit may pay for; 0 means 1
	Timeout     int   `json:"timeout,omitempty"` // session timeout in seconds; 0 = the modem's default
}

// DispenseArgs are the arguments of "dispense".
type DispenseArgs struct {
	Number   int   `json:"number"`             // product number, >= 0
	Cup      bool  `json:"cup"`                // dispense a cup
	Sugar    int   `json:"sugar"`              // 0..4
	Discount int64 `json:"discount,omitempty"` // minor units, >= 0
}

// RequestArgs are the arguments of "request": what to send back.
type RequestArgs struct {
	Report bool `json:"report"` // read and send an EVA-DTS audit
	Config bool `json:"config"` // send the modem's configuration (as the command result)
}

// SetConfigArgs are the arguments of "set_config"; absent fields are left unchanged.
type SetConfigArgs struct {
	HBInterval *int    `json:"hb_interval,omitempty"` // seconds, 1..3600
	Phone      *string `json:"phone,omitempty"`
}

// Status is the state a command result reports.
type Status string

// Result statuses.
const (
	StatusAccepted   Status = "accepted"
	StatusInProgress Status = "in_progress"
	StatusSucceeded  Status = "succeeded"
	StatusFailed     Status = "failed"
	StatusRejected   Status = "rejected"
	StatusExpired    Status = "expired"
)

// Terminal reports whether s ends the command.
func (s Status) Terminal() bool {
	switch s {
	case StatusSucceeded, StatusFailed, StatusRejected, StatusExpired:
		return true
	}
	return false
}

// CommandResult is the modem's acknowledgement or result of a command.
type CommandResult struct {
	Header
	Cmd     string          `json:"cmd"`              // the command id; must equal the topic's {cmdId}
	Status  Status          `json:"status"`           //
	Code    int             `json:"code"`             // 0 = ok; see ResultCode
	Message string          `json:"msg,omitempty"`    // human-readable detail
	Result  json.RawMessage `json:"result,omitempty"` // command-specific result object (e.g. the config for request{config})
}

// ResultCode values carried by CommandResult.Code.
const (
	CodeOK            = 0
	CodeUnknown       = 1 // unknown command name
	CodeBadArgs       = 2 // arguments invalid
	CodeUnsupported   = 3 // the modem or the machine cannot do it (e.g. dispense on a bus without it)
	CodeBusy          = 4 // another operation is running
	CodeVMUnreachable = 5 // the machine does not answer on the bus / DEX
	CodeExpired       = 6 // received after its expiry
	CodeTimeout       = 7 // the machine did not finish in time
	CodeInternal      = 8 // modem error
)
