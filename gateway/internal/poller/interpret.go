package poller

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"vendgate/gateway/internal/store"
)

// The status endpoints of a UKM5 register, relative to its base URL.
const (
	EpLastReceiptTime = "last_receipt_time" // 200: receipt open, time of its last activity; 204: no open receipt
	EpDowntime        = "downtime"          // 200: no open receipt, time the last one closed; 204: receipt open
	EpUserRoleID      = "user_role_id"      // 200: id of the current user
	EpOFD             = "ofd"               // 200: receipts not yet sent to the fiscal data operator
	EpPaper           = "paper"             // 200: paper present; 204: no paper
	EpVision          = "vision"            // 200: link to SuperMag Vision up; 204: down
	EpWeight          = "weight"            // 200: receipt closed, weight on the scale; 204: receipt open
)

// Endpoints lists the endpoints in the order they are polled.
var Endpoints = []string{EpLastReceiptTime, EpDowntime, EpUserRoleID, EpOFD, EpPaper, EpVision, EpWeight}

// PathPrefix is what the endpoints' paths start with after the base URL.
const PathPrefix = "api/v1/status/"

// Outcomes of one request.
const (
	OutcomeOK    = "ok"    // an answer the spec describes
	OutcomeConn  = "conn"  // no connection: refused, timed out, DNS
	OutcomeAuth  = "auth"  // 401 or 403
	OutcomeBad   = "bad"   // unexpected HTTP status or unparsable body
	OutcomeOther = "other" // anything else (connection cut mid-answer, TLS, ...)
)

// Petrosoft status codes (specs/petrosoft-monitoring-data-api.txt, "status").
const (
	StatusUnknown  = -1 // never derived yet (not a Petrosoft code; never pushed)
	StatusOnline   = 0  // cash register is online
	StatusNoConn   = 2  // no connection to the cash register
	StatusNoFiles  = 3  // the data from the register cannot be received (bad answers)
	StatusLogin    = 5  // error when logging into the cash register
	StatusUnknownE = 6  // unknown error
)

// Alerts derived from the answers and the Thresholds.
const (
	AlertPaperOut        = "paper_out"
	AlertVisionDown      = "vision_down"
	AlertOFDBacklog      = "ofd_backlog"
	AlertReceiptOpenLong = "receipt_open_long"
	AlertIdleLong        = "idle_long"
)

// Errors of Interpret, wrapped in *AnswerError.
var (
	ErrUnexpectedStatus = errors.New("poller: unexpected HTTP status")
	ErrBadBody          = errors.New("poller: unparsable body")
	ErrAuth             = errors.New("poller: authentication refused")
)

// AnswerError says why an answer of an endpoint is not usable.
type AnswerError struct {
	Endpoint string
	Code     int
	Err      error  // one of the sentinels
	Detail   string // what was wrong
}

func (e *AnswerError) Error() string {
	return fmt.Sprintf("%v: %s answered %d: %s", e.Err, e.Endpoint, e.Code, e.Detail)
}

func (e *AnswerError) Unwrap() error { return e.Err }

// Reading is what one usable answer says. Only the fields of its endpoint are
// set.
type Reading struct {
	Endpoint    string
	ReceiptOpen *bool     // last_receipt_time, downtime, weight
	Activity    time.Time // last_receipt_time 200: last activity in the open receipt
	Closed      time.Time // downtime 200: when the last receipt was closed
	UserID      string    // user_role_id
	OFDPending  int       // ofd
	Paper       *bool     // paper
	Vision      *bool     // vision
	Weight      float64   // weight 200
}

// MaxBody is the largest answer body read; a longer one is unparsable.
const MaxBody = 4096

// Interpret reads one answer of endpoint. loc is the zone of times written
// without one. The 204 answers of ofd ("no receipts") and user_role_id ("no
// user") are accepted although the spec lists only 200, since an empty answer
// is the natural way to say "none".
func Interpret(endpoint string, code int, body []byte, loc *time.Location) (Reading, error) {
	rd := Reading{Endpoint: endpoint}
	bad := func(err error, detail string) (Reading, error) {
		return rd, &AnswerError{Endpoint: endpoint, Code: code, Err: err, Detail: detail}
	}
	yes, no := true, false
	switch code {
	case 200, 204:
	case 401, 403:
		return bad(ErrAuth, "refused")
	default:
		return bad(ErrUnexpectedStatus, "want 200 or 204")
	}
	if len(body) > MaxBody {
		return bad(ErrBadBody, "body too long")
	}
	text := unquote(body)
	switch endpoint {
	case EpLastReceiptTime:
		if code == 204 {
			rd.ReceiptOpen = &no
			return rd, nil
		}
		t, err := ParseTime(text, loc)
		if err != nil {
			return bad(ErrBadBody, err.Error())
		}
		rd.ReceiptOpen, rd.Activity = &yes, t
	case EpDowntime:
		if code == 204 {
			rd.ReceiptOpen = &yes
			return rd, nil
		}
		t, err := ParseTime(text, loc)
		if err != nil {
			return bad(ErrBadBody, err.Error())
		}
		rd.ReceiptOpen, rd.Closed = &no, t
	case EpUserRoleID:
		if code == 204 {
			return rd, nil
		}
		if text == "" || len(text) > 64 || !utf8.ValidString(text) || strings.ContainsFunc(text, func(r rune) bool { return r < ' ' }) {
			return bad(ErrBadBody, "user id must be 1..64 printable characters")
		}
		rd.UserID = text
	case EpOFD:
		if code == 204 {
			return rd, nil
		}
		n, err := strconv.Atoi(text)
		if err != nil || n < 0 {
			return bad(ErrBadBody, "receipt count must be a non-negative integer")
		}
		rd.OFDPending = n
	case EpPaper:
		rd.Paper = map[bool]*bool{true: &yes, false: &no}[code == 200]
	case EpVision:
		rd.Vision = map[bool]*bool{true: &yes, false: &no}[code == 200]
	case EpWeight:
		if code == 204 {
			rd.ReceiptOpen = &yes
			return rd, nil
		}
		w, err := strconv.ParseFloat(strings.Replace(text, ",", ".", 1), 64)
		if err != nil || w != w || w > 1e9 || w < -1e9 {
			return bad(ErrBadBody, "weight must be a number")
		}
		rd.ReceiptOpen, rd.Weight = &no, w
	default:
		return bad(ErrUnexpectedStatus, "unknown endpoint")
	}
	return rd, nil
}

// unquote trims the body and removes JSON string quotes around it.
func unquote(body []byte) string {
	b := bytes.TrimSpace(body)
	if len(b) >= 2 && b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) == nil {
			return strings.TrimSpace(s)
		}
	}
	return string(b)
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999-07",
	"2006-01-02 15:04:05.999999999",
	"02.01.2006 15:04:05",
}

// ParseTime reads a date and time as the registers write them: ISO 8601 (with
// "T" or a space, with or without a zone), "DD.MM.YYYY hh:mm:ss", or Unix
// seconds (milliseconds when above 10^12). The spec does not name a format.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		switch {
		case n <= 0 || n > 1e15:
			return time.Time{}, errors.New("unix time out of range")
		case n > 1e12:
			return time.UnixMilli(n).UTC(), nil
		default:
			return time.Unix(n, 0).UTC(), nil
		}
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			if t.Year() < 1970 || t.Year() > 2200 {
				return time.Time{}, errors.New("time out of range")
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unknown time format %.40q", s)
}

// Derive is the Petrosoft status of a register from the last answer of each
// endpoint, the worst one winning: any "conn" → 2, else any "auth" → 5, else
// any "bad" → 3, else any "other" → 6, else 0. No answers at all is
// StatusUnknown.
func Derive(eps []store.RegisterEndpoint) int {
	if len(eps) == 0 {
		return StatusUnknown
	}
	seen := map[string]bool{}
	for _, e := range eps {
		seen[e.Outcome] = true
	}
	switch {
	case seen[OutcomeConn]:
		return StatusNoConn
	case seen[OutcomeAuth]:
		return StatusLogin
	case seen[OutcomeBad]:
		return StatusNoFiles
	case seen[OutcomeOther]:
		return StatusUnknownE
	}
	return StatusOnline
}

// Thresholds turn readings into alerts. A zero duration disables its alert.
type Thresholds struct {
	OFDPending  int           // ofd_backlog when more receipts than this wait for the operator
	OFDAge      time.Duration // ofd_backlog when receipts have been waiting longer than this
	ReceiptOpen time.Duration // receipt_open_long when a receipt stays open longer
	Idle        time.Duration // idle_long when no receipt was closed for longer
}

// Track is what a register's answers said so far, for the alerts.
type Track struct {
	ReceiptOpen *bool
	OpenSince   time.Time // receipt open since (the earlier of first seen open and its last activity)
	Closed      time.Time // last receipt closed at
	OFDPending  int
	OFDSince    time.Time // receipts waiting since (first seen waiting)
	Paper       *bool
	Vision      *bool
	UserID      string
	Weight      float64
}

// Apply folds a reading received at now into the track.
func (t *Track) Apply(r Reading, now time.Time) {
	if r.ReceiptOpen != nil {
		open := *r.ReceiptOpen
		wasOpen := t.ReceiptOpen != nil && *t.ReceiptOpen
		if open && !wasOpen {
			t.OpenSince = now
		}
		if open && !r.Activity.IsZero() && r.Activity.Before(t.OpenSince) {
			t.OpenSince = r.Activity
		}
		if !open {
			t.OpenSince = time.Time{}
		}
		t.ReceiptOpen = &open
	}
	if !r.Closed.IsZero() {
		t.Closed = r.Closed
	}
	switch r.Endpoint {
	case EpOFD:
		if r.OFDPending > 0 && t.OFDPending == 0 {
			t.OFDSince = now
		}
		if r.OFDPending == 0 {
			t.OFDSince = time.Time{}
		}
		t.OFDPending = r.OFDPending
	case EpPaper:
		t.Paper = r.Paper
	case EpVision:
		t.Vision = r.Vision
	case EpUserRoleID:
		t.UserID = r.UserID
	case EpWeight:
		t.Weight = r.Weight
	}
}

// Alerts lists the alerts of the track at now, sorted.
func (t *Track) Alerts(th Thresholds, now time.Time) []string {
	var a []string
	if t.Paper != nil && !*t.Paper {
		a = append(a, AlertPaperOut)
	}
	if t.Vision != nil && !*t.Vision {
		a = append(a, AlertVisionDown)
	}
	if t.OFDPending > th.OFDPending && th.OFDPending >= 0 ||
		th.OFDAge > 0 && t.OFDPending > 0 && now.Sub(t.OFDSince) > th.OFDAge {
		a = append(a, AlertOFDBacklog)
	}
	open := t.ReceiptOpen != nil && *t.ReceiptOpen
	if open && th.ReceiptOpen > 0 && now.Sub(t.OpenSince) > th.ReceiptOpen {
		a = append(a, AlertReceiptOpenLong)
	}
	if t.ReceiptOpen != nil && !open && th.Idle > 0 && !t.Closed.IsZero() && now.Sub(t.Closed) > th.Idle {
		a = append(a, AlertIdleLong)
	}
	slices.Sort(a)
	return a
}
