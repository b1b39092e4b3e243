package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
)

// The schema is a series of numbered .sql files embedded from
// db/migrations. Each is applied once, in file-name order, in its own
// transaction, and recorded by base name in schema_migrations. A binary
// knows exactly the migrations it embeds, so the names recorded in a
// database say whether that binary may use it: a name it does not embed
// means a newer Keyward changed the schema in ways this one does not know.

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// migrationNames are the embedded migrations' base names in the order they
// apply. fs.ReadDir returns them sorted by name.
var migrationNames = func() []string {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		// The go:embed directive above guarantees the directory: reaching
		// this means a broken build, not a condition to handle at run time.
		panic(fmt.Sprintf("db: list embedded migrations: %v", err))
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	return names
}()

// LatestMigration is the newest migration this binary embeds, such as
// "0004_key_changes.sql": the schema version it creates and expects.
func LatestMigration() string { return migrationNames[len(migrationNames)-1] }

// MigrationNumber is the number a migration's name starts with ("0004_…"
// is 4), the short form of a schema version; 0 for a name without one.
func MigrationNumber(name string) int {
	digits, _, _ := strings.Cut(name, "_")
	n, err := strconv.Atoi(digits)
	if err != nil {
		return 0
	}
	return n
}

// Migration says what Open may do to the schema of the database it opens.
type Migration int

const (
	// MigrateNewOnly, the default, gives a new database (one with no
	// tables yet) the whole schema, and refuses an existing database whose
	// schema is behind with a *SchemaError. A CLI command runs beside a
	// server that may be an older binary: it must not change the schema
	// under that server.
	MigrateNewOnly Migration = iota
	// MigrateForward also applies the migrations an existing database
	// lacks. Only `keyward serve` asks for it: starting the new version's
	// server is the one deliberate act of upgrading.
	MigrateForward
)

var (
	// ErrSchemaTooNew: the database records migrations this binary does
	// not embed. A *SchemaError unwraps to it.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
	// ErrSchemaBehind: the database lacks migrations this binary embeds
	// and Open was not allowed to apply them. A *SchemaError unwraps to it.
	ErrSchemaBehind = errors.New("database schema is older than this binary")
	// ErrNotKeyward: the database has tables but no record of Keyward's
	// migrations, so it belongs to something else; Open leaves it alone
	// rather than write Keyward's tables into it.
	ErrNotKeyward = errors.New("not a Keyward database")
)

// SchemaError is why Open refused a database whose schema does not match
// the migrations this binary embeds. Open returns it before it writes
// anything, so the database is as it was.
type SchemaError struct {
	// Unknown lists the migrations the database records that this binary
	// does not embed. When it is not empty the database is too new,
	// whatever else it lacks: this binary does not know the tables and
	// rules those migrations made, and could break them.
	Unknown []string
	// Missing lists the migrations this binary embeds that the database
	// has not applied.
	Missing []string
	// Current is the newest migration the database records.
	Current string
	// Latest is the newest migration this binary embeds.
	Latest string
}

// TooNew reports whether the database was upgraded by a newer binary.
func (e *SchemaError) TooNew() bool { return len(e.Unknown) > 0 }

func (e *SchemaError) Error() string {
	if e.TooNew() {
		return fmt.Sprintf("db: the database has schema migrations this binary does not know (%s); the newest it knows is %s: run the newer Keyward that applied them, or restore a backup made before they were applied",
			strings.Join(e.Unknown, ", "), e.Latest)
	}
	return fmt.Sprintf("db: the database schema is at %s, behind this binary's %s (missing %s), and this open may not migrate it",
		e.Current, e.Latest, strings.Join(e.Missing, ", "))
}

func (e *SchemaError) Unwrap() error {
	if e.TooNew() {
		return ErrSchemaTooNew
	}
	return ErrSchemaBehind
}

// Schema is what a database records of its migrations, compared with the
// migrations this binary embeds.
type Schema struct {
	// Applied lists the migrations recorded in schema_migrations, in the
	// order they apply.
	Applied []string
	// Unknown lists the applied migrations this binary does not embed.
	Unknown []string
	// Missing lists the embedded migrations not applied.
	Missing []string
	// Tables lists the database's tables other than schema_migrations.
	Tables []string
}

// Current is the newest migration the database records, "" for none.
func (s Schema) Current() string {
	if len(s.Applied) == 0 {
		return ""
	}
	return s.Applied[len(s.Applied)-1]
}

// Empty reports a new database: no tables and no migration recorded.
func (s Schema) Empty() bool { return len(s.Applied) == 0 && len(s.Tables) == 0 }

// Foreign reports a database with tables but no migration recorded: one
// that some other program made.
func (s Schema) Foreign() bool { return len(s.Applied) == 0 && len(s.Tables) > 0 }

const appliedMigrationsSQL = `SELECT name FROM schema_migrations ORDER BY name`

// readSchema reads the tables and the recorded migrations in one read
// transaction of conn, so that a migration committed by another process in
// between cannot make the two disagree.
func readSchema(ctx context.Context, pool *sql.DB, d *dialect) (Schema, error) {
	sqlTx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return Schema{}, fmt.Errorf("db: read schema: %w", d.classify(err))
	}
	tx := &Tx{tx: sqlTx, d: d}
	defer tx.Rollback()
	tables, err := queryNames(ctx, tx, d.tablesSQL)
	if err != nil {
		return Schema{}, fmt.Errorf("db: read schema: %w", err)
	}
	var st Schema
	hasMigrations := false
	for _, t := range tables {
		if t == "schema_migrations" {
			hasMigrations = true
		} else {
			st.Tables = append(st.Tables, t)
		}
	}
	if hasMigrations {
		if st.Applied, err = queryNames(ctx, tx, appliedMigrationsSQL); err != nil {
			return Schema{}, fmt.Errorf("db: read schema_migrations: %w", err)
		}
	}
	for _, name := range st.Applied {
		if !slices.Contains(migrationNames, name) {
			st.Unknown = append(st.Unknown, name)
		}
	}
	for _, name := range migrationNames {
		if !slices.Contains(st.Applied, name) {
			st.Missing = append(st.Missing, name)
		}
	}
	return st, nil
}

// queryNames runs a query of one text column and collects it.
func queryNames(ctx context.Context, tx *Tx, query string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// ReadSchema reports the schema of the existing database at path without
// creating, migrating or changing it, for `keyward version`, which may run
// beside a server and must leave no file behind. A missing file is an
// error that wraps fs.ErrNotExist.
//
// path may be a PostgreSQL URL: its schema is read in one read-only
// transaction.
func ReadSchema(ctx context.Context, path string) (Schema, error) {
	if IsPostgres(path) {
		return readPostgresSchema(ctx, path)
	}
	if _, err := os.Stat(path); err != nil {
		return Schema{}, fmt.Errorf("db: read schema: %w", err)
	}
	return inspectSchema(ctx, path)
}

// inspectSchema reads the schema of the existing file at path through a
// connection of its own that can change nothing: not even the pragmas the
// Store's pools set (journal_mode(WAL) rewrites the file header), so that a
// database Open refuses is left exactly as it was.
func inspectSchema(ctx context.Context, path string) (Schema, error) {
	// mode=rw, not mode=ro: a read-only connection to a WAL database
	// creates its -wal and -shm files and, unable to checkpoint, leaves
	// them behind, while a read-write one removes them when it is the last
	// to close. Neither mode creates a missing database file (only rwc
	// does), and query_only refuses every write.
	q := url.Values{}
	q.Set("mode", "rw")
	q.Add("_pragma", "query_only(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	d, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return Schema{}, fmt.Errorf("db: read schema: %w", err)
	}
	defer d.Close()
	d.SetMaxOpenConns(1)
	return readSchema(ctx, d, sqliteDialect)
}

// check decides whether Open may use a database with this schema, and
// returns why not: unknown migrations always refuse; a new database is
// always given the schema; an existing one that is behind is brought
// forward only with MigrateForward.
func (s Schema) check(mode Migration) error {
	switch {
	case len(s.Unknown) > 0:
		return &SchemaError{Unknown: s.Unknown, Missing: s.Missing, Current: s.Current(), Latest: LatestMigration()}
	case len(s.Missing) == 0, s.Empty():
		return nil
	case s.Foreign():
		return fmt.Errorf("db: %w: it has tables (%s) but no record of Keyward's migrations; nothing was changed",
			ErrNotKeyward, strings.Join(s.Tables, ", "))
	case mode != MigrateForward:
		return &SchemaError{Missing: s.Missing, Current: s.Current(), Latest: LatestMigration()}
	}
	return nil
}

// createMigrationsSQL is the table of applied migrations, the same on both
// engines (BIGINT is an INTEGER to SQLite).
const createMigrationsSQL = `CREATE TABLE IF NOT EXISTS schema_migrations (
	name TEXT PRIMARY KEY,
	applied_at BIGINT NOT NULL
)`

// foreignKeysOffMark, as the first line of a SQLite migration, applies it
// with foreign keys off: the documented way to rebuild a table that others
// reference (DROP TABLE would otherwise cascade into them). The foreign
// keys are checked before the migration commits.
const foreignKeysOffMark = "-- keyward:foreign-keys-off\n"

// checkForeignKeys fails a migration that left a reference dangling.
func checkForeignKeys(ctx context.Context, tx *Tx, d *dialect, name string) error {
	if d.foreignKeyCheck == "" {
		return nil
	}
	rows, err := tx.tx.QueryContext(ctx, d.foreignKeyCheck)
	if err != nil {
		return fmt.Errorf("db: migration %s: check foreign keys: %w", name, err)
	}
	defer rows.Close()
	if rows.Next() {
		return fmt.Errorf("db: migration %s leaves foreign keys dangling; nothing was changed", name)
	}
	return rows.Err()
}

// migrate applies the migrations named (in order), each in its own
// transaction.
func (s *Store) migrate(ctx context.Context, names []string) error {
	for _, name := range names {
		if err := s.applyMigration(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// applyMigration applies one migration unless it is recorded already. It
// checks again inside its write transaction (IMMEDIATE on SQLite, under the
// write lock on PostgreSQL), because two processes may both find a new
// database empty and race to create its schema.
func (s *Store) applyMigration(ctx context.Context, name string) error {
	body, err := migrationFS.ReadFile(s.d.migrations + "/" + name)
	if err != nil {
		return fmt.Errorf("db: read migration %s: %w", name, err)
	}
	if s.d.foreignKeysOff != "" && strings.HasPrefix(string(body), foreignKeysOffMark) {
		// PRAGMA foreign_keys is a no-op inside a transaction, so it is
		// set around it, on the SQLite writer's one connection.
		if _, err := s.w.ExecContext(ctx, s.d.foreignKeysOff); err != nil {
			return fmt.Errorf("db: migration %s: foreign keys off: %w", name, err)
		}
		defer func() { _, _ = s.w.ExecContext(context.WithoutCancel(ctx), s.d.foreignKeysOn) }()
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: begin migration %s: %w", name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, createMigrationsSQL); err != nil {
		return fmt.Errorf("db: create schema_migrations: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return fmt.Errorf("db: check migration %s: %w", name, err)
	}
	if n > 0 {
		return nil
	}
	// The file goes to the engine as it is (tx.tx: no placeholder
	// rewriting; its comments may hold a "?").
	if _, err := tx.tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("db: apply migration %s: %w", name, err)
	}
	if err := checkForeignKeys(ctx, tx, s.d, name); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`,
		name, s.Now().UnixMilli()); err != nil {
		return fmt.Errorf("db: record migration %s: %w", name, err)
	}
	return tx.Commit()
}
