package db

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"
	"time"
)

// Many instances on one database: what one process changes, every other
// must see, and what they record must add up. On SQLite the instances are
// processes sharing a file; on PostgreSQL, servers sharing a database.

// openInstances opens n stores on one new database of t's engine.
func openInstances(t *testing.T, n int, clock *fakeClock) []*Store {
	t.Helper()
	target := engineOf(t)(t)
	out := make([]*Store, n)
	for i := range out {
		s, err := Open(context.Background(), target, Options{Now: clock.Now, Argon2: testArgon2})
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		t.Cleanup(func() { s.Close() })
		out[i] = s
	}
	return out
}

// runVerifier runs v (its change watcher and flusher) until the test ends.
func runVerifier(t *testing.T, v *Verifier) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { v.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitFor polls cond until it holds or the bound passes, and returns how
// long that took.
func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > bound {
			t.Fatalf("%s: not within %v", what, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func TestKeyChangesReachOtherInstances(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		st := openInstances(t, 2, clock)
		a, b := st[0], st[1]
		vb := NewVerifier(b, VerifierOptions{CacheTTL: time.Hour, Logger: quietVerifier(b).opt.Logger})
		runVerifier(t, vb)
		u := ktUser(t, a, "alice@example.com")

		steps := []struct {
			name   string
			change func(k Key) error
			want   VerifyCode
		}{
			{"revoke", func(k Key) error { _, err := a.RevokeKey(ctx, AnyOwner(), k.ID, "", CLIActor()); return err }, CodeRevoked},
			{"disable", func(k Key) error {
				_, err := a.SetKeyDisabled(ctx, AnyOwner(), k.ID, true, "", CLIActor())
				return err
			}, CodeDisabled},
			{"disable owner", func(Key) error { return a.SetUserDisabled(ctx, u.ID, true, CLIActor()) }, CodeDisabled},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				if err := a.SetUserDisabled(ctx, u.ID, false, CLIActor()); err != nil {
					t.Fatal(err)
				}
				k, secret, err := a.CreateKey(ctx, u.ID, KeyInput{Name: step.name}, CLIActor())
				if err != nil {
					t.Fatal(err)
				}
				// B learns of the new key (its negative cache entry, if any,
				// is dropped by the same mechanism) and caches it as valid.
				waitFor(t, 5*time.Second, "B sees the new key", func() bool {
					res, err := vb.Verify(ctx, VerifyRequest{Key: secret})
					return err == nil && res.Valid
				})
				if err := step.change(k); err != nil {
					t.Fatal(err)
				}
				// The bound is generous for a loaded CI machine; the
				// figures are logged (SQLite polls every 250 ms,
				// PostgreSQL notifies at commit).
				took := waitFor(t, 5*time.Second, "B refuses after "+step.name+" through A", func() bool {
					res, err := vb.Verify(ctx, VerifyRequest{Key: secret})
					return err == nil && res.Code == step.want
				})
				t.Logf("%s through A refused by B after %v", step.name, took)
			})
		}
	})
}

func TestUsageAddsUpAcrossInstances(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		st := openInstances(t, 2, clock)
		u := ktUser(t, st[0], "alice@example.com")
		k, secret, err := st[0].CreateKey(ctx, u.ID, KeyInput{Name: "shared"}, CLIActor())
		if err != nil {
			t.Fatal(err)
		}
		vs := []*Verifier{quietVerifier(st[0]), quietVerifier(st[1])}
		const rounds, per = 5, 37
		for r := range rounds {
			for i, v := range vs {
				for range per {
					res, err := v.Verify(ctx, VerifyRequest{Key: secret, IP: "192.0.2.1", UserAgent: "ua"})
					if err != nil || !res.Valid {
						t.Fatalf("verify on %d: %+v %v", i, res, err)
					}
				}
				clock.Advance(time.Second)
			}
			// Flush in the opposite order every other round: each flush
			// adds its own deltas whatever the other instance did.
			order := []int{0, 1}
			if r%2 == 1 {
				order = []int{1, 0}
			}
			for _, i := range order {
				flush(t, vs[i])
			}
		}
		got := usageOf(t, st[1], k.ID)
		if want := int64(rounds * len(vs) * per); got.daily != want {
			t.Errorf("got %d uses, want %d", got.daily, want)
		}
		// The last flush was instance 0's in the last (even) round, but the
		// latest use was instance 1's: last_used_at only moves forward.
		if want := clock.Now().Add(-time.Second); got.lastUsed == nil || !got.lastUsed.Equal(want) {
			t.Errorf("got last used %v, want %v", got.lastUsed, want)
		}
	})
}

func TestMigrationsMatchAcrossEngines(t *testing.T) {
	for _, d := range []*dialect{sqliteDialect, postgresDialect} {
		entries, err := migrationFS.ReadDir(d.migrations)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			if !e.IsDir() {
				names = append(names, e.Name())
			}
		}
		if !slices.Equal(names, migrationNames) {
			t.Errorf("%s migrations = %v, want the same names as SQLite's %v", d.name, names, migrationNames)
		}
	}
}

// TestSchemasMatchAcrossEngines holds the two engines' migrations to the
// same tables and columns, so one set of queries fits both.
func TestSchemasMatchAcrossEngines(t *testing.T) {
	ctx := context.Background()
	columns := map[string]map[string][]string{}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			s := newTestStore(t)
			q := map[string]string{
				"sqlite": `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
					WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite%' ORDER BY 1, p.cid`,
				"postgres": `SELECT table_name, column_name FROM information_schema.columns
					WHERE table_schema = current_schema() ORDER BY 1, ordinal_position`,
			}[e.name]
			rows, err := s.r.QueryContext(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			cols := map[string][]string{}
			for rows.Next() {
				var table, col string
				if err := rows.Scan(&table, &col); err != nil {
					t.Fatal(err)
				}
				cols[table] = append(cols[table], col)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			columns[e.name] = cols
		})
	}
	lite, pg := columns["sqlite"], columns["postgres"]
	if lite == nil || pg == nil {
		return // PostgreSQL skipped
	}
	for table, want := range lite {
		if got := pg[table]; !slices.Equal(got, want) {
			t.Errorf("postgres table %s has columns %v, want SQLite's %v", table, got, want)
		}
	}
	for table := range pg {
		if _, ok := lite[table]; !ok {
			t.Errorf("postgres has table %s, SQLite has not", table)
		}
	}
}

// TestSchemaGuardOnEachEngine: the schema guard refuses a database with
// unknown migrations, a foreign one, and one that is behind unless told
// to migrate forward — on either engine.
func TestSchemaGuardOnEachEngine(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		open := func(target string, m Migration) (*Store, error) {
			s, err := Open(ctx, target, Options{Argon2: testArgon2, Migrate: m})
			if err == nil {
				t.Cleanup(func() { s.Close() })
			}
			return s, err
		}
		t.Run("too new", func(t *testing.T) {
			target := engineOf(t)(t)
			s, err := open(target, MigrateNewOnly)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.w.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ('9999_future.sql', 1)`); err != nil {
				t.Fatal(err)
			}
			var se *SchemaError
			if _, err := open(target, MigrateForward); !errors.As(err, &se) || !errors.Is(err, ErrSchemaTooNew) {
				t.Fatalf("got %v, want a *SchemaError wrapping ErrSchemaTooNew", err)
			}
		})
		t.Run("behind", func(t *testing.T) {
			target := engineOf(t)(t)
			s, err := open(target, MigrateNewOnly)
			if err != nil {
				t.Fatal(err)
			}
			latest := LatestMigration()
			if _, err := s.w.ExecContext(ctx, `DELETE FROM schema_migrations WHERE name = ?`, latest); err != nil {
				t.Fatal(err)
			}
			if _, err := open(target, MigrateNewOnly); !errors.Is(err, ErrSchemaBehind) {
				t.Fatalf("MigrateNewOnly: got %v, want ErrSchemaBehind", err)
			}
		})
		t.Run("foreign", func(t *testing.T) {
			target := engineOf(t)(t)
			raw, err := sql.Open(map[bool]string{true: "pgx", false: "sqlite"}[IsPostgres(target)], target)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.ExecContext(ctx, `CREATE TABLE other_app (id INTEGER PRIMARY KEY)`); err != nil {
				t.Fatal(err)
			}
			if _, err := open(target, MigrateForward); !errors.Is(err, ErrNotKeyward) {
				t.Fatalf("got %v, want ErrNotKeyward", err)
			}
		})
	})
}

// TestListenerReconnectDropsCache: PostgreSQL's change listener loses its
// connection (the server ends it); a change made while nobody listened is
// not missed, because the reconnected listener drops the whole cache.
func TestListenerReconnectDropsCache(t *testing.T) {
	ctx := context.Background()
	target := postgresTarget(t)
	clock := newFakeClock()
	open := func() *Store {
		s, err := Open(ctx, target, Options{Now: clock.Now, Argon2: testArgon2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	vb := NewVerifier(b, VerifierOptions{CacheTTL: time.Hour, Logger: quietVerifier(b).opt.Logger})
	u := ktUser(t, a, "alice@example.com")
	k, secret, err := a.CreateKey(ctx, u.ID, KeyInput{Name: "cached"}, CLIActor())
	if err != nil {
		t.Fatal(err)
	}
	runVerifier(t, vb)
	listening := func() int {
		var n int
		if err := a.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN `+changesChannel+`'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor(t, 10*time.Second, "B's listener connects", func() bool { return listening() == 1 })
	wantCode(t, verify(t, vb, secret, ""), "") // cached as valid

	// End the listener's connection, and revoke in the same statement's
	// wake: the NOTIFY goes to nobody.
	if _, err := a.w.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN `+changesChannel+`'`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.w.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ?`, toMillis(clock.Now()), k.ID); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 10*time.Second, "B refuses the key revoked while its listener was away", func() bool {
		res, err := vb.Verify(ctx, VerifyRequest{Key: secret})
		return err == nil && res.Code == CodeRevoked
	})
	t.Logf("refused %v after the listener's connection was ended", took)
}

// postgresTarget is a new PostgreSQL database for a test that only makes
// sense there (skipped without KEYWARD_TEST_POSTGRES).
func postgresTarget(t *testing.T) string {
	for _, e := range engines {
		if e.name == "postgres" {
			return e.target(t)
		}
	}
	t.Fatal("no postgres engine in the table")
	return ""
}
