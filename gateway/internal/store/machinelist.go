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
// ModelID, ModemID, IsCRTActive, InventoryNumber, TrackBusVends, TZ, TZID and
// the six Last* times; of Modem (nil when the machine has none), ID,
// CompanyID, IMEI, HBInterval, Online, LastSeen, LastHB, VMLink and Errors.
type MachineListRow struct {
	Machine Machine
	Modem   *Modem
}
