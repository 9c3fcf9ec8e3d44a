package store

import (
	"context"
	"time"
)

// MachineList is the cheap read path of the machine list (spec "Полный список
// ТА"): the listed columns of a company's machines joined with their modems'
// presence, and a change version so that a reader can keep the list in memory
// and re-read only what changed. Engines implement it next to Store; the API
// reaches it by type assertion and falls back to ListMachines + ListModems.
type MachineList interface {
	// MachineListVersion returns the list's change version: it grows with
	// every committed change of a listed field of any machine or modem (of
	// any company), except a modem's LastSeen and LastHB changing from one
	// non-zero time to another (they move with every uplink). A row changed
	// by a transaction committed after the call has a greater version.
	MachineListVersion(ctx context.Context) (int64, error)
	// MachineListRows returns the company's machines ordered by id: all of
	// them when after < 0, else those whose machine or bound modem changed
	// after version after (possibly also some that did not).
	MachineListRows(ctx context.Context, companyID, after int64) ([]MachineListRow, error)
	// MachineListSeen returns the current LastSeen of the modems (unknown
	// ids are left out): what a reader re-reads for the modems its copy
	// shows as stale.
	MachineListSeen(ctx context.Context, modemIDs []int64) (map[int64]time.Time, error)
}

// MachineListRow is one machine of MachineListRows with only the listed
// fields set: of Machine, ID, CompanyID, Name, SerialNumber, PlanogramID,
// ModelID, ModemID, IsCRTActive, InventoryNumber, TrackBusVends, TZ, TZID,
// CreatedAt and the six Last* times; of Modem (nil when the machine has
// none), ID, CompanyID, IMEI, HBInterval, Online, LastSeen, LastHB, VMLink and
// Errors. Service is the saved MachineServices summary (nil: none, or the
// engine has none); Type the machine's model's type (nil: none).
type MachineListRow struct {
	Machine Machine
	Modem   *Modem
	Service *MachineService
	Type    *VMType
}

// MachineServices keeps the per-machine summary behind the service flags,
// money and the last service / collection times of the machine responses
// (store.MachineService), so that the machine list shows them without a query
// per machine. The engine marks a machine whenever an input changes (a valid
// audit, a vend of a machine with a loading, its loading or planogram); the
// API, which parses the audits, derives the summary of the marked machines
// and saves it. MachineListRows returns the saved summary with each row.
type MachineServices interface {
	// ServiceDirty returns up to limit marked machines.
	ServiceDirty(ctx context.Context, limit int) ([]ServiceMark, error)
	// ValidAuditsBefore returns up to limit valid audits of the machine older
	// than (beforeTime, beforeID) in the order (Time, ID) descending; a zero
	// beforeTime starts at the newest.
	ValidAuditsBefore(ctx context.Context, vmID int64, beforeTime time.Time, beforeID int64, limit int) ([]Audit, error)
	// GetMachineService returns the machine's saved summary; ErrNotFound when
	// none was saved.
	GetMachineService(ctx context.Context, vmID int64) (MachineService, error)
	// SaveMachineService stores the summary of mark's machine, writes its
	// Serviced and Collected to the machine's LastService and LastCollection,
	// and removes the mark unless it was marked again since it was read. A
	// machine that no longer exists only loses its mark.
	SaveMachineService(ctx context.Context, mark ServiceMark, s MachineService) error
	// ModelType returns the type of the machine model; ErrNotFound when the
	// model does not exist or has no type.
	ModelType(ctx context.Context, modelID int64) (VMType, error)
}

// ServiceMark is a machine whose summary is out of date; Count tells marks of
// the same machine apart.
type ServiceMark struct {
	VMID  int64
	Count int64
}

// MachineService is the summary of one machine's service inputs (see the
// API's derivation for the EVA-DTS fields). Money in minor units.
type MachineService struct {
	AuditID    int64     // newest valid audit, 0 = none
	AuditTime  time.Time // its read time
	ReadsReset int64     // its EA301, -1 = none
	TubeWorth  *int64    // coins in the changer tubes, nil = unknown
	CashIn     bool      // the newest audit has CA3: Bills and Coins are set
	Bills      int64     // bills accepted since initialisation
	Coins      int64     // coins accepted since initialisation
	// BillsSince, CoinsSince: the read time of the oldest valid audit before
	// the newest one such that it and every valid audit after it has the
	// newest's counter; zero when the audit before the newest differs.
	BillsSince  time.Time
	CoinsSince  time.Time
	Revenue     *int64    // cash in the machine since the last collection, nil = unknown
	NeedLoading bool      // a planogram component is below its critical level
	Serviced    time.Time // EA6 of the newest audit that has one, zero = none
	Collected   time.Time // newest audit whose EA301 grew, zero = none
}

// VMType is a machine type (spec "VendingMachineType").
type VMType struct {
	ID    int64
	Label string
	Name  string
}
