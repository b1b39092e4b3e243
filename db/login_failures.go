package db

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The sign-in back-off per account and per device lives in the database,
// not in a process's memory: with several instances behind a load
// balancer, ten wrong passwords spread over them must slow an account down
// as ten on one instance would. Every change is one atomic statement (an
// upsert that adds to the count, a delete), so instances racing never lose
// a failure. The per-address throttles stay in each instance's memory
// (handlers/throttle.go): they guard the server, not an account.

// LoginSubject is what a sign-in failure counts against: a kind byte and a
// fixed-size value, so a row costs the same whatever email was typed.
type LoginSubject []byte

const (
	loginSubjectAccount = 'a'
	loginSubjectDevice  = 'd'
	loginSubjectCode    = 'c'
	// maxLoginSubjects bounds the subjects one LoginBlockedUntil reads.
	maxLoginSubjects = 8
)

// AccountSubject names an account by the SHA-256 of its normalised email:
// the back-off of the clients that have not signed in to it before.
func AccountSubject(digest [sha256.Size]byte) LoginSubject {
	return append(LoginSubject{loginSubjectAccount}, digest[:]...)
}

// CodeSubject names the second-factor codes (authenticator and recovery)
// of user id: their own back-off, which a right password does not clear,
// so whoever knows the password cannot buy fresh code guesses with it.
func CodeSubject(userID int64) LoginSubject {
	d := sha256.Sum256([]byte("code:" + strconv.FormatInt(userID, 10)))
	return append(LoginSubject{loginSubjectCode}, d[:]...)
}

// DeviceSubject names a trusted device by its device cookie's nonce: its
// own back-off, apart from the account's.
func DeviceSubject(nonce [16]byte) LoginSubject {
	return append(LoginSubject{loginSubjectDevice}, nonce[:]...)
}

// loginBackoff is the policy of every subject: 5 failures free, then a
// wait of 1 s doubling at each further failure up to 15 min; a subject
// whose last failure is an hour old starts again from nothing (and its row
// is deleted by DeleteForgottenLoginFailures).
var loginBackoff = struct {
	free         int64
	base, max    time.Duration
	forget       time.Duration
	maxDoublings int64
}{free: 5, base: time.Second, max: 15 * time.Minute, forget: time.Hour, maxDoublings: 20}

// loginBlockedUntil is when a subject with failures in a row, the last at
// last, may try again; the zero time while it is within its free failures.
// It is computed here rather than stored, so the doubling is Go and not
// two dialects of SQL, and each change stays one statement.
func loginBlockedUntil(failures int64, last time.Time) time.Time {
	if failures < loginBackoff.free {
		return time.Time{}
	}
	d := loginBackoff.base << min(failures-loginBackoff.free, loginBackoff.maxDoublings)
	if d > loginBackoff.max || d <= 0 {
		d = loginBackoff.max
	}
	return last.Add(d)
}

const (
	loginFailuresSQL = `SELECT failures, last_failure_at FROM login_failures WHERE subject IN (?%s)`
	// The count starts again when the last failure is forgotten;
	// last_failure_at only moves forward, whatever another instance's
	// clock says.
	recordLoginFailureSQL = `INSERT INTO login_failures (subject, failures, last_failure_at) VALUES (?, 1, ?)
		ON CONFLICT (subject) DO UPDATE SET
			failures = CASE WHEN login_failures.last_failure_at <= ? THEN 1
				ELSE login_failures.failures + 1 END,
			last_failure_at = CASE WHEN excluded.last_failure_at > login_failures.last_failure_at
				THEN excluded.last_failure_at ELSE login_failures.last_failure_at END
		RETURNING failures, last_failure_at`
	clearLoginFailuresSQL     = `DELETE FROM login_failures WHERE subject = ?`
	deleteForgottenFailureSQL = `DELETE FROM login_failures WHERE last_failure_at <= ?`
)

// LoginBlockedUntil is when the most throttled of subjects may try again
// (the zero time when none is throttled), in one query. A sign-in is judged
// by one subject today (its device or its account); a few are accepted so
// that one read can answer for several.
func (s *Store) LoginBlockedUntil(ctx context.Context, subjects ...LoginSubject) (time.Time, error) {
	if len(subjects) == 0 || len(subjects) > maxLoginSubjects {
		return time.Time{}, fmt.Errorf("db: login back-off: %d subjects, want 1 to %d", len(subjects), maxLoginSubjects)
	}
	args := make([]any, len(subjects))
	for i, sub := range subjects {
		args[i] = []byte(sub)
	}
	// #nosec G201 -- what is formatted in is placeholders only; the subjects are arguments.
	q := fmt.Sprintf(loginFailuresSQL, strings.Repeat(", ?", len(subjects)-1))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return time.Time{}, fmt.Errorf("db: login back-off: %w", err)
	}
	defer rows.Close()
	var until time.Time
	for rows.Next() {
		var n, last int64
		if err := rows.Scan(&n, &last); err != nil {
			return time.Time{}, fmt.Errorf("db: login back-off: %w", err)
		}
		if t := loginBlockedUntil(n, fromMillis(last)); t.After(until) {
			until = t
		}
	}
	if err := rows.Err(); err != nil {
		return time.Time{}, fmt.Errorf("db: login back-off: %w", err)
	}
	return until, nil
}

// RecordLoginFailure counts a failed sign-in against subject at the time
// at (the caller's clock, the one its per-address back-off also reads) and
// returns when subject may try again. One upsert adds the failure, so two
// instances recording at once both count.
func (s *Store) RecordLoginFailure(ctx context.Context, subject LoginSubject, at time.Time) (time.Time, error) {
	ms := toMillis(at)
	var n, last int64
	err := s.w.QueryRowContext(ctx, recordLoginFailureSQL, []byte(subject), ms,
		toMillis(at.Add(-loginBackoff.forget))).Scan(&n, &last)
	if err != nil {
		return time.Time{}, fmt.Errorf("db: record login failure: %w", err)
	}
	return loginBlockedUntil(n, fromMillis(last)), nil
}

// ClearLoginFailures forgets subject's failures after a successful sign-in.
func (s *Store) ClearLoginFailures(ctx context.Context, subject LoginSubject) error {
	if _, err := s.w.ExecContext(ctx, clearLoginFailuresSQL, []byte(subject)); err != nil {
		return fmt.Errorf("db: clear login failures: %w", err)
	}
	return nil
}

// DeleteForgottenLoginFailures deletes the subjects whose last failure is
// over an hour old: they throttle nobody and would start from nothing
// anyway. The server runs it hourly. Between runs the table grows by at
// most one row per account or device tried, a few dozen bytes each, and
// the per-address back-off caps how fast one address can try new ones.
func (s *Store) DeleteForgottenLoginFailures(ctx context.Context) (int64, error) {
	res, err := s.w.ExecContext(ctx, deleteForgottenFailureSQL, toMillis(s.Now().Add(-loginBackoff.forget)))
	if err != nil {
		return 0, fmt.Errorf("db: delete forgotten login failures: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("db: delete forgotten login failures: %w", err)
	}
	return n, nil
}
