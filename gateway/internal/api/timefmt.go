package api

import (
	"errors"
	"strings"
	"time"
)

// isoLayout is the spec's timestamp format YYYY-MM-DDTHH:mm:ss+HH:MM ("Time
// stamps"). UTC is written "+00:00", as the spec's /timestamp section shows.
const isoLayout = "2006-01-02T15:04:05-07:00"

// modemTimeLayout is the dispense error's "modem_time" ("2023-07-28 12:32:57").
const modemTimeLayout = "2006-01-02 15:04:05"

// fmtTime renders t in loc (UTC when nil); the zero time is null.
func fmtTime(t time.Time, loc *time.Location) *string {
	if t.IsZero() {
		return nil
	}
	if loc == nil {
		loc = time.UTC
	}
	s := t.In(loc).Format(isoLayout)
	return &s
}

// Accepted layouts of since/until, tried in order. The spec's examples use both
// "2018-01-01T00:00:00+03:00" and "2018-01-01 00:00:00+03".
var (
	zonedLayouts = []string{
		"2006-01-02T15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999Z0700",
		"2006-01-02T15:04:05.999999999Z07",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999Z0700",
		"2006-01-02 15:04:05.999999999Z07",
		"2006-01-02T15:04Z07:00",
		"2006-01-02 15:04Z07:00",
	}
	localLayouts = []string{
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04",
		"2006-01-02 15:04",
		"2006-01-02",
	}
)

var errTimeFormat = errors.New("api: bad time format")

// parseTime reads a since/until value. A value without an offset is in loc.
// An unencoded '+' of the offset arrives as a space after URL decoding
// ("2018-01-01 00:00:00 03"); that space is put back to '+'.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if len(s) > 64 {
		return time.Time{}, errTimeFormat
	}
	s = restorePlus(s)
	for _, l := range zonedLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	if loc == nil {
		loc = time.UTC
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errTimeFormat
}

// restorePlus turns "…HH:MM:SS 03", "…HH:MM:SS 0300" and "…HH:MM:SS 03:00" back
// into "+03" etc. Only a space after a time of day and followed by an offset is
// touched, so "2018-01-01 00:00:00" keeps its date/time space.
func restorePlus(s string) string {
	i := strings.LastIndexByte(s, ' ')
	if i < 0 {
		return s
	}
	head, off := s[:i], s[i+1:]
	if !isOffset(off) {
		return s
	}
	// head must end with a time of day: ...HH:MM or ...HH:MM:SS[.fff]
	j := strings.LastIndexAny(head, "T ")
	if j < 0 || !strings.Contains(head[j+1:], ":") {
		return s
	}
	return head + "+" + off
}

// isOffset reports whether s looks like HH, HHMM or HH:MM.
func isOffset(s string) bool {
	digits := func(t string) bool {
		for i := 0; i < len(t); i++ {
			if t[i] < '0' || t[i] > '9' {
				return false
			}
		}
		return true
	}
	switch len(s) {
	case 2, 4:
		return digits(s)
	case 5:
		return s[2] == ':' && digits(s[:2]) && digits(s[3:])
	}
	return false
}

// location returns the machine's zone, cached; nil for "" or an unknown name
// (then UTC is used).
func (s *server) location(name string) *time.Location {
	if name == "" {
		return nil
	}
	if v, ok := s.locs.Load(name); ok {
		loc, _ := v.(*time.Location)
		return loc
	}
	loc, err := loadLocation(name)
	if err != nil {
		loc = nil
	}
	s.locs.Store(name, loc)
	return loc
}

// loadLocation is time.LoadLocation without the server-dependent "Local".
func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" || len(name) > 64 {
		return nil, errTimeFormat
	}
	return time.LoadLocation(name)
}
