package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

func TestTeamsCLI(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	c.addUser("bob@example.com", false)

	r := c.ok("", "teams", "list")
	if r.stdout != "" || !strings.Contains(r.stderr, "No teams yet") {
		t.Errorf("empty teams list: stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = c.ok("", "teams", "add", "Payments", "--description", "Card processing")
	if r.stdout != "" || !strings.Contains(r.stderr, "team:payments") {
		t.Errorf("teams add: stdout %q stderr %q", r.stdout, r.stderr)
	}
	c.ok("", "teams", "member", "add", "payments", "--email", "ann@example.com", "--maintainer")
	c.ok("", "teams", "member", "add", "payments", "--email", "bob@example.com")

	// A team key, created by its maintainer, owned by the team.
	secret := c.createKey("--user", "ann@example.com", "--name", "payments-api", "--team", "payments")
	if !strings.HasPrefix(secret, "kw_") {
		t.Fatalf("keys create --team printed %q, want the key", secret)
	}
	keys := c.listJSON()
	if len(keys) != 1 || keys[0]["owner"] != "team:payments" || keys[0]["owner_type"] != "team" || keys[0]["user"] != "ann@example.com" {
		t.Errorf("keys list --json: got %v, want owner team:payments, owner_type team, user ann", keys)
	}

	var teams []map[string]any
	if err := json.Unmarshal([]byte(c.ok("", "teams", "list", "--json").stdout), &teams); err != nil {
		t.Fatal(err)
	}
	if len(teams) != 1 || teams[0]["name"] != "payments" || teams[0]["members"] != float64(2) || teams[0]["keys"] != float64(1) {
		t.Errorf("teams list --json: got %v, want payments with 2 members and 1 key", teams)
	}

	// Transfer ann's personal key to the team and then to bob.
	c.createKey("--user", "ann@example.com", "--name", "personal")
	personal := c.listJSON("--user", "ann@example.com")[0]
	id := jsonNumber(personal["id"])
	c.ok("", "keys", "transfer", id, "--to-team", "payments")
	c.ok("", "keys", "transfer", id, "--to-user", "bob@example.com")
	s := c.store()
	events, err := s.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionKeyTransfer})
	if err != nil || len(events) != 2 || events[0].Detail["new"] != "bob@example.com" || events[1].Detail["old"] != "ann@example.com" {
		t.Errorf("transfer audit: got %+v, %v; want ann -> team:payments -> bob", events, err)
	}

	c.ok("", "teams", "member", "remove", "payments", "--email", "bob@example.com")
	if role, _ := s.TeamRoleOf(context.Background(), 1, 2); role != "" {
		t.Errorf("bob's role after remove: %q, want none", role)
	}
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestTeamsCLIErrors(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	c.addUser("dis@example.com", false)
	c.ok("", "user", "disable", "dis@example.com")
	c.ok("", "teams", "add", "ops")
	c.createKey("--user", "ann@example.com", "--name", "k")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", []string{"teams"}, 2, "teams needs a command"},
		{"bad name", []string{"teams", "add", "Two Words"}, 1, "lowercase letters"},
		{"taken name", []string{"teams", "add", "OPS"}, 1, "already exists"},
		{"unknown team", []string{"teams", "member", "add", "nope", "--email", "ann@example.com"}, 1, "no team is named nope"},
		{"member without email", []string{"teams", "member", "add", "ops"}, 2, "needs --email"},
		{"disabled person", []string{"teams", "member", "add", "ops", "--email", "dis@example.com"}, 1, "disabled"},
		{"create for a team not maintained", []string{"keys", "create", "--user", "ann@example.com", "--name", "x", "--team", "ops"}, 1, "maintainers"},
		{"transfer to both", []string{"keys", "transfer", "1", "--to-team", "ops", "--to-user", "ann@example.com"}, 2, "exactly one"},
		{"transfer to an unknown team", []string{"keys", "transfer", "1", "--to-team", "nope"}, 1, "no team is named nope"},
		{"transfer to a disabled person", []string{"keys", "transfer", "1", "--to-user", "dis@example.com"}, 1, "disabled"},
		{"transfer a bad id", []string{"keys", "transfer", "x", "--to-team", "ops"}, 2, "not a key ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantFailure(t, c.run("", tt.args...), tt.code, tt.want)
		})
	}
	if keys := c.listJSON(); len(keys) != 1 || keys[0]["owner"] != "ann@example.com" {
		t.Errorf("after refused commands: got %v, want ann's one key unchanged", keys)
	}
}
