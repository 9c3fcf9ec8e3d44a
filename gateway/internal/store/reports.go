package store

import (
	"context"
	"encoding/json"
	"time"
)

// Reports are the read paths of audits, vend statistics and cash collections
// (Telemetron v2 "Отчеты", "Статистика продаж", "Инкассации"). Engines that
// implement it are reached by type assertion from the API.
type Reports interface {
	// GetAudit returns the machine's audit with that id; ErrNotFound when it does
	// not exist or belongs to another machine.
	GetAudit(ctx context.Context, vmID, id int64) (Audit, error)
	// LastAudit returns the machine's newest audit (by Time, then id) with
	// Time >= since; port 0 means any port; validOnly skips invalid audits.
	LastAudit(ctx context.Context, vmID int64, port int, validOnly bool, since time.Time) (Audit, error)
	// LastAuditsByPort returns the newest audit of each port with Time >= since,
	// ordered by port.
	LastAuditsByPort(ctx context.Context, vmID int64, since time.Time) ([]Audit, error)

	// VendSummary counts successful vends and sums their prices (see VendFilter).
	VendSummary(ctx context.Context, f VendFilter) (VendTotal, error)
	// VendPaymentSummary is VendSummary grouped by vend type and payment,
	// ordered by type then payment.
	VendPaymentSummary(ctx context.Context, f VendFilter) ([]VendGroup, error)
	// VendProducts groups the machine's successful vends (f.VMID required) by
	// selection, price and type, and by payment too when byPayment; ordered by
	// selection, price, type, payment.
	VendProducts(ctx context.Context, f VendFilter, byPayment bool) ([]ProductGroup, error)

	// AuditsAfter returns up to limit audits with id > afterID, by id, for
	// deriving cash records; audits of no machine (VMID 0) are included so the
	// cursor can pass them.
	AuditsAfter(ctx context.Context, afterID int64, limit int) ([]Audit, error)
	// CashCursor returns the id of the last audit SaveAuditCash has covered.
	CashCursor(ctx context.Context) (int64, error)
	// SaveAuditCash stores the cash records (ignoring ones already stored),
	// flags collections (see AuditCash.Collection) and moves the cursor to
	// lastID, in one transaction.
	SaveAuditCash(ctx context.Context, recs []AuditCash, lastID int64) error
	// ListCollections returns the company's collections with since <= Time <=
	// until, oldest first.
	ListCollections(ctx context.Context, companyID int64, since, until time.Time) ([]AuditCash, error)
}

// VendFilter selects vends: Since <= Time <= Until (inclusive), successful
// (OK) only, of the company's machines, or of one machine when VMID != 0.
// Type and Payment, when not "", restrict to that vend type / payment.
type VendFilter struct {
	CompanyID int64
	VMID      int64
	Since     time.Time
	Until     time.Time
	Type      string
	Payment   string
}

// VendTotal is a count of vends and the sum of their prices (minor units).
type VendTotal struct {
	Count int64
	Value int64
}

// VendGroup is a VendTotal of one vend type and payment.
type VendGroup struct {
	Type    string
	Payment string
	VendTotal
}

// ProductGroup is a VendTotal of one selection at one price and vend type.
// Payment is the payment of the group, "" when its vends were paid in more than
// one way (only when not grouped by payment). Last is the newest vend's time.
type ProductGroup struct {
	Selection string
	Price     int64
	Type      string
	Payment   string
	Last      time.Time
	VendTotal
}

// AuditCash is the cash part of one valid audit, all money in minor units. See
// the API's derivation for which EVA-DTS fields fill which value.
type AuditCash struct {
	AuditID    int64
	VMID       int64
	Time       time.Time
	ReadsReset int64 // EA301 reads with reset since init; -1 when the audit has none
	HandsAdd   int64 // change loaded by hand since the last reset
	Change     int64 // change in the coin tubes at the read
	Coins      int64 // coins to the cash box since the last reset
	Banknotes  int64 // bills accepted since the last reset
	// Collection is set by the engine: the audit was a read with reset, i.e.
	// ReadsReset is above that of the machine's previous audit (by Time) that
	// has one.
	Collection bool
}

// ReceiptState is where a cloud-register receipt is in its life.
type ReceiptState string

// Receipt states: pending → submitted | failed.
const (
	ReceiptPending   ReceiptState = "pending"
	ReceiptSubmitted ReceiptState = "submitted"
	ReceiptFailed    ReceiptState = "failed"
)

// Receipt kinds.
const (
	ReceiptSale       = "sale"
	ReceiptCorrection = "correction"
)

// Receipt is a queued or finished cloud-register receipt. Input, Output and Aux
// are the JSON documents GET /v2/stats/crt shows.
type Receipt struct {
	ID        int64
	Key       string // idempotency key
	CompanyID int64
	VMID      int64
	Kind      string // ReceiptSale | ReceiptCorrection
	State     ReceiptState
	Input     json.RawMessage
	Output    json.RawMessage // nil until submitted
	Aux       json.RawMessage
	Attempts  int
	NextAt    time.Time // when a pending receipt is due
	LastError string
	CreatedAt time.Time
	DoneAt    time.Time
}

// ReceiptFilter selects receipts of a company (and machine when VMID != 0) of
// one kind in a state, CreatedAt in [Since, Until].
type ReceiptFilter struct {
	CompanyID int64
	VMID      int64
	Kind      string
	State     ReceiptState
	Since     time.Time
	Until     time.Time
}

// Receipts is the durable queue of cloud-register receipts.
type Receipts interface {
	// EnqueueReceipt inserts r as pending (due at r.NextAt, or CreatedAt) and
	// sets r.ID; when a receipt with r.Key exists it writes nothing and returns
	// created false.
	EnqueueReceipt(ctx context.Context, r *Receipt) (created bool, err error)
	// DueReceipts returns up to limit pending receipts due at now, oldest due first.
	DueReceipts(ctx context.Context, now time.Time, limit int) ([]Receipt, error)
	// CompleteReceipt marks a pending receipt submitted with its fiscal output.
	CompleteReceipt(ctx context.Context, id int64, output json.RawMessage, at time.Time) error
	// RetryReceipt records a failed attempt: Attempts+1, LastError; the receipt
	// stays pending until next, or becomes failed when next is zero.
	RetryReceipt(ctx context.Context, id int64, msg string, next time.Time, at time.Time) error
	// GetReceipt returns one receipt.
	GetReceipt(ctx context.Context, id int64) (Receipt, error)
	// ListReceipts returns the receipts of f, oldest first.
	ListReceipts(ctx context.Context, f ReceiptFilter) ([]Receipt, error)
}
