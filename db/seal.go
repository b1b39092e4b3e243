package db

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Sealing keeps the few secrets Keyward must read back (a webhook's signing
// secret, the token of an invite link waiting in the outbox) unreadable in
// a copy of the database alone: AES-256-GCM under the "outbox_seal" server
// secret. It guards a leaked backup file, not a compromised server, which
// holds both.

// sealInTx seals plain with the seal secret read (or created) inside tx, so
// a transaction that enqueues never waits for a second writer.
func sealInTx(ctx context.Context, tx *Tx, at time.Time, plain []byte) ([]byte, error) {
	key, err := serverSecretInTx(ctx, tx, at, outboxSealSecret)
	if err != nil {
		return nil, err
	}
	return seal(key, plain)
}

func seal(key, plain []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("db: seal: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, nil), nil
}

// errSealBroken: a sealed value does not open with the seal secret (the
// database was tampered with, or its server secrets were not copied).
var errSealBroken = errors.New("db: sealed value does not open")

// unseal opens what seal sealed under the store's seal secret.
func (s *Store) unseal(ctx context.Context, sealed []byte) ([]byte, error) {
	key, err := s.ServerSecret(ctx, outboxSealSecret)
	if err != nil {
		return nil, err
	}
	return unsealWith(key, sealed)
}

// unsealWith opens what seal sealed under key.
func unsealWith(key, sealed []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errSealBroken
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return nil, errSealBroken
	}
	return plain, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("db: seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("db: seal: %w", err)
	}
	return aead, nil
}

// serverSecretInTx reads the secret called name inside a write
// transaction, creating it from crypto/rand if it is missing: the one
// place a secret is made, for ServerSecret and for transactions that
// enqueue (which must not wait for a second writer).
func serverSecretInTx(ctx context.Context, tx *Tx, at time.Time, name string) ([]byte, error) {
	var v []byte
	err := tx.QueryRowContext(ctx, serverSecretSQL, name).Scan(&v)
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
	if _, err := tx.ExecContext(ctx, insertServerSecretSQL, name, fresh, toMillis(at)); err != nil {
		return nil, fmt.Errorf("db: server secret %q: %w", name, err)
	}
	if err := tx.QueryRowContext(ctx, serverSecretSQL, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("db: server secret %q: %w", name, err)
	}
	return v, nil
}
