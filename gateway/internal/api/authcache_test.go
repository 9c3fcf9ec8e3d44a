package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/auth"
	"vendgate/gateway/internal/store"
)

// revokeBehindOurBack revokes the token directly in the store, as another
// gateway worker (or the CLI) on the same database would.
func revokeBehindOurBack(t *testing.T, e *env, tok string) {
	t.Helper()
	st, err := e.st.GetTokenByAccess(context.Background(), auth.TokenHash(tok))
	require.NoError(t, err)
	require.NoError(t, e.st.RevokeToken(context.Background(), st.ID))
}

func TestSessionCacheOtherProcessRevocation(t *testing.T) {
	t.Parallel()
	t.Run("cached: seen after the TTL", func(t *testing.T) {
		e := newEnv(t)
		require.Equal(t, http.StatusOK, e.do("GET", "/v2/me", e.operTok, nil).Status)
		revokeBehindOurBack(t, e, e.operTok)
		// The documented multi-worker caveat: still valid from the cache...
		require.Equal(t, http.StatusOK, e.do("GET", "/v2/modems", e.operTok, nil).Status)
		// ...until the entry is DefaultAuthCacheTTL old.
		e.clk.Add(DefaultAuthCacheTTL)
		requireError(t, e.do("GET", "/v2/modems", e.operTok, nil), http.StatusUnauthorized, SubUnauthorized)
	})
	t.Run("cache off: seen at once", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.AuthCacheTTL = -1 })
		require.Equal(t, http.StatusOK, e.do("GET", "/v2/modems", e.operTok, nil).Status)
		revokeBehindOurBack(t, e, e.operTok)
		requireError(t, e.do("GET", "/v2/modems", e.operTok, nil), http.StatusUnauthorized, SubUnauthorized)
	})
}

func TestSessionCacheExactExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.AuthCacheTTL = time.Hour }) // longer than the token's life
	// e.operTok expires an hour after t0.
	require.Equal(t, http.StatusOK, e.do("GET", "/v2/modems", e.operTok, nil).Status)
	e.clk.Add(time.Hour - time.Millisecond)
	require.Equal(t, http.StatusOK, e.do("GET", "/v2/modems", e.operTok, nil).Status)
	e.clk.Add(time.Millisecond)
	requireError(t, e.do("GET", "/v2/modems", e.operTok, nil), http.StatusUnauthorized, SubUnauthorized)
}

func TestSessionCacheLogoutAndRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t.Run("logout", func(t *testing.T) {
		tok := login(t, e, "oper@example.com")["access_token"].(string)
		require.Equal(t, http.StatusOK, e.do("GET", "/v2/modems", tok, nil).Status) // cached now
		require.Equal(t, http.StatusOK, e.do("GET", "/logout", tok, nil).Status)
		requireError(t, e.do("GET", "/v2/modems", tok, nil), http.StatusUnauthorized, SubUnauthorized)
	})
	t.Run("refresh rotation", func(t *testing.T) {
		pair := login(t, e, "oper@example.com")
		tok := pair["access_token"].(string)
		require.Equal(t, http.StatusOK, e.do("GET", "/v2/modems", tok, nil).Status)
		r := e.do("POST", "/auth/", "", map[string]string{"grant_type": "refresh_token", "refresh_token": pair["refresh_token"].(string)})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		requireError(t, e.do("GET", "/v2/modems", tok, nil), http.StatusUnauthorized, SubUnauthorized)
		require.Equal(t, http.StatusOK, e.do("GET", "/v2/modems", r.obj(t)["access_token"].(string), nil).Status)
	})
}

func TestSessionCacheUnit(t *testing.T) {
	t.Parallel()
	now := t0
	sess := func(user int64) *session {
		return &session{User: store.User{ID: user}, Token: store.Token{AccessExpires: now.Add(time.Hour)}}
	}
	t.Run("hit, shared, ttl", func(t *testing.T) {
		c := newSessionCache(time.Minute, 10)
		put := sess(1)
		c.put("a", put, now, c.generation())
		got, ok := c.get("a", now.Add(time.Minute-1))
		require.True(t, ok)
		// Requests share the session (read-only: env's sessionGuard checks
		// that no handler changes one).
		require.Same(t, put, got)
		got, ok = c.get("a", now)
		require.True(t, ok)
		require.Same(t, put, got)
		_, ok = c.get("a", now.Add(time.Minute))
		require.False(t, ok, "ttl over")
		_, ok = c.get("b", now)
		require.False(t, ok)
	})
	t.Run("a look-up older than a drop is not stored", func(t *testing.T) {
		c := newSessionCache(time.Minute, 10)
		gen := c.generation()         // request A starts its store look-up
		c.dropToken("a")              // a logout completes meanwhile
		c.put("a", sess(1), now, gen) // A's result predates it
		_, ok := c.get("a", now)
		require.False(t, ok)
	})
	t.Run("drop user", func(t *testing.T) {
		c := newSessionCache(time.Minute, 10)
		c.put("a", sess(1), now, c.generation())
		c.put("b", sess(1), now, c.generation())
		c.put("c", sess(2), now, c.generation())
		c.dropUser(1)
		require.Equal(t, 1, c.len())
		_, ok := c.get("c", now)
		require.True(t, ok)
	})
	t.Run("bounded, expired first", func(t *testing.T) {
		c := newSessionCache(time.Minute, 3)
		c.put("old", sess(1), now.Add(-time.Minute), c.generation()) // already expired at now
		for i := range 5 {
			c.put(fmt.Sprint(i), sess(int64(i)), now, c.generation())
			require.LessOrEqual(t, c.len(), 3)
		}
		_, ok := c.get("4", now)
		require.True(t, ok, "the newest entry is kept")
	})
	t.Run("disabled", func(t *testing.T) {
		c := newSessionCache(-1, 3)
		c.put("a", sess(1), now, c.generation())
		_, ok := c.get("a", now)
		require.False(t, ok)
	})
}
