package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// A link acts with the authority of the admin who made it: an invite can
// create an admin, a reset link hands over an account. That authority ends
// when its holder stops being an active admin, so the links do too. Two
// guards, either of which would do on its own for links made from now on:
// demoting or disabling an admin voids their pending links in the same
// transaction (audited, and re-enabling does not bring them back), and a
// link is usable only while its creator is an active admin (which also
// covers links made before the first guard existed).

// linkCreatorActive is the condition on user_tokens t that its creator is
// still an active admin. A NULL creator is the operator at the command
// line, who holds the database itself.
const linkCreatorActive = `(t.created_by IS NULL OR EXISTS (SELECT 1 FROM users c
	WHERE c.id = t.created_by AND c.role = 'admin' AND c.disabled_at IS NULL))`

// Why links were voided, as the audit log says it.
const (
	voidCreatorDisabled = "the admin who made it was disabled"
	voidCreatorDemoted  = "the admin who made it was made a member"
	voidUserDisabled    = "the user was disabled"
)

// pendingLinksWhere selects the unused, unexpired links of user_tokens t;
// its first argument is now.
const pendingLinksWhere = `t.used_at IS NULL AND t.expires_at > ?`

const (
	linksByCreatorSQL = `SELECT t.id, t.kind, t.email, t.user_id FROM user_tokens t
		WHERE ` + pendingLinksWhere + ` AND t.created_by = ?`
	resetLinksOfUserSQL = `SELECT t.id, t.kind, t.email, t.user_id FROM user_tokens t
		WHERE ` + pendingLinksWhere + ` AND t.kind = 'reset' AND t.user_id = ?`
	deleteTokenSQL = `DELETE FROM user_tokens WHERE id = ?`
)

// voidLinks deletes the pending links that query (with args after now)
// selects inside tx and audits each, as done by actor for reason.
func voidLinks(ctx context.Context, tx *Tx, now time.Time, actor Actor, reason, query string, args ...any) error {
	rows, err := tx.QueryContext(ctx, query, append([]any{toMillis(now)}, args...)...)
	if err != nil {
		return fmt.Errorf("db: void links: %w", err)
	}
	var links []UserToken
	for rows.Next() {
		var (
			t      UserToken
			userID sql.NullInt64
		)
		if err := rows.Scan(&t.ID, &t.Kind, &t.Email, &userID); err != nil {
			_ = rows.Close() // the scan error is the one to report
			return fmt.Errorf("db: void links: %w", err)
		}
		t.UserID = userID.Int64
		links = append(links, t)
	}
	err = rows.Err()
	_ = rows.Close() // Err already holds any failure of the iteration
	if err != nil {
		return fmt.Errorf("db: void links: %w", err)
	}
	for _, t := range links {
		if _, err := tx.ExecContext(ctx, deleteTokenSQL, t.ID); err != nil {
			return fmt.Errorf("db: void link %d: %w", t.ID, err)
		}
		e := actor.event(ActionInviteRevoke, "invite", t.ID, t.Email)
		if t.Kind == TokenReset {
			e = actor.event(ActionResetLinkRevoke, "user", t.UserID, t.Email)
		}
		e.Detail = map[string]string{"reason": reason}
		if err := insertAudit(ctx, tx, now, e); err != nil {
			return err
		}
	}
	return nil
}

// PendingInvite is an invite that can still be accepted, as the users page
// lists it.
type PendingInvite struct {
	ID                   int64
	Email                string
	Role                 Role
	CreatedBy            string // the creator's email; "" when made from the command line
	CreatedAt, ExpiresAt time.Time
}

const pendingInvitesSQL = `SELECT t.id, t.email, t.role, COALESCE(c.email, ''), t.created_at, t.expires_at
	FROM user_tokens t LEFT JOIN users c ON c.id = t.created_by
	WHERE t.kind = 'invite' AND ` + pendingLinksWhere + ` AND ` + linkCreatorActive + `
	ORDER BY t.created_at DESC, t.id DESC`

// ListPendingInvites returns the invites that can still be accepted,
// newest first: exactly the ones whose link would work now.
func (s *Store) ListPendingInvites(ctx context.Context) ([]PendingInvite, error) {
	rows, err := s.r.QueryContext(ctx, pendingInvitesSQL, toMillis(s.Now()))
	if err != nil {
		return nil, fmt.Errorf("db: list invites: %w", err)
	}
	defer rows.Close()
	var out []PendingInvite
	for rows.Next() {
		var (
			p                PendingInvite
			role             string
			created, expires int64
		)
		if err := rows.Scan(&p.ID, &p.Email, &role, &p.CreatedBy, &created, &expires); err != nil {
			return nil, fmt.Errorf("db: scan invite: %w", err)
		}
		p.Role, p.CreatedAt, p.ExpiresAt = Role(role), fromMillis(created), fromMillis(expires)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: list invites: %w", err)
	}
	return out, nil
}

// errInviteGone answers a revoke or a new link for an invite that is no
// longer pending.
var errInviteGone = Errorf(ErrNotFound, "This invite was already accepted, revoked or replaced, or it has expired.")

const pendingInviteSQL = `SELECT t.email, t.role FROM user_tokens t
	WHERE t.id = ? AND t.kind = 'invite' AND ` + pendingLinksWhere

// pendingInvite reads invite id inside tx if it is still pending.
func pendingInvite(ctx context.Context, tx *Tx, id int64, now time.Time) (string, Role, error) {
	var email, role string
	err := tx.QueryRowContext(ctx, pendingInviteSQL, id, toMillis(now)).Scan(&email, &role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", errInviteGone
	}
	if err != nil {
		return "", "", fmt.Errorf("db: read invite %d: %w", id, err)
	}
	return email, Role(role), nil
}

// RevokeInvite withdraws pending invite id: its link stops working. It is
// audited with the invited address.
func (s *Store) RevokeInvite(ctx context.Context, id int64, actor Actor) (PendingInvite, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return PendingInvite{}, fmt.Errorf("db: revoke invite: %w", err)
	}
	defer tx.Rollback()
	now := s.Now()
	email, role, err := pendingInvite(ctx, tx, id, now)
	if err != nil {
		return PendingInvite{}, err
	}
	if _, err := tx.ExecContext(ctx, deleteTokenSQL, id); err != nil {
		return PendingInvite{}, fmt.Errorf("db: revoke invite: %w", err)
	}
	e := actor.event(ActionInviteRevoke, "invite", id, email)
	e.Detail = map[string]string{"role": string(role)}
	if err := insertAudit(ctx, tx, now, e); err != nil {
		return PendingInvite{}, err
	}
	if err := tx.Commit(); err != nil {
		return PendingInvite{}, fmt.Errorf("db: revoke invite: %w", err)
	}
	return PendingInvite{ID: id, Email: email, Role: role}, nil
}

// RenewInvite makes a new link for pending invite id, to the same address
// with the same role, and voids the old one: for a link that was lost, or
// one that should now come from the acting admin. The token is shown once.
func (s *Store) RenewInvite(ctx context.Context, id int64, actor Actor) (string, UserToken, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return "", UserToken{}, fmt.Errorf("db: new invite link: %w", err)
	}
	defer tx.Rollback()
	email, role, err := pendingInvite(ctx, tx, id, s.Now())
	if err != nil {
		return "", UserToken{}, err
	}
	tok, t, err := s.createInvite(ctx, tx, email, role, actor, map[string]string{"replaces_invite": fmt.Sprint(id)})
	if err != nil {
		return "", UserToken{}, err
	}
	if err := tx.Commit(); err != nil {
		return "", UserToken{}, fmt.Errorf("db: new invite link: %w", err)
	}
	return tok, t, nil
}
