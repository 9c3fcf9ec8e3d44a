package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/auth"
	"vendgate/gateway/internal/store"
)

// loginScope logs in as email asking for scope ("" = none) and returns the
// response.
func loginScope(e *env, email, scope string) resp {
	body := map[string]string{"grant_type": "password", "username": email, "password": testPassword}
	if scope != "" {
		body["scope"] = scope
	}
	return e.do("POST", "/auth/", "", body)
}

// storedScope returns the scope stored with the access token.
func storedScope(t *testing.T, e *env, tok string) string {
	t.Helper()
	st, err := e.st.GetTokenByAccess(context.Background(), auth.TokenHash(tok))
	require.NoError(t, err)
	return st.Scope
}

func TestScopeRequested(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct{ ask, stored string }{
		{"", ScopeTeleport},
		{"teleport", ScopeTeleport},
		{"read", ScopeRead},
		{" read ", ScopeRead},
		{"read teleport", ScopeTeleport}, // RFC 6749 §3.3 list: the widest named
	} {
		t.Run(fmt.Sprintf("ask %q", c.ask), func(t *testing.T) {
			r := loginScope(e, "admin@example.com", c.ask)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
			require.Equal(t, c.stored, storedScope(t, e, r.obj(t)["access_token"].(string)))
		})
	}
	for _, ask := range []string{"admin", "teleport admin", "READ", "read,teleport"} {
		t.Run(fmt.Sprintf("reject %q", ask), func(t *testing.T) {
			requireError(t, loginScope(e, "admin@example.com", ask), http.StatusBadRequest, SubInvalidScope)
			require.Equal(t, errRec{"POST /auth/{$}", 400, SubInvalidScope}, e.lastError())
		})
	}
}

func TestScopeReadOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.modem("860000000000001", store.DefaultCompanyID)
	vm := e.machine("VM", store.DefaultCompanyID, m.ID, "")
	r := loginScope(e, "admin@example.com", ScopeRead)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	ro := r.obj(t)["access_token"].(string)

	for _, path := range []string{"/v2/me", "/v2/vending_machines", fmt.Sprintf("/v2/vending_machines/%d", vm.ID), "/v2/modems"} {
		require.Equal(t, http.StatusOK, e.do("GET", path, ro, nil).Status, path)
	}
	for _, c := range []struct{ method, path string }{
		{"POST", fmt.Sprintf("/v2/vending_machines/%d/reset", vm.ID)},
		{"POST", fmt.Sprintf("/v2/vending_machines/%d/request", vm.ID)},
		{"PUT", fmt.Sprintf("/v2/vending_machines/%d", vm.ID)},
		{"POST", "/v2/modems"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			requireError(t, e.do(c.method, c.path, ro, map[string]any{}), http.StatusForbidden, SubReadOnlyScope)
			require.Equal(t, http.StatusForbidden, e.lastError().status)
		})
	}
	require.Empty(t, e.cmd.submissions(), "no command was sent")
	// The same user with a teleport token may.
	require.Equal(t, http.StatusOK, e.do("POST", fmt.Sprintf("/v2/vending_machines/%d/reset", vm.ID), e.adminTok, nil).Status)
	// A read token may still log out.
	require.Equal(t, http.StatusOK, e.do("GET", "/logout", ro, nil).Status)
}

func TestScopeRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	refresh := func(rt, scope string) resp {
		body := map[string]string{"grant_type": "refresh_token", "refresh_token": rt}
		if scope != "" {
			body["scope"] = scope
		}
		return e.do("POST", "/auth/", "", body)
	}
	pair := func(r resp) (string, string) {
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		return r.obj(t)["access_token"].(string), r.obj(t)["refresh_token"].(string)
	}

	t.Run("keeps the scope", func(t *testing.T) {
		_, rt := pair(loginScope(e, "oper@example.com", ScopeRead))
		at, _ := pair(refresh(rt, ""))
		require.Equal(t, ScopeRead, storedScope(t, e, at))
	})
	t.Run("narrows", func(t *testing.T) {
		_, rt := pair(loginScope(e, "oper@example.com", ""))
		at, _ := pair(refresh(rt, ScopeRead))
		require.Equal(t, ScopeRead, storedScope(t, e, at))
	})
	t.Run("never widens, and the refresh token survives the refusal", func(t *testing.T) {
		_, rt := pair(loginScope(e, "oper@example.com", ScopeRead))
		requireError(t, refresh(rt, ScopeTeleport), http.StatusBadRequest, SubInvalidScope)
		at, _ := pair(refresh(rt, ""))
		require.Equal(t, ScopeRead, storedScope(t, e, at))
	})
	t.Run("unknown scope", func(t *testing.T) {
		_, rt := pair(loginScope(e, "oper@example.com", ""))
		requireError(t, refresh(rt, "write"), http.StatusBadRequest, SubInvalidScope)
	})
}

// TestScopeStoredBefore: tokens stored before scopes were enforced may hold
// anything; an empty scope is the spec's default, an unknown one fails closed.
func TestScopeStoredBefore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.modem("860000000000001", store.DefaultCompanyID)
	vm := e.machine("VM", store.DefaultCompanyID, m.ID, "")
	path := fmt.Sprintf("/v2/vending_machines/%d/reset", vm.ID)
	for _, c := range []struct {
		stored string
		status int
	}{{"", http.StatusOK}, {"teleport", http.StatusOK}, {"profile teleport", http.StatusOK}, {"read", http.StatusForbidden}, {"foo", http.StatusForbidden}} {
		t.Run(fmt.Sprintf("%q", c.stored), func(t *testing.T) {
			tok, hash, err := auth.NewToken()
			require.NoError(t, err)
			now := e.clk.Now()
			require.NoError(t, e.st.CreateToken(context.Background(), &store.Token{UserID: e.admin.ID, AccessHash: hash,
				Scope: c.stored, AccessExpires: now.Add(time.Hour), CreatedAt: now}))
			require.Equal(t, c.status, e.do("POST", path, tok, nil).Status)
		})
	}
}

func TestParseScope(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want scope
		ok   bool
	}{
		{"teleport", scopeFull, true}, {"read", scopeRead, true}, {"read read", scopeRead, true},
		{"teleport read", scopeFull, true}, {"", 0, false}, {"  ", 0, false}, {"x", 0, false}, {"read x", 0, false},
	} {
		got, ok := parseScope(c.in)
		require.Equal(t, c.ok, ok, "%q", c.in)
		require.Equal(t, c.want, got, "%q", c.in)
	}
}

// FuzzAuthBody posts arbitrary bodies to POST /auth/ (grants with scopes): no
// 5xx, every answer JSON; a 200 only ever stores teleport or read.
func FuzzAuthBody(f *testing.F) {
	for _, s := range []string{
		`{"grant_type":"password","username":"admin@example.com","password":"correct horse battery","scope":"read"}`,
		`{"grant_type":"password","username":"admin@example.com","password":"correct horse battery","scope":"teleport read"}`,
		`{"grant_type":"password","username":"admin@example.com","password":"correct horse battery","scope":"x"}`,
		`{"grant_type":"refresh_token","refresh_token":"abc","scope":"teleport"}`,
		`{"grant_type":"password","scope":1}`, `{"scope":"\u0000"}`, `[]`, `null`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/auth/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: status %d: %s", body, rec.Code, rec.Body.Bytes())
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("answer is not a JSON object: %q", rec.Body.Bytes())
		}
		if rec.Code == http.StatusOK {
			tok, _ := v["access_token"].(string)
			st, err := e.st.GetTokenByAccess(context.Background(), auth.TokenHash(tok))
			if err != nil {
				t.Fatalf("issued token not stored: %v", err)
			}
			if st.Scope != ScopeTeleport && st.Scope != ScopeRead {
				t.Fatalf("stored scope %q from %q", st.Scope, body)
			}
		}
	})
}

// FuzzParseScope: a scope parsed from anything prints as a name that parses
// back to itself.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"teleport", "read", "read teleport", "", "x", "read\tteleport", "teleport\u00a0read"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, ok := parseScope(s)
		if !ok {
			return
		}
		back, ok := parseScope(sc.String())
		if !ok || back != sc {
			t.Fatalf("%q → %v → %q → %v %v", s, sc, sc.String(), back, ok)
		}
	})
}
