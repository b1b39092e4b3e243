// Package dbtest opens real Keyward databases for the tests of other
// packages: a SQLite file in the test's temporary directory (never
// :memory:), cheap argon2id parameters, and a clock the test moves. Tests
// inside package db cannot import it (the import would be a cycle) and
// keep the same three things in db/testhelpers_test.go.
package dbtest

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/keyward/keyward/db"
)

// Argon2 are argon2id parameters cheap enough for tests (64 KiB, one
// pass): real hashing, without 19 MiB and tens of milliseconds per
// password. Never for production.
var Argon2 = &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Clock is a clock a test moves by hand; safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at start.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Open opens a new database file in tb's temporary directory with o, using
// Argon2 when o sets no parameters, and closes it when the test ends. It
// returns the store and the file's path (for tests that open the file
// again, as another process would).
func Open(tb testing.TB, o db.Options) (*db.Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "keyward.db")
	if o.Argon2 == nil {
		o.Argon2 = Argon2
	}
	s, err := db.Open(context.Background(), path, o)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close %s: %v", path, err)
		}
	})
	return s, path
}

// Catalog publishes names in s's scope catalog, grantable by members and
// needing no approval: the catalog a test installation's keys need before
// they can carry those scopes.
func Catalog(tb testing.TB, s *db.Store, names ...string) {
	tb.Helper()
	for _, n := range names {
		if _, err := s.CreateScope(context.Background(), db.ScopeInput{Name: n}, db.CLIActor()); err != nil {
			tb.Fatalf("catalog scope %q: %v", n, err)
		}
	}
}
