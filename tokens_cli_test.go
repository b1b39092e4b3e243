package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// tokenPattern is the published scanner regex of management tokens.
var tokenPattern = regexp.MustCompile(`^kwt_[0-9A-Za-z]{49}$`)

func TestTokensCLI(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	c.addUser("root@example.com", true)

	r := c.ok("", "tokens", "create", "--user", "ann@example.com", "--name", "deploy")
	secret := strings.TrimSuffix(r.stdout, "\n")
	if !tokenPattern.MatchString(secret) || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("stdout: got %q, want the token alone on one line", r.stdout)
	}
	if strings.Contains(r.stderr, secret) || !strings.Contains(r.stderr, "keys:read,keys:write") || !strings.Contains(r.stderr, "2026-05-30") {
		t.Errorf("stderr: got %q, want the permissions and the 90-day expiry, never the token", r.stderr)
	}
	c.ok("", "tokens", "create", "--user", "root@example.com", "--name", "audit", "--permissions", "admin:read", "--expires", "never")

	store := c.store()
	tok, u, err := store.AuthenticateAPIToken(context.Background(), secret, "")
	store.Close()
	if err != nil || u.Email != "ann@example.com" || tok.Name != "deploy" {
		t.Fatalf("the printed token: got %+v %s %v, want ann's deploy token", tok, u.Email, err)
	}

	t.Run("list --json", func(t *testing.T) {
		var got []tokenJSON
		if err := json.Unmarshal([]byte(c.ok("", "tokens", "list", "--json").stdout), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("got %d tokens, want 2: %+v", len(got), got)
		}
		byUser := map[string]tokenJSON{}
		for _, tk := range got {
			byUser[tk.User] = tk
		}
		ann, root := byUser["ann@example.com"], byUser["root@example.com"]
		if ann.Name != "deploy" || strings.Join(ann.Permissions, ",") != "keys:read,keys:write" || ann.Status != "active" ||
			ann.ExpiresAt == nil || ann.Hint != "kwt_…"+secret[len(secret)-4:] {
			t.Errorf("ann's: got %+v", ann)
		}
		if root.ExpiresAt != nil || strings.Join(root.Permissions, ",") != "admin:read" {
			t.Errorf("root's: got %+v, want admin:read, no expiry", root)
		}
		if got := c.ok("", "tokens", "list", "--user", "ann@example.com", "--json").stdout; strings.Contains(got, "root@") {
			t.Errorf("--user ann: got %s, want only ann's", got)
		}
	})
	t.Run("list table", func(t *testing.T) {
		out := c.ok("", "tokens", "list").stdout
		if !strings.HasPrefix(out, "ID") || !strings.Contains(out, "deploy") || strings.Contains(out, secret) {
			t.Errorf("got %q, want a table with the tokens and no secret", out)
		}
	})
	t.Run("revoke", func(t *testing.T) {
		r := c.ok("", "tokens", "revoke", fmt.Sprint(tok.ID))
		if r.stdout != "" || !strings.Contains(r.stderr, "Revoked management token") {
			t.Errorf("got stdout %q stderr %q", r.stdout, r.stderr)
		}
		store := c.store()
		defer store.Close()
		if _, _, err := store.AuthenticateAPIToken(context.Background(), secret, ""); err == nil {
			t.Error("the revoked token still authenticates")
		}
		ev, err := store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionTokenRevoke})
		if err != nil || len(ev) != 1 || ev[0].Actor != "cli" {
			t.Errorf("audit: got %+v (%v), want one token.revoke by cli", ev, err)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			code int
			want string
		}{
			{"no user", []string{"tokens", "create", "--name", "x"}, 2, "needs --user"},
			{"unknown user", []string{"tokens", "create", "--user", "zed@example.com", "--name", "x"}, 1, "no user has the email"},
			{"no name", []string{"tokens", "create", "--user", "ann@example.com"}, 1, "Give the token a name"},
			{"unknown permission", []string{"tokens", "create", "--user", "ann@example.com", "--name", "x", "--permissions", "keys:all"}, 1, `"keys:all" is not a permission`},
			{"beyond the role", []string{"tokens", "create", "--user", "ann@example.com", "--name", "x", "--permissions", "admin:write"}, 1, "does not hold admin:write"},
			{"over a year", []string{"tokens", "create", "--user", "ann@example.com", "--name", "x", "--expires", "400d"}, 1, "at most a year"},
			{"bad expiry", []string{"tokens", "create", "--user", "ann@example.com", "--name", "x", "--expires", "soon"}, 1, "--expires"},
			{"revoke twice", []string{"tokens", "revoke", fmt.Sprint(tok.ID)}, 1, "already revoked"},
			{"revoke unknown", []string{"tokens", "revoke", "999"}, 1, "No such token"},
			{"revoke no id", []string{"tokens", "revoke"}, 2, "one token ID"},
			{"revoke bad id", []string{"tokens", "revoke", "x"}, 2, "not a token ID"},
			{"unknown command", []string{"tokens", "mint"}, 2, "want create, list or revoke"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantFailure(t, c.run("", tt.args...), tt.code, tt.want)
			})
		}
	})
	t.Run("help", func(t *testing.T) {
		if out := c.ok("", "help", "tokens").stdout; !strings.Contains(out, "keyward tokens create --user E") {
			t.Errorf("help tokens: got %q", out)
		}
		if out := c.ok("", "help").stdout; !strings.Contains(out, "keyward tokens list") {
			t.Error("the overview does not list tokens")
		}
	})
}
