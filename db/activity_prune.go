package db

import (
	"context"
	"fmt"
	"time"
)

// How long the anomaly rules' inputs are kept: hourly counts for the
// spike rule's trailing week and the dormancy rule's month, per-address
// counts for an alert's evidence and the many-addresses rule. Daily
// counts (key_usage_daily, key_refusals_daily) are kept like usage.
const (
	KeyHourlyKeep = 30 * 24 * time.Hour
	HourIPsKeep   = 7 * 24 * time.Hour
)

// pruneChunk is how many rows one DELETE removes: a busy installation has
// a row per key and hour, and one statement deleting an hour of 100,000
// keys would hold SQLite's only writer (and every flush) for that long.
const pruneChunk = 5000

// The row-value IN works on both engines (SQLite 3.15+); the inner LIMIT
// is what keeps each statement short.
const (
	pruneKeyHourlySQL = `DELETE FROM key_usage_hourly WHERE (key_id, hour) IN
		(SELECT key_id, hour FROM key_usage_hourly WHERE hour < ? LIMIT ?)`
	pruneHourIPsSQL = `DELETE FROM key_hour_ips WHERE (key_id, hour, ip) IN
		(SELECT key_id, hour, ip FROM key_hour_ips WHERE hour < ? LIMIT ?)`
)

// PruneActivity deletes hourly counts older than KeyHourlyKeep and
// per-address counts older than HourIPsKeep, a chunk at a time (each its
// own statement, so flushes run between them), and reports how many rows
// went.
func (s *Store) PruneActivity(ctx context.Context) (int64, error) {
	now := s.Now()
	var total int64
	for _, p := range []struct {
		what, sql string
		keep      time.Duration
	}{
		{"hourly usage", pruneKeyHourlySQL, KeyHourlyKeep},
		{"hourly addresses", pruneHourIPsSQL, HourIPsKeep},
	} {
		cutoff := now.Add(-p.keep).UnixMilli() / msPerHour
		for {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			res, err := s.w.ExecContext(ctx, p.sql, cutoff, pruneChunk)
			if err != nil {
				return total, fmt.Errorf("db: prune %s: %w", p.what, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, fmt.Errorf("db: prune %s: %w", p.what, err)
			}
			total += n
			if n < pruneChunk {
				break
			}
		}
	}
	return total, nil
}
