package ukm5

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, c *http.Client, u string) (int, string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestAnswers(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	f := New(Config{N: 2, Now: func() time.Time { return now }})
	srv := httptest.NewServer(f.Handler())
	defer srv.Close()
	base := f.BaseURLs(strings.TrimPrefix(srv.URL, "http://"))[1]
	tests := []struct {
		ep   string
		code int
		body string
	}{
		{"last_receipt_time", 204, ""}, {"downtime", 200, "2024-05-01T11:59:00Z"}, {"user_role_id", 200, "2"},
		{"ofd", 200, "0"}, {"paper", 200, ""}, {"vision", 200, ""}, {"weight", 200, "0.000"}, {"nope", 404, "404 page not found\n"},
	}
	for _, tc := range tests {
		t.Run(tc.ep, func(t *testing.T) {
			code, body, err := get(t, srv.Client(), base+"/api/v1/status/"+tc.ep)
			require.NoError(t, err)
			assert.Equal(t, tc.code, code)
			assert.Equal(t, tc.body, body)
		})
	}
	f.Register(1).Update(func(s *State) { s.ReceiptOpen, s.LastActivity, s.Paper = true, now, false })
	code, body, _ := get(t, srv.Client(), base+"/api/v1/status/last_receipt_time")
	assert.Equal(t, 200, code)
	assert.Equal(t, "2024-05-01T12:00:00Z", body)
	code, _, _ = get(t, srv.Client(), base+"/api/v1/status/paper")
	assert.Equal(t, 204, code)
	st := f.Register(1).Stats()
	assert.EqualValues(t, len(tests)+2, st.Requests)
	assert.EqualValues(t, len(tests)+1, st.Below1s, "all at the same fake instant")
	assert.Len(t, f.Register(1).Requests(), len(tests)+2)
	assert.Zero(t, f.Register(0).Stats().Requests)
}

func TestFaultsPerPort(t *testing.T) {
	f := New(Config{N: 1, Slow: 2 * time.Second})
	urls, err := f.ListenEach("127.0.0.1")
	require.NoError(t, err)
	defer f.Close()
	c := &http.Client{Timeout: 500 * time.Millisecond}
	u := urls[0] + "/api/v1/status/ofd"
	for _, tc := range []struct {
		f    Fault
		code int
		err  bool
	}{{Fault500, 500, false}, {Fault401, 401, false}, {FaultMalformed, 200, false}, {FaultHangup, 0, true},
		{FaultSlow, 0, true}, {FaultDown, 0, true}, {FaultNone, 200, false}} {
		t.Run(string(tc.f)+"_", func(t *testing.T) {
			require.NoError(t, f.Register(0).SetFault(tc.f))
			code, body, err := get(t, c, u)
			if tc.err {
				require.Error(t, err)
				if tc.f == FaultDown {
					assert.Contains(t, err.Error(), "refused")
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.code, code)
			if tc.f == FaultMalformed {
				assert.Contains(t, body, "garbage")
			}
		})
	}
}

func TestControlAndStep(t *testing.T) {
	f := New(Config{N: 20, Seed: 1})
	srv := httptest.NewServer(f.Handler())
	defer srv.Close()
	post := func(path, body string) int {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, 200, post("/control/registers/3/fault?kind=500", ""))
	assert.Equal(t, Fault500, f.Register(3).Fault())
	assert.Equal(t, 400, post("/control/registers/3/fault?kind=weird", ""))
	assert.Equal(t, 404, post("/control/registers/99/fault?kind=500", ""))
	assert.Equal(t, 200, post("/control/registers/4/state", `{"paper":false,"ofd_pending":7}`))
	assert.False(t, f.Register(4).State().Paper)
	assert.Equal(t, 7, f.Register(4).State().OFDPending)
	assert.Equal(t, 400, post("/control/registers/4/state", `{"paper":"x"}`))
	assert.Equal(t, 7, f.Register(4).State().OFDPending, "bad body changes nothing")
	assert.Equal(t, 200, post("/control/fault?kind=401&from=10&to=20", ""))
	assert.Equal(t, Fault401, f.Register(15).Fault())
	assert.Equal(t, FaultNone, f.Register(9).Fault())
	assert.Equal(t, 400, post("/control/fault?kind=401&from=10&to=99", ""))

	before := make([]State, 20)
	for i := range before {
		before[i] = f.Register(i).State()
	}
	for range 50 {
		f.Step()
	}
	changed := 0
	for i := range before {
		if f.Register(i).State() != before[i] {
			changed++
		}
	}
	assert.Greater(t, changed, 15, "state changes over time")
}
