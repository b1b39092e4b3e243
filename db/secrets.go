package db

import (
	"context"
	"database/sql"
	"encoding/base64"
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
	deleteServerSecretSQL = `DELETE FROM server_secrets WHERE name = ?`
)

// setupTokenSecret is the server secret behind the setup link.
// #nosec G101 -- the name of a secret, not a credential.
const setupTokenSecret = "setup_token"

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
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("db: server secret %q: %w", name, err)
	}
	defer tx.Rollback()
	if v, err = serverSecretInTx(ctx, tx, s.Now(), name); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("db: server secret %q: %w", name, err)
	}
	return v, nil
}

// SetupToken is the one-time token of the setup link: a server secret in
// base64url, so every instance on the database prints the same link and
// accepts it, whichever one the browser reaches. Creating an admin deletes
// the secret in the same transaction (createUser), so a link once printed
// never works again; should every admin later be gone, the next call makes
// a new one.
func (s *Store) SetupToken(ctx context.Context) (string, error) {
	b, err := s.ServerSecret(ctx, setupTokenSecret)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
