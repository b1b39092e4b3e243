package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Management tokens (kwt_…) are how a person's scripts call the management
// API. They have the key format with their own prefix, so a scanner tells
// them apart (kwt_[0-9A-Za-z]{49}) and neither is ever accepted where the
// other belongs: ParseKey refuses a token, ParseAPIToken a key. A token
// acts as its person, with at most the permissions the person's role
// holds, cut to the role again at every use: a demoted or disabled person's
// tokens lose their power at once.

// APITokenPrefix starts every management token.
const APITokenPrefix = "kwt_"

// APITokenLength is the length of every management token.
const APITokenLength = len(APITokenPrefix) + keyBodyLen + keyCRCLen

// GenerateAPIToken returns a new random management token.
func GenerateAPIToken() (string, error) { return generateSecret(APITokenPrefix) }

// ParseAPIToken checks that s is a well-formed management token, touching
// no database.
func ParseAPIToken(s string) error { return parseSecret(s, APITokenPrefix) }

// APITokenHint is how a token is shown after creation.
func APITokenHint(s string) string {
	if len(s) < 4 {
		return APITokenPrefix + "…"
	}
	return APITokenPrefix + "…" + s[len(s)-4:]
}

// Permission is one power a management token may carry.
type Permission string

// Permissions, from the fixed list a token's are chosen from.
const (
	// PermKeysRead: list and read the keys the person may see, and
	// their usage.
	PermKeysRead Permission = "keys:read"
	// PermKeysWrite: create, edit, roll, disable, enable and revoke the
	// keys the person manages.
	PermKeysWrite Permission = "keys:write"
	// PermAdminRead: every key, users, the audit log, scopes and teams,
	// read only (admins and auditors).
	PermAdminRead Permission = "admin:read"
	// PermAdminWrite: admin changes: users, roles, invites, the catalog,
	// teams, any key (admins).
	PermAdminWrite Permission = "admin:write"
)

// AllPermissions lists every permission in display order.
var AllPermissions = []Permission{PermKeysRead, PermKeysWrite, PermAdminRead, PermAdminWrite}

var permissionLabels = map[Permission]string{
	PermKeysRead:   "Read your keys and their usage",
	PermKeysWrite:  "Create, edit, roll, disable and revoke your keys",
	PermAdminRead:  "Read every key, user, the audit log, scopes and teams",
	PermAdminWrite: "Manage users, roles, invites, scopes, teams and any key",
}

// Label describes p for a form.
func (p Permission) Label() string { return permissionLabels[p] }

// RolePermissions is what a role may hold: members their own keys,
// auditors also read the admin side, admins everything.
func RolePermissions(r Role) []Permission {
	switch r {
	case RoleAdmin:
		return AllPermissions
	case RoleAuditor:
		return []Permission{PermKeysRead, PermKeysWrite, PermAdminRead}
	case RoleMember:
		return []Permission{PermKeysRead, PermKeysWrite}
	}
	return nil
}

// ParsePermissions reads a list of permission names, refusing unknown
// ones. Order and duplicates do not matter; the result is in display order.
func ParsePermissions(names []string) ([]Permission, error) {
	seen := map[Permission]bool{}
	for _, n := range names {
		p := Permission(strings.TrimSpace(n))
		if p == "" {
			continue
		}
		if !slices.Contains(AllPermissions, p) {
			return nil, invalidf("%q is not a permission. Choose from keys:read, keys:write, admin:read and admin:write.", string(p))
		}
		seen[p] = true
	}
	var out []Permission
	for _, p := range AllPermissions {
		if seen[p] {
			out = append(out, p)
		}
	}
	return out, nil
}

// APIToken is a management token as stored (never its secret).
type APIToken struct {
	ID          int64
	UserID      int64
	Name        string
	Hint        string
	Permissions []Permission
	CreatedAt   time.Time
	ExpiresAt   *time.Time
	LastUsedAt  *time.Time
	LastUsedIP  string
	RevokedAt   *time.Time
}

// Active reports whether t can still be used at now.
func (t APIToken) Active(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// Status is "revoked", "expired" or "active".
func (t APIToken) Status(now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return "expired"
	}
	return "active"
}

// Has reports whether t carries p.
func (t APIToken) Has(p Permission) bool { return slices.Contains(t.Permissions, p) }

// APITokenInput is what a person asks for when creating a token.
type APITokenInput struct {
	Name        string
	Permissions []Permission
	// ExpiresAt is when the token stops working; nil never (allowed,
	// but the forms default to 90 days).
	ExpiresAt *time.Time
}

// Limits of token fields.
const (
	maxTokenNameLen = 100
	// MaxTokenLifetime bounds a token's expiry: a year, like GitHub's
	// fine-grained tokens.
	MaxTokenLifetime = 366 * 24 * time.Hour
	// tokenTouchEvery paces the last-used write: a script calling in a
	// loop moves last_used_at at most once a minute, not on every call.
	tokenTouchEvery = time.Minute
)

// Audit actions of tokens.
const (
	ActionTokenCreate = "token.create"
	ActionTokenRevoke = "token.revoke"
	// ActionAPIRead is a read through the management API (method, route,
	// status), recorded with the token's id.
	ActionAPIRead = "api.read"
)

func init() {
	actionLabels[ActionTokenCreate] = "Management token created"
	actionLabels[ActionTokenRevoke] = "Management token revoked"
	actionLabels[ActionAPIRead] = "Read through the management API"
}

// validate checks in against role, adding problems by form field.
func (in APITokenInput) validate(role Role, now time.Time) error {
	var ve ValidationError
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		ve.Add("name", "Give the token a name, such as “deploy script”.")
	case utf8.RuneCountInString(name) > maxTokenNameLen:
		ve.Add("name", fmt.Sprintf("Use at most %d characters.", maxTokenNameLen))
	}
	if len(in.Permissions) == 0 {
		ve.Add("permissions", "Choose at least one permission.")
	}
	allowed := RolePermissions(role)
	for _, p := range in.Permissions {
		if !slices.Contains(AllPermissions, p) {
			ve.Add("permissions", fmt.Sprintf("%q is not a permission.", string(p)))
		} else if !slices.Contains(allowed, p) {
			ve.Add("permissions", fmt.Sprintf("Your role (%s) does not hold %s, so a token of yours cannot either.", role, p))
		}
	}
	if in.ExpiresAt != nil {
		switch {
		case !in.ExpiresAt.After(now):
			ve.Add("expires", "Choose an expiry in the future.")
		case in.ExpiresAt.Sub(now) > MaxTokenLifetime:
			ve.Add("expires", "A token can live for at most a year.")
		}
	}
	return ve.Err()
}

// CheckAPITokenInput returns, by field, the problems CreateAPIToken would
// find in in for a person of role, so a form refused for another reason
// can show them all at once.
func CheckAPITokenInput(in APITokenInput, role Role, now time.Time) map[string]string {
	return FieldErrors(in.validate(role, now))
}

// #nosec G101 -- SQL naming the api_tokens columns, not credentials.
const (
	apiTokenColumns   = `id, user_id, name, hint, permissions, created_at, expires_at, last_used_at, last_used_ip, revoked_at` // #nosec G101 -- column names
	insertAPITokenSQL = /* #nosec G101 -- SQL, not a credential */ `INSERT INTO api_tokens (user_id, name, token_hash, hint, permissions, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`
	listAPITokensSQL  = `SELECT ` + apiTokenColumns + ` FROM api_tokens WHERE user_id = ? ORDER BY id DESC`
	getAPITokenSQL    = `SELECT ` + apiTokenColumns + ` FROM api_tokens WHERE id = ?`
	revokeAPITokenSQL = `UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL`
)

func scanAPIToken(row scanner, extra ...any) (APIToken, error) {
	var (
		t                      APIToken
		perms                  string
		created                int64
		expires, used, revoked sql.NullInt64
	)
	dest := append([]any{&t.ID, &t.UserID, &t.Name, &t.Hint, &perms, &created, &expires, &used, &t.LastUsedIP, &revoked}, extra...)
	if err := row.Scan(dest...); err != nil {
		return APIToken{}, err
	}
	for _, p := range strings.Fields(perms) {
		t.Permissions = append(t.Permissions, Permission(p))
	}
	t.CreatedAt = fromMillis(created)
	t.ExpiresAt = timePtr(expires)
	t.LastUsedAt = timePtr(used)
	t.RevokedAt = timePtr(revoked)
	return t, nil
}

func joinPermissions(ps []Permission) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, " ")
}

// CreateAPIToken makes a management token for userID and returns it with
// its secret, which exists only in this answer. The permissions must be
// within what the person's role holds at this moment (read in the same
// transaction). Audited as token.create.
func (s *Store) CreateAPIToken(ctx context.Context, userID int64, in APITokenInput, actor Actor) (APIToken, string, error) {
	secret, err := GenerateAPIToken()
	if err != nil {
		return APIToken{}, "", err
	}
	hash := sha256.Sum256([]byte(secret))
	var t APIToken
	err = s.inWriteTx(ctx, "create token", func(tx *Tx, now time.Time) error {
		u, err := scanUser(tx.QueryRowContext(ctx, getUserSQL, userID))
		if errors.Is(err, sql.ErrNoRows) {
			return errUserNotFound
		} else if err != nil {
			return fmt.Errorf("db: create token: user: %w", err)
		}
		if u.Disabled() {
			return Errorf(ErrConflict, "A disabled account cannot have management tokens.")
		}
		in.Permissions, _ = ParsePermissions(permStrings(in.Permissions))
		if err := in.validate(u.Role, now); err != nil {
			return err
		}
		t = APIToken{UserID: userID, Name: strings.TrimSpace(in.Name), Hint: APITokenHint(secret),
			Permissions: in.Permissions, CreatedAt: now, ExpiresAt: in.ExpiresAt}
		if err := tx.QueryRowContext(ctx, insertAPITokenSQL, userID, t.Name, hash[:], t.Hint,
			joinPermissions(t.Permissions), toMillis(now), nullMillis(t.ExpiresAt)).Scan(&t.ID); err != nil {
			return fmt.Errorf("db: insert token: %w", err)
		}
		e := actor.event(ActionTokenCreate, "user", u.ID, u.Email)
		e.Detail = map[string]string{"token_id": fmt.Sprint(t.ID), "name": t.Name,
			"permissions": joinPermissions(t.Permissions), "expires": formatOptionalTime(t.ExpiresAt)}
		return insertAudit(ctx, tx, now, e)
	})
	if err != nil {
		return APIToken{}, "", err
	}
	return t, secret, nil
}

func permStrings(ps []Permission) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

func formatOptionalTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// ListAPITokens returns userID's tokens, newest first, revoked and
// expired ones included (the page shows them greyed).
func (s *Store) ListAPITokens(ctx context.Context, userID int64) ([]APIToken, error) {
	rows, err := s.r.QueryContext(ctx, listAPITokensSQL, userID)
	if err != nil {
		return nil, fmt.Errorf("db: list tokens: %w", err)
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, fmt.Errorf("db: scan token: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: list tokens: %w", err)
	}
	return out, nil
}

// errTokenNotFound answers a token id that does not exist or is not the
// caller's.
var errTokenNotFound = Errorf(ErrNotFound, "No such token.")

// RevokeAPIToken ends token id of userID (any person's when userID is 0:
// the CLI and admins). Revoking is final; revoking twice is a conflict.
// Audited as token.revoke.
func (s *Store) RevokeAPIToken(ctx context.Context, userID, id int64, actor Actor) (APIToken, error) {
	var t APIToken
	err := s.inWriteTx(ctx, "revoke token", func(tx *Tx, now time.Time) error {
		var err error
		t, err = scanAPIToken(tx.QueryRowContext(ctx, getAPITokenSQL, id))
		if errors.Is(err, sql.ErrNoRows) || (err == nil && userID != 0 && t.UserID != userID) {
			return errTokenNotFound
		} else if err != nil {
			return fmt.Errorf("db: revoke token: %w", err)
		}
		if t.RevokedAt != nil {
			return Errorf(ErrConflict, "This token is already revoked.")
		}
		res, err := tx.ExecContext(ctx, revokeAPITokenSQL, toMillis(now), nullID(actor.UserID), id)
		if err != nil {
			return fmt.Errorf("db: revoke token: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return Errorf(ErrConflict, "This token is already revoked.")
		}
		t.RevokedAt = &now
		var email string
		if err := tx.QueryRowContext(ctx, `SELECT email FROM users WHERE id = ?`, t.UserID).Scan(&email); err != nil {
			return fmt.Errorf("db: revoke token: owner: %w", err)
		}
		e := actor.event(ActionTokenRevoke, "user", t.UserID, email)
		e.Detail = map[string]string{"token_id": fmt.Sprint(t.ID), "name": t.Name}
		return insertAudit(ctx, tx, now, e)
	})
	return t, err
}

// Reasons a presented management token is refused. The holder learns
// which, since telling a revoked token from an expired one helps whoever
// runs the script and gives an attacker nothing: a token that was never
// issued is only ever "invalid".
var (
	ErrTokenInvalid  = Errorf(ErrInvalidCredentials, "The management token is not valid.")
	ErrTokenExpired  = Errorf(ErrInvalidCredentials, "The management token has expired.")
	ErrTokenRevoked  = Errorf(ErrInvalidCredentials, "The management token was revoked.")
	ErrTokenDisabled = Errorf(ErrInvalidCredentials, "The management token's owner is disabled.")
)

const authAPITokenSQL = `SELECT t.id, t.user_id, t.name, t.hint, t.permissions, t.created_at, t.expires_at,
		t.last_used_at, t.last_used_ip, t.revoked_at, ` + userColumnsT + `
	FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?`

// userColumnsT is userColumns qualified by the alias u.
const userColumnsT = `u.id, u.email, u.role, u.created_at, u.disabled_at, u.password_changed_at, u.last_login_at`

const touchAPITokenSQL = `UPDATE api_tokens SET last_used_at = ?, last_used_ip = ? WHERE id = ?`

// AuthenticateAPIToken finds the token secret names and its person, and
// refuses it when malformed, unknown, revoked, expired or its person is
// disabled (errors wrapping ErrInvalidCredentials). The returned token's
// Permissions are already cut to the person's current role. Last use is
// recorded at most once a minute per token (and whenever the address
// changes), so a busy script costs a write a minute, not one a call.
func (s *Store) AuthenticateAPIToken(ctx context.Context, secret, ip string) (APIToken, User, error) {
	if ParseAPIToken(secret) != nil {
		return APIToken{}, User{}, ErrTokenInvalid
	}
	hash := sha256.Sum256([]byte(secret))
	var (
		u      User
		role   string
		uCreat int64
		uPw    int64
		uDis   sql.NullInt64
		uLogin sql.NullInt64
	)
	t, err := scanAPIToken(s.r.QueryRowContext(ctx, authAPITokenSQL, hash[:]),
		&u.ID, &u.Email, &role, &uCreat, &uDis, &uPw, &uLogin)
	if errors.Is(err, sql.ErrNoRows) {
		return APIToken{}, User{}, ErrTokenInvalid
	} else if err != nil {
		return APIToken{}, User{}, fmt.Errorf("db: authenticate token: %w", err)
	}
	u.Role = Role(role)
	u.CreatedAt = fromMillis(uCreat)
	u.DisabledAt = timePtr(uDis)
	u.PasswordChangedAt = fromMillis(uPw)
	u.LastLoginAt = timePtr(uLogin)
	now := s.Now()
	switch {
	case t.RevokedAt != nil:
		return APIToken{}, User{}, ErrTokenRevoked
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return APIToken{}, User{}, ErrTokenExpired
	case u.Disabled():
		return APIToken{}, User{}, ErrTokenDisabled
	}
	allowed := RolePermissions(u.Role)
	t.Permissions = slices.DeleteFunc(t.Permissions, func(p Permission) bool { return !slices.Contains(allowed, p) })
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= tokenTouchEvery || t.LastUsedIP != ip {
		if _, err := s.w.ExecContext(ctx, touchAPITokenSQL, toMillis(now), ip, t.ID); err != nil {
			return APIToken{}, User{}, fmt.Errorf("db: token last used: %w", err)
		}
		t.LastUsedAt, t.LastUsedIP = &now, ip
	}
	return t, u, nil
}

// TokenActor is the actor of a change made through the management API:
// the person (so filtering the log by their email finds it), with the
// token recorded in the event's token_id.
func TokenActor(u User, t APIToken, ip string) Actor {
	return Actor{UserID: u.ID, Label: u.Email, IP: ip, TokenID: t.ID}
}
