package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Expiry reminders: a key's owner (a team key: its members) hears that it
// expires in 7 days, again the day before, and that it has expired, each
// once. Each notice is named by the key, the stage and the expiry it is
// about ("expiry:12:7d:1767225600000"), so a changed expiry re-arms the
// reminders and nothing else repeats them: not a restart, not a second
// instance (Store.EnqueueOnce's marker).
//
// Only the stage a key is in now is sent. A server that was down while a
// key passed from 7 days to 1 day left sends the 1-day reminder, not both;
// one that missed a key's 1-day reminder and its expiry sends "expired"
// only. A stage is skipped for a key that was already inside it when it
// was made: a key created with 3 days to live gets the 1-day reminder and
// the expiry notice, not a "7 days" one its creator has no use for.
const (
	ReminderWeek    = "7d"
	ReminderDay     = "1d"
	ReminderExpired = "expired"

	// expiredNoticeWindow is how long after its expiry a key's "expired"
	// notice may still go out: long enough to outlast an outage, short
	// enough that upgrading a server with years of expired keys sends no
	// flood of old news.
	expiredNoticeWindow = 7 * 24 * time.Hour
	// reminderBatch is how many notices one transaction enqueues.
	reminderBatch = 500
)

// expiryNotice names the once-marker of one reminder.
func expiryNotice(keyID int64, stage string, expiresAt time.Time) string {
	return fmt.Sprintf("expiry:%d:%s:%d", keyID, stage, toMillis(expiresAt))
}

// dueRemindersSQL finds the keys owed a reminder now, in one pass over a
// range of api_keys_by_expiry (whose leading column is the CASE term):
// keys that work (keyUsableCond; not waiting for approval), that were not
// rolled (their successor is what matters; the old one running out is the
// plan), whose stage is one they were not born into, and whose notice is
// not yet in notices_sent, built in SQL exactly as expiryNotice does.
// Arguments: now, now+1d (the stage), now-window, now+7d (the range).
const dueRemindersSQL = `SELECT d.id, d.name, d.hint, d.user_id, d.team_id, COALESCE(u.email, ''), COALESCE(t.name, ''),
	d.expires_at, d.stage
	FROM (SELECT k.id, k.name, k.hint, k.user_id, k.team_id, k.expires_at, k.created_at,
		CASE WHEN k.expires_at <= ? THEN 'expired' WHEN k.expires_at <= ? THEN '1d' ELSE '7d' END AS stage
		FROM api_keys k
		WHERE (CASE WHEN k.expires_at IS NULL THEN 1 ELSE 0 END) = 0 AND k.expires_at > ? AND k.expires_at <= ?
		AND ` + keyUsableCond + ` AND k.pending_key = 0
		AND NOT EXISTS (SELECT 1 FROM api_keys n WHERE n.rolled_from = k.id)) d
	LEFT JOIN users u ON u.id = d.user_id LEFT JOIN teams t ON t.id = d.team_id
	WHERE (d.stage = 'expired'
		OR (d.stage = '1d' AND d.created_at < d.expires_at - ` + msDay + `)
		OR (d.stage = '7d' AND d.created_at < d.expires_at - 7 * ` + msDay + `))
	AND NOT EXISTS (SELECT 1 FROM notices_sent s WHERE s.notice =
		'expiry:' || CAST(d.id AS TEXT) || ':' || d.stage || ':' || CAST(d.expires_at AS TEXT))
	ORDER BY d.expires_at, d.id LIMIT ?`

// msDay is msPerDay as SQL text.
const msDay = "86400000"

// EnqueueExpiryReminders enqueues every expiry reminder due now (see
// above) and returns how many. The hourly jobs run it.
func (s *Store) EnqueueExpiryReminders(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.enqueueReminderBatch(ctx)
		total += n
		if err != nil || n < reminderBatch {
			return total, err
		}
	}
}

// enqueueReminderBatch enqueues up to reminderBatch due reminders in one
// transaction: markers and events commit together.
func (s *Store) enqueueReminderBatch(ctx context.Context) (int, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("db: expiry reminders: %w", err)
	}
	defer tx.Rollback()
	now := s.Now()
	ms := toMillis(now)
	type due struct {
		k         eventKey
		id        int64
		expiresAt int64
		stage     string
	}
	var keys []due
	rows, err := tx.QueryContext(ctx, dueRemindersSQL, ms, ms+msPerDay,
		ms-expiredNoticeWindow.Milliseconds(), ms+ExpiringWindow.Milliseconds(), reminderBatch)
	if err != nil {
		return 0, fmt.Errorf("db: expiry reminders: %w", err)
	}
	for rows.Next() {
		var (
			d          due
			user, team sql.NullInt64
		)
		if err := rows.Scan(&d.id, &d.k.name, &d.k.hint, &user, &team, &d.k.email, &d.k.team, &d.expiresAt, &d.stage); err != nil {
			_ = rows.Close() // the scan error is the one to report
			return 0, fmt.Errorf("db: expiry reminders: %w", err)
		}
		d.k.userID, d.k.teamID = user.Int64, team.Int64
		keys = append(keys, d)
	}
	err = rows.Err()
	_ = rows.Close() // Err holds any failure of the iteration
	if err != nil {
		return 0, fmt.Errorf("db: expiry reminders: %w", err)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	batchEvents(tx)
	n := 0
	for _, d := range keys {
		expires := fromMillis(d.expiresAt)
		ev := expiryEvent(d.id, d.k, d.stage, expires, now)
		sent, err := enqueueOnceTx(ctx, tx, now, expiryNotice(d.id, d.stage, expires), ev)
		if err != nil {
			return 0, err
		}
		if sent {
			n++
		}
	}
	if err := flushEvents(ctx, tx); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("db: expiry reminders: %w", err)
	}
	return n, nil
}

// expiryEvent is the key.expiring or key.expired event of a reminder:
// {key: {id, name, hint, owner, owner_type}, expires_at, days}, where days
// is the whole days left, rounded up (0 once expired).
func expiryEvent(id int64, k eventKey, stage string, expires, now time.Time) *OutboxEvent {
	key := map[string]any{"id": id, "name": k.name, "hint": k.hint, "owner": k.email, "owner_type": OwnerUser}
	ev := &OutboxEvent{Type: EventKeyExpiring, KeyID: id, UserID: k.userID}
	if k.teamID != 0 {
		key["owner"], key["owner_type"] = teamOwner(k.team), OwnerTeam
		ev.TeamID, ev.UserID = k.teamID, 0
	}
	days := 0
	if stage == ReminderExpired {
		ev.Type = EventKeyExpired
	} else {
		left := expires.Sub(now)
		days = int((left + oneDay - 1) / oneDay)
	}
	ev.Data = map[string]any{"key": key, "expires_at": expires.UTC(), "days": days}
	return ev
}
