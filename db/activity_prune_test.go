package db

import (
	"context"
	"testing"
	"time"
)

// TestPruneActivity: hourly counts older than 30 days and per-address
// counts older than 7 days go, in chunks (more old rows than one chunk),
// and nothing younger.
func TestPruneActivity(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		k, _ := env.key(t, env.alice, "svc")
		nowHour := env.clock.Now().UnixMilli() / msPerHour
		// pruneChunk+100 ancient hours, then the edges of each window.
		const ancient = pruneChunk + 100
		for _, q := range []string{
			`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
				INSERT INTO key_usage_hourly (key_id, hour, uses, refusals) SELECT ?, i, 1, 0 FROM n`,
			`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
				INSERT INTO key_hour_ips (key_id, hour, ip, uses, refusals) SELECT ?, i, '192.0.2.1', 1, 0 FROM n`,
		} {
			if _, err := env.s.w.ExecContext(ctx, q, ancient, k.ID); err != nil {
				t.Fatal(err)
			}
		}
		day := int64(24)
		for _, h := range []int64{nowHour - 30*day - 1, nowHour - 30*day, nowHour - 8*day, nowHour - 7*day - 1, nowHour - 7*day, nowHour} {
			if _, err := env.s.w.ExecContext(ctx, `INSERT INTO key_usage_hourly (key_id, hour, uses, refusals) VALUES (?, ?, 1, 0)`, k.ID, h); err != nil {
				t.Fatal(err)
			}
			if _, err := env.s.w.ExecContext(ctx, `INSERT INTO key_hour_ips (key_id, hour, ip, uses, refusals) VALUES (?, ?, '192.0.2.1', 1, 0)`, k.ID, h); err != nil {
				t.Fatal(err)
			}
		}
		n, err := env.s.PruneActivity(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Hourly: the ancient rows and the one just past 30 days.
		// Addresses: the ancient rows and the four past 7 days.
		if want := int64(ancient + 1 + ancient + 4); n != want {
			t.Errorf("PruneActivity removed %d rows, want %d", n, want)
		}
		for _, c := range []struct {
			table string
			want  []int64
		}{
			{"key_usage_hourly", []int64{nowHour - 30*day, nowHour - 8*day, nowHour - 7*day - 1, nowHour - 7*day, nowHour}},
			{"key_hour_ips", []int64{nowHour - 7*day, nowHour}},
		} {
			rows, err := env.s.r.QueryContext(ctx, `SELECT hour FROM `+c.table+` ORDER BY hour`)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for rows.Next() {
				var h int64
				if err := rows.Scan(&h); err != nil {
					t.Fatal(err)
				}
				got = append(got, h)
			}
			rows.Close()
			if len(got) != len(c.want) {
				t.Errorf("%s hours left = %v, want %v", c.table, got, c.want)
				continue
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("%s hours left = %v, want %v", c.table, got, c.want)
					break
				}
			}
		}
		// A month later, everything is old.
		env.clock.Advance(31 * 24 * time.Hour)
		if n, err := env.s.PruneActivity(ctx); err != nil || n != 7 {
			t.Errorf("PruneActivity a month later = %d, %v, want 7", n, err)
		}
	})
}
