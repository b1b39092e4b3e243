package main

import (
	"context"
	"crypto/sha256"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

const day = 24 * time.Hour

// staleKey describes a key of TestKeysListStalePolicy by its age and last
// use, both measured back from the moment of the listing.
type staleKey struct {
	name      string
	age, used time.Duration // used 0: never used
	expires   string        // --expires, relative to creation
	revoked   bool
	// stale under the default policy (90 days unused, 30 days never used)
	// and under a tighter one (10 and 5 days).
	staleDefault, staleTight bool
}

func TestKeysListStalePolicy(t *testing.T) {
	ctx := context.Background()
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	c.addUser("bob@example.com", false)
	listAt := c.now.Add(365 * day)
	keys := []staleKey{
		{"used 89 days ago", 100 * day, 89 * day, "", false, false, true},
		{"used exactly 90 days ago", 100 * day, 90 * day, "", false, false, true},
		{"used 90 days and 1 ms ago", 100 * day, 90*day + time.Millisecond, "", false, true, true},
		{"used exactly 10 days ago", 50 * day, 10 * day, "", false, false, false},
		{"used 10 days and 1 ms ago", 50 * day, 10*day + time.Millisecond, "", false, false, true},
		{"never used, exactly 30 days old", 30 * day, 0, "", false, false, true},
		{"never used, 30 days and 1 ms old", 30*day + time.Millisecond, 0, "", false, true, true},
		{"never used, exactly 5 days old", 5 * day, 0, "", false, false, false},
		{"never used, 5 days and 1 ms old", 5*day + time.Millisecond, 0, "", false, false, true},
		{"expired long ago", 200 * day, 0, "100d", false, false, false},
		{"revoked long ago", 200 * day, 0, "", true, false, false},
	}

	store := c.store()
	v := db.NewVerifier(store, db.VerifierOptions{})
	for _, k := range keys {
		c.now = listAt.Add(-k.age)
		args := []string{"--user", "ann@example.com", "--name", k.name}
		if k.expires != "" {
			args = append(args, "--expires", k.expires)
		}
		secret := c.createKey(args...)
		if k.used > 0 {
			c.now = listAt.Add(-k.used)
			if res, err := v.Verify(ctx, db.VerifyRequest{Key: secret, IP: "192.0.2.1"}); err != nil || !res.Valid {
				t.Fatalf("verify %q: got %+v, %v, want valid", k.name, res, err)
			}
			if err := v.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if k.revoked {
			id := c.listJSON("--user", "ann@example.com")[0]["id"].(float64)
			c.ok("", "keys", "revoke", strconv.FormatFloat(id, 'f', 0, 64), "--reason", "test")
		}
	}
	c.now = listAt

	names := func(rows []map[string]any) []string {
		var out []string
		for _, r := range rows {
			out = append(out, r["name"].(string))
		}
		slices.Sort(out)
		return out
	}
	want := func(tight bool) []string {
		var out []string
		for _, k := range keys {
			if (tight && k.staleTight) || (!tight && k.staleDefault) {
				out = append(out, k.name)
			}
		}
		slices.Sort(out)
		return out
	}
	// The web's definition: what the admin's stale review lists.
	admin := func() []string {
		ks, err := store.ListKeys(ctx, db.AnyOwner(), db.KeyFilter{Stale: true, Limit: db.MaxKeyLimit})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range ks {
			out = append(out, k.Name)
		}
		slices.Sort(out)
		return out
	}

	for _, policy := range []struct {
		name  string
		tight bool
	}{{"default thresholds", false}, {"10 and 5 days", true}} {
		t.Run(policy.name, func(t *testing.T) {
			if policy.tight {
				p := db.DefaultPolicy()
				p.StaleAfter, p.NeverUsedAfter = 10*day, 5*day
				if err := store.SetPolicy(ctx, p, db.CLIActor()); err != nil {
					t.Fatal(err)
				}
			}
			got := names(c.listJSON("--stale"))
			if w := want(policy.tight); !slices.Equal(got, w) {
				t.Errorf("keys list --stale:\ngot  %q\nwant %q", got, w)
			}
			if a := admin(); !slices.Equal(got, a) {
				t.Errorf("keys list --stale and the admin's stale review differ:\ncli   %q\nadmin %q", got, a)
			}
			if got := c.listJSON("--stale", "--user", "bob@example.com"); len(got) != 0 {
				t.Errorf("keys list --stale --user bob: got %d keys, want none", len(got))
			}
			table := c.ok("", "keys", "list", "--stale").stdout
			for _, k := range keys {
				stale := (policy.tight && k.staleTight) || (!policy.tight && k.staleDefault)
				if strings.Contains(table, k.name) != stale {
					t.Errorf("table: %q listed %v, want %v", k.name, !stale, stale)
				}
			}
		})
	}
}

func TestUserDisableCLI(t *testing.T) {
	ctx := context.Background()
	c := newCLI(t)
	c.addUser("ann@example.com", true)
	c.addUser("bob@example.com", false)
	secret := c.createKey("--user", "bob@example.com", "--name", "ci")
	store := c.store()
	bob, err := store.GetUserByEmail(ctx, "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		h := sha256.Sum256([]byte("session " + strconv.Itoa(i)))
		if err := store.CreateSession(ctx, &db.Session{TokenHash: h[:], UserID: bob.ID, ExpiresAt: c.now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	running := db.NewVerifier(store, db.VerifierOptions{}) // a server's verifier, with its cache
	// poll does what a running server does four times a second.
	poll := func() {
		t.Helper()
		if err := running.PollChanges(ctx); err != nil {
			t.Fatal(err)
		}
	}
	poll()
	verify := func(v *db.Verifier) db.VerifyCode {
		t.Helper()
		res, err := v.Verify(ctx, db.VerifyRequest{Key: secret})
		if err != nil {
			t.Fatal(err)
		}
		if res.Valid {
			return ""
		}
		return res.Code
	}
	if got := verify(running); got != "" {
		t.Fatalf("verify before: got %q, want valid", got)
	}

	r := c.ok("", "user", "disable", "bob@example.com")
	if r.stdout != "" || !strings.Contains(r.stderr, "Disabled bob@example.com") {
		t.Errorf("user disable: got stdout %q stderr %q, want nothing and a message on stderr", r.stdout, r.stderr)
	}
	if s, err := store.ListUserSessions(ctx, bob.ID); err != nil || len(s) != 0 {
		t.Errorf("bob's sessions after user disable: got %d (%v), want 0", len(s), err)
	}
	if got := verify(db.NewVerifier(store, db.VerifierOptions{})); got != db.CodeDisabled {
		t.Errorf("verify by a fresh verifier: got %q, want DISABLED", got)
	}
	// A running server sees a change made by the CLI at its next poll of
	// the database's change counter.
	if got := verify(running); got != "" {
		t.Errorf("verify by the running verifier before its poll: got %q, want valid (cached)", got)
	}
	poll()
	if got := verify(running); got != db.CodeDisabled {
		t.Errorf("verify by the running verifier after its poll: got %q, want DISABLED", got)
	}
	events, err := store.ListAudit(ctx, db.AuditFilter{Action: db.ActionUserDisable})
	if err != nil || len(events) != 1 || events[0].Actor != "cli" || events[0].Target != "bob@example.com" {
		t.Errorf("user.disable events: got %+v (%v), want one by cli on bob@example.com", events, err)
	}

	c.ok("", "user", "enable", "bob@example.com")
	poll()
	if got := verify(running); got != "" {
		t.Errorf("verify after user enable: got %q, want valid", got)
	}
}
