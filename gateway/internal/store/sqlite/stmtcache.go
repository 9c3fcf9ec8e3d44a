package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
)

// Bounds of the read statement cache. The engine's read queries are constants
// (a few dozen texts, a handful more built from a fixed set of fragments), so
// the cap is never reached in practice; it only guards against a caller that
// builds query texts from data.
const (
	// maxReadStmts is the most read statements kept prepared.
	maxReadStmts = 256
	// maxStmtParams: a query with more positional parameters than this is an
	// IN (?,?,…) list built for its argument count (MachineListSeen); one
	// statement per length would fill the cache, so it is run unprepared.
	maxStmtParams = 32
)

// readPool is what reader() hands to the engine's read methods: the read pool
// with the same QueryContext/QueryRowContext methods as *sql.DB, running each
// query text through a statement prepared once.
//
// Why: modernc.org/sqlite compiles the SQL text on every DB.QueryContext (its
// conn.query prepares, steps and finalizes a statement per call), and the parse
// was a fifth of the CPU of a reconnect storm. A DB-level *sql.Stmt is prepared
// lazily on each pool connection the first time it runs there (database/sql
// keeps one driver statement per connection and re-prepares on a new
// connection), and modernc keeps the compiled sqlite3_stmt of a single-statement
// text and only resets it between runs, so the parse happens once per query
// text and connection.
//
// Lifetime: the statements are closed by close(), before the pool itself
// (closing a *sql.DB would also finalize the driver statements with their
// connections, but closing the Stmts first releases their bookkeeping).
type readPool struct {
	db *sql.DB

	stmts  sync.Map // query text → *sql.Stmt
	n      atomic.Int32
	mu     sync.Mutex // serialises inserts and close
	closed bool
}

func newReadPool(db *sql.DB) *readPool { return &readPool{db: db} }

// QueryContext is sql.DB.QueryContext through the statement cache.
func (p *readPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := p.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

// QueryRowContext is sql.DB.QueryRowContext through the statement cache.
func (p *readPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := p.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// stmt returns the prepared statement for query, preparing it on first use;
// nil means "run the text directly": the cache is full or closed, the query is
// a generated IN list, or preparing failed (the direct run then reports the
// error exactly as before).
func (p *readPool) stmt(ctx context.Context, query string) *sql.Stmt {
	if v, ok := p.stmts.Load(query); ok {
		return v.(*sql.Stmt)
	}
	if p.n.Load() >= maxReadStmts || strings.Count(query, "?") > maxStmtParams {
		return nil
	}
	// Prepare without holding mu: preparing waits for a pool connection, and
	// a goroutine holding one (rows open) may be about to look a statement up.
	s, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.n.Load() >= maxReadStmts {
		s.Close()
		return nil
	}
	if v, loaded := p.stmts.LoadOrStore(query, s); loaded {
		s.Close() // another goroutine prepared it meanwhile
		return v.(*sql.Stmt)
	}
	p.n.Add(1)
	return s
}

// size returns how many statements are cached (tests).
func (p *readPool) size() int { return int(p.n.Load()) }

// close closes every cached statement; later look-ups run unprepared (the
// engine refuses them with errClosed before they get here).
func (p *readPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.stmts.Range(func(k, v any) bool {
		v.(*sql.Stmt).Close()
		p.stmts.Delete(k)
		return true
	})
}
