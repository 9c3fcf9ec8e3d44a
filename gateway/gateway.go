// Package gateway is vendgate's composition root: it wires the embedded MQTT
// broker, the ingest writer, the command flow, the store and the REST API into
// one object with New and Run. It is the only package that knows every concrete
// type; its sub-packages under internal/ know only the small interfaces they
// consume.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"vendgate/dex/evadts"
	"vendgate/gateway/internal/api"
	"vendgate/gateway/internal/auth"
	"vendgate/gateway/internal/broker"
	"vendgate/gateway/internal/command"
	"vendgate/gateway/internal/fiscal"
	"vendgate/gateway/internal/ingest"
	"vendgate/gateway/internal/metrics"
	"vendgate/gateway/internal/presence"
	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/sqlite"
	"vendgate/protocol"
)

// Gateway is a running vendgate.
type Gateway struct {
	cfg    Config
	log    *slog.Logger
	db     store.Store
	m      *metrics.Metrics
	w      *ingest.Writer
	cmds   *command.Service
	br     *broker.Broker
	http   *http.Server
	httpLn net.Listener
	fiscal *fiscal.Worker   // nil: receipts off (Config.FiscalEmulated)
	creds  *auth.ModemTable // modem credentials in memory; nil: the engine cannot list them

	// AdminPassword is the generated password of the first admin, when this
	// start created it; empty otherwise.
	AdminPassword string

	closeOnce sync.Once
}

// DBPath is where the SQLite database of a data directory lives.
func DBPath(dataDir string) string { return filepath.Join(dataDir, "vendgate.db") }

// New opens the store, creates the first admin if there is none, and binds the
// MQTT and HTTP listeners (so Addr methods answer at once). Run serves.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Gateway, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("gateway: data dir: %w", err)
	}
	db, err := sqlite.Open(ctx, DBPath(cfg.DataDir))
	if err != nil {
		return nil, fmt.Errorf("gateway: open store: %w", err)
	}
	g := &Gateway{cfg: cfg, log: log, db: db}
	ok := false
	defer func() {
		if !ok {
			g.Close()
		}
	}()
	if err := g.ensureAdmin(ctx); err != nil {
		return nil, err
	}

	g.m = metrics.New(metrics.Sources{
		Connected:  func() int { return g.br.Count() },
		QueueDepth: func() int { return g.w.Depth() },
		Checkpoints: func() metrics.Checkpoints {
			c := db.CheckpointStats()
			return metrics.Checkpoints{Passive: c.Passive, Restart: c.Restart, Truncate: c.Truncate, Busy: c.Busy,
				Failed: c.Failed, WriterHeld: c.WriterHeld}
		},
	})
	g.w = ingest.NewWriter(db, ingest.WriterConfig{QueueSize: cfg.IngestQueue, MaxBatch: cfg.IngestBatch,
		Linger: max(time.Duration(cfg.IngestLinger), 0), Observe: g.m.Ingested})
	g.cmds = command.New(db, publisher{g}, g.m, command.Config{
		AckTimeout: time.Duration(cfg.AckTimeout), ExecTimeout: time.Duration(cfg.ExecTimeout),
		MaxAttempts: cfg.CommandAttempts, DefaultTTL: time.Duration(cfg.CommandTTL), Logger: log.With("part", "command"),
		// A dispatch waits for its mark-sent to commit, and the marks of
		// concurrent dispatches share one transaction: with 4 workers a
		// reconnect storm sent 4 queued commands per commit while the writer
		// was busy with the storm's rows. Idle workers cost a parked goroutine.
		Workers: 64,
	})
	g.w.OnAnswers(g.cmds.AnswersCommitted) // commands end without reading their row back
	h := &ingest.Handler{W: g.w, Store: db, Commands: g.cmds, Count: g.m, Audit: checkAudit, Log: log.With("part", "ingest")}
	if *cfg.FiscalEmulated {
		flog := log.With("part", "fiscal")
		h.Fiscal = &ingest.Fiscal{Receipts: db, Machines: db, Catalog: db, Log: flog}
		g.fiscal = fiscal.NewWorker(db, &fiscal.Emulated{}, fiscal.WorkerConfig{Logger: flog})
	}
	verified, err := auth.NewVerifiedCache(0)
	if err != nil {
		return nil, err
	}
	// Every modem's credential in memory (loaded by Run): the reconnect
	// storm after a restart then reads no row per login.
	if lister, ok := store.Store(db).(store.ModemCredentials); ok {
		g.creds, err = auth.NewModemTable(credSource{db: db, list: lister}, auth.ModemTableConfig{Verified: verified})
		if err != nil {
			return nil, err
		}
	}
	g.br, err = broker.New(broker.Config{
		Listen: cfg.MQTTListen, ConnectTimeout: time.Duration(cfg.ConnectTimeout), MaxKeepalive: uint16(cfg.MaxKeepalive),
		MaxClients: cfg.MaxClients, WritesPending: cfg.WritesPending, Logger: log.With("part", "broker"),
	}, modemAuth{db: db, count: g.m, verified: verified, table: g.creds}, h)
	if err != nil {
		return nil, err
	}
	apiHandler, err := api.New(api.Config{
		Store: db, Commands: commander{g.cmds}, Presence: presence.Config{DefaultHB: time.Duration(cfg.DefaultHeartbeat)},
		AccessTTL: time.Duration(cfg.AccessTTL), RefreshTTL: time.Duration(cfg.RefreshTTL), CommandTTL: time.Duration(cfg.CommandTTL),
		Logger: log.With("part", "api"), Metrics: g.m.Handler(), Ready: g.ready, OnError: g.m.HTTPError,
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
	})
	if err != nil {
		return nil, err
	}
	g.httpLn, err = net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		return nil, fmt.Errorf("gateway: http listen: %w", err)
	}
	g.http = &http.Server{Handler: apiHandler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	// Long polls (GET /v2/commands/{id}?wait=N) answer at once when shutdown
	// begins, so it does not wait for them.
	g.http.RegisterOnShutdown(g.cmds.StopWatching)
	ok = true
	return g, nil
}

// MQTTAddr is the broker's bound address (valid after Run has started it).
func (g *Gateway) MQTTAddr() net.Addr { return g.br.Addr() }

// HTTPAddr is the REST API's bound address.
func (g *Gateway) HTTPAddr() net.Addr { return g.httpLn.Addr() }

// Store gives tests and tools access to the store.
func (g *Gateway) Store() store.Store { return g.db }

func (g *Gateway) ready(ctx context.Context) error { return g.db.Ping(ctx) }

// Run serves until ctx ends, then shuts down gracefully: the broker stops taking
// messages first, every uplink already acknowledged or waiting is written, then
// the store closes.
func (g *Gateway) Run(ctx context.Context, started func()) error {
	var wg sync.WaitGroup
	wg.Go(g.w.Run)
	cctx, cancelCmds := context.WithCancel(context.Background())
	wg.Go(func() { g.cmds.Run(cctx) })
	// The fiscal worker stops after the writer (below): the last vends'
	// receipts are queued then, and submitted at the next start.
	fctx, cancelFiscal := context.WithCancel(context.Background())
	defer cancelFiscal()
	if g.fiscal != nil {
		wg.Go(func() { _ = g.fiscal.Run(fctx) })
	}
	if g.creds != nil {
		// Loaded beside the listener, not before it: the load of 19,000
		// modems takes ~50 ms, and a modem refused meanwhile doubles its
		// reconnect backoff; logins before the load ends read the store.
		wg.Go(func() {
			if err := g.creds.Load(cctx); err != nil && cctx.Err() == nil {
				g.log.Warn("modem credentials not loaded; logins read the store", "err", err)
			}
			g.creds.Run(cctx)
		})
	}
	if err := g.br.Start(); err != nil {
		cancelCmds()
		g.w.Close()
		cancelFiscal()
		wg.Wait()
		return err
	}
	stopRegs, err := startRegisters(ctx, g, g.cfg.Registers)
	if err != nil {
		_ = g.br.Close()
		cancelCmds()
		g.w.Close()
		cancelFiscal()
		wg.Wait()
		return err
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- g.http.Serve(g.httpLn) }()
	g.log.Info("vendgate serving", "mqtt", g.br.Addr().String(), "http", g.httpLn.Addr().String(), "data", g.cfg.DataDir)
	if started != nil {
		started()
	}
	select {
	case <-ctx.Done():
	case err = <-httpErr:
	}
	g.log.Info("vendgate shutting down")
	t0 := time.Now()
	// The modems stay connected until the state is saved: Drain closes the
	// listener and stops the uplinks (an unacknowledged one is resent by the
	// modem on its next connection and deduplicated by message id), and
	// the sockets close last, all at once. A modem disconnected early
	// retried against a gateway that was still shutting down, was refused,
	// and its backoff grew: it came back to the next process seconds late.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	httpDone := make(chan struct{})
	go func() { // requests in flight finish meanwhile; commands they submit stay queued in the store
		_ = g.http.Shutdown(sctx)
		close(httpDone)
	}()
	gone := g.br.Drain()
	stopRegs() // the poller writes its last states as it stops
	<-httpDone
	for _, c := range gone {
		g.cmds.ModemGone(c.ModemID)
	}
	cancelCmds()
	g.w.Close()
	// The writer has written everything queued, the modems' online
	// presences included: now one statement marks every connection the
	// shutdown ends offline (a modem that has reconnected to another
	// process since keeps its newer epoch, see store.BulkPresence).
	g.markOffline(gone)
	cancelFiscal()
	wg.Wait()
	g.Close()
	saved := time.Since(t0)
	g.br.Shutdown() // nil after Drain: every connection is in gone
	g.log.Info("vendgate stopped", "modems", len(gone), "state_saved", saved.Round(time.Millisecond),
		"connections_closed", (time.Since(t0) - saved).Round(time.Millisecond))
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// markOffline writes the end of the connections a shutdown ended, in one
// statement when the engine can (store.BulkPresence), else one presence each.
func (g *Gateway) markOffline(gone []broker.Conn) {
	if len(gone) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if bp, ok := g.db.(store.BulkPresence); ok {
		eps := make([]store.ConnEpoch, len(gone))
		for i, c := range gone {
			eps[i] = store.ConnEpoch{ModemID: c.ModemID, Epoch: c.Epoch()}
		}
		_, err = bp.MarkOffline(ctx, eps)
	} else {
		ups := make([]store.Uplink, len(gone))
		for i, c := range gone {
			ups[i] = store.Uplink{Kind: store.UpPresence, ModemID: c.ModemID, Received: time.Now(),
				Presence: &store.Presence{Online: false, Epoch: c.Epoch(), Reason: "gateway shutting down"}}
		}
		err = g.db.ApplyUplinks(ctx, ups)
	}
	if err != nil {
		g.log.Warn("offline presences not written", "modems", len(gone), "err", err)
	}
	for range gone {
		g.m.Connection("disconnected")
	}
}

// Close releases the store; Run calls it.
func (g *Gateway) Close() {
	g.closeOnce.Do(func() {
		if g.httpLn != nil {
			_ = g.httpLn.Close()
		}
		if g.db != nil {
			_ = g.db.Close()
		}
	})
}

func (g *Gateway) ensureAdmin(ctx context.Context) error {
	n, err := g.db.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	pw := g.cfg.AdminPassword
	if pw == "" {
		if pw, err = auth.RandomPassword(16); err != nil {
			return err
		}
		g.AdminPassword = pw
		if err := os.WriteFile(filepath.Join(g.cfg.DataDir, "admin-password.txt"), []byte(pw+"\n"), 0o600); err != nil {
			return err
		}
	}
	hash, err := auth.Hash(pw, auth.UserIterations)
	if err != nil {
		return err
	}
	return g.db.CreateUser(ctx, &store.User{CompanyID: store.DefaultCompanyID, Email: g.cfg.AdminEmail,
		PasswordHash: hash, FirstName: "Admin", Role: "admin", Active: true, CreatedAt: time.Now()})
}

// publisher sends commands through the broker.
type publisher struct{ g *Gateway }

func (p publisher) Publish(imei, topic string, payload []byte, qos byte) error {
	return p.g.br.Publish(imei, topic, payload, qos)
}

// commander adapts the command service to the API.
type commander struct{ s *command.Service }

func (c commander) Submit(ctx context.Context, r api.CommandRequest) (store.Command, bool, error) {
	cmd, created, err := c.s.Submit(ctx, command.Request{ID: r.ID, ModemID: r.ModemID, VMID: r.VMID, UserID: r.UserID,
		Name: r.Name, Args: r.Args, TTL: r.TTL})
	return cmd, created, err
}

// Watch and Stopping make GET /v2/commands/{id}?wait=N answer at the change.
func (c commander) Watch(id string) (<-chan struct{}, func()) { return c.s.Watch(id) }

// Stopping is closed when the HTTP server begins its graceful shutdown.
func (c commander) Stopping() <-chan struct{} { return c.s.Stopping() }

// Final lets GET /v2/commands/{id} answer an ended command without a read.
func (c commander) Final(id string) (store.Command, bool) { return c.s.Final(id) }

// Live lets a long poll of a command in flight start without a read.
func (c commander) Live(id string) (store.Command, bool) { return c.s.Live(id) }

// modemAuth checks modem credentials against the credential table, or the
// store when the engine cannot list credentials.
type modemAuth struct {
	db       store.Modems
	count    *metrics.Metrics
	verified *auth.VerifiedCache // a reconnecting modem's unchanged password skips the hash
	table    *auth.ModemTable    // nil: a store read per login
}

// ErrBadCredentials is returned for an unknown modem or a wrong password: the
// broker's, so the broker answers "bad user name or password", not "server
// unavailable".
var ErrBadCredentials = broker.ErrBadCredentials

// Authenticate refuses an unknown IMEI or a wrong password; a store failure
// is an error of its own, which the broker answers with "server unavailable"
// (the modem retries) rather than telling a good modem its password is wrong.
// AuthenticateQuick accepts a login the credential table vouches for without
// a store read (broker.QuickAuthenticator).
func (a modemAuth) AuthenticateQuick(imei, password string) (int64, bool) {
	if a.table == nil {
		return 0, false
	}
	return a.table.AuthenticateQuick(imei, password)
}

func (a modemAuth) Authenticate(ctx context.Context, imei, password string) (int64, error) {
	if a.table != nil {
		id, err := a.table.Authenticate(ctx, imei, password)
		switch {
		case err == nil:
			return id, nil
		case errors.Is(err, auth.ErrUnknownModem):
			a.count.Connection("refused")
			return 0, fmt.Errorf("%w: unknown modem", ErrBadCredentials)
		case errors.Is(err, auth.ErrMismatch) || errors.Is(err, auth.ErrFormat):
			a.count.Connection("refused")
			return 0, fmt.Errorf("%w: %v", ErrBadCredentials, err)
		default:
			return 0, fmt.Errorf("gateway: modem lookup: %w", err)
		}
	}
	m, err := a.db.GetModemByIMEI(ctx, imei)
	if errors.Is(err, store.ErrNotFound) {
		a.count.Connection("refused")
		return 0, fmt.Errorf("%w: unknown modem", ErrBadCredentials)
	}
	if err != nil {
		return 0, fmt.Errorf("gateway: modem lookup: %w", err)
	}
	if err := a.verified.Check(imei, password, m.PasswordHash); err != nil {
		a.count.Connection("refused")
		return 0, fmt.Errorf("%w: %v", ErrBadCredentials, err)
	}
	return m.ID, nil
}

// credSource gives the credential table the store's modems.
type credSource struct {
	db   store.Modems
	list store.ModemCredentials
}

func (s credSource) AllModemCredentials(ctx context.Context) (map[string]auth.ModemCredential, error) {
	all, err := s.list.ListModemCredentials(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]auth.ModemCredential, len(all))
	for _, c := range all {
		m[c.IMEI] = auth.ModemCredential{ID: c.ID, Hash: c.PasswordHash}
	}
	return m, nil
}

func (s credSource) ModemCredential(ctx context.Context, imei string) (auth.ModemCredential, error) {
	m, err := s.db.GetModemByIMEI(ctx, imei)
	if errors.Is(err, store.ErrNotFound) {
		return auth.ModemCredential{}, fmt.Errorf("%w: %w", auth.ErrUnknownModem, err)
	}
	if err != nil {
		return auth.ModemCredential{}, err
	}
	return auth.ModemCredential{ID: m.ID, Hash: m.PasswordHash}, nil
}

// checkAudit parses and validates an EVA-DTS audit; it returns why it is
// invalid, or "" when every audit in the text is valid (named deviations and a
// missing check value are valid; a wrong check value or a cut-short audit are
// not). An invalid audit is still stored, marked invalid.
func checkAudit(text []byte) string {
	reports, err := evadts.ParseBytes(text)
	if len(reports) == 0 {
		if err == nil {
			err = evadts.ErrNoAudit
		}
		return "not an EVA-DTS audit: " + err.Error()
	}
	for i, r := range reports {
		if v := r.Validate(); !v.Valid() {
			return fmt.Sprintf("audit %d of %d: %s", i+1, len(reports), v.String())
		}
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// AddModem provisions a modem in the data directory's store (also while a
// gateway runs on it). The password must be at least auth.MinModemPassword long.
func AddModem(ctx context.Context, dataDir, imei, password string) (int64, error) {
	if !protocol.ValidIMEI(imei) {
		return 0, fmt.Errorf("gateway: %q is not an IMEI (14 to 16 digits)", imei)
	}
	if len(password) < auth.MinModemPassword {
		return 0, fmt.Errorf("gateway: modem password must be at least %d characters", auth.MinModemPassword)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return 0, err
	}
	db, err := sqlite.Open(ctx, DBPath(dataDir))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	hash, err := auth.Hash(password, auth.ModemIterations)
	if err != nil {
		return 0, err
	}
	m := &store.Modem{CompanyID: store.DefaultCompanyID, IMEI: imei, PasswordHash: hash, CreatedAt: time.Now()}
	if err := db.CreateModem(ctx, m); err != nil {
		if errors.Is(err, store.ErrConflict) {
			if err := db.SetModemPassword(ctx, imei, hash); err != nil {
				return 0, err
			}
			got, err := db.GetModemByIMEI(ctx, imei)
			return got.ID, err
		}
		return 0, err
	}
	return m.ID, nil
}
