package api

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"sync"

	"vendgate/gateway/internal/auth"
	"vendgate/gateway/internal/store"
)

// DefaultScope is the scope of a token when the client asks for none (spec
// "Authorization": "scope - Optional, defaults to teleport").
const DefaultScope = ScopeTeleport

// Token scopes. The spec knows one, teleport: full access as the user's role
// allows. read is a vendgate extension for dashboards and integrations that
// must not change anything: every /v2 call but GET is refused with a 403
// (subcode SubReadOnlyScope). Any other requested scope is a 400
// invalid_scope (RFC 6749 §5.2).
const (
	ScopeTeleport = "teleport"
	ScopeRead     = "read"
)

// SubReadOnlyScope is the subcode of the 403 a read-scope token gets for a
// call that is not a GET.
const SubReadOnlyScope = "E4031"

func errReadOnlyScope() *apiError {
	return errStatus(http.StatusForbidden, SubReadOnlyScope, "The token's scope (read) does not allow this action.")
}

// scope is what a token may do; a larger value may do more.
type scope int

const (
	scopeRead scope = iota + 1
	scopeFull
)

func (sc scope) canWrite() bool { return sc >= scopeFull }

// String is the form stored with the token.
func (sc scope) String() string {
	if sc >= scopeFull {
		return ScopeTeleport
	}
	return ScopeRead
}

// parseScope reads a requested scope: space-separated names (RFC 6749 §3.3),
// each teleport or read; the token gets the widest named. ok is false for an
// unknown name or an empty list.
func parseScope(s string) (sc scope, ok bool) {
	for _, name := range strings.Fields(s) {
		switch name {
		case ScopeTeleport:
			sc = max(sc, scopeFull)
		case ScopeRead:
			sc = max(sc, scopeRead)
		default:
			return 0, false
		}
	}
	return sc, sc != 0
}

// scopeOf is the scope of a stored token. Tokens stored before scopes were
// enforced may hold whatever the client asked for: an empty scope is the
// spec's default (teleport), one naming teleport is full access, anything else
// is read-only (failing closed).
func scopeOf(stored string) scope {
	if strings.TrimSpace(stored) == "" {
		return scopeFull
	}
	for _, name := range strings.Fields(stored) {
		if name == ScopeTeleport {
			return scopeFull
		}
	}
	return scopeRead
}

// errInvalidScope is the OAuth 400 for an unknown or widened scope.
func errInvalidScope() *apiError {
	return errOAuth(SubInvalidScope, "The requested scope is invalid, unknown, or exceeds the scope granted.")
}

// dummyIterations is the cost of dummyHash: that of real operator passwords
// (tests lower it).
var dummyIterations = auth.UserIterations

// dummyHash is checked against when the e-mail is unknown, so that an unknown
// login costs the same time as a wrong password and does not reveal accounts.
var dummyHash = sync.OnceValue(func() string {
	h, err := auth.Hash("vendgate-no-such-user", dummyIterations)
	if err != nil {
		return ""
	}
	return h
})

func errOAuth(subcode, msg string) *apiError {
	return errStatus(http.StatusBadRequest, subcode, msg)
}

// tokenResponse is the spec's 200 body of POST /auth.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// handleAuth is POST /auth/: the password and refresh_token grants. Parameters
// come in the JSON body, a form body or the query string. Every failure is a 400
// (the spec lists 200 and 400 only) with the OAuth error code as subcode.
func (s *server) handleAuth(w http.ResponseWriter, r *http.Request) error {
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	v := newValidator(p)
	grant, clientID, secret := v.str("grant_type"), v.str("client_id"), v.str("client_secret")
	scopeParam := v.str("scope")
	if v.err() != nil {
		return errOAuth(SubInvalidRequest, "The request has a malformed parameter.")
	}
	if s.cfg.ClientID != "" {
		okID := subtle.ConstantTimeCompare([]byte(clientID.V), []byte(s.cfg.ClientID)) == 1
		okSecret := subtle.ConstantTimeCompare([]byte(secret.V), []byte(s.cfg.ClientSecret)) == 1
		if !okID || !okSecret {
			return errOAuth(SubInvalidClient, "Client authentication failed.")
		}
	}
	// asked is 0 when the client named no scope.
	var asked scope
	if strings.TrimSpace(scopeParam.V) != "" {
		sc, ok := parseScope(scopeParam.V)
		if !ok || len(scopeParam.V) > 255 {
			return errInvalidScope()
		}
		asked = sc
	}
	switch grant.V {
	case "password":
		return s.grantPassword(w, r, v, asked)
	case "refresh_token":
		return s.grantRefresh(w, r, v, asked)
	case "":
		return errOAuth(SubInvalidRequest, "The request is missing a required parameter: grant_type.")
	default:
		return errOAuth(SubUnsupportedGrant, "The authorization grant type is not supported.")
	}
}

func (s *server) grantPassword(w http.ResponseWriter, r *http.Request, v *validator, asked scope) error {
	user, pass := v.str("username"), v.str("password")
	if v.err() != nil || user.V == "" || pass.V == "" {
		return errOAuth(SubInvalidRequest, "The request is missing a required parameter: username and password.")
	}
	ctx := r.Context()
	u, err := s.cfg.Store.GetUserByEmail(ctx, strings.TrimSpace(user.V))
	switch {
	case errors.Is(err, store.ErrNotFound):
		_ = auth.Check(pass.V, dummyHash())
		return errOAuth(SubInvalidGrant, "The user credentials were incorrect.")
	case err != nil:
		return err
	}
	if auth.Check(pass.V, u.PasswordHash) != nil || !u.Active {
		return errOAuth(SubInvalidGrant, "The user credentials were incorrect.")
	}
	sc := scopeFull // DefaultScope
	if asked != 0 {
		sc = asked
	}
	resp, err := s.issue(r, u.ID, sc.String())
	if err != nil {
		return err
	}
	if err := s.cfg.Store.TouchLogin(ctx, u.ID, s.cfg.Now()); err != nil {
		return err
	}
	// The cached sessions of the user hold the old last_login.
	s.sessions.dropUser(u.ID)
	writeToken(w, resp)
	return nil
}

// grantRefresh exchanges a refresh token for a new pair and revokes the old one
// (rotation: a refresh token works once). The new pair keeps the old scope, or
// the narrower one asked for; asking for more is invalid_scope (RFC 6749 §6)
// and leaves the refresh token usable.
func (s *server) grantRefresh(w http.ResponseWriter, r *http.Request, v *validator, asked scope) error {
	rt := v.str("refresh_token")
	if v.err() != nil || rt.V == "" {
		return errOAuth(SubInvalidRequest, "The request is missing a required parameter: refresh_token.")
	}
	ctx := r.Context()
	bad := errOAuth(SubInvalidGrant, "The refresh token is invalid.")
	if len(rt.V) > 512 {
		return bad
	}
	t, err := s.cfg.Store.GetTokenByRefresh(ctx, auth.TokenHash(rt.V))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return bad
	case err != nil:
		return err
	}
	if t.Revoked || !s.cfg.Now().Before(t.RefreshExpires) {
		return bad
	}
	u, err := s.cfg.Store.GetUser(ctx, t.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.Active) {
		return bad
	}
	if err != nil {
		return err
	}
	sc := scopeOf(t.Scope)
	if asked != 0 {
		if asked > sc {
			return errInvalidScope()
		}
		sc = asked
	}
	// TODO(store): RevokeToken is not compare-and-set, so two concurrent refreshes
	// with the same token can both succeed; a conditional revoke would close that.
	if err := s.cfg.Store.RevokeToken(ctx, t.ID); err != nil {
		return err
	}
	s.sessions.dropToken(t.AccessHash)
	resp, err := s.issue(r, u.ID, sc.String())
	if err != nil {
		return err
	}
	writeToken(w, resp)
	return nil
}

// issue creates and stores a new token pair.
func (s *server) issue(r *http.Request, userID int64, scope string) (tokenResponse, error) {
	access, accessHash, err := auth.NewToken()
	if err != nil {
		return tokenResponse{}, err
	}
	refresh, refreshHash, err := auth.NewToken()
	if err != nil {
		return tokenResponse{}, err
	}
	now := s.cfg.Now()
	t := &store.Token{
		UserID:         userID,
		AccessHash:     accessHash,
		RefreshHash:    refreshHash,
		Scope:          scope,
		AccessExpires:  now.Add(s.cfg.AccessTTL),
		RefreshExpires: now.Add(s.cfg.RefreshTTL),
		CreatedAt:      now,
	}
	if err := s.cfg.Store.CreateToken(r.Context(), t); err != nil {
		return tokenResponse{}, err
	}
	return tokenResponse{
		TokenType:    "Bearer",
		ExpiresIn:    int64(s.cfg.AccessTTL.Seconds()),
		AccessToken:  access,
		RefreshToken: refresh,
	}, nil
}

func writeToken(w http.ResponseWriter, resp tokenResponse) {
	// RFC 6749 §5.1: token responses must not be cached.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

// handleLogout is GET /logout: the token pair stops working now.
func (s *server) handleLogout(w http.ResponseWriter, r *http.Request, sess *session) error {
	if err := s.cfg.Store.RevokeToken(r.Context(), sess.Token.ID); err != nil {
		return err
	}
	s.sessions.dropToken(sess.Token.AccessHash)
	writeJSON(w, http.StatusOK, map[string]string{"bye": "bye"})
	return nil
}

// Roles of the spec (RBAC level 1) with their ids and Russian titles.
const (
	RoleAdmin          = "admin"
	RoleSeniorOperator = "senior_operator"
	RoleOperator       = "operator"
)

type roleJSON struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Title string `json:"title"`
}

var roles = map[string]roleJSON{
	RoleAdmin:          {1, RoleAdmin, "Администратор"},
	RoleSeniorOperator: {2, RoleSeniorOperator, "Старший оператор"},
	RoleOperator:       {3, RoleOperator, "Оператор"},
}

// meJSON is the spec's body of GET /v2/me.
type meJSON struct {
	ID         int64      `json:"id"`
	CompanyID  int64      `json:"company_id"`
	FirstName  string     `json:"first_name"`
	LastName   string     `json:"last_name"`
	Position   string     `json:"position"`
	Email      string     `json:"email"`
	LanguageID *int64     `json:"language_id"`
	Status     bool       `json:"status"`
	LastLogin  *string    `json:"last_login"`
	Phone      bool       `json:"phone"` // the spec: whether a phone number is set
	Roles      []roleJSON `json:"roles"`
}

func (s *server) handleMe(w http.ResponseWriter, r *http.Request, sess *session) error {
	// The session's user may come from the session cache (up to
	// AuthCacheTTL old); the profile is shown as stored now (last_login).
	u, err := s.cfg.Store.GetUser(r.Context(), sess.User.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errUnauthenticated()
	}
	if err != nil {
		return err
	}
	me := meJSON{
		ID: u.ID, CompanyID: u.CompanyID, FirstName: u.FirstName, LastName: u.LastName,
		Position: u.Position, Email: u.Email, Status: u.Active,
		LastLogin: fmtTime(u.LastLogin, nil), Phone: u.Phone != "", Roles: []roleJSON{},
	}
	if role, ok := roles[u.Role]; ok {
		me.Roles = append(me.Roles, role)
	}
	writeJSON(w, http.StatusOK, me)
	return nil
}

// requireRole is a 403 unless the caller has one of the roles.
func requireRole(sess *session, allowed ...string) error {
	for _, a := range allowed {
		if sess.User.Role == a {
			return nil
		}
	}
	return errForbidden()
}
