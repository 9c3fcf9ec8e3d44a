package api

import (
	"encoding/json"
	"net/http"
	"time"
)

// Limits of GET /v2/vending_machines/{id}/events (spec "События": "Максимально
// доступный период - 7 дней. Максимально доступная глубина выборки - 14 дней").
const (
	MaxPeriod = 7 * 24 * time.Hour
	MaxDepth  = 14 * 24 * time.Hour
)

// eventJSON is one event of the spec's list.
type eventJSON struct {
	Date    *string         `json:"date"`
	Code    string          `json:"code"`
	Payload json.RawMessage `json:"payload"`
}

// period reads since/until. Times without an offset, and the default period (the
// current day), are in loc. A missing until is now; a missing since is the start
// of until's day.
func period(r *http.Request, loc *time.Location, now time.Time) (since, until time.Time, err error) {
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
		until = since.AddDate(0, 0, 1).Add(-time.Nanosecond)
	case untilS == "":
		until = now
	case sinceS == "":
		y, m, d := until.In(loc).Date()
		since = time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
	switch {
	case until.Before(since):
		return since, until, errStatus(http.StatusBadRequest, SubPeriodReversed, "The until time must not be before since.")
	case until.Sub(since) > MaxPeriod:
		return since, until, errStatus(http.StatusBadRequest, SubPeriodTooLong, "The maximum period is 7 days.")
	case since.Before(now.Add(-MaxDepth)):
		return since, until, errStatus(http.StatusBadRequest, SubPeriodTooDeep, "The maximum depth is 14 days.")
	}
	return since, until, nil
}

// handleVMEvents is GET /v2/vending_machines/{id}/events{?since,until,local}.
func (s *server) handleVMEvents(w http.ResponseWriter, r *http.Request, sess *session) error {
	local, err := queryBool(r, "local")
	if err != nil {
		return err
	}
	m, err := s.machineFor(r, sess)
	if err != nil {
		return err
	}
	loc := s.machineLoc(m, local)
	since, until, err := period(r, loc, s.cfg.Now())
	if err != nil {
		return err
	}
	evs, err := s.cfg.Store.ListEvents(r.Context(), m.ID, since, until)
	if err != nil {
		return err
	}
	out := make([]eventJSON, 0, len(evs))
	for _, e := range evs {
		out = append(out, eventJSON{Date: fmtTime(e.Time, loc), Code: e.Code, Payload: rawOrNull(e.Payload)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
