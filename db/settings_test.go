package db

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"
)

// storeSetting writes a raw setting as SetPolicy does, bypassing its
// validation, as a hand edit or a future version's value would arrive.
func storeSetting(t *testing.T, s *Store, name, value string) {
	t.Helper()
	if _, err := s.w.Exec(upsertSettingSQL, name, value, toMillis(s.Now())); err != nil {
		t.Fatalf("store setting %s: %v", name, err)
	}
}

// storedSetting reads a raw setting and whether it has a row.
func storedSetting(t *testing.T, s *Store, name string) (string, bool) {
	t.Helper()
	var v string
	err := s.r.QueryRow(`SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false
	}
	if err != nil {
		t.Fatalf("read setting %s: %v", name, err)
	}
	return v, true
}

// TestUpsertSettingReplaces: a second save of a rule replaces its row
// (value and time) instead of failing on the primary key or adding one.
func TestUpsertSettingReplaces(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		storeSetting(t, s, "stale_days", "90")
		clock.Advance(time.Hour)
		storeSetting(t, s, "stale_days", "30")

		var (
			n       int
			value   string
			updated int64
		)
		err := s.r.QueryRowContext(context.Background(),
			`SELECT COUNT(*), MAX(value), MAX(updated_at) FROM settings WHERE name = 'stale_days'`).Scan(&n, &value, &updated)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 || value != "30" || updated != toMillis(clock.Now()) {
			t.Errorf("got %d rows, value %q, updated_at %d, want 1 row, \"30\", %d", n, value, updated, toMillis(clock.Now()))
		}
	})
}
