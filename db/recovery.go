package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Recovery codes stand in for a lost second factor: ten single-use codes,
// shown once when made, stored only as argon2id hashes. Each is 10
// characters of lower-case Crockford base32 (50 random bits), written
// "k7m2q-x9p4d"; the alphabet has no i, l, o or u, so what a person copies
// by hand from paper cannot be misread, and reading it back maps those
// letters to the digits they look like. 50 bits is far beyond online
// guessing behind the sign-in throttle; argon2id (rather than SHA-256, as
// for 256-bit API keys) keeps a copied database from yielding them.

const (
	// RecoveryCodeCount is how many codes one set holds.
	RecoveryCodeCount = 10
	recoveryCodeLen   = 10
	recoveryAlphabet  = "0123456789abcdefghjkmnpqrstvwxyz"
)

// ErrRecoveryCodeWrong: a recovery code that is not one of the person's
// unused codes (wrong, used before, or malformed).
var ErrRecoveryCodeWrong = Errorf(ErrInvalidCredentials, "That recovery code is not right, or it was already used.")

// newRecoveryCode returns a fresh code in its display form "xxxxx-xxxxx".
func newRecoveryCode() (string, error) {
	raw := make([]byte, recoveryCodeLen)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("db: recovery code: %w", err)
	}
	var b strings.Builder
	for i, c := range raw {
		if i == recoveryCodeLen/2 {
			b.WriteByte('-')
		}
		// 256 is a multiple of 32: the low five bits are uniform.
		b.WriteByte(recoveryAlphabet[c&31])
	}
	return b.String(), nil
}

// NormalizeRecoveryCode reduces a typed code to its 10 characters: case,
// spaces and dashes ignored, o read as 0 and i or l as 1. ok is false when
// what is left cannot be a code.
func NormalizeRecoveryCode(code string) (string, bool) {
	if len(code) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			continue
		case r == 'o':
			r = '0'
		case r == 'i' || r == 'l':
			r = '1'
		}
		if !strings.ContainsRune(recoveryAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != recoveryCodeLen {
		return "", false
	}
	return b.String(), true
}

// GenerateRecoveryCodes makes a new set of RecoveryCodeCount codes for
// userID, voiding every earlier code, and returns them for the one time
// they are shown. Audited by a (mfa.recovery_generate; never the codes).
func (s *Store) GenerateRecoveryCodes(ctx context.Context, userID int64, a Actor) ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	hashes := make([]string, RecoveryCodeCount)
	// Hashed before the transaction: ten argon2id runs must not hold the
	// write lock.
	for i := range codes {
		c, err := newRecoveryCode()
		if err != nil {
			return nil, err
		}
		norm, _ := NormalizeRecoveryCode(c)
		if hashes[i], err = s.passwords.hash(ctx, norm); err != nil {
			return nil, fmt.Errorf("db: hash recovery code: %w", err)
		}
		codes[i] = c
	}
	err := s.inWriteTx(ctx, "generate recovery codes", func(tx *Tx, now time.Time) error {
		var email string
		err := tx.QueryRowContext(ctx, `SELECT email FROM users WHERE id = ?`, userID).Scan(&email)
		if errors.Is(err, sql.ErrNoRows) {
			return errUserNotFound
		}
		if err != nil {
			return fmt.Errorf("db: generate recovery codes: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return fmt.Errorf("db: void recovery codes: %w", err)
		}
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)`,
				userID, h, toMillis(now)); err != nil {
				return fmt.Errorf("db: store recovery code: %w", err)
			}
		}
		e := a.event(ActionRecoveryGenerate, "user", userID, email)
		e.Detail = map[string]string{"codes": strconv.Itoa(RecoveryCodeCount)}
		return insertAudit(ctx, tx, now, e)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// UseRecoveryCode spends one of userID's unused recovery codes and returns
// how many are left. It is audited (mfa.recovery_use, with the count left)
// and the person is e-mailed (EventRecoveryUsed) in the same transaction.
// A wrong, used or malformed code: ErrRecoveryCodeWrong, nothing written;
// its audit and throttling are the caller's, which knows the request.
func (s *Store) UseRecoveryCode(ctx context.Context, userID int64, code string, a Actor) (int, error) {
	norm, ok := NormalizeRecoveryCode(code)
	if !ok {
		return 0, ErrRecoveryCodeWrong
	}
	id, err := s.matchRecoveryCode(ctx, userID, norm)
	if err != nil {
		return 0, err
	}
	var left int
	err = s.inWriteTx(ctx, "use recovery code", func(tx *Tx, now time.Time) error {
		// used_at IS NULL again: a request racing with the same code finds
		// it spent here, whatever it compared before.
		res, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = ? WHERE id = ? AND user_id = ? AND used_at IS NULL`,
			toMillis(now), id, userID)
		if err != nil {
			return fmt.Errorf("db: use recovery code: %w", err)
		}
		if err := oneRow(res, ErrRecoveryCodeWrong); err != nil {
			return err
		}
		var email string
		if err := tx.QueryRowContext(ctx, `SELECT u.email, (SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at IS NULL)
			FROM users u WHERE u.id = ?`, userID).Scan(&email, &left); err != nil {
			return fmt.Errorf("db: use recovery code: %w", err)
		}
		if a.Label == "" {
			a.Label = email
		}
		e := a.event(ActionRecoveryUse, "user", userID, email)
		e.Detail = map[string]string{"left": strconv.Itoa(left)}
		if err := insertAudit(ctx, tx, now, e); err != nil {
			return err
		}
		// No ActorID: recipients never hear of what they did themselves,
		// and this notice is exactly for the person who (maybe) did.
		return enqueue(ctx, tx, now, &OutboxEvent{Type: EventRecoveryUsed, UserID: userID,
			Data: map[string]any{"user": map[string]any{"id": userID, "email": email}, "left": left, "ip": a.IP,
				"at": now.UTC().Format(time.RFC3339)}})
	})
	if err != nil {
		return 0, err
	}
	return left, nil
}

// matchRecoveryCode returns the id of userID's unused code whose hash
// matches norm. The hashes are compared outside any transaction: each is
// an argon2id run. A wrong code always costs every comparison.
func (s *Store) matchRecoveryCode(ctx context.Context, userID int64, norm string) (int64, error) {
	all, err := s.unusedRecoveryCodes(ctx, userID)
	if err != nil {
		return 0, err
	}
	if len(all) == 0 {
		// No codes at all still costs one comparison.
		s.passwords.compareDummy(ctx, norm)
		return 0, ErrRecoveryCodeWrong
	}
	for _, c := range all {
		ok, err := s.passwords.compare(ctx, norm, c.hash)
		if err != nil {
			return 0, err
		}
		if ok {
			return c.id, nil
		}
	}
	return 0, ErrRecoveryCodeWrong
}

// storedRecoveryCode is one unused code's row.
type storedRecoveryCode struct {
	id   int64
	hash string
}

// unusedRecoveryCodes reads userID's unused codes, read in full before
// any hash is compared, so no connection waits on argon2id.
func (s *Store) unusedRecoveryCodes(ctx context.Context, userID int64) ([]storedRecoveryCode, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, code_hash FROM recovery_codes WHERE user_id = ? AND used_at IS NULL ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("db: read recovery codes: %w", err)
	}
	defer rows.Close()
	var all []storedRecoveryCode
	for rows.Next() {
		var c storedRecoveryCode
		if err := rows.Scan(&c.id, &c.hash); err != nil {
			return nil, fmt.Errorf("db: read recovery codes: %w", err)
		}
		all = append(all, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: read recovery codes: %w", err)
	}
	return all, nil
}
