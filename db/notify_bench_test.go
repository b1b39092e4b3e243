package db

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
)

// What the outbox adds to the writes that enqueue events: a bulk revoke of
// 1,000 keys (1,000 key.revoked events in its transaction) and a usage
// flush where 1,000 keys each show up from a new address (1,000
// key.new_address events). Run with
// `go test -run '^$' -bench 'BulkRevoke|FlushNewAddresses' ./db/`.

const notifyBenchKeys = 1000

// seedBenchKeys inserts n keys of one user straight into the table (no
// key.created events) and returns their ids.
func seedBenchKeys(b *testing.B, s *Store, n int) []int64 {
	b.Helper()
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "bench@example.com", testPassword, RoleMember, CLIActor())
	if err != nil {
		b.Fatal(err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	ms := toMillis(s.Now())
	ids := make([]int64, n)
	for i := range ids {
		hash := sha256.Sum256(fmt.Appendf(nil, "bench %d", i))
		if err := tx.QueryRowContext(ctx, `INSERT INTO api_keys (user_id, name, key_hash, hint, created_at)
			VALUES (?, ?, ?, ?, ?) RETURNING id`, u.ID, fmt.Sprintf("key %d", i), hash[:], "kw_…abcd", ms).Scan(&ids[i]); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return ids
}

// forEachBenchEngine runs fn per engine, as forEachEngine does for tests.
func forEachBenchEngine(b *testing.B, fn func(b *testing.B, s *Store)) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			s, err := Open(context.Background(), e.target(b), Options{Argon2: testArgon2})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			fn(b, s)
		})
	}
}

// BenchmarkBulkRevoke measures one bulk revoke of 1,000 keys.
func BenchmarkBulkRevoke(b *testing.B) {
	forEachBenchEngine(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		ids := seedBenchKeys(b, s, notifyBenchKeys)
		admin := Actor{Label: "admin@example.com"}
		b.ResetTimer()
		for range b.N {
			if _, err := s.BulkRevokeKeys(ctx, ids, "bench", admin); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if _, err := s.w.ExecContext(ctx, `UPDATE api_keys SET revoked_at = NULL, revoked_by = NULL`); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
}

// BenchmarkFlushNewAddresses measures a usage flush of 1,000 keys, each
// used from an address it was never used from before.
func BenchmarkFlushNewAddresses(b *testing.B) {
	forEachBenchEngine(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		ids := seedBenchKeys(b, s, notifyBenchKeys)
		v := NewVerifier(s, VerifierOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		now := time.Now()
		round := 0
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			round++
			now = now.Add(time.Millisecond)
			for i, id := range ids {
				v.usage.record(id, now, fmt.Sprintf("10.%d.%d.%d", round%256, i/256, i%256), "bench/1")
			}
			b.StartTimer()
			if err := v.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
