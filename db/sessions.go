package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Session is the server side of a browser session. The cookie carries a
// random 256-bit id; only its SHA-256 (TokenHash) is stored, so reading the
// database does not yield a usable cookie. Data holds the encoded session
// values (flashes, CSRF token) owned by the web layer.
type Session struct {
	ID         int64
	TokenHash  []byte
	UserID     int64
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute limit; the idle limit is judged from LastSeenAt
	IP         string
	UserAgent  string
	Data       []byte
	// How the session signed in (signin.go): the first factor, what
	// completed it, the sign-in stage, and when the person last proved who
	// they are (CreatedAt until a re-authentication).
	AuthMethod   string
	SecondFactor string
	Stage        string
	ReauthAt     time.Time
}

const sessionColumns = `id, token_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent, data,
	auth_method, second_factor, stage, COALESCE(reauth_at, created_at)`

func scanSession(row scanner) (Session, error) {
	var (
		ss                     Session
		created, seen, expires int64
		reauth                 int64
	)
	if err := row.Scan(&ss.ID, &ss.TokenHash, &ss.UserID, &created, &seen, &expires, &ss.IP, &ss.UserAgent, &ss.Data,
		&ss.AuthMethod, &ss.SecondFactor, &ss.Stage, &reauth); err != nil {
		return Session{}, err
	}
	ss.ReauthAt = fromMillis(reauth)
	ss.CreatedAt = fromMillis(created)
	ss.LastSeenAt = fromMillis(seen)
	ss.ExpiresAt = fromMillis(expires)
	return ss, nil
}

var errSessionNotFound = Errorf(ErrNotFound, "No such session.")

const insertSessionSQL = `INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent, data,
		auth_method, second_factor, stage)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`

// CreateSession signs a user in: it stores sess (filling in its ID),
// records the user's last sign-in and writes the login.success audit event
// (by the user, from sess.IP), all in one transaction, so no sign-in goes
// unrecorded. Every way in
// (password, setup, invite, reset, passkey, SSO) passes here. Zero CreatedAt and
// LastSeenAt default to now, an empty AuthMethod is "password"; ExpiresAt
// and TokenHash are required. A session waiting for its second factor
// (StageMFA) is not a sign-in yet: it records login.first_factor and
// leaves last_login_at alone.
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	if len(sess.TokenHash) == 0 || sess.ExpiresAt.IsZero() || sess.UserID == 0 {
		return fmt.Errorf("db: create session: token hash, user and expiry are required")
	}
	now := s.Now()
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = now
	}
	if sess.LastSeenAt.IsZero() {
		sess.LastSeenAt = sess.CreatedAt
	}
	if sess.AuthMethod == "" {
		sess.AuthMethod = AuthPassword
	}
	sess.ReauthAt = sess.CreatedAt
	if !validStage(sess.Stage) {
		return fmt.Errorf("db: create session: unknown stage %q", sess.Stage)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: create session: %w", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, insertSessionSQL, sess.TokenHash, sess.UserID,
		toMillis(sess.CreatedAt), toMillis(sess.LastSeenAt), toMillis(sess.ExpiresAt),
		sess.IP, sess.UserAgent, sess.Data, sess.AuthMethod, sess.SecondFactor, sess.Stage).Scan(&sess.ID); err != nil {
		return fmt.Errorf("db: create session: %w", err)
	}
	var email string
	action := ActionLoginSuccess
	if sess.Stage == StageMFA {
		action = ActionLoginFirstFactor
		if err := tx.QueryRowContext(ctx, `SELECT email FROM users WHERE id = ?`, sess.UserID).Scan(&email); err != nil {
			return fmt.Errorf("db: record sign-in: %w", err)
		}
	} else if err := tx.QueryRowContext(ctx, `UPDATE users SET last_login_at = ? WHERE id = ? RETURNING email`,
		toMillis(sess.CreatedAt), sess.UserID).Scan(&email); err != nil {
		return fmt.Errorf("db: record sign-in: %w", err)
	}
	a := Actor{UserID: sess.UserID, Label: email, IP: sess.IP}
	e := a.event(action, "user", sess.UserID, email)
	e.Detail = map[string]string{"method": sess.AuthMethod}
	if sess.SecondFactor != "" {
		e.Detail["second_factor"] = sess.SecondFactor
	}
	if sess.Stage == StageEnrol {
		e.Detail["stage"] = "enrolment required"
	}
	if err := insertAudit(ctx, tx, now, e); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: create session: %w", err)
	}
	return nil
}

const sessionByHashSQL = `SELECT ` + sessionColumns + ` FROM sessions WHERE token_hash = ? AND expires_at > ?`

// SessionByTokenHash finds a live session by the hash of its cookie id. An
// expired row is ErrNotFound even before DeleteExpiredSessions removes it.
func (s *Store) SessionByTokenHash(ctx context.Context, hash []byte) (Session, error) {
	ss, err := scanSession(s.r.QueryRowContext(ctx, sessionByHashSQL, hash, toMillis(s.Now())))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, errSessionNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("db: get session: %w", err)
	}
	return ss, nil
}

const touchSessionSQL = `UPDATE sessions SET last_seen_at = ?, data = ? WHERE id = ?`

// TouchSession records activity and saves the session values. ErrNotFound
// means the session was ended meanwhile (sign-out elsewhere, password change)
// and must not be resurrected.
func (s *Store) TouchSession(ctx context.Context, id int64, lastSeen time.Time, data []byte) error {
	res, err := s.w.ExecContext(ctx, touchSessionSQL, toMillis(lastSeen), data, id)
	if err != nil {
		return fmt.Errorf("db: touch session: %w", err)
	}
	return oneRow(res, errSessionNotFound)
}

// DeleteSession ends a session; ending one that is already gone is not an
// error, so signing out twice is harmless.
func (s *Store) DeleteSession(ctx context.Context, id int64) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("db: delete session: %w", err)
	}
	return nil
}

// EndSession signs out: it deletes session id and writes the logout audit
// event by a in the same transaction. Ending a session that is already gone
// writes nothing and is not an error, so signing out twice is harmless.
func (s *Store) EndSession(ctx context.Context, id int64, a Actor) error {
	return s.endSessions(ctx, `DELETE FROM sessions WHERE id = ? RETURNING id`, []any{id}, nil,
		func(n int) *AuditEvent {
			if n == 0 || a.UserID == 0 {
				return nil
			}
			e := a.event(ActionLogout, "user", a.UserID, a.Label)
			return &e
		})
}

// DeleteUserSession ends one of userID's sessions and audits it by a. The
// user id is part of the WHERE clause, so nobody can end another person's
// session by guessing its id: that is ErrNotFound.
func (s *Store) DeleteUserSession(ctx context.Context, userID, sessionID int64, a Actor) error {
	return s.endSessions(ctx, `DELETE FROM sessions WHERE id = ? AND user_id = ? RETURNING id`,
		[]any{sessionID, userID}, errSessionNotFound,
		func(int) *AuditEvent {
			e := a.event(ActionSessionEnd, "user", userID, a.Label)
			e.Detail = map[string]string{"session_id": strconv.FormatInt(sessionID, 10)}
			return &e
		})
}

// DeleteUserSessions ends every session of userID except exceptID (0 keeps
// none), audits it by a, and returns how many ended.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, exceptID int64, a Actor) (int64, error) {
	var ended int64
	err := s.endSessions(ctx, endOtherSessSQL+` RETURNING id`, []any{userID, exceptID}, nil,
		func(n int) *AuditEvent {
			ended = int64(n)
			e := a.event(ActionSessionEnd, "user", userID, a.Label)
			e.Detail = map[string]string{"sessions": strconv.Itoa(n), "scope": "all other sessions"}
			return &e
		})
	return ended, err
}

// endSessions runs a DELETE … RETURNING id and, in the same transaction,
// the audit event audit builds from the number of rows deleted (nil: none).
// With none deleted and notFound set, it returns notFound.
func (s *Store) endSessions(ctx context.Context, query string, args []any, notFound error, audit func(n int) *AuditEvent) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: end sessions: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("db: end sessions: %w", err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("db: end sessions: %w", err)
	}
	if n == 0 && notFound != nil {
		return notFound
	}
	if e := audit(n); e != nil {
		if err := insertAudit(ctx, tx, s.Now(), *e); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: end sessions: %w", err)
	}
	return nil
}

const listUserSessionsSQL = `SELECT ` + sessionColumns + ` FROM sessions
	WHERE user_id = ? AND expires_at > ?
	ORDER BY last_seen_at DESC, id DESC`

// ListUserSessions returns userID's unexpired sessions, most recently used first.
func (s *Store) ListUserSessions(ctx context.Context, userID int64) ([]Session, error) {
	rows, err := s.r.QueryContext(ctx, listUserSessionsSQL, userID, toMillis(s.Now()))
	if err != nil {
		return nil, fmt.Errorf("db: list sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("db: scan session: %w", err)
		}
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: list sessions: %w", err)
	}
	return out, nil
}

// DeleteExpiredSessions removes sessions past their absolute expiry and
// returns how many; the server runs it periodically.
func (s *Store) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, toMillis(s.Now()))
	if err != nil {
		return 0, fmt.Errorf("db: delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("db: delete expired sessions: %w", err)
	}
	return n, nil
}

// oneRow turns "no row affected" into notFound.
func oneRow(res sql.Result, notFound error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("db: rows affected: %w", err)
	}
	if n == 0 {
		return notFound
	}
	return nil
}
