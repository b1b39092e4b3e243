package db

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Defaults for the stale-key thresholds, overridable by the settings
// "stale_days" and "never_used_days" (see Policy).
const (
	DefaultStaleDays     = 90
	DefaultNeverUsedDays = 30
)

// Paging bounds for ListKeys.
const (
	DefaultKeyLimit = 25
	MaxKeyLimit     = 500
)

// KeyFilter narrows ListKeys and CountKeys. Zero fields do not filter.
type KeyFilter struct {
	// Status is one of the KeyStatus values or "" for any; KeyActive
	// includes expiring keys (they still work).
	Status KeyStatus
	// Stale: keys neither revoked nor expired (disabled ones included)
	// unused for the stale threshold, or never used and older than the
	// never-used threshold: the candidates for revocation (see Key.Stale).
	Stale bool
	// NeverUsed: keys that have never been verified.
	NeverUsed bool
	// ExpiringWithin: usable keys that expire within this duration.
	ExpiringWithin time.Duration
	// Search matches names containing this text, case-insensitively for
	// ASCII; % and _ are taken literally.
	Search string
	// OwnerEmail: keys of the user with this email (any case).
	OwnerEmail string
	// Scope: keys that carry this scope.
	Scope string
	// Owner: OwnerUser for personal keys only, OwnerTeam for team keys
	// only; "" for both.
	Owner string
	// TeamID: the keys of this team.
	TeamID int64
	// RefusedWithin: keys with a refused verification in this last
	// stretch of time (api_keys.last_refused_at, indexed); 0: no filter.
	RefusedWithin time.Duration
	// Sort orders ListKeys, KeyIDs and EachKey; "" is KeySortCreated.
	Sort   KeySort
	Limit  int // default DefaultKeyLimit, at most MaxKeyLimit
	Offset int
	// After starts the list strictly after this position (keyset
	// pagination, see KeyCursor); its Sort must be the filter's.
	After *KeyCursor
}

// KeySort is an order of key lists. Every order ends with the id, newest
// first, so that pages never overlap or skip a key.
type KeySort string

// Key orders. Keys without the date sorted on come last.
const (
	KeySortCreated  KeySort = "created"   // newest first
	KeySortLastUsed KeySort = "last_used" // most recently used first
	KeySortExpires  KeySort = "expires"   // soonest expiry first
)

// keyOrderSQL holds each order's ORDER BY. SQLite sorts NULL before every
// value, so a leading CASE on IS NULL puts the keys without the date last
// whichever way the date itself is sorted.
var keyOrderSQL = map[KeySort]string{
	"":              ` ORDER BY k.id DESC`,
	KeySortCreated:  ` ORDER BY k.id DESC`,
	KeySortLastUsed: ` ORDER BY CASE WHEN k.last_used_at IS NULL THEN 1 ELSE 0 END, k.last_used_at DESC, k.id DESC`,
	KeySortExpires:  ` ORDER BY CASE WHEN k.expires_at IS NULL THEN 1 ELSE 0 END, k.expires_at ASC, k.id DESC`,
}

// keyOrder returns the ORDER BY clause for sort.
func keyOrder(sort KeySort) (string, error) {
	o, ok := keyOrderSQL[sort]
	if !ok {
		return "", Errorf(ErrInvalid, "Unknown sort order %q.", string(sort))
	}
	return o, nil
}

// Fragments of the WHERE clause ListKeys and CountKeys assemble. Each status
// fragment mirrors Key.Status, so a filter and the badge beside a key agree.
const (
	// disabledOwnersSQL is the set of disabled users, whose keys are
	// disabled too (Key.Status). It does not depend on the key, so the
	// database computes it once per query rather than once per key, and the
	// key's side stays on user_id, which the covering indexes carry.
	disabledOwnersSQL = `(SELECT id FROM users WHERE disabled_at IS NOT NULL)`
	// A team's key does not depend on the person who made it (team_id).
	keyUsableCond   = `k.revoked_at IS NULL AND k.disabled_at IS NULL AND (k.team_id IS NOT NULL OR k.user_id NOT IN ` + disabledOwnersSQL + `)`
	keyActiveCond   = keyUsableCond + ` AND k.pending_key = 0 AND (k.expires_at IS NULL OR k.expires_at > ?)`
	keyExpiringCond = keyUsableCond + ` AND k.pending_key = 0 AND k.expires_at > ? AND k.expires_at <= ?`
	keyPendingCond  = keyUsableCond + ` AND k.pending_key = 1 AND (k.expires_at IS NULL OR k.expires_at > ?)`
	keyExpiredCond  = keyUsableCond + ` AND k.expires_at <= ?`
	keyDisabledCond = `k.revoked_at IS NULL AND (k.disabled_at IS NOT NULL OR (k.team_id IS NULL AND k.user_id IN ` + disabledOwnersSQL + `))`
	keyRevokedCond  = `k.revoked_at IS NOT NULL`
	// keyStaleCond mirrors Key.Stale: neither revoked nor expired, disabled
	// or not, and unused for too long.
	keyStaleCond     = `k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?) AND ((k.last_used_at IS NOT NULL AND k.last_used_at < ?) OR (k.last_used_at IS NULL AND k.created_at < ?))`
	keyNeverUsedCond = `k.last_used_at IS NULL`
	// A key refused since a time: a range on api_keys_last_refused_at.
	keyRefusedSinceCond = `k.last_refused_at >= ?`
	// The owner is found through the unique email index, then the user's
	// keys through api_keys_user_id; a subquery works in CountKeys too,
	// which does not join users.
	keyOwnerEmailCond = `k.user_id = (SELECT id FROM users WHERE email = ?)`
)

// keySearchCond matches a key's name against a LIKE pattern, ignoring case.
func (s *Store) keySearchCond() string {
	return `k.name ` + s.d.likeFold + ` ? ESCAPE '\'`
}

// keyHasScopeCond matches keys carrying one scope. Scopes are stored
// space-separated; padding both sides with spaces matches whole scopes only
// ("read" does not match "read:all").
func (s *Store) keyHasScopeCond() string {
	return s.d.strpos + `(' ' || k.scopes || ' ', ' ' || ? || ' ') > 0`
}

// keyWhere builds the WHERE clause and its arguments for access and f.
func (s *Store) keyWhere(ctx context.Context, access KeyAccess, f KeyFilter) (string, []any, error) {
	now := toMillis(s.Now())
	var conds []string
	var args []any
	add := func(cond string, a ...any) {
		conds = append(conds, cond)
		args = append(args, a...)
	}
	w, a, err := s.listAccessWhere(ctx, access)
	if err != nil {
		return "", nil, err
	}
	if w != "" {
		add(w, a...)
	}
	switch f.Status {
	case "":
	case KeyActive:
		add(keyActiveCond, now)
	case KeyExpiring:
		add(keyExpiringCond, now, now+ExpiringWindow.Milliseconds())
	case KeyExpired:
		add(keyExpiredCond, now)
	case KeyPending:
		add(keyPendingCond, now)
	case KeyDisabled:
		add(keyDisabledCond)
	case KeyRevoked:
		add(keyRevokedCond)
	default:
		return "", nil, Errorf(ErrInvalid, "Unknown key status %q.", string(f.Status))
	}
	if f.Stale {
		unused, neverUsed, err := s.StaleThresholds(ctx)
		if err != nil {
			return "", nil, err
		}
		add(keyStaleCond, now, now-unused.Milliseconds(), now-neverUsed.Milliseconds())
	}
	if f.NeverUsed {
		add(keyNeverUsedCond)
	}
	if f.RefusedWithin > 0 {
		add(keyRefusedSinceCond, now-f.RefusedWithin.Milliseconds())
	}
	if f.ExpiringWithin > 0 {
		add(keyExpiringCond, now, now+f.ExpiringWithin.Milliseconds())
	}
	if q := strings.TrimSpace(f.Search); q != "" {
		add(s.keySearchCond(), "%"+escapeLike(q)+"%")
	}
	if email := NormalizeEmail(f.OwnerEmail); email != "" {
		add(keyOwnerEmailCond, email)
	}
	switch f.Owner {
	case "":
	case OwnerUser:
		add(`k.team_id IS NULL`)
	case OwnerTeam:
		add(`k.team_id IS NOT NULL`)
	default:
		return "", nil, Errorf(ErrInvalid, "Unknown owner type %q.", f.Owner)
	}
	if f.TeamID != 0 {
		add(`k.team_id = ?`, f.TeamID)
	}
	if sc := strings.TrimSpace(f.Scope); sc != "" {
		add(s.keyHasScopeCond(), sc)
	}
	if f.After != nil {
		if normalSort(f.After.Sort) != normalSort(f.Sort) {
			return "", nil, ErrInvalidCursor
		}
		cond, a := f.After.afterCond()
		add(cond, a...)
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// escapeLike makes s match literally inside a LIKE pattern with ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ListKeys returns the keys within access matching f, in f.Sort order (newest
// first by default), with their owner's email.
func (s *Store) ListKeys(ctx context.Context, access KeyAccess, f KeyFilter) ([]Key, error) {
	where, args, err := s.keyWhere(ctx, access, f)
	if err != nil {
		return nil, err
	}
	order, err := keyOrder(f.Sort)
	if err != nil {
		return nil, err
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultKeyLimit
	case limit > MaxKeyLimit:
		limit = MaxKeyLimit
	}
	args = append(args, limit, max(f.Offset, 0))
	return queryKeys(ctx, s.r, "list keys", selectKeySQL+where+order+` LIMIT ? OFFSET ?`, args...)
}

const (
	countKeysSQL = `SELECT COUNT(*) FROM api_keys k`
	keyIDsSQL    = `SELECT k.id FROM api_keys k`
)

// CountKeys counts the keys in access matching f (Limit and Offset ignored).
func (s *Store) CountKeys(ctx context.Context, access KeyAccess, f KeyFilter) (int, error) {
	where, args, err := s.keyWhere(ctx, access, f)
	if err != nil {
		return 0, err
	}
	var n int
	if err := s.r.QueryRowContext(ctx, countKeysSQL+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count keys: %w", err)
	}
	return n, nil
}

// StaleThresholds reads the stale-key rules of the Policy: how long without
// use makes a used key stale ("stale_days", default 90) and how old a
// never-used key must be to count as stale ("never_used_days", default 30).
// A missing or unusable value means the default.
func (s *Store) StaleThresholds(ctx context.Context) (unused, neverUsed time.Duration, err error) {
	p, err := s.Policy(ctx)
	if err != nil {
		return 0, 0, err
	}
	return p.StaleAfter, p.NeverUsedAfter, nil
}

// KeyIDs returns the ids of the keys within access matching f, ordered like
// ListKeys, at most limit of them (MaxBulkKeys when limit <= 0); f.Limit and
// f.Offset are ignored. It backs "select all matching" for bulk actions.
func (s *Store) KeyIDs(ctx context.Context, access KeyAccess, f KeyFilter, limit int) ([]int64, error) {
	where, args, err := s.keyWhere(ctx, access, f)
	if err != nil {
		return nil, err
	}
	order, err := keyOrder(f.Sort)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = MaxBulkKeys
	}
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, keyIDsSQL+where+order+` LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("db: key ids: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("db: scan key id: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: key ids: %w", err)
	}
	return ids, nil
}

// EachKey calls fn with every key in access matching f, ordered like
// ListKeys, without f.Limit or f.Offset, and stops at fn's first error,
// which it returns. Rows stream from one query, so exporting 100,000 keys
// never holds them all in memory; fn should not be slow, since the query
// keeps a read connection until it ends.
func (s *Store) EachKey(ctx context.Context, access KeyAccess, f KeyFilter, fn func(Key) error) error {
	where, args, err := s.keyWhere(ctx, access, f)
	if err != nil {
		return err
	}
	order, err := keyOrder(f.Sort)
	if err != nil {
		return err
	}
	rows, err := s.r.QueryContext(ctx, selectKeySQL+where+order, args...)
	if err != nil {
		return fmt.Errorf("db: each key: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return fmt.Errorf("db: scan key: %w", err)
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("db: each key: %w", err)
	}
	return nil
}

// DayCount is the number of successful verifications on one UTC day.
type DayCount struct {
	Day   time.Time // midnight UTC
	Count int64
}

// MaxUsageDays bounds KeyUsage.
const MaxUsageDays = 366

const msPerDay = 24 * 60 * 60 * 1000

// dayNumber is the UTC day of t, counted from the Unix epoch.
func dayNumber(t time.Time) int64 { return t.UnixMilli() / msPerDay }

const keyUsageSQL = `SELECT day, count FROM key_usage_daily WHERE key_id = ? AND day >= ? AND day <= ?`

// KeyUsage returns the daily counts of key id over the last days days
// (default 30, at most MaxUsageDays), oldest first, with zeros for days
// without use; the last entry is today (UTC). Usage still in memory is not
// included until the next flush, at most a second later.
func (s *Store) KeyUsage(ctx context.Context, access KeyAccess, id int64, days int) ([]DayCount, error) {
	days, first, today := s.usageWindow(days)
	if err := s.checkKeyVisible(ctx, access, id); err != nil {
		return nil, err
	}
	out := make([]DayCount, days)
	for i := range out {
		out[i].Day = fromMillis((first + int64(i)) * msPerDay)
	}
	rows, err := s.r.QueryContext(ctx, keyUsageSQL, id, first, today)
	if err != nil {
		return nil, fmt.Errorf("db: key usage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var day, n int64
		if err := rows.Scan(&day, &n); err != nil {
			return nil, fmt.Errorf("db: scan key usage: %w", err)
		}
		out[day-first].Count = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: key usage: %w", err)
	}
	return out, nil
}

// KeyEvents returns the audit events about key id, newest first, if access
// can see the key.
func (s *Store) KeyEvents(ctx context.Context, access KeyAccess, id int64, limit int) ([]AuditEvent, error) {
	if err := s.checkKeyVisible(ctx, access, id); err != nil {
		return nil, err
	}
	return s.ListAudit(ctx, AuditFilter{TargetType: "key", TargetID: id, Limit: limit})
}

// usageWindow clamps days to a chart's window (default 30, at most
// MaxUsageDays) and returns it with its first and last day numbers, the
// last being today (UTC): KeyUsage and KeyRefusals share it so their days
// stack into one chart.
func (s *Store) usageWindow(days int) (n int, first, today int64) {
	if days <= 0 {
		days = 30
	}
	n = min(days, MaxUsageDays)
	today = dayNumber(s.Now())
	return n, today - int64(n) + 1, today
}
