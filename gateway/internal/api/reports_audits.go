package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"vendgate/dex/evadts"
	"vendgate/gateway/internal/store"
	"vendgate/internal/cp1251"
)

const msgReportNotFound = "Not found"

// reportJSON is one EVA-DTS audit (spec "Отчеты"): evadts_port is the port it
// was read from (1, or 2 with 2-DEX), null when unknown.
type reportJSON struct {
	Date       *string `json:"date"`
	Data       string  `json:"data"`
	EvadtsPort *int    `json:"evadts_port"`
}

// reportFormat is the rendering asked by the query flags.
type reportFormat struct {
	cp1251, base64, local bool
	port                  int // 0 = any
}

func readReportFormat(r *http.Request) (reportFormat, error) {
	var f reportFormat
	var err error
	if f.cp1251, err = queryBool(r, "cp1251"); err != nil {
		return f, err
	}
	if f.base64, err = queryBool(r, "base64"); err != nil {
		return f, err
	}
	if f.local, err = queryBool(r, "local"); err != nil {
		return f, err
	}
	if v := r.URL.Query().Get("port"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 255 {
			return f, errBadRequest("The port parameter must be a port number (1, or 2 for 2-DEX).")
		}
		f.port = p
	}
	return f, nil
}

// auditText renders an audit body. cp1251=1 re-encodes the UTF-8 text as
// Windows-1251 (characters it lacks become '?'; a body that is not UTF-8 is
// taken to be 8-bit already and kept). base64=1 then packs the bytes in
// standard BASE64. cp1251 without base64 cannot be sent as such in JSON (which
// is UTF-8): every byte is then written as the character U+0000-U+00FF of the
// same value, so a client recovers the bytes by taking each character's code.
func auditText(data []byte, cp, b64 bool) string {
	b := data
	if cp {
		b = toCP1251(data)
	}
	switch {
	case b64:
		return base64.StdEncoding.EncodeToString(b)
	case cp:
		var sb strings.Builder
		sb.Grow(len(b) * 2)
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return sb.String()
	}
	return string(b) // invalid UTF-8 is replaced by U+FFFD when encoded
}

func toCP1251(data []byte) []byte {
	if !utf8.Valid(data) {
		return data
	}
	if out, err := cp1251.FromUTF8(data); err == nil {
		return out
	}
	out := make([]byte, 0, len(data))
	var buf [utf8.UTFMax]byte
	for _, r := range string(data) {
		n := utf8.EncodeRune(buf[:], r)
		if c, err := cp1251.FromUTF8(buf[:n]); err == nil {
			out = append(out, c...)
		} else {
			out = append(out, '?')
		}
	}
	return out
}

func (s *server) toReportJSON(a store.Audit, m store.Machine, f reportFormat) reportJSON {
	out := reportJSON{Date: fmtTime(a.Time, s.machineLoc(m, f.local)), Data: auditText(a.Data, f.cp1251, f.base64)}
	if a.Port > 0 {
		p := a.Port
		out.EvadtsPort = &p
	}
	return out
}

// handleReportList is GET /v2/vending_machines/{id}/reports{?since,until,cp1251,base64,port,local}.
func (s *server) handleReportList(w http.ResponseWriter, r *http.Request, sess *session) error {
	f, err := readReportFormat(r)
	if err != nil {
		return err
	}
	m, err := s.machineFor(r, sess)
	if err != nil {
		return err
	}
	since, until, err := reportRange(r, s.machineLoc(m, f.local), s.cfg.Now(), reportLimits)
	if err != nil {
		return err
	}
	as, err := s.cfg.Store.ListAudits(r.Context(), m.ID, f.port, since, until)
	if err != nil {
		return err
	}
	out := make([]reportJSON, 0, len(as))
	for _, a := range as {
		out = append(out, s.toReportJSON(a, m, f))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleReportGet is GET /v2/vending_machines/{id}/reports/{rid}: one audit
// by id, of the last 14 days; a port given must match.
func (s *server) handleReportGet(w http.ResponseWriter, r *http.Request, sess *session) error {
	f, err := readReportFormat(r)
	if err != nil {
		return err
	}
	m, err := s.machineFor(r, sess)
	if err != nil {
		return err
	}
	rid, err := pathID(r, "rid", msgReportNotFound)
	if err != nil {
		return err
	}
	rep, err := s.reportsStore()
	if err != nil {
		return err
	}
	a, err := rep.GetAudit(r.Context(), m.ID, rid)
	if errors.Is(err, store.ErrNotFound) ||
		(err == nil && (a.Time.Before(s.cfg.Now().Add(-ReportMaxDepth)) || (f.port != 0 && a.Port != f.port))) {
		return errNotFound(msgReportNotFound)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.toReportJSON(a, m, f))
	return nil
}

// handleReportLast is GET .../reports/last: the newest audit, valid or not.
func (s *server) handleReportLast(w http.ResponseWriter, r *http.Request, sess *session) error {
	return s.lastReport(w, r, sess, false)
}

// handleReportLastValid is GET .../reports/last_valid: the newest valid audit.
func (s *server) handleReportLastValid(w http.ResponseWriter, r *http.Request, sess *session) error {
	return s.lastReport(w, r, sess, true)
}

func (s *server) lastReport(w http.ResponseWriter, r *http.Request, sess *session, valid bool) error {
	f, err := readReportFormat(r)
	if err != nil {
		return err
	}
	m, err := s.machineFor(r, sess)
	if err != nil {
		return err
	}
	rep, err := s.reportsStore()
	if err != nil {
		return err
	}
	a, err := rep.LastAudit(r.Context(), m.ID, f.port, valid, s.cfg.Now().Add(-ReportMaxDepth))
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound(msgReportNotFound)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.toReportJSON(a, m, f))
	return nil
}

// lastErrorJSON is one entry of reports/last_errors.
type lastErrorJSON struct {
	Code       string  `json:"code"`
	EvadtsPort *int    `json:"evadts_port"`
	ModemTime  *string `json:"modem_time"`
	CreatedAt  *string `json:"created_at"`
	Value      string  `json:"value"`
}

// lastErrorLayout is the spec's example format of last_errors times
// ("2020-01-01T07:00:00.000000Z"); with local=1 the offset replaces Z.
const lastErrorLayout = "2006-01-02T15:04:05.000000Z07:00"

func fmtMicro(t time.Time, loc *time.Location) *string {
	if t.IsZero() {
		return nil
	}
	s := t.In(loc).Format(lastErrorLayout)
	return &s
}

// handleReportLastErrors is GET .../reports/last_errors{?local}: the error
// and event notices of the machine (spec "EVA-DTS. Ошибки") taken from the
// newest audit of each port of the last 14 days. Every EA1 timed event is one
// entry; an EA2 event counter is one when the event is active (EA205 = 1) or
// occurred since the last reset (EA202 > 0). code is the event id (EA101 /
// EA201); value is the manufacturer's error number for vendor codes of the
// form letters+digits ("D54" → "54", as the spec's example), otherwise the
// count since reset (EA2) or the duration (EA1). modem_time is when the audit
// was read, created_at when the gateway received it.
func (s *server) handleReportLastErrors(w http.ResponseWriter, r *http.Request, sess *session) error {
	local, err := queryBool(r, "local")
	if err != nil {
		return err
	}
	m, err := s.machineFor(r, sess)
	if err != nil {
		return err
	}
	rep, err := s.reportsStore()
	if err != nil {
		return err
	}
	as, err := rep.LastAuditsByPort(r.Context(), m.ID, s.cfg.Now().Add(-ReportMaxDepth))
	if err != nil {
		return err
	}
	loc := s.machineLoc(m, local)
	out := []lastErrorJSON{}
	for _, a := range as {
		out = append(out, auditErrors(a, loc)...)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// auditErrors extracts last_errors entries from one audit.
func auditErrors(a store.Audit, loc *time.Location) []lastErrorJSON {
	reps, err := evadts.ParseBytes(a.Data)
	if err != nil || len(reps) == 0 {
		return nil
	}
	var port *int
	if a.Port > 0 {
		p := a.Port
		port = &p
	}
	entry := func(code, value string) lastErrorJSON {
		if vc, ok := vendorCode(code); ok {
			value = vc
		}
		return lastErrorJSON{Code: code, EvadtsPort: port, ModemTime: fmtMicro(a.Time, loc),
			CreatedAt: fmtMicro(a.Received, loc), Value: value}
	}
	var out []lastErrorJSON
	ev := reps[0].Events
	for _, e := range ev.Timed {
		if e.Code != "" {
			out = append(out, entry(e.Code, strconv.FormatInt(e.Duration, 10)))
		}
	}
	for _, c := range ev.Counters {
		if c.Code != "" && (c.Active == "1" || c.CountReset > 0) {
			out = append(out, entry(c.Code, strconv.FormatInt(c.CountReset, 10)))
		}
	}
	return out
}

// vendorCode splits a manufacturer error code of the form 1-3 letters then
// 1-4 digits ("D54") and returns the digits.
func vendorCode(code string) (string, bool) {
	i := 0
	for i < len(code) && code[i] >= 'A' && code[i] <= 'Z' {
		i++
	}
	digits := code[i:]
	if i == 0 || i > 3 || len(digits) == 0 || len(digits) > 4 {
		return "", false
	}
	for j := 0; j < len(digits); j++ {
		if digits[j] < '0' || digits[j] > '9' {
			return "", false
		}
	}
	return digits, true
}
