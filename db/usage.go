package db

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
)

// Flush writes the usage recorded since the last flush in one transaction.
// On failure the batch goes back to the pending one and is retried by the
// next flush; an unreachable database is ErrUnavailable.
func (v *Verifier) Flush(ctx context.Context) error {
	v.flushMu.Lock()
	defer v.flushMu.Unlock()
	b := v.usage.take()
	var err error
	if len(b.keys) != 0 || len(b.hours) != 0 {
		if err = v.writeUsage(ctx, b); err != nil {
			v.usage.putBack(b)
		}
	}
	if err != nil && ctx.Err() != nil {
		// Stopped by its caller (a shutdown, whose last flush follows
		// with a context of its own): the batch waits, nothing failed.
		return err
	}
	v.trouble.note(v.opt.Logger, err, v.usage.dropped.Load(), v.usage.pending(), v.opt.MaxPendingKeys)
	return err
}

// UsageDropped counts the uses whose per-key usage was dropped because
// MaxPendingKeys keys were already waiting for a flush.
func (v *Verifier) UsageDropped() int64 { return v.usage.dropped.Load() }

// flushTrouble follows a run of failed flushes or dropped uses, so that
// the log says when one starts and when it ends rather than every failed
// flush (two a second while the database is away). Guarded by flushMu.
type flushTrouble struct {
	failing    bool  // a flush failed since the last one that worked
	failures   int   // failed flushes in this run
	dropLogged bool  // the drops of this run have been logged
	dropBase   int64 // dropped uses before this run
}

// note takes the outcome of one flush: err, the dropped-use counter after
// it and the keys still pending.
func (t *flushTrouble) note(log *slog.Logger, err error, dropped int64, pending, maxKeys int) {
	if err != nil {
		t.failures++
		if !t.failing {
			t.failing = true
			log.Error("usage flush failed; usage waits in memory and every flush retries it (logged once until a flush works)",
				slog.Any("err", err), slog.Int("pending_keys", pending))
		}
	}
	if dropped > t.dropBase && !t.dropLogged {
		t.dropLogged = true
		log.Warn("usage of keys not already pending is being dropped (keyward_usage_dropped_total counts it)",
			slog.Int("max_pending_keys", maxKeys))
	}
	if err == nil && (t.failing || t.dropLogged) {
		log.Info("usage flush works again", slog.Int("failed_flushes", t.failures),
			slog.Int64("dropped_uses", dropped-t.dropBase))
		*t = flushTrouble{dropBase: dropped}
	}
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
// Verifier has already written for a key are not written again, nor are
// networks and client families it has already recorded (noteSightings).
func (v *Verifier) writeUsage(ctx context.Context, b usageBatch) error {
	tx, err := v.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: flush usage: %w", err)
	}
	defer tx.Rollback()
	batchEvents(tx) // the key.new_address events of new addresses
	v.sightings.rules = nil

	ids := slices.Sorted(maps.Keys(b.keys)) // index order: fewer pages touched
	live := make(map[int64]string, len(ids))
	used := make([]int64, 0, len(ids)) // keys with successful uses (others were only refused)
	for _, id := range ids {
		if len(b.keys[id].days) != 0 {
			used = append(used, id)
		}
	}
	for chunk := range slices.Chunk(used, flushChunk) {
		args := make([]any, 0, 4*len(chunk))
		for _, id := range chunk {
			u := b.keys[id]
			args = append(args, id, u.last, u.ip, u.ua)
		}
		if err := touchKeys(ctx, tx, chunk, args, live); err != nil {
			return err
		}
	}
	if err := touchRefused(ctx, tx, b, ids, live); err != nil {
		return err
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
		if _, err := tx.execCached(ctx, q, rows...); err != nil {
			return fmt.Errorf("db: flush usage: daily: %w", err)
		}
	}

	if err := writeActivityCounts(ctx, tx, b, ids, live); err != nil {
		return err
	}

	var (
		added    []keyIP
		fresh    []AuditEvent
		newAddrs []ipUse // the key's addresses written first by this flush
		seen     []sightingKey
	)
	for _, id := range used {
		name, ok := live[id]
		if !ok {
			continue
		}
		newAddrs = newAddrs[:0]
		for _, x := range b.keys[id].ips {
			pair := keyIP{id, x.ip}
			if _, known := v.knownIPs[pair]; known {
				continue
			}
			e, isNew, err := v.noteIP(ctx, tx, id, name, x)
			if err != nil {
				return err
			}
			if isNew {
				fresh = append(fresh, e)
				newAddrs = append(newAddrs, x)
			}
			added = append(added, pair)
		}
		s, err := v.noteSightings(ctx, tx, id, newAddrs, b.keys[id].agents)
		if err != nil {
			return err
		}
		seen = append(seen, s...)
	}
	if err := auditNewAddresses(ctx, tx, fresh); err != nil {
		return err
	}
	if err := flushEvents(ctx, tx); err != nil {
		return err
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
	v.sightings.remember(seen)
	return nil
}

// touchKeys moves the last use of the keys in chunk (args: id, last use, ip,
// user agent for each) and adds the ones that still exist to live.
func touchKeys(ctx context.Context, tx *Tx, chunk []int64, args []any, live map[int64]string) error {
	q := fmt.Sprintf(touchKeysSQL, typedValuesList(len(chunk), "BIGINT", "BIGINT", "TEXT", "TEXT")) // #nosec G201 -- only groups of CAST(? AS type) are formatted in; values stay bound parameters
	if err := scanLive(ctx, tx, q, args, live); err != nil {
		return fmt.Errorf("db: flush usage: touch keys: %w", err)
	}
	return nil
}

// noteIP records that key id was used from x.ip and, the first time ever,
// returns the audit event to write: a key showing up from a new address is
// worth a look.
func (v *Verifier) noteIP(ctx context.Context, tx *Tx, id int64, name string, x ipUse) (AuditEvent, bool, error) {
	res, err := tx.execCached(ctx, insertKeyIPSQL, id, x.ip, x.at)
	if err != nil {
		return AuditEvent{}, false, fmt.Errorf("db: flush usage: key %d ip: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return AuditEvent{}, false, err
	}
	e := KeyActor(id, name).event(ActionKeyNewIP, "key", id, name)
	e.At = fromMillis(x.at)
	e.IP = x.ip
	if x.ua != "" {
		e.Detail = map[string]string{"user_agent": x.ua}
	}
	return e, true, nil
}

// auditNewAddresses writes the audit events (and with them the
// key.new_address events) of the addresses a flush saw first, reading
// their keys in one query instead of one per event.
func auditNewAddresses(ctx context.Context, tx *Tx, events []AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(events))
	for _, e := range events {
		ids = append(ids, e.TargetID)
	}
	keys, err := loadKeys(ctx, tx, uniqueIDs(ids))
	if err != nil {
		return err
	}
	for _, e := range events {
		if k, ok := keys[e.TargetID]; ok {
			e.key = &k
		}
		if err := insertAudit(ctx, tx, e.At, e); err != nil {
			return err
		}
	}
	return nil
}
