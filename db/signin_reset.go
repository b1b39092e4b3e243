package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// EventFactorsReset tells a person that an admin removed their second
// factors (e-mail only, a security notice nobody can turn off): if they
// did not ask for it, someone with admin rights is acting on their account.
const EventFactorsReset = "mfa.reset"

// errResetOwnFactors: an admin changes their own sign-in methods on their
// security page, where each change asks for the factor it replaces.
var errResetOwnFactors = Errorf(ErrConflict, "To change your own second factors, use your Sign-in and security page.")

// resetFactorsSQL are the statements of ResetSecondFactors, each returning
// the ids it deleted so that the audit event can say what went.
var resetFactorsSQL = []struct{ name, query string }{
	{"totp", `DELETE FROM totp_factors WHERE user_id = ? RETURNING user_id`},
	{"passkeys", `DELETE FROM passkeys WHERE user_id = ? RETURNING id`},
	{"recovery_codes", `DELETE FROM recovery_codes WHERE user_id = ? RETURNING id`},
	{"sessions", `DELETE FROM sessions WHERE user_id = ? RETURNING id`},
}

// ResetSecondFactors is an admin's answer to a person who lost their
// phone and their recovery codes: it deletes userID's authenticator app,
// passkeys and recovery codes and ends every session of theirs (so a
// thief holding one is out too), audits mfa.reset by actor with what was
// removed, and enqueues the EventFactorsReset e-mail — all in one
// transaction. The person signs in with their password next and, where
// policy requires a second factor, is sent to enrol a new one. Not on
// oneself (ErrConflict); an unknown user is ErrNotFound.
func (s *Store) ResetSecondFactors(ctx context.Context, userID int64, actor Actor) error {
	if actor.UserID == userID {
		return errResetOwnFactors
	}
	return s.inWriteTx(ctx, "reset second factors", func(tx *Tx, now time.Time) error {
		var email string
		err := tx.QueryRowContext(ctx, userEmailSQL, userID).Scan(&email)
		if errors.Is(err, sql.ErrNoRows) {
			return errUserNotFound
		}
		if err != nil {
			return fmt.Errorf("db: reset second factors: %w", err)
		}
		detail := map[string]string{}
		for _, st := range resetFactorsSQL {
			n, err := countDeleted(ctx, tx, st.query, userID)
			if err != nil {
				return fmt.Errorf("db: reset second factors: %s: %w", st.name, err)
			}
			detail[st.name] = strconv.Itoa(n)
		}
		e := actor.event(ActionFactorsReset, "user", userID, email)
		e.Detail = detail
		if err := insertAudit(ctx, tx, now, e); err != nil {
			return err
		}
		return enqueue(ctx, tx, now, &OutboxEvent{Type: EventFactorsReset, ActorID: actor.UserID, UserID: userID,
			Data: map[string]any{"user": map[string]any{"id": userID, "email": email}, "actor": actor.Label}})
	})
}

// countDeleted runs a DELETE … RETURNING and counts its rows.
func countDeleted(ctx context.Context, tx *Tx, query string, args ...any) (int, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	return n, rows.Err()
}

const secondFactorsByUserSQL = `SELECT u.id,
	(SELECT COUNT(*) FROM totp_factors t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL),
	(SELECT COUNT(*) FROM passkeys p WHERE p.user_id = u.id),
	(SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at IS NULL)
	FROM users u`

// SecondFactorsByUser returns every person's second factors in one query,
// for the admin users list (who will be asked to enrol when policy
// requires a second factor). People with none are in the map too.
func (s *Store) SecondFactorsByUser(ctx context.Context) (map[int64]SecondFactors, error) {
	rows, err := s.r.QueryContext(ctx, secondFactorsByUserSQL)
	if err != nil {
		return nil, fmt.Errorf("db: second factors by user: %w", err)
	}
	defer rows.Close()
	out := map[int64]SecondFactors{}
	for rows.Next() {
		var (
			id, totp int64
			f        SecondFactors
		)
		if err := rows.Scan(&id, &totp, &f.Passkeys, &f.RecoveryLeft); err != nil {
			return nil, fmt.Errorf("db: second factors by user: %w", err)
		}
		f.TOTP = totp > 0
		out[id] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: second factors by user: %w", err)
	}
	return out, nil
}
