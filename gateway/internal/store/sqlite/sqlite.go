package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"vendgate/gateway/internal/store"
)

// MemoryPath opens a private in-memory database (for tests).
const MemoryPath = ":memory:"

// writerCacheKiB is the page cache of the writer connection. The default 2 MiB
// holds little of the uplink indexes once a database has grown, and every miss
// is a read system call; 64 MiB keeps the hot index pages of a large install.
const writerCacheKiB = 64 << 10

// readerCacheKiB is the page cache of each read connection. With the default
// 2 MiB the modems table of a 19,000-modem fleet (~5 MiB with its IMEI index)
// does not fit, so a reconnect storm's logins each paid read system calls
// (GetModemByIMEI was 15% of the gateway's CPU in the storm). The pages are
// shared with the OS cache, so this only bounds what each connection keeps.
const readerCacheKiB = 16 << 10

// Sizes of the read pools (file databases). SQLite readers in WAL mode run in
// parallel, each connection has its own page cache (2 MiB), and reads are
// CPU-bound, so more general connections than cores buy REST no throughput.
// Modem logins get a pool of their own: sharing, a login queued behind REST
// reads (p99 150-180 ms with 2 shared connections under REST load, 5-10 ms
// with 8 shared, 4.4-4.6 ms with 2 general + 2 for logins, and REST ran as
// fast; BenchmarkModemLoginDuringREST). Variables so that the benchmark can
// compare layouts.
var (
	readConns = func() int { return max(2, runtime.GOMAXPROCS(0)) }
	authConns = 2 // 0: logins use the general read pool
)

// busyTimeout is how long a connection waits for a lock held by another process
// (a backup tool, the sqlite3 shell) before failing with SQLITE_BUSY. Inside the
// gateway writers are serialised by the one-connection pool and never wait here.
const busyTimeout = 5 * time.Second

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is a SQLite store. It implements store.Store and is safe for concurrent use.
type DB struct {
	w    *sql.DB   // the only writer connection
	r    *sql.DB   // read-only pool; == w for in-memory databases
	rs   *readPool // r with its prepared statements (reader)
	ra   *readPool // the modem logins' own read pool (authReader); == rs in memory
	path string

	ckpt *checkpointer // copies the WAL into the file (checkpoint.go); nil in memory

	mc     modemCache    // modem states between uplink batches (uplinks_cache.go)
	ab     batch         // ApplyUplinks' batch, reused (under mc.apply)
	wOpens *atomic.Int64 // connections opened for the writer's DSN (writerOpened)

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // writer statements prepared once, used via tx.StmtContext

	closed atomic.Bool
}

var _ store.Store = (*DB)(nil)

var memSeq atomic.Uint64

// Open opens (creating if needed) the database at path and applies pending
// migrations. path ":memory:" gives a private in-memory database that lives until
// Close; it uses one connection for reads and writes, since every new connection
// to a plain ":memory:" name would be a new, empty database.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if path != MemoryPath && strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: database path %q must not contain '?' or '#'", path)
	}
	d := &DB{path: path, stmts: make(map[string]*sql.Stmt)}

	common := url.Values{}
	common.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	common.Add("_pragma", "foreign_keys(1)")
	common.Add("_pragma", "synchronous(NORMAL)")

	if path == MemoryPath {
		q := url.Values{}
		for k, v := range common {
			q[k] = v
		}
		q.Set("mode", "memory")
		q.Set("cache", "shared")
		q.Set("_txlock", "immediate")
		dsn := fmt.Sprintf("file:vendgate-mem-%d?%s", memSeq.Add(1), q.Encode())
		d.wOpens = writerOpened(dsn)
		w, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		// One connection kept forever: the shared-cache database lives as long
		// as a connection to it is open.
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		w.SetConnMaxIdleTime(0)
		d.w, d.r = w, w
		d.rs = newReadPool(w)
		d.ra = d.rs
	} else {
		wq := url.Values{}
		for k, v := range common {
			wq[k] = v
		}
		wq.Add("_pragma", "journal_mode(WAL)")
		// Commits never checkpoint: the checkpointer does, on a connection
		// and goroutine of its own (checkpoint.go).
		wq.Add("_pragma", "wal_autocheckpoint(0)")
		wq.Add("_pragma", fmt.Sprintf("cache_size(%d)", -writerCacheKiB))
		wq.Set("_txlock", "immediate")
		d.wOpens = writerOpened(path + "?" + wq.Encode())
		w, err := sql.Open("sqlite", path+"?"+wq.Encode())
		if err != nil {
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		w.SetConnMaxIdleTime(0)
		d.w = w
		// The writer must have switched the file to WAL (and created it) before
		// readers open it.
		if err := w.PingContext(ctx); err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}

		rq := url.Values{}
		for k, v := range common {
			rq[k] = v
		}
		rq.Add("_pragma", "query_only(1)")
		rq.Add("_pragma", fmt.Sprintf("cache_size(%d)", -readerCacheKiB))
		r, err := sql.Open("sqlite", path+"?"+rq.Encode())
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		n := readConns()
		r.SetMaxOpenConns(n)
		r.SetMaxIdleConns(n)
		d.r = r
		d.rs = newReadPool(r)

		d.ra = d.rs
		if authConns > 0 {
			a, err := sql.Open("sqlite", path+"?"+rq.Encode())
			if err != nil {
				r.Close()
				w.Close()
				return nil, fmt.Errorf("sqlite: open: %w", err)
			}
			a.SetMaxOpenConns(authConns)
			a.SetMaxIdleConns(authConns)
			d.ra = newReadPool(a)
		}
		if err := d.startCheckpointer(ctx); err != nil {
			d.Close()
			return nil, err
		}
	}

	if err := d.migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.prepare(ctx, slices.Concat(uplinkQueries, commandQueries)...); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Path returns the path the database was opened with.
func (d *DB) Path() string { return d.path }

// Ping checks both pools answer.
func (d *DB) Ping(ctx context.Context) error {
	if d.closed.Load() {
		return errClosed
	}
	if err := d.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if d.r != d.w {
		if err := d.r.PingContext(ctx); err != nil {
			return fmt.Errorf("sqlite: ping: %w", err)
		}
	}
	if d.ra != d.rs {
		if err := d.ra.db.PingContext(ctx); err != nil {
			return fmt.Errorf("sqlite: ping: %w", err)
		}
	}
	return nil
}

var errClosed = errors.New("sqlite: database closed")

// Close closes the database. In WAL mode closing the last connection
// checkpoints the log into the main file.
func (d *DB) Close() error {
	if d.closed.Swap(true) {
		return errClosed
	}
	d.ckpt.stop()
	d.stmtMu.Lock()
	for _, s := range d.stmts {
		s.Close()
	}
	d.stmts = nil
	d.stmtMu.Unlock()
	d.rs.close()
	var err error
	if d.ra != d.rs {
		d.ra.close()
		err = d.ra.db.Close()
	}
	if d.r != d.w {
		if e := d.r.Close(); e != nil && err == nil {
			err = e
		}
	}
	if e := d.w.Close(); e != nil && err == nil {
		err = e
	}
	return err
}

// prepare compiles the hot-path writer statements once. It runs before any
// transaction exists: while one is open the single writer connection is busy, so
// db.Prepare would wait for it forever.
func (d *DB) prepare(ctx context.Context, queries ...string) error {
	d.stmtMu.Lock()
	defer d.stmtMu.Unlock()
	for _, q := range queries {
		s, err := d.w.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
		d.stmts[q] = s
	}
	return nil
}

// txStmt binds the writer statement prepared for query to tx. Since the writer
// pool has one connection the statement was compiled on it, and binding is cheap;
// should the connection have been replaced, database/sql recompiles it on the
// transaction's connection. A query that was not prepared is compiled for tx only.
func (d *DB) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	d.stmtMu.Lock()
	s, ok := d.stmts[query]
	d.stmtMu.Unlock()
	if !ok {
		return tx.PrepareContext(ctx, query)
	}
	return tx.StmtContext(ctx, s), nil
}

// write runs fn in a writer transaction (BEGIN IMMEDIATE) and commits it when fn
// returns nil.
func (d *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return d.writeTx(ctx, func(tx *sql.Tx) error {
		d.mc.bump() // it may change what the uplink batches cache (uplinks_cache.go)
		return fn(tx)
	})
}

// writeTx is write without telling the modem cache: for ApplyUplinks, which
// keeps the cache in step itself.
func (d *DB) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if d.closed.Load() {
		return errClosed
	}
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	d.ckpt.poke()
	return nil
}

// authReader returns the read pool of modem logins (GetModemByIMEI): apart
// from the general one so that a reconnect storm's logins never queue behind
// REST reads, nor REST behind a storm (see readConns).
func (d *DB) authReader() (*readPool, error) {
	if d.closed.Load() {
		return nil, errClosed
	}
	return d.ra, nil
}

// reader returns the read pool for plain reads. Its QueryContext and
// QueryRowContext run each query text through a statement prepared once
// (stmtcache.go), so callers pass constant SQL as they would to *sql.DB.
func (d *DB) reader() (*readPool, error) {
	if d.closed.Load() {
		return nil, errClosed
	}
	return d.rs, nil
}

// --- migrations ---

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("sqlite: migration %q: name must be NNNN_description.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlite: migration %q: bad version number", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("sqlite: migrations %q and %q share version %d", prev, name, v)
		}
		seen[v] = name
		b, err := fs.ReadFile(migrationFS, "migrations/"+name)
		if err != nil {
			return nil, fmt.Errorf("sqlite: migration %q: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies the embedded migrations the database lacks, each in its own
// transaction with its schema_migrations row, so a failure leaves the database at
// the last complete version.
func (d *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := d.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite: migrations table: %w", err)
	}
	applied := map[int]bool{}
	rows, err := d.w.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("sqlite: read migrations: %w", err)
	}
	maxApplied := 0
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: read migrations: %w", err)
		}
		applied[v] = true
		maxApplied = max(maxApplied, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: read migrations: %w", err)
	}
	if len(ms) > 0 && maxApplied > ms[len(ms)-1].version {
		return fmt.Errorf("sqlite: database schema version %d is newer than this program's %d", maxApplied, ms[len(ms)-1].version)
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		err := d.write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
		}
	}
	return nil
}

// SchemaVersion returns the highest applied migration version.
func (d *DB) SchemaVersion(ctx context.Context) (int, error) {
	r, err := d.reader()
	if err != nil {
		return 0, err
	}
	var v sql.NullInt64
	if err := r.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlite: schema version: %w", err)
	}
	return int(v.Int64), nil
}

// --- encoding helpers ---

// ms encodes t as Unix milliseconds, the zero time as 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// tm decodes Unix milliseconds, 0 as the zero time, in UTC.
func tm(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// nullStr stores "" as NULL, for unique columns where empty means absent.
func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullPtr stores a nil pointer as NULL.
func nullPtr(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func ptr(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	v := n.Int64
	return &v
}

// rawJSON stores an empty document as NULL.
func rawJSON(j json.RawMessage) any {
	if len(j) == 0 {
		return nil
	}
	return []byte(j)
}

func toRaw(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return json.RawMessage(b)
}

// dbErr maps driver errors to the store's sentinels: unique violations become
// store.ErrConflict, missing referenced rows store.ErrNotFound.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlite: %s: %w: %v", op, store.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("sqlite: %s: referenced row missing: %w: %v", op, store.ErrNotFound, err)
		}
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) ||
		errors.Is(err, store.ErrModemBound) || errors.Is(err, store.ErrInvalidMove) {
		return err
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// mustAffect turns "no row changed" into store.ErrNotFound.
func mustAffect(op string, res sql.Result, err error) error {
	if err != nil {
		return dbErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return dbErr(op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	return nil
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// nowOr returns t, or the current time when t is zero (records whose creation
// time the caller left unset).
func nowOr(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t
}
