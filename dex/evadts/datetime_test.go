package evadts

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	for _, c := range []struct {
		date, clock string
		want        time.Time
		ok          bool
	}{
		{"240510", "1230", time.Date(2024, 5, 10, 12, 30, 0, 0, msk), true},
		{"20240510", "123045", time.Date(2024, 5, 10, 12, 30, 45, 0, msk), true},
		{"240510", "", time.Date(2024, 5, 10, 0, 0, 0, 0, msk), true},
		{"241340", "1230", time.Time{}, false}, // no such month
		{"2405", "1230", time.Time{}, false},
		{"240510", "12", time.Time{}, false},
		{"", "", time.Time{}, false},
	} {
		got, ok := ParseTime(c.date, c.clock, msk)
		if ok != c.ok || (ok && !got.Equal(c.want)) {
			t.Errorf("ParseTime(%q, %q) = %v %v, want %v %v", c.date, c.clock, got, ok, c.want, c.ok)
		}
		if got2, ok2 := (DateTime{Date: c.date, Time: c.clock}).In(msk); ok2 != ok || !got2.Equal(got) {
			t.Errorf("DateTime.In differs from ParseTime for %q %q", c.date, c.clock)
		}
	}
}
