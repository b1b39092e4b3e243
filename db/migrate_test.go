package db

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
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

// createSchema makes the database at path as a Keyward that embedded only
// the migrations named would have left it, through the same migrate step
// Open runs.
func createSchema(t *testing.T, path string, names []string) {
	t.Helper()
	w, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	s := newStore(sqliteDialect, w, w, path, Options{})
	if err := s.migrate(context.Background(), names); err != nil {
		t.Fatalf("migrate %v: %v", names, err)
	}
}

// execSQL runs statements on the database at path outside any Store.
func execSQL(t *testing.T, path string, stmts ...string) {
	t.Helper()
	d, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, q := range stmts {
		if _, err := d.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// recordedMigrations lists schema_migrations of the database at path.
func recordedMigrations(t *testing.T, path string) []string {
	t.Helper()
	st, err := ReadSchema(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Applied
}

// previous is every migration but the newest: the schema of the Keyward
// before this one.
func previous() []string { return migrationNames[:len(migrationNames)-1] }

func TestOpenRefusesUnknownMigrations(t *testing.T) {
	const future = "9999_from_a_newer_keyward.sql"
	tests := []struct {
		name        string
		applied     []string // the migrations the database has, besides future
		wantMissing []string
	}{
		{"every known migration", migrationNames, nil},
		{"behind as well", previous(), []string{LatestMigration()}},
	}
	modes := []struct {
		name string
		m    Migration
	}{{"new only", MigrateNewOnly}, {"forward", MigrateForward}}
	for _, tt := range tests {
		for _, mode := range modes {
			t.Run(tt.name+"/"+mode.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "keyward.db")
				createSchema(t, path, tt.applied)
				execSQL(t, path, `INSERT INTO schema_migrations (name, applied_at) VALUES ('`+future+`', 0)`)
				before := recordedMigrations(t, path)

				s, err := Open(context.Background(), path, Options{Argon2: testArgon2, Migrate: mode.m})
				if err == nil {
					s.Close()
					t.Fatal("got nil error, want ErrSchemaTooNew")
				}
				if !errors.Is(err, ErrSchemaTooNew) {
					t.Errorf("got %v, want ErrSchemaTooNew", err)
				}
				var se *SchemaError
				if !errors.As(err, &se) {
					t.Fatalf("got %T, want *SchemaError", err)
				}
				if !reflect.DeepEqual(se.Unknown, []string{future}) {
					t.Errorf("got Unknown %v, want [%s]", se.Unknown, future)
				}
				if !reflect.DeepEqual(se.Missing, tt.wantMissing) {
					t.Errorf("got Missing %v, want %v", se.Missing, tt.wantMissing)
				}
				if se.Latest != LatestMigration() || se.Current != future {
					t.Errorf("got Latest %q, Current %q, want %q, %q", se.Latest, se.Current, LatestMigration(), future)
				}
				for _, want := range []string{future, LatestMigration()} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("got message %q, want it to name %s", err, want)
					}
				}
				if got := recordedMigrations(t, path); !reflect.DeepEqual(got, before) {
					t.Errorf("got migrations %v after the refusal, want them untouched %v", got, before)
				}
			})
		}
	}
}

func TestOpenBehindSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	createSchema(t, path, previous())

	_, err := Open(ctx, path, Options{Argon2: testArgon2})
	var se *SchemaError
	if !errors.Is(err, ErrSchemaBehind) || !errors.As(err, &se) {
		t.Fatalf("default Open: got %v, want a *SchemaError for ErrSchemaBehind", err)
	}
	if se.TooNew() || !reflect.DeepEqual(se.Missing, []string{LatestMigration()}) || se.Current != previous()[len(previous())-1] {
		t.Errorf("got %+v, want Missing [%s] and Current the one before", se, LatestMigration())
	}
	if got := recordedMigrations(t, path); !reflect.DeepEqual(got, previous()) {
		t.Errorf("got migrations %v after the refusal, want %v", got, previous())
	}

	s, err := Open(ctx, path, Options{Argon2: testArgon2, Migrate: MigrateForward})
	if err != nil {
		t.Fatalf("Open with MigrateForward: %v", err)
	}
	mustCreateUser(t, s, "ada@example.com", RoleAdmin)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := recordedMigrations(t, path); !reflect.DeepEqual(got, migrationNames) {
		t.Errorf("got migrations %v after MigrateForward, want %v", got, migrationNames)
	}
	s, err = Open(ctx, path, Options{Argon2: testArgon2})
	if err != nil {
		t.Fatalf("default Open once migrated: %v", err)
	}
	s.Close()
}

func TestOpenNewDatabase(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
	}{
		{"no file", func(*testing.T, string) {}},
		{"empty file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"first run stopped before its first migration", func(t *testing.T, path string) {
			execSQL(t, path, `CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keyward.db")
			tt.prepare(t, path)
			s, err := Open(context.Background(), path, Options{Argon2: testArgon2, Migrate: MigrateNewOnly})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			mustCreateUser(t, s, "ada@example.com", RoleAdmin)
			s.Close()
			if got := recordedMigrations(t, path); !reflect.DeepEqual(got, migrationNames) {
				t.Errorf("got migrations %v, want %v", got, migrationNames)
			}
		})
	}
}

// TestOpenRefusesForeignDatabase: a file some other program made is not
// taken for a new database, and Open leaves it exactly as it was: not even
// switched to WAL, as the Store's own connections would.
func TestOpenRefusesForeignDatabase(t *testing.T) {
	for _, mode := range []struct {
		name string
		m    Migration
	}{{"new only", MigrateNewOnly}, {"forward", MigrateForward}} {
		t.Run(mode.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "other.db")
			d, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := d.Exec(`CREATE TABLE dashboards (id INTEGER PRIMARY KEY)`); err != nil {
				t.Fatal(err)
			}

			_, err = Open(context.Background(), path, Options{Argon2: testArgon2, Migrate: mode.m})
			if !errors.Is(err, ErrNotKeyward) || !strings.Contains(err.Error(), "dashboards") {
				t.Fatalf("got %v, want ErrNotKeyward naming the table dashboards", err)
			}
			var journal string
			if err := d.QueryRow(`PRAGMA journal_mode`).Scan(&journal); err != nil {
				t.Fatal(err)
			}
			if journal != "delete" {
				t.Errorf("got journal mode %q after the refusal, want delete (untouched)", journal)
			}
			var tables []string
			rows, err := d.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var n string
				if err := rows.Scan(&n); err != nil {
					t.Fatal(err)
				}
				tables = append(tables, n)
			}
			rows.Close()
			if !reflect.DeepEqual(tables, []string{"dashboards"}) {
				t.Errorf("got tables %v after the refusal, want [dashboards] alone", tables)
			}
		})
	}
}

// dirNames lists the files in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestReadSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	t.Run("missing file", func(t *testing.T) {
		missing := filepath.Join(dir, "nothing-here", "keyward.db")
		if _, err := ReadSchema(ctx, missing); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v, want fs.ErrNotExist", err)
		}
		if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v from stat, want nothing created", err)
		}
	})

	tests := []struct {
		name        string
		applied     []string
		wantMissing []string
		wantCurrent string
		wantEmpty   bool
		wantTables  bool
	}{
		{"up to date", migrationNames, nil, LatestMigration(), false, true},
		{"behind", previous(), []string{LatestMigration()}, previous()[len(previous())-1], false, true},
		{"empty", nil, migrationNames, "", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "keyward.db")
			if tt.applied == nil {
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			} else {
				createSchema(t, path, tt.applied)
			}
			before := dirNames(t, dir)
			st, err := ReadSchema(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(st.Missing, tt.wantMissing) || st.Unknown != nil || st.Current() != tt.wantCurrent {
				t.Errorf("got Missing %v, Unknown %v, Current %q, want %v, none, %q", st.Missing, st.Unknown, st.Current(), tt.wantMissing, tt.wantCurrent)
			}
			if st.Empty() != tt.wantEmpty || (len(st.Tables) > 0) != tt.wantTables || st.Foreign() {
				t.Errorf("got Empty %v, tables %v, Foreign %v, want Empty %v", st.Empty(), st.Tables, st.Foreign(), tt.wantEmpty)
			}
			if after := dirNames(t, dir); !reflect.DeepEqual(after, before) {
				t.Errorf("got files %v after ReadSchema, want %v (nothing left behind)", after, before)
			}
		})
	}
}

func TestMigrationNumber(t *testing.T) {
	tests := []struct {
		name string
		want int
	}{
		{"0004_key_changes.sql", 4},
		{"0123_teams.sql", 123},
		{"init.sql", 0},
		{"", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MigrationNumber(tt.name); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
	if got, want := MigrationNumber(LatestMigration()), len(migrationNames); got != want {
		t.Errorf("got latest number %d, want %d: migrations are numbered 1, 2, 3… without gaps", got, want)
	}
}
