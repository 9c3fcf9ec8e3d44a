package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"vendgate/gateway/internal/store"
)

// Limits of the reports area. Audits (spec "Отчеты"): "Максимально доступный
// период - 14 дней. Максимально доступная глубина выборки - 14 дней", and
// reports/{id}, last, last_valid, last_errors ignore audits older than 14 days.
// Vend statistics (spec "Статистика продаж"): default range the current day,
// at most 31 days, nothing older than two months; the fleet summaries
// (/v2/stats/vends/summary, .../payments/summary) at most 7 days.
const (
	ReportMaxPeriod     = 14 * 24 * time.Hour
	ReportMaxDepth      = 14 * 24 * time.Hour
	StatsMaxPeriod      = 31 * 24 * time.Hour
	StatsFleetMaxPeriod = 7 * 24 * time.Hour
	StatsDepthMonths    = 2
)

// rangeLimits are the limits of one endpoint's since/until.
type rangeLimits struct {
	maxPeriod   time.Duration
	depth       time.Duration // 0: no depth limit (unless depthMonths)
	depthMonths int
}

var (
	reportLimits = rangeLimits{maxPeriod: ReportMaxPeriod, depth: ReportMaxDepth}
	statsLimits  = rangeLimits{maxPeriod: StatsMaxPeriod, depthMonths: StatsDepthMonths}
	fleetLimits  = rangeLimits{maxPeriod: StatsFleetMaxPeriod, depthMonths: StatsDepthMonths}
	// Receipts and collections state no limits; 31 days bounds a response.
	listLimits = rangeLimits{maxPeriod: StatsMaxPeriod}
)

// reportRange reads since/until like the events' period (default the current
// day in loc; a missing until is now; a missing since is the start of until's
// day) and applies lim.
func reportRange(r *http.Request, loc *time.Location, now time.Time, lim rangeLimits) (since, until time.Time, err error) {
	q := r.URL.Query()
	sinceS, untilS := q.Get("since"), q.Get("until")
	if sinceS != "" {
		if since, err = parseTime(sinceS, loc); err != nil {
			return since, until, errBadRequest("The since parameter is not a valid time (expected e.g. 2018-01-01T00:00:00+03:00).")
		}
	}
	if untilS != "" {
		if until, err = parseTime(untilS, loc); err != nil {
			return since, until, errBadRequest("The until parameter is not a valid time (expected e.g. 2018-01-02T00:00:00+03:00).")
		}
	}
	switch {
	case sinceS == "" && untilS == "":
		y, m, d := now.In(loc).Date()
		since = time.Date(y, m, d, 0, 0, 0, 0, loc)
		until = since.AddDate(0, 0, 1).Add(-time.Millisecond)
	case untilS == "":
		until = now
	case sinceS == "":
		y, m, d := until.In(loc).Date()
		since = time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
	var limit time.Time
	var depthMsg string
	switch {
	case lim.depthMonths > 0:
		limit = now.AddDate(0, -lim.depthMonths, 0)
		depthMsg = fmt.Sprintf("Statistics older than %d months are not available.", lim.depthMonths)
	case lim.depth > 0:
		limit = now.Add(-lim.depth)
		depthMsg = fmt.Sprintf("The maximum depth is %d days.", int(lim.depth/(24*time.Hour)))
	}
	switch {
	case until.Before(since):
		return since, until, errStatus(http.StatusBadRequest, SubPeriodReversed, "The until time must not be before since.")
	case until.Sub(since) > lim.maxPeriod:
		return since, until, errStatus(http.StatusBadRequest, SubPeriodTooLong,
			fmt.Sprintf("The maximum period is %d days.", int(lim.maxPeriod/(24*time.Hour))))
	case !limit.IsZero() && since.Before(limit):
		return since, until, errStatus(http.StatusBadRequest, SubPeriodTooDeep, depthMsg)
	}
	return since, until, nil
}

// errNoReportsStore is the 501 when the engine lacks the reports contracts.
func errNoReportsStore() *apiError {
	return errStatus(http.StatusNotImplemented, "E501", "Reports are not supported by this store")
}

func (s *server) reportsStore() (store.Reports, error) {
	rep, ok := s.cfg.Store.(store.Reports)
	if !ok {
		return nil, errNoReportsStore()
	}
	return rep, nil
}

func (s *server) receiptsStore() (store.Receipts, error) {
	rc, ok := s.cfg.Store.(store.Receipts)
	if !ok {
		return nil, errNoReportsStore()
	}
	return rc, nil
}

// visibleMachines returns the machines of the caller's company it may see,
// by id; all reports over "all machines" are limited to them.
func (s *server) visibleMachines(r *http.Request, sess *session) (map[int64]store.Machine, error) {
	ctx := r.Context()
	ms, err := s.cfg.Store.ListMachines(ctx, sess.User.CompanyID)
	if err != nil {
		return nil, err
	}
	see, err := s.machineFilter(ctx, sess.User)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]store.Machine, len(ms))
	for _, m := range ms {
		if see(m) {
			out[m.ID] = m
		}
	}
	return out, nil
}

// optMachine reads the optional vm_id query parameter (crt): 0 when absent; a
// machine the caller cannot see is the machine's 404.
func (s *server) optMachine(r *http.Request, sess *session) (int64, error) {
	v := r.URL.Query().Get("vm_id")
	if v == "" {
		return 0, nil
	}
	var id int64
	if _, err := fmt.Sscan(v, &id); err != nil || id <= 0 || fmt.Sprint(id) != v {
		return 0, errField("vm_id", "The vm id must be an integer.")
	}
	m, err := s.cfg.Store.GetMachine(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !s.canSeeMachine(r.Context(), sess.User, m)) {
		return 0, errNotFound(msgVMNotFound)
	}
	if err != nil {
		return 0, err
	}
	return id, nil
}
