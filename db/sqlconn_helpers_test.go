package db

import (
	"context"
	"database/sql"
)

// Short forms of the conn and Tx methods for tests that set rows up by
// hand; they go through the same placeholder rewriting as the Store's
// own queries, so the tests run unchanged on both engines.

func (c *conn) Exec(query string, args ...any) (sql.Result, error) {
	return c.ExecContext(context.Background(), query, args...)
}

func (c *conn) QueryRow(query string, args ...any) *Row {
	return c.QueryRowContext(context.Background(), query, args...)
}

func (c *conn) Begin() (*Tx, error) { return c.BeginTx(context.Background(), nil) }

func (t *Tx) Exec(query string, args ...any) (sql.Result, error) {
	return t.ExecContext(context.Background(), query, args...)
}

func (t *Tx) Prepare(query string) (*Stmt, error) {
	return t.PrepareContext(context.Background(), query)
}

func (s *Stmt) Exec(args ...any) (sql.Result, error) {
	return s.ExecContext(context.Background(), args...)
}
