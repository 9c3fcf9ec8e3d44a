package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"
)

// Group commit of command writes. Every command costs a create and a send
// write; under load (hundreds of REST callers at once) each in its own
// transaction means one BEGIN/COMMIT and one WAL append of the same few pages
// per write. Instead, callers queue their write; one of them (the leader)
// takes the writer connection, runs everything still queued in a single
// transaction, and hands the lead to the next waiter when more arrived
// meanwhile. The uplink writer's transactions (ApplyUplinks) take what is
// queued as well, so a command write that queued while an uplink batch held
// the connection commits with that batch (rideAlong): under a steady stream
// of uplinks most command writes cost no transaction of their own. A caller
// returns only after the transaction holding its write committed, so a
// command acknowledged to its caller is as durable as with a transaction of
// its own.
//
// An op must change the database with at most one statement: SQLite undoes a
// failed statement by itself, so an op that fails leaves nothing behind and
// the others in its transaction (command writes or uplinks) still commit. An
// op runs with its caller's context stripped of cancellation (checked once,
// before it starts): the driver interrupts a statement whose context ends, and
// SQLite rolls back the whole transaction of an interrupted write, which would
// take the other ops and the uplinks with it.

// maxGroup bounds the ops of one group transaction (and so the wait of the
// first of them).
const maxGroup = 256

// errLead tells a queued op that it now leads.
var errLead = errors.New("sqlite: lead the group")

type groupOp struct {
	ctx  context.Context
	fn   txOp
	done chan error // buffered: errLead (at most once), then the op's outcome
}

// txOp is a command write run in a writer transaction (groupWrite).
type txOp interface {
	run(ctx context.Context, t *wtx) error
}

// opFunc is a txOp of a function.
type opFunc func(ctx context.Context, t *wtx) error

func (f opFunc) run(ctx context.Context, t *wtx) error { return f(ctx, t) }

// cmdGroup is a DB's queue of command writes.
type cmdGroup struct {
	mu      sync.Mutex
	queue   []*groupOp
	leading bool
	// writes counts the command rows created or changed through this DB's
	// command methods (in writer transactions, so in commit order), for
	// command fences (foreign_fence.go).
	writes atomic.Int64
	// rode counts the ops committed in an uplink transaction (rideAlong).
	rode atomic.Int64
	// lead is the transaction of the group's leader (runGroup), reused: only
	// the leader uses it, and there is one leader at a time.
	lead wtx
}

// counted adds n command row writes; mine, when set, counts them as a fence
// holder's own as well.
func (g *cmdGroup) counted(n int64, mine *atomic.Int64) {
	if n == 0 {
		return
	}
	g.writes.Add(n)
	if mine != nil {
		mine.Add(n)
	}
}

// cmdGroups holds each open DB's group. The DB struct is shared with other
// files of the package, so the group lives here, keyed weakly, and goes with
// its DB.
var cmdGroups sync.Map // weak.Pointer[DB] → *cmdGroup

func (d *DB) cmdGroup() *cmdGroup {
	k := weak.Make(d)
	if g, ok := cmdGroups.Load(k); ok {
		return g.(*cmdGroup)
	}
	g, loaded := cmdGroups.LoadOrStore(k, &cmdGroup{})
	if !loaded {
		runtime.AddCleanup(d, func(k weak.Pointer[DB]) { cmdGroups.Delete(k) }, k)
	}
	return g.(*cmdGroup)
}

// groupWrite runs fn in a writer transaction shared with other command writes
// queued at the same time, or with an uplink batch (rideAlong), and returns
// fn's error, or the commit's.
func (d *DB) groupWrite(ctx context.Context, fn txOp) error {
	if d.closed.Load() {
		return errClosed
	}
	g := d.cmdGroup()
	op := &groupOp{ctx: ctx, fn: fn, done: make(chan error, 2)}
	g.mu.Lock()
	g.queue = append(g.queue, op)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if !lead {
		// Not abandoned on ctx: the op may already be in a transaction; it
		// is checked before it starts.
		if err := <-op.done; err != errLead {
			return err
		}
	}
	// Lead: the writer connection first, then whatever is still queued (op
	// itself unless an uplink transaction took it meanwhile).
	conn, err := d.w.Conn(context.Background())
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	if len(g.queue) == 0 {
		g.queue = nil
	}
	g.mu.Unlock()
	var errs []error
	switch {
	case err != nil:
		errs = make([]error, len(batch))
		for i := range errs {
			errs[i] = fmt.Errorf("sqlite: begin: %w", err)
		}
	case len(batch) > 0:
		errs = d.runGroup(g, conn, batch)
	}
	if conn != nil {
		conn.Close()
	}
	for i, o := range batch {
		o.done <- errs[i]
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].done <- errLead
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return <-op.done
}

// runGroup runs the ops in one transaction on conn and returns each one's
// outcome; the caller leads g.
func (d *DB) runGroup(g *cmdGroup, conn *sql.Conn, batch []*groupOp) []error {
	errs := make([]error, len(batch))
	fail := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	if d.closed.Load() {
		return fail(errClosed)
	}
	tx, err := conn.BeginTx(context.Background(), nil)
	if err != nil {
		return fail(fmt.Errorf("sqlite: begin: %w", err))
	}
	g.lead.begin(d, tx)
	ok := runOps(&g.lead, batch, errs)
	g.lead.end()
	if ok == 0 {
		tx.Rollback()
		return errs
	}
	if err := tx.Commit(); err != nil {
		commitFailed(errs, fmt.Errorf("sqlite: commit: %w", err))
	}
	return errs
}

// runOps runs each op whose caller still waits in t, stores its outcome in
// errs and returns how many succeeded.
func runOps(t *wtx, ops []*groupOp, errs []error) int {
	ok := 0
	for i, o := range ops {
		if err := o.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if errs[i] = o.fn.run(context.WithoutCancel(o.ctx), t); errs[i] == nil {
			ok++
		}
	}
	return ok
}

// commitFailed gives the ops that succeeded the commit's error.
func commitFailed(errs []error, err error) {
	for i := range errs {
		if errs[i] == nil {
			errs[i] = err
		}
	}
}

// ride is the command writes an uplink transaction took (rideAlong).
type ride struct {
	ops  []*groupOp
	errs []error
}

// rideAlong runs, in an uplink transaction that has done its own work, the
// command writes queued meanwhile (at most maxGroup), so that they commit
// with it; done delivers their outcomes once the transaction ended.
func (d *DB) rideAlong(t *wtx) *ride {
	g := d.cmdGroup()
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	if n == 0 {
		g.mu.Unlock()
		return nil
	}
	ops := g.queue[:n:n]
	g.queue = g.queue[n:]
	if len(g.queue) == 0 {
		g.queue = nil
	}
	g.mu.Unlock()
	r := &ride{ops: ops, errs: make([]error, n)}
	runOps(t, ops, r.errs)
	return r
}

// done delivers the outcome of each op of the ride: its own, or commitErr
// (the uplink transaction's commit failed) for those that succeeded.
func (r *ride) done(d *DB, commitErr error) {
	if r == nil {
		return
	}
	if commitErr != nil {
		commitFailed(r.errs, commitErr)
	} else {
		d.cmdGroup().rode.Add(int64(len(r.ops)))
	}
	for i, o := range r.ops {
		o.done <- r.errs[i]
	}
}
