package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// UserSummary is a row of the admin's user list.
type UserSummary struct {
	User
	// ActiveKeys counts keys that would verify now: neither revoked nor
	// disabled, and not expired. A disabled user has none.
	ActiveKeys int
}

// usersSelect counts each user's working keys in a correlated subquery,
// which walks the api_keys_user_id index once per user: one query however
// many users there are, and no GROUP BY over every key. Its first argument
// is now.
const usersSelect = `SELECT u.id, u.email, u.role, u.created_at, u.disabled_at, u.password_changed_at, u.last_login_at,
	(SELECT COUNT(*) FROM api_keys k WHERE k.user_id = u.id AND ` + keyActiveCond + `)
	FROM users u`

const (
	listUsersSQL = usersSelect + ` ORDER BY u.email`
	// listUsersPageSQL is a keyset page by email (unique), stable while
	// users are added, unlike OFFSET.
	listUsersPageSQL = usersSelect + ` WHERE u.email > ? ORDER BY u.email LIMIT ?`
)

// ListUsers returns every user, by email, with their active-key counts.
func (s *Store) ListUsers(ctx context.Context) ([]UserSummary, error) {
	return s.queryUsers(ctx, listUsersSQL, toMillis(s.Now()))
}

// MaxUserPage bounds a page of ListUsersPage.
const MaxUserPage = 500

// ListUsersPage returns at most limit users (1..MaxUserPage) whose email
// sorts after after ("" for the first page), by email, with their
// active-key counts: the management API's pages, which a script walks
// however many people there are.
func (s *Store) ListUsersPage(ctx context.Context, after string, limit int) ([]UserSummary, error) {
	limit = min(max(limit, 1), MaxUserPage)
	return s.queryUsers(ctx, listUsersPageSQL, toMillis(s.Now()), after, limit)
}

func (s *Store) queryUsers(ctx context.Context, query string, args ...any) ([]UserSummary, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("db: list users: %w", err)
	}
	defer rows.Close()
	var out []UserSummary
	for rows.Next() {
		var us UserSummary
		if us.User, err = scanUser(rows, &us.ActiveKeys); err != nil {
			return nil, fmt.Errorf("db: scan user: %w", err)
		}
		out = append(out, us)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: list users: %w", err)
	}
	return out, nil
}

const userEmailsSQL = `SELECT id, email FROM users`

// UserEmails maps every user's id to their email, so that a report over
// many keys can name who disabled or revoked each without a lookup per
// row. There are few users next to keys.
func (s *Store) UserEmails(ctx context.Context) (map[int64]string, error) {
	rows, err := s.r.QueryContext(ctx, userEmailsSQL)
	if err != nil {
		return nil, fmt.Errorf("db: user emails: %w", err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var (
			id    int64
			email string
		)
		if err := rows.Scan(&id, &email); err != nil {
			return nil, fmt.Errorf("db: scan user email: %w", err)
		}
		out[id] = email
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: user emails: %w", err)
	}
	return out, nil
}

const setRoleSQL = `UPDATE users SET role = ? WHERE id = ?`

// SetUserRole gives a user one of Roles. Leaving the admin role is refused
// (ErrConflict) for the actor themselves, so nobody locks themselves out by
// a slip, and for the last active admin, which would leave nobody to run the
// admin pages; it voids the invites and reset links the user made as an
// admin. A move up the ranks (member, auditor, admin) is audited as a
// promotion, a move down as a demotion, both with the old and new role.
// Setting the role a user already has does nothing.
func (s *Store) SetUserRole(ctx context.Context, userID int64, role Role, actor Actor) error {
	if !role.Valid() {
		var ve ValidationError
		ve.Add("role", "Choose a role.")
		return &ve
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: set user role: %w", err)
	}
	defer tx.Rollback()
	var (
		email, current string
		disabledAt     sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, userStateSQL, userID).Scan(&email, &current, &disabledAt)
	if errors.Is(err, sql.ErrNoRows) {
		return errUserNotFound
	}
	if err != nil {
		return fmt.Errorf("db: set user role: %w", err)
	}
	if Role(current) == role {
		return nil
	}
	leavesAdmin := Role(current) == RoleAdmin
	if leavesAdmin {
		if actor.UserID == userID {
			return Errorf(ErrConflict, "You can't demote yourself.")
		}
		if !disabledAt.Valid {
			var n int
			if err := tx.QueryRowContext(ctx, countActiveAdminsSQL).Scan(&n); err != nil {
				return fmt.Errorf("db: count admins: %w", err)
			}
			if n <= 1 {
				return Errorf(ErrConflict, "The last active admin cannot be demoted.")
			}
		}
	}
	if _, err := tx.ExecContext(ctx, setRoleSQL, string(role), userID); err != nil {
		return fmt.Errorf("db: set user role: %w", err)
	}
	now := s.Now()
	if leavesAdmin {
		if err := voidLinks(ctx, tx, now, actor, voidCreatorDemoted, linksByCreatorSQL, userID); err != nil {
			return err
		}
	}
	action := ActionUserPromote
	if role.rank() < Role(current).rank() {
		action = ActionUserDemote
	}
	e := actor.event(action, "user", userID, email)
	e.Detail = map[string]string{"old": current, "new": string(role)}
	if err := insertAudit(ctx, tx, now, e); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: set user role: %w", err)
	}
	return nil
}

const userEmailSQL = `SELECT email FROM users WHERE id = ?`

// EndUserSessions signs a user out everywhere (an admin's answer to a lost
// laptop) and returns how many sessions ended. It is audited even when
// there was none, since the admin did act.
func (s *Store) EndUserSessions(ctx context.Context, userID int64, actor Actor) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("db: end user sessions: %w", err)
	}
	defer tx.Rollback()
	var email string
	err = tx.QueryRowContext(ctx, userEmailSQL, userID).Scan(&email)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errUserNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("db: end user sessions: %w", err)
	}
	res, err := tx.ExecContext(ctx, deleteAllSessSQL, userID)
	if err != nil {
		return 0, fmt.Errorf("db: end user sessions: %w", err)
	}
	ended, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("db: end user sessions: %w", err)
	}
	e := actor.event(ActionSessionEnd, "user", userID, email)
	e.Detail = map[string]string{"sessions_ended": fmt.Sprint(ended)}
	if err := insertAudit(ctx, tx, s.Now(), e); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("db: end user sessions: %w", err)
	}
	return ended, nil
}
