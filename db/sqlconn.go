package db

import (
	"context"
	"database/sql"
	"sync/atomic"
)

// conn is a pool of one engine. Every query in this package is written
// once, with ? placeholders, and passes through conn or Tx, which hand it
// to the engine in its own dialect (dialect.rebind) and classify the
// errors that come back (dialect.classify), so that no query knows which
// engine runs it.
type conn struct {
	db *sql.DB
	d  *dialect
	// writer marks the pool every write goes through: its transactions
	// are the ones serialised across processes (see BeginTx).
	writer bool
	// enqueued, when set, runs after the commit of a transaction that
	// wrote to the outbox (Store.SetOutboxHook): it wakes the delivery
	// worker, so no event waits for the worker's next poll.
	enqueued atomic.Pointer[func()]
	// mirror, when set, receives the audit events of every committed
	// transaction (Store.SetAuditMirror).
	mirror atomic.Pointer[AuditMirror]
}

// Tx is a transaction on a conn. Begin it with conn.BeginTx; end it with
// Commit, and defer Rollback.
type Tx struct {
	tx *sql.Tx
	d  *dialect
	c  *conn
	// enqueued: the transaction wrote an outbox event (see enqueue).
	enqueued bool
	// events, when set, collects the transaction's outbox rows for
	// flushEvents (see batchEvents).
	events *eventBatch
	// stmts, when set, keeps the statements run through execCached and
	// queryRowCached prepared for the rest of the transaction.
	stmts map[string]*Stmt
	// audits are the audit events the transaction wrote, kept for the
	// mirror while one is set; handed over only once Commit succeeds.
	audits []AuditEvent
}

// Row is the result of QueryRowContext; its Scan classifies errors.
type Row struct {
	row *sql.Row
	d   *dialect
}

// Rows is the result of QueryContext; Scan and Err classify errors.
type Rows struct {
	*sql.Rows
	d *dialect
}

func (c *conn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := c.db.ExecContext(ctx, c.d.rebind(query), args...)
	return res, c.d.classify(err)
}

func (c *conn) QueryContext(ctx context.Context, query string, args ...any) (*Rows, error) {
	rows, err := c.db.QueryContext(ctx, c.d.rebind(query), args...)
	if err != nil {
		return nil, c.d.classify(err)
	}
	return &Rows{rows, c.d}, nil
}

func (c *conn) QueryRowContext(ctx context.Context, query string, args ...any) *Row {
	return &Row{c.db.QueryRowContext(ctx, c.d.rebind(query), args...), c.d}
}

// BeginTx begins a transaction. On the writer pool, transactions are one
// at a time across every process using the database, on both engines:
// SQLite's writer begins IMMEDIATE (its DSN says _txlock=immediate), and on
// PostgreSQL the dialect's lockWrites takes a transaction-level advisory
// lock first. The rules that read before they write (the last admin, one
// successor per key, one key per form) rely on it.
func (c *conn) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	tx, err := c.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, c.d.classify(err)
	}
	if c.writer && c.d.lockWrites != "" {
		if _, err := tx.ExecContext(ctx, c.d.lockWrites); err != nil {
			_ = tx.Rollback() // the lock error is the one to report
			return nil, c.d.classify(err)
		}
	}
	return &Tx{tx: tx, d: c.d, c: c}, nil
}

func (c *conn) Close() error { return c.db.Close() }

func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := t.tx.ExecContext(ctx, t.d.rebind(query), args...)
	return res, t.d.classify(err)
}

func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*Rows, error) {
	rows, err := t.tx.QueryContext(ctx, t.d.rebind(query), args...)
	if err != nil {
		return nil, t.d.classify(err)
	}
	return &Rows{rows, t.d}, nil
}

func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *Row {
	return &Row{t.tx.QueryRowContext(ctx, t.d.rebind(query), args...), t.d}
}

// Commit commits, then wakes the outbox worker if the transaction wrote an
// event.
func (t *Tx) Commit() error {
	if t.events != nil && len(t.events.rows) > 0 {
		return errUnflushedEvents
	}
	if err := t.tx.Commit(); err != nil {
		return t.d.classify(err)
	}
	if t.enqueued && t.c != nil {
		if fn := t.c.enqueued.Load(); fn != nil {
			(*fn)()
		}
	}
	if len(t.audits) > 0 {
		if m := t.c.mirror.Load(); m != nil {
			m.add(t.audits)
		}
		t.audits = nil
	}
	return nil
}

func (t *Tx) Rollback() error { return t.tx.Rollback() }

func (r *Row) Scan(dest ...any) error { return r.d.classify(r.row.Scan(dest...)) }
func (r *Row) Err() error             { return r.d.classify(r.row.Err()) }

func (r *Rows) Scan(dest ...any) error { return r.d.classify(r.Rows.Scan(dest...)) }
func (r *Rows) Err() error             { return r.d.classify(r.Rows.Err()) }

// Stmt is a statement prepared in a transaction, for loops that run it
// many times.
type Stmt struct {
	st *sql.Stmt
	d  *dialect
}

func (t *Tx) PrepareContext(ctx context.Context, query string) (*Stmt, error) {
	st, err := t.tx.PrepareContext(ctx, t.d.rebind(query))
	if err != nil {
		return nil, t.d.classify(err)
	}
	return &Stmt{st, t.d}, nil
}

func (s *Stmt) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	res, err := s.st.ExecContext(ctx, args...)
	return res, s.d.classify(err)
}

func (s *Stmt) QueryRowContext(ctx context.Context, args ...any) *Row {
	return &Row{s.st.QueryRowContext(ctx, args...), s.d}
}

func (s *Stmt) Close() error { return s.st.Close() }

// reuseStatements makes execCached and queryRowCached prepare each query
// once for the rest of the transaction: for transactions that run the
// same few statements hundreds of times (a bulk action, a usage flush),
// where SQLite would otherwise compile each one again every time. Others
// run them as they come, which on PostgreSQL saves the round trip of an
// explicit prepare.
func (t *Tx) reuseStatements() {
	if t.stmts == nil {
		t.stmts = map[string]*Stmt{}
	}
}

// cached returns query prepared in t, or nil when t does not reuse
// statements. The statements close with the transaction.
func (t *Tx) cached(ctx context.Context, query string) (*Stmt, error) {
	if t.stmts == nil {
		return nil, nil
	}
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	st, err := t.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	t.stmts[query] = st
	return st, nil
}

// execCached runs query, prepared once when t reuses statements.
func (t *Tx) execCached(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return t.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// queryCached runs query for rows, prepared once when t reuses statements:
// a usage flush runs the same 200-row statement for every chunk, and
// compiling it is most of its cost on SQLite.
func (t *Tx) queryCached(ctx context.Context, query string, args ...any) (*Rows, error) {
	st, err := t.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return t.QueryContext(ctx, query, args...)
	}
	rows, err := st.st.QueryContext(ctx, args...)
	if err != nil {
		return nil, t.d.classify(err)
	}
	return &Rows{rows, t.d}, nil
}

// queryRowCached runs query for one row, prepared once when t reuses
// statements. A failed prepare is reported by the row's Scan.
func (t *Tx) queryRowCached(ctx context.Context, query string, args ...any) *Row {
	st, err := t.cached(ctx, query)
	if err != nil || st == nil {
		return t.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
