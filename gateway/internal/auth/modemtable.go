package auth

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrUnknownModem is returned by a CredentialSource (and ModemTable) for an
// IMEI that is not provisioned.
var ErrUnknownModem = errors.New("auth: unknown modem")

// ModemCredential is what a modem login is checked against.
type ModemCredential struct {
	ID   int64  // the modem's id in the store
	Hash string // encoded password hash (see Hash)
}

// CredentialSource is where a ModemTable reads modem credentials: the store.
type CredentialSource interface {
	// AllModemCredentials returns every modem's credential by IMEI.
	AllModemCredentials(ctx context.Context) (map[string]ModemCredential, error)
	// ModemCredential returns one modem's credential, ErrUnknownModem
	// (possibly wrapped) when there is none.
	ModemCredential(ctx context.Context, imei string) (ModemCredential, error)
}

// ModemTableConfig configures a ModemTable. Zero fields take the defaults in
// brackets.
type ModemTableConfig struct {
	// Refresh is how often the whole table is read again [15s]. It bounds how
	// long a change made elsewhere (another gateway worker on the same
	// database, a tool, a hand edit) can go unseen by a login whose password
	// matches the loaded hash: a revoked password or a deleted modem is
	// refused at most Refresh (plus one reload) after the change.
	Refresh time.Duration
	// MaxAge: when the last successful reload is older than this (the store
	// keeps failing), the table is not trusted and every login reads the
	// store [2 × Refresh].
	MaxAge time.Duration
	// Verified remembers accepted passwords; nil: a new cache.
	Verified *VerifiedCache
	// Now is the clock [time.Now].
	Now func() time.Time
}

// ModemTable checks modem logins against an in-memory copy of every modem's
// credential (IMEI → id, password hash; a few MB for 19,000 modems), loaded
// at start and read again every Refresh. It exists for the reconnect storm
// after a gateway restart, where a store read per login was 14% of the
// gateway's CPU.
//
// The store stays authoritative: a login for an IMEI the table does not have,
// or whose password does not match the table's hash, reads the store and
// updates the table, so a modem provisioned or given a new password anywhere
// logs in at once with its new password. What the table can miss for up to
// Refresh is a revocation made elsewhere: the old password of a modem whose
// password was changed, or a modem deleted, still passes until the next
// reload (see ModemTableConfig.Refresh). Forget drops one modem at once (for
// changes made in this process).
//
// Safe for concurrent use.
type ModemTable struct {
	src CredentialSource
	cfg ModemTableConfig

	mu      sync.RWMutex
	m       map[string]ModemCredential
	loaded  time.Time                   // start of the last successful reload; zero: never
	loading bool                        // a reload is reading the source
	recent  map[string]*ModemCredential // changes during a reload (nil value: gone), re-applied on its result
}

// NewModemTable returns an empty table; Load fills it.
func NewModemTable(src CredentialSource, cfg ModemTableConfig) (*ModemTable, error) {
	if cfg.Refresh <= 0 {
		cfg.Refresh = 15 * time.Second
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 2 * cfg.Refresh
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Verified == nil {
		v, err := NewVerifiedCache(0)
		if err != nil {
			return nil, err
		}
		cfg.Verified = v
	}
	return &ModemTable{src: src, cfg: cfg, m: map[string]ModemCredential{}}, nil
}

// Load reads every credential from the source and replaces the table.
// Changes seen by logins while it reads are kept (they are newer).
func (t *ModemTable) Load(ctx context.Context) error {
	start := t.cfg.Now()
	t.mu.Lock()
	t.loading = true
	t.recent = map[string]*ModemCredential{}
	t.mu.Unlock()
	m, err := t.src.AllModemCredentials(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.loading = false
	recent := t.recent
	t.recent = nil
	if err != nil {
		return err
	}
	for imei, c := range recent {
		if c == nil {
			delete(m, imei)
		} else {
			m[imei] = *c
		}
	}
	t.m, t.loaded = m, start
	return nil
}

// Run reloads the table every Refresh until ctx ends. A failed reload is
// retried at the next tick; after MaxAge without a successful one, logins
// read the store.
func (t *ModemTable) Run(ctx context.Context) {
	tick := time.NewTicker(t.cfg.Refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_ = t.Load(ctx)
		}
	}
}

// Len returns the number of modems in the table.
func (t *ModemTable) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}

// Forget drops imei from the table: its next login reads the store. The
// process that changes or deletes a modem calls it to be exact at once.
func (t *ModemTable) Forget(imei string) {
	t.set(imei, nil)
	t.cfg.Verified.Forget(imei)
}

func (t *ModemTable) set(imei string, c *ModemCredential) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c == nil {
		delete(t.m, imei)
	} else {
		t.m[imei] = *c
	}
	if t.loading {
		t.recent[imei] = c
	}
}

// AuthenticateQuick returns the modem's id and true when the table, fresh,
// holds the modem and password matches its hash at no more than
// QuickIterations (a modem's hash): no store read, no goroutine, a few
// microseconds. Anything else returns false and decides nothing: call
// Authenticate.
func (t *ModemTable) AuthenticateQuick(imei, password string) (int64, bool) {
	t.mu.RLock()
	c, ok := t.m[imei]
	fresh := !t.loaded.IsZero() && t.cfg.Now().Sub(t.loaded) <= t.cfg.MaxAge
	t.mu.RUnlock()
	if !ok || !fresh || !Cheap(c.Hash) || t.cfg.Verified.Check(imei, password, c.Hash) != nil {
		return 0, false
	}
	return c.ID, true
}

// Authenticate returns the modem's id when password is the modem's: at once
// from the table when it matches there, else after reading the store. It
// returns an error wrapping ErrUnknownModem or ErrMismatch (ErrFormat for a
// stored hash that cannot be read) for a refused login; any other error is
// the source's (try again later).
func (t *ModemTable) Authenticate(ctx context.Context, imei, password string) (int64, error) {
	t.mu.RLock()
	c, ok := t.m[imei]
	fresh := !t.loaded.IsZero() && t.cfg.Now().Sub(t.loaded) <= t.cfg.MaxAge
	t.mu.RUnlock()
	if ok && fresh && t.cfg.Verified.Check(imei, password, c.Hash) == nil {
		return c.ID, nil
	}
	// Not in the table, a password that differs from the table's, or a
	// table too old to trust: the store decides.
	c, err := t.src.ModemCredential(ctx, imei)
	if errors.Is(err, ErrUnknownModem) {
		t.Forget(imei)
		return 0, err
	}
	if err != nil {
		return 0, err
	}
	t.set(imei, &c)
	if err := t.cfg.Verified.Check(imei, password, c.Hash); err != nil {
		return 0, err
	}
	return c.ID, nil
}
