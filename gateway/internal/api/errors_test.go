package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewRequiresDependencies(t *testing.T) {
	t.Parallel()
	_, err := New(Config{})
	require.ErrorIs(t, err, ErrNoStore)
	e := newEnv(t)
	_, err = New(Config{Store: e.st})
	require.ErrorIs(t, err, ErrNoCommander)
}

func TestBodyErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.modem("860000000000001", 1)
	setPath := fmt.Sprintf("/v2/modems/%d/set", m.ID)
	big := `{"name":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	for _, c := range []struct {
		name, method, path string
		body               any
		hdr                []string
		status             int
		subcode            string
	}{
		{"malformed json", "POST", "/v2/vending_machines", `{"name":`, nil, 400, SubMalformed},
		{"trailing data", "POST", "/v2/vending_machines", `{"name":"a"} {}`, nil, 400, SubMalformed},
		{"array body", "POST", "/v2/vending_machines", `[{"name":"a"}]`, nil, 400, SubMalformed},
		{"null body", "POST", setPath, `null`, nil, 400, SubMalformed},
		{"string body", "POST", setPath, `"x"`, nil, 400, SubMalformed},
		{"oversize", "POST", "/v2/vending_machines", big, nil, 413, SubTooLarge},
		{"text/plain", "POST", "/v2/vending_machines", []byte(`name=x`), []string{"Content-Type", "text/plain"}, 415, SubMediaType},
		{"xml", "POST", setPath, []byte(`<a/>`), []string{"Content-Type", "application/xml"}, 415, SubMediaType},
		{"no content type, not json", "POST", setPath, []byte(`cashless_mode=1`), nil, 415, SubMediaType},
		{"bad content type", "POST", setPath, []byte(`{}`), []string{"Content-Type", "a/b; ==="}, 415, SubMediaType},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := e.errCount()
			r := e.do(c.method, c.path, e.adminTok, c.body, c.hdr...)
			requireError(t, r, c.status, c.subcode)
			require.Equal(t, n+1, e.errCount(), "OnError called once")
			require.Equal(t, c.status, e.lastError().status)
		})
	}
	t.Run("json without content type is accepted", func(t *testing.T) {
		r := e.do("POST", setPath, e.adminTok, []byte(`{"cashless_mode":1}`))
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	})
	t.Run("json with charset and +json", func(t *testing.T) {
		r := e.do("POST", setPath, e.adminTok, []byte(`{"cashless_mode":1}`), "Content-Type", "application/json; charset=utf-8")
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		r = e.do("POST", setPath, e.adminTok, []byte(`{"cashless_mode":1}`), "Content-Type", "application/vnd.api+json")
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	})
}

func TestRoutingErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t.Run("unknown route", func(t *testing.T) {
		obj := requireError(t, e.do("GET", "/v2/nothing", e.adminTok, nil), 404, SubNotFound)
		require.Equal(t, "Not found", obj["message"])
		require.Equal(t, errRec{"unmatched", 404, SubNotFound}, e.lastError())
	})
	t.Run("method not allowed", func(t *testing.T) {
		r := e.do("DELETE", "/v2/vending_machines/1", e.adminTok, nil)
		requireError(t, r, 405, SubMethod)
		allow := r.Header.Get("Allow")
		for _, m := range []string{"GET", "PUT"} {
			require.Contains(t, allow, m)
		}
		require.Equal(t, errRec{"unmatched", 405, SubMethod}, e.lastError())
		r = e.do("GET", "/auth/", "", nil)
		requireError(t, r, 405, SubMethod)
		require.Contains(t, r.Header.Get("Allow"), "POST")
	})
	t.Run("path cleaning redirect passes through", func(t *testing.T) {
		req, err := http.NewRequest("GET", e.srv.URL+"/v2/./me", nil)
		require.NoError(t, err)
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := client.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		// Go's client cleans the path itself or the mux redirects; either way no 5xx.
		require.Less(t, res.StatusCode, 500)
	})
}

func TestPanicRecovered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.modem("860000000000001", 1)
	vm := e.machine("VM", 1, m.ID, "")
	e.cmd.panic = true
	accessGrant(t, e, e.oper, vm)
	r := e.do("POST", fmt.Sprintf("/v2/vending_machines/%d/reset", vm.ID), e.operTok, nil)
	obj := requireError(t, r, http.StatusInternalServerError, SubInternal)
	require.Equal(t, "Server error", obj["message"])
	require.Equal(t, errRec{"POST /v2/vending_machines/{id}/reset", 500, SubInternal}, e.lastError())
	// The server keeps serving.
	require.Equal(t, http.StatusOK, e.do("GET", "/v2/me", e.operTok, nil).Status)
}

func TestServiceEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("GET", "/healthz", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, map[string]any{"status": "ok"}, r.obj(t))
	require.Equal(t, http.StatusOK, e.do("GET", "/readyz", "", nil).Status)
	e.ready = errors.New("db down")
	r = e.do("GET", "/readyz", "", nil)
	requireError(t, r, http.StatusServiceUnavailable, SubNotReady)
	require.NotContains(t, string(r.Raw), "db down", "internals are not sent")
	require.Equal(t, errRec{"GET /readyz", 503, SubNotReady}, e.lastError())

	res, err := http.Get(e.srv.URL + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	buf := make([]byte, 64)
	n, _ := res.Body.Read(buf)
	require.Equal(t, "metric_x 1\n", string(buf[:n]))
}

func TestReadyDefaultsToPing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Ready = nil })
	require.Equal(t, http.StatusOK, e.do("GET", "/readyz", "", nil).Status)
	require.NoError(t, e.st.Close())
	requireError(t, e.do("GET", "/readyz", "", nil), http.StatusServiceUnavailable, SubNotReady)
}
