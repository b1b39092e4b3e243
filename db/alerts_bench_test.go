package db

import (
	"context"
	"testing"
)

// The navigation badge counts the person's unresolved alerts on every page
// render. Over 10,000 alerts (7,000 unresolved: one per rule and key) on 1,000 keys of one
// member (counted up to ActiveAlertsCap), measured for an admin (every alert) and for a member with none
// (the common case). Run with
// `go test -run '^$' -bench CountActiveAlerts ./db/`.
func BenchmarkCountActiveAlerts(b *testing.B) {
	forEachBenchEngine(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		ids := seedBenchKeys(b, s, notifyBenchKeys)
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer tx.Rollback()
		ms := toMillis(s.Now())
		rules := AlertRules()
		for i := range 10_000 {
			var resolved any
			if i >= 7_000 {
				resolved = ms
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO alerts (rule, key_id, status, summary, evidence,
				first_seen_at, last_seen_at, resolved_at) VALUES (?, ?, 'open', 'bench', '{}', ?, ?, ?)`,
				rules[i/len(ids)%len(rules)], ids[i%len(ids)], ms, ms, resolved); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		// What autovacuum does on a live server; without it PostgreSQL
		// plans the fresh tables as empty.
		if _, err := s.w.ExecContext(ctx, `ANALYZE`); err != nil {
			b.Fatal(err)
		}
		other, err := s.CreateUser(ctx, "other@example.com", testPassword, RoleMember, CLIActor())
		if err != nil {
			b.Fatal(err)
		}
		var owner int64
		if err := s.r.QueryRowContext(ctx, `SELECT user_id FROM api_keys WHERE id = ?`, ids[0]).Scan(&owner); err != nil {
			b.Fatal(err)
		}
		for _, c := range []struct {
			name   string
			access KeyAccess
			want   int
		}{
			{"admin", AnyOwner(), ActiveAlertsCap},
			{"owner", VisibleTo(owner), ActiveAlertsCap},
			{"member_without_alerts", VisibleTo(other.ID), 0},
		} {
			b.Run(c.name, func(b *testing.B) {
				for range b.N {
					n, err := s.CountActiveAlerts(ctx, c.access)
					if err != nil || n != c.want {
						b.Fatalf("got %d, %v; want %d", n, err, c.want)
					}
				}
			})
		}
	})
}
