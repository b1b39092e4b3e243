package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

// TestKeysEdit: keys edit changes only what its flags give, prints the key
// (one object of keys list --json with --json), audits before and after,
// and refuses what the key page refuses, with the flag's name.
func TestKeysEdit(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	c.createKey("--user", "ann@example.com", "--name", "deploy", "--description", "old", "--expires", "30d")
	id := "1"

	r := c.ok("", "keys", "edit", id, "--description", "ships builds", "--expires", "10d", "--json")
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout %q: %v", r.stdout, err)
	}
	list := c.listJSON()[0]
	for _, field := range []string{"id", "user", "name", "hint", "scopes", "created_at", "expires_at", "last_used_at", "status"} {
		if !equalJSON(got[field], list[field]) {
			t.Errorf("%s: edit printed %v, keys list --json says %v", field, got[field], list[field])
		}
	}
	if want := c.now.AddDate(0, 0, 10).Format(time.RFC3339); got["expires_at"] != want || got["name"] != "deploy" {
		t.Errorf("edited key: expires_at %v name %v, want %s and the name unchanged", got["expires_at"], got["name"], want)
	}
	events, err := c.store().ListAudit(context.Background(), db.AuditFilter{Action: db.ActionKeyUpdate})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Changes["description"] != (db.Change{Before: "old", After: "ships builds"}) ||
		events[0].Changes["expires_at"].After != got["expires_at"] || events[0].Actor != "cli" {
		t.Errorf("audit: got %+v, want one key.update by cli with description and expires_at before/after", events)
	}

	if err := c.store().SetPolicy(context.Background(), db.Policy{MaxKeyLifetime: 60 * 24 * time.Hour,
		StaleAfter: 90 * 24 * time.Hour, NeverUsedAfter: 30 * 24 * time.Hour}, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no flags", []string{id}, 2, "needs at least one of --allow-ip, --description, --expires, --meta, --name, --scopes"},
		{"no id", []string{"--name", "x"}, 2, "needs one key ID"},
		{"bad id", []string{"abc", "--name", "x"}, 2, "is not a key ID"},
		{"unknown key", []string{"99", "--name", "x"}, 1, "not found"},
		{"empty name", []string{id, "--name", " "}, 1, "--name: Enter a name."},
		{"bad expiry", []string{id, "--expires", "soon"}, 1, "--expires: \"soon\""},
		{"past", []string{id, "--expires", "2020-01-31"}, 1, "--expires: Choose an expiry in the future."},
		{"over the policy", []string{id, "--expires", "61d"}, 1, "--expires: Keys may live at most 60 days from their creation"},
		{"never with a policy", []string{id, "--expires", "never"}, 1, "--expires: Keys must expire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := c.listJSON()
			wantFailure(t, c.run("", append([]string{"keys", "edit"}, tt.args...)...), tt.code, tt.want)
			if after := c.listJSON(); !equalJSON(toAny(t, after), toAny(t, before)) {
				t.Errorf("keys changed: got %v, want %v", after, before)
			}
		})
	}

	t.Run("table output", func(t *testing.T) {
		r := c.ok("", "keys", "edit", id, "--name", "deploy-2", "--expires", "60d")
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != 2 || !strings.Contains(lines[1], "deploy-2") || !strings.Contains(lines[1], c.now.AddDate(0, 0, 60).Format("2006-01-02 15:04")) {
			t.Errorf("stdout: got %q, want the header and the edited row", r.stdout)
		}
		if !strings.Contains(r.stderr, "Saved key 1 \"deploy-2\"") {
			t.Errorf("stderr: got %q, want the saved message", r.stderr)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		c.ok("", "keys", "revoke", id)
		wantFailure(t, c.run("", "keys", "edit", id, "--name", "x"), 1, "This key is revoked and cannot be changed.")
	})
}

// toAny round-trips v through JSON so that equalJSON compares lists.
func toAny(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUserRoles: user add --auditor, and user role moving a user between
// admin, auditor and member under the last-admin rule.
func TestUserRoles(t *testing.T) {
	c := newCLI(t)
	c.addUser("admin@example.com", true)
	c.ok(testPassword+"\n", "user", "add", "--email", "audit@example.com", "--auditor")
	wantFailure(t, c.run(testPassword+"\n", "user", "add", "--email", "x@example.com", "--admin", "--auditor"), 2, "--admin or --auditor, not both")

	role := func(email string) db.Role {
		t.Helper()
		u, err := c.store().GetUserByEmail(context.Background(), email)
		if err != nil {
			t.Fatal(err)
		}
		return u.Role
	}
	if got := role("audit@example.com"); got != db.RoleAuditor {
		t.Fatalf("user add --auditor: got role %s, want auditor", got)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		want     string // stderr's first line contains it
		email    string
		wantRole db.Role
	}{
		{"auditor to member", []string{"audit@example.com", "member"}, 0, "audit@example.com is now member", "audit@example.com", db.RoleMember},
		{"member to auditor", []string{"audit@example.com", "AUDITOR"}, 0, "is now auditor", "audit@example.com", db.RoleAuditor},
		{"last admin", []string{"admin@example.com", "auditor"}, 1, "The last active admin cannot be demoted.", "admin@example.com", db.RoleAdmin},
		{"unknown role", []string{"audit@example.com", "owner"}, 2, "\"owner\" is not a role", "audit@example.com", db.RoleAuditor},
		{"unknown user", []string{"zed@example.com", "admin"}, 1, "no user has the email zed@example.com", "audit@example.com", db.RoleAuditor},
		{"missing role", []string{"audit@example.com"}, 2, "needs an email and a role", "audit@example.com", db.RoleAuditor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.run("", append([]string{"user", "role"}, tt.args...)...)
			if tt.code != 0 {
				wantFailure(t, r, tt.code, tt.want)
			} else if r.code != 0 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("got exit %d stdout %q stderr %q, want 0, nothing, %q", r.code, r.stdout, r.stderr, tt.want)
			}
			if got := role(tt.email); got != tt.wantRole {
				t.Errorf("%s: got role %s, want %s", tt.email, got, tt.wantRole)
			}
		})
	}
}

// TestKeysEditScopesAndLimits: keys edit --scopes goes through the
// catalog's rules (the CLI grants as an admin: admin-only scopes are fine,
// unknown ones are not), --allow-ip and --meta set the key's limits, each
// reaching verification; bad values are refused with the flag's name and
// change nothing.
func TestKeysEditScopesAndLimits(t *testing.T) {
	c := newCLI(t)
	ctx := context.Background()
	c.addUser("ann@example.com", false)
	c.ok("", "scopes", "add", "orders:read")
	c.ok("", "scopes", "add", "orders:refund", "--admin-only")
	secret := c.createKey("--user", "ann@example.com", "--name", "deploy", "--scopes", "orders:read")

	c.ok("", "keys", "edit", "1", "--scopes", "orders:read,orders:refund", "--allow-ip", "10.0.0.0/8, 2001:db8::/32",
		"--meta", `{"tenant":"t-1","plan":{"tier":"gold"}}`)
	v := db.NewVerifier(c.store(), db.VerifierOptions{})
	tests := []struct {
		name, scope, client string
		want                db.VerifyCode
	}{
		{"inside IPv4, new scope", "orders:refund", "10.1.2.3", ""},
		{"inside IPv6", "orders:read", "2001:db8::7", ""},
		{"outside", "", "192.0.2.1", db.CodeIPNotAllowed},
		{"no client address", "", "", db.CodeIPNotAllowed},
	}
	for _, tt := range tests {
		res, err := v.Verify(ctx, db.VerifyRequest{Key: secret, Scope: tt.scope, ClientIP: tt.client})
		if err != nil {
			t.Fatal(err)
		}
		if res.Code != tt.want {
			t.Errorf("%s: got code %q, want %q", tt.name, res.Code, tt.want)
		}
		if tt.want == "" && string(res.Meta) != `{"tenant":"t-1","plan":{"tier":"gold"}}` {
			t.Errorf("%s: meta %s, want the object as given", tt.name, res.Meta)
		}
	}

	bad := []struct {
		name string
		args []string
		want string
	}{
		{"scope not in the catalog", []string{"--scopes", "orders:write"}, "orders:write"},
		{"bad network", []string{"--allow-ip", "10.0.0.0/33"}, "--allow-ip"},
		{"metadata not an object", []string{"--meta", "[1,2]"}, "--meta"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			before, err := c.store().GetKey(ctx, db.AnyOwner(), 1)
			if err != nil {
				t.Fatal(err)
			}
			wantFailure(t, c.run("", append([]string{"keys", "edit", "1"}, tt.args...)...), 1, tt.want)
			after, err := c.store().GetKey(ctx, db.AnyOwner(), 1)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(after.Scopes, " ") != strings.Join(before.Scopes, " ") || after.Meta != before.Meta ||
				len(after.AllowedIPs) != len(before.AllowedIPs) {
				t.Errorf("key changed: got scopes %v meta %s ips %v, want %v %s %v",
					after.Scopes, after.Meta, after.AllowedIPs, before.Scopes, before.Meta, before.AllowedIPs)
			}
		})
	}

	c.ok("", "keys", "edit", "1", "--allow-ip", "", "--meta", "")
	k, err := c.store().GetKey(ctx, db.AnyOwner(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.AllowedIPs) != 0 || k.Meta != "" {
		t.Errorf("after clearing: got ips %v meta %q, want none", k.AllowedIPs, k.Meta)
	}
}
