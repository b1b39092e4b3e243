package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Role decides what a user may see: members manage their own keys, admins
// review and change everyone's keys, users and settings, and auditors see
// everything an admin sees without being able to change any of it (a
// security review or a compliance check needs the whole picture, not the
// power to alter it).
type Role string

const (
	RoleAdmin   Role = "admin"
	RoleAuditor Role = "auditor"
	RoleMember  Role = "member"
)

// Roles lists every role, most powerful first: the order forms offer them.
var Roles = []Role{RoleAdmin, RoleAuditor, RoleMember}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleAuditor || r == RoleMember }

// rank orders roles by power, so a role change can be audited as a
// promotion or a demotion.
func (r Role) rank() int {
	switch r {
	case RoleAdmin:
		return 2
	case RoleAuditor:
		return 1
	}
	return 0
}

// User is an account. The password hash never leaves this package.
type User struct {
	ID                int64
	Email             string
	Role              Role
	CreatedAt         time.Time
	DisabledAt        *time.Time
	PasswordChangedAt time.Time
	LastLoginAt       *time.Time
}

// IsAdmin reports whether u has the admin role (disabled or not).
func (u User) IsAdmin() bool { return u.Role == RoleAdmin }

// CanReadAdmin reports whether u may open the admin console: admins, and
// auditors, who only read it.
func (u User) CanReadAdmin() bool { return u.Role == RoleAdmin || u.Role == RoleAuditor }

// Disabled reports whether u may no longer sign in or use keys.
func (u User) Disabled() bool { return u.DisabledAt != nil }

// MaxEmailLength is RFC 5321's limit on a forward path, in bytes: no
// stored email is longer, so a longer one names no account.
const MaxEmailLength = 254

// NormalizeEmail trims spaces and lowercases, so that one address is one
// account however it is typed. The column is COLLATE NOCASE as well.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidateEmail returns nil when email (already normalized) looks like an
// address, else a *FieldError for the form. Deliberately loose: the only real
// test of an address is a message delivered to it.
func ValidateEmail(email string) error {
	if email == "" {
		return &FieldError{Message: "Enter an email address."}
	}
	if len(email) > MaxEmailLength {
		return invalidf("Use at most %d characters.", MaxEmailLength)
	}
	if strings.IndexFunc(email, unicode.IsSpace) >= 0 {
		return &FieldError{Message: "An email address has no spaces."}
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || strings.Contains(domain, "@") {
		return &FieldError{Message: "Enter an email address like name@example.com."}
	}
	if i := strings.Index(domain, "."); i <= 0 || i == len(domain)-1 {
		return &FieldError{Message: "Enter an email address like name@example.com."}
	}
	return nil
}

const userColumns = `id, email, role, created_at, disabled_at, password_changed_at, last_login_at`

// scanner is a *Row or *Rows.
type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner, extra ...any) (User, error) {
	var (
		u                   User
		role                string
		created, pwChanged  int64
		disabled, lastLogin sql.NullInt64
	)
	dest := append([]any{&u.ID, &u.Email, &role, &created, &disabled, &pwChanged, &lastLogin}, extra...)
	if err := row.Scan(dest...); err != nil {
		return User{}, err
	}
	u.Role = Role(role)
	u.CreatedAt = fromMillis(created)
	u.DisabledAt = timePtr(disabled)
	u.PasswordChangedAt = fromMillis(pwChanged)
	u.LastLoginAt = timePtr(lastLogin)
	return u, nil
}

// errUserNotFound is what every lookup of a missing user returns.
var errUserNotFound = Errorf(ErrNotFound, "No such user.")

// CreateUser adds an account. It validates the email and password (fields
// "email" and "password"), hashes the password, then inserts the user and
// the "user.create" audit event in one transaction.
func (s *Store) CreateUser(ctx context.Context, email, password string, role Role, actor Actor) (User, error) {
	return s.createUser(ctx, email, password, role, actor, false)
}

// CreateFirstAdmin creates the first admin from the setup page. It fails with
// ErrConflict once any admin exists; the check runs inside the write
// transaction, so two setup forms submitted at once cannot both succeed.
func (s *Store) CreateFirstAdmin(ctx context.Context, email, password string, ip string) (User, error) {
	return s.createUser(ctx, email, password, RoleAdmin, Actor{IP: ip}, true)
}

var errSetupDone = Errorf(ErrConflict, "Setup is already complete.")

const (
	emailTakenSQL  = `SELECT COUNT(*) FROM users WHERE email = ?`
	hasAdminSQL    = `SELECT COUNT(*) FROM users WHERE role = 'admin'`
	insertUserSQL  = `INSERT INTO users (email, password_hash, role, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?) RETURNING id`
	emailTakenText = "An account with this email already exists."
)

func (s *Store) createUser(ctx context.Context, email, password string, role Role, actor Actor, firstAdmin bool) (User, error) {
	email = NormalizeEmail(email)
	var ve ValidationError
	if err := ValidateEmail(email); err != nil {
		ve.AddErr("email", err)
	} else {
		// Report a taken email with the other problems and before the costly
		// hash; the transaction below re-checks authoritatively.
		var taken int
		if err := s.r.QueryRowContext(ctx, emailTakenSQL, email).Scan(&taken); err != nil {
			return User{}, fmt.Errorf("db: create user: %w", err)
		}
		if taken > 0 {
			ve.Add("email", emailTakenText)
		}
	}
	if !role.Valid() {
		ve.Add("role", "Choose a role.")
	}
	if err := CheckPassword(password, email); err != nil {
		ve.AddErr("password", err)
	}
	if err := ve.Err(); err != nil {
		return User{}, err
	}
	// Fail fast before the costly hash; the transaction below re-checks.
	if firstAdmin {
		if ok, err := s.HasAdmin(ctx); err != nil {
			return User{}, err
		} else if ok {
			return User{}, errSetupDone
		}
	}
	// Hash outside the transaction: the single writer must not wait on argon2.
	hash, err := s.passwords.hash(ctx, password)
	if err != nil {
		return User{}, err
	}

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return User{}, fmt.Errorf("db: create user: %w", err)
	}
	defer tx.Rollback()
	if firstAdmin {
		var n int
		if err := tx.QueryRowContext(ctx, hasAdminSQL).Scan(&n); err != nil {
			return User{}, fmt.Errorf("db: create first admin: %w", err)
		}
		if n > 0 {
			return User{}, errSetupDone
		}
	}
	var taken int
	if err := tx.QueryRowContext(ctx, emailTakenSQL, email).Scan(&taken); err != nil {
		return User{}, fmt.Errorf("db: create user: %w", err)
	}
	if taken > 0 {
		ve.Add("email", emailTakenText)
		return User{}, &ve
	}
	now := s.Now()
	var id int64
	if err := tx.QueryRowContext(ctx, insertUserSQL, email, hash, string(role), toMillis(now), toMillis(now)).Scan(&id); err != nil {
		return User{}, fmt.Errorf("db: insert user: %w", err)
	}
	u := User{ID: id, Email: email, Role: role, CreatedAt: fromMillis(toMillis(now)), PasswordChangedAt: fromMillis(toMillis(now))}

	action := ActionUserCreate
	if firstAdmin {
		// The new admin is the actor of their own setup.
		actor = Actor{UserID: id, Label: email, IP: actor.IP}
		action = ActionSetup
	}
	e := actor.event(action, "user", id, email)
	e.Detail = map[string]string{"role": string(role)}
	if err := insertAudit(ctx, tx, now, e); err != nil {
		return User{}, err
	}
	// With an admin, setup is over: its link dies with the change that
	// ends it, whether the setup page or the CLI made the admin.
	if role == RoleAdmin {
		if _, err := tx.ExecContext(ctx, deleteServerSecretSQL, setupTokenSecret); err != nil {
			return User{}, fmt.Errorf("db: end setup: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return User{}, fmt.Errorf("db: create user: %w", err)
	}
	return u, nil
}

const authUserSQL = `SELECT ` + userColumns + `, password_hash FROM users WHERE email = ?`

// Authenticate checks an email and password. Every failure — unknown email,
// wrong password, disabled account — is the same ErrInvalidCredentials and
// costs one argon2id comparison, so neither the answer nor its timing tells
// an attacker which accounts exist. It only checks: the sign-in itself, with
// last_login_at and its audit event, is recorded by CreateSession.
func (s *Store) Authenticate(ctx context.Context, email, password string) (User, error) {
	var hash string
	u, err := scanUser(s.r.QueryRowContext(ctx, authUserSQL, NormalizeEmail(email)), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		s.passwords.compareDummy(ctx, password)
		if err := ctx.Err(); err != nil {
			return User{}, err
		}
		return User{}, ErrInvalidCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("db: authenticate: %w", err)
	}
	ok, err := s.passwords.compare(ctx, password, hash)
	if err != nil {
		return User{}, err
	}
	if !ok || u.Disabled() {
		return User{}, ErrInvalidCredentials
	}
	return u, nil
}

const getUserSQL = `SELECT ` + userColumns + ` FROM users WHERE id = ?`

// GetUser returns the user with id, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, getUserSQL, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, errUserNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("db: get user: %w", err)
	}
	return u, nil
}

const getUserByEmailSQL = `SELECT ` + userColumns + ` FROM users WHERE email = ?`

// GetUserByEmail returns the user with email (any case), or ErrNotFound.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, getUserByEmailSQL, NormalizeEmail(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, errUserNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("db: get user by email: %w", err)
	}
	return u, nil
}

// HasAdmin reports whether any admin exists, disabled or not: it decides
// whether /setup is still open, and a disabled admin can be re-enabled from
// the CLI, so it must not reopen setup.
func (s *Store) HasAdmin(ctx context.Context) (bool, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, hasAdminSQL).Scan(&n); err != nil {
		return false, fmt.Errorf("db: has admin: %w", err)
	}
	return n > 0, nil
}

// countActiveAdminsSQL counts the admins who can still sign in, inside
// the write transactions that refuse to disable or demote the last one.
const countActiveAdminsSQL = `SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL`

const (
	userStateSQL     = `SELECT email, role, disabled_at FROM users WHERE id = ?`
	setDisabledSQL   = `UPDATE users SET disabled_at = ? WHERE id = ?`
	deleteAllSessSQL = `DELETE FROM sessions WHERE user_id = ?`
)

// SetUserDisabled disables or re-enables a user. Disabling ends all of the
// user's sessions at once, makes their keys fail verification, and voids
// the pending reset links for the account and the links the user made
// (re-enabling brings neither back); it is
// refused for the last active admin, who would otherwise lock everyone out
// of the admin pages, and for the actor's own account, which a slip of the
// mouse should not lock out. Setting the state a user already has does
// nothing.
func (s *Store) SetUserDisabled(ctx context.Context, userID int64, disabled bool, actor Actor) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: set user disabled: %w", err)
	}
	defer tx.Rollback()
	changed, err := s.setUserDisabledTx(ctx, tx, userID, disabled, s.Now(), actor)
	if err != nil || !changed {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: set user disabled: %w", err)
	}
	s.keyChanged()
	return nil
}

// setUserDisabledTx is SetUserDisabled inside tx (which the caller commits),
// so that a disable can share its transaction with the transfer of the
// person's keys (DisableUserTransferringKeys). It reports whether anything changed.
func (s *Store) setUserDisabledTx(ctx context.Context, tx *Tx, userID int64, disabled bool, now time.Time, actor Actor) (bool, error) {
	var (
		email, role string
		disabledAt  sql.NullInt64
	)
	err := tx.QueryRowContext(ctx, userStateSQL, userID).Scan(&email, &role, &disabledAt)
	if errors.Is(err, sql.ErrNoRows) {
		return false, errUserNotFound
	}
	if err != nil {
		return false, fmt.Errorf("db: set user disabled: %w", err)
	}
	if disabledAt.Valid == disabled {
		return false, nil
	}
	if disabled && actor.UserID == userID {
		return false, Errorf(ErrConflict, "You can't disable your own account.")
	}
	action := ActionUserEnable
	var detail map[string]string
	if disabled {
		if Role(role) == RoleAdmin {
			var n int
			if err := tx.QueryRowContext(ctx, countActiveAdminsSQL).Scan(&n); err != nil {
				return false, fmt.Errorf("db: count admins: %w", err)
			}
			if n <= 1 {
				return false, Errorf(ErrConflict, "The last active admin cannot be disabled.")
			}
		}
		res, err := tx.ExecContext(ctx, deleteAllSessSQL, userID)
		if err != nil {
			return false, fmt.Errorf("db: end sessions: %w", err)
		}
		ended, _ := res.RowsAffected()
		action = ActionUserDisable
		detail = map[string]string{"sessions_ended": fmt.Sprint(ended)}
		if err := voidLinks(ctx, tx, now, actor, voidUserDisabled, resetLinksOfUserSQL, userID); err != nil {
			return false, err
		}
		if err := voidLinks(ctx, tx, now, actor, voidCreatorDisabled, linksByCreatorSQL, userID); err != nil {
			return false, err
		}
	}
	if _, err := tx.ExecContext(ctx, setDisabledSQL, nullMillisIf(disabled, now), userID); err != nil {
		return false, fmt.Errorf("db: set user disabled: %w", err)
	}
	e := actor.event(action, "user", userID, email)
	e.Detail = detail
	return true, insertAudit(ctx, tx, now, e)
}

// nullMillisIf is t when set, else NULL.
func nullMillisIf(set bool, t time.Time) sql.NullInt64 {
	if !set {
		return sql.NullInt64{}
	}
	return nullMillis(&t)
}
