package db

import (
	"context"
	"database/sql"
	"reflect"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// oldSchemaStore makes target (a new database of t's engine) a Keyward of
// the migrations named, through the same migrate step Open runs, and
// returns a store on it for raw writes (no Open: that would migrate on).
func oldSchemaStore(t *testing.T, target string, names []string) *Store {
	t.Helper()
	var (
		pool *sql.DB
		d    = sqliteDialect
	)
	if IsPostgres(target) {
		cfg, err := pgx.ParseConfig(target)
		if err != nil {
			t.Fatal(err)
		}
		pool, d = stdlib.OpenDB(*cfg), postgresDialect
	} else {
		var err error
		if pool, err = sql.Open("sqlite", dsn(target, true)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { pool.Close() })
	s := newStore(d, pool, pool, target, Options{})
	if err := s.migrate(context.Background(), names); err != nil {
		t.Fatalf("migrate %v: %v", names, err)
	}
	return s
}

// TestUpgradeSeedsCatalogFromScopesInUse opens a database made by the
// Keyward before the catalog (migration 0008), whose keys carry free-text
// scopes, with MigrateForward: every key still verifies with its scopes,
// the catalog lists exactly the scopes unrevoked keys carry (members may
// grant them, no approval), and a member can still make a key with them.
func TestUpgradeSeedsCatalogFromScopesInUse(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		target := engineOf(t)(t)
		i := slices.IndexFunc(migrationNames, func(n string) bool { return MigrationNumber(n) == 8 })
		if i < 0 {
			t.Fatalf("no migration 0008 in %v", migrationNames)
		}
		old := oldSchemaStore(t, target, migrationNames[:i+1])
		var userID int64
		if err := old.w.QueryRowContext(ctx, `INSERT INTO users (email, password_hash, role, created_at, password_changed_at)
			VALUES ('ann@example.com', 'x', 'member', 0, 0) RETURNING id`).Scan(&userID); err != nil {
			t.Fatal(err)
		}
		keys := []struct {
			scopes  string
			revoked bool
		}{
			{"read:orders write:orders", false},
			{"read:orders", false},
			{"deploy", false},
			{"", false},
			{"gone:forever", true},
		}
		secrets := make([]string, len(keys))
		for n, k := range keys {
			secret, err := GenerateKey()
			if err != nil {
				t.Fatal(err)
			}
			secrets[n] = secret
			h := HashKey(secret)
			revoked := sql.NullInt64{Int64: 1, Valid: k.revoked}
			if _, err := old.w.ExecContext(ctx, `INSERT INTO api_keys (user_id, name, key_hash, hint, scopes, created_at, revoked_at)
				VALUES (?, ?, ?, ?, ?, 0, ?)`, userID, "key", h[:], KeyHint(secret), k.scopes, revoked); err != nil {
				t.Fatal(err)
			}
		}

		s, err := Open(ctx, target, Options{Argon2: testArgon2, Migrate: MigrateForward})
		if err != nil {
			t.Fatalf("Open with MigrateForward: %v", err)
		}
		t.Cleanup(func() { s.Close() })

		v := quietVerifier(s)
		for n, k := range keys {
			want := splitScopes(k.scopes)
			if k.revoked {
				wantCode(t, verify(t, v, secrets[n], ""), CodeRevoked)
				continue
			}
			for _, sc := range append([]string{""}, want...) {
				res := verify(t, v, secrets[n], sc)
				wantCode(t, res, "")
				if !slices.Equal(res.Scopes, want) {
					t.Errorf("key %d asked for %q: got scopes %v, want %v", n, sc, res.Scopes, want)
				}
			}
		}

		list, err := s.ListScopes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, sc := range list {
			names = append(names, sc.Name)
			if sc.AdminOnly || sc.NeedsApproval || sc.Retired() {
				t.Errorf("seeded %+v, want member-grantable, no approval, not retired", sc)
			}
		}
		if want := []string{"deploy", "read:orders", "write:orders"}; !reflect.DeepEqual(names, want) {
			t.Errorf("got catalog %v, want exactly the scopes in use %v", names, want)
		}
		if on, err := s.ScopesOutsideCatalog(ctx); err != nil || on {
			t.Errorf("scopes outside the catalog: got %v (%v), want off", on, err)
		}

		member := mustCreateUser(t, s, "bob@example.com", RoleMember)
		k, secret, err := s.CreateKey(ctx, member.ID, KeyInput{Name: "new", Scopes: []string{"read:orders", "write:orders", "deploy"}}, actorOf(member))
		if err != nil || k.PendingKey {
			t.Fatalf("member's key with the seeded scopes: %+v, %v", k, err)
		}
		wantCode(t, verify(t, v, secret, "deploy"), "")
	})
}
