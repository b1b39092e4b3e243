package db

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
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

// flushChunk is how many keys one multi-row statement of a flush covers: a
// flush is a few statements per 200 keys instead of three per key, which is
// what keeps it short enough for "last used" to be fresh within a second on
// a busy server. 4 parameters a row stay far below SQLite's limit on bound
// parameters (32,766).
const flushChunk = 200

// maxKnownIPs bounds Verifier.knownIPs; when full it is emptied, which only
// costs a few inserts that find their row already there.
const maxKnownIPs = 100_000

// keyIP is a (key, address) pair already in key_ips.
type keyIP struct {
	id int64
	ip string
}

const (
	// touchKeysSQL moves last_used_at forward only, and takes the address
	// and user agent only from a use at least as recent as the stored one:
	// batches from a retried flush or from another instance may arrive out
	// of order, and several instances flush into the same rows. The VALUES
	// rows are (id, last use, ip, user agent), whose columns both engines
	// name column1…column4; each value is CAST so PostgreSQL knows its
	// type. RETURNING tells a deleted key (no row) from a live one.
	touchKeysSQL = `UPDATE api_keys SET
		last_used_ip = CASE WHEN u.column2 >= COALESCE(api_keys.last_used_at, 0) THEN u.column3 ELSE api_keys.last_used_ip END,
		last_used_user_agent = CASE WHEN u.column2 >= COALESCE(api_keys.last_used_at, 0) THEN u.column4 ELSE api_keys.last_used_user_agent END,
		last_used_at = CASE WHEN u.column2 > COALESCE(api_keys.last_used_at, 0) THEN u.column2 ELSE api_keys.last_used_at END
		FROM (VALUES %s) AS u
		WHERE api_keys.id = u.column1
		RETURNING api_keys.id, api_keys.name`
	upsertDailySQL = `INSERT INTO key_usage_daily (key_id, day, count) VALUES %s
		ON CONFLICT (key_id, day) DO UPDATE SET count = key_usage_daily.count + excluded.count`
	upsertHourlySQL = `INSERT INTO usage_hourly (hour, count) VALUES (?, ?)
		ON CONFLICT (hour) DO UPDATE SET count = usage_hourly.count + excluded.count`
	insertKeyIPSQL = `INSERT INTO key_ips (key_id, ip, first_seen_at) VALUES (?, ?, ?)
		ON CONFLICT (key_id, ip) DO NOTHING`
)

// valuesList returns n comma-separated groups of width placeholders.
func valuesList(n, width int) string {
	group := "(?" + strings.Repeat(", ?", width-1) + ")"
	return group + strings.Repeat(", "+group, n-1)
}

// typedValuesList returns n comma-separated groups of placeholders, each
// CAST to the SQL type given for its column: a VALUES list that is not
// the input of an INSERT gives PostgreSQL no other way to know the types.
func typedValuesList(n int, types ...string) string {
	cols := make([]string, len(types))
	for i, t := range types {
		cols[i] = "CAST(? AS " + t + ")"
	}
	group := "(" + strings.Join(cols, ", ") + ")"
	return group + strings.Repeat(", "+group, n-1)
}

// writeUsage writes batch b in one transaction. Keys deleted since their use
// are skipped; their uses still count in the hourly totals. Addresses this
// Verifier has already written for a key are not written again.
func (v *Verifier) writeUsage(ctx context.Context, b usageBatch) error {
	tx, err := v.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: flush usage: %w", err)
	}
	defer tx.Rollback()

	ids := slices.Sorted(maps.Keys(b.keys)) // index order: fewer pages touched
	live := make(map[int64]string, len(ids))
	for chunk := range slices.Chunk(ids, flushChunk) {
		args := make([]any, 0, 4*len(chunk))
		for _, id := range chunk {
			u := b.keys[id]
			args = append(args, id, u.last, u.ip, u.ua)
		}
		if err := touchKeys(ctx, tx, chunk, args, live); err != nil {
			return err
		}
	}

	var days []any
	for _, id := range ids {
		if _, ok := live[id]; !ok {
			continue
		}
		for _, d := range b.keys[id].days {
			days = append(days, id, d.day, d.count)
		}
	}
	for rows := range slices.Chunk(days, 3*flushChunk) {
		q := fmt.Sprintf(upsertDailySQL, valuesList(len(rows)/3, 3)) // #nosec G201 -- only "(?, ?, ?)" groups are formatted in; values stay bound parameters
		if _, err := tx.ExecContext(ctx, q, rows...); err != nil {
			return fmt.Errorf("db: flush usage: daily: %w", err)
		}
	}

	var added []keyIP
	for _, id := range ids {
		name, ok := live[id]
		if !ok {
			continue
		}
		for _, x := range b.keys[id].ips {
			pair := keyIP{id, x.ip}
			if _, known := v.knownIPs[pair]; known {
				continue
			}
			if err := v.noteIP(ctx, tx, id, name, x); err != nil {
				return err
			}
			added = append(added, pair)
		}
	}
	for h, n := range b.hours {
		if _, err := tx.ExecContext(ctx, upsertHourlySQL, h, n); err != nil {
			return fmt.Errorf("db: flush usage: hourly: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: flush usage: commit: %w", err)
	}
	if len(v.knownIPs)+len(added) > maxKnownIPs {
		clear(v.knownIPs)
	}
	for _, p := range added {
		v.knownIPs[p] = struct{}{}
	}
	return nil
}

// touchKeys moves the last use of the keys in chunk (args: id, last use, ip,
// user agent for each) and adds the ones that still exist to live.
func touchKeys(ctx context.Context, tx *Tx, chunk []int64, args []any, live map[int64]string) error {
	q := fmt.Sprintf(touchKeysSQL, typedValuesList(len(chunk), "BIGINT", "BIGINT", "TEXT", "TEXT")) // #nosec G201 -- only groups of CAST(? AS type) are formatted in; values stay bound parameters
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("db: flush usage: touch keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id   int64
			name string
		)
		if err := rows.Scan(&id, &name); err != nil {
			return fmt.Errorf("db: flush usage: touch keys: %w", err)
		}
		live[id] = name
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("db: flush usage: touch keys: %w", err)
	}
	return nil
}

// noteIP records that key id was used from x.ip and, the first time ever,
// audits it: a key showing up from a new address is worth a look.
func (v *Verifier) noteIP(ctx context.Context, tx *Tx, id int64, name string, x ipUse) error {
	res, err := tx.ExecContext(ctx, insertKeyIPSQL, id, x.ip, x.at)
	if err != nil {
		return fmt.Errorf("db: flush usage: key %d ip: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	e := KeyActor(id, name).event(ActionKeyNewIP, "key", id, name)
	e.IP = x.ip
	if x.ua != "" {
		e.Detail = map[string]string{"user_agent": x.ua}
	}
	return insertAudit(ctx, tx, fromMillis(x.at), e)
}
