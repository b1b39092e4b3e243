package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Passkeys (WebAuthn credentials). The ceremony itself (challenges,
// signatures, origins) is package handlers' through go-webauthn; this file
// keeps what it yields: the credential as go-webauthn's JSON, its id for
// passwordless look-up, its signature counter and when it was last used,
// and the person's user handle (users.webauthn_handle), which a
// discoverable passkey returns instead of an account name.

// Passkey is one registered credential.
type Passkey struct {
	ID           int64
	UserID       int64
	CredentialID []byte
	Name         string
	// Credential is go-webauthn's Credential as JSON (public key, flags,
	// authenticator, transports), opaque to this package.
	Credential []byte
	SignCount  uint32
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// MaxPasskeyNameLength bounds a passkey's name, in characters.
const MaxPasskeyNameLength = 64

// webauthnHandleSize: 32 random bytes, within WebAuthn's 64-byte limit and
// unrelated to the row id.
const webauthnHandleSize = 32

var (
	errPasskeyNotFound = Errorf(ErrNotFound, "That passkey does not exist.")
	// ErrPasskeyExists: the authenticator's credential is already registered.
	ErrPasskeyExists = Errorf(ErrConflict, "This passkey is already registered.")
	// ErrPasskeyCounter: the authenticator's signature counter did not
	// grow, which is what a cloned authenticator looks like.
	ErrPasskeyCounter = Errorf(ErrInvalidCredentials, "This passkey's signature counter went backwards, so it may have been copied. Use another sign-in method and check your passkeys.")
	// ErrLastSecondFactor: removing it would leave someone the policy
	// requires a second factor of without one.
	ErrLastSecondFactor = Errorf(ErrConflict, "This is your last second factor and your organisation requires one. Add another before removing it.")
	errNoWebAuthnHandle = Errorf(ErrNotFound, "No account uses this passkey.")
)

// CheckPasskeyName trims name and checks it (registration checks it
// before the ceremony, so the gesture is not wasted on a bad name).
func CheckPasskeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	var ve ValidationError
	switch {
	case name == "":
		ve.Add("name", "Enter a name for the passkey.")
	case utf8.RuneCountInString(name) > MaxPasskeyNameLength:
		ve.Add("name", fmt.Sprintf("Use at most %d characters.", MaxPasskeyNameLength))
	case !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		ve.Add("name", "Use letters, digits, spaces and punctuation only.")
	}
	return name, ve.Err()
}

const passkeyColumns = `id, user_id, credential_id, name, credential, sign_count, created_at, last_used_at` // #nosec G101 -- column names, not a credential

func scanPasskey(row interface{ Scan(...any) error }) (Passkey, error) {
	var (
		p        Passkey
		cred     string
		count    int64
		created  int64
		lastUsed sql.NullInt64
	)
	if err := row.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.Name, &cred, &count, &created, &lastUsed); err != nil {
		return Passkey{}, err
	}
	p.Credential, p.SignCount, p.CreatedAt, p.LastUsedAt = []byte(cred), uint32(count), fromMillis(created), timePtr(lastUsed) // #nosec G115 -- stored from a uint32
	return p, nil
}

// Passkeys returns userID's passkeys, newest first.
func (s *Store) Passkeys(ctx context.Context, userID int64) ([]Passkey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ? ORDER BY created_at DESC, id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("db: list passkeys: %w", err)
	}
	defer rows.Close()
	var out []Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, fmt.Errorf("db: list passkeys: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: list passkeys: %w", err)
	}
	return out, nil
}

// PasskeyByCredentialID returns the passkey with credential id credID
// (whoever owns it), or ErrNotFound.
func (s *Store) PasskeyByCredentialID(ctx context.Context, credID []byte) (Passkey, error) {
	p, err := scanPasskey(s.r.QueryRowContext(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = ?`, credID))
	if errors.Is(err, sql.ErrNoRows) {
		return Passkey{}, errPasskeyNotFound
	}
	if err != nil {
		return Passkey{}, fmt.Errorf("db: find passkey: %w", err)
	}
	return p, nil
}

// WebAuthnHandle returns userID's WebAuthn user handle, creating it (32
// random bytes) the first time: registration needs one, and it never
// changes after, since passkeys already registered carry it.
func (s *Store) WebAuthnHandle(ctx context.Context, userID int64) ([]byte, error) {
	var handle []byte
	err := s.inWriteTx(ctx, "webauthn user handle", func(tx *Tx, _ time.Time) error {
		err := tx.QueryRowContext(ctx, `SELECT webauthn_handle FROM users WHERE id = ?`, userID).Scan(&handle)
		if errors.Is(err, sql.ErrNoRows) {
			return errUserNotFound
		}
		if err != nil {
			return fmt.Errorf("db: webauthn user handle: %w", err)
		}
		if len(handle) > 0 {
			return nil
		}
		handle = make([]byte, webauthnHandleSize)
		if _, err := rand.Read(handle); err != nil {
			return fmt.Errorf("db: webauthn user handle: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET webauthn_handle = ? WHERE id = ?`, handle, userID); err != nil {
			return fmt.Errorf("db: webauthn user handle: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return handle, nil
}

// UserByWebAuthnHandle returns the user whose handle is handle (disabled or
// not: the caller refuses those), or ErrNotFound.
func (s *Store) UserByWebAuthnHandle(ctx context.Context, handle []byte) (User, error) {
	if len(handle) == 0 || len(handle) > 64 {
		return User{}, errNoWebAuthnHandle
	}
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE webauthn_handle = ?`, handle))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, errNoWebAuthnHandle
	}
	if err != nil {
		return User{}, fmt.Errorf("db: user by webauthn handle: %w", err)
	}
	return u, nil
}

// NewPasskey is a credential a registration ceremony produced.
type NewPasskey struct {
	CredentialID []byte
	Name         string
	Credential   []byte // go-webauthn's Credential as JSON
	SignCount    uint32
}

// AddPasskey stores p for userID and audits mfa.passkey_add by a. A
// credential id already registered (by anyone): ErrPasskeyExists.
func (s *Store) AddPasskey(ctx context.Context, userID int64, p NewPasskey, a Actor) (Passkey, error) {
	name, err := CheckPasskeyName(p.Name)
	if err != nil {
		return Passkey{}, err
	}
	if len(p.CredentialID) == 0 || len(p.Credential) == 0 {
		return Passkey{}, fmt.Errorf("db: add passkey: empty credential")
	}
	var out Passkey
	err = s.inWriteTx(ctx, "add passkey", func(tx *Tx, now time.Time) error {
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO passkeys (user_id, credential_id, name, credential, sign_count, created_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, userID, p.CredentialID, name, string(p.Credential), int64(p.SignCount), toMillis(now)).Scan(&id)
		if tx.d.uniqueViolation(err) {
			return ErrPasskeyExists
		}
		if err != nil {
			return fmt.Errorf("db: add passkey: %w", err)
		}
		out = Passkey{ID: id, UserID: userID, CredentialID: p.CredentialID, Name: name, Credential: p.Credential, SignCount: p.SignCount, CreatedAt: now}
		e := a.event(ActionPasskeyAdd, "user", userID, a.Label)
		e.Detail = map[string]string{"passkey": name}
		return insertAudit(ctx, tx, now, e)
	})
	if err != nil {
		return Passkey{}, err
	}
	return out, nil
}

// RenamePasskey renames userID's passkey id and audits it by a.
func (s *Store) RenamePasskey(ctx context.Context, userID, id int64, name string, a Actor) error {
	name, err := CheckPasskeyName(name)
	if err != nil {
		return err
	}
	return s.inWriteTx(ctx, "rename passkey", func(tx *Tx, now time.Time) error {
		var old string
		err := tx.QueryRowContext(ctx, `SELECT name FROM passkeys WHERE id = ? AND user_id = ?`, id, userID).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			return errPasskeyNotFound
		}
		if err != nil {
			return fmt.Errorf("db: rename passkey: %w", err)
		}
		if old == name {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE passkeys SET name = ? WHERE id = ? AND user_id = ?`, name, id, userID); err != nil {
			return fmt.Errorf("db: rename passkey: %w", err)
		}
		e := a.event(ActionPasskeyRename, "user", userID, a.Label)
		e.Detail = map[string]string{"old": old, "new": name}
		return insertAudit(ctx, tx, now, e)
	})
}

// RemovePasskey deletes userID's passkey id and audits it by a. When the
// sign-in policy requires a second factor of the person and it is their
// last (no other passkey, no authenticator app): ErrLastSecondFactor.
func (s *Store) RemovePasskey(ctx context.Context, userID, id int64, a Actor) error {
	return s.inWriteTx(ctx, "remove passkey", func(tx *Tx, now time.Time) error {
		var name string
		err := tx.QueryRowContext(ctx, `SELECT name FROM passkeys WHERE id = ? AND user_id = ?`, id, userID).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return errPasskeyNotFound
		}
		if err != nil {
			return fmt.Errorf("db: remove passkey: %w", err)
		}
		if err := refuseLastFactor(ctx, tx, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM passkeys WHERE id = ? AND user_id = ?`, id, userID); err != nil {
			return fmt.Errorf("db: remove passkey: %w", err)
		}
		e := a.event(ActionPasskeyRemove, "user", userID, a.Label)
		e.Detail = map[string]string{"passkey": name}
		return insertAudit(ctx, tx, now, e)
	})
}

// refuseLastFactor returns ErrLastSecondFactor when userID has exactly one
// second factor (about to go) and the policy requires one of them.
func refuseLastFactor(ctx context.Context, tx *Tx, userID int64) error {
	var totp, passkeys int64
	if err := tx.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM totp_factors WHERE user_id = ? AND confirmed_at IS NOT NULL),
		(SELECT COUNT(*) FROM passkeys WHERE user_id = ?)`, userID, userID).Scan(&totp, &passkeys); err != nil {
		return fmt.Errorf("db: count second factors: %w", err)
	}
	if totp+passkeys > 1 {
		return nil
	}
	var role string
	if err := tx.QueryRowContext(ctx, `SELECT role FROM users WHERE id = ?`, userID).Scan(&role); err != nil {
		return fmt.Errorf("db: count second factors: %w", err)
	}
	p, err := readSignInPolicy(ctx, tx)
	if err != nil {
		return err
	}
	if p.MFARequired(User{ID: userID, Role: Role(role)}) {
		return ErrLastSecondFactor
	}
	return nil
}

// UsePasskey records a successful assertion by userID's credential credID:
// the new signature counter, the credential (its flags may have changed)
// and the time. A counter that did not grow while both it and the stored
// one are non-zero is refused (ErrPasskeyCounter) and nothing is written:
// authenticators that count never repeat a value, so a repeat suggests a
// copy. The caller audits the failure.
func (s *Store) UsePasskey(ctx context.Context, userID int64, credID []byte, signCount uint32, credential []byte) error {
	return s.inWriteTx(ctx, "use passkey", func(tx *Tx, now time.Time) error {
		var stored int64
		err := tx.QueryRowContext(ctx, `SELECT sign_count FROM passkeys WHERE credential_id = ? AND user_id = ?`, credID, userID).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			return errPasskeyNotFound
		}
		if err != nil {
			return fmt.Errorf("db: use passkey: %w", err)
		}
		if stored != 0 && signCount != 0 && int64(signCount) <= stored {
			return ErrPasskeyCounter
		}
		if _, err := tx.ExecContext(ctx, `UPDATE passkeys SET sign_count = ?, credential = ?, last_used_at = ? WHERE credential_id = ? AND user_id = ?`,
			int64(signCount), string(credential), toMillis(now), credID, userID); err != nil {
			return fmt.Errorf("db: use passkey: %w", err)
		}
		return nil
	})
}
