package db

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestDigestWeekAndDue(t *testing.T) {
	tests := []struct {
		at   string
		week string
		due  bool
	}{
		{"2026-11-23T07:59:59Z", "2026-W48", false}, // Monday before 08:00
		{"2026-11-23T08:00:00Z", "2026-W48", true},
		{"2026-11-29T23:59:59Z", "2026-W48", true}, // Sunday: still that week's
		{"2026-11-30T00:00:00Z", "2026-W49", false},
		{"2027-01-01T12:00:00Z", "2026-W53", true}, // a Friday of ISO year 2026
		{"2027-01-04T09:00:00Z", "2027-W01", true},
	}
	for _, tt := range tests {
		t.Run(tt.at, func(t *testing.T) {
			at, err := time.Parse(time.RFC3339, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			if got := DigestWeek(at); got != tt.week {
				t.Errorf("DigestWeek: got %s, want %s", got, tt.week)
			}
			if got := digestDue(at); got != tt.due {
				t.Errorf("digestDue: got %v, want %v", got, tt.due)
			}
		})
	}
}

// TestWeeklyDigest: the digest goes out once per ISO week from Monday
// 08:00 UTC, to the admins who want it, with lists of at most 20 and whole
// counts, by the dashboard's definitions; a restart does not resend it.
func TestWeeklyDigest(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		target := engineOf(t)(t)
		open := func() *Store {
			s, err := Open(ctx, target, Options{Argon2: testArgon2, Now: clock.Now})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		s := open()
		mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		muted := mustCreateUser(t, s, "muted@example.com", RoleAdmin)
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		if _, err := s.w.ExecContext(ctx, `INSERT INTO notification_prefs (user_id, kind, enabled) VALUES (?, ?, 0)`, muted.ID, NotifyDigest); err != nil {
			t.Fatal(err)
		}
		team, err := s.CreateTeam(ctx, "ops", "", CLIActor())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddTeamMember(ctx, team.ID, ann.Email, TeamMaintainer, CLIActor()); err != nil {
			t.Fatal(err)
		}
		const day = 24 * time.Hour
		t0 := clock.Now()
		mk := func(name string, in KeyInput, lastUsed *time.Time) Key {
			t.Helper()
			in.Name = name
			k, _, err := s.CreateKey(ctx, ann.ID, in, Actor{UserID: ann.ID, Label: ann.Email})
			if err != nil {
				t.Fatalf("CreateKey: %v", err)
			}
			if lastUsed != nil {
				if _, err := s.w.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, toMillis(*lastUsed), k.ID); err != nil {
					t.Fatal(err)
				}
			}
			return k
		}
		at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
		var stale []Key
		for i := range 25 { // last used on day i: unused for 100-i days, > 90
			stale = append(stale, mk(fmt.Sprintf("stale %02d", i), KeyInput{}, at(time.Duration(i)*day/4)))
		}
		for i := range 22 { // never used, created 100 days ago, > 30
			mk(fmt.Sprintf("never %02d", i), KeyInput{}, nil)
		}
		// Expiring within the week (used recently, so not stale).
		exp1 := mk("expiring personal", KeyInput{ExpiresAt: at(103 * day)}, at(99*day))
		exp2 := mk("expiring team", KeyInput{ExpiresAt: at(102 * day), TeamID: team.ID}, at(99*day))
		mk("expiring next month", KeyInput{ExpiresAt: at(130 * day)}, at(99*day))
		gone := mk("revoked stale", KeyInput{}, at(0))
		if _, err := s.RevokeKey(ctx, AnyOwner(), gone.ID, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		// Monday 2025-06-23 is 100 days and some hours after t0.
		monday := time.Date(2025, 6, 23, 0, 0, 0, 0, time.UTC)
		clock.Advance(monday.Add(7 * time.Hour).Sub(clock.Now()))
		run := func(s *Store) bool {
			t.Helper()
			sent, err := s.EnqueueWeeklyDigest(ctx)
			if err != nil {
				t.Fatalf("EnqueueWeeklyDigest: %v", err)
			}
			return sent
		}
		if run(s) {
			t.Errorf("Monday 07:00: got a digest, want none before 08:00")
		}
		clock.Advance(time.Hour)
		if !run(s) {
			t.Fatalf("Monday 08:00: got no digest")
		}
		if run(s) || run(open()) {
			t.Errorf("a second run, or after a restart: got another digest")
		}
		clock.Advance(2 * day)
		if run(s) {
			t.Errorf("Wednesday: got another digest for the same week")
		}
		digests := readOutbox(t, s, EventDigest)
		if len(digests) != 1 {
			t.Fatalf("got %d digests, want 1", len(digests))
		}
		d := digests[0].Data
		if d["week"] != "2025-W26" {
			t.Errorf("week: got %v, want 2025-W26", d["week"])
		}
		counts, _ := d["counts"].(map[string]any)
		for k, want := range map[string]float64{"stale": 25, "never_used": 22, "expiring": 2} {
			if counts[k] != want {
				t.Errorf("counts.%s: got %v, want %v", k, counts[k], want)
			}
		}
		list := func(name string) []map[string]any {
			raw, _ := d[name].([]any)
			out := make([]map[string]any, len(raw))
			for i, r := range raw {
				out[i], _ = r.(map[string]any)
			}
			return out
		}
		if got := list("stale"); len(got) != DigestListMax || got[0]["name"] != "stale 00" || got[0]["id"] != float64(stale[0].ID) ||
			got[0]["owner"] != ann.Email || got[0]["last_used_at"] != t0.UTC().Format(time.RFC3339) {
			t.Errorf("stale: got %d, first %v; want %d, the longest unused first", len(got), first(got), DigestListMax)
		}
		if got := list("never_used"); len(got) != DigestListMax || got[0]["created_at"] != t0.UTC().Format(time.RFC3339) {
			t.Errorf("never_used: got %d, first %v; want %d with created_at", len(got), first(got), DigestListMax)
		}
		got := list("expiring")
		if len(got) != 2 || got[0]["id"] != float64(exp2.ID) || got[0]["owner"] != "team:ops" || got[1]["id"] != float64(exp1.ID) ||
			got[0]["expires_at"] != exp2.ExpiresAt.UTC().Format(time.RFC3339) {
			t.Errorf("expiring: got %v; want the team key (sooner) then ann's", got)
		}
		if _, err := s.FanOut(ctx, FanOutOptions{Email: true}); err != nil {
			t.Fatal(err)
		}
		if mails := emailDeliveries(t, s); mails["admin@example.com digest.weekly "] != 1 || len(filterType(mails, EventDigest)) != 1 {
			t.Errorf("digest e-mails: got %v, want one to admin@example.com (muted@ turned it off)", filterType(mails, EventDigest))
		}

		clock.Advance(5*day + time.Hour) // the next Monday, 09:00
		if !run(s) {
			t.Errorf("next Monday: got no digest")
		}
		if n := len(readOutbox(t, s, EventDigest)); n != 2 {
			t.Errorf("got %d digests after two weeks, want 2", n)
		}
	})
}

// TestWeeklyDigestEmptyWeek: nothing to report sends nothing, and the week
// is decided: no digest later that week either.
func TestWeeklyDigestEmptyWeek(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock() // a Friday: this week's digest is due
		s := newTestStore(t, withClock(clock))
		mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		if sent, err := s.EnqueueWeeklyDigest(ctx); err != nil || !sent {
			t.Fatalf("EnqueueWeeklyDigest: got %v, %v; want the week decided", sent, err)
		}
		if n := len(readOutbox(t, s, EventDigest)); n != 0 {
			t.Errorf("got %d digests for an empty week, want 0", n)
		}
		if sent, err := s.EnqueueWeeklyDigest(ctx); err != nil || sent {
			t.Errorf("second run: got %v, %v; want nothing", sent, err)
		}
	})
}

func first(l []map[string]any) map[string]any {
	if len(l) == 0 {
		return nil
	}
	return l[0]
}

// filterType keeps the e-mail counts of one event type.
func filterType(mails map[string]int, typ string) map[string]int {
	out := map[string]int{}
	for k, n := range mails {
		if fieldOf(k, 1) == typ {
			out[k] = n
		}
	}
	return out
}
