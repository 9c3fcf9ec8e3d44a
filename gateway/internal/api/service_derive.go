package api

import (
	"context"
	"errors"
	"sync"
	"time"

	"vendgate/dex/evadts"
	"vendgate/gateway/internal/store"
)

// The service flags, money and the last service / collection times come from
// the machines' audits (EVA-DTS text, parsed here) and loading. Computing them
// per request would cost a few queries and audit parses per machine — seconds
// for a 10,000-machine list — so they are kept as a per-machine summary
// (store.MachineServices, migration 0008): the engine's triggers mark a
// machine whenever an input changes, and syncService, run before every
// machine read, derives the marked machines' summaries. At steady state a
// request finds a handful of marked machines (those that sent an audit or sold
// from a loading since the last request) and parses one new audit for each.
// The list and the detail both read the saved summary, so they agree.

// serviceWalkMax bounds the audits one derivation reads: a run of equal cash
// counters longer than this is taken to start at the oldest audit read.
const serviceWalkMax = 500

// serviceWalkPage is how many audits one store call returns.
const serviceWalkPage = 16

// maxServiceMarks bounds the machines one sync derives: a first sync on a
// large migrated database works through them over a few requests.
const maxServiceMarks = 20_000

// serviceSyncMu serialises the derivations: concurrent requests would only
// derive the same machines twice.
var serviceSyncMu sync.Mutex

// syncService derives the summaries of the machines marked since the last
// call. Stores without store.MachineServices have no summaries.
func (s *server) syncService(ctx context.Context) error {
	ms, ok := s.cfg.Store.(store.MachineServices)
	if !ok {
		return nil
	}
	serviceSyncMu.Lock()
	defer serviceSyncMu.Unlock()
	marks, err := ms.ServiceDirty(ctx, maxServiceMarks)
	if err != nil {
		return err
	}
	for _, mk := range marks {
		vm, err := s.cfg.Store.GetMachine(ctx, mk.VMID)
		var sv store.MachineService
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Deleted: saving drops the mark only.
		case err != nil:
			return err
		default:
			if sv, err = s.deriveService(ctx, ms, vm); err != nil {
				return err
			}
		}
		if err := ms.SaveMachineService(ctx, mk, sv); err != nil {
			return err
		}
	}
	return nil
}

// counterRun follows a run of valid audits with an equal cash counter from
// the newest audit towards older ones.
type counterRun struct {
	open  bool
	value int64
	since time.Time
}

// next extends the run by an older audit: it continues while the audit has
// CA3 with the same value.
func (r *counterRun) next(rep *evadts.Report, a store.Audit, value func(*evadts.Report) int64) {
	if !r.open {
		return
	}
	if rep == nil || rep.Cash.In == nil || value(rep) != r.value {
		r.open = false
		return
	}
	r.since = a.Time
}

func billsOf(r *evadts.Report) int64 { b, _ := cashIn(r); return b }
func coinsOf(r *evadts.Report) int64 { _, c := cashIn(r); return c }

// firstReportOf parses an audit and returns its first report (the machine's
// own; further DXS..DXE blocks are other devices), nil when it does not parse.
func firstReportOf(a store.Audit) *evadts.Report {
	reps, err := evadts.ParseBytes(a.Data)
	if err != nil || len(reps) == 0 {
		return nil
	}
	return reps[0]
}

// deriveService computes the machine's summary. Derivation (EVA-DTS 6.2,
// research/dex.md §3.5-3.6), all from the valid audits by read time:
//
//   - TubeWorth: the newest audit's coins in the changer tubes, CA1501, or
//     the sum of CA1702 value × CA1703 coins (tubeWorth);
//   - Bills, Coins: the newest audit's CA308 and CA305 − CA308 ("since
//     initialisation", cashIn), with BillsSince / CoinsSince the oldest older
//     audit of the run of audits with the same value (an audit without CA3
//     ends a run);
//   - Collected: the newest audit whose EA301 (reads with reset) is above
//     that of the valid audit before it with an EA3, as GET
//     /v2/reports/collections marks collections;
//   - Revenue: the cash in the cash box since the last collection: the
//     newest audit's "since reset" CA302 (coins to the box) plus CA309 (bills,
//     CA304 when CA309 is absent or zero), the same counters the collections
//     report shows as collected; 0 when the newest audit is itself a
//     collection (what it counted was taken out); nil without CA3;
//   - Serviced: EA6 (last service) of the newest audit that has one, read in
//     the machine's zone (UTC when it has none);
//   - NeedLoading: needLoading, the loading below a critical level.
//
// When earlier audits are unchanged since the last derivation, the walk stops
// at the previously newest audit and carries its runs and times on.
func (s *server) deriveService(ctx context.Context, ms store.MachineServices, vm store.Machine) (store.MachineService, error) {
	sv := store.MachineService{ReadsReset: -1}
	if c, ok := s.cfg.Store.(store.Catalog); ok {
		need, err := needLoading(ctx, c, vm)
		if err != nil {
			return sv, err
		}
		sv.NeedLoading = need
	}
	prev, err := ms.GetMachineService(ctx, vm.ID)
	hasPrev := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return sv, err
	}
	loc := time.UTC
	if l := s.location(vm.TZ); l != nil {
		loc = l
	}

	var (
		bills, coins      counterRun
		servFound, collOK bool
		later             store.Audit // newest audit walked so far with an EA3
		laterReads        int64       = -1
		newestCollected   bool
		newest            *evadts.Report
		beforeT           time.Time
		beforeID          int64
		n                 int
	)
	for n < serviceWalkMax {
		page, err := ms.ValidAuditsBefore(ctx, vm.ID, beforeT, beforeID, serviceWalkPage)
		if err != nil {
			return sv, err
		}
		for _, a := range page {
			rep := firstReportOf(a)
			if n == 0 {
				sv.AuditID, sv.AuditTime = a.ID, a.Time
				newest = rep
				if rep == nil {
					// An unreadable newest audit says nothing of the
					// machine now; the times found before stay.
					if hasPrev {
						sv.Serviced, sv.Collected = prev.Serviced, prev.Collected
					}
					return sv, nil
				}
				if w, ok := tubeWorth(rep); ok {
					sv.TubeWorth = &w
				}
				if rep.Cash.In != nil {
					sv.CashIn = true
					sv.Bills, sv.Coins = cashIn(rep)
					bills = counterRun{open: true, value: sv.Bills}
					coins = counterRun{open: true, value: sv.Coins}
				}
			} else {
				bills.next(rep, a, billsOf)
				coins.next(rep, a, coinsOf)
			}
			if rep != nil && rep.Events.Reads != nil {
				reads := rep.Events.Reads.ReadsWithReset
				if n == 0 {
					sv.ReadsReset = reads
				}
				if !collOK && laterReads > reads {
					sv.Collected, collOK = later.Time, true
					newestCollected = later.ID == sv.AuditID
				}
				later, laterReads = a, reads
			}
			if !servFound && rep != nil && rep.Events.Serviced != nil {
				if t, ok := dexTime(rep.Events.Serviced.Date, rep.Events.Serviced.Time, loc); ok {
					sv.Serviced, servFound = t, true
				}
			}
			n++
			if n > 1 && hasPrev && a.ID == prev.AuditID {
				// The previously newest audit: what lies before it was
				// derived then.
				if bills.open && prev.CashIn && prev.Bills == bills.value && !prev.BillsSince.IsZero() {
					bills.since = prev.BillsSince
				}
				if coins.open && prev.CashIn && prev.Coins == coins.value && !prev.CoinsSince.IsZero() {
					coins.since = prev.CoinsSince
				}
				bills.open, coins.open = false, false
				if !collOK {
					sv.Collected, collOK = prev.Collected, true
				}
				if !servFound {
					sv.Serviced, servFound = prev.Serviced, true
				}
			}
			if !bills.open && !coins.open && collOK && servFound {
				break
			}
		}
		if len(page) < serviceWalkPage || (!bills.open && !coins.open && collOK && servFound) {
			break
		}
		last := page[len(page)-1]
		beforeT, beforeID = last.Time, last.ID
	}
	sv.BillsSince, sv.CoinsSince = bills.since, coins.since
	if newest != nil && newest.Cash.In != nil {
		in := newest.Cash.In
		banknotes := in.BillsResetNc
		if banknotes == 0 {
			banknotes = in.BillsReset
		}
		rev := in.ToBoxReset + banknotes
		if newestCollected {
			rev = 0
		}
		sv.Revenue = &rev
	}
	return sv, nil
}

// dexTime is an EVA-DTS date and time read in loc, in UTC.
func dexTime(date, clock string, loc *time.Location) (time.Time, bool) {
	t, ok := evadts.ParseTime(date, clock, loc)
	return t.UTC(), ok
}
