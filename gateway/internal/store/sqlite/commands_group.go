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
// per write. Instead, callers queue their write; one of them (the leader) runs
// everything queued in a single transaction, and hands the lead to the next
// waiter when more arrived meanwhile. A caller returns only after the
// transaction holding its write committed, so a command acknowledged to its
// caller is as durable as with a transaction of its own.
//
// An op must change the database with at most one statement: SQLite undoes a
// failed statement by itself, so an op that fails leaves nothing behind and
// the others in its group still commit.

// maxGroup bounds the ops of one group transaction (and so the wait of the
// first of them).
const maxGroup = 256

// errLead tells a queued op that it now leads.
var errLead = errors.New("sqlite: lead the group")

type groupOp struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan error // buffered: the op's outcome, or errLead
}

// cmdGroup is a DB's queue of command writes.
type cmdGroup struct {
	mu      sync.Mutex
	queue   []*groupOp
	leading bool
	// writes counts the command rows created or changed through this DB's
	// command methods (in writer transactions, so in commit order), for
	// command fences (foreign_fence.go).
	writes atomic.Int64
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
// queued at the same time, and returns fn's error, or the commit's.
func (d *DB) groupWrite(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if d.closed.Load() {
		return errClosed
	}
	g := d.cmdGroup()
	op := &groupOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, op)
	if g.leading {
		g.mu.Unlock()
		// Not abandoned on ctx: the op may already be in a transaction; fn
		// itself sees ctx and fails fast.
		if err := <-op.done; err != errLead {
			return err
		}
		g.mu.Lock()
	} else {
		g.leading = true
	}
	// Lead: op is first in the queue (a new leader finds it empty, a handed
	// lead goes to the oldest waiter).
	n := min(len(g.queue), maxGroup)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	if len(g.queue) == 0 {
		g.queue = nil
	}
	g.mu.Unlock()

	errs := d.runGroup(batch)
	for i, o := range batch[1:] {
		o.done <- errs[i+1]
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].done <- errLead
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return errs[0]
}

// runGroup runs the ops in one transaction and returns each one's outcome.
func (d *DB) runGroup(batch []*groupOp) []error {
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
	tx, err := d.w.BeginTx(context.Background(), nil)
	if err != nil {
		return fail(fmt.Errorf("sqlite: begin: %w", err))
	}
	ok := 0
	for i, o := range batch {
		if err := o.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if errs[i] = o.fn(tx); errs[i] == nil {
			ok++
		}
	}
	if ok == 0 {
		tx.Rollback()
		return errs
	}
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("sqlite: commit: %w", err)
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs
}
