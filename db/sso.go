package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Single sign-on (OpenID Connect): a person at a provider is the pair
// (issuer, subject), never their e-mail address, which the provider may
// reassign. An identity is linked to one account: created with it just in
// time, or linked to an existing account after its owner proved the
// password (handlers/sso_link.go).

// ChallengeSSOLink is the auth challenge kind of a pending link: the
// provider vouched for an address that already has an account, and the
// identity waits for that account's password sign-in in the same browser.
const ChallengeSSOLink = "sso_link"

// OIDCIdentity is a person as an OpenID provider knows them.
type OIDCIdentity struct {
	Issuer  string
	Subject string
	// Email is the verified address the provider reported at the last
	// sign-in (kept for the admin's information; lookups never use it).
	Email string
}

// Source of a user created by single sign-on (user.create's detail).
const userSourceSSO = "sso"

var errIdentityTaken = Errorf(ErrConflict, "This single sign-on identity is already linked to an account.")

const userByIdentitySQL = `SELECT u.id, u.email, u.role, u.created_at, u.disabled_at, u.password_changed_at, u.last_login_at
	FROM oidc_identities i JOIN users u ON u.id = i.user_id WHERE i.issuer = ? AND i.subject = ?`

// UserByOIDCIdentity returns the account linked to (issuer, subject), or
// ErrNotFound. A disabled account is returned: the caller refuses it with
// a message of its own.
func (s *Store) UserByOIDCIdentity(ctx context.Context, issuer, subject string) (User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, userByIdentitySQL, issuer, subject))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, errUserNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("db: user by sso identity: %w", err)
	}
	return u, nil
}

// TouchOIDCIdentity records a sign-in through the identity: when, and the
// address the provider reported this time.
func (s *Store) TouchOIDCIdentity(ctx context.Context, id OIDCIdentity) error {
	_, err := s.w.ExecContext(ctx, `UPDATE oidc_identities SET last_login_at = ?, email = ? WHERE issuer = ? AND subject = ?`,
		toMillis(s.Now()), truncateUTF8(NormalizeEmail(id.Email), MaxEmailLength), id.Issuer, id.Subject)
	if err != nil {
		return fmt.Errorf("db: record sso sign-in: %w", err)
	}
	return nil
}

// CreateSSOUser creates the account of a person the provider vouched for
// (just-in-time provisioning) with its identity, in one transaction,
// audited user.create with source sso. The account has no usable password:
// its hash is of 32 random bytes nobody ever sees, so the password form
// can never sign it in (an admin's reset link can give it one). An address
// that has an account meanwhile is ErrConflict.
func (s *Store) CreateSSOUser(ctx context.Context, id OIDCIdentity, role Role, actor Actor) (User, error) {
	email := NormalizeEmail(id.Email)
	if err := ValidateEmail(email); err != nil {
		return User{}, fmt.Errorf("db: create sso user: %w", Errorf(ErrInvalid, "The provider's e-mail address is not valid."))
	}
	if !role.Valid() {
		return User{}, fmt.Errorf("db: create sso user: unknown role %q", role)
	}
	unusable, err := randomBase62(43)
	if err != nil {
		return User{}, err
	}
	hash, err := s.passwords.hash(ctx, unusable)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.inWriteTx(ctx, "create sso user", func(tx *Tx, now time.Time) error {
		var taken int
		if err := tx.QueryRowContext(ctx, emailTakenSQL, email).Scan(&taken); err != nil {
			return fmt.Errorf("db: create sso user: %w", err)
		}
		if taken > 0 {
			return Errorf(ErrConflict, emailTakenText)
		}
		if err := tx.QueryRowContext(ctx, insertUserSQL, email, hash, string(role), toMillis(now), toMillis(now)).Scan(&u.ID); err != nil {
			return fmt.Errorf("db: create sso user: %w", err)
		}
		u.Email, u.Role, u.CreatedAt, u.PasswordChangedAt = email, role, fromMillis(toMillis(now)), fromMillis(toMillis(now))
		if err := insertIdentity(ctx, tx, u.ID, id, now); err != nil {
			return err
		}
		e := actor.event(ActionUserCreate, "user", u.ID, email)
		e.Detail = map[string]string{"role": string(role), "source": userSourceSSO, "issuer": id.Issuer}
		if err := insertAudit(ctx, tx, now, e); err != nil {
			return err
		}
		// As with any admin: with one, setup is over.
		if role == RoleAdmin {
			if _, err := tx.ExecContext(ctx, deleteServerSecretSQL, setupTokenSecret); err != nil {
				return fmt.Errorf("db: end setup: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// LinkOIDCIdentity links id to userID's account, audited sso.link. An
// identity linked already (to any account) is ErrConflict.
func (s *Store) LinkOIDCIdentity(ctx context.Context, userID int64, id OIDCIdentity, actor Actor) error {
	return s.inWriteTx(ctx, "link sso identity", func(tx *Tx, now time.Time) error {
		var email string
		err := tx.QueryRowContext(ctx, userEmailSQL, userID).Scan(&email)
		if errors.Is(err, sql.ErrNoRows) {
			return errUserNotFound
		}
		if err != nil {
			return fmt.Errorf("db: link sso identity: %w", err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM oidc_identities WHERE issuer = ? AND subject = ?`,
			id.Issuer, id.Subject).Scan(&n); err != nil {
			return fmt.Errorf("db: link sso identity: %w", err)
		}
		if n > 0 {
			return errIdentityTaken
		}
		if err := insertIdentity(ctx, tx, userID, id, now); err != nil {
			return err
		}
		e := actor.event(ActionSSOLink, "user", userID, email)
		e.Detail = map[string]string{"issuer": id.Issuer, "email": NormalizeEmail(id.Email)}
		return insertAudit(ctx, tx, now, e)
	})
}

func insertIdentity(ctx context.Context, tx *Tx, userID int64, id OIDCIdentity, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO oidc_identities (user_id, issuer, subject, email, created_at, last_login_at) VALUES (?, ?, ?, ?, ?, ?)`,
		userID, id.Issuer, id.Subject, truncateUTF8(NormalizeEmail(id.Email), MaxEmailLength), toMillis(now), toMillis(now))
	if err != nil {
		if tx.d.uniqueViolation(err) {
			return errIdentityTaken
		}
		return fmt.Errorf("db: insert sso identity: %w", err)
	}
	return nil
}
