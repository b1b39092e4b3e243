package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
)

// serverSecretSize is the length of a new server secret: 256 bits, the
// size of an HMAC-SHA256 key.
const serverSecretSize = 32

// #nosec G101 -- SQL naming the server_secrets table, not a credential.
const (
	serverSecretSQL       = `SELECT value FROM server_secrets WHERE name = ?`
	insertServerSecretSQL = `INSERT INTO server_secrets (name, value, created_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING`
)

// ServerSecret returns the secret called name, creating it from
// crypto/rand the first time any process asks. It lives in the database,
// not in memory or a flag, so that what it signs stays valid across a
// restart and on every instance. Two processes asking at once both get
// the one that was stored first. The caller keeps it to itself: a secret
// is never logged or shown.
func (s *Store) ServerSecret(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx, serverSecretSQL, name).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("db: server secret %q: %w", name, err)
	}
	fresh := make([]byte, serverSecretSize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("db: server secret %q: %w", name, err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("db: server secret %q: %w", name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, insertServerSecretSQL, name, fresh, toMillis(s.Now())); err != nil {
		return nil, fmt.Errorf("db: server secret %q: %w", name, err)
	}
	if err := tx.QueryRowContext(ctx, serverSecretSQL, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("db: server secret %q: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("db: server secret %q: %w", name, err)
	}
	return v, nil
}
