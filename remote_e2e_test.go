package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The remote CLI against a real server (`keyward serve` on the test's
// database) must write what the local CLI writes: the same stdout bytes
// for lists and edits, a secret alone on stdout for creates and rolls,
// and the same messages on stderr. Each pair below runs a command locally
// and through --server on twin keys, then compares.

// twinNoise matches what differs between twin keys: their ids (in
// messages, JSON and a table's first column) and their hints.
var twinNoise = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)\bkey \d+`), "key N"},
	{regexp.MustCompile(`keys enable \d+`), "keys enable N"},
	{regexp.MustCompile(`"id": \d+`), `"id": N`},
	{regexp.MustCompile(`(?m)^\d+ `), "N "},
	{regexp.MustCompile(`kw_…[0-9A-Za-z]{4}`), "kw_…HINT"},
}

// sameButIDs compares two outputs about twin keys, ids and hints made
// equal.
func sameButIDs(t *testing.T, what, local, remote string) {
	t.Helper()
	l, r := local, remote
	for _, n := range twinNoise {
		l, r = n.re.ReplaceAllString(l, n.with), n.re.ReplaceAllString(r, n.with)
	}
	if l != r {
		t.Errorf("%s:\nlocal  %q\nremote %q", what, local, remote)
	}
}

// TestRemoteUsersMatchLocal: users list is byte-identical, invite prints
// its link alone on stdout, and role, disable and enable say the same:
// locally to bob, remotely to his twin cy, each list showing both.
func TestRemoteUsersMatchLocal(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", true)
	c.addUser("bob@example.com", false)
	c.addUser("cy@example.com", false)
	c.createKey("--user", "bob@example.com", "--name", "bob's")
	s := c.startServe()
	rc := c.remote(s.url, c.apiToken("ann@example.com"))

	steps := [][]string{
		{"users", "list", "--json"},
		{"users", "list"},
		{"user", "role", "EMAIL", "auditor"},
		{"user", "disable", "EMAIL"},
		{"user", "disable", "EMAIL"},
		{"users", "list", "--json"},
		{"user", "enable", "EMAIL"},
		{"user", "enable", "EMAIL"},
		{"users", "role", "EMAIL", "member"},
		{"users", "list"},
	}
	with := func(args []string, email string) []string {
		out := make([]string, len(args))
		for i, a := range args {
			out[i] = strings.ReplaceAll(a, "EMAIL", email)
		}
		return out
	}
	for _, args := range steps {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			l := c.ok("", with(args, "bob@example.com")...)
			r := rc.ok("", with(args, "cy@example.com")...)
			if !slices.Contains(args, "EMAIL") {
				// A list: byte-identical.
				if l.stdout != r.stdout || l.stderr != r.stderr {
					t.Errorf("local and remote differ:\nlocal  stdout %q stderr %q\nremote stdout %q stderr %q", l.stdout, l.stderr, r.stdout, r.stderr)
				}
				return
			}
			rOut := strings.ReplaceAll(r.stdout+"|"+r.stderr, "cy@example.com", "bob@example.com")
			if lOut := l.stdout + "|" + l.stderr; lOut != rOut {
				t.Errorf("local and remote differ:\nlocal  %q\nremote %q", lOut, rOut)
			}
		})
	}

	c.env["KEYWARD_BASE_URL"] = s.url
	l := c.ok("", "users", "invite", "--email", "eve@example.com", "--auditor")
	r := rc.ok("", "users", "invite", "--email", "dee@example.com", "--auditor")
	link := regexp.MustCompile(`^` + regexp.QuoteMeta(s.url) + `/invite/\S+\n$`)
	for _, res := range []result{l, r} {
		if !link.MatchString(res.stdout) {
			t.Errorf("users invite: got stdout %q, want the link alone", res.stdout)
		}
		if strings.Contains(res.stderr, "/invite/") {
			t.Errorf("users invite: stderr %q repeats the link", res.stderr)
		}
	}
	if got, want := strings.Replace(r.stderr, "dee@", "eve@", 1), l.stderr; got != want {
		t.Errorf("users invite stderr: local %q, remote %q", want, r.stderr)
	}
}
