package api

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var tokenShape = map[string]string{
	"token_type": "string", "expires_in": "number", "access_token": "string", "refresh_token": "string",
}

func TestAuthPasswordGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	form := url.Values{"grant_type": {"password"}, "username": {"oper@example.com"}, "password": {testPassword}}
	cases := []struct {
		name string
		send func() resp
	}{
		{"json body", func() resp {
			return e.do("POST", "/auth/", "", map[string]string{
				"grant_type": "password", "client_id": "x", "client_secret": "y", "scope": "teleport",
				"username": "oper@example.com", "password": testPassword,
			})
		}},
		{"query string, no slash", func() resp { return e.do("POST", "/auth?"+form.Encode(), "", nil) }},
		{"form body", func() resp {
			return e.do("POST", "/auth/", "", []byte(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.clk.Add(time.Minute)
			r := c.send()
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
			obj := r.obj(t)
			requireShape(t, obj, tokenShape)
			require.Equal(t, "Bearer", obj["token_type"])
			require.Equal(t, int64(86400), num(obj["expires_in"]))
			require.Equal(t, "no-store", r.Header.Get("Cache-Control"))
			tok := obj["access_token"].(string)
			me := e.do("GET", "/v2/me", tok, nil)
			require.Equal(t, http.StatusOK, me.Status)
			require.Equal(t, "oper@example.com", me.obj(t)["email"])
			// last_login is the login just made.
			u, err := e.st.GetUser(context.Background(), e.oper.ID)
			require.NoError(t, err)
			require.True(t, u.LastLogin.Equal(e.clk.Now()), "last_login %v", u.LastLogin)
			require.Equal(t, e.clk.Now().UTC().Format(isoLayout), me.obj(t)["last_login"])
		})
	}
}

func TestAuthErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cases := []struct {
		name    string
		body    map[string]string
		subcode string
	}{
		{"wrong password", map[string]string{"grant_type": "password", "username": "oper@example.com", "password": "nope"}, SubInvalidGrant},
		{"unknown user", map[string]string{"grant_type": "password", "username": "ghost@example.com", "password": testPassword}, SubInvalidGrant},
		{"missing password", map[string]string{"grant_type": "password", "username": "oper@example.com"}, SubInvalidRequest},
		{"missing grant", map[string]string{"username": "oper@example.com", "password": testPassword}, SubInvalidRequest},
		{"auth_code unsupported", map[string]string{"grant_type": "auth_code", "code": "x"}, SubUnsupportedGrant},
		{"bad refresh", map[string]string{"grant_type": "refresh_token", "refresh_token": "garbage"}, SubInvalidGrant},
		{"missing refresh", map[string]string{"grant_type": "refresh_token"}, SubInvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", "/auth/", "", c.body)
			requireError(t, r, http.StatusBadRequest, c.subcode)
			require.Equal(t, errRec{"POST /auth/{$}", 400, c.subcode}, e.lastError())
		})
	}
	t.Run("wrong type", func(t *testing.T) {
		r := e.do("POST", "/auth/", "", `{"grant_type":"password","username":1,"password":"x"}`)
		requireError(t, r, http.StatusBadRequest, SubInvalidRequest)
	})
	t.Run("inactive user", func(t *testing.T) {
		// There is no UpdateUser: a disabled account is created inactive.
		u2 := e.oper
		u2.ID, u2.Email, u2.Active = 0, "inactive@example.com", false
		require.NoError(t, e.st.CreateUser(ctx, &u2))
		r := e.do("POST", "/auth/", "", map[string]string{"grant_type": "password", "username": u2.Email, "password": testPassword})
		requireError(t, r, http.StatusBadRequest, SubInvalidGrant)
	})
}

func TestAuthClientCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.ClientID, c.ClientSecret = "teleport-app", "s3cret" })
	body := map[string]string{"grant_type": "password", "username": "oper@example.com", "password": testPassword}
	requireError(t, e.do("POST", "/auth/", "", body), http.StatusBadRequest, SubInvalidClient)
	body["client_id"], body["client_secret"] = "teleport-app", "wrong"
	requireError(t, e.do("POST", "/auth/", "", body), http.StatusBadRequest, SubInvalidClient)
	body["client_secret"] = "s3cret"
	require.Equal(t, http.StatusOK, e.do("POST", "/auth/", "", body).Status)
}

func login(t *testing.T, e *env, email string) map[string]any {
	t.Helper()
	r := e.do("POST", "/auth/", "", map[string]string{"grant_type": "password", "username": email, "password": testPassword})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	return r.obj(t)
}

func TestAuthRefreshRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := login(t, e, "oper@example.com")
	r := e.do("POST", "/auth/", "", map[string]string{"grant_type": "refresh_token", "refresh_token": first["refresh_token"].(string)})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	second := r.obj(t)
	requireShape(t, second, tokenShape)
	require.NotEqual(t, first["access_token"], second["access_token"])
	require.NotEqual(t, first["refresh_token"], second["refresh_token"])

	// The old pair is revoked: its access token and its refresh token stop working.
	requireError(t, e.do("GET", "/v2/me", first["access_token"].(string), nil), http.StatusUnauthorized, SubUnauthorized)
	r = e.do("POST", "/auth/", "", map[string]string{"grant_type": "refresh_token", "refresh_token": first["refresh_token"].(string)})
	requireError(t, r, http.StatusBadRequest, SubInvalidGrant)
	require.Equal(t, http.StatusOK, e.do("GET", "/v2/me", second["access_token"].(string), nil).Status)
}

func TestLogoutRevokes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := login(t, e, "oper@example.com")
	access := tok["access_token"].(string)
	r := e.do("GET", "/logout", access, nil)
	require.Equal(t, http.StatusOK, r.Status)
	requireShape(t, r.obj(t), map[string]string{"bye": "string"})
	require.Equal(t, "bye", r.obj(t)["bye"])
	requireError(t, e.do("GET", "/v2/me", access, nil), http.StatusUnauthorized, SubUnauthorized)
	requireError(t, e.do("GET", "/logout", access, nil), http.StatusUnauthorized, SubUnauthorized)
	// The refresh token of a logged-out pair is dead too.
	r = e.do("POST", "/auth/", "", map[string]string{"grant_type": "refresh_token", "refresh_token": tok["refresh_token"].(string)})
	requireError(t, r, http.StatusBadRequest, SubInvalidGrant)
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := login(t, e, "oper@example.com")
	access := tok["access_token"].(string)
	e.clk.Add(DefaultAccessTTL - time.Second)
	require.Equal(t, http.StatusOK, e.do("GET", "/v2/me", access, nil).Status)
	e.clk.Add(time.Second)
	requireError(t, e.do("GET", "/v2/me", access, nil), http.StatusUnauthorized, SubUnauthorized)
	// The refresh token outlives the access token.
	r := e.do("POST", "/auth/", "", map[string]string{"grant_type": "refresh_token", "refresh_token": tok["refresh_token"].(string)})
	require.Equal(t, http.StatusOK, r.Status)
	e.clk.Add(DefaultRefreshTTL)
	r = e.do("POST", "/auth/", "", map[string]string{"grant_type": "refresh_token", "refresh_token": r.obj(t)["refresh_token"].(string)})
	requireError(t, r, http.StatusBadRequest, SubInvalidGrant)
}

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	routes := []struct{ method, path string }{
		{"GET", "/v2/me"}, {"GET", "/logout"}, {"GET", "/v2/modems"}, {"GET", "/v2/modems/1"},
		{"PUT", "/v2/modems/1"}, {"POST", "/v2/modems"}, {"POST", "/v2/modems/1/set"},
		{"GET", "/v2/vending_machines"}, {"GET", "/v2/vending_machines/1"}, {"POST", "/v2/vending_machines"},
		{"PUT", "/v2/vending_machines/1"}, {"GET", "/v2/vending_machines/1/events"},
		{"GET", "/v2/vending_machines/1/timestamp"}, {"POST", "/v2/vending_machines/1/reset"},
		{"POST", "/v2/vending_machines/1/request"}, {"GET", "/v2/vending_machines/1/request/1"},
		{"POST", "/v2/vending_machines/1/dispense"}, {"POST", "/v2/vending_machines/1/vendista-credit"},
		{"GET", "/v2/commands/x"}, {"GET", "/v2/modems/1/commands"},
	}
	for _, rt := range routes {
		for _, tok := range []struct{ name, hdr string }{
			{"none", ""}, {"garbage", "Bearer nope"}, {"basic", "Basic dXNlcjpwYXNz"},
		} {
			t.Run(rt.method+" "+rt.path+" "+tok.name, func(t *testing.T) {
				var r resp
				if tok.hdr == "" {
					r = e.do(rt.method, rt.path, "", nil)
				} else {
					r = e.do(rt.method, rt.path, "", nil, "Authorization", tok.hdr)
				}
				obj := requireError(t, r, http.StatusUnauthorized, SubUnauthorized)
				require.Equal(t, "Unauthenticated", obj["message"])
				require.Equal(t, `Bearer realm="vendgate"`, r.Header.Get("WWW-Authenticate"))
			})
		}
	}
}

func TestMe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct {
		tok   string
		id    int64
		title string
	}{
		{e.adminTok, 1, "Администратор"}, {e.token(e.senior), 2, "Старший оператор"}, {e.operTok, 3, "Оператор"},
	} {
		t.Run(c.title, func(t *testing.T) {
			r := e.do("GET", "/v2/me", c.tok, nil)
			require.Equal(t, http.StatusOK, r.Status)
			obj := r.obj(t)
			requireShape(t, obj, map[string]string{
				"id": "number", "company_id": "number", "first_name": "string", "last_name": "string",
				"position": "string", "email": "string", "language_id": "null", "status": "bool",
				"last_login": "null", "phone": "bool", "roles": "array",
			})
			require.Equal(t, true, obj["status"])
			require.Equal(t, false, obj["phone"])
			require.Equal(t, "Сидор", obj["first_name"])
			roles := obj["roles"].([]any)
			require.Len(t, roles, 1)
			role := roles[0].(map[string]any)
			requireShape(t, role, map[string]string{"id": "number", "name": "string", "title": "string"})
			require.Equal(t, c.id, num(role["id"]))
			require.Equal(t, c.title, role["title"])
		})
	}
}
