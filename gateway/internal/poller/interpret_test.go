package poller

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

func TestInterpret(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	ts := time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name, ep string
		code     int
		body     string
		err      error
		check    func(t *testing.T, r Reading)
	}{
		{"open receipt", EpLastReceiptTime, 200, "2024-05-01T12:00:00+03:00", nil, func(t *testing.T, r Reading) {
			assert.True(t, *r.ReceiptOpen)
			assert.Equal(t, ts, r.Activity)
		}},
		{"open receipt local time", EpLastReceiptTime, 200, "2024-05-01 12:00:00", nil, func(t *testing.T, r Reading) { assert.Equal(t, ts, r.Activity) }},
		{"open receipt quoted", EpLastReceiptTime, 200, `"01.05.2024 12:00:00"`, nil, func(t *testing.T, r Reading) { assert.Equal(t, ts, r.Activity) }},
		{"open receipt unix", EpLastReceiptTime, 200, "1714554000", nil, func(t *testing.T, r Reading) { assert.Equal(t, ts, r.Activity) }},
		{"no receipt", EpLastReceiptTime, 204, "", nil, func(t *testing.T, r Reading) { assert.False(t, *r.ReceiptOpen) }},
		{"bad time", EpLastReceiptTime, 200, "yesterday", ErrBadBody, nil},
		{"empty time", EpDowntime, 200, "", ErrBadBody, nil},
		{"downtime", EpDowntime, 200, "1714554000000", nil, func(t *testing.T, r Reading) {
			assert.False(t, *r.ReceiptOpen)
			assert.Equal(t, ts, r.Closed)
		}},
		{"downtime open", EpDowntime, 204, "", nil, func(t *testing.T, r Reading) { assert.True(t, *r.ReceiptOpen) }},
		{"user", EpUserRoleID, 200, " 42\n", nil, func(t *testing.T, r Reading) { assert.Equal(t, "42", r.UserID) }},
		{"user empty", EpUserRoleID, 200, "", ErrBadBody, nil},
		{"user control chars", EpUserRoleID, 200, "a\x01b", ErrBadBody, nil},
		{"ofd", EpOFD, 200, "17", nil, func(t *testing.T, r Reading) { assert.Equal(t, 17, r.OFDPending) }},
		{"ofd none", EpOFD, 204, "", nil, func(t *testing.T, r Reading) { assert.Zero(t, r.OFDPending) }},
		{"ofd negative", EpOFD, 200, "-1", ErrBadBody, nil},
		{"ofd text", EpOFD, 200, "many", ErrBadBody, nil},
		{"paper", EpPaper, 200, "", nil, func(t *testing.T, r Reading) { assert.True(t, *r.Paper) }},
		{"no paper", EpPaper, 204, "", nil, func(t *testing.T, r Reading) { assert.False(t, *r.Paper) }},
		{"vision down", EpVision, 204, "", nil, func(t *testing.T, r Reading) { assert.False(t, *r.Vision) }},
		{"weight comma", EpWeight, 200, "1,250", nil, func(t *testing.T, r Reading) {
			assert.InDelta(t, 1.25, r.Weight, 1e-9)
			assert.False(t, *r.ReceiptOpen)
		}},
		{"weight NaN", EpWeight, 200, "NaN", ErrBadBody, nil},
		{"weight open", EpWeight, 204, "", nil, func(t *testing.T, r Reading) { assert.True(t, *r.ReceiptOpen) }},
		{"401", EpPaper, 401, "", ErrAuth, nil},
		{"403", EpPaper, 403, "", ErrAuth, nil},
		{"500", EpPaper, 500, "", ErrUnexpectedStatus, nil},
		{"302", EpOFD, 302, "", ErrUnexpectedStatus, nil},
		{"too long", EpOFD, 200, string(make([]byte, MaxBody+1)), ErrBadBody, nil},
		{"unknown endpoint", "x", 200, "", ErrUnexpectedStatus, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Interpret(tc.ep, tc.code, []byte(tc.body), msk)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				var ae *AnswerError
				require.True(t, errors.As(err, &ae))
				assert.Equal(t, tc.ep, ae.Endpoint)
				assert.Contains(t, err.Error(), "poller: ")
				return
			}
			require.NoError(t, err)
			tc.check(t, r)
		})
	}
}

func TestDerive(t *testing.T) {
	eps := func(outcomes ...string) []store.RegisterEndpoint {
		var out []store.RegisterEndpoint
		for _, o := range outcomes {
			out = append(out, store.RegisterEndpoint{Outcome: o})
		}
		return out
	}
	tests := []struct {
		name string
		in   []store.RegisterEndpoint
		want int
	}{
		{"none", nil, StatusUnknown},
		{"all ok", eps("ok", "ok", "ok"), StatusOnline},
		{"conn wins", eps("ok", "auth", "bad", "other", "conn"), StatusNoConn},
		{"auth over bad", eps("bad", "auth", "other"), StatusLogin},
		{"bad over other", eps("other", "bad", "ok"), StatusNoFiles},
		{"other", eps("ok", "other"), StatusUnknownE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, Derive(tc.in)) })
	}
}

func TestAlerts(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	yes, no := true, false
	th := Thresholds{OFDPending: 5, OFDAge: 10 * time.Minute, ReceiptOpen: 5 * time.Minute, Idle: time.Hour}
	tests := []struct {
		name  string
		reads []Reading
		at    time.Duration // after t0, when the alerts are asked
		want  []string
	}{
		{"healthy", []Reading{{Endpoint: EpPaper, Paper: &yes}, {Endpoint: EpVision, Vision: &yes}}, 0, nil},
		{"paper and vision", []Reading{{Endpoint: EpPaper, Paper: &no}, {Endpoint: EpVision, Vision: &no}}, 0,
			[]string{AlertPaperOut, AlertVisionDown}},
		{"ofd count", []Reading{{Endpoint: EpOFD, OFDPending: 6}}, 0, []string{AlertOFDBacklog}},
		{"ofd few but fresh", []Reading{{Endpoint: EpOFD, OFDPending: 2}}, 9 * time.Minute, nil},
		{"ofd few but old", []Reading{{Endpoint: EpOFD, OFDPending: 2}}, 11 * time.Minute, []string{AlertOFDBacklog}},
		{"receipt open long by activity", []Reading{{Endpoint: EpLastReceiptTime, ReceiptOpen: &yes, Activity: t0.Add(-6 * time.Minute)}}, 0,
			[]string{AlertReceiptOpenLong}},
		{"receipt open briefly", []Reading{{Endpoint: EpLastReceiptTime, ReceiptOpen: &yes, Activity: t0}}, time.Minute, nil},
		{"idle", []Reading{{Endpoint: EpDowntime, ReceiptOpen: &no, Closed: t0.Add(-2 * time.Hour)}}, 0, []string{AlertIdleLong}},
		{"not idle", []Reading{{Endpoint: EpDowntime, ReceiptOpen: &no, Closed: t0.Add(-time.Minute)}}, 0, nil},
		{"closed again", []Reading{{Endpoint: EpLastReceiptTime, ReceiptOpen: &yes, Activity: t0.Add(-time.Hour)},
			{Endpoint: EpWeight, ReceiptOpen: &no}}, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr Track
			for _, r := range tc.reads {
				tr.Apply(r, t0)
			}
			assert.Equal(t, tc.want, tr.Alerts(th, t0.Add(tc.at)))
		})
	}
}

func FuzzInterpret(f *testing.F) {
	for _, s := range []string{"", "17", "2024-05-01 12:00:00", "\"01.05.2024 12:00:00\"", "1714554000", "1,5", "NaN", "\"\\u0000\"", "-0"} {
		for _, ep := range Endpoints {
			f.Add(ep, 200, s)
		}
	}
	f.Add("ofd", 204, "")
	f.Add("paper", 401, "x")
	f.Fuzz(func(t *testing.T, ep string, code int, body string) {
		r, err := Interpret(ep, code, []byte(body), time.UTC)
		if err != nil {
			var ae *AnswerError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *AnswerError", err)
			}
			return
		}
		if code != 200 && code != 204 {
			t.Fatalf("code %d accepted", code)
		}
		if r.OFDPending < 0 {
			t.Fatal("negative OFD count")
		}
		var tr Track
		tr.Apply(r, time.Unix(1714554000, 0))
		_ = tr.Alerts(Thresholds{OFDAge: time.Minute, ReceiptOpen: time.Minute, Idle: time.Minute}, time.Unix(1714554000, 0))
	})
}
