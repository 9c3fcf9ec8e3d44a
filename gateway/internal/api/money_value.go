package api

import (
	"context"
	"errors"

	"vendgate/gateway/internal/store"
)

// moneyJSON is the detail's "money" (spec "Подробная информация о ТА":
// "Наличные деньги в автомате"), in minor units (kopecks):
//
//   - change ("Сдача"): the coins in the changer tubes at the newest valid
//     audit — CA1501, or the sum of CA1702 value × CA1703 coins in tube; null
//     when the audit has neither;
//   - revenue ("Выручка"): the cash in the cash box, taken since the last
//     collection — the newest valid audit's "since reset" coins to the box
//     (CA302) and bills (CA309, or CA304), 0 when that audit is itself a
//     collection (its EA301 grew: the cash it counted was collected, as GET
//     /v2/reports/collections reports it); null when the audit has no CA3.
//
// The whole object is null when the machine has no readable valid audit.
type moneyJSON struct {
	Change  *int64 `json:"change"`
	Revenue *int64 `json:"revenue"`
}

// moneyOf is the money of a machine's service summary (nil: none).
func moneyOf(sv *store.MachineService) *moneyJSON {
	if sv == nil || (sv.TubeWorth == nil && sv.Revenue == nil) {
		return nil
	}
	return &moneyJSON{Change: sv.TubeWorth, Revenue: sv.Revenue}
}

// machineExtra reads the machine's saved service summary and its model's type
// (the list reads them with its rows). Stores without store.MachineServices
// have neither.
func (s *server) machineExtra(ctx context.Context, m store.Machine) (vmExtra, error) {
	var x vmExtra
	if c, ok := s.cfg.Store.(store.Catalog); ok && m.LocationID != nil {
		l, err := c.GetLocation(ctx, *m.LocationID)
		switch {
		case err == nil && l.CompanyID == m.CompanyID:
			x.Location = &l
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return x, err
		}
	}
	ms, ok := s.cfg.Store.(store.MachineServices)
	if !ok {
		return x, nil
	}
	sv, err := ms.GetMachineService(ctx, m.ID)
	switch {
	case err == nil:
		x.Service = &sv
	case !errors.Is(err, store.ErrNotFound):
		return x, err
	}
	if m.ModelID != nil {
		t, err := ms.ModelType(ctx, *m.ModelID)
		switch {
		case err == nil:
			x.Type = &t
		case !errors.Is(err, store.ErrNotFound):
			return x, err
		}
	}
	return x, nil
}
