package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// A reset link replaces a password without knowing it, so who may make one
// is narrower than who may act on a user. Nobody makes one for themselves:
// it would skip the current-password check of the account page. For
// another admin, the acting admin types their own password: a reset link
// for an admin is a way into an admin account, and a session left open
// must not be enough to make one.

// errResetSelf refuses a reset link for the acting admin.
var errResetSelf = Errorf(ErrConflict, "You can't make a reset link for yourself. Change your password on your account page.")

// resetPasswordField is the form field of the acting admin's password.
const resetPasswordField = "current_password"

// CreatePasswordReset makes a password-reset link for userID and returns its
// token, which is shown once. A disabled user gets none (ErrConflict): the
// link would be a way back in; nor does the actor (ErrConflict). When the
// user is an admin, actorPassword must be the signed-in actor's password
// (field "current_password"); a wrong one is audited. The command line
// (an actor without a user id) needs none. An earlier unused reset link
// stops working.
func (s *Store) CreatePasswordReset(ctx context.Context, userID int64, actorPassword string, actor Actor) (string, UserToken, error) {
	if actor.UserID != 0 && actor.UserID == userID {
		return "", UserToken{}, errResetSelf
	}
	target, err := s.GetUser(ctx, userID)
	if err != nil {
		return "", UserToken{}, err
	}
	// Checked before the write transaction: the single writer must not
	// wait on argon2. The transaction re-reads the role.
	confirmed := false
	if target.IsAdmin() && actor.UserID != 0 {
		if err := s.confirmActorPassword(ctx, actor, target, actorPassword); err != nil {
			return "", UserToken{}, err
		}
		confirmed = true
	}

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return "", UserToken{}, fmt.Errorf("db: create reset link: %w", err)
	}
	defer tx.Rollback()
	var (
		email, role string
		disabledAt  sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, userStateSQL, userID).Scan(&email, &role, &disabledAt)
	if errors.Is(err, sql.ErrNoRows) {
		return "", UserToken{}, errUserNotFound
	}
	if err != nil {
		return "", UserToken{}, fmt.Errorf("db: create reset link: %w", err)
	}
	if disabledAt.Valid {
		return "", UserToken{}, Errorf(ErrConflict, "This user is disabled. Enable the account before sending a reset link.")
	}
	if Role(role) == RoleAdmin && actor.UserID != 0 && !confirmed {
		// Promoted since the check above.
		return "", UserToken{}, passwordNeeded()
	}
	if _, err := tx.ExecContext(ctx, supersedeResetsSQL, userID); err != nil {
		return "", UserToken{}, fmt.Errorf("db: create reset link: %w", err)
	}
	now := fromMillis(toMillis(s.Now()))
	t := UserToken{Kind: TokenReset, Email: email, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(ResetTTL)}
	tok, err := insertToken(ctx, tx, &t, actor)
	if err != nil {
		return "", UserToken{}, err
	}
	e := actor.event(ActionResetLink, "user", userID, email)
	e.Detail = map[string]string{"expires_at": t.ExpiresAt.Format(time.RFC3339)}
	if confirmed {
		e.Detail["password_confirmed"] = "true"
	}
	if err := insertAudit(ctx, tx, now, e); err != nil {
		return "", UserToken{}, err
	}
	ev := &OutboxEvent{Type: EventPasswordReset, ActorID: actor.UserID, UserID: userID,
		Data: map[string]any{"user": map[string]any{"id": userID, "email": email},
			"expires_at": t.ExpiresAt.Format(time.RFC3339), "actor": actor.Label},
		Private: linkPrivate(email, tok)}
	if err := enqueue(ctx, tx, now, ev); err != nil {
		return "", UserToken{}, err
	}
	if err := tx.Commit(); err != nil {
		return "", UserToken{}, fmt.Errorf("db: create reset link: %w", err)
	}
	return tok, t, nil
}

// passwordNeeded asks for the acting admin's password beside its field.
func passwordNeeded() error {
	var ve ValidationError
	ve.Add(resetPasswordField, "Enter your password to make a reset link for another admin.")
	return &ve
}

// confirmActorPassword checks that password is actor's own, for a reset
// link for target. A wrong password is audited (on the target, where an
// admin looking into that account will see it) and is not otherwise
// counted: the actor is already signed in, and argon2id bounds the pace.
func (s *Store) confirmActorPassword(ctx context.Context, actor Actor, target User, password string) error {
	if password == "" {
		return passwordNeeded()
	}
	var email, hash string
	err := s.r.QueryRowContext(ctx, passwordHashSQL, actor.UserID).Scan(&email, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return errUserNotFound
	}
	if err != nil {
		return fmt.Errorf("db: check password: %w", err)
	}
	ok, err := s.passwords.compare(ctx, password, hash)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	e := actor.event(ActionResetLinkDenied, "user", target.ID, target.Email)
	e.Detail = map[string]string{"reason": "wrong password"}
	if err := s.Audit(ctx, e); err != nil {
		return err
	}
	var ve ValidationError
	ve.Add(resetPasswordField, "That is not your password.")
	return &ve
}

// #nosec G101 -- SQL naming the password_hash column, not a credential.
const resetPasswordSQL = `UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?`

// ResetPassword sets a new password (field "password") through a reset
// link, signs the link off and ends every session of the user: whoever was
// signed in with the old password is signed out.
func (s *Store) ResetPassword(ctx context.Context, token, password, ip string) (User, error) {
	t, hash, err := s.linkPassword(ctx, TokenReset, token, password)
	if err != nil {
		return User{}, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return User{}, fmt.Errorf("db: reset password: %w", err)
	}
	defer tx.Rollback()
	now := s.Now()
	if t, err = findToken(ctx, tx, TokenReset, token, now); err != nil {
		return User{}, err
	}
	if _, err := tx.ExecContext(ctx, resetPasswordSQL, hash, toMillis(now), t.UserID); err != nil {
		return User{}, fmt.Errorf("db: reset password: %w", err)
	}
	if err := useToken(ctx, tx, t, t.UserID, now); err != nil {
		return User{}, err
	}
	res, err := tx.ExecContext(ctx, deleteAllSessSQL, t.UserID)
	if err != nil {
		return User{}, fmt.Errorf("db: end sessions: %w", err)
	}
	ended, _ := res.RowsAffected()
	u, err := scanUser(tx.QueryRowContext(ctx, getUserSQL, t.UserID))
	if err != nil {
		return User{}, fmt.Errorf("db: reset password: %w", err)
	}
	e := Actor{UserID: u.ID, Label: u.Email, IP: ip}.event(ActionPasswordReset, "user", u.ID, u.Email)
	e.Detail = map[string]string{"sessions_ended": fmt.Sprint(ended)}
	if err := insertAudit(ctx, tx, now, e); err != nil {
		return User{}, err
	}
	if err := tx.Commit(); err != nil {
		return User{}, fmt.Errorf("db: reset password: %w", err)
	}
	return u, nil
}
