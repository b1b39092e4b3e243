package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines to write
// while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cli is a test environment: a database file, environment variables and a
// clock shared by every invocation.
type cli struct {
	t      *testing.T
	dbPath string
	env    map[string]string
	now    time.Time
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyward.db")
	return &cli{
		t:      t,
		dbPath: path,
		env:    map[string]string{"KEYWARD_DB": path},
		now:    time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// app returns an app wired to this environment, with cheap argon2 params.
func (c *cli) app(stdin string, stdout, stderr *syncBuffer) *app {
	return &app{
		env:       func(k string) string { return c.env[k] },
		stdin:     strings.NewReader(stdin),
		stdout:    stdout,
		stderr:    stderr,
		dbOptions: db.Options{Argon2: dbtest.Argon2, Now: func() time.Time { return c.now }},
	}
}

// run runs keyward with args and stdin, like a shell would.
func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	var out, errb syncBuffer
	code := c.app(stdin, &out, &errb).run(context.Background(), args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// ok runs keyward and fails the test unless it exits 0.
func (c *cli) ok(stdin string, args ...string) result {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != 0 {
		c.t.Fatalf("keyward %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// store opens the test database directly, for checks behind the CLI.
func (c *cli) store() *db.Store {
	c.t.Helper()
	s, err := db.Open(context.Background(), c.dbPath, db.Options{Argon2: dbtest.Argon2, Now: func() time.Time { return c.now }})
	if err != nil {
		c.t.Fatalf("open store: %v", err)
	}
	c.t.Cleanup(func() { s.Close() })
	return s
}

const testPassword = "correct horse battery staple 42"

// addUser creates a member (or an admin) with testPassword.
func (c *cli) addUser(email string, admin bool) {
	c.t.Helper()
	args := []string{"user", "add", "--email", email}
	if admin {
		args = append(args, "--admin")
	}
	c.ok(testPassword+"\n", args...)
}

// createKey creates a key and returns its plaintext.
func (c *cli) createKey(args ...string) string {
	c.t.Helper()
	r := c.ok("", append([]string{"keys", "create"}, args...)...)
	return strings.TrimSuffix(r.stdout, "\n")
}

// listJSON runs keys list --json with extra args and decodes the result.
func (c *cli) listJSON(args ...string) []map[string]any {
	c.t.Helper()
	return c.listJSONArgs(append([]string{"keys", "list", "--json"}, args...)...)
}

// listJSONArgs runs keyward with exactly args and decodes a JSON array.
func (c *cli) listJSONArgs(args ...string) []map[string]any {
	c.t.Helper()
	r := c.ok("", args...)
	var out []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		c.t.Fatalf("keyward %s: %v in %q", strings.Join(args, " "), err, r.stdout)
	}
	return out
}

// wantFailure checks the contract for errors: non-zero exit, nothing on
// stdout, one "keyward: ..." line on stderr containing want.
func wantFailure(t *testing.T, r result, wantCode int, want string) {
	t.Helper()
	if r.code != wantCode {
		t.Errorf("got exit %d, want %d (stderr %q)", r.code, wantCode, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("got stdout %q, want nothing", r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "keyward: ") {
		t.Errorf("got stderr %q, want a line starting with \"keyward: \"", r.stderr)
	}
	if first, _, _ := strings.Cut(r.stderr, "\n"); !strings.Contains(first, want) {
		t.Errorf("got stderr %q, want its first line to contain %q", r.stderr, want)
	}
}

func TestUserAddPasswordFromStdin(t *testing.T) {
	tests := []struct {
		name, email, stdin string
		admin              bool
		wantRole           db.Role
	}{
		{"member, newline", "ann@example.com", testPassword + "\n", false, db.RoleMember},
		{"admin, CRLF and more lines", "Bob@Example.com", testPassword + "\r\nignored\n", true, db.RoleAdmin},
		{"no trailing newline", "cy@example.com", testPassword, false, db.RoleMember},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			email := tt.email
			args := []string{"user", "add", "--email", email}
			if tt.admin {
				args = append(args, "--admin")
			}
			r := c.ok(tt.stdin, args...)
			if r.stdout != "" {
				t.Errorf("got stdout %q, want nothing (the password was given)", r.stdout)
			}
			if strings.Contains(r.stderr, testPassword) {
				t.Errorf("stderr %q contains the password", r.stderr)
			}
			u, err := c.store().Authenticate(context.Background(), email, testPassword)
			if err != nil {
				t.Fatalf("Authenticate with the stdin password: %v", err)
			}
			if u.Role != tt.wantRole {
				t.Errorf("got role %q, want %q", u.Role, tt.wantRole)
			}
		})
	}
}

func TestUserAddGeneratesPassword(t *testing.T) {
	c := newCLI(t)
	r := c.ok("", "user", "add", "--email", "ann@example.com", "--admin")
	if !regexp.MustCompile(`^[0-9A-Za-z]{24}\n$`).MatchString(r.stdout) {
		t.Fatalf("got stdout %q, want exactly a generated password and a newline", r.stdout)
	}
	pw := strings.TrimSuffix(r.stdout, "\n")
	if err := db.CheckPassword(pw, "ann@example.com"); err != nil {
		t.Errorf("generated password fails CheckPassword: %v", err)
	}
	if strings.Contains(r.stderr, pw) {
		t.Errorf("stderr %q contains the generated password", r.stderr)
	}
	if _, err := c.store().Authenticate(context.Background(), "ann@example.com", pw); err != nil {
		t.Errorf("Authenticate with the generated password: %v", err)
	}
}

func TestUserAddErrors(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", true)
	tests := []struct {
		name, stdin string
		args        []string
		code        int
		want        string
	}{
		{"duplicate email", testPassword + "\n", []string{"--email", "ANN@example.com"}, 1, "already exists"},
		{"short password", "short\n", []string{"--email", "bob@example.com"}, 1, "password: Use at least 15 characters."},
		{"empty line", "\n", []string{"--email", "bob@example.com"}, 1, "password: Use at least"},
		{"bad email", testPassword + "\n", []string{"--email", "not-an-address"}, 1, "--email: "},
		{"missing email", "", nil, 2, "needs --email"},
		{"stray argument", "", []string{"bob@example.com"}, 2, "takes no arguments"},
		{"unknown flag", "", []string{"--email", "bob@example.com", "--root"}, 2, "-root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.run(tt.stdin, append([]string{"user", "add"}, tt.args...)...)
			wantFailure(t, r, tt.code, tt.want)
		})
	}
}

func TestUserDisableEnable(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", true)
	c.addUser("bob@example.com", false)

	c.ok("", "user", "disable", "bob@example.com")
	u, err := c.store().GetUserByEmail(context.Background(), "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !u.Disabled() {
		t.Errorf("got bob enabled after user disable, want disabled")
	}
	r := c.run("", "keys", "create", "--user", "bob@example.com", "--name", "ci")
	wantFailure(t, r, 1, "disabled")
	c.ok("", "user", "disable", "bob@example.com") // already disabled: no error
	c.ok("", "user", "enable", "bob@example.com")
	c.createKey("--user", "bob@example.com", "--name", "ci")

	wantFailure(t, c.run("", "user", "disable", "ann@example.com"), 1, "last active admin")
	wantFailure(t, c.run("", "user", "disable", "nobody@example.com"), 1, "no user has the email nobody@example.com")
	wantFailure(t, c.run("", "user", "disable"), 2, "one email address")
	wantFailure(t, c.run("", "user", "remove", "bob@example.com"), 2, "user remove")
}

var keyLine = regexp.MustCompile(`^kw_[0-9A-Za-z]{49}\n$`)

func TestKeysCreate(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	c.ok("", "scopes", "add", "deploy:write")
	c.ok("", "scopes", "add", "read")
	r := c.ok("", "keys", "create", "--user", "ann@example.com", "--name", "CI deploy",
		"--expires", "30d", "--scopes", "deploy:write,read", "--description", "GitHub Actions")
	if !keyLine.MatchString(r.stdout) {
		t.Fatalf("got stdout %q, want exactly one line matching %s", r.stdout, keyLine)
	}
	key := strings.TrimSuffix(r.stdout, "\n")
	if err := db.ParseKey(key); err != nil {
		t.Errorf("ParseKey(printed key): %v", err)
	}
	if strings.Contains(r.stderr, key) || strings.Contains(r.stderr, key[3:20]) {
		t.Errorf("stderr %q contains the key", r.stderr)
	}
	keys := c.listJSON()
	if len(keys) != 1 {
		t.Fatalf("got %d keys, want 1", len(keys))
	}
	k := keys[0]
	if got, want := k["name"], "CI deploy"; got != want {
		t.Errorf("got name %v, want %q", got, want)
	}
	if got, want := k["hint"], db.KeyHint(key); got != want {
		t.Errorf("got hint %v, want %q", got, want)
	}
	if got, want := k["expires_at"], c.now.AddDate(0, 0, 30).Format(time.RFC3339); got != want {
		t.Errorf("got expires_at %v, want %q", got, want)
	}
	if got, want := k["scopes"], []any{"deploy:write", "read"}; !equalJSON(got, want) {
		t.Errorf("got scopes %v, want %v", got, want)
	}
}

func TestKeysCreateErrors(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown user", []string{"--user", "zed@example.com", "--name", "x"}, 1, "no user has the email zed@example.com"},
		{"missing user", []string{"--name", "x"}, 2, "needs --user"},
		{"empty name", []string{"--user", "ann@example.com"}, 1, "--name: Enter a name."},
		{"bad expiry", []string{"--user", "ann@example.com", "--name", "x", "--expires", "soon"}, 1, "--expires: \"soon\""},
		{"zero days", []string{"--user", "ann@example.com", "--name", "x", "--expires", "0d"}, 1, "--expires"},
		{"past date", []string{"--user", "ann@example.com", "--name", "x", "--expires", "2020-01-31"}, 1, "--expires: Choose an expiry in the future."},
		{"bad scope", []string{"--user", "ann@example.com", "--name", "x", "--scopes", "Read"}, 1, "--scopes: "},
		{"stray argument", []string{"--user", "ann@example.com", "--name", "x", "y"}, 2, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantFailure(t, c.run("", append([]string{"keys", "create"}, tt.args...)...), tt.code, tt.want)
		})
	}
	if got := c.listJSON(); len(got) != 0 {
		t.Errorf("got %d keys after failed creates, want 0", len(got))
	}
}

func TestParseExpiry(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    string // RFC 3339, "" for never
		wantErr bool
	}{
		{"never", "", false},
		{"", "", false},
		{"NEVER", "", false},
		{"30d", "2026-03-31T12:00:00Z", false},
		{"12h", "2026-03-02T00:00:00Z", false},
		{"90m", "2026-03-01T13:30:00Z", false},
		{"2027-01-31", "2027-01-31T00:00:00Z", false},
		{"2027-01-31T10:00:00+02:00", "2027-01-31T08:00:00Z", false},
		{"0d", "", true},
		{"-1h", "", true},
		{"3 days", "", true},
		{"31/01/2027", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseExpiry(tt.in, now)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			gotS := ""
			if got != nil {
				gotS = got.Format(time.RFC3339)
			}
			if gotS != tt.want {
				t.Errorf("got %q, want %q", gotS, tt.want)
			}
		})
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}
