package evadts

import "time"

// ParseTime reads an EVA-DTS date (YYMMDD or YYYYMMDD) and time of day (HHMM,
// HHMMSS or empty for midnight) in loc, as EA1/EA2 events and the EA3..EA6
// records give them (the machine's local clock: the reader supplies its zone).
// ok is false when they do not read as a date and time.
func ParseTime(date, clock string, loc *time.Location) (t time.Time, ok bool) {
	var layout string
	switch len(date) {
	case 6:
		layout = "060102"
	case 8:
		layout = "20060102"
	default:
		return time.Time{}, false
	}
	switch len(clock) {
	case 0:
	case 4:
		layout += "1504"
	case 6:
		layout += "150405"
	default:
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(layout, date+clock, loc)
	return t, err == nil
}

// In is ParseTime of the record's date and time.
func (d DateTime) In(loc *time.Location) (time.Time, bool) { return ParseTime(d.Date, d.Time, loc) }
