package db

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Overview is the admin dashboard's headline numbers.
type Overview struct {
	Users int
	// ActiveKeys: keys that would verify now (expiring ones included).
	ActiveKeys int
	// StaleKeys: as KeyFilter{Stale: true} counts them.
	StaleKeys int
	// NeverUsedKeys: active keys that have never been verified.
	NeverUsedKeys int
	// ExpiringSoon: active keys expiring within ExpiringWindow.
	ExpiringSoon int
	// Verifications24h: successful verifications in the last 24 hours,
	// the current one included (as flushed; at most a second behind).
	Verifications24h int64
}

// overviewSQL counts everything in one pass over api_keys: CASE sums cost
// one scan instead of one per number. The conditions are the ones
// KeyFilter uses, so each card agrees with the list it links to.
const overviewSQL = `SELECT
	(SELECT COUNT(*) FROM users),
	COALESCE(SUM(CASE WHEN ` + keyActiveCond + ` THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN ` + keyStaleCond + ` THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN ` + keyActiveCond + ` AND ` + keyNeverUsedCond + ` THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN ` + keyExpiringCond + ` THEN 1 ELSE 0 END), 0),
	(SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM usage_hourly WHERE hour > ? AND hour <= ?)
	FROM api_keys k`

// Overview computes the admin dashboard's numbers.
func (s *Store) Overview(ctx context.Context) (Overview, error) {
	p, err := s.Policy(ctx)
	if err != nil {
		return Overview{}, err
	}
	now := s.Now()
	ms := toMillis(now)
	hour := ms / msPerHour
	var o Overview
	err = s.r.QueryRowContext(ctx, overviewSQL,
		ms,
		ms, ms-p.StaleAfter.Milliseconds(), ms-p.NeverUsedAfter.Milliseconds(),
		ms,
		ms, ms+ExpiringWindow.Milliseconds(),
		hour-24, hour,
	).Scan(&o.Users, &o.ActiveKeys, &o.StaleKeys, &o.NeverUsedKeys, &o.ExpiringSoon, &o.Verifications24h)
	if err != nil {
		return Overview{}, fmt.Errorf("db: overview: %w", err)
	}
	return o, nil
}

// StaleCounts is the stale review's header: how many keys are stale (as
// KeyFilter{Stale: true} counts them) and how many of those were never used.
type StaleCounts struct {
	Stale     int
	NeverUsed int
}

// staleCountsSQL counts both numbers in one pass over the stale keys: the
// review at 100,000 keys spent most of its time counting them twice.
const staleCountsSQL = `SELECT COUNT(*), COALESCE(SUM(CASE WHEN ` + keyNeverUsedCond + ` THEN 1 ELSE 0 END), 0)
	FROM api_keys k WHERE ` + keyStaleCond

// CountStale counts the stale keys of every user and those never used.
func (s *Store) CountStale(ctx context.Context) (StaleCounts, error) {
	unused, never, err := s.StaleThresholds(ctx)
	if err != nil {
		return StaleCounts{}, err
	}
	ms := toMillis(s.Now())
	var c StaleCounts
	err = s.r.QueryRowContext(ctx, staleCountsSQL, ms, ms-unused.Milliseconds(), ms-never.Milliseconds()).
		Scan(&c.Stale, &c.NeverUsed)
	if err != nil {
		return StaleCounts{}, fmt.Errorf("db: count stale keys: %w", err)
	}
	return c, nil
}

// UserKeyCounts are the numbers the keys page shows beside its list: all of
// the user's keys, those expiring within ExpiringWindow, and the stale ones.
type UserKeyCounts struct {
	All      int
	Expiring int
	Stale    int
}

// The keys page's three numbers. Each is a count the covering indexes
// answer on their own, and the three run at once on separate reader
// connections: at 10,000 keys a single pass with three CASE sums took
// 2.2 ms, while the slowest of the three (stale) takes 1.3 ms, and the
// page waits for the slowest only. The person's keys are the ones they see
// (their own and their teams', listAccessWhere).
const userKeysCountSQL = `SELECT COUNT(*) FROM api_keys k WHERE `

// CountUserKeys counts the keys user userID sees for the keys page, with
// the conditions KeyFilter uses, so each notice agrees with the list it
// links to.
func (s *Store) CountUserKeys(ctx context.Context, userID int64) (UserKeyCounts, error) {
	unused, never, err := s.StaleThresholds(ctx)
	if err != nil {
		return UserKeyCounts{}, err
	}
	scope, sargs, err := s.listAccessWhere(ctx, VisibleTo(userID))
	if err != nil {
		return UserKeyCounts{}, err
	}
	with := func(more ...any) []any { return append(append([]any{}, sargs...), more...) }
	ms := toMillis(s.Now())
	var c UserKeyCounts
	counts := []struct {
		sql  string
		args []any
		dst  *int
		err  error
	}{
		{sql: userKeysCountSQL + scope, args: with(), dst: &c.All},
		{sql: userKeysCountSQL + scope + ` AND ` + keyExpiringCond, args: with(ms, ms+ExpiringWindow.Milliseconds()), dst: &c.Expiring},
		{sql: userKeysCountSQL + scope + ` AND ` + keyStaleCond, args: with(ms, ms-unused.Milliseconds(), ms-never.Milliseconds()), dst: &c.Stale},
	}
	var wg sync.WaitGroup
	for i := range counts {
		q := &counts[i]
		wg.Go(func() { q.err = s.r.QueryRowContext(ctx, q.sql, q.args...).Scan(q.dst) })
	}
	wg.Wait()
	for _, q := range counts {
		if q.err != nil {
			return UserKeyCounts{}, fmt.Errorf("db: count user keys: %w", q.err)
		}
	}
	return c, nil
}

// HourCount is the number of successful verifications of all keys in one
// UTC hour.
type HourCount struct {
	Hour  time.Time // start of the hour, UTC
	Count int64
}

// MaxUsageHours bounds HourlyUsage (31 days).
const MaxUsageHours = 31 * 24

const hourlyUsageSQL = `SELECT hour, count FROM usage_hourly WHERE hour >= ? AND hour <= ?`

// HourlyUsage returns the verifications per hour over the last hours hours
// (default 24, at most MaxUsageHours), oldest first, with zeros for quiet
// hours; the last entry is the current hour.
func (s *Store) HourlyUsage(ctx context.Context, hours int) ([]HourCount, error) {
	if hours <= 0 {
		hours = 24
	}
	hours = min(hours, MaxUsageHours)
	current := toMillis(s.Now()) / msPerHour
	first := current - int64(hours) + 1
	out := make([]HourCount, hours)
	for i := range out {
		out[i].Hour = fromMillis((first + int64(i)) * msPerHour)
	}
	rows, err := s.r.QueryContext(ctx, hourlyUsageSQL, first, current)
	if err != nil {
		return nil, fmt.Errorf("db: hourly usage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h, n int64
		if err := rows.Scan(&h, &n); err != nil {
			return nil, fmt.Errorf("db: scan hourly usage: %w", err)
		}
		out[h-first].Count = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: hourly usage: %w", err)
	}
	return out, nil
}

// autoDisableSQL disables, in one statement, the keys that still work but
// have not been used for the policy's period (or, never used, were created
// before it), and returns them for the audit log.
const autoDisableSQL = `UPDATE api_keys SET disabled_at = ?, disabled_by = NULL, disabled_reason = ?
	WHERE revoked_at IS NULL AND disabled_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
	AND ((last_used_at IS NOT NULL AND last_used_at < ?) OR (last_used_at IS NULL AND created_at < ?))
	RETURNING id, name`

// AutoDisableStale disables every usable key unused for
// Policy.AutoDisableAfter and returns how many; it does nothing when the
// policy is off. The server runs it hourly. Disabling (not revoking) keeps
// the decision reversible: an owner whose key was quiet on purpose asks an
// admin to enable it again (only a disable the owner made is the owner's
// to lift). Each key records the reason and is audited as disabled by
// "system", so the owner can see who and why.
func (s *Store) AutoDisableStale(ctx context.Context) (int, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("db: auto-disable: %w", err)
	}
	defer tx.Rollback()
	p, err := readPolicy(ctx, tx)
	if err != nil || p.AutoDisableAfter <= 0 {
		return 0, err
	}
	now := s.Now()
	ms := toMillis(now)
	cutoff := ms - p.AutoDisableAfter.Milliseconds()
	reason := fmt.Sprintf("unused for %d days (auto-disable)", lifetimeDays(p.AutoDisableAfter))
	rows, err := tx.QueryContext(ctx, autoDisableSQL, ms, reason, ms, cutoff, cutoff)
	if err != nil {
		return 0, fmt.Errorf("db: auto-disable: %w", err)
	}
	type disabled struct {
		id   int64
		name string
	}
	var keys []disabled
	for rows.Next() {
		var k disabled
		if err := rows.Scan(&k.id, &k.name); err != nil {
			_ = rows.Close() // the scan error is the one to report
			return 0, fmt.Errorf("db: auto-disable: %w", err)
		}
		keys = append(keys, k)
	}
	err = rows.Err()
	_ = rows.Close() // Err already holds any failure of the iteration
	if err != nil {
		return 0, fmt.Errorf("db: auto-disable: %w", err)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	audit, err := tx.PrepareContext(ctx, insertAuditSQL)
	if err != nil {
		return 0, fmt.Errorf("db: auto-disable: %w", err)
	}
	defer audit.Close()
	batchEvents(tx)
	for _, k := range keys {
		e := SystemActor().event(ActionKeyDisable, "key", k.id, k.name)
		// The cause tells this disable from an admin's: its owner may
		// choose not to be told (NotifyUnused).
		e.Detail = map[string]string{"reason": reason, "cause": causeUnused}
		if err := execAudit(ctx, tx, audit, now, e); err != nil {
			return 0, err
		}
	}
	if err := flushEvents(ctx, tx); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("db: auto-disable: %w", err)
	}
	s.keyChanged()
	return len(keys), nil
}
