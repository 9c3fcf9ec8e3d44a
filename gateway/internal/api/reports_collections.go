package api

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"vendgate/dex/evadts"
	"vendgate/gateway/internal/store"
)

// collectionJSON is one cash collection (spec "Инкассации"), money in minor units.
type collectionJSON struct {
	Time             *string `json:"time"`
	VMID             int64   `json:"vm_id"`
	HandsAdd         int64   `json:"hands_add"`
	Change           int64   `json:"change"`
	SummaryCoins     int64   `json:"summary_coins"`
	SummaryBanknotes int64   `json:"summary_banknotes"`
}

// cashSyncBatch is how many audits one store round trip derives.
const cashSyncBatch = 200

// cashSyncMu serialises the lazy derivation: concurrent requests would only
// parse the same audits twice (the store ignores duplicates).
var cashSyncMu sync.Mutex

// syncAuditCash derives the cash records of the audits stored since the last
// call (store cursor) and saves them. The first call on a large database
// works through the backlog in batches; later calls see only the new audits.
func syncAuditCash(ctx context.Context, rep store.Reports) error {
	cashSyncMu.Lock()
	defer cashSyncMu.Unlock()
	cur, err := rep.CashCursor(ctx)
	if err != nil {
		return err
	}
	for {
		as, err := rep.AuditsAfter(ctx, cur, cashSyncBatch)
		if err != nil {
			return err
		}
		if len(as) == 0 {
			return nil
		}
		recs := make([]store.AuditCash, 0, len(as))
		for _, a := range as {
			if c, ok := auditCash(a); ok {
				recs = append(recs, c)
			}
		}
		cur = as[len(as)-1].ID
		if err := rep.SaveAuditCash(ctx, recs, cur); err != nil {
			return err
		}
		if len(as) < cashSyncBatch {
			return nil
		}
	}
}

// auditCash derives the cash record of a valid audit of a machine from its
// first EVA-DTS report. Mapping (EVA-DTS 6.2 §2.6, research/dex.md §3.5), all
// "since last reset" values, so a read with reset carries what was collected:
//
//   - summary_coins     = CA302, coins routed to the cash box since reset
//     (coins that went to the tubes stay in the machine as change);
//   - summary_banknotes = CA309, bills accepted since reset (the DTS 6.0 Nc
//     form), or CA304 when CA309 is absent or zero;
//   - hands_add         = CA1001, coins filled into the tubes by hand
//     ("загрузка сдачи" mode) since reset;
//   - change            = CA1501, the value of the coins in the tubes at the
//     read, or the sum of CA1702 value × CA1703 coins in tube when there is no CA15;
//   - reads_reset       = EA301, reads with reset since init; a growth over the
//     machine's previous audit marks the audit as a collection.
//
// Invalid, unparsable or unbound audits give no record.
func auditCash(a store.Audit) (store.AuditCash, bool) {
	if !a.Valid || a.VMID == 0 {
		return store.AuditCash{}, false
	}
	reps, err := evadts.ParseBytes(a.Data)
	if err != nil || len(reps) == 0 {
		return store.AuditCash{}, false
	}
	rp := reps[0]
	c := store.AuditCash{AuditID: a.ID, VMID: a.VMID, Time: a.Time, ReadsReset: -1}
	if rp.Events.Reads != nil {
		c.ReadsReset = rp.Events.Reads.ReadsWithReset
	}
	cash := rp.Cash
	if cash.In != nil {
		c.Coins = cash.In.ToBoxReset
		c.Banknotes = cash.In.BillsResetNc
		if c.Banknotes == 0 {
			c.Banknotes = cash.In.BillsReset
		}
	}
	if cash.Filled != nil {
		c.HandsAdd = cash.Filled.Reset
	}
	tubes := int64(-1)
	for _, sg := range cash.Other {
		if sg.ID == "CA15" {
			if v, err := strconv.ParseInt(sg.Field(1), 10, 64); err == nil {
				tubes = v
			}
		}
	}
	if tubes < 0 {
		tubes = 0
		for _, t := range cash.Tubes {
			tubes += t.Value * t.InTube
		}
	}
	c.Change = tubes
	return c, true
}

// handleCollections is GET /v2/reports/collections{?since,until}: the
// collections of every visible machine (default the current day, UTC; at most
// 31 days). The times are in UTC: machines of different zones are mixed.
func (s *server) handleCollections(w http.ResponseWriter, r *http.Request, sess *session) error {
	rep, err := s.reportsStore()
	if err != nil {
		return err
	}
	since, until, err := reportRange(r, time.UTC, s.cfg.Now(), listLimits)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := syncAuditCash(ctx, rep); err != nil {
		return err
	}
	cs, err := rep.ListCollections(ctx, sess.User.CompanyID, since, until)
	if err != nil {
		return err
	}
	var see map[int64]store.Machine
	if !seesCompany(sess.User) {
		if see, err = s.visibleMachines(r, sess); err != nil {
			return err
		}
	}
	out := make([]collectionJSON, 0, len(cs))
	for _, c := range cs {
		if see != nil {
			if _, ok := see[c.VMID]; !ok {
				continue
			}
		}
		out = append(out, collectionJSON{Time: fmtTime(c.Time, time.UTC), VMID: c.VMID, HandsAdd: c.HandsAdd,
			Change: c.Change, SummaryCoins: c.Coins, SummaryBanknotes: c.Banknotes})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
