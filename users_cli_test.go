package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

func TestUsersList(t *testing.T) {
	c := newCLI(t)
	c.addUser("bob@example.com", false)
	c.addUser("ann@example.com", true)
	c.createKey("--user", "bob@example.com", "--name", "one")
	c.createKey("--user", "bob@example.com", "--name", "two")
	c.ok("", "user", "disable", "bob@example.com")

	users := c.listJSONArgs("users", "list", "--json")
	if len(users) != 2 {
		t.Fatalf("got %d users, want 2", len(users))
	}
	ann, bob := users[0], users[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"first email (by email)", ann["email"], "ann@example.com"},
		{"ann role", ann["role"], "admin"},
		{"ann disabled_at", ann["disabled_at"], nil},
		{"ann last_login_at", ann["last_login_at"], nil},
		{"ann active_keys", ann["active_keys"], 0.0},
		{"ann created_at", ann["created_at"], c.now.Format(time.RFC3339)},
		{"bob role", bob["role"], "member"},
		{"bob disabled_at", bob["disabled_at"], c.now.Format(time.RFC3339)},
		{"bob active_keys (disabled)", bob["active_keys"], 0.0},
	}
	for _, ck := range checks {
		if !equalJSON(ck.got, ck.want) {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	c.ok("", "user", "enable", "bob@example.com")
	if got := c.listJSONArgs("user", "list", "--json")[1]["active_keys"]; got != 2.0 {
		t.Errorf("bob active_keys once enabled: got %v, want 2", got)
	}

	r := c.ok("", "users", "list")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want a header and two rows:\n%s", len(lines), r.stdout)
	}
	if got, want := strings.Join(strings.Fields(lines[0]), " "), "ID EMAIL ROLE STATUS ACTIVE KEYS CREATED LAST LOGIN"; got != want {
		t.Errorf("got header %q, want %q", got, want)
	}
	if got, want := strings.Fields(lines[2])[1:5], []string{"bob@example.com", "member", "active", "2"}; !equalJSON(got, want) {
		t.Errorf("bob's row: got %q, want %q", got, want)
	}
	wantFailure(t, c.run("", "users", "list", "extra"), 2, "takes no arguments")
	wantFailure(t, c.run("", "users"), 2, "add, list, invite, role, disable or enable")
}

func TestUsersInvite(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", true)
	c.env["KEYWARD_BASE_URL"] = "https://keys.example.com/"
	r := c.ok("", "users", "invite", "--email", "Bea@Example.com", "--auditor")
	link := regexp.MustCompile(`^https://keys\.example\.com/invite/(\S+)\n$`).FindStringSubmatch(r.stdout)
	if link == nil {
		t.Fatalf("got stdout %q, want exactly the invite link", r.stdout)
	}
	if strings.Contains(r.stderr, link[1]) || !strings.Contains(r.stderr, "Invited bea@example.com as auditor") {
		t.Errorf("got stderr %q, want the invite named without its token", r.stderr)
	}
	tok, err := c.store().LookupToken(context.Background(), db.TokenInvite, link[1])
	if err != nil {
		t.Fatalf("look up the printed invite: %v", err)
	}
	if tok.Email != "bea@example.com" || tok.Role != db.RoleAuditor {
		t.Errorf("invite: got %s as %s, want bea@example.com as auditor", tok.Email, tok.Role)
	}

	delete(c.env, "KEYWARD_BASE_URL")
	r = c.ok("", "users", "invite", "--email", "cy@example.com")
	if !strings.HasPrefix(r.stdout, "http://localhost:8080/invite/") || !strings.Contains(r.stderr, "No --base-url") {
		t.Errorf("without --base-url: got stdout %q stderr %q, want a localhost link and a note", r.stdout, r.stderr)
	}

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"existing user", []string{"--email", "ann@example.com"}, 1, "already"},
		{"bad email", []string{"--email", "nope"}, 1, "--email: "},
		{"no email", nil, 2, "needs --email"},
		{"two roles", []string{"--email", "d@example.com", "--admin", "--auditor"}, 2, "not both"},
		{"stray argument", []string{"d@example.com"}, 2, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantFailure(t, c.run("", append([]string{"users", "invite"}, tt.args...)...), tt.code, tt.want)
		})
	}
}
