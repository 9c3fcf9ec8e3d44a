package api

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	msk := time.FixedZone("MSK", 3*3600)
	want := time.Date(2018, 1, 1, 0, 0, 0, 0, msk)
	vla, err := time.LoadLocation("Asia/Vladivostok")
	require.NoError(t, err)
	for _, c := range []struct {
		in   string
		loc  *time.Location
		want time.Time
	}{
		{"2018-01-01T00:00:00+03:00", nil, want},
		{"2018-01-01T00:00:00 03:00", nil, want}, // '+' decoded as space
		{"2018-01-01 00:00:00+03", nil, want},
		{"2018-01-01 00:00:00 03", nil, want},
		{"2018-01-01 00:00:00+0300", nil, want},
		{"2018-01-01T00:00:00 0300", nil, want},
		{"2017-12-31T21:00:00Z", nil, want},
		{"2018-01-01T00:00:00.000+03:00", nil, want},
		{"2017-12-31T18:00:00-03:00", nil, want},
		{"2018-01-01T00:00+03:00", nil, want},
		{"  2018-01-01T00:00:00+03:00 ", nil, want},
		{"2017-12-31T21:00:00", nil, want}, // no offset: UTC
		{"2017-12-31 21:00:00", nil, want}, // no offset, space separator stays
		{"2018-01-01T07:00:00", vla, want}, // no offset: in loc
		{"2018-01-01", vla, time.Date(2018, 1, 1, 0, 0, 0, 0, vla)},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := parseTime(c.in, c.loc)
			require.NoError(t, err)
			require.Truef(t, c.want.Equal(got), "got %v want %v", got, c.want)
		})
	}
	for _, bad := range []string{"", "yesterday", "2018-13-01", "2018-01-01T25:00:00Z", "2018-01-01 03", "1514764800",
		"2018-01-01T00:00:00+03:00:00", "2018-01-01T00:00:00 3", "2018-01-01T00:00:00 ab"} {
		t.Run("bad "+bad, func(t *testing.T) {
			_, err := parseTime(bad, nil)
			require.ErrorIs(t, err, errTimeFormat)
		})
	}
}

func TestFmtTime(t *testing.T) {
	t.Parallel()
	require.Nil(t, fmtTime(time.Time{}, nil))
	ts := time.Date(2015, 12, 22, 9, 9, 20, 0, time.UTC)
	require.Equal(t, "2015-12-22T09:09:20+00:00", *fmtTime(ts, nil))
	msk, err := time.LoadLocation("Europe/Moscow")
	require.NoError(t, err)
	require.Equal(t, "2015-12-22T12:09:20+03:00", *fmtTime(ts, msk))
}

func TestImeiValue(t *testing.T) {
	t.Parallel()
	require.Nil(t, imeiValue(""))
	require.Equal(t, json.Number("999999999123456"), imeiValue("999999999123456"))
	require.Equal(t, "0123", imeiValue("0123"))
	require.Equal(t, "9999999991234567", imeiValue("9999999991234567"))
	require.Equal(t, "12a", imeiValue("12a"))
}
