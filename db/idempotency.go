package db

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// A script that creates or rolls a key and loses the answer (a timeout, a
// dropped connection) cannot know whether the key was made; sending the
// request again must not make a second key, whose first secret would be
// lost for good. So the management API's creates and rolls take an
// Idempotency-Key header (Stripe's and the IETF draft's name), and the key
// a request made is remembered under it, per person, for 24 hours in
// api_idempotency (migration 0010). The row is written in the same write
// transaction as the key, so two retries racing each other make one key:
// the writer lock serialises them, and should two ever insert the same row
// anyway its primary key refuses the second, which is then answered as a
// replay rather than a failure.

// IdempotencyWindow is how long an Idempotency-Key is remembered.
const IdempotencyWindow = 24 * time.Hour

// MaxIdempotencyKeyLength bounds the header: enough for a UUID, a hash or
// a job name with a date.
const MaxIdempotencyKeyLength = 255

// Idempotency names one create or roll request.
type Idempotency struct {
	// Key is the Idempotency-Key header (CheckIdempotencyKey).
	Key string
	// Operation is what the request does ("create-key", "roll-key",
	// "roll-self"); Request is a SHA-256 of the request as the caller
	// canonicalised it (the body, and the key rolled). A retry must match
	// both.
	Operation string
	Request   []byte
}

// CheckIdempotencyKey reports whether k can be an Idempotency-Key: 1 to
// MaxIdempotencyKeyLength printable ASCII characters (space to ~).
func CheckIdempotencyKey(k string) error {
	if k == "" || len(k) > MaxIdempotencyKeyLength {
		return invalidf("Idempotency-Key must be 1 to %d characters.", MaxIdempotencyKeyLength)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return invalidf("Idempotency-Key must be printable ASCII.")
		}
	}
	return nil
}

// IdempotencyReplayError answers a request repeated with its
// Idempotency-Key: the key it made the first time, never its secret again.
// It is an *AlreadyCreatedError too (and so an ErrConflict).
type IdempotencyReplayError struct {
	AlreadyCreatedError
}

func (e *IdempotencyReplayError) Error() string {
	return fmt.Sprintf("This Idempotency-Key already made key %d; its secret was shown once.", e.KeyID)
}

func (e *IdempotencyReplayError) Unwrap() error { return &e.AlreadyCreatedError }

// ErrIdempotencyMismatch answers an Idempotency-Key sent again with another
// request: a client bug, refused rather than guessed at.
var ErrIdempotencyMismatch = Errorf(ErrConflict,
	"This Idempotency-Key was used within the last 24 hours for a different request. Use a new key for a new request.")

const (
	getIdempotencySQL = `SELECT operation, request_hash, key_id, created_at FROM api_idempotency
		WHERE user_id = ? AND idem_key = ?`
	deleteIdempotencySQL = `DELETE FROM api_idempotency WHERE user_id = ? AND idem_key = ?`
	insertIdempotencySQL = `INSERT INTO api_idempotency (user_id, idem_key, operation, request_hash, key_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`
	pruneIdempotencySQL = `DELETE FROM api_idempotency WHERE created_at <= ?`
)

// idempotencyOutcome reads userID's record of idem.Key through q and
// returns what a request carrying it gets: nil (no live record: go ahead),
// an *IdempotencyReplayError, or ErrIdempotencyMismatch. stale reports a
// record older than the window, which the caller removes before its insert.
func idempotencyOutcome(ctx context.Context, q querier, userID int64, idem Idempotency, now time.Time) (stale bool, err error) {
	var (
		op      string
		hash    []byte
		keyID   int64
		created int64
	)
	switch err := q.QueryRowContext(ctx, getIdempotencySQL, userID, idem.Key).Scan(&op, &hash, &keyID, &created); {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("db: idempotency: %w", err)
	}
	if !fromMillis(created).After(now.Add(-IdempotencyWindow)) {
		return true, nil
	}
	if op != idem.Operation || !bytes.Equal(hash, idem.Request) {
		return false, ErrIdempotencyMismatch
	}
	return false, &IdempotencyReplayError{AlreadyCreatedError{KeyID: keyID}}
}

// claimIdempotency runs first in a create or roll transaction: it refuses
// a replay or a mismatch, and clears a record past the window.
func claimIdempotency(ctx context.Context, tx *Tx, userID int64, idem *Idempotency, now time.Time) error {
	if idem == nil {
		return nil
	}
	stale, err := idempotencyOutcome(ctx, tx, userID, *idem, now)
	if err != nil || !stale {
		return err
	}
	if _, err := tx.ExecContext(ctx, deleteIdempotencySQL, userID, idem.Key); err != nil {
		return fmt.Errorf("db: idempotency: clear stale: %w", err)
	}
	return nil
}

// errIdempotencyRace marks the insert of a record a concurrent request
// made first; the caller answers with that request's outcome.
var errIdempotencyRace = errors.New("db: idempotency: concurrent request")

// recordIdempotency remembers that idem made keyID, in the transaction
// that made the key.
func (s *Store) recordIdempotency(ctx context.Context, tx *Tx, userID int64, idem *Idempotency, keyID int64, now time.Time) error {
	if idem == nil {
		return nil
	}
	if _, err := tx.ExecContext(ctx, insertIdempotencySQL, userID, idem.Key, idem.Operation, idem.Request,
		keyID, toMillis(now)); err != nil {
		if s.d.uniqueViolation(err) {
			return fmt.Errorf("%w: %w", errIdempotencyRace, err)
		}
		return fmt.Errorf("db: idempotency: record: %w", err)
	}
	return nil
}

// settleIdempotencyRace turns a lost race (err wrapping
// errIdempotencyRace, the transaction rolled back) into the answer the
// winner's request gets; any other error passes through.
func (s *Store) settleIdempotencyRace(ctx context.Context, userID int64, idem *Idempotency, err error) error {
	if idem == nil || !errors.Is(err, errIdempotencyRace) {
		return err
	}
	if _, oerr := idempotencyOutcome(ctx, s.w, userID, *idem, s.Now()); oerr != nil {
		return oerr
	}
	return fmt.Errorf("db: idempotency: record vanished after a conflict: %w", err)
}

// PruneIdempotency deletes the records older than IdempotencyWindow, for
// the background jobs, and returns how many.
func (s *Store) PruneIdempotency(ctx context.Context) (int64, error) {
	res, err := s.w.ExecContext(ctx, pruneIdempotencySQL, toMillis(s.Now().Add(-IdempotencyWindow)))
	if err != nil {
		return 0, fmt.Errorf("db: prune idempotency: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// RecordIdempotency stores that userID's request idem made keyID at the
// store's now, outside any create: for tests and the copy fixture.
func (s *Store) RecordIdempotency(ctx context.Context, userID int64, idem Idempotency, keyID int64) error {
	return s.inWriteTx(ctx, "record idempotency", func(tx *Tx, now time.Time) error {
		return s.recordIdempotency(ctx, tx, userID, &idem, keyID, now)
	})
}
