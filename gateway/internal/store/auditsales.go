package store

import (
	"context"
	"time"
)

// Audit sales statuses (AuditSale.Status).
const (
	// SalesCounted: the audit was compared with the previous valid audit of
	// its machine and port; its sales are the difference.
	SalesCounted = "counted"
	// SalesBaseline: there is nothing to compare with (the machine's first
	// valid audit on that port, or the previous one is of another machine or
	// cannot be read); the audit only starts the chain, no sales.
	SalesBaseline = "baseline"
	// SalesLate: the audit arrived after a later one had already been
	// counted from the same previous audit; its span is counted already, so
	// it adds no sales.
	SalesLate = "late"
	// SalesImplausible: the difference is larger than any machine sells
	// between two reads (a counter replaced or reset without EA4, read as a
	// wrap); the summary keeps the numbers but no vends are derived.
	SalesImplausible = "implausible"
)

// SalesAmount is a count of vends and their value in minor units.
type SalesAmount struct {
	Count int64 `json:"count"`
	Value int64 `json:"value"`
}

// ProductSale is the sales of one product (EVA-DTS PA1 selection) in a span.
type ProductSale struct {
	Selection string `json:"selection"`
	Name      string `json:"name,omitempty"`
	SalesAmount
	// ByDevice is the split by payment device (PA7), keyed "CA", "DA", "DB"
	// … plus "/" and the price list when there is one.
	ByDevice map[string]SalesAmount `json:"by_device,omitempty"`
}

// AuditSale is what one valid audit adds to its machine's sales: the
// difference of its "since initialisation" counters from those of the
// previous valid audit of the same machine and port (EVA-DTS 6.2 §5.1.6).
type AuditSale struct {
	AuditID     int64
	VMID        int64
	ModemID     int64
	Port        int
	Time        time.Time // this audit's read time
	PrevAuditID int64     // where the span starts; 0 when Status is not counted/implausible
	PrevTime    time.Time
	Status      string // SalesCounted, SalesBaseline, SalesLate, SalesImplausible
	Vends       SalesAmount
	Cash        SalesAmount
	Cashless    SalesAmount
	Products    []ProductSale
	// Wrapped names the counters taken as having wrapped; Reinitialised is
	// set when EA4 changed (counters restarted from zero).
	Wrapped       []string
	Reinitialised bool
	// DerivedVends is how many vend rows the span added to the vends table
	// (see AuditSales).
	DerivedVends int
}

// AuditSales stores the sales and events derived from valid audits. Engines
// that implement it are reached by type assertion from the ingest.
//
// Derived vends: the vends table holds one row per vend, and every vend
// statistic counts rows, so the sales of a span are written as one row per
// vend: a product sold n times for value v gives n rows of that selection,
// type "paid", priced v/n (the remainder spread one minor unit at a time over
// the first rows, so the rows sum to v exactly), all at the audit's time and
// CommandID "". Their MsgID is "dex:a<audit id>:…", so a span is never
// written twice and derived rows are told apart from bus vends. The payment
// comes from the product's PA7 split when the report has one, otherwise the
// span's cashless count (DA2+DB2) is spread evenly over the vends and the rest
// count as cash. Vends are derived only for machines with TrackBusVends
// false, and only for what the bus did not already report: bus vends of the
// machine in the span are subtracted per selection (and from the cashless
// share), so a modem that sees part of the vends does not double count them.
// Machines with TrackBusVends true take their sales from bus vends only.
type AuditSales interface {
	// AuditByMsg returns the modem's audit with that message id.
	AuditByMsg(ctx context.Context, modemID int64, msgID string) (Audit, error)
	// PrevValidAudit returns the newest valid audit of a's machine and port
	// that comes before a (by Time, then ID); ErrNotFound when none.
	PrevValidAudit(ctx context.Context, a Audit) (Audit, error)
	// BusVends groups the machine's successful paid vends with after < Time
	// <= upTo that were not derived from audits by selection and payment
	// (Price of each group is 0; Last is the newest vend's time).
	BusVends(ctx context.Context, vmID int64, after, upTo time.Time) ([]ProductGroup, error)
	// SaveAuditSale stores s with the events and vends it implies, in one
	// transaction: events and vends whose (modem, MsgID) exists are skipped,
	// and the machine's last sale moves to lastSale when that is later (zero:
	// untouched). When a summary of s.AuditID exists nothing is written and
	// created is false. ErrConflict (nothing written) when another audit's
	// summary already starts at s.PrevAuditID on the same machine and port.
	SaveAuditSale(ctx context.Context, s AuditSale, events []Event, vends []Vend, lastSale time.Time) (created bool, err error)
	// GetAuditSale returns the summary of an audit; ErrNotFound when none.
	GetAuditSale(ctx context.Context, auditID int64) (AuditSale, error)
	// ListAuditSales returns the machine's summaries with since <= Time <=
	// until (zero until: no end), oldest first.
	ListAuditSales(ctx context.Context, vmID int64, since, until time.Time) ([]AuditSale, error)
}
