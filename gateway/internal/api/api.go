package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"vendgate/gateway/internal/auth"
	"vendgate/gateway/internal/presence"
	"vendgate/gateway/internal/store"
	"vendgate/protocol"
)

// Commander sends commands to modems (implemented by gateway/internal/command).
type Commander interface {
	// Submit stores a command (idempotent by id; an empty id gets a generated one)
	// and delivers it when the modem is free. It returns the stored command and
	// whether it was created now.
	Submit(ctx context.Context, req CommandRequest) (store.Command, bool, error)
}

// CommandRequest is a command the API asks the Commander to send.
type CommandRequest struct {
	ID      string // idempotency key; "" = generate one
	ModemID int64
	VMID    int64 // 0 when the command is not about a machine
	UserID  int64 // who asked
	Name    protocol.CommandName
	Args    any // one of the protocol.*Args types
	TTL     time.Duration
}

// Config configures the REST API.
type Config struct {
	Store    store.Store     // required
	Commands Commander       // required
	Presence presence.Config // derives the machines' "state"

	AccessTTL  time.Duration // access token lifetime; default DefaultAccessTTL
	RefreshTTL time.Duration // refresh token lifetime; default DefaultRefreshTTL
	CommandTTL time.Duration // expiry of commands; default DefaultCommandTTL

	Now     func() time.Time // default time.Now
	Logger  *slog.Logger     // default slog.Default()
	Metrics http.Handler     // mounted at GET /metrics without auth; nil = 404
	// Ready backs GET /readyz: 200 when it returns nil, 503 otherwise. Nil means
	// Store.Ping.
	Ready func(ctx context.Context) error
	// OnError is called for every error response (metrics); route is the matched
	// pattern or "unmatched". May be nil.
	OnError func(route string, status int, subcode string)

	// OAuth client credentials accepted by /auth; empty = not checked.
	ClientID, ClientSecret string

	// Service holds the thresholds of the machines' service flags (zero: defaults).
	Service ServiceConfig

	// AuthCacheTTL is how long an authenticated access token (with its user) is
	// remembered, so that a /v2 request does not look both up again; default
	// DefaultAuthCacheTTL, negative = no cache. A token still stops working
	// exactly at its expiry, and a logout, refresh rotation or user change made
	// through this handler drops it at once; one made by another process (a
	// second gateway worker on the same database, the CLI) is seen after at
	// most this long.
	AuthCacheTTL time.Duration
}

// Defaults of Config.
const (
	DefaultAccessTTL  = 24 * time.Hour      // the spec's example: expires_in 86400
	DefaultRefreshTTL = 30 * 24 * time.Hour //
	DefaultCommandTTL = 24 * time.Hour
	// DefaultAuthCacheTTL bounds how long another process's logout goes
	// unnoticed (see Config.AuthCacheTTL).
	DefaultAuthCacheTTL = 30 * time.Second
)

// Errors of New.
var (
	ErrNoStore     = errors.New("api: Config.Store is required")
	ErrNoCommander = errors.New("api: Config.Commands is required")
)

// server is the handler New returns.
type server struct {
	cfg  Config
	log  *slog.Logger
	mux  *http.ServeMux
	locs sync.Map // tz name → *time.Location (nil value: invalid name)
	// vmList keeps the machine list of each company (machines_list.go).
	vmList vmListCache
	// patterns are the mux patterns in registration order (the OpenAPI test
	// compares them with the document).
	patterns []string
	// sessions caches authenticated tokens (Config.AuthCacheTTL).
	sessions *sessionCache
	// modemCos remembers the company of each modem read (modem_company.go).
	modemCos modemCompanyCache
}

// New returns the REST API handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Store == nil {
		return nil, ErrNoStore
	}
	if cfg.Commands == nil {
		return nil, ErrNoCommander
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = DefaultAccessTTL
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = DefaultRefreshTTL
	}
	if cfg.CommandTTL <= 0 {
		cfg.CommandTTL = DefaultCommandTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Ready == nil {
		cfg.Ready = cfg.Store.Ping
	}
	if cfg.AuthCacheTTL == 0 {
		cfg.AuthCacheTTL = DefaultAuthCacheTTL
	}
	s := &server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(),
		sessions: newSessionCache(cfg.AuthCacheTTL, maxSessions)}
	if l, ok := cfg.Store.(modemCompanyLister); ok {
		// One read of ~20 bytes per modem; without it the cache fills as
		// modems are used. A failure only leaves it cold.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := s.modemCos.fill(ctx, l); err != nil {
			s.log.Warn("modem companies not cached", "err", err)
		}
		cancel()
	}
	s.routes()
	return s, nil
}

func (s *server) routes() {
	// Service endpoints, no auth.
	s.handle("GET /healthz", s.handleHealth)
	s.handle("GET /readyz", s.handleReady)
	s.handle("GET /metrics", s.handleMetrics)

	// OAuth (spec "Authorization"): both /auth and /auth/ are entry points.
	s.handle("POST /auth", s.handleAuth)
	s.handle("POST /auth/{$}", s.handleAuth)
	s.handle("GET /logout", s.authed(s.handleLogout))

	s.handle("GET /v2/me", s.authed(s.handleMe))

	s.handle("GET /v2/modems", s.authed(s.handleModemList))
	s.handle("POST /v2/modems", s.authed(s.handleModemCreate))
	s.handle("GET /v2/modems/{id}", s.authed(s.handleModemGet))
	s.handle("PUT /v2/modems/{id}", s.authed(s.handleModemUpdate))
	s.handle("POST /v2/modems/{id}/set", s.authed(s.handleModemSet))
	s.handle("GET /v2/modems/{id}/commands", s.authed(s.handleModemCommands))
	s.handle("GET /v2/commands/{id}", s.authed(s.handleCommandGet))

	s.handle("GET /v2/vending_machines", s.authed(s.handleVMList))
	s.handle("POST /v2/vending_machines", s.authed(s.handleVMCreate))
	s.handle("GET /v2/vending_machines/{id}", s.authed(s.handleVMGet))
	s.handle("PUT /v2/vending_machines/{id}", s.authed(s.handleVMUpdate))
	s.handle("GET /v2/vending_machines/{id}/events", s.authed(s.handleVMEvents))
	s.handle("GET /v2/vending_machines/{id}/timestamp", s.authed(s.handleVMTimestamp))
	s.handle("POST /v2/vending_machines/{id}/reset", s.authed(s.handleVMReset))
	s.handle("POST /v2/vending_machines/{id}/request", s.authed(s.handleVMRequest))
	s.handle("GET /v2/vending_machines/{id}/request/{rid}", s.authed(s.handleVMRequestGet))
	s.handle("POST /v2/vending_machines/{id}/dispense", s.authed(s.handleVMDispense))
	s.handle("POST /v2/vending_machines/{id}/vendista-credit", s.authed(s.handleVMCredit))

	// Further areas, each in its own file.
	s.routesAccess()
	s.routesCatalog()
	s.routesReports()
	s.routesRegisters()
}

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *server) handle(pattern string, h handlerFunc) {
	s.patterns = append(s.patterns, pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r.Pattern, err)
		}
	})
}

// ServeHTTP routes r, recovering panics into 500 and turning the mux's own
// 404/405 answers into the spec's JSON error shape.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	_, pattern := s.mux.Handler(r)
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler { // net/http's sentinel for aborting a response: let it through
			panic(p)
		}
		s.log.Error("api: panic in handler", "route", pattern, "panic", p, "stack", string(debug.Stack()))
		if !sw.wrote {
			s.fail(sw, pattern, errInternal(nil))
		}
	}()
	if pattern == "" {
		s.unmatched(sw, r)
		return
	}
	s.mux.ServeHTTP(sw, r)
}

// unmatched runs the mux's fallback (404, 405 or a path-cleaning redirect)
// against a recorder and rewrites the errors as JSON.
func (s *server) unmatched(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{header: make(http.Header)}
	s.mux.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusNotFound:
		s.fail(w, "unmatched", errNotFound("Not found"))
	case http.StatusMethodNotAllowed:
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		s.fail(w, "unmatched", errStatus(http.StatusMethodNotAllowed, SubMethod, "Method not allowed"))
	default:
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	}
}

// fail writes err as an error response and reports it to OnError.
func (s *server) fail(w http.ResponseWriter, route string, err error) {
	ae := toAPIError(err)
	if ae.Status >= 500 {
		s.log.Error("api: request failed", "route", route, "status", ae.Status, "err", err)
	}
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vendgate"`)
	}
	if s.cfg.OnError != nil {
		s.cfg.OnError(route, ae.Status, ae.Subcode)
	}
	writeJSON(w, ae.Status, ae.body())
}

// writeJSON writes v with status. HTML escaping is off so that Russian text and
// URLs are sent as they are.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only unsupported values fail here, which is a programming error.
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"message":"Server error","subcode":"E500"}` + "\n")
	}
	writeRawJSON(w, status, buf.Bytes())
}

// writeRawJSON writes an encoded JSON body (ending in a newline, as
// json.Encoder writes it) with writeJSON's headers.
func writeRawJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// statusWriter remembers whether a response was started (for panic recovery).
type statusWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// recorder captures the mux's fallback response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// session is the authenticated caller of a /v2 request. It is read-only: the
// session cache hands the same *session to every request of its token while
// it is cached (a copy per request was a tenth of a command round trip's
// allocations), so a handler that wants a changed user copies sess.User.
type session struct {
	User  store.User
	Token store.Token
}

// authed wraps h with bearer-token authentication: a missing, unknown, revoked
// or expired access token, or a disabled user, is a 401. A token of the
// read-only scope gets a 403 for anything but GET (and the HEAD the mux routes
// to GET handlers).
func (s *server) authed(h func(w http.ResponseWriter, r *http.Request, sess *session) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, err := s.authenticate(r)
		if err != nil {
			return err
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !scopeOf(sess.Token.Scope).canWrite() {
			return errReadOnlyScope()
		}
		return h(w, r, sess)
	}
}

func (s *server) authenticate(r *http.Request) (*session, error) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 512 {
		return nil, errUnauthenticated()
	}
	hash := auth.TokenHash(tok)
	now := s.cfg.Now()
	if sess, ok := s.sessions.get(hash, now); ok {
		return sess, nil
	}
	gen := s.sessions.generation()
	ctx := r.Context()
	t, err := s.cfg.Store.GetTokenByAccess(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnauthenticated()
	}
	if err != nil {
		return nil, err
	}
	if t.Revoked || !now.Before(t.AccessExpires) {
		return nil, errUnauthenticated()
	}
	u, err := s.cfg.Store.GetUser(ctx, t.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnauthenticated()
	}
	if err != nil {
		return nil, err
	}
	if !u.Active {
		return nil, errUnauthenticated()
	}
	sess := &session{User: u, Token: t}
	s.sessions.put(hash, sess, now, gen)
	return sess, nil
}

// maxSessions bounds the session cache: far more than the operators of one
// install use at once, small enough (≈1 KiB an entry) not to matter.
const maxSessions = 10_000

// sessionCache remembers authenticated sessions by access-token hash so that a
// /v2 request costs no token and user look-up (they were most of the REST CPU
// of a command round trip).
//
// Correctness rules:
//   - a hit is only used while now < the token's AccessExpires, checked on every
//     request, so a token stops working exactly at its expiry, and only for ttl
//     after it was looked up;
//   - revoking through this process (logout, refresh rotation) and changing a
//     user (TouchLogin) drop the entries at once (dropToken, dropUser);
//   - a look-up that started before a drop must not store what it read (it may
//     be the state from before the revocation): every drop bumps gen, and put
//     stores only when gen is still the one seen before the look-up.
//
// Multi-worker caveat: a logout, disabled user or rotation made by another
// process on the same database (a second gateway worker, the CLI) is not
// seen here until the entry is ttl old; DefaultAuthCacheTTL is that bound.
type sessionCache struct {
	ttl time.Duration // <= 0: disabled
	max int

	mu      sync.RWMutex
	gen     uint64
	entries map[string]sessionEntry
}

type sessionEntry struct {
	sess  *session  // shared by the requests of the token (read-only)
	until time.Time // when the entry stops being used (look-up time + ttl)
}

func newSessionCache(ttl time.Duration, max int) *sessionCache {
	return &sessionCache{ttl: ttl, max: max, entries: make(map[string]sessionEntry)}
}

// get returns the cached session of the token hash when it is still usable at
// now; the caller must not change it (see session).
func (c *sessionCache) get(hash string, now time.Time) (*session, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.entries[hash]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) || !now.Before(e.sess.Token.AccessExpires) {
		return nil, false
	}
	return e.sess, true
}

// generation returns the drop counter to pass to put.
func (c *sessionCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put stores sess unless something was dropped since generation returned gen.
// sess is kept, not copied: it must not change afterwards (see session).
func (c *sessionCache) put(hash string, sess *session, now time.Time, gen uint64) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, ok := c.entries[hash]; !ok && len(c.entries) >= c.max {
		c.evictLocked(now)
	}
	c.entries[hash] = sessionEntry{sess: sess, until: now.Add(c.ttl)}
}

// evictLocked makes room: expired entries first, else an arbitrary one (map
// order is random, which is as good as any policy for a rare overflow).
func (c *sessionCache) evictLocked(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.until) || !now.Before(e.sess.Token.AccessExpires) {
			delete(c.entries, k)
		}
	}
	if len(c.entries) < c.max {
		return
	}
	for k := range c.entries {
		delete(c.entries, k)
		if len(c.entries) < c.max {
			return
		}
	}
}

// dropToken forgets the token with that access hash.
func (c *sessionCache) dropToken(accessHash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, accessHash)
}

// dropUser forgets every token of the user (the cached user record is stale).
func (c *sessionCache) dropUser(userID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if e.sess.User.ID == userID {
			delete(c.entries, k)
		}
	}
}

// len returns the number of cached sessions (tests).
func (c *sessionCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *server) handleReady(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Ready(r.Context()); err != nil {
		s.log.Warn("api: not ready", "err", err)
		return errStatus(http.StatusServiceUnavailable, SubNotReady, "Not ready")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Metrics == nil {
		return errNotFound("Not found")
	}
	s.cfg.Metrics.ServeHTTP(w, r)
	return nil
}

// pathID parses the {name} path value; anything but a positive integer cannot
// name a record, so it is the resource's 404.
func pathID(r *http.Request, name, notFound string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFound(notFound)
	}
	return id, nil
}
