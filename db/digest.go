package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The weekly digest tells admins what needs a look: keys gone stale, keys
// never used, keys expiring within the week. It goes out once per ISO week
// (notice "digest:2026-W48"), at the first run of the hourly jobs from
// Monday DigestHour UTC on, so a server that was down on Monday sends it
// when it is back, and never twice.
const (
	// DigestHour is the hour (UTC) of Monday from which the digest is due.
	DigestHour = 8
	// DigestListMax caps each list of the digest; its counts stay whole.
	DigestListMax = 20
)

// DigestWeek names the ISO week of t, as in "2026-W48".
func DigestWeek(t time.Time) string {
	y, w := t.UTC().ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

// digestDue reports whether the digest of now's ISO week is due: it is
// Monday DigestHour UTC or later in that week.
func digestDue(now time.Time) bool {
	now = now.UTC()
	daysSinceMonday := (int(now.Weekday()) + 6) % 7
	monday := time.Date(now.Year(), now.Month(), now.Day()-daysSinceMonday, DigestHour, 0, 0, 0, time.UTC)
	return !now.Before(monday)
}

// The digest's lists use the stale review's definitions (keyStaleCond, as
// CountStale and the dashboard count): "stale" are the stale keys that
// were used once, "never_used" the stale keys never used (older than the
// policy's never-used period), so the two counts add up to the dashboard's
// stale count. "expiring" are the working keys expiring within
// ExpiringWindow (keyExpiringCond, the dashboard's "expiring soon").
const (
	digestKeyCols = `SELECT k.id, k.name, COALESCE(u.email, ''), k.team_id, COALESCE(t.name, ''), %s
	FROM api_keys k LEFT JOIN users u ON u.id = k.user_id LEFT JOIN teams t ON t.id = k.team_id WHERE `
	digestStaleSQL = `k.last_used_at IS NOT NULL AND ` + keyStaleCond + ` ORDER BY k.last_used_at, k.id LIMIT ?`
	digestNeverSQL = keyNeverUsedCond + ` AND ` + keyStaleCond + ` ORDER BY k.created_at, k.id LIMIT ?`
	digestExpSQL   = keyExpiringCond + ` ORDER BY k.expires_at, k.id LIMIT ?`
	digestCountSQL = `SELECT COUNT(*), COALESCE(SUM(CASE WHEN ` + keyNeverUsedCond + ` THEN 1 ELSE 0 END), 0),
	(SELECT COUNT(*) FROM api_keys k WHERE ` + keyExpiringCond + `)
	FROM api_keys k WHERE ` + keyStaleCond
)

// EnqueueWeeklyDigest enqueues this week's digest if it is due and not yet
// sent, and reports whether it decided it now. A week with nothing to
// report marks the week done and sends nothing. The hourly jobs run it.
func (s *Store) EnqueueWeeklyDigest(ctx context.Context) (bool, error) {
	now := s.Now()
	if !digestDue(now) {
		return false, nil
	}
	notice := "digest:" + DigestWeek(now)
	var seen int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM notices_sent WHERE notice = ?`, notice).Scan(&seen); err != nil {
		return false, fmt.Errorf("db: weekly digest: %w", err)
	}
	if seen > 0 {
		return false, nil
	}
	data, total, err := s.digestData(ctx, now)
	if err != nil {
		return false, err
	}
	var ev *OutboxEvent
	if total > 0 {
		ev = &OutboxEvent{Type: EventDigest, Data: data}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("db: weekly digest: %w", err)
	}
	defer tx.Rollback()
	sent, err := enqueueOnceTx(ctx, tx, now, notice, ev)
	if err != nil || !sent {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("db: weekly digest: %w", err)
	}
	return true, nil
}

// digestData builds the digest's payload at now: {"week", "stale",
// "never_used", "expiring", "counts"}, and the sum of its counts.
func (s *Store) digestData(ctx context.Context, now time.Time) (map[string]any, int, error) {
	unused, never, err := s.StaleThresholds(ctx)
	if err != nil {
		return nil, 0, err
	}
	ms := toMillis(now)
	staleArgs := []any{ms, ms - unused.Milliseconds(), ms - never.Milliseconds()}
	expArgs := []any{ms, ms + ExpiringWindow.Milliseconds()}
	var staleN, neverN, expN int
	args := append(append([]any{}, expArgs...), staleArgs...)
	if err := s.r.QueryRowContext(ctx, digestCountSQL, args...).Scan(&staleN, &neverN, &expN); err != nil {
		return nil, 0, fmt.Errorf("db: weekly digest: %w", err)
	}
	stale, err := s.digestList(ctx, "k.last_used_at", "last_used_at", digestStaleSQL, staleArgs)
	if err != nil {
		return nil, 0, err
	}
	neverUsed, err := s.digestList(ctx, "k.created_at", "created_at", digestNeverSQL, staleArgs)
	if err != nil {
		return nil, 0, err
	}
	expiring, err := s.digestList(ctx, "k.expires_at", "expires_at", digestExpSQL, expArgs)
	if err != nil {
		return nil, 0, err
	}
	data := map[string]any{
		"week":       DigestWeek(now),
		"stale":      stale,
		"never_used": neverUsed,
		"expiring":   expiring,
		"counts":     map[string]int{"stale": staleN - neverN, "never_used": neverN, "expiring": expN},
	}
	return data, staleN + expN, nil
}

// digestList reads one list of the digest: {id, name, owner, <field>}
// for the keys matching where, at most DigestListMax.
func (s *Store) digestList(ctx context.Context, col, field, where string, args []any) ([]map[string]any, error) {
	q := fmt.Sprintf(digestKeyCols, col) + where // #nosec G201 -- col is one of this file's column names
	rows, err := s.r.QueryContext(ctx, q, append(append([]any{}, args...), DigestListMax)...)
	if err != nil {
		return nil, fmt.Errorf("db: weekly digest %s: %w", field, err)
	}
	defer rows.Close()
	out := []map[string]any{}
	for rows.Next() {
		var (
			id, at      int64
			name, email string
			team        sql.NullInt64
			teamName    string
		)
		if err := rows.Scan(&id, &name, &email, &team, &teamName, &at); err != nil {
			return nil, fmt.Errorf("db: weekly digest %s: %w", field, err)
		}
		owner := email
		if team.Valid {
			owner = teamOwner(teamName)
		}
		out = append(out, map[string]any{"id": id, "name": name, "owner": owner, field: fromMillis(at).UTC()})
	}
	return out, rows.Err()
}
