package db

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"
	"time"
)

func TestMigrationsApplyOnceAndReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	opt := Options{Argon2: testArgon2}

	s, err := Open(ctx, path, opt)
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	u := mustCreateUser(t, s, "ada@example.com", RoleAdmin)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, err = Open(ctx, path, opt)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })

	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var applied int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&applied); err != nil {
		t.Fatalf("count migrations: %v", err)
	}
	if applied != len(files) {
		t.Errorf("got %d applied migrations, want %d", applied, len(files))
	}
	got, err := s.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatalf("GetUser after reopen: %v", err)
	}
	if got.Email != u.Email {
		t.Errorf("got email %q after reopen, want %q", got.Email, u.Email)
	}
	if res, err := s.IntegrityCheck(ctx); err != nil || res != "ok" {
		t.Errorf("got integrity %q, %v, want ok", res, err)
	}
}

func TestSchemaTables(t *testing.T) {
	s := newTestStore(t)
	for _, table := range []string{"users", "sessions", "audit_events", "settings"} {
		t.Run(table, func(t *testing.T) {
			var n int
			err := s.r.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("got %d tables named %s, want 1", n, table)
			}
		})
	}
}

func TestForeignKeysEnforced(t *testing.T) {
	s := newTestStore(t)
	u := mustCreateUser(t, s, "fk@example.com", RoleMember)
	if err := s.CreateSession(context.Background(), &Session{TokenHash: []byte("h1"), UserID: u.ID, ExpiresAt: s.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if _, err := s.w.Exec(`DELETE FROM users WHERE id = ?`, u.ID); err != nil {
		t.Fatalf("delete user: %v", err)
	}
	var n int
	if err := s.r.QueryRow(`SELECT COUNT(*) FROM sessions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("got %d sessions after deleting their user, want 0 (ON DELETE CASCADE)", n)
	}
	err := s.CreateSession(context.Background(), &Session{TokenHash: []byte("h2"), UserID: 999, ExpiresAt: s.Now().Add(time.Hour)})
	if err == nil {
		t.Errorf("got nil error for a session of a missing user, want a foreign key error")
	}
}
