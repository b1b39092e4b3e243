package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// A person's notification choices: which kinds of e-mail (NotifyKinds)
// they receive. No row means the default, which is on for every kind, so a
// new account hears about its keys without having to find the Account page
// first. emailRecipients reads the same table when an event fans out, so a
// choice applies to the next event, not to deliveries already made.

const selectNotifyPrefsSQL = `SELECT kind, enabled FROM notification_prefs WHERE user_id = ?`

const upsertNotifyPrefSQL = `INSERT INTO notification_prefs (user_id, kind, enabled) VALUES (?, ?, ?)
	ON CONFLICT (user_id, kind) DO UPDATE SET enabled = excluded.enabled`

// GetNotifyPrefs returns whether userID receives each kind of NotifyKinds,
// every kind present (on unless turned off). The digest goes to admins
// only: for anyone else its value is kept but means nothing until they are
// made an admin. A row of a kind this version does not know is ignored.
func (s *Store) GetNotifyPrefs(ctx context.Context, userID int64) (map[string]bool, error) {
	prefs, err := readNotifyPrefs(ctx, s.r, userID)
	if err != nil {
		return nil, fmt.Errorf("db: notification choices of user %d: %w", userID, err)
	}
	return prefs, nil
}

// readNotifyPrefs reads userID's choices through q (the reader pool, or a
// transaction that is about to change them).
func readNotifyPrefs(ctx context.Context, q querier, userID int64) (map[string]bool, error) {
	prefs := make(map[string]bool, len(NotifyKinds()))
	for _, k := range NotifyKinds() {
		prefs[k] = true
	}
	rows, err := q.QueryContext(ctx, selectNotifyPrefsSQL, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind    string
			enabled int64
		)
		if err := rows.Scan(&kind, &enabled); err != nil {
			return nil, err
		}
		if _, known := prefs[kind]; known {
			prefs[kind] = enabled != 0
		}
	}
	return prefs, rows.Err()
}

// SetNotifyPrefs records userID's choices for the kinds in prefs; kinds not
// in prefs keep theirs. A kind outside NotifyKinds is refused (a
// *ValidationError on field "kinds") and nothing is written: security
// events have no kind precisely so that nobody can turn them off. The
// change is audited as notify.prefs on the user, with each changed kind's
// before and after ("on"/"off"); choosing what was already chosen writes
// nothing and audits nothing. An unknown user is ErrNotFound.
func (s *Store) SetNotifyPrefs(ctx context.Context, userID int64, prefs map[string]bool, actor Actor) error {
	var unknown []string
	for k := range prefs {
		if !slices.Contains(NotifyKinds(), k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return &ValidationError{Fields: map[string]string{
			"kinds": fmt.Sprintf("Unknown notification %s: choose from the listed ones.", quoteKinds(unknown)),
		}}
	}

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: set notification choices: %w", err)
	}
	defer tx.Rollback()
	var email string
	err = tx.QueryRowContext(ctx, `SELECT email FROM users WHERE id = ?`, userID).Scan(&email)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("db: set notification choices: %w", err)
	}
	before, err := readNotifyPrefs(ctx, tx, userID)
	if err != nil {
		return fmt.Errorf("db: set notification choices: %w", err)
	}
	changes := map[string]Change{}
	for _, k := range NotifyKinds() {
		on, given := prefs[k]
		if !given || on == before[k] {
			continue
		}
		if _, err := tx.ExecContext(ctx, upsertNotifyPrefSQL, userID, k, boolInt(on)); err != nil {
			return fmt.Errorf("db: set notification %s: %w", k, err)
		}
		changes[k] = Change{Before: prefWord(before[k]), After: prefWord(on)}
	}
	if len(changes) == 0 {
		return nil
	}
	e := actor.event(ActionNotifyPrefs, "user", userID, email)
	e.Changes = changes
	if err := insertAudit(ctx, tx, s.Now(), e); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: set notification choices: %w", err)
	}
	return nil
}

// prefWord is how a choice reads in the audit log.
func prefWord(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// quoteList renders kinds for a message: "a", "b".
func quoteKinds(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
