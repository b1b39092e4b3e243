package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// Invitations and password resets are links an admin makes; Keyward mails
// them when e-mail is configured (the user.invited and user.password_reset
// events, written in the link's own transaction) and shows them to the
// admin either way. The link carries a random token; the database keeps only
// its SHA-256, like an API key, because the token is 256 random bits and
// needs no slow hash. Each link works once and for a short time.

// Token kinds.
const (
	TokenInvite = "invite"
	TokenReset  = "reset"
)

// How long links stay valid: an invite may wait for a week in someone's
// inbox; a reset link replaces a password, so it lives for an hour.
const (
	InviteTTL = 7 * 24 * time.Hour
	ResetTTL  = time.Hour
)

// tokenLength is the length of base64url(32 bytes) without padding.
const tokenLength = 43

// UserToken is an invite or password-reset link as stored (never its token).
type UserToken struct {
	ID     int64
	Kind   string // TokenInvite or TokenReset
	Email  string // who is invited, or whose password is reset
	Role   Role   // the role an invite grants; empty for a reset
	UserID int64  // the user whose password is reset, or who accepted the invite
	// CreatedAt and ExpiresAt bound the link's life: valid while now is
	// before ExpiresAt.
	CreatedAt, ExpiresAt time.Time
	UsedAt               *time.Time
}

// errLinkInvalid is the one answer for a link that is unknown, of the wrong
// kind, expired or used: which of these it is helps nobody but an attacker.
func errLinkInvalid() error {
	return Errorf(ErrNotFound, "This link is invalid, has expired or was already used.")
}

// newToken returns a fresh token and its hash.
func newToken() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("db: token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	return tok, hashToken(tok), nil
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

const (
	insertTokenSQL = `INSERT INTO user_tokens (kind, token_hash, email, role, user_id, created_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
	// A new link replaces the unused ones sent before it, so only the
	// latest link an admin sent can be used.
	supersedeInvitesSQL = `DELETE FROM user_tokens WHERE kind = 'invite' AND email = ? AND used_at IS NULL`
	supersedeResetsSQL  = `DELETE FROM user_tokens WHERE kind = 'reset' AND user_id = ? AND used_at IS NULL`
)

// insertToken stores a new link inside tx.
func insertToken(ctx context.Context, tx *Tx, t *UserToken, actor Actor) (string, error) {
	tok, hash, err := newToken()
	if err != nil {
		return "", err
	}
	if err := tx.QueryRowContext(ctx, insertTokenSQL, t.Kind, hash, t.Email, string(t.Role),
		nullID(t.UserID), nullID(actor.UserID), toMillis(t.CreatedAt), toMillis(t.ExpiresAt)).Scan(&t.ID); err != nil {
		return "", fmt.Errorf("db: insert %s link: %w", t.Kind, err)
	}
	return tok, nil
}

// CreateInvite makes an invitation link for email with role and returns its
// token, which is shown once. The email is validated (field "email") and
// refused if someone already has it; role must be one of Roles (field
// "role"). An earlier unused invite to the same address stops working.
func (s *Store) CreateInvite(ctx context.Context, email string, role Role, actor Actor) (string, UserToken, error) {
	email = NormalizeEmail(email)
	var ve ValidationError
	if err := ValidateEmail(email); err != nil {
		ve.AddErr("email", err)
	}
	if !role.Valid() {
		ve.Add("role", "Choose a role.")
	}
	if err := ve.Err(); err != nil {
		return "", UserToken{}, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return "", UserToken{}, fmt.Errorf("db: create invite: %w", err)
	}
	defer tx.Rollback()
	tok, t, err := s.createInvite(ctx, tx, email, role, actor, nil)
	if errors.Is(err, errInviteEmailTaken) {
		ve.Add("email", "A user with this email already exists.")
		return "", UserToken{}, &ve
	}
	if err != nil {
		return "", UserToken{}, err
	}
	if err := tx.Commit(); err != nil {
		return "", UserToken{}, fmt.Errorf("db: create invite: %w", err)
	}
	return tok, t, nil
}

// errInviteEmailTaken is createInvite's refusal of an address that has an
// account; each caller says it in its own words.
var errInviteEmailTaken = Errorf(ErrConflict, "A user with this email already exists.")

// createInvite stores an invite for email (normalized and valid) with role
// inside tx, replacing the address's earlier unused invites, and audits it
// with detail added.
func (s *Store) createInvite(ctx context.Context, tx *Tx, email string, role Role, actor Actor, detail map[string]string) (string, UserToken, error) {
	var taken int
	if err := tx.QueryRowContext(ctx, emailTakenSQL, email).Scan(&taken); err != nil {
		return "", UserToken{}, fmt.Errorf("db: create invite: %w", err)
	}
	if taken > 0 {
		return "", UserToken{}, errInviteEmailTaken
	}
	if _, err := tx.ExecContext(ctx, supersedeInvitesSQL, email); err != nil {
		return "", UserToken{}, fmt.Errorf("db: create invite: %w", err)
	}
	now := fromMillis(toMillis(s.Now()))
	t := UserToken{Kind: TokenInvite, Email: email, Role: role, CreatedAt: now, ExpiresAt: now.Add(InviteTTL)}
	tok, err := insertToken(ctx, tx, &t, actor)
	if err != nil {
		return "", UserToken{}, err
	}
	e := actor.event(ActionInviteCreate, "invite", t.ID, email)
	e.Detail = map[string]string{"role": string(role), "expires_at": t.ExpiresAt.Format(time.RFC3339)}
	for k, v := range detail {
		e.Detail[k] = v
	}
	if err := insertAudit(ctx, tx, now, e); err != nil {
		return "", UserToken{}, err
	}
	ev := &OutboxEvent{Type: EventUserInvited, ActorID: actor.UserID,
		Data: map[string]any{"invite": map[string]any{"id": t.ID, "email": email, "role": string(role),
			"expires_at": t.ExpiresAt.Format(time.RFC3339)}, "actor": actor.Label},
		Private: linkPrivate(email, tok)}
	if err := enqueue(ctx, tx, now, ev); err != nil {
		return "", UserToken{}, err
	}
	return tok, t, nil
}

// linkPrivate is the private part of a link's event: the address and the
// token, which only the e-mail to that address may carry (sealed in the
// outbox, erased once sent, never in the event's data).
func linkPrivate(email, tok string) map[string]string {
	return map[string]string{"email": email, "token": tok}
}

// findTokenSQL reads a link by hash and kind. For a reset, the user must
// still exist and be enabled (disabling an account also deletes its
// links); whoever made the link must still be an active admin.
//
// #nosec G101 -- SQL naming the token_hash column, not a credential.
const findTokenSQL = `SELECT t.id, t.kind, t.email, t.role, t.user_id, t.created_at, t.expires_at, t.used_at
	FROM user_tokens t LEFT JOIN users u ON u.id = t.user_id
	WHERE t.token_hash = ? AND t.kind = ? AND t.used_at IS NULL AND t.expires_at > ?
	AND (t.kind = 'invite' OR (u.id IS NOT NULL AND u.disabled_at IS NULL))
	AND ` + linkCreatorActive

// findToken returns the usable link of kind for tok through q (the reader
// pool, or the write transaction that is about to use it).
func findToken(ctx context.Context, q querier, kind, tok string, now time.Time) (UserToken, error) {
	if len(tok) != tokenLength || (kind != TokenInvite && kind != TokenReset) {
		return UserToken{}, errLinkInvalid()
	}
	if _, err := base64.RawURLEncoding.DecodeString(tok); err != nil {
		return UserToken{}, errLinkInvalid()
	}
	var (
		t                UserToken
		role             string
		userID, usedAt   sql.NullInt64
		created, expires int64
	)
	err := q.QueryRowContext(ctx, findTokenSQL, hashToken(tok), kind, toMillis(now)).
		Scan(&t.ID, &t.Kind, &t.Email, &role, &userID, &created, &expires, &usedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return UserToken{}, errLinkInvalid()
	}
	if err != nil {
		return UserToken{}, fmt.Errorf("db: find %s link: %w", kind, err)
	}
	t.Role = Role(role)
	t.UserID = userID.Int64
	t.CreatedAt = fromMillis(created)
	t.ExpiresAt = fromMillis(expires)
	t.UsedAt = timePtr(usedAt)
	return t, nil
}

// LookupToken returns the link of kind ("invite" or "reset") for token if it
// can still be used; otherwise ErrNotFound with one generic message.
func (s *Store) LookupToken(ctx context.Context, kind, token string) (UserToken, error) {
	return findToken(ctx, s.r, kind, token, s.Now())
}

// #nosec G101 -- SQL on the user_tokens table, not a credential.
const useTokenSQL = `UPDATE user_tokens SET used_at = ?, user_id = ? WHERE id = ? AND used_at IS NULL`

// useToken marks t used inside tx; userID records who used it.
func useToken(ctx context.Context, tx *Tx, t UserToken, userID int64, now time.Time) error {
	res, err := tx.ExecContext(ctx, useTokenSQL, toMillis(now), userID, t.ID)
	if err != nil {
		return fmt.Errorf("db: use %s link: %w", t.Kind, err)
	}
	return oneRow(res, errLinkInvalid())
}

// linkPassword checks a link and the password chosen through it (field
// "password") and hashes the password. It runs before the write
// transaction, which checks the link again: the single writer must not wait
// on argon2.
func (s *Store) linkPassword(ctx context.Context, kind string, token, password string) (UserToken, string, error) {
	t, err := s.LookupToken(ctx, kind, token)
	if err != nil {
		return UserToken{}, "", err
	}
	if err := CheckPassword(password, t.Email); err != nil {
		var ve ValidationError
		ve.AddErr("password", err)
		return UserToken{}, "", &ve
	}
	hash, err := s.passwords.hash(ctx, password)
	if err != nil {
		return UserToken{}, "", err
	}
	return t, hash, nil
}

// AcceptInvite creates the invited account with password (field "password")
// and signs the link off. The link is re-checked inside the write
// transaction, so the same link submitted twice at once creates one account.
func (s *Store) AcceptInvite(ctx context.Context, token, password, ip string) (User, error) {
	t, hash, err := s.linkPassword(ctx, TokenInvite, token, password)
	if err != nil {
		return User{}, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return User{}, fmt.Errorf("db: accept invite: %w", err)
	}
	defer tx.Rollback()
	now := s.Now()
	if t, err = findToken(ctx, tx, TokenInvite, token, now); err != nil {
		return User{}, err
	}
	var taken int
	if err := tx.QueryRowContext(ctx, emailTakenSQL, t.Email).Scan(&taken); err != nil {
		return User{}, fmt.Errorf("db: accept invite: %w", err)
	}
	if taken > 0 {
		return User{}, Errorf(ErrConflict, "A user with this email already exists. Sign in instead.")
	}
	var id int64
	if err := tx.QueryRowContext(ctx, insertUserSQL, t.Email, hash, string(t.Role), toMillis(now), toMillis(now)).Scan(&id); err != nil {
		return User{}, fmt.Errorf("db: accept invite: %w", err)
	}
	if err := useToken(ctx, tx, t, id, now); err != nil {
		return User{}, err
	}
	// The new user is the actor of their own arrival.
	e := Actor{UserID: id, Label: t.Email, IP: ip}.event(ActionInviteAccept, "user", id, t.Email)
	e.Detail = map[string]string{"role": string(t.Role), "invite_id": fmt.Sprint(t.ID)}
	if err := insertAudit(ctx, tx, now, e); err != nil {
		return User{}, err
	}
	u, err := scanUser(tx.QueryRowContext(ctx, getUserSQL, id))
	if err != nil {
		return User{}, fmt.Errorf("db: accept invite: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return User{}, fmt.Errorf("db: accept invite: %w", err)
	}
	return u, nil
}
