package main

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

// futureMigration is a migration a newer Keyward applied.
const futureMigration = "0099_from_a_newer_keyward.sql"

// sqlQuery runs one query of a single text column on the database at path,
// outside keyward, which may refuse to open it.
func sqlQuery(t *testing.T, path, query string) []string {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sqlExec runs statements on the database at path outside keyward.
func sqlExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+path)
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

// migrationsIn lists the migrations recorded in the database at path.
func migrationsIn(t *testing.T, path string) []string {
	t.Helper()
	return sqlQuery(t, path, `SELECT name FROM schema_migrations ORDER BY name`)
}

// previousSchema makes path the database the Keyward before this one
// would have left: every migration in db/migrations but the newest,
// applied and recorded as db.Open does. It returns the migrations applied.
func previousSchema(t *testing.T, path string) []string {
	t.Helper()
	files := migrationFiles(t)
	stmts := []string{`PRAGMA journal_mode = WAL`,
		`CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`}
	var names []string
	for _, f := range files[:len(files)-1] {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		names = append(names, name)
		stmts = append(stmts, string(body), `INSERT INTO schema_migrations (name, applied_at) VALUES ('`+name+`', 0)`)
	}
	sqlExec(t, path, stmts...)
	return names
}

// migrationFiles lists db/migrations/*.sql in the order they apply.
func migrationFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("db", "migrations", "*.sql"))
	if err != nil || len(files) < 2 {
		t.Fatalf("got migrations %v (%v), want at least two", files, err)
	}
	slices.Sort(files)
	return files
}

// schemaCommand is one command line that opens the database.
type schemaCommand struct {
	name, stdin string
	args        []string
}

// schemaCommands are every command that opens the database, with the
// arguments that would make each succeed on a database holding the user
// ann@example.com and the key 1.
func schemaCommands(t *testing.T) []schemaCommand {
	return []schemaCommand{
		{"serve", "", []string{"serve", "--addr", "127.0.0.1:0"}},
		{"user add", testPassword + "\n", []string{"user", "add", "--email", "bob@example.com"}},
		{"user disable", "", []string{"user", "disable", "ann@example.com"}},
		{"user enable", "", []string{"user", "enable", "ann@example.com"}},
		{"keys create", "", []string{"keys", "create", "--user", "ann@example.com", "--name", "second"}},
		{"keys list", "", []string{"keys", "list", "--json"}},
		{"keys revoke", "", []string{"keys", "revoke", "1"}},
		{"backup", "", []string{"backup", filepath.Join(t.TempDir(), "backup.db")}},
	}
}

// runBounded runs keyward like cli.run, but cancels it after a while, so
// that a serve which wrongly starts ends the test instead of hanging it.
func (c *cli) runBounded(stdin string, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb syncBuffer
	code := c.app(stdin, &out, &errb).run(ctx, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// TestCommandsRefuseNewerSchema: once a newer Keyward has applied a
// migration this one does not know, every command, serve included, refuses
// the database, says which migration and what to do, and changes nothing.
func TestCommandsRefuseNewerSchema(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", true)
	c.createKey("--user", "ann@example.com", "--name", "first")
	sqlExec(t, c.dbPath, `INSERT INTO schema_migrations (name, applied_at) VALUES ('`+futureMigration+`', 0)`)
	wantMigrations := migrationsIn(t, c.dbPath)

	for _, tt := range schemaCommands(t) {
		t.Run(tt.name, func(t *testing.T) {
			r := c.runBounded(tt.stdin, tt.args...)
			wantFailure(t, r, 1, "the database "+c.dbPath+" was upgraded by a newer Keyward: it records migrations this keyward ("+versionString()+") does not know: "+futureMigration+".")
			for _, want := range []string{
				"The newest migration this keyward knows is " + db.LatestMigration(),
				"Run the Keyward version that applied them",
				"restore a backup",
				"Nothing was changed.",
			} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("got stderr %q, want it to contain %q", r.stderr, want)
				}
			}
		})
	}

	if got := migrationsIn(t, c.dbPath); !reflect.DeepEqual(got, wantMigrations) {
		t.Errorf("got migrations %v after the refusals, want %v", got, wantMigrations)
	}
	users := sqlQuery(t, c.dbPath, `SELECT email || ' ' || COALESCE(disabled_at, 'enabled') FROM users`)
	if want := []string{"ann@example.com enabled"}; !reflect.DeepEqual(users, want) {
		t.Errorf("got users %v after the refusals, want %v", users, want)
	}
	keys := sqlQuery(t, c.dbPath, `SELECT name || ' ' || COALESCE(revoked_at, 'active') FROM api_keys`)
	if want := []string{"first active"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("got keys %v after the refusals, want %v", keys, want)
	}
}

// TestCommandsRefuseOlderSchemaUntilServe: a database the previous Keyward
// left is refused by every command but serve, which upgrades it; after
// that the commands work on it.
func TestCommandsRefuseOlderSchemaUntilServe(t *testing.T) {
	c := newCLI(t)
	previous := previousSchema(t, c.dbPath)
	latest := db.LatestMigration()

	for _, tt := range schemaCommands(t) {
		if tt.name == "serve" {
			continue // serve upgrades the database: below
		}
		t.Run(tt.name, func(t *testing.T) {
			r := c.runBounded(tt.stdin, tt.args...)
			wantFailure(t, r, 1, "the database "+c.dbPath+" has schema "+schemaName(previous[len(previous)-1])+", older than this keyward")
			for _, want := range []string{
				"only `keyward serve` upgrades a schema",
				"Start `keyward serve` of this version once (it applies " + latest + " at start-up), then run this command again.",
				"Nothing was changed.",
			} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("got stderr %q, want it to contain %q", r.stderr, want)
				}
			}
		})
	}
	if got := migrationsIn(t, c.dbPath); !reflect.DeepEqual(got, previous) {
		t.Fatalf("got migrations %v after the refusals, want %v", got, previous)
	}

	s := c.startServe()
	if code := s.stop(t); code != 0 {
		t.Fatalf("serve on the older schema: got exit %d, want 0; stderr:\n%s", code, s.stderr)
	}
	if got, want := migrationsIn(t, c.dbPath), append(slices.Clone(previous), latest); !reflect.DeepEqual(got, want) {
		t.Errorf("got migrations %v after serve, want %v", got, want)
	}
	c.addUser("ann@example.com", true)
	c.createKey("--user", "ann@example.com", "--name", "after the upgrade")
	if got := c.listJSON(); len(got) != 1 {
		t.Errorf("got %d keys after the upgrade, want 1", len(got))
	}
}

// TestVersionSchema: version prints the version alone on stdout, and on
// stderr this keyward's schema and the database's, whatever state the
// database is in, without creating or leaving any file.
func TestVersionSchema(t *testing.T) {
	latest := db.LatestMigration()
	files := migrationFiles(t)
	previous := filepath.Base(files[len(files)-2])
	thisSchema := "schema " + schemaName(latest) + "\n"
	tests := []struct {
		name    string
		prepare func(t *testing.T, c *cli)
		want    string // what follows "database PATH: "
	}{
		{"no database", func(*testing.T, *cli) {}, "none yet (it is created on first run)"},
		{"empty file", func(t *testing.T, c *cli) {
			if err := os.WriteFile(c.dbPath, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "empty (it gets its schema on first run)"},
		{"created by user add", func(t *testing.T, c *cli) {
			c.addUser("ann@example.com", true)
		}, "schema " + schemaName(latest)},
		{"older", func(t *testing.T, c *cli) {
			previousSchema(t, c.dbPath)
		}, "schema " + schemaName(previous) + ", older than this keyward: start `keyward serve` of this version once to upgrade it"},
		{"newer", func(t *testing.T, c *cli) {
			c.addUser("ann@example.com", true)
			sqlExec(t, c.dbPath, `INSERT INTO schema_migrations (name, applied_at) VALUES ('`+futureMigration+`', 0)`)
		}, "schema " + schemaName(futureMigration) + ", newer than this keyward (unknown migrations: " + futureMigration + ")"},
		{"not keyward's", func(t *testing.T, c *cli) {
			sqlExec(t, c.dbPath, `CREATE TABLE dashboards (id INTEGER PRIMARY KEY)`)
		}, "not a Keyward database (it has tables dashboards"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			c.dbPath = filepath.Join(t.TempDir(), "data", "keyward.db")
			c.env["KEYWARD_DB"] = c.dbPath
			if err := os.MkdirAll(filepath.Dir(c.dbPath), 0o700); err != nil {
				t.Fatal(err)
			}
			tt.prepare(t, c)
			before := dirListing(t, filepath.Dir(c.dbPath))

			r := c.run("", "version")
			if r.code != 0 {
				t.Fatalf("got exit %d, want 0 (stderr %q)", r.code, r.stderr)
			}
			if want := versionString() + "\n"; r.stdout != want {
				t.Errorf("got stdout %q, want exactly %q", r.stdout, want)
			}
			if !strings.HasPrefix(r.stderr, thisSchema) {
				t.Errorf("got stderr %q, want it to start with %q", r.stderr, thisSchema)
			}
			if want := "database " + c.dbPath + ": "; !strings.Contains(r.stderr, want+tt.want) {
				t.Errorf("got stderr %q, want it to contain %q", r.stderr, want+tt.want)
			}
			if after := dirListing(t, filepath.Dir(c.dbPath)); !reflect.DeepEqual(after, before) {
				t.Errorf("got files %v after version, want %v", after, before)
			}
		})
	}

	t.Run("no database directory", func(t *testing.T) {
		c := newCLI(t)
		c.dbPath = filepath.Join(t.TempDir(), "data", "keyward.db")
		r := c.run("", "version", "--db", c.dbPath)
		if r.code != 0 || r.stdout != versionString()+"\n" {
			t.Errorf("got exit %d, stdout %q, want 0 and the version", r.code, r.stdout)
		}
		if _, err := os.Stat(filepath.Dir(c.dbPath)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got %v from stat, want version to create no directory", err)
		}
	})
}

// dirListing lists the names in dir.
func dirListing(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
