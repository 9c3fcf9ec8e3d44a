package api

import (
	"context"
	"errors"
	"strconv"
	"time"

	"vendgate/dex/evadts"
	"vendgate/gateway/internal/store"
)

// ServiceConfig holds the thresholds of the machines' service flags (spec
// "VendingMachineService": low_change, need_loading, no_recent_sales,
// no_bills_in, no_coins_in). The spec gives no numbers; the defaults are
// DefaultServiceConfig's.
type ServiceConfig struct {
	// LowChange: low_change is set when the coins in the changer's tubes in the
	// newest valid audit are worth less than this (minor units). The worth is
	// CA15 ("value of coins in tubes") when the audit has it, else the sum of
	// CA17 coin value × coins in tube. An audit without either says nothing.
	LowChange int64
	// NoSales: no_recent_sales is set when the last sale (or, for a machine
	// that never sold, its creation) is older than this.
	NoSales time.Duration
	// NoBills, NoCoins: no_bills_in / no_coins_in are set when the machine's
	// cash-in counters since initialisation (EVA-DTS CA3: 08 bills, 05 minus 08
	// coins) are the same in the newest valid audit and in the newest valid
	// audit at least this old. Without both audits nothing is said.
	NoBills, NoCoins time.Duration
}

// DefaultServiceConfig returns the defaults: change under 100.00 (10000
// kopecks), no sale for a day, no bill or coin for two days.
func DefaultServiceConfig() ServiceConfig {
	return ServiceConfig{LowChange: 10000, NoSales: 24 * time.Hour, NoBills: 48 * time.Hour, NoCoins: 48 * time.Hour}
}

// withDefaults fills the unset thresholds.
func (c ServiceConfig) withDefaults() ServiceConfig {
	d := DefaultServiceConfig()
	if c.LowChange <= 0 {
		c.LowChange = d.LowChange
	}
	if c.NoSales <= 0 {
		c.NoSales = d.NoSales
	}
	if c.NoBills <= 0 {
		c.NoBills = d.NoBills
	}
	if c.NoCoins <= 0 {
		c.NoCoins = d.NoCoins
	}
	return c
}

// serviceConfig is the thresholds in use. TODO(lead): once Config has a
// `Service ServiceConfig` field, return s.cfg.Service.withDefaults().
func (s *server) serviceConfig() ServiceConfig {
	return s.cfg.Service.withDefaults()
}

// Service flag names (spec "VendingMachineService").
const (
	FlagLowChange     = "low_change"
	FlagNeedLoading   = "need_loading"
	FlagNoRecentSales = "no_recent_sales"
	FlagNoBillsIn     = "no_bills_in"
	FlagNoCoinsIn     = "no_coins_in"
)

// tubeWorth is the value of the coins in the changer tubes: CA15 01 when
// present, else the CA17 sum; ok false when the audit has neither.
func tubeWorth(r *evadts.Report) (int64, bool) {
	for _, seg := range r.Cash.Other {
		if seg.ID == "CA15" {
			if v, err := strconv.ParseInt(seg.Field(1), 10, 64); err == nil && v >= 0 {
				return v, true
			}
		}
	}
	if len(r.Cash.Tubes) == 0 {
		return 0, false
	}
	var sum int64
	for _, t := range r.Cash.Tubes {
		sum += t.Value * t.InTube
	}
	return sum, true
}

// cashIn returns the bills and coins accepted since initialisation (CA3 08,
// and 05 minus 08).
func cashIn(r *evadts.Report) (bills, coins int64) {
	if r.Cash.In == nil {
		return 0, 0
	}
	return r.Cash.In.BillsInit, r.Cash.In.InInit - r.Cash.In.BillsInit
}

// needLoading reports whether a component of the machine's planogram with a
// critical level is below it (product components summed over their
// selections). A machine whose loading was never recorded says nothing.
func needLoading(ctx context.Context, c store.Catalog, vm store.Machine) (bool, error) {
	if vm.PlanogramID == nil {
		return false, nil
	}
	cur, err := c.CurrentLoading(ctx, vm.ID)
	if err != nil || len(cur) == 0 {
		return false, err
	}
	p, err := c.GetPlanogram(ctx, *vm.PlanogramID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	total := map[int64]int64{}
	for _, e := range cur {
		total[e.ComponentID] += e.Value
	}
	for _, ci := range p.Capacity {
		if ci.Critical != nil && total[ci.ComponentID] < *ci.Critical {
			return true, nil
		}
	}
	return false, nil
}

// vmLocationJSON is the machines' "location" object.
type vmLocationJSON struct {
	ID      int64   `json:"id"`
	GroupID *int64  `json:"group_id"`
	Name    string  `json:"name"`
	Address *string `json:"address"`
}

// locationValue is the machine's "location" object, nil when it has none (or
// the store has no catalogue).
func (s *server) locationValue(ctx context.Context, vm store.Machine) any {
	c, ok := s.cfg.Store.(store.Catalog)
	if !ok || vm.LocationID == nil {
		return nil
	}
	l, err := c.GetLocation(ctx, *vm.LocationID)
	if err != nil || l.CompanyID != vm.CompanyID {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("api: machine location", "vm", vm.ID, "err", err)
		}
		return nil
	}
	return vmLocationJSON{ID: l.ID, Name: l.Name, Address: nullStr(l.Address)}
}
