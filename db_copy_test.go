package main

import (
	"errors"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/db/pgtest"
)

// TestDBCopy moves a SQLite installation to PostgreSQL through the CLI:
// exit 0, nothing on stdout, a line per table and a summary on stderr with
// no password in them; the key made on SQLite is listed by the copy with
// the same id; a second copy into the now filled target is refused (exit
// 1) and changes nothing.
func TestDBCopy(t *testing.T) {
	target := pgtest.Database(t)
	c := newCLI(t)
	c.addUser("admin@example.com", true)
	c.createKey("--user", "admin@example.com", "--name", "deploy")
	before := c.listJSON()

	r := c.ok("", "db", "copy", "--from", c.dbPath, "--to", target)
	if r.stdout != "" {
		t.Errorf("got stdout %q, want nothing", r.stdout)
	}
	for _, want := range []string{"Copied 32 tables", "api_keys", "1 row ", "sha256:"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("got stderr %q, want it to contain %q", r.stderr, want)
		}
	}
	if u, _ := url.Parse(target); u != nil {
		if pw, ok := u.User.Password(); ok && strings.Contains(r.stderr, ":"+pw+"@") {
			t.Errorf("got stderr %q, want the URL's password replaced", r.stderr)
		}
	}
	if lines := regexp.MustCompile(`(?m)^  \S+ +\d+ rows? +sha256:[0-9a-f]{64}$`).FindAllString(r.stderr, -1); len(lines) != 32 {
		t.Errorf("got %d table lines in stderr %q, want 32 (migration 0009 added teams, team_members and scopes; 0010 api_tokens and api_idempotency; 0011 the six notification tables; 0012 five activity tables; 0013 four sign-in tables)", len(lines), r.stderr)
	}
	after := c.listJSONArgs("keys", "list", "--json", "--db", target)
	if len(after) != 1 || after[0]["id"] != before[0]["id"] || after[0]["hint"] != before[0]["hint"] || after[0]["status"] != "active" {
		t.Errorf("keys on the copy: got %v, want %v", after, before)
	}

	again := c.run("", "db", "copy", "--from", c.dbPath, "--to", target)
	wantFailure(t, again, 1, "the target database is not empty (users: 1 row")
	if got := c.listJSONArgs("keys", "list", "--json", "--db", target); len(got) != 1 {
		t.Errorf("keys on the copy after the refused second copy: got %d, want 1", len(got))
	}
}

// TestDBCopyUsage: what the command line itself gets wrong exits 2 before
// any database is opened; a missing source exits 1.
func TestDBCopyUsage(t *testing.T) {
	const pg = "postgres://keyward:s3cret@localhost:1/keyward"
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		want     string
	}{
		{"no subcommand", nil, []string{"db"}, 2, "db needs a command: copy"},
		{"unknown subcommand", nil, []string{"db", "move"}, 2, `unknown command "db move"`},
		{"no --to", nil, []string{"db", "copy"}, 2, "db copy needs --to postgres://"},
		{"SQLite --to", nil, []string{"db", "copy", "--to", "other.db"}, 2, "--to other.db is not a PostgreSQL URL"},
		{"PostgreSQL --from", nil, []string{"db", "copy", "--from", pg, "--to", pg}, 2, "--from postgres://keyward:xxxxx@localhost:1/keyward is PostgreSQL"},
		{"--db names PostgreSQL", map[string]string{"KEYWARD_DB": pg}, []string{"db", "copy", "--to", pg}, 2, "db copy needs --from: KEYWARD_DB names PostgreSQL"},
		{"argument", nil, []string{"db", "copy", "--to", pg, "extra"}, 2, "db copy takes no arguments"},
		{"missing source", nil, []string{"db", "copy", "--from", "missing.db", "--to", pg}, 1, "no database at missing.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			for k, v := range tt.env {
				c.env[k] = v
			}
			r := c.run("", tt.args...)
			wantFailure(t, r, tt.wantCode, tt.want)
			if strings.Contains(r.stderr, "s3cret") {
				t.Errorf("got stderr %q, want no password", r.stderr)
			}
			if _, err := os.Stat("missing.db"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("missing.db: got %v, want no file created", err)
			}
		})
	}
}
