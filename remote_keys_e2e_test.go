package main

import (
	"strings"
	"testing"
)

// twinKeys creates a key named name locally and the same key remotely,
// checks both outputs, and returns their ids as the --json shows them.
func twinKeys(t *testing.T, local, remote *cli, name string, args ...string) (localID, remoteID string) {
	t.Helper()
	args = append([]string{"keys", "create", "--user", "ann@example.com", "--name", name}, args...)
	l, r := local.ok("", args...), remote.ok("", args...)
	for _, res := range []result{l, r} {
		if !keyLine.MatchString(res.stdout) {
			t.Fatalf("keys create: got stdout %q, want exactly one line matching %s", res.stdout, keyLine)
		}
		if strings.Contains(res.stderr, strings.TrimSpace(res.stdout)) {
			t.Errorf("keys create: stderr %q contains the key", res.stderr)
		}
	}
	if l.stdout == r.stdout {
		t.Errorf("keys create: local and remote printed the same key")
	}
	sameButIDs(t, "keys create stderr", l.stderr, r.stderr)
	keys := local.listJSON()
	return idOf(keys[1]), idOf(keys[0])
}

func TestRemoteMatchesLocal(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) { testRemoteMatchesLocal(t, newEngineCLI(t, engine)) })
	}
}

func testRemoteMatchesLocal(t *testing.T, c *cli) {
	c.addUser("ann@example.com", true)
	c.addUser("bob@example.com", false)
	c.ok("", "scopes", "add", "read")
	c.createKey("--user", "bob@example.com", "--name", "bob's")
	s := c.startServe()
	rc := c.remote(s.url, c.apiToken("ann@example.com"))

	lid, rid := twinKeys(t, c, rc, "deploy", "--expires", "30d", "--scopes", "read", "--description", "CI")
	twinKeys(t, c, rc, "dated", "--expires", "2026-12-31")

	// Byte-identical lists: every key, as JSON and as a table, and the
	// filters.
	for _, args := range [][]string{
		{"keys", "list", "--json"},
		{"keys", "list"},
		{"keys", "list", "--json", "--user", "bob@example.com"},
		{"keys", "list", "--json", "--status", "active"},
		{"keys", "list", "--status", "revoked"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			l, r := c.ok("", args...), rc.ok("", args...)
			if l.stdout != r.stdout || l.stderr != r.stderr {
				t.Errorf("local and remote differ:\nlocal  stdout %q stderr %q\nremote stdout %q stderr %q", l.stdout, l.stderr, r.stdout, r.stderr)
			}
		})
	}

	// Changes on twin keys: the same messages, the same key printed.
	steps := [][2][]string{
		{{"keys", "edit", lid, "--name", "deploy2", "--json"}, {"keys", "edit", rid, "--name", "deploy2", "--json"}},
		{{"keys", "edit", lid, "--description", "", "--allow-ip", "10.0.0.0/8"}, {"keys", "edit", rid, "--description", "", "--allow-ip", "10.0.0.0/8"}},
		{{"keys", "disable", lid, "--reason", "audit"}, {"keys", "disable", rid, "--reason", "audit"}},
		{{"keys", "disable", lid}, {"keys", "disable", rid}},
		{{"keys", "enable", lid}, {"keys", "enable", rid}},
		{{"keys", "enable", lid}, {"keys", "enable", rid}},
		{{"keys", "revoke", lid, "--reason", "done"}, {"keys", "revoke", rid, "--reason", "done"}},
	}
	for _, st := range steps {
		t.Run(strings.Join(st[0], " "), func(t *testing.T) {
			l, r := c.ok("", st[0]...), rc.ok("", st[1]...)
			sameButIDs(t, "stdout", l.stdout, r.stdout)
			sameButIDs(t, "stderr", l.stderr, r.stderr)
		})
	}
	for _, args := range [][]string{{"keys", "list", "--json"}, {"keys", "list", "--status", "revoked"}} {
		l, r := c.ok("", args...), rc.ok("", args...)
		if l.stdout != r.stdout {
			t.Errorf("%s after the changes:\nlocal  %q\nremote %q", strings.Join(args, " "), l.stdout, r.stdout)
		}
	}

	// A roll: the new secret alone on stdout, the same message.
	lid, rid = twinKeys(t, c, rc, "rolled")
	l, r := c.ok("", "keys", "roll", lid, "--grace", "1h"), rc.ok("", "keys", "roll", rid, "--grace", "1h")
	if !keyLine.MatchString(l.stdout) || !keyLine.MatchString(r.stdout) {
		t.Errorf("keys roll: got stdout %q and %q, want one key each", l.stdout, r.stdout)
	}
	sameButIDs(t, "keys roll stderr", l.stderr, r.stderr)
	if l, r := c.ok("", "keys", "list", "--json"), rc.ok("", "keys", "list", "--json"); l.stdout != r.stdout {
		t.Errorf("keys list --json after the rolls:\nlocal  %q\nremote %q", l.stdout, r.stdout)
	}

}

// TestRemoteProblems: the server's refusals print the local message with
// the problem's status and code, exit 1 and write nothing to stdout.
func TestRemoteProblems(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", true)
	c.addUser("bob@example.com", false)
	c.createKey("--user", "ann@example.com", "--name", "ann's")
	annKey := idOf(c.listJSON()[0])
	s := c.startServe()
	admin := c.remote(s.url, c.apiToken("ann@example.com"))
	member := c.remote(s.url, c.apiToken("bob@example.com"))
	reader := c.remote(s.url, c.apiToken("bob@example.com", "keys:read"))

	tests := []struct {
		name   string
		client *cli
		args   []string
		want   string
	}{
		{"unknown key", admin, []string{"keys", "revoke", "999"}, "(404 NOT_FOUND)"},
		{"another person's key", member, []string{"keys", "disable", annKey}, "(404 NOT_FOUND)"},
		{"no name", admin, []string{"keys", "create"}, "--name: "},
		{"past expiry", admin, []string{"keys", "create", "--name", "x", "--expires", "2020-01-31"}, "--expires: "},
		{"missing permission", reader, []string{"keys", "create", "--name", "x"}, "(403 MISSING_PERMISSION)"},
		{"admin list without admin:read", member, []string{"users", "list"}, "(403 MISSING_PERMISSION)"},
		{"another person's --user", member, []string{"keys", "create", "--user", "ann@example.com", "--name", "x"}, "acts for bob@example.com"},
		{"already revoked", admin, []string{"keys", "revoke", annKey}, "already revoked"},
		{"last admin", admin, []string{"user", "disable", "ann@example.com"}, "(409 "},
		{"unknown user", admin, []string{"user", "role", "zed@example.com", "admin"}, "no user has the email zed@example.com"},
	}
	admin.ok("", "keys", "revoke", annKey)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.client.run("", tt.args...)
			wantFailure(t, r, 1, tt.want)
		})
	}
	// The local CLI's message and the remote one agree.
	l, r := c.run("", "keys", "revoke", annKey), admin.run("", "keys", "revoke", annKey)
	if want := strings.TrimSuffix(l.stderr, "\n"); !strings.HasPrefix(r.stderr, want+" (409 ") {
		t.Errorf("revoke again: local %q, remote %q; want the remote to be the local message with status and code", l.stderr, r.stderr)
	}
}

// TestRemoteMemberList: a token without admin:read lists its person's
// keys, as the local CLI's --user does for that person.
func TestRemoteMemberList(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", true)
	c.addUser("bob@example.com", false)
	c.createKey("--user", "ann@example.com", "--name", "ann's")
	c.createKey("--user", "bob@example.com", "--name", "bob's", "--expires", "3d")
	c.createKey("--user", "bob@example.com", "--name", "bob's too")
	s := c.startServe()
	bob := c.remote(s.url, c.apiToken("bob@example.com"))

	for _, args := range [][]string{{"--json"}, {}, {"--json", "--status", "expiring"}, {"--user", "bob@example.com"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			l := c.ok("", append([]string{"keys", "list", "--user", "bob@example.com"}, args...)...)
			r := bob.ok("", append([]string{"keys", "list"}, args...)...)
			if l.stdout != r.stdout || l.stderr != r.stderr {
				t.Errorf("local and remote differ:\nlocal  stdout %q stderr %q\nremote stdout %q stderr %q", l.stdout, l.stderr, r.stdout, r.stderr)
			}
			if strings.Contains(r.stdout, "ann's") {
				t.Errorf("bob's list shows ann's key: %q", r.stdout)
			}
		})
	}
	wantFailure(t, bob.run("", "keys", "list", "--user", "ann@example.com"), 1, "lacks admin:read")
}
