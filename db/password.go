package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
	"github.com/trustelem/zxcvbn"
)

// PasswordParams are the production argon2id parameters: OWASP's minimum
// recommendation (m=19 MiB, t=2, p=1), explicit so that a library upgrade
// cannot silently change them. Hashes carry their parameters, so old hashes
// still verify if these are raised later.
var PasswordParams = &argon2id.Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Password length bounds, counted in runes. 15 is NIST SP 800-63B's minimum
// for single-factor passwords; 128 leaves room for passphrases while keeping
// one hash request small.
const (
	MinPasswordLength = 15
	MaxPasswordLength = 128
)

// minPasswordScore is the lowest acceptable zxcvbn score (0-4); 3 means
// "safely unguessable: moderate protection from offline slow-hash scenario".
const minPasswordScore = 3

// passwordHasher runs argon2id with a bound on concurrent computations: each
// takes Memory KiB, so an unbounded burst of sign-ins could exhaust RAM.
type passwordHasher struct {
	params *argon2id.Params
	sem    chan struct{}
	// dummy is a hash of a random password, compared against when an email
	// is unknown, so a miss costs as long as a wrong password and response
	// times do not reveal which accounts exist. Computed on first use so
	// commands that never check a password do not pay for it.
	dummy func() (string, error)
}

// newPasswordHasher returns a hasher using p (PasswordParams if nil) that runs
// at most maxConcurrent hashes at once (the number of CPUs if <= 0).
func newPasswordHasher(p *argon2id.Params, maxConcurrent int) *passwordHasher {
	if p == nil {
		p = PasswordParams
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.NumCPU()
	}
	h := &passwordHasher{params: p, sem: make(chan struct{}, maxConcurrent)}
	h.dummy = sync.OnceValues(func() (string, error) {
		pw, err := GeneratePassword("")
		if err != nil {
			return "", err
		}
		return argon2id.CreateHash(pw, p)
	})
	return h
}

// acquire waits for a hashing slot, giving up when ctx ends.
func (h *passwordHasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *passwordHasher) release() { <-h.sem }

// hash returns the encoded argon2id hash of pw.
func (h *passwordHasher) hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	enc, err := argon2id.CreateHash(pw, h.params)
	if err != nil {
		return "", fmt.Errorf("db: hash password: %w", err)
	}
	return enc, nil
}

// compare reports whether pw matches the encoded hash, in constant time.
func (h *passwordHasher) compare(ctx context.Context, pw, hash string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	ok, err := argon2id.ComparePasswordAndHash(pw, hash)
	if err != nil {
		return false, fmt.Errorf("db: compare password: %w", err)
	}
	return ok, nil
}

// compareDummy spends the time of one compare without a real hash; used when
// the email is unknown. Its result is meaningless, so errors are dropped.
func (h *passwordHasher) compareDummy(ctx context.Context, pw string) {
	dummy, err := h.dummy()
	if err != nil {
		return
	}
	_, _ = h.compare(ctx, pw, dummy)
}

// CheckPassword returns nil when password is acceptable for the account
// with this email, else a *FieldError to show beside the field. Following NIST
// SP 800-63B and ASVS 5.0 there are no composition rules: length, plus a
// refusal of guessable passwords (dictionary words, common passwords,
// keyboard patterns, and the user's own email) scored by zxcvbn.
func CheckPassword(password, email string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLength:
		return invalidf("Use at least %d characters.", MinPasswordLength)
	case n > MaxPasswordLength:
		return invalidf("Use at most %d characters.", MaxPasswordLength)
	case !utf8.ValidString(password):
		return &FieldError{Message: "This password contains invalid characters."}
	}
	email = NormalizeEmail(email)
	local, _, _ := strings.Cut(email, "@")
	if utf8.RuneCountInString(local) >= 3 && strings.Contains(strings.ToLower(password), local) {
		return &FieldError{Message: "Don't use your email address in your password."}
	}
	inputs := []string{"keyward"}
	if email != "" {
		inputs = append(inputs, email, local)
	}
	if zxcvbn.PasswordStrength(firstRunes(password, zxcvbnMaxRunes), inputs).Score < minPasswordScore {
		return &FieldError{Message: "This password is too easy to guess. Try a few unrelated words."}
	}
	return nil
}

// zxcvbnMaxRunes bounds the part of a password zxcvbn scores: its matching
// grows much faster than linearly (about 10 ms at 64 runes, 80 ms at 128),
// and a password whose first 64 runes resist guessing is strong anyway.
const zxcvbnMaxRunes = 64

// firstRunes returns the prefix of s holding at most n runes.
func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// generatedPasswordLength gives about 143 bits of entropy.
const generatedPasswordLength = 24

// GeneratePassword returns a random password of 24 base62 characters that
// passes CheckPassword for email (for `keyward user add` without a password
// on stdin): a random string contains a given 3-letter email local part
// about once in a thousand draws, and the rule refuses that.
func GeneratePassword(email string) (string, error) {
	for {
		pw, err := randomBase62(generatedPasswordLength)
		if err != nil {
			return "", err
		}
		// 24 random characters essentially always score 4; the check makes
		// the promise unconditional.
		if CheckPassword(pw, email) == nil {
			return pw, nil
		}
	}
}

// randomBase62 draws n characters from crypto/rand without modulo bias:
// bytes >= 248 (the largest multiple of 62 that fits) are discarded.
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("db: random password: %w", err)
		}
		for _, b := range buf {
			if b >= 248 {
				continue
			}
			out = append(out, base62[b%62])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

// #nosec G101 -- SQL naming the password_hash column, not a credential.
const (
	passwordHashSQL   = `SELECT email, password_hash FROM users WHERE id = ?`
	updatePasswordSQL = `UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ? AND password_hash = ?`
	endOtherSessSQL   = `DELETE FROM sessions WHERE user_id = ? AND id <> ?`
)

// ChangePassword replaces a user's password after checking the current one
// (field "current_password") and the new one (field "new_password"). Every
// other session of the user ends, so a thief holding an old session is
// locked out with the old password; keepSessionID (the session making the
// change) survives. All of it, with the audit event, is one transaction.
// A wrong current password is audited (ActionPasswordChangeFailure) before
// the validation error returns: the form answers whether a password is
// right, so guesses through it must leave a trace like failed sign-ins.
func (s *Store) ChangePassword(ctx context.Context, userID int64, current, next string, keepSessionID int64, actor Actor) error {
	var email, oldHash string
	err := s.r.QueryRowContext(ctx, passwordHashSQL, userID).Scan(&email, &oldHash)
	if errors.Is(err, sql.ErrNoRows) {
		return errUserNotFound
	}
	if err != nil {
		return fmt.Errorf("db: change password: %w", err)
	}
	var ve ValidationError
	ok, err := s.passwords.compare(ctx, current, oldHash)
	if err != nil {
		return err
	}
	if !ok {
		ve.Add("current_password", "Your current password is wrong.")
		// Nothing changes, so the event has a transaction of its own.
		if err := s.Audit(ctx, actor.event(ActionPasswordChangeFailure, "user", userID, email)); err != nil {
			return err
		}
	}
	if err := CheckPassword(next, email); err != nil {
		ve.AddErr("new_password", err)
	} else if next == current {
		ve.Add("new_password", "Choose a password different from your current one.")
	}
	if err := ve.Err(); err != nil {
		return err
	}
	newHash, err := s.passwords.hash(ctx, next)
	if err != nil {
		return err
	}

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: change password: %w", err)
	}
	defer tx.Rollback()
	now := s.Now()
	// Matching the old hash makes this a compare-and-swap: if another
	// request changed the password since we verified it, ours must not win.
	res, err := tx.ExecContext(ctx, updatePasswordSQL, newHash, toMillis(now), userID, oldHash)
	if err != nil {
		return fmt.Errorf("db: change password: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("db: change password: %w", err)
	} else if n == 0 {
		return Errorf(ErrConflict, "Your password was changed in the meantime. Sign in again and retry.")
	}
	res, err = tx.ExecContext(ctx, endOtherSessSQL, userID, keepSessionID)
	if err != nil {
		return fmt.Errorf("db: end sessions: %w", err)
	}
	ended, _ := res.RowsAffected()
	e := actor.event(ActionPasswordChange, "user", userID, email)
	e.Detail = map[string]string{"sessions_ended": fmt.Sprint(ended)}
	if err := insertAudit(ctx, tx, now, e); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: change password: %w", err)
	}
	return nil
}
