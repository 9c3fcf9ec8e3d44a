package ingest

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"time"

	"vendgate/gateway/internal/fiscal"
	"vendgate/gateway/internal/store"
)

// Fiscal queues the cloud-register sale receipt (spec "Чеки из облачной ККТ")
// of every stored successful paid vend of a machine with is_crt_active
// (fiscal.EnqueueForVend; a fiscal.Worker submits them). The receipt's key is
// the vend's message id, so a redelivered vend queues nothing twice.
//
// It runs on the ingest's follow-up path after the vend is committed: one
// machine read per paid vend, and for CRT machines a few catalogue reads and
// one write. A crash between the vend's commit and the receipt's loses that
// receipt (no recovery scan yet).
type Fiscal struct {
	Receipts store.Receipts // where receipts queue (required)
	Machines store.Machines // the vend's machine (required)
	// Catalog, when set, names the position after the planogram's product of
	// the selection (name, VAT rate, inventory number) and the place and
	// address after the machine's location; otherwise, and for what it does
	// not know, fiscal's defaults ("Товар <selection>", no VAT).
	Catalog store.Catalog
	Log     *slog.Logger
	Now     func() time.Time // default time.Now
}

// wants is the cheap filter run before any store access.
func (f *Fiscal) wants(v *store.Vend) bool {
	return v != nil && v.OK && v.Type == "paid" && v.Price > 0
}

// Vend queues the receipt of v, reported by modemID, when its machine has
// the cloud register on. It returns whether a receipt was queued now.
func (f *Fiscal) Vend(ctx context.Context, modemID int64, v store.Vend) (bool, error) {
	if !f.wants(&v) {
		return false, nil
	}
	vm, err := f.Machines.GetMachineByModem(ctx, modemID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil // a modem bound to no machine: nobody to fiscalise for
	}
	if err != nil {
		return false, err
	}
	if !vm.IsCRTActive {
		return false, nil
	}
	v.ModemID = modemID
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	return fiscal.EnqueueForVend(ctx, f.Receipts, vm, v, f.saleInfo(ctx, vm, v.Selection), now())
}

// saleInfo looks up the position and the place in the catalogue. Lookup
// errors are logged and leave the defaults: a receipt with a generic name is
// better than none.
func (f *Fiscal) saleInfo(ctx context.Context, vm store.Machine, selection string) fiscal.SaleInfo {
	var info fiscal.SaleInfo
	if f.Catalog == nil {
		return info
	}
	warn := func(what string, err error) {
		if err != nil && !errors.Is(err, store.ErrNotFound) && f.Log != nil {
			f.Log.Warn("receipt "+what, "vm", vm.ID, "err", err)
		}
	}
	if vm.LocationID != nil {
		l, err := f.Catalog.GetLocation(ctx, *vm.LocationID)
		warn("location", err)
		if err == nil && l.CompanyID == vm.CompanyID {
			info.Place, info.Address = l.Name, l.Address
		}
	}
	if vm.PlanogramID == nil {
		return info
	}
	p, err := f.Catalog.GetPlanogram(ctx, *vm.PlanogramID)
	warn("planogram", err)
	if err != nil || p.CompanyID != vm.CompanyID {
		return info
	}
	for _, l := range p.Layout {
		if sameSelection(l.Number, selection) {
			prod, err := f.Catalog.GetProduct(ctx, l.ProductID)
			warn("product", err)
			if err == nil && prod.CompanyID == vm.CompanyID {
				info.ProductName, info.ProductInvNo, info.VAT = prod.Name, prod.InventoryNumber, vatCode(prod.VAT)
			}
			break
		}
	}
	return info
}

// sameSelection compares selection numbers as the machine and the planogram
// may write them: case and leading zeros of numbers aside ("07" is "7").
func sameSelection(a, b string) bool {
	norm := func(s string) string {
		s = strings.ToUpper(strings.TrimSpace(s))
		if s == "" || strings.Trim(s, "0123456789") != "" {
			return s
		}
		if t := strings.TrimLeft(s, "0"); t != "" {
			return t
		}
		return "0"
	}
	return norm(a) == norm(b)
}

// vatCode maps a product's VAT rate in percent to the receipt's code (spec
// "input.positions.*.vat"); no rate, or one the register has no code for, is
// "not subject to VAT".
func vatCode(rate *float64) int {
	if rate == nil {
		return fiscal.VATNone
	}
	switch r := *rate; {
	case math.Abs(r-20) < 1e-9:
		return fiscal.VAT20
	case math.Abs(r-10) < 1e-9:
		return fiscal.VAT10
	case r == 0:
		return fiscal.VAT0
	}
	return fiscal.VATNone
}
