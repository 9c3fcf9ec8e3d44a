package store

import (
	"context"
	"errors"
	"time"
)

// Errors of the catalogue.
var (
	// ErrInUse is returned when a record cannot be deleted because others refer
	// to it (a location assigned to a machine, without force).
	ErrInUse = errors.New("store: in use")
	// ErrDuplicate is returned by ApplyLoading when the machine's newest loading
	// operation has the same digest (a client resending the same request).
	ErrDuplicate = errors.New("store: duplicate operation")
)

// Component units (spec "Новый ингредиент": unit enum(1, 2, 3); the component
// list shows units 'мл', 'шт', 'гр'). The numbers follow the spec's examples:
// a cup ("Стаканчик") is created with unit 1, water in millilitres with unit 2.
const (
	UnitPiece = 1 // шт
	UnitML    = 2 // мл
	UnitGram  = 3 // гр
)

// UnitName returns the spec's text for a unit ("" when unknown).
func UnitName(unit int) string {
	switch unit {
	case UnitPiece:
		return "шт"
	case UnitML:
		return "мл"
	case UnitGram:
		return "гр"
	}
	return ""
}

// VMModel is an entry of the machine model reference list (vm_models).
type VMModel struct {
	ID   int64
	Name string
}

// Timezone is an entry of the time zone reference list; Name is an IANA name.
type Timezone struct {
	ID   int64
	Name string
}

// EventCode is an entry of the event code reference list.
type EventCode struct {
	Code, Name, Desc string
}

// Component is an ingredient. A simple product (a chocolate bar) consists of
// one component of its own with IsProduct set (spec "Простыми словами").
type Component struct {
	ID        int64
	CompanyID int64
	Name      string
	Unit      int // UnitPiece, UnitML, UnitGram
	IsProduct bool
}

// RecipeItem is one component of a product with its quantity. When a product is
// created or its recipe replaced, an item with ComponentID 0 names a component
// by Name and Unit: it is looked up, and created when missing.
type RecipeItem struct {
	ComponentID int64
	Volume      int64
	Name        string
	Unit        int
}

// Product is a product (Composite false) or a recipe (Composite true).
type Product struct {
	ID              int64
	CompanyID       int64
	Name            string
	Composite       bool
	Note            string
	VAT             *float64
	InventoryNumber string
	Components      []RecipeItem
}

// CapacityItem is a planogram's capacity and critical level of one component.
type CapacityItem struct {
	ComponentID int64
	Capacity    int64
	Critical    *int64
}

// LayoutItem places a product on a selection (spiral, button) of a planogram.
type LayoutItem struct {
	ProductID int64
	Number    string
	Price     *int64
}

// Planogram is a machine's assortment: products on selections and component capacities.
type Planogram struct {
	ID        int64
	CompanyID int64
	Name      string
	Mode      string // "snack" | "basic"
	Capacity  []CapacityItem
	Layout    []LayoutItem
}

// Location is a place where a machine stands.
type Location struct {
	ID        int64
	CompanyID int64
	Name      string
	Address   string
	Note      string
}

// LoadingEntry is the current level of one component in a machine. Layout is
// the selection number for product components and "" for recipe ingredients.
type LoadingEntry struct {
	ComponentID int64
	Layout      string
	Value       int64
}

// Loading operation kinds.
const (
	LoadAdd       = "loading"   // deltas (POST .../loading)
	LoadInventory = "inventory" // absolute levels (POST .../inventory)
	LoadUnload    = "unload"    // automatic unloading on a planogram change or deletion
)

// LoadingItem is one line of a loading operation: Amount is the delta for
// LoadAdd and the counted level for LoadInventory.
type LoadingItem struct {
	ComponentID int64
	Layout      string
	Amount      int64
}

// LoadingOp is a loading or an inventory of a machine.
type LoadingOp struct {
	Kind      string // LoadAdd or LoadInventory
	UserID    int64
	Note      string
	Digest    string
	CreatedAt time.Time // the operator's time of the operation (shown in history)
	Items     []LoadingItem
}

// LoadingTxItem is one changed line of a loading transaction: Orig is the level
// before, Delta the change applied. Underflow is set when the level would have
// gone below zero and was clamped (the operator unloaded more than the
// gateway believed was there).
type LoadingTxItem struct {
	ComponentID int64
	Component   string // component name
	Layout      string
	Delta       int64
	Orig        int64
	Underflow   bool
}

// LoadingTx is a recorded change of a machine's loading.
type LoadingTx struct {
	ID        int64
	VMID      int64
	UserID    int64
	Kind      string
	Digest    string
	Note      string
	CreatedAt time.Time
	Items     []LoadingTxItem
}

// Catalog stores the reference lists, the catalogue (components, products,
// planograms, locations) and machine loading. Company-owned records carry
// CompanyID; callers check it (Get* do not filter).
//
// Loading is kept as a baseline per (machine, component, layout) written by
// each operation, and the current level is the baseline minus what the vends
// recorded since consumed according to the planogram's recipes, computed when
// read (see the engine for the exact rule).
type Catalog interface {
	ListVMModels(ctx context.Context) ([]VMModel, error)
	ListTimezones(ctx context.Context) ([]Timezone, error)
	ListEventCodes(ctx context.Context) ([]EventCode, error)

	ListComponents(ctx context.Context, companyID int64) ([]Component, error)
	GetComponent(ctx context.Context, id int64) (Component, error)
	// CreateComponent inserts c; ErrConflict when the company has a component
	// with that name, unit and product flag.
	CreateComponent(ctx context.Context, c *Component) error

	// ListProducts returns the company's products with their recipes, by id.
	ListProducts(ctx context.Context, companyID int64) ([]Product, error)
	GetProduct(ctx context.Context, id int64) (Product, error)
	// CreateProduct inserts p (ErrConflict when the name is taken in the
	// company). A simple product gets a component of its own (IsProduct, unit
	// piece, volume 1); a recipe's items are resolved as RecipeItem says.
	CreateProduct(ctx context.Context, p *Product) error
	// UpdateProduct writes name, note, VAT and inventory number; when
	// components is non-nil it replaces the recipe. Renaming a simple product
	// renames its own component.
	UpdateProduct(ctx context.Context, p Product, components []RecipeItem) error
	// DeleteProduct deletes the product, its recipe and its layout positions.
	DeleteProduct(ctx context.Context, id int64) error
	// AddRecipeItem adds a component to a recipe; ErrConflict when present.
	AddRecipeItem(ctx context.Context, productID, componentID, volume int64) error
	// SetRecipeItem changes a component's volume; ErrNotFound when absent.
	SetRecipeItem(ctx context.Context, productID, componentID, volume int64) error
	// DeleteRecipeItem removes a component from a recipe; ErrNotFound when absent.
	DeleteRecipeItem(ctx context.Context, productID, componentID int64) error

	// ListPlanograms returns the company's planograms by id, with capacity and
	// layout when full.
	ListPlanograms(ctx context.Context, companyID int64, full bool) ([]Planogram, error)
	GetPlanogram(ctx context.Context, id int64) (Planogram, error)
	// CreatePlanogram inserts p (ErrConflict when the name is taken). When
	// assignVM is non-zero the machine gets it, and loaded products on
	// selections the new planogram lacks are unloaded with a LoadUnload
	// transaction by userID at at.
	CreatePlanogram(ctx context.Context, p *Planogram, assignVM, userID int64, at time.Time) error
	// DeletePlanogram deletes it; every machine using it is unloaded (LoadUnload
	// transaction) and left without a planogram.
	DeletePlanogram(ctx context.Context, id, userID int64, at time.Time) error

	ListLocations(ctx context.Context, companyID int64) ([]Location, error)
	GetLocation(ctx context.Context, id int64) (Location, error)
	// CreateLocation inserts l; ErrConflict when the name is taken in the company.
	CreateLocation(ctx context.Context, l *Location) error
	UpdateLocation(ctx context.Context, l Location) error
	// DeleteLocation deletes it; ErrInUse when a machine has it, unless force,
	// which clears the machines' location.
	DeleteLocation(ctx context.Context, id int64, force bool) error

	// CurrentLoading returns the machine's current levels (baseline minus
	// consumption by vends since), by component and layout. Machines never
	// loaded have no entries.
	CurrentLoading(ctx context.Context, vmID int64) ([]LoadingEntry, error)
	// ApplyLoading records op on the machine: ErrDuplicate when its newest
	// operation has op.Digest. An inventory whose levels all equal the current
	// ones writes nothing and returns changed false. It sets the machine's
	// LastLoading to at.
	ApplyLoading(ctx context.Context, vmID int64, op LoadingOp, at time.Time) (tx LoadingTx, changed bool, err error)
	// ListLoadingTx returns the machine's transactions with since <= CreatedAt <=
	// until (zero until: unbounded), oldest first.
	ListLoadingTx(ctx context.Context, vmID int64, since, until time.Time) ([]LoadingTx, error)

	// LastValidAudit returns the machine's newest valid audit with Time <= before
	// (zero before: any); ErrNotFound when there is none.
	LastValidAudit(ctx context.Context, vmID int64, before time.Time) (Audit, error)
}
