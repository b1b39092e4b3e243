package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
)

// A create-key form is answered by the page that shows the new key once.
// Reloading that page, or going Back and submitting again, posts the same
// form again; without more it would create a second key, and the first
// one's plaintext would be gone for good. So each create form carries a
// random one-time token (FormToken), and the key made from it stores the
// token's SHA-256 (migration 0006). The token is no secret, and the key
// never depends on it: it only names one submission.

// Form tokens are what a create form may carry: at least 16 and at most
// 128 characters of the base64url alphabet (A–Z, a–z, 0–9, - and _).
const (
	minFormTokenLength = 16
	maxFormTokenLength = 128
)

// ErrFormToken is the FieldError for a form without a usable token: a page
// from before tokens existed, or a hand-made request.
var ErrFormToken error = &FieldError{Message: "This form has expired. Check the details and submit it again."}

// AlreadyCreatedError answers a form submitted again: the key it made
// before. Its plaintext was shown once and is not available again. It
// unwraps to ErrConflict.
type AlreadyCreatedError struct {
	KeyID   int64
	KeyName string
}

func (e *AlreadyCreatedError) Error() string {
	return "This key was already created and shown once."
}

func (e *AlreadyCreatedError) Unwrap() error { return ErrConflict }

// CheckFormToken reports whether tok can name a submission.
func CheckFormToken(tok string) error {
	if len(tok) < minFormTokenLength || len(tok) > maxFormTokenLength {
		return ErrFormToken
	}
	for _, c := range []byte(tok) {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return ErrFormToken
		}
	}
	return nil
}

// CreateKeyOnce is CreateKey for a form carrying the one-time token tok:
// the first submission creates the key; every later one with the same
// token returns an *AlreadyCreatedError naming that key, and creates
// nothing. Both the check and the insert run in one write transaction, so
// two submissions racing each other make one key.
func (s *Store) CreateKeyOnce(ctx context.Context, userID int64, in KeyInput, tok string, actor Actor) (Key, string, error) {
	if err := CheckFormToken(tok); err != nil {
		var ve ValidationError
		ve.AddErr("form_token", err)
		return Key{}, "", ve.Err()
	}
	h := sha256.Sum256([]byte(tok))
	return s.createKey(ctx, userID, in, h[:], nil, actor)
}

// #nosec G101 -- SQL naming the create_token_hash column, not a credential.
const keyByFormTokenSQL = `SELECT id, name FROM api_keys WHERE user_id = ? AND create_token_hash = ?`

// checkFormTokenUnused returns an *AlreadyCreatedError when userID already
// made a key from the form whose token hashes to hash.
func checkFormTokenUnused(ctx context.Context, tx *Tx, userID int64, hash []byte) error {
	var e AlreadyCreatedError
	switch err := tx.QueryRowContext(ctx, keyByFormTokenSQL, userID, hash).Scan(&e.KeyID, &e.KeyName); {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("db: check form token: %w", err)
	}
	return &e
}
