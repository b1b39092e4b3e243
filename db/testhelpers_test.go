package db

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/keyward/keyward/db/pgtest"
)

// testArgon2 keeps password hashing cheap in tests; production uses
// PasswordParams. It is dbtest.Argon2, which this package's own tests
// cannot import (dbtest imports db); TestArgon2MatchesDBTest keeps the two equal.
var testArgon2 = &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// newTestStore opens a Store on a fresh database file in t.TempDir() (never
// :memory:, so WAL, the writer/reader split and migrations run for real) and
// closes it when the test ends.
func newTestStore(t *testing.T, opts ...func(*Options)) *Store {
	t.Helper()
	o := Options{Argon2: testArgon2}
	for _, fn := range opts {
		fn(&o)
	}
	s, err := Open(context.Background(), engineOf(t)(t), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// fakeClock is a settable clock for Options.Now; safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// newFakeClock starts a clock at a fixed, millisecond-aligned UTC instant.
func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)}
}

// Now returns the clock's current time.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// withClock makes the store use c as its clock.
func withClock(c *fakeClock) func(*Options) {
	return func(o *Options) { o.Now = c.Now }
}

// testPassword passes CheckPassword for every email used in tests.
const testPassword = "plum Orbit cascade 47 lantern"

// mustCreateUser creates a user with testPassword or fails the test.
func mustCreateUser(t *testing.T, s *Store, email string, role Role) User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), email, testPassword, role, CLIActor())
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", email, err)
	}
	return u
}

// engines is the table of engines the store tests run on: every test that
// opens a store runs once per engine, as subtests named after it
// (forEachEngine). PostgreSQL's skip unless KEYWARD_TEST_POSTGRES names a
// server (db/pgtest).
var engines = []struct {
	name string
	// target returns the database setting of a new, empty database.
	target func(t testing.TB) string
}{
	{"sqlite", func(t testing.TB) string { return filepath.Join(t.TempDir(), "keyward.db") }},
	{"postgres", pgtest.Database},
}

// forEachEngine runs fn as a subtest per engine. newTestStore, called
// anywhere inside fn (subtests too), opens a store of that subtest's
// engine.
func forEachEngine(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	for _, e := range engines {
		t.Run(e.name, fn)
	}
}

// engineOf returns the target maker of the engine t runs under: the first
// element of its name after the top-level test that names an engine, or
// SQLite for a test that does not run per engine.
func engineOf(t testing.TB) func(testing.TB) string {
	parts := strings.Split(t.Name(), "/")
	if len(parts) > 1 {
		for _, e := range engines {
			if parts[1] == e.name {
				return e.target
			}
		}
	}
	return engines[0].target
}
