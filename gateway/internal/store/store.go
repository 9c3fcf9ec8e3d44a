// Package store holds vendgate's persistence contracts: the record types and the
// small per-aggregate interfaces that every storage engine implements. Engines live
// in sub-packages (sqlite now, PostgreSQL later); each is the only importer of its
// database driver, and each must pass the contract suite in storetest.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Errors callers branch on.
var (
	ErrNotFound    = errors.New("store: not found")
	ErrConflict    = errors.New("store: conflict")      // unique key taken (IMEI, email, ...)
	ErrModemBound  = errors.New("store: modem bound")   // modem bound to another machine and force not given
	ErrInvalidMove = errors.New("store: invalid state") // state transition not allowed
)

// DefaultCompanyID is the company created by the first migration; single-tenant
// installations put everything there.
const DefaultCompanyID int64 = 1

// Store is everything a storage engine offers.
type Store interface {
	Modems
	Machines
	Uplinks
	Commands
	Requests
	Users
	Tokens
	Queries
	// Ping checks the database answers (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the database; further calls fail.
	Close() error
}

// Modem is a provisioned telemetry modem and what it last reported.
type Modem struct {
	ID           int64
	CompanyID    int64
	IMEI         string
	PasswordHash string // see gateway/internal/auth for the format
	ICCID        string
	HWVersion    string
	BootVersion  string
	Firmware     string
	Phone        string
	Bus          string // "exe" | "mdb" | "none" | "" (never said hello)
	CashlessOn   bool
	CashlessAddr int
	HBInterval   int      // seconds, from hello; 0 = unknown
	Caps         []string // command names, from hello
	CreatedAt    time.Time

	// Presence and telemetry.
	Online   bool
	Epoch    uint64    // connection epoch of the newest presence applied
	LastSeen time.Time // last uplink of any kind (zero: never)
	LastHB   time.Time // last heartbeat (zero: never)
	Uptime   int64
	Signal   int
	VMLink   bool
	Errors   uint32
}

// Modems stores modems.
type Modems interface {
	// CreateModem inserts m and sets m.ID; ErrConflict when the IMEI exists.
	CreateModem(ctx context.Context, m *Modem) error
	// SetModemPassword replaces the password hash of the modem with that IMEI.
	SetModemPassword(ctx context.Context, imei, hash string) error
	GetModem(ctx context.Context, id int64) (Modem, error)
	GetModemByIMEI(ctx context.Context, imei string) (Modem, error)
	// ListModems returns the company's modems ordered by id.
	ListModems(ctx context.Context, companyID int64) ([]Modem, error)
	// UpdateModemPhone sets the phone number.
	UpdateModemPhone(ctx context.Context, id int64, phone string) error
}

// ModemCredential is what a modem login needs from the store.
type ModemCredential struct {
	ID           int64
	IMEI         string
	PasswordHash string
}

// ModemCredentials lists every modem's credential at once, so a gateway can
// preload them instead of reading one row per login of a reconnect storm. An
// engine implements it optionally (the gateway asserts it).
type ModemCredentials interface {
	// ListModemCredentials returns every modem's id, IMEI and password hash.
	ListModemCredentials(ctx context.Context) ([]ModemCredential, error)
}

// ConnEpoch names one connection of a modem by its presence epoch.
type ConnEpoch struct {
	ModemID int64
	Epoch   uint64
}

// BulkPresence writes the end of many connections in one statement: a
// gateway shutting down with thousands of modems connected. An engine
// implements it optionally (the gateway asserts it).
type BulkPresence interface {
	// MarkOffline applies an offline presence for each connection, with the
	// rule of Presence: a modem whose stored epoch is newer than the
	// connection's (it has reconnected since, e.g. to another gateway or to
	// the next process) is left alone. It returns how many modems it set
	// offline.
	MarkOffline(ctx context.Context, gone []ConnEpoch) (int, error)
}

// Machine is a vending machine (Telemetron "vending machine").
type Machine struct {
	ID              int64
	CompanyID       int64
	Name            string
	SerialNumber    string
	PlanogramID     *int64
	LocationID      *int64
	ModelID         *int64 // mm_id
	ModemID         *int64 // bound modem, at most one machine per modem
	IsCRTActive     bool
	InventoryNumber string
	TrackBusVends   bool
	TZ              string // IANA name, "" = gateway default
	TZID            *int64
	RequisiteID     *int64
	MinPrice        *int64
	MaxPrice        *int64
	CreatedAt       time.Time

	// Derived timestamps (zero: never).
	LastSale           time.Time
	LastService        time.Time
	LastCollection     time.Time
	LastLoading        time.Time
	LastReport         time.Time // last valid audit, by its read time
	LastAcquiredReport time.Time // last audit received, valid or not
}

// Machines stores vending machines.
type Machines interface {
	// CreateMachine inserts m and sets m.ID. When m.ModemID is bound to another
	// machine it returns ErrModemBound unless force, which unbinds it there.
	CreateMachine(ctx context.Context, m *Machine, force bool) error
	GetMachine(ctx context.Context, id int64) (Machine, error)
	// GetMachineByModem returns the machine the modem is bound to.
	GetMachineByModem(ctx context.Context, modemID int64) (Machine, error)
	ListMachines(ctx context.Context, companyID int64) ([]Machine, error)
	// UpdateMachine writes every settable field of m (not the derived ones) with the
	// same binding rule as CreateMachine.
	UpdateMachine(ctx context.Context, m Machine, force bool) error
}

// UplinkKind tells which field of an Uplink is set.
type UplinkKind uint8

// Uplink kinds.
const (
	UpHello UplinkKind = iota + 1
	UpPresence
	UpHeartbeat
	UpEvent
	UpVend
	UpAudit
	UpResult
)

// Uplink is one message from a modem, already decoded and validated, ready to be
// written. Exactly the field of Kind is set.
type Uplink struct {
	Kind     UplinkKind
	ModemID  int64
	Received time.Time

	Hello     *Hello
	Presence  *Presence
	Heartbeat *Heartbeat
	Event     *Event
	Vend      *Vend
	Audit     *Audit
	Result    *CommandResult
}

// Hello is the identity part of a modem's hello.
type Hello struct {
	ICCID, HWVersion, BootVersion, Firmware, Phone, Bus string
	CashlessOn                                          bool
	CashlessAddr                                        int
	HBInterval                                          int
	Caps                                                []string
}

// Presence is an online/offline change. Presence with an epoch older than the
// stored one is ignored (it belongs to a connection that was taken over, e.g. the
// late will of the old connection); any other sets Online and Epoch. So an
// offline with a newer epoch than the stored one applies too: the newest
// connection known is gone, even if its online message was lost.
type Presence struct {
	Online bool
	Epoch  uint64
	Reason string
}

// Heartbeat is one heartbeat; the modem keeps only the newest.
type Heartbeat struct {
	Uptime int64
	Signal int
	VMLink bool
	Errors uint32
	Epoch  uint64
}

// Event is a machine or modem event.
type Event struct {
	ID      int64
	ModemID int64
	VMID    int64 // 0 when the modem was bound to no machine
	MsgID   string
	Code    string
	Time    time.Time
	Payload json.RawMessage
}

// Vend is one vend.
type Vend struct {
	ID        int64
	ModemID   int64
	VMID      int64
	MsgID     string
	Selection string
	Price     int64
	Payment   string
	Type      string
	OK        bool
	Time      time.Time
	CommandID string
}

// Audit is one EVA-DTS audit as received.
type Audit struct {
	ID        int64
	ModemID   int64
	VMID      int64
	MsgID     string
	Port      int
	Time      time.Time // read time at the modem
	Received  time.Time
	Data      []byte // the text
	Valid     bool
	Error     string // why invalid, "" when valid
	CommandID string
}

// CommandResult is a modem's answer to a command.
type CommandResult struct {
	CommandID string
	Status    string // protocol status
	Code      int
	Message   string
	Result    json.RawMessage
}

// Uplinks writes modem messages.
type Uplinks interface {
	// ApplyUplinks writes the batch in one transaction, in order. Messages with a
	// (modem, msg id) already stored are skipped, so redelivery is harmless.
	// Hello updates the modem's identity; Presence and Heartbeat update its
	// presence (see Presence); Event, Vend and Audit are inserted with the machine
	// the modem is bound to at that moment and update its timestamps; Result moves
	// the command along its state machine (see Commands).
	ApplyUplinks(ctx context.Context, batch []Uplink) error
}

// CommandState is where a command is in its life.
type CommandState string

// Command states: queued → sent → acknowledged → succeeded | failed | rejected,
// or expired (its expiry passed before it finished) or timed_out (no answer).
const (
	CmdQueued       CommandState = "queued"
	CmdSent         CommandState = "sent"
	CmdAcknowledged CommandState = "acknowledged"
	CmdSucceeded    CommandState = "succeeded"
	CmdFailed       CommandState = "failed"
	CmdRejected     CommandState = "rejected"
	CmdExpired      CommandState = "expired"
	CmdTimedOut     CommandState = "timed_out"
)

// AnswerState maps a command answer's protocol status to the command's next
// state: accepted and in_progress acknowledge (ack), the four final statuses
// finish with the same name (done). An unknown status gives no state ("": the
// state is left alone; the answer's fields are still recorded).
func AnswerState(status string) (next CommandState, ack, done bool) {
	switch status {
	case "accepted", "in_progress":
		return CmdAcknowledged, true, false
	case "succeeded":
		return CmdSucceeded, false, true
	case "failed":
		return CmdFailed, false, true
	case "rejected":
		return CmdRejected, false, true
	case "expired":
		return CmdExpired, false, true
	}
	return "", false, false
}

// Terminal reports whether s is final.
func (s CommandState) Terminal() bool {
	switch s {
	case CmdSucceeded, CmdFailed, CmdRejected, CmdExpired, CmdTimedOut:
		return true
	}
	return false
}

// MachineOfModem as the VMID of a command to create asks the store to record
// the machine the modem is bound to when the create commits (0: none), read
// in the create's own transaction; the command returned carries it. It saves
// the caller a read of its own (POST /v2/modems/{id}/set).
const MachineOfModem int64 = -1

// Command is a command to a modem.
type Command struct {
	ID        string // idempotency key, also the MQTT cmdId
	ModemID   int64
	VMID      int64 // 0 when not for a machine; MachineOfModem on create (below)
	UserID    int64 // who asked, 0 = system
	Name      string
	Args      json.RawMessage
	State     CommandState
	Status    string // last protocol status the modem sent
	Code      int
	Message   string
	Result    json.RawMessage
	Attempts  int // times published
	CreatedAt time.Time
	SentAt    time.Time
	AckedAt   time.Time
	DoneAt    time.Time
	ExpiresAt time.Time
}

// Commands stores commands. A result from the modem maps to states this way:
// accepted/in_progress → acknowledged; succeeded/failed/rejected → the same;
// expired → expired. A result for a command already terminal is ignored.
type Commands interface {
	// CreateCommand inserts c (State queued). When a command with c.ID exists it
	// returns that one and created false, and writes nothing.
	CreateCommand(ctx context.Context, c Command) (stored Command, created bool, err error)
	GetCommand(ctx context.Context, id string) (Command, error)
	// NextCommand returns the modem's oldest queued, unexpired command if none of
	// its commands is sent or acknowledged (one in flight per modem).
	NextCommand(ctx context.Context, modemID int64, now time.Time) (Command, bool, error)
	// InFlight returns the modem's command that is sent or acknowledged, if any.
	InFlight(ctx context.Context, modemID int64) (Command, bool, error)
	// MarkSent moves a queued (or, for a resend, sent) command to sent, sets SentAt and increments Attempts.
	MarkSent(ctx context.Context, id string, at time.Time) error
	// Finish moves a non-terminal command to a terminal gateway-side state
	// (expired or timed_out) with a message; ErrInvalidMove if it is terminal.
	Finish(ctx context.Context, id string, state CommandState, msg string, at time.Time) error
	// ExpireDue finishes as expired every non-terminal command whose ExpiresAt is
	// before now and returns them.
	ExpireDue(ctx context.Context, now time.Time) ([]Command, error)
	// ListCommands returns the modem's newest commands first, at most limit.
	ListCommands(ctx context.Context, modemID int64, limit int) ([]Command, error)
	// PendingModems returns the modems that have queued commands.
	PendingModems(ctx context.Context, now time.Time) ([]int64, error)
	// UnfinishedModems returns, ascending, the modems that have a command queued,
	// sent or acknowledged, expired or not (whatever a dispatch may still act on).
	UnfinishedModems(ctx context.Context) ([]int64, error)
	// Dispatchable returns the modem's command in flight (sent or acknowledged)
	// if there is one, else its oldest queued command unexpired at now: what a
	// dispatch acts on, in one read.
	Dispatchable(ctx context.Context, modemID int64, now time.Time) (Command, bool, error)
}

// Request is a Telemetron data request: one open object per machine merging
// what was asked (report and/or config).
type Request struct {
	ID        int64
	VMID      int64
	Report    bool
	Config    bool
	CreatedAt time.Time
	DoneAt    time.Time // zero while open
}

// Requests stores data requests.
type Requests interface {
	// OpenRequest merges report/config into the machine's open request, creating
	// it when there is none. progress is true when the machine already had an open
	// request that asked for every flag given.
	OpenRequest(ctx context.Context, vmID int64, report, config bool, now time.Time) (r Request, progress bool, err error)
	// GetRequest returns the open request with that id of that machine; ErrNotFound once done.
	GetRequest(ctx context.Context, vmID, id int64) (Request, error)
	// SatisfyRequest clears the given flags of the machine's open request; when no
	// flag is left it is done.
	SatisfyRequest(ctx context.Context, vmID int64, report, config bool, at time.Time) error
}

// User is an operator account.
type User struct {
	ID           int64
	CompanyID    int64
	Email        string // login
	PasswordHash string
	FirstName    string
	LastName     string
	Position     string
	Phone        string
	Role         string // "admin" | "senior_operator" | "operator"
	Active       bool
	LastLogin    time.Time
	CreatedAt    time.Time
}

// Users stores operator accounts.
type Users interface {
	// CreateUser inserts u and sets u.ID; ErrConflict when the email exists.
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id int64) (User, error)
	GetUserByEmail(ctx context.Context, email string) (User, error)
	CountUsers(ctx context.Context) (int, error)
	TouchLogin(ctx context.Context, id int64, at time.Time) error
}

// Token is an OAuth2 token pair; only hashes of the secrets are stored.
type Token struct {
	ID             int64
	UserID         int64
	AccessHash     string
	RefreshHash    string
	Scope          string
	AccessExpires  time.Time
	RefreshExpires time.Time
	Revoked        bool
	CreatedAt      time.Time
}

// Tokens stores token pairs.
type Tokens interface {
	CreateToken(ctx context.Context, t *Token) error
	GetTokenByAccess(ctx context.Context, accessHash string) (Token, error)
	GetTokenByRefresh(ctx context.Context, refreshHash string) (Token, error)
	RevokeToken(ctx context.Context, id int64) error
}

// Queries are the read paths of the REST API.
type Queries interface {
	// ListEvents returns the machine's events with since <= Time <= until, oldest first.
	ListEvents(ctx context.Context, vmID int64, since, until time.Time) ([]Event, error)
	// ListVends returns the machine's vends with since <= Time <= until, oldest first.
	ListVends(ctx context.Context, vmID int64, since, until time.Time) ([]Vend, error)
	// ListAudits returns the machine's audits with since <= Time <= until, oldest
	// first; port 0 means any port.
	ListAudits(ctx context.Context, vmID int64, port int, since, until time.Time) ([]Audit, error)
	// CountUplinks returns how many events, vends and audits the modem has stored
	// (for tests and load runs).
	CountUplinks(ctx context.Context, modemID int64) (events, vends, audits int, err error)
}

// ErrFenceBroken is returned by a CommandFence write refused because someone
// other than the fence's holder may have created a command since the fence
// started. Nothing was written.
var ErrFenceBroken = errors.New("store: command fence broken")

// CommandFencer is an optional capability of a Commands store: it can tell a
// writer (the command service) whether anyone else created commands since a
// point, so that the service's own bookkeeping of which modems have
// unfinished commands is known to be complete, without a read per modem.
// Stores without it keep the service on its read-before-send path.
type CommandFencer interface {
	// CommandFence starts a fence: from now on, every command created or
	// changed other than through it or by a command answer (another process
	// or connection on the same database, another caller of this store's
	// command methods) breaks it. The caller reads what it must
	// know (UnfinishedModems) after this returns.
	CommandFence(ctx context.Context) (CommandFence, error)
}

// CommandFence is a started fence (see CommandFencer).
type CommandFence interface {
	// CreateCommand is Commands.CreateCommand, counted as the holder's own.
	CreateCommand(ctx context.Context, c Command) (stored Command, created bool, err error)
	// CreateSentCommand inserts c already sent (State sent, SentAt at,
	// Attempts 1) in one write, counted as the holder's own. A command with
	// c.ID that exists is returned with created false.
	CreateSentCommand(ctx context.Context, c Command, at time.Time) (stored Command, created bool, err error)
	// CreateSentCommandIfHolds is CreateSentCommand made only while the fence
	// holds, checked in the write's own transaction: ErrFenceBroken (nothing
	// written) when someone else may have written commands since the fence
	// started.
	CreateSentCommandIfHolds(ctx context.Context, c Command, at time.Time) (stored Command, created bool, err error)
	// MarkSent, Finish and ExpireDue are those of Commands, counted as the
	// holder's own.
	MarkSent(ctx context.Context, id string, at time.Time) error
	Finish(ctx context.Context, id string, state CommandState, msg string, at time.Time) error
	ExpireDue(ctx context.Context, now time.Time) ([]Command, error)
	// Holds reports whether nobody else wrote commands since the start, as of
	// now (false on any doubt; once false, never true again).
	Holds(ctx context.Context) bool
}
