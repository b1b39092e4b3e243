package db

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
)

// TestMigration0009RebuildKeepsRows upgrades a SQLite database made by the
// Keyward before 0009 and checks the table rebuilds (users and user_tokens,
// applied with foreign keys off) lost nothing that references them: with
// foreign keys on, dropping the old users table would have cascaded into
// every session, key and link. It also checks that foreign keys are on
// again afterwards and that the rebuilt users table kept its triggers.
func TestMigration0009RebuildKeepsRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	i := slices.Index(migrationNames, "0009_governance.sql")
	if i < 0 {
		t.Fatal("no migration 0009_governance.sql")
	}
	createSchema(t, path, migrationNames[:i])
	execSQL(t, path,
		`INSERT INTO users (id, email, password_hash, role, created_at, password_changed_at) VALUES (1, 'ann@example.com', 'x', 'admin', 1, 1)`,
		`INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at) VALUES (x'01', 1, 1, 1, 9999999999999)`,
		`INSERT INTO api_keys (user_id, name, key_hash, hint, scopes, created_at) VALUES (1, 'deploy', x'02', 'kw_…abcd', 'read write:all', 1)`,
		`INSERT INTO user_tokens (kind, token_hash, email, role, created_at, expires_at) VALUES ('invite', x'03', 'bob@example.com', 'member', 1, 9999999999999)`,
		`INSERT INTO user_tokens (kind, token_hash, email, user_id, created_at, expires_at) VALUES ('reset', x'04', 'ann@example.com', 1, 1, 9999999999999)`,
	)

	s, err := Open(ctx, path, Options{Argon2: testArgon2, Migrate: MigrateForward})
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer s.Close()
	for _, c := range []struct {
		table string
		want  int
	}{{"users", 1}, {"sessions", 1}, {"api_keys", 1}, {"user_tokens", 2}} {
		var n int
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+c.table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != c.want {
			t.Errorf("%s after the upgrade: got %d rows, want %d", c.table, n, c.want)
		}
	}
	var scopes []string
	rows, err := s.r.QueryContext(ctx, `SELECT name FROM scopes ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		scopes = append(scopes, n)
	}
	rows.Close()
	if want := []string{"read", "write:all"}; !slices.Equal(scopes, want) {
		t.Errorf("catalog after the upgrade: got %v, want the scopes in use %v", scopes, want)
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at) VALUES (x'05', 999, 1, 1, 1)`); err == nil {
		t.Error("a session of a user that does not exist was stored: foreign keys are off after the migration, want them on")
	}
	var before, after int64
	if err := s.r.QueryRowContext(ctx, keyChangesSQL).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE users SET disabled_at = 5 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRowContext(ctx, keyChangesSQL).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before+1 {
		t.Errorf("key_changes after disabling a user: got version %d, want %d (users trigger lost in the rebuild)", after, before+1)
	}
}

// TestAuditorRoleStored: both engines' schemas admit the auditor role, for
// people and for invitations.
func TestAuditorRoleStored(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		s := newTestStore(t)
		ctx := context.Background()
		if _, err := s.w.ExecContext(ctx, `INSERT INTO users (email, password_hash, role, created_at, password_changed_at) VALUES ('aud@example.com', 'x', 'auditor', 1, 1)`); err != nil {
			t.Errorf("store an auditor: %v", err)
		}
		if _, err := s.w.ExecContext(ctx, `INSERT INTO user_tokens (kind, token_hash, email, role, created_at, expires_at) VALUES ('invite', ?, 'aud2@example.com', 'auditor', 1, 2)`, []byte{9}); err != nil {
			t.Errorf("store an auditor's invitation: %v", err)
		}
		if _, err := s.w.ExecContext(ctx, `INSERT INTO users (email, password_hash, role, created_at, password_changed_at) VALUES ('x@example.com', 'x', 'owner', 1, 1)`); err == nil {
			t.Error("stored the role 'owner': want the check to refuse roles other than admin, auditor and member")
		}
	})
}
