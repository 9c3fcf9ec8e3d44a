package api

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// TestLocalTimesFollowMachineZone checks spec "Time stamps" end to end: every
// time is ISO-8601 with an offset, +00:00 by default, and with local=1 in the
// machine's own zone, including its daylight-saving offset at that instant and
// half-hour offsets; a machine without a (valid) zone stays in UTC.
func TestLocalTimesFollowMachineZone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	summer := time.Date(2024, 7, 1, 10, 0, 0, 0, time.UTC)
	winter := time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		tz         string
		at         time.Time
		local, utc string
	}{
		{"Europe/Berlin", summer, "2024-07-01T12:00:00+02:00", "2024-07-01T10:00:00+00:00"},
		{"Europe/Berlin", winter, "2024-01-15T11:00:00+01:00", "2024-01-15T10:00:00+00:00"},
		{"Asia/Kolkata", winter, "2024-01-15T15:30:00+05:30", "2024-01-15T10:00:00+00:00"},
		{"America/Grenada", winter, "2024-01-15T06:00:00-04:00", "2024-01-15T10:00:00+00:00"},
		{"", winter, "2024-01-15T10:00:00+00:00", "2024-01-15T10:00:00+00:00"},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%s_%s", c.tz, c.at.Format("Jan")), func(t *testing.T) {
			m := e.modem(fmt.Sprintf("86000000000%04d", i), store.DefaultCompanyID)
			vm := e.machine("vm", store.DefaultCompanyID, m.ID, c.tz)
			require.NoError(t, e.st.ApplyUplinks(ctx, []store.Uplink{{Kind: store.UpVend, ModemID: m.ID, Received: c.at,
				Vend: &store.Vend{MsgID: "v", OK: true, Time: c.at}}}))
			path := fmt.Sprintf("/v2/vending_machines/%d/timestamp", vm.ID)
			require.Equal(t, c.local, e.do("GET", path+"?local=1", e.adminTok, nil).obj(t)["last_sale"])
			require.Equal(t, c.utc, e.do("GET", path, e.adminTok, nil).obj(t)["last_sale"])
			require.Equal(t, c.utc, e.do("GET", path+"?local=0", e.adminTok, nil).obj(t)["last_sale"])
			detail := e.do("GET", fmt.Sprintf("/v2/vending_machines/%d?local=1", vm.ID), e.adminTok, nil).obj(t)
			require.Equal(t, c.local, detail["last_event_dates"].(map[string]any)["last_sale"])
		})
	}
}

// TestEventsPeriodInMachineZone: with local=1 a since/until without an offset
// is the machine's wall clock; with an offset it is that instant whatever
// local says.
func TestEventsPeriodInMachineZone(t *testing.T) {
	e := newEnv(t)
	m := e.modem("860000000009999", store.DefaultCompanyID)
	vm := e.machine("vm", store.DefaultCompanyID, m.ID, "Asia/Vladivostok") // +10:00, no DST
	at := t0.Add(-2 * time.Hour)                                            // 10:00 UTC = 20:00 local
	require.NoError(t, e.st.ApplyUplinks(context.Background(), []store.Uplink{{Kind: store.UpEvent, ModemID: m.ID, Received: at,
		Event: &store.Event{MsgID: "e", Code: "EA", Time: at}}}))
	path := fmt.Sprintf("/v2/vending_machines/%d/events", vm.ID)
	count := func(q string) int { return len(e.do("GET", path+q, e.adminTok, nil).arr(t)) }

	require.Equal(t, 1, count("?since=2024-05-10T19:30:00&until=2024-05-10T20:30:00&local=1"), "local wall clock")
	require.Equal(t, 0, count("?since=2024-05-10T19:30:00&until=2024-05-10T20:30:00"), "same text read as UTC")
	require.Equal(t, 1, count("?since=2024-05-10T09:30:00&until=2024-05-10T10:30:00"), "UTC without local")
	require.Equal(t, 1, count("?since=2024-05-10%2019:30:00%2B10&until=2024-05-10%2020:30:00%2B10"), "spec's short offset")
	require.Equal(t, 1, count("?since=2024-05-10T19:30:00+10:00&until=2024-05-10T20:30:00+10:00&local=0"), "unencoded '+' arrives as a space")
	ev := e.do("GET", path+"?since=2024-05-10T19:30:00&until=2024-05-10T20:30:00&local=1", e.adminTok, nil).arr(t)
	require.Equal(t, "2024-05-10T20:00:00+10:00", ev[0].(map[string]any)["date"])
}

// TestMeLastLoginHasOffset: the spec's example shows "2016-02-14T22:44:33"
// without an offset; vendgate always sends one (spec "Time stamps").
func TestMeLastLoginHasOffset(t *testing.T) {
	e := newEnv(t)
	require.Nil(t, e.do("GET", "/v2/me", e.adminTok, nil).obj(t)["last_login"], "never logged in: null")
	require.NoError(t, e.st.TouchLogin(context.Background(), e.admin.ID, time.Date(2016, 2, 14, 22, 44, 33, 0, time.UTC)))
	require.Equal(t, "2016-02-14T22:44:33+00:00", e.do("GET", "/v2/me", e.adminTok, nil).obj(t)["last_login"])
}
