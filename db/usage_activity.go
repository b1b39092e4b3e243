package db

import (
	"context"
	"fmt"
	"slices"
)

// The flush's share of unusual-activity tracking: the last refusal on each
// key's row, refusals per day and code, and uses and refusals per hour and
// per (hour, address). Every upsert adds its deltas, so several instances
// (and a batch retried after a failed flush) sum correctly; the last
// refusal, like the last use, only moves forward.

const (
	// touchRefusedSQL is touchKeysSQL for refusals: rows (id, at, ip,
	// user agent, code).
	touchRefusedSQL = `UPDATE api_keys SET
		last_refused_ip = CASE WHEN u.column2 >= COALESCE(api_keys.last_refused_at, 0) THEN u.column3 ELSE api_keys.last_refused_ip END,
		last_refused_user_agent = CASE WHEN u.column2 >= COALESCE(api_keys.last_refused_at, 0) THEN u.column4 ELSE api_keys.last_refused_user_agent END,
		last_refused_code = CASE WHEN u.column2 >= COALESCE(api_keys.last_refused_at, 0) THEN u.column5 ELSE api_keys.last_refused_code END,
		last_refused_at = CASE WHEN u.column2 > COALESCE(api_keys.last_refused_at, 0) THEN u.column2 ELSE api_keys.last_refused_at END
		FROM (VALUES %s) AS u
		WHERE api_keys.id = u.column1
		RETURNING api_keys.id, api_keys.name`
	upsertRefusalsSQL = `INSERT INTO key_refusals_daily (key_id, day, code, count) VALUES %s
		ON CONFLICT (key_id, day, code) DO UPDATE SET count = key_refusals_daily.count + excluded.count`
	upsertKeyHourlySQL = `INSERT INTO key_usage_hourly (key_id, hour, uses, refusals) VALUES %s
		ON CONFLICT (key_id, hour) DO UPDATE SET uses = key_usage_hourly.uses + excluded.uses,
			refusals = key_usage_hourly.refusals + excluded.refusals`
	upsertHourIPsSQL = `INSERT INTO key_hour_ips (key_id, hour, ip, uses, refusals) VALUES %s
		ON CONFLICT (key_id, hour, ip) DO UPDATE SET uses = key_hour_ips.uses + excluded.uses,
			refusals = key_hour_ips.refusals + excluded.refusals`
)

// touchRefused moves the last refusal of the keys among ids that were
// refused in b, and adds the ones that still exist to live.
func touchRefused(ctx context.Context, tx *Tx, b usageBatch, ids []int64, live map[int64]string) error {
	var refused []int64
	for _, id := range ids {
		if b.keys[id].refused.at != 0 {
			refused = append(refused, id)
		}
	}
	for chunk := range slices.Chunk(refused, flushChunk) {
		args := make([]any, 0, 5*len(chunk))
		for _, id := range chunk {
			r := b.keys[id].refused
			args = append(args, id, r.at, r.ip, r.ua, string(r.code))
		}
		q := fmt.Sprintf(touchRefusedSQL, typedValuesList(len(chunk), "BIGINT", "BIGINT", "TEXT", "TEXT", "TEXT")) // #nosec G201 -- only groups of CAST(? AS type) are formatted in; values stay bound parameters
		if err := scanLive(ctx, tx, q, args, live); err != nil {
			return fmt.Errorf("db: flush usage: touch refused keys: %w", err)
		}
	}
	return nil
}

// scanLive runs an UPDATE … RETURNING id, name and adds its rows to live.
// The statement is prepared once per flush (queryCached): every full
// chunk has the same text.
func scanLive(ctx context.Context, tx *Tx, q string, args []any, live map[int64]string) error {
	rows, err := tx.queryCached(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id   int64
			name string
		)
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		live[id] = name
	}
	return rows.Err()
}

// writeActivityCounts writes the refusals per day and code, and the uses
// and refusals per hour and per (hour, address), of the live keys among
// ids.
func writeActivityCounts(ctx context.Context, tx *Tx, b usageBatch, ids []int64, live map[int64]string) error {
	// Almost every key has one hour and one address: sized for that, the
	// argument lists never grow by copying.
	var refusals []any
	hours, hourIPs := make([]any, 0, 4*len(ids)), make([]any, 0, 5*len(ids))
	for _, id := range ids {
		if _, ok := live[id]; !ok {
			continue
		}
		u := b.keys[id]
		for _, d := range u.refDays {
			refusals = append(refusals, id, d.day, string(d.code), d.count)
		}
		for _, h := range u.hours {
			hours = append(hours, id, h.hour, h.uses, h.refusals)
		}
		for _, x := range u.hourIPs {
			hourIPs = append(hourIPs, id, x.hour, x.ip, x.uses, x.refusals)
		}
	}
	for _, w := range []struct {
		what, sql string
		width     int
		args      []any
	}{
		{"refusals", upsertRefusalsSQL, 4, refusals},
		{"key hourly", upsertKeyHourlySQL, 4, hours},
		{"hour addresses", upsertHourIPsSQL, 5, hourIPs},
	} {
		for rows := range slices.Chunk(w.args, w.width*flushChunk) {
			q := fmt.Sprintf(w.sql, valuesList(len(rows)/w.width, w.width)) // #nosec G201 -- only "(?, …)" groups are formatted in; values stay bound parameters
			if _, err := tx.execCached(ctx, q, rows...); err != nil {
				return fmt.Errorf("db: flush usage: %s: %w", w.what, err)
			}
		}
	}
	return nil
}
