package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

// verifyCodeOf asks the database's verifier about key.
func verifyCodeOf(t *testing.T, c *cli, key string) db.VerifyCode {
	t.Helper()
	v := db.NewVerifier(c.store(), db.VerifierOptions{})
	res, err := v.Verify(context.Background(), db.VerifyRequest{Key: key})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if res.Valid {
		return ""
	}
	return res.Code
}

// keyByName returns the --json object of the key named name.
func keyByName(t *testing.T, c *cli, name string) map[string]any {
	t.Helper()
	for _, k := range c.listJSON() {
		if k["name"] == name {
			return k
		}
	}
	t.Fatalf("no key named %q", name)
	return nil
}

func idOf(k map[string]any) string { return strconv.FormatInt(int64(k["id"].(float64)), 10) }

func TestKeysRoll(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	c.ok("", "scopes", "add", "read")
	old := c.createKey("--user", "ann@example.com", "--name", "deploy", "--scopes", "read", "--expires", "30d")
	oldID := idOf(keyByName(t, c, "deploy"))

	r := c.ok("", "keys", "roll", oldID, "--grace", "1h")
	if !keyLine.MatchString(r.stdout) {
		t.Fatalf("got stdout %q, want exactly one line matching %s", r.stdout, keyLine)
	}
	secret := strings.TrimSuffix(r.stdout, "\n")
	if secret == old {
		t.Fatalf("roll printed the old key")
	}
	if strings.Contains(r.stderr, secret) || strings.Contains(r.stderr, old) {
		t.Errorf("stderr %q contains a key", r.stderr)
	}
	wantUntil := c.now.Add(time.Hour).Format(time.RFC3339)
	if !strings.Contains(r.stderr, "Rolled key "+oldID) || !strings.Contains(r.stderr, "works until "+wantUntil) {
		t.Errorf("got stderr %q, want it to name key %s and the grace end %s", r.stderr, oldID, wantUntil)
	}

	keys := c.listJSON()
	if len(keys) != 2 {
		t.Fatalf("got %d keys after the roll, want 2", len(keys))
	}
	nk, ok := keys[0], keys[1]
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"new name", nk["name"], "deploy"},
		{"new scopes", nk["scopes"], []any{"read"}},
		{"new hint", nk["hint"], db.KeyHint(secret)},
		{"new expires_at (same lifetime)", nk["expires_at"], c.now.AddDate(0, 0, 30).Format(time.RFC3339)},
		{"old id", idOf(ok), oldID},
		{"old expires_at (the grace)", ok["expires_at"], wantUntil},
	}
	for _, ck := range checks {
		if !equalJSON(ck.got, ck.want) {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	for _, key := range []string{old, secret} {
		if code := verifyCodeOf(t, c, key); code != "" {
			t.Errorf("verify %s during the grace: got %s, want valid", db.KeyHint(key), code)
		}
	}
	c.now = c.now.Add(time.Hour + time.Second)
	if code := verifyCodeOf(t, c, old); code != db.CodeExpired {
		t.Errorf("verify the old key after the grace: got %q, want %s", code, db.CodeExpired)
	}

	c.createKey("--user", "ann@example.com", "--name", "gone")
	goneID := idOf(keyByName(t, c, "gone"))
	c.ok("", "keys", "revoke", goneID)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"rolled before", []string{oldID}, 1, "already rolled into key " + idOf(nk)},
		{"revoked", []string{goneID}, 1, "revoked and cannot be rolled"},
		{"grace outside the policy", []string{idOf(nk), "--grace", "8d"}, 1, "--grace: Choose "},
		{"grace not a duration", []string{idOf(nk), "--grace", "soon"}, 1, `--grace: "soon" is not a duration`},
		{"negative grace", []string{idOf(nk), "--grace", "-1h"}, 1, "--grace"},
		{"unknown id", []string{"999"}, 1, "Key not found."},
		{"no id", nil, 2, "needs one key ID"},
		{"not a number", []string{"kw_x"}, 2, "is not a key ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantFailure(t, c.run("", append([]string{"keys", "roll"}, tt.args...)...), tt.code, tt.want)
		})
	}
	if got := len(c.listJSON()); got != 3 {
		t.Errorf("got %d keys after the refused rolls, want 3", got)
	}
}

// TestKeysRollGraces: every grace the help offers is accepted, 0 stopping
// the old key at once.
func TestKeysRollGraces(t *testing.T) {
	tests := []struct {
		grace string
		want  time.Duration
	}{{"0", 0}, {"0s", 0}, {"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"168h", 7 * 24 * time.Hour}}
	for _, tt := range tests {
		t.Run(tt.grace, func(t *testing.T) {
			c := newCLI(t)
			c.addUser("ann@example.com", false)
			c.createKey("--user", "ann@example.com", "--name", "k")
			id := idOf(keyByName(t, c, "k"))
			c.ok("", "keys", "roll", id, "--grace", tt.grace)
			for _, k := range c.listJSON() {
				if idOf(k) == id {
					if got, want := k["expires_at"], c.now.Add(tt.want).Format(time.RFC3339); got != want {
						t.Errorf("old key expires_at: got %v, want %s", got, want)
					}
				}
			}
		})
	}
}

// TestKeysRollTeamKey: a team's key is rolled as a maintainer (its
// creator, or another maintainer once the creator is gone) and the new
// key stays the team's.
func TestKeysRollTeamKey(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	c.addUser("bob@example.com", false)
	c.ok("", "teams", "add", "payments")
	c.ok("", "teams", "member", "add", "payments", "--email", "ann@example.com", "--maintainer")
	c.createKey("--user", "ann@example.com", "--name", "api", "--team", "payments")
	first := idOf(keyByName(t, c, "api"))

	r := c.ok("", "keys", "roll", first)
	if !keyLine.MatchString(r.stdout) {
		t.Fatalf("got stdout %q, want one key", r.stdout)
	}
	second := c.listJSON()[0]
	if second["owner"] != "team:payments" || idOf(second) == first {
		t.Errorf("rolled team key: got %v, want a new key owned by team:payments", second)
	}

	c.ok("", "teams", "member", "remove", "payments", "--email", "ann@example.com")
	wantFailure(t, c.run("", "keys", "roll", idOf(second)), 1, "team payments has no active maintainer")
	c.ok("", "teams", "member", "add", "payments", "--email", "bob@example.com", "--maintainer")
	c.ok("", "keys", "roll", idOf(second))
	if third := c.listJSON()[0]; third["owner"] != "team:payments" || idOf(third) == idOf(second) {
		t.Errorf("rolled as bob: got %v, want a new key owned by team:payments", third)
	}
}

func TestKeysDisableEnable(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	key := c.createKey("--user", "ann@example.com", "--name", "ci")
	id := idOf(keyByName(t, c, "ci"))

	steps := []struct {
		args       []string
		wantStderr string
		wantStatus string
		wantVerify db.VerifyCode
	}{
		{[]string{"disable", id, "--reason", "leaked in a log"}, "Disabled key " + id, "disabled", db.CodeDisabled},
		{[]string{"disable", id}, "is already disabled", "disabled", db.CodeDisabled},
		{[]string{"enable", id}, "Enabled key " + id, "active", ""},
		{[]string{"enable", id}, "is already enabled", "active", ""},
	}
	for _, st := range steps {
		t.Run(strings.Join(st.args, " "), func(t *testing.T) {
			r := c.ok("", append([]string{"keys"}, st.args...)...)
			if r.stdout != "" {
				t.Errorf("got stdout %q, want nothing", r.stdout)
			}
			if !strings.Contains(r.stderr, st.wantStderr) {
				t.Errorf("got stderr %q, want %q", r.stderr, st.wantStderr)
			}
			if got := keyByName(t, c, "ci")["status"]; got != st.wantStatus {
				t.Errorf("got status %v, want %s", got, st.wantStatus)
			}
			if got := verifyCodeOf(t, c, key); got != st.wantVerify {
				t.Errorf("verify: got %q, want %q", got, st.wantVerify)
			}
		})
	}
	events, err := c.store().ListAudit(context.Background(), db.AuditFilter{Action: db.ActionKeyDisable})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Detail["reason"] != "leaked in a log" {
		t.Errorf("disable audit events: got %+v, want one with the reason", events)
	}

	c.ok("", "keys", "revoke", id)
	for _, verb := range []string{"disable", "enable"} {
		wantFailure(t, c.run("", "keys", verb, id), 1, "revoked")
		wantFailure(t, c.run("", "keys", verb, "999"), 1, "Key not found.")
		wantFailure(t, c.run("", "keys", verb), 2, "needs one key ID")
	}
	wantFailure(t, c.run("", "keys", "enable", id, "--reason", "x"), 2, "-reason")
}

func TestParseGrace(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"0", 0, false}, {"0s", 0, false}, {"1h", time.Hour, false}, {"90m", 90 * time.Minute, false},
		{"7d", 168 * time.Hour, false}, {" 24h ", 24 * time.Hour, false},
		{"", 0, true}, {"-1h", 0, true}, {"-2d", 0, true}, {"week", 0, true}, {"1.5d", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseGrace(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
