package db

import (
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// dialect is everything that differs between the two engines Keyward runs
// on, in one place. The queries of this package are written once, in the
// SQL both engines speak (? placeholders, ON CONFLICT upserts, RETURNING,
// CASE for booleans, CAST for typed VALUES); what they cannot share is here,
// and nowhere else asks which engine it runs on.
type dialect struct {
	// name is "sqlite" or "postgres", for messages and test names.
	name string
	// migrations is the folder of migrationFS holding this engine's
	// migrations. Both folders hold the same names: a schema version means
	// the same tables on either engine (TestMigrationsMatchAcrossEngines).
	migrations string
	// tablesSQL lists the database's tables (one text column), for the
	// schema guard.
	tablesSQL string
	// lockWrites, when set, runs first in every transaction of the writer
	// pool, to serialise writers across processes (see conn.BeginTx).
	lockWrites string
	// placeholders: "?" is rewritten to "$1", "$2", … (PostgreSQL).
	numbered bool
	// likeFold is the case-insensitive LIKE: SQLite's LIKE already folds
	// ASCII case; PostgreSQL spells it ILIKE.
	likeFold string
	// strpos is the name of the function that finds a substring (1-based,
	// 0 when absent), called (haystack, needle) on both engines.
	strpos string
	// equalFoldFmt compares a column with a parameter ignoring case; %s is
	// the column. It matches the case-insensitive index on that column.
	equalFoldFmt string
	// analyzeSQL, when set, refreshes the planner's statistics after a bulk
	// load (db copy). PostgreSQL plans by statistics that autovacuum
	// gathers only later; SQLite's indexes are chosen for a planner
	// without statistics (migrations/0003_admin.sql), so it has none.
	analyzeSQL string
	// skipLocked ends a SELECT that picks rows to claim: PostgreSQL's
	// " FOR UPDATE SKIP LOCKED", so instances claiming at once each take
	// other rows; SQLite has one writer and no row locks.
	skipLocked string
	// classify marks connection-level failures as ErrUnavailable.
	classify func(error) error
	// uniqueViolation reports whether err is a unique or primary key
	// constraint failing: a concurrent insert of the same row won.
	uniqueViolation func(error) bool

	// What `keyward db copy` (copy.go) needs to read and rebuild a table
	// on either side.
	//
	// columnsSQL lists the columns of the table named by its one
	// parameter, in table order: name, declared type, and the column's
	// position in the primary key (1-based; 0 when not part of it).
	columnsSQL string
	// binaryOrderFmt orders by a text column %s byte by byte, so that both
	// engines read rows in the same order for the copy's checksums:
	// SQLite's BINARY collation, PostgreSQL's "C" (its default collation
	// follows the locale).
	binaryOrderFmt string
	// resetIdentityFmt, when set, moves the identity sequence of table %s
	// (also the one parameter, as text) past the largest id, so the rows
	// inserted after a copy that kept its ids do not collide with them.
	// SQLite's INTEGER PRIMARY KEY takes the largest id plus one by itself.
	resetIdentityFmt string

	// foreignKeysOff and foreignKeysOn bracket a migration that must run
	// with foreign keys off (one marked foreignKeysOffMark): a table
	// rebuild on SQLite. foreignKeyCheck lists violations; any fails it.
	foreignKeysOff, foreignKeysOn, foreignKeyCheck string
}

var sqliteDialect = &dialect{
	name:       "sqlite",
	migrations: "migrations",
	tablesSQL: `SELECT name FROM sqlite_master
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`,
	likeFold:        "LIKE",
	strpos:          "instr",
	equalFoldFmt:    "%s = ? COLLATE NOCASE",
	classify:        Unavailable,
	uniqueViolation: sqliteUniqueViolation,
	columnsSQL:      `SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid`,
	binaryOrderFmt:  "%s COLLATE BINARY",
	foreignKeysOff:  "PRAGMA foreign_keys = OFF",
	foreignKeysOn:   "PRAGMA foreign_keys = ON",
	foreignKeyCheck: "PRAGMA foreign_key_check",
}

// writeLockKey is the advisory lock every PostgreSQL write transaction takes
// (an arbitrary constant: "kw" in ASCII, then 1).
const writeLockKey = 0x6b7701

var postgresDialect = &dialect{
	name:       "postgres",
	migrations: "migrations/postgres",
	tablesSQL: `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`,
	lockWrites:   "SELECT pg_advisory_xact_lock(" + strconv.Itoa(writeLockKey) + ")",
	numbered:     true,
	likeFold:     "ILIKE",
	skipLocked:   " FOR UPDATE SKIP LOCKED",
	strpos:       "strpos",
	equalFoldFmt: "lower(%s) = lower(?)",
	classify:     Unavailable,
	uniqueViolation: func(err error) bool {
		pe, ok := errors.AsType[*pgconn.PgError](err)
		return ok && pe.Code == "23505" // unique_violation
	},
	columnsSQL: `SELECT c.column_name, c.data_type, COALESCE(k.ordinal_position, 0)
		FROM information_schema.columns c
		LEFT JOIN information_schema.table_constraints p
			ON p.table_schema = c.table_schema AND p.table_name = c.table_name
			AND p.constraint_type = 'PRIMARY KEY'
		LEFT JOIN information_schema.key_column_usage k
			ON k.constraint_schema = p.constraint_schema AND k.constraint_name = p.constraint_name
			AND k.table_name = c.table_name AND k.column_name = c.column_name
		WHERE c.table_schema = current_schema() AND c.table_name = ?
		ORDER BY c.ordinal_position`,
	binaryOrderFmt: `%s COLLATE "C"`,
	analyzeSQL:     "ANALYZE",
	resetIdentityFmt: `SELECT setval(pg_get_serial_sequence(?, 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL)
		FROM %s`,
}

// rebind turns the ? placeholders of query into the engine's own. A ?
// inside a string literal, a quoted identifier or a comment is left alone.
func (d *dialect) rebind(query string) string {
	if !d.numbered || strings.IndexByte(query, '?') < 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			end := strings.IndexByte(query[i+1:], c)
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+2])
			i += end + 1
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+1])
			i += end
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// sqliteUniqueViolation: SQLITE_CONSTRAINT_PRIMARYKEY (1555) or
// SQLITE_CONSTRAINT_UNIQUE (2067), read through the driver error's Code
// method.
func sqliteUniqueViolation(err error) bool {
	ce, ok := errors.AsType[interface {
		error
		Code() int
	}](err)
	return ok && (ce.Code() == 1555 || ce.Code() == 2067)
}

// equalFold is a condition comparing column with one parameter, ignoring
// case.
func (d *dialect) equalFold(column string) string {
	return strings.Replace(d.equalFoldFmt, "%s", column, 1)
}
