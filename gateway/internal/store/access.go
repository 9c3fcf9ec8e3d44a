package store

import (
	"context"
	"time"
)

// This file holds the access-control contracts: companies, their requisites
// (spec "Компания / Реквизиты") and machine groups (spec "Полный список ТА":
// operators see only the machines of the groups assigned to them). Engines
// implement them next to Store; the API reaches them by type assertion.

// Company is a tenant: every record belongs to exactly one, and no company sees
// another's data.
type Company struct {
	ID        int64
	Name      string
	CreatedAt time.Time
}

// Companies stores tenants.
type Companies interface {
	// CreateCompany inserts c and sets c.ID.
	CreateCompany(ctx context.Context, c *Company) error
	GetCompany(ctx context.Context, id int64) (Company, error)
}

// Cloud-register providers of a requisite (spec "Реквизиты", attribute provider).
const (
	ProviderOrangeData  = "od"   // Orange Data
	ProviderCheckOnline = "co"   // Чек онлайн
	ProviderInitPro     = "ipro" // Инитпро
)

// Requisite is a legal entity of a company with its cloud-register settings;
// machines name one by RequisiteID.
type Requisite struct {
	ID         int64
	CompanyID  int64
	Title      string
	TitleShort string
	AddrLegal  string
	AddrFact   string
	INN        string
	KPP        string
	Provider   string // one of the Provider constants, "" = none (null)
	CreatedAt  time.Time
}

// Requisites stores requisites.
type Requisites interface {
	// CreateRequisite inserts r and sets r.ID; ErrNotFound when the company does not exist.
	CreateRequisite(ctx context.Context, r *Requisite) error
	GetRequisite(ctx context.Context, id int64) (Requisite, error)
	// ListRequisites returns the company's requisites ordered by id.
	ListRequisites(ctx context.Context, companyID int64) ([]Requisite, error)
	// UpdateRequisite writes every field of r but CompanyID and CreatedAt.
	UpdateRequisite(ctx context.Context, r Requisite) error
	// DeleteRequisite removes it; machines naming it keep a dangling RequisiteID
	// (the API renders it as given).
	DeleteRequisite(ctx context.Context, id int64) error
}

// Group is a named set of machines of one company. Operators assigned to a
// group see its machines.
type Group struct {
	ID        int64
	CompanyID int64
	Name      string // unique within the company, case-insensitively
	CreatedAt time.Time
}

// Groups stores machine groups and the two many-to-many memberships
// (machine↔group, user↔group). A membership never crosses companies: the
// engine refuses a machine or user of another company than the group's.
type Groups interface {
	// CreateGroup inserts g and sets g.ID; ErrConflict when the name is taken in the company.
	CreateGroup(ctx context.Context, g *Group) error
	GetGroup(ctx context.Context, id int64) (Group, error)
	// ListGroups returns the company's groups ordered by id.
	ListGroups(ctx context.Context, companyID int64) ([]Group, error)
	// RenameGroup sets the name; ErrConflict when taken.
	RenameGroup(ctx context.Context, id int64, name string) error
	// DeleteGroup removes the group and its memberships.
	DeleteGroup(ctx context.Context, id int64) error

	// SetGroupMachines replaces the group's machines. ErrNotFound (and no
	// change) when a machine does not exist or belongs to another company.
	SetGroupMachines(ctx context.Context, groupID int64, vmIDs []int64) error
	// SetGroupUsers replaces the group's users, with the same rule.
	SetGroupUsers(ctx context.Context, groupID int64, userIDs []int64) error
	// GroupMachines returns the group's machine ids, ascending.
	GroupMachines(ctx context.Context, groupID int64) ([]int64, error)
	// GroupUsers returns the group's user ids, ascending.
	GroupUsers(ctx context.Context, groupID int64) ([]int64, error)
	// MachineGroups returns the ids of the groups the machine is in, ascending.
	MachineGroups(ctx context.Context, vmID int64) ([]int64, error)
	// UserGroups returns the ids of the groups assigned to the user, ascending.
	UserGroups(ctx context.Context, userID int64) ([]int64, error)

	// UserSeesMachine reports whether the machine is in a group assigned to the
	// user (the operator rule; roles are the caller's business).
	UserSeesMachine(ctx context.Context, userID, vmID int64) (bool, error)
	// UserMachines returns the ids of the machines in the groups assigned to
	// the user, ascending and without repeats.
	UserMachines(ctx context.Context, userID int64) ([]int64, error)
}

// Access is everything the access area needs from an engine.
type Access interface {
	Companies
	Requisites
	Groups
}
