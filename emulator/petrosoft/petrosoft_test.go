package petrosoft

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, body string
		bad        []string // fields reported
	}{
		{"minimal", `{"status":0,"time":1714554000}`, nil},
		{"full", `{"status":6,"time":1714554000,"received_from_cloud":1714550000,"cloud_online":false}`, nil},
		{"bad status", `{"status":1,"time":1}`, []string{"status"}},
		{"status text", `{"status":"0","time":1}`, []string{"status"}},
		{"status float", `{"status":0.5,"time":1}`, []string{"status"}},
		{"no time", `{"status":0}`, []string{"time"}},
		{"zero time", `{"status":0,"time":0}`, []string{"time"}},
		{"cloud_online text", `{"status":0,"time":1,"cloud_online":"yes"}`, []string{"cloud_online"}},
		{"unknown field", `{"status":0,"time":1,"extra":1}`, []string{"extra"}},
		{"array", `[1]`, []string{"body"}},
		{"null", `null`, []string{"body"}},
		{"trailing", `{"status":0,"time":1} {}`, []string{"body"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, errs := Parse([]byte(tc.body))
			if tc.bad == nil {
				require.Nil(t, errs)
				assert.Positive(t, p.Time)
				return
			}
			for _, f := range tc.bad {
				assert.Contains(t, errs, f)
			}
			assert.Len(t, errs, len(tc.bad))
		})
	}
}

func post(t *testing.T, h http.Handler, path, token, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestServer(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	s := New(Config{Token: "tok", Now: func() time.Time { return now }})
	ok := `{"status":2,"time":1714554000}`

	rec := post(t, s, "/monitoring/st-1", "tok", ok)
	require.Equal(t, 200, rec.Code)
	assert.JSONEq(t, `{"status":true,"success":true}`, rec.Body.String())

	assert.Equal(t, 401, post(t, s, "/monitoring/st-1", "wrong", ok).Code)
	assert.Equal(t, 401, post(t, s, "/monitoring/st-1", "", ok).Code)
	assert.Equal(t, 422, post(t, s, "/monitoring/st-1", "tok", `{"status":9,"time":1}`).Code)
	assert.Equal(t, 404, post(t, s, "/other/st-1", "tok", ok).Code)

	s.SetMode(ModeReject, time.Minute)
	rec = post(t, s, "/monitoring/st-1", "tok", ok)
	assert.Equal(t, 200, rec.Code)
	assert.JSONEq(t, `{"status":false,"success":false,"message":"temporarily not accepted"}`, rec.Body.String())
	s.SetMode(Mode500, time.Minute)
	assert.Equal(t, 500, post(t, s, "/monitoring/st-1", "tok", ok).Code)
	now = now.Add(time.Minute) // the failure ends by itself
	assert.Equal(t, 200, post(t, s, "/monitoring/st-2", "tok", `{"status":0,"time":1714554001,"cloud_online":true}`).Code)

	got := s.Pushes("")
	require.Len(t, got, 2)
	assert.Equal(t, "st-1", got[0].Station)
	assert.Equal(t, 2, got[0].Status)
	assert.True(t, *got[1].CloudOnline)
	assert.Len(t, s.Pushes("st-2"), 1)
	assert.Equal(t, map[string]int{"token": 2, "body": 1, "mode": 2}, s.Refused())
}

func TestControl(t *testing.T) {
	s := New(Config{Token: "tok"})
	srv := httptest.NewServer(s)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/_control/mode?mode=down&for=1h", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	req, _ := http.NewRequest(http.MethodPost, s.URL(srv.URL), strings.NewReader(`{"status":0,"time":1}`))
	req.URL.Path = "/monitoring/x"
	req.Header.Set("Authorization", "Bearer tok")
	_, err = http.DefaultClient.Do(req)
	require.Error(t, err, "down cuts the connection")
	resp, err = http.Post(srv.URL+"/_control/mode?mode=bogus", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 400, resp.StatusCode)
	_, err = ParseMode("slow")
	require.NoError(t, err)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"status":0,"time":1}`, `{"status":6,"time":1,"received_from_cloud":2,"cloud_online":true}`, `[]`, `{"status":1e3}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, errs := Parse(b)
		if errs != nil {
			return
		}
		if p.Time <= 0 || (p.Status != 0 && p.Status != 2 && p.Status != 3 && p.Status != 5 && p.Status != 6) {
			t.Fatalf("accepted %q as %+v", b, p)
		}
	})
}
