package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CreatePasswordReset makes a password-reset link for userID and returns its
// token, which is shown once. A disabled user gets none (ErrConflict): the
// link would be a way back in. An earlier unused reset link stops working.
func (s *Store) CreatePasswordReset(ctx context.Context, userID int64, actor Actor) (string, UserToken, error) {
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
	if err := insertAudit(ctx, tx, now, e); err != nil {
		return "", UserToken{}, err
	}
	if err := tx.Commit(); err != nil {
		return "", UserToken{}, fmt.Errorf("db: create reset link: %w", err)
	}
	return tok, t, nil
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
