package store

import (
	"context"
	"time"
)

// Register is a monitored UKM5 cash register (or kiosk, or self-checkout):
// where its status API answers and which Petrosoft station it reports for
// (specs/ukm5-register-status-api.txt, specs/petrosoft-monitoring-data-api.txt).
type Register struct {
	ID           int64
	CompanyID    int64
	Name         string // unique in the company; the config file matches its registers by name
	StationID    string // Petrosoft station the register's status is pushed for
	BaseURL      string // "http://IP:PORT" (optionally with a path prefix) in front of api/v1/status/...
	Location     string
	Enabled      bool
	PollInterval time.Duration // time between the starts of two poll cycles; 0 = the poller's default
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// RegisterEndpoint is the last answer of one status endpoint of a register.
type RegisterEndpoint struct {
	Endpoint string    `json:"endpoint"`        // "paper", "ofd", ...
	Code     int       `json:"code"`            // HTTP status; 0 when there was no answer
	Body     string    `json:"body"`            // the answer's body (cut to a few hundred bytes)
	Outcome  string    `json:"outcome"`         // ok, conn, auth, bad, other
	Error    string    `json:"error,omitempty"` // why it was not ok
	At       time.Time `json:"at"`              // when the answer (or the failure) came
}

// RegisterState is the derived state of a register: its Petrosoft status code,
// the alerts over their thresholds and the last answer of every endpoint.
type RegisterState struct {
	RegisterID int64
	Status     int       // Petrosoft code: 0 online, 2 no connection, 3 bad answers, 5 login refused, 6 unknown; -1 never polled
	Since      time.Time // when Status took its value
	Checked    time.Time // last answer of any endpoint
	LastOK     time.Time // last answer that was ok (zero: never)
	Alerts     []string
	Endpoints  []RegisterEndpoint
}

// RegisterPush is a status message for the monitoring API waiting in the
// durable outbox. Pushes of one station are delivered in ID order.
type RegisterPush struct {
	ID         int64
	StationID  string
	RegisterID int64
	Body       []byte // the JSON document to send
	KeepAlive  bool   // a periodic keep-alive rather than a status change
	Created    time.Time
	Attempts   int
	NextAt     time.Time // not before
	LastError  string
}

// Registers stores registers, their derived state and the push outbox.
type Registers interface {
	// CreateRegister inserts r and sets r.ID; ErrConflict when the company has
	// a register of that name.
	CreateRegister(ctx context.Context, r *Register) error
	GetRegister(ctx context.Context, id int64) (Register, error)
	// ListRegisters returns the company's registers ordered by id; companyID 0
	// lists every company's (for the poller).
	ListRegisters(ctx context.Context, companyID int64) ([]Register, error)
	// UpdateRegister replaces the editable fields of r (by r.ID).
	UpdateRegister(ctx context.Context, r Register) error
	// UpsertRegister creates r or, when the company has a register named
	// r.Name, updates it; it sets r.ID.
	UpsertRegister(ctx context.Context, r *Register) error
	// DeleteRegister removes a register, its state and its undelivered pushes.
	DeleteRegister(ctx context.Context, id int64) error

	// GetRegisterState returns a register's state; ErrNotFound when it was
	// never polled.
	GetRegisterState(ctx context.Context, id int64) (RegisterState, error)
	// SaveRegisterStates writes states and appends pushes to the outbox in one
	// transaction, so a status change is never stored without its push. A push
	// with KeepAlive set is skipped when its station already has one waiting.
	// States of registers deleted meanwhile are ignored.
	SaveRegisterStates(ctx context.Context, states []RegisterState, pushes []RegisterPush) error

	// DuePushes returns at most limit pushes that are the oldest waiting one of
	// their station and due at now, oldest first.
	DuePushes(ctx context.Context, now time.Time, limit int) ([]RegisterPush, error)
	// DeletePush removes a delivered push.
	DeletePush(ctx context.Context, id int64) error
	// DeferPush records a failed attempt and when to try again.
	DeferPush(ctx context.Context, id int64, next time.Time, lastError string) error
	// OutboxDepth counts the pushes waiting.
	OutboxDepth(ctx context.Context) (int, error)
}
