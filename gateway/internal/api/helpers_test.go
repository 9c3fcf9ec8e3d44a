package api

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/auth"
	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/sqlite"
)

// t0 is the tests' "now": a Friday noon UTC.
var t0 = time.Date(2024, 5, 10, 12, 0, 0, 0, time.UTC)

// clock is a settable cfg.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeCommander records submissions and stores them like the real one does, so
// GET /v2/commands works on them.
type fakeCommander struct {
	mu    sync.Mutex
	st    store.Store
	now   func() time.Time
	subs  []CommandRequest
	n     int
	panic bool
}

func (f *fakeCommander) Submit(ctx context.Context, req CommandRequest) (store.Command, bool, error) {
	f.mu.Lock()
	if f.panic {
		f.mu.Unlock()
		panic("commander exploded")
	}
	f.subs = append(f.subs, req)
	f.n++
	id := req.ID
	if id == "" {
		id = fmt.Sprintf("cmd-%d", f.n)
	}
	f.mu.Unlock()
	args, err := json.Marshal(req.Args)
	if err != nil {
		return store.Command{}, false, err
	}
	now := f.now()
	return f.st.CreateCommand(ctx, store.Command{
		ID: id, ModemID: req.ModemID, VMID: req.VMID, UserID: req.UserID, Name: string(req.Name),
		Args: args, State: store.CmdQueued, CreatedAt: now, ExpiresAt: now.Add(req.TTL),
	})
}

func (f *fakeCommander) submissions() []CommandRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]CommandRequest(nil), f.subs...)
}

type errRec struct {
	route   string
	status  int
	subcode string
}

// env is a running API over a real SQLite store with two companies.
type env struct {
	t     testing.TB
	st    *sqlite.DB
	clk   *clock
	cmd   *fakeCommander
	srv   *httptest.Server
	h     http.Handler
	errMu sync.Mutex
	errs  []errRec

	admin, senior, oper, other  store.User // other is in company 2
	adminTok, operTok, otherTok string
	ready                       error
}

const testPassword = "correct horse battery"

// testIterations keeps test password hashing cheap (tests only).
const testIterations = 10

// otherCompany is the second tenant created for scoping tests.
const otherCompany int64 = 2

func newEnv(t testing.TB, mod ...func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vendgate.db")
	tmpl, err := templateDB()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, tmpl, 0o600))
	st, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })

	e := &env{t: t, st: st, clk: &clock{now: t0}}
	e.cmd = &fakeCommander{st: st, now: e.clk.Now}
	cfg := Config{
		Store: st, Commands: e.cmd, Now: e.clk.Now,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metric_x 1\n") }),
		Ready:   func(context.Context) error { return e.ready },
		OnError: func(route string, status int, subcode string) {
			e.errMu.Lock()
			defer e.errMu.Unlock()
			e.errs = append(e.errs, errRec{route, status, subcode})
		},
	}
	for _, m := range mod {
		m(&cfg)
	}
	h, err := New(cfg)
	require.NoError(t, err)
	e.h = h
	e.srv = httptest.NewServer(e.sessionGuard(h.(*server)))
	t.Cleanup(e.srv.Close)

	e.admin = e.user("admin@example.com", RoleAdmin, store.DefaultCompanyID)
	e.senior = e.user("senior@example.com", RoleSeniorOperator, store.DefaultCompanyID)
	e.oper = e.user("oper@example.com", RoleOperator, store.DefaultCompanyID)
	e.other = e.user("other@example.com", RoleAdmin, otherCompany)
	e.adminTok = e.token(e.admin)
	e.operTok = e.token(e.oper)
	e.otherTok = e.token(e.other)
	return e
}

// sessionGuard serves through s and fails the test when a request changed a
// cached session: requests of a token share its session (sessionCache), so a
// handler that changed one would change it for the next requests too. Every
// test going through e.do checks every handler it reaches.
func (e *env) sessionGuard(s *server) http.Handler {
	var (
		mu   sync.Mutex
		seen = map[*session]session{} // as first seen
	)
	check := func() {
		s.sessions.mu.RLock()
		defer s.sessions.mu.RUnlock()
		mu.Lock()
		defer mu.Unlock()
		for _, en := range s.sessions.entries {
			was, ok := seen[en.sess]
			if !ok {
				seen[en.sess] = *en.sess
			} else if was != *en.sess {
				e.t.Errorf("a request changed the cached session of user %d: %+v, was %+v", was.User.ID, *en.sess, was)
			}
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		check()
		s.ServeHTTP(w, r)
		check()
	})
}

// user creates an active user with testPassword (cheap hash: tests only).
func (e *env) user(email, role string, company int64) store.User {
	e.t.Helper()
	h, err := auth.Hash(testPassword, testIterations)
	require.NoError(e.t, err)
	u := store.User{
		CompanyID: company, Email: email, PasswordHash: h, FirstName: "Сидор", LastName: "Сидоров",
		Position: "инженер", Role: role, Active: true, CreatedAt: t0,
	}
	require.NoError(e.t, e.st.CreateUser(context.Background(), &u))
	return u
}

// token makes an access token for u directly in the store.
func (e *env) token(u store.User) string {
	e.t.Helper()
	tok, hash, err := auth.NewToken()
	require.NoError(e.t, err)
	_, rh, err := auth.NewToken()
	require.NoError(e.t, err)
	now := e.clk.Now()
	require.NoError(e.t, e.st.CreateToken(context.Background(), &store.Token{
		UserID: u.ID, AccessHash: hash, RefreshHash: rh, Scope: "teleport",
		AccessExpires: now.Add(time.Hour), RefreshExpires: now.Add(24 * time.Hour), CreatedAt: now,
	}))
	return tok
}

// modem provisions a modem in company.
func (e *env) modem(imei string, company int64) store.Modem {
	e.t.Helper()
	m := store.Modem{CompanyID: company, IMEI: imei, PasswordHash: "x", CreatedAt: t0}
	require.NoError(e.t, e.st.CreateModem(context.Background(), &m))
	return m
}

// online makes the modem say hello and come online now.
func (e *env) online(modemID int64, bus string, caps []string) {
	e.t.Helper()
	now := e.clk.Now()
	require.NoError(e.t, e.st.ApplyUplinks(context.Background(), []store.Uplink{
		{Kind: store.UpHello, ModemID: modemID, Received: now, Hello: &store.Hello{
			Firmware: "1.2.3", HWVersion: "2.4", Bus: bus, HBInterval: 60, Caps: caps,
		}},
		{Kind: store.UpPresence, ModemID: modemID, Received: now, Presence: &store.Presence{Online: true, Epoch: 1}},
		{Kind: store.UpHeartbeat, ModemID: modemID, Received: now, Heartbeat: &store.Heartbeat{VMLink: true, Epoch: 1}},
	}))
}

// offline takes the modem's connection (epoch 1) down.
func (e *env) offline(modemID int64) {
	e.t.Helper()
	require.NoError(e.t, e.st.ApplyUplinks(context.Background(), []store.Uplink{
		{Kind: store.UpPresence, ModemID: modemID, Received: e.clk.Now(), Presence: &store.Presence{Online: false, Epoch: 1, Reason: "lwt"}},
	}))
}

// machine creates a machine, bound to modemID when non-zero.
func (e *env) machine(name string, company, modemID int64, tz string) store.Machine {
	e.t.Helper()
	m := store.Machine{CompanyID: company, Name: name, TZ: tz, CreatedAt: t0}
	if modemID != 0 {
		m.ModemID = &modemID
	}
	require.NoError(e.t, e.st.CreateMachine(context.Background(), &m, false))
	return m
}

// resp is an answer decoded with json.Number so JSON types can be checked.
type resp struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   any
}

func (r resp) obj(t *testing.T) map[string]any {
	t.Helper()
	m, ok := r.Body.(map[string]any)
	require.Truef(t, ok, "body is not an object: %s", r.Raw)
	return m
}

func (r resp) arr(t *testing.T) []any {
	t.Helper()
	a, ok := r.Body.([]any)
	require.Truef(t, ok, "body is not an array: %s", r.Raw)
	return a
}

// do sends a request. body: nil = none; string = raw JSON; []byte = raw with
// the Content-Type given in hdr (or none); anything else is marshalled.
func (e *env) do(method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd, ct = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(e.t, err)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	out := resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if len(raw) > 0 && method != http.MethodHead {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		require.NoErrorf(e.t, dec.Decode(&out.Body), "not JSON: %q", raw)
		require.Equal(e.t, "application/json", res.Header.Get("Content-Type"))
	}
	return out
}

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// requireShape checks that obj has exactly the fields of want with those JSON
// types ("a|b" allows either).
func requireShape(t *testing.T, obj map[string]any, want map[string]string) {
	t.Helper()
	for k, typ := range want {
		v, ok := obj[k]
		require.Truef(t, ok, "field %q missing in %v", k, obj)
		require.Containsf(t, strings.Split(typ, "|"), jsonType(v), "field %q: got %s (%v), want %s", k, jsonType(v), v, typ)
	}
	for k := range obj {
		_, ok := want[k]
		require.Truef(t, ok, "unexpected field %q in %v", k, obj)
	}
}

// requireError checks an error response's status and spec shape and returns the body.
func requireError(t *testing.T, r resp, status int, subcode string) map[string]any {
	t.Helper()
	require.Equalf(t, status, r.Status, "body: %s", r.Raw)
	obj := r.obj(t)
	require.Equal(t, "string", jsonType(obj["message"]), "message: %s", r.Raw)
	require.NotEmpty(t, obj["message"])
	if subcode != "" {
		require.Equal(t, subcode, obj["subcode"], "body: %s", r.Raw)
	}
	if errs, ok := obj["errors"]; ok {
		m, ok := errs.(map[string]any)
		require.True(t, ok, "errors must be an object: %s", r.Raw)
		for field, msgs := range m {
			list, ok := msgs.([]any)
			require.Truef(t, ok && len(list) > 0, "errors.%s must be a non-empty list", field)
			for _, msg := range list {
				require.Equal(t, "string", jsonType(msg))
			}
		}
	}
	return obj
}

// fieldErrors returns the keys of the errors object.
func fieldErrors(t *testing.T, obj map[string]any) []string {
	t.Helper()
	m, _ := obj["errors"].(map[string]any)
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

func (e *env) lastError() errRec {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	if len(e.errs) == 0 {
		return errRec{}
	}
	return e.errs[len(e.errs)-1]
}

func (e *env) errCount() int {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	return len(e.errs)
}

func num(v any) int64 {
	n, ok := v.(json.Number)
	if !ok {
		return -1
	}
	i, err := n.Int64()
	if err != nil {
		return -1
	}
	return i
}

// templateDB is a migrated database with the second company, made once and
// copied for every test: migrating costs most of a test's time under -race.
var templateDB = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "vendgate-api-test")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "template.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		return nil, err
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	// The Store interface has no companies yet; add the second tenant directly
	// (the driver is registered by the sqlite package).
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, err
	}
	if _, err := raw.Exec(`INSERT INTO companies (id, name) VALUES (?, 'other')`, otherCompany); err != nil {
		raw.Close()
		return nil, err
	}
	if _, err := raw.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		raw.Close()
		return nil, err
	}
	if err := raw.Close(); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
})

func TestMain(m *testing.M) {
	// Test users are hashed with 1000 iterations; the unknown-user path matches.
	dummyIterations = testIterations
	os.Exit(m.Run())
}
