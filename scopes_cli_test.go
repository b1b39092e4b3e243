package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestScopesCLI(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	c.ok("", "scopes", "add", "orders:read", "--description", "See orders")
	c.ok("", "scopes", "add", "billing:admin", "--admin-only")
	c.ok("", "scopes", "add", "billing:write", "--needs-approval")

	t.Run("list --json", func(t *testing.T) {
		var got []scopeJSON
		if err := json.Unmarshal([]byte(c.ok("", "scopes", "list", "--json").stdout), &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]scopeJSON{
			"billing:admin": {Name: "billing:admin", Grant: "admin"},
			"billing:write": {Name: "billing:write", Grant: "member", NeedsApproval: true},
			"orders:read":   {Name: "orders:read", Grant: "member", Description: "See orders"},
		}
		if len(got) != len(want) {
			t.Fatalf("got %d scopes, want %d", len(got), len(want))
		}
		for _, sc := range got {
			if w := want[sc.Name]; sc != w {
				t.Errorf("got %+v, want %+v", sc, w)
			}
		}
	})
	t.Run("refusals", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			code int
			want string
		}{
			{"bad name", []string{"scopes", "add", "Orders"}, 1, "is not allowed"},
			{"duplicate", []string{"scopes", "add", "orders:read"}, 1, "already in the catalog"},
			{"no name", []string{"scopes", "add"}, 2, "one scope NAME"},
			{"unknown command", []string{"scopes", "drop"}, 2, "want list, add or retire"},
			{"retire unknown", []string{"scopes", "retire", "nope"}, 1, "Scope not found"},
			{"key with a scope outside the catalog", []string{"keys", "create", "--user", "ann@example.com", "--name", "x", "--scopes", "admin:all"}, 1, `"admin:all" is not in the catalog`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantFailure(t, c.run("", tt.args...), tt.code, tt.want)
			})
		}
	})
	t.Run("the CLI grants as an admin", func(t *testing.T) {
		c.createKey("--user", "ann@example.com", "--name", "billing", "--scopes", "billing:admin,billing:write,orders:read")
		keys := c.listJSON()
		if len(keys) != 1 || keys[0]["status"] != "active" {
			t.Fatalf("got %v, want one active key (an admin's grant needs no approval)", keys)
		}
	})
	t.Run("retire names the keys", func(t *testing.T) {
		r := c.ok("", "scopes", "retire", "orders:read")
		if !strings.Contains(r.stderr, "1 key(s) carry it") || !strings.Contains(r.stderr, "billing") || r.stdout != "" {
			t.Errorf("got stdout %q stderr %q, want the key named on stderr", r.stdout, r.stderr)
		}
		wantFailure(t, c.run("", "keys", "create", "--user", "ann@example.com", "--name", "y", "--scopes", "orders:read"), 1, "is retired")
		if out := c.ok("", "scopes", "list").stdout; !strings.Contains(out, "retired") {
			t.Errorf("got table %q, want orders:read shown retired", out)
		}
	})
}
