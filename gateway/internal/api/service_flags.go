package api

import (
	"time"

	"vendgate/gateway/internal/store"
)

// serviceBits is a machine's set of service flags (spec
// "VendingMachineService"), one bit per flag in the JSON key order.
type serviceBits uint8

// The flags in the order encoding/json writes a map's keys (sorted), which
// the list's hand-written JSON follows.
const (
	bitLowChange serviceBits = 1 << iota
	bitNeedLoading
	bitNoBillsIn
	bitNoCoinsIn
	bitNoRecentSales
)

var serviceNames = [...]struct {
	bit  serviceBits
	name string
}{
	{bitLowChange, FlagLowChange}, {bitNeedLoading, FlagNeedLoading}, {bitNoBillsIn, FlagNoBillsIn},
	{bitNoCoinsIn, FlagNoCoinsIn}, {bitNoRecentSales, FlagNoRecentSales},
}

// machineService computes the flags of a machine from its row and its saved
// summary (nil: none) at now, with the thresholds of cfg:
//
//   - no_recent_sales: the last sale (the creation for a machine that never
//     sold) is older than cfg.NoSales;
//   - low_change: the newest valid audit's tubes hold less than cfg.LowChange;
//   - need_loading: a component of the planogram is below its critical level;
//   - no_bills_in / no_coins_in: the counter of bills (coins) accepted since
//     initialisation (CA3) is the same in every valid audit since the newest
//     one at or before now − cfg.NoBills (NoCoins), and that audit is not the
//     newest: the machine reported since, and took no bill (coin). Without an
//     audit that old, or with one without CA3 since, nothing is said.
func machineService(cfg ServiceConfig, m *store.Machine, sv *store.MachineService, now time.Time) serviceBits {
	var b serviceBits
	ref := m.LastSale
	if ref.IsZero() {
		ref = m.CreatedAt
	}
	if !ref.IsZero() && now.Sub(ref) > cfg.NoSales {
		b |= bitNoRecentSales
	}
	if sv == nil {
		return b
	}
	if sv.NeedLoading {
		b |= bitNeedLoading
	}
	if sv.TubeWorth != nil && *sv.TubeWorth < cfg.LowChange {
		b |= bitLowChange
	}
	if sv.CashIn {
		if unchangedSince(sv.BillsSince, sv.AuditTime, now.Add(-cfg.NoBills)) {
			b |= bitNoBillsIn
		}
		if unchangedSince(sv.CoinsSince, sv.AuditTime, now.Add(-cfg.NoCoins)) {
			b |= bitNoCoinsIn
		}
	}
	return b
}

// unchangedSince: the run of equal counters reaches back to cutoff (since, its
// oldest audit other than the newest, is at or before it) and the newest audit
// is after it.
func unchangedSince(since, newest, cutoff time.Time) bool {
	return !since.IsZero() && !since.After(cutoff) && newest.After(cutoff)
}

// value is the JSON of the flags: an object of the set ones (as the spec's
// examples show), null when none is.
func (b serviceBits) value() any {
	if b == 0 {
		return nil
	}
	out := make(map[string]bool, 5)
	for _, f := range serviceNames {
		if b&f.bit != 0 {
			out[f.name] = true
		}
	}
	return out
}

// appendJSON appends value()'s JSON as encoding/json writes it.
func (b serviceBits) appendJSON(buf []byte) []byte {
	if b == 0 {
		return append(buf, "null"...)
	}
	buf = append(buf, '{')
	first := true
	for _, f := range serviceNames {
		if b&f.bit == 0 {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = append(buf, '"')
		buf = append(buf, f.name...)
		buf = append(buf, `":true`...)
	}
	return append(buf, '}')
}
