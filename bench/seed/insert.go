package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for a postgres:// target

	"github.com/keyward/keyward/db"
)

// keyRow is one key of the large installation.
type keyRow struct {
	owner   int64
	name    string
	secret  string
	scopes  []string
	created time.Time
	expires *time.Time
}

// insertKeysSQL mirrors db's own insert (db/keys_write.go): the same
// columns, the SHA-256 of the key, its hint, space-separated scopes and
// unix-millisecond times. RETURNING works on both engines.
const insertKeysSQL = `INSERT INTO api_keys (user_id, name, key_hash, hint, scopes, created_at, expires_at)
	VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`

// insertKeys writes rows in one transaction and returns their ids in order.
// This is the one place the seed goes around the db package: 100,000
// CreateKey calls are 100,000 transactions with an audit event each, which
// takes minutes of the ten make bench has; one transaction takes seconds.
// Everything else (users, last uses through the verifier, bulk revocations)
// goes through db.Store.
//
// On PostgreSQL (path is a postgres:// URL) the insert takes numbered
// placeholders, and ANALYZE follows, as `keyward db copy` does and as
// autovacuum would on a real server: PostgreSQL plans by statistics.
// SQLite gets none: its indexes are chosen for a planner without them
// (db/migrations/0003_admin.sql).
func insertKeys(ctx context.Context, path string, rows []keyRow) ([]int64, error) {
	driver, dsn, query, analyze := "sqlite", sqliteDSN(path), insertKeysSQL, false
	if db.IsPostgres(path) {
		driver, dsn, analyze = "pgx", path, true
		query = strings.NewReplacer("(?, ?, ?, ?, ?, ?, ?)", "($1, $2, $3, $4, $5, $6, $7)").Replace(query)
	}
	conn, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		h := db.HashKey(r.secret)
		var exp any
		if r.expires != nil {
			exp = r.expires.UnixMilli()
		}
		var id int64
		if err := stmt.QueryRowContext(ctx, r.owner, r.name, h[:], db.KeyHint(r.secret),
			strings.Join(r.scopes, " "), r.created.UnixMilli(), exp).Scan(&id); err != nil {
			return nil, fmt.Errorf("insert %s: %w", r.name, err)
		}
		ids = append(ids, id)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	if analyze {
		if _, err := conn.ExecContext(ctx, "ANALYZE"); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// sqliteDSN opens the seed's SQLite file with the pragmas Keyward's own
// writer uses.
func sqliteDSN(path string) string {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}
