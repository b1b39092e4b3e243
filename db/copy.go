package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// `keyward db copy` moves an installation from SQLite to PostgreSQL: every
// row of every table, ids kept, in one transaction on the target, checked
// table by table before it commits. Keys keep working because what a
// verification reads (the SHA-256 of the key, the id, the owner, the state
// columns) is copied as it is.

// copyTables are the tables Copy copies, in an order where every table
// comes after the tables its foreign keys name. TestCopyTablesCoverSchema
// holds this list and notCopied to the schema of both engines: a table
// added by a migration fails that test until it is named in one of them.
var copyTables = []string{
	"users",
	"sessions",
	"teams",
	"team_members",
	"scopes",
	"api_keys",
	"api_tokens",
	"api_idempotency",
	"key_usage_daily",
	"usage_hourly",
	"key_ips",
	"audit_events",
	"user_tokens",
	"settings",
	"server_secrets",
	"login_failures",
	"job_leases",
	"webhook_endpoints",
	"outbox_events",
	"outbox_deliveries",
	"delivery_attempts",
	"notification_prefs",
	"notices_sent",
	"key_refusals_daily",
	"key_usage_hourly",
	"key_hour_ips",
	"key_sightings",
	"alerts",
	"totp_factors",
	"passkeys",
	"recovery_codes",
	"oidc_identities",
}

// notCopied are the tables of the schema Copy leaves alone, and why.
var notCopied = map[string]string{
	"schema_migrations": "the target records the migrations that gave it its schema",
	"auth_challenges":   "sign-in ceremonies in flight live for minutes: a copied one could only be replayed",
	"key_changes": "on SQLite a counter the servers poll, on PostgreSQL a row nothing moves " +
		"(changes are NOTIFYed): the target keeps its own",
}

var (
	// ErrTargetNotEmpty: the target of a copy has rows. A copy keeps ids,
	// so it could only collide with them or merge two histories.
	ErrTargetNotEmpty = errors.New("db: copy: the target database is not empty")
	// ErrCopyMismatch: a table read back from the target, inside the
	// copy's transaction, differs from the source; the copy was rolled
	// back.
	ErrCopyMismatch = errors.New("db: copy: the copy does not match the source")
)

// CopyOptions tune Copy. The zero value is what `keyward db copy` uses.
type CopyOptions struct {
	// BatchRows is the most rows one INSERT carries (fewer for wide
	// tables: both engines bound the parameters of a statement).
	// Defaults to defaultCopyBatch.
	BatchRows int

	// beforeVerify runs in the target's transaction after the rows are
	// written and before they are read back: tests change a row there to
	// prove that a mismatch is found and rolled back.
	beforeVerify func(ctx context.Context, tx *Tx) error
}

// defaultCopyBatch is the rows per INSERT. 500 rows of api_keys are
// 10,000 parameters: past a few hundred rows a larger statement saves
// nothing measurable (see docs/cli.md for the figures).
const defaultCopyBatch = 500

// maxCopyParams keeps a statement under both engines' parameter limits
// (SQLite 32,766, PostgreSQL 65,535).
const maxCopyParams = 30000

// CopyReport is what Copy copied.
type CopyReport struct {
	// From and To name the two databases as Store.Target does (no
	// password).
	From, To string
	// Tables are the tables copied, in copy order.
	Tables []TableCopy
	// Elapsed is the time from the first read to the commit.
	Elapsed time.Duration
}

// Rows is the number of rows copied in all tables.
func (r CopyReport) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Rows
	}
	return n
}

// TableCopy is one table of a copy: its rows and the checksum both sides
// agreed on.
type TableCopy struct {
	Name string
	Rows int64
	// Checksum is the hex SHA-256 of the table's rows in primary-key order
	// (see tableHash), the same on the source and on the target.
	Checksum string
}

// Copy copies every table of from into to, which must be empty, and
// returns what it copied. from is read in one read-only transaction at
// repeatable read: a consistent snapshot even while a server writes to it
// (what is written after the snapshot is not copied, which is why stopping
// the server first is the safe way). Everything is written in one write
// transaction on to (it holds the write lock: no instance on the target
// writes meanwhile), then each table is read back inside that transaction
// and compared with the source, row count and checksum; any difference
// rolls everything back. Both stores must be at this binary's schema.
//
// Ids are kept, so keys, sessions and links keep their ids and every
// reference between rows stays true; afterwards the target's identity
// sequences are moved past the largest id. Copy is written for SQLite to
// PostgreSQL, the move `keyward db copy` makes, but nothing in it depends
// on the direction.
func Copy(ctx context.Context, from, to *Store, opt CopyOptions) (CopyReport, error) {
	start := time.Now()
	rep := CopyReport{From: from.Target(), To: to.Target()}
	if opt.BatchRows <= 0 {
		opt.BatchRows = defaultCopyBatch
	}
	src, err := from.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return rep, fmt.Errorf("db: copy: begin reading the source: %w", err)
	}
	defer src.Rollback()
	dst, err := to.w.BeginTx(ctx, nil)
	if err != nil {
		return rep, fmt.Errorf("db: copy: begin writing the target: %w", err)
	}
	defer dst.Rollback()

	if err := checkCopySchema(ctx, src, "source", from.Target()); err != nil {
		return rep, err
	}
	if err := checkCopySchema(ctx, dst, "target", to.Target()); err != nil {
		return rep, err
	}
	if err := checkTargetEmpty(ctx, dst); err != nil {
		return rep, err
	}

	plans := make([]*tablePlan, 0, len(copyTables))
	for _, name := range copyTables {
		p, err := planTable(ctx, src, dst, name)
		if err != nil {
			return rep, err
		}
		if err := p.copyRows(ctx, src, dst, opt.BatchRows); err != nil {
			return rep, err
		}
		plans = append(plans, p)
	}
	for _, p := range plans {
		if err := p.resetIdentity(ctx, dst); err != nil {
			return rep, err
		}
	}
	if opt.beforeVerify != nil {
		if err := opt.beforeVerify(ctx, dst); err != nil {
			return rep, err
		}
	}
	for _, p := range plans {
		if err := p.verify(ctx, dst); err != nil {
			return rep, err
		}
		rep.Tables = append(rep.Tables, TableCopy{Name: p.name, Rows: p.rows, Checksum: fmt.Sprintf("%x", p.sum)})
	}
	// The first pages served from the copy are planned with statistics of
	// what it holds, not of an empty database (ANALYZE may run inside the
	// transaction, and counts its own rows).
	if to.d.analyzeSQL != "" {
		if _, err := dst.ExecContext(ctx, to.d.analyzeSQL); err != nil {
			return rep, fmt.Errorf("db: copy: analyze: %w", err)
		}
	}
	if err := dst.Commit(); err != nil {
		return rep, fmt.Errorf("db: copy: commit: %w", err)
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// checkCopySchema refuses a database whose recorded migrations are not
// exactly this binary's: the tables would not be the ones Copy knows.
// Open refuses such a database already unless it was allowed to migrate
// it; this is the same rule read inside the copy's own transaction.
func checkCopySchema(ctx context.Context, tx *Tx, side, target string) error {
	applied, err := queryNames(ctx, tx, appliedMigrationsSQL)
	if err != nil {
		return fmt.Errorf("db: copy: read the %s's migrations: %w", side, err)
	}
	if slices.Equal(applied, migrationNames) {
		return nil
	}
	st := Schema{Applied: applied}
	for _, name := range applied {
		if !slices.Contains(migrationNames, name) {
			st.Unknown = append(st.Unknown, name)
		}
	}
	for _, name := range migrationNames {
		if !slices.Contains(applied, name) {
			st.Missing = append(st.Missing, name)
		}
	}
	se := &SchemaError{Unknown: st.Unknown, Missing: st.Missing, Current: st.Current(), Latest: LatestMigration()}
	return fmt.Errorf("db: copy: the %s %s is not at this binary's schema; nothing was written: %w", side, target, se)
}

// checkTargetEmpty refuses a target holding any row in a table Copy
// writes, naming each such table and its rows. It runs in the copy's write
// transaction, so no other copy can fill the target in between.
func checkTargetEmpty(ctx context.Context, tx *Tx) error {
	var found []string
	for _, name := range copyTables {
		var n int64
		// #nosec G201 -- the table name comes from copyTables, not from input.
		if err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM %s`, quoteIdent(name))).Scan(&n); err != nil {
			return fmt.Errorf("db: copy: count the target's %s: %w", name, err)
		}
		if n > 0 {
			found = append(found, fmt.Sprintf("%s: %d %s", name, n, plural(n, "row", "rows")))
		}
	}
	if len(found) > 0 {
		return fmt.Errorf("%w (%s): copy only into a database no Keyward has used; nothing was written",
			ErrTargetNotEmpty, strings.Join(found, ", "))
	}
	return nil
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// quoteIdent quotes a table or column name for both engines ("count",
// "day" and "hour" are column names and SQL words).
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
