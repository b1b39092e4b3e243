package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"
)

// Usage is batched: a verification only updates a map under a mutex (no
// database, no channel that could block), and Flush writes everything seen
// since the last flush in one transaction. SQLite has one writer; a write
// per request would make "last used" the bottleneck of every API call.

const (
	msPerHour = 60 * 60 * 1000
	// maxIPsPerFlush bounds the distinct addresses remembered per key
	// between two flushes; an address beyond it is caught by a later flush.
	maxIPsPerFlush = 16
	// maxUsageIP and maxUsageUserAgent bound what a caller can make Keyward
	// store (bytes).
	maxUsageIP        = 64
	maxUsageUserAgent = 256
)

// usageRecorder collects successful verifications between flushes.
type usageRecorder struct {
	mu    sync.Mutex
	batch usageBatch
}

type usageBatch struct {
	keys  map[int64]*keyUse
	hours map[int64]int64 // hours since the epoch -> verifications of any key
}

// keyUse is one key's use since the last flush.
type keyUse struct {
	last   int64 // unix ms of the latest use; ip and ua belong to it
	ip, ua string
	days   []dayUse // almost always one day
	ips    []ipUse  // distinct addresses, first use of each
}

type dayUse struct{ day, count int64 }

type ipUse struct {
	ip, ua string
	at     int64
}

func newUsageBatch() usageBatch {
	return usageBatch{keys: map[int64]*keyUse{}, hours: map[int64]int64{}}
}

func (r *usageRecorder) reset() { r.batch = newUsageBatch() }

// record notes one successful verification of keyID. O(1), no allocation
// for a key already seen since the last flush.
func (r *usageRecorder) record(keyID int64, now time.Time, ip, ua string) {
	ms := now.UnixMilli()
	ip, ua = truncateUTF8(ip, maxUsageIP), truncateUTF8(ua, maxUsageUserAgent)
	r.mu.Lock()
	u := r.batch.keys[keyID]
	if u == nil {
		u = &keyUse{}
		r.batch.keys[keyID] = u
	}
	u.add(ms, ms/msPerDay, 1, ip, ua)
	r.batch.hours[ms/msPerHour]++
	r.mu.Unlock()
}

// add counts n uses on day, the latest at ms from ip with ua.
func (u *keyUse) add(ms, day, n int64, ip, ua string) {
	if ms >= u.last {
		u.last, u.ip, u.ua = ms, ip, ua
	}
	u.addDay(day, n)
	u.addIP(ipUse{ip: ip, ua: ua, at: ms})
}

func (u *keyUse) addDay(day, n int64) {
	for i := range u.days {
		if u.days[i].day == day {
			u.days[i].count += n
			return
		}
	}
	u.days = append(u.days, dayUse{day: day, count: n})
}

// addIP remembers the first use from an address, up to maxIPsPerFlush.
func (u *keyUse) addIP(x ipUse) {
	if x.ip == "" {
		return
	}
	for i := range u.ips {
		if u.ips[i].ip == x.ip {
			if x.at < u.ips[i].at {
				u.ips[i] = x
			}
			return
		}
	}
	if len(u.ips) < maxIPsPerFlush {
		u.ips = append(u.ips, x)
	}
}

// merge folds other into u (a batch whose flush failed).
func (u *keyUse) merge(o *keyUse) {
	if o.last >= u.last {
		u.last, u.ip, u.ua = o.last, o.ip, o.ua
	}
	for _, d := range o.days {
		u.addDay(d.day, d.count)
	}
	for _, x := range o.ips {
		u.addIP(x)
	}
}

// take hands over everything recorded so far and starts a new batch.
func (r *usageRecorder) take() usageBatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.batch
	r.batch = newUsageBatch()
	return b
}

// putBack merges a batch that could not be written into the pending one,
// so a failed flush loses nothing.
func (r *usageRecorder) putBack(b usageBatch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, o := range b.keys {
		if u := r.batch.keys[id]; u != nil {
			u.merge(o)
		} else {
			r.batch.keys[id] = o
		}
	}
	for h, n := range b.hours {
		r.batch.hours[h] += n
	}
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Flush writes the usage recorded since the last flush in one transaction.
// On failure the batch goes back to the pending one and is retried by the
// next flush.
func (v *Verifier) Flush(ctx context.Context) error {
	v.flushMu.Lock()
	defer v.flushMu.Unlock()
	b := v.usage.take()
	if len(b.keys) == 0 && len(b.hours) == 0 {
		return nil
	}
	if err := v.writeUsage(ctx, b); err != nil {
		v.usage.putBack(b)
		v.opt.Logger.Error("usage flush failed; will retry", "err", err, "keys", len(b.keys))
		return err
	}
	return nil
}

const (
	// touchKeySQL moves last_used_at forward only, and takes the address
	// and user agent only from a use at least as recent as the stored one:
	// batches from a retried flush or from another instance may arrive out
	// of order. RETURNING tells a deleted key (no row) from a live one.
	touchKeySQL = `UPDATE api_keys SET
		last_used_ip = CASE WHEN ? >= COALESCE(last_used_at, 0) THEN ? ELSE last_used_ip END,
		last_used_user_agent = CASE WHEN ? >= COALESCE(last_used_at, 0) THEN ? ELSE last_used_user_agent END,
		last_used_at = MAX(COALESCE(last_used_at, 0), ?)
		WHERE id = ?
		RETURNING name`
	upsertDailySQL = `INSERT INTO key_usage_daily (key_id, day, count) VALUES (?, ?, ?)
		ON CONFLICT (key_id, day) DO UPDATE SET count = count + excluded.count`
	upsertHourlySQL = `INSERT INTO usage_hourly (hour, count) VALUES (?, ?)
		ON CONFLICT (hour) DO UPDATE SET count = count + excluded.count`
	insertKeyIPSQL = `INSERT OR IGNORE INTO key_ips (key_id, ip, first_seen_at) VALUES (?, ?, ?)`
)

// writeUsage writes batch b in one transaction. Keys deleted since their use
// are skipped; their uses still count in the hourly totals.
func (v *Verifier) writeUsage(ctx context.Context, b usageBatch) error {
	tx, err := v.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: flush usage: %w", err)
	}
	defer tx.Rollback()
	stmts := make([]*sql.Stmt, 4)
	for i, q := range []string{touchKeySQL, upsertDailySQL, upsertHourlySQL, insertKeyIPSQL} {
		if stmts[i], err = tx.PrepareContext(ctx, q); err != nil {
			return fmt.Errorf("db: flush usage: prepare: %w", err)
		}
		defer stmts[i].Close()
	}
	touch, daily, hourly, keyIP := stmts[0], stmts[1], stmts[2], stmts[3]

	for id, u := range b.keys {
		var name string
		err := touch.QueryRowContext(ctx, u.last, u.ip, u.last, u.ua, u.last, id).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("db: flush usage: key %d: %w", id, err)
		}
		for _, d := range u.days {
			if _, err := daily.ExecContext(ctx, id, d.day, d.count); err != nil {
				return fmt.Errorf("db: flush usage: key %d daily: %w", id, err)
			}
		}
		for _, x := range u.ips {
			if err := v.noteIP(ctx, tx, keyIP, id, name, x); err != nil {
				return err
			}
		}
	}
	for h, n := range b.hours {
		if _, err := hourly.ExecContext(ctx, h, n); err != nil {
			return fmt.Errorf("db: flush usage: hourly: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: flush usage: commit: %w", err)
	}
	return nil
}

// noteIP records that key id was used from x.ip and, the first time ever,
// audits it: a key showing up from a new address is worth a look.
func (v *Verifier) noteIP(ctx context.Context, tx *sql.Tx, stmt *sql.Stmt, id int64, name string, x ipUse) error {
	res, err := stmt.ExecContext(ctx, id, x.ip, x.at)
	if err != nil {
		return fmt.Errorf("db: flush usage: key %d ip: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	e := SystemActor().event(ActionKeyNewIP, "key", id, name)
	e.IP = x.ip
	if x.ua != "" {
		e.Detail = map[string]string{"user_agent": x.ua}
	}
	return insertAudit(ctx, tx, fromMillis(x.at), e)
}
