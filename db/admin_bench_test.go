package db

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"
)

// The admin pages over a large installation: 100,000 keys across 1,000
// users. Run with `go test -run '^$' -bench Admin -bench Stale ./db/`.

const (
	benchUsers = 1_000
	benchKeys  = 100_000
)

// newAdminBenchStore seeds benchUsers users and benchKeys keys with a spread
// of states: a third never used, the rest used within the last 200 days;
// half expiring within a year; 5% revoked, 5% disabled; a few scopes.
func newAdminBenchStore(b *testing.B) *Store {
	b.Helper()
	ctx := context.Background()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s, err := Open(ctx, filepath.Join(b.TempDir(), "keyward.db"), Options{Argon2: testArgon2, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	tx, err := s.w.Begin()
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	ms := toMillis(now)
	for i := range benchUsers {
		if _, err := tx.Exec(insertUserSQL, fmt.Sprintf("user%04d@example.com", i), "x", "member", ms, ms); err != nil {
			b.Fatal(err)
		}
	}
	stmt, err := tx.Prepare(`INSERT INTO api_keys (user_id, name, key_hash, hint, scopes, created_at,
		expires_at, disabled_at, revoked_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	scopes := []string{"", "read", "read write", "deploy", "read:all admin"}
	const dayMs = msPerDay
	for i := range benchKeys {
		created := ms - rng.Int64N(400)*dayMs
		var expires, disabled, revoked, used any
		if rng.IntN(2) == 0 {
			expires = ms + rng.Int64N(365)*dayMs - 30*dayMs
		}
		switch rng.IntN(20) {
		case 0:
			revoked = ms
		case 1:
			disabled = ms
		}
		if rng.IntN(3) > 0 {
			used = ms - rng.Int64N(200)*dayMs - rng.Int64N(dayMs)
		}
		hash := sha256.Sum256(fmt.Appendf(nil, "bench %d", i))
		if _, err := stmt.Exec(1+rng.IntN(benchUsers), fmt.Sprintf("key %d", i), hash[:], "kw_…abcd",
			scopes[rng.IntN(len(scopes))], created, expires, disabled, revoked, used); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkListKeysAdmin measures what /admin/keys does per request: one
// page of keys and the total count, for each filter and order it offers.
func BenchmarkListKeysAdmin(b *testing.B) {
	s := newAdminBenchStore(b)
	ctx := context.Background()
	cases := []struct {
		name string
		f    KeyFilter
	}{
		{"newest", KeyFilter{}},
		{"page_100", KeyFilter{Offset: 99 * DefaultKeyLimit}},
		{"owner", KeyFilter{OwnerEmail: "user0500@example.com"}},
		{"status_active", KeyFilter{Status: KeyActive}},
		{"stale", KeyFilter{Stale: true}},
		{"never_used", KeyFilter{NeverUsed: true}},
		{"expiring_14d", KeyFilter{ExpiringWithin: 14 * 24 * time.Hour}},
		{"scope", KeyFilter{Scope: "deploy"}},
		{"search", KeyFilter{Search: "key 4242"}},
		{"sort_last_used", KeyFilter{Sort: KeySortLastUsed}},
		{"sort_expires", KeyFilter{Sort: KeySortExpires}},
		{"stale_sort_last_used", KeyFilter{Stale: true, Sort: KeySortLastUsed}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.ListKeys(ctx, AnyOwner(), c.f); err != nil {
					b.Fatal(err)
				}
				if _, err := s.CountKeys(ctx, AnyOwner(), c.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCountStale measures the stale-key numbers of the admin overview
// and the stale review.
func BenchmarkCountStale(b *testing.B) {
	s := newAdminBenchStore(b)
	ctx := context.Background()
	b.Run("count", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.CountKeys(ctx, AnyOwner(), KeyFilter{Stale: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("overview", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Overview(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("list_users", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.ListUsers(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
