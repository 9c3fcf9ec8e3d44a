package sqlite

import (
	"context"
	"database/sql"
)

// wtx is a writer transaction whose statements are bound to it once each.
// tx.StmtContext (txStmt) makes a new transaction statement on every call: a
// *sql.Stmt, its driver statement record and database/sql's dependency
// bookkeeping, all kept until the transaction ends. Binding per command write
// or per uplink kind and batch cost those allocations every time; the command
// writes and uplinks of one transaction now share one binding per query.
//
// A wtx may serve one transaction after another (the command group
// leader's, cmdGroup.lead; an uplink batch's, batch.t, which the command
// writes riding along use too): begin starts it on a transaction, end
// forgets the transaction; the statements themselves are closed by the
// transaction's commit or rollback.
type wtx struct {
	d     *DB
	tx    *sql.Tx
	stmts map[string]*sql.Stmt

	// fence is the fence check's row for this transaction, read on first use
	// (foreign_fence.go); fenceRead tells whether it was.
	fence     fenceRow
	fenceRead bool
}

// begin starts t on tx.
func (t *wtx) begin(d *DB, tx *sql.Tx) {
	t.d, t.tx = d, tx
	if t.stmts == nil {
		t.stmts = make(map[string]*sql.Stmt, 8)
	}
}

// end forgets the transaction, so that nothing of it carries over to the next.
func (t *wtx) end() {
	t.tx = nil
	clear(t.stmts)
	t.fence, t.fenceRead = fenceRow{}, false
}

// stmt returns query bound to the transaction, binding it on first use.
func (t *wtx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := t.stmts[query]; ok {
		return s, nil
	}
	s, err := t.d.txStmt(ctx, t.tx, query)
	if err != nil {
		return nil, err
	}
	t.stmts[query] = s
	return s, nil
}
