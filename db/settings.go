package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// SecretSettingPrefix marks settings whose values are secrets (session
// signing keys): their changes are audited, but the values are never copied
// into the audit log.
const SecretSettingPrefix = "secret."

// Setting returns the value of the setting name and whether it is set.
func (s *Store) Setting(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("db: setting %s: %w", name, err)
	}
	return v, true, nil
}

const upsertSettingSQL = `INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`

// SetSetting stores value under name and audits "setting.change" with the
// old and new values in Detail (redacted for secret settings). Storing the
// value a setting already has changes nothing and is not audited.
func (s *Store) SetSetting(ctx context.Context, name, value string, actor Actor) error {
	if name == "" {
		return fmt.Errorf("db: set setting: empty name")
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: set setting %s: %w", name, err)
	}
	defer tx.Rollback()
	var old string
	err = tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&old)
	existed := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("db: set setting %s: %w", name, err)
	}
	if existed && old == value {
		return nil
	}
	now := s.Now()
	if _, err := tx.ExecContext(ctx, upsertSettingSQL, name, value, toMillis(now)); err != nil {
		return fmt.Errorf("db: set setting %s: %w", name, err)
	}
	e := actor.event(ActionSettingChange, "setting", 0, name)
	if strings.HasPrefix(name, SecretSettingPrefix) {
		e.Detail = map[string]string{"secret": "rotated"}
	} else {
		e.Detail = map[string]string{"old": old, "new": value}
	}
	if err := insertAudit(ctx, tx, now, e); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: set setting %s: %w", name, err)
	}
	return nil
}
