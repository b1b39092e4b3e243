package db

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// outboxRow is one outbox event as a test reads it back.
type outboxRow struct {
	Type          string
	KeyID         int64
	UserID        int64
	TeamID        int64
	Data          map[string]any
	Days          int
	ExpiresAtText string
}

// readOutbox returns the outbox events of the given types (all when none),
// oldest first.
func readOutbox(t *testing.T, s *Store, types ...string) []outboxRow {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), `SELECT type, COALESCE(key_id, 0), COALESCE(user_id, 0),
		COALESCE(team_id, 0), payload FROM outbox_events ORDER BY id`)
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var (
			r       outboxRow
			payload string
		)
		if err := rows.Scan(&r.Type, &r.KeyID, &r.UserID, &r.TeamID, &payload); err != nil {
			t.Fatalf("read outbox: %v", err)
		}
		if len(types) > 0 && !contains(types, r.Type) {
			continue
		}
		if err := json.Unmarshal([]byte(payload), &r.Data); err != nil {
			t.Fatalf("outbox payload %s: %v", payload, err)
		}
		if d, ok := r.Data["days"].(float64); ok {
			r.Days = int(d)
		}
		r.ExpiresAtText, _ = r.Data["expires_at"].(string)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// reminderLog renders the reminders of key id as "7d 1d expired"-like
// text: type and days of each, in order.
func reminderLog(rows []outboxRow, id int64) string {
	s := ""
	for _, r := range rows {
		if r.KeyID != id {
			continue
		}
		if s != "" {
			s += " "
		}
		switch r.Type {
		case EventKeyExpiring:
			s += fmt.Sprintf("%dd", r.Days)
		case EventKeyExpired:
			s += fmt.Sprintf("expired(%d)", r.Days)
		default:
			s += r.Type
		}
	}
	return s
}

// TestExpiryReminderStages runs the hourly job at chosen times against one
// key and checks which reminders it sends: the current stage only, once;
// none for a stage the key was born into; the 1-day one after an outage
// that skipped the 7-day one; no stale "expired" news.
func TestExpiryReminderStages(t *testing.T) {
	const d = 24 * time.Hour
	tests := []struct {
		name     string
		lifetime time.Duration
		ticks    []time.Duration // after creation
		want     string
	}{
		{"hourly through a 30-day key", 30 * d, hourly(0, 31*d), "7d 1d expired(0)"},
		{"created with 3 days left: 1 day only", 3 * d, hourly(0, 4*d), "1d expired(0)"},
		{"created with exactly 7 days: no 7-day reminder", 7 * d, hourly(0, 8*d), "1d expired(0)"},
		{"created with 12 hours left: expiry only", 12 * time.Hour, hourly(0, 2*d), "expired(0)"},
		{"late tick inside the last day skips the 7-day one", 30 * d, []time.Duration{0, 29*d + 6*time.Hour, 30*d + time.Hour}, "1d expired(0)"},
		{"late tick in the week says how many days are left", 30 * d, []time.Duration{25 * d, 25*d + time.Hour}, "5d"},
		{"down through the expiry: expired only", 30 * d, []time.Duration{20 * d, 32 * d}, "expired(0)"},
		{"expired long before the first tick: nothing", 30 * d, []time.Duration{45 * d}, ""},
		{"no tick in a stage's window: nothing yet", 30 * d, []time.Duration{0, 10 * d, 22 * d}, ""},
	}
	forEachEngine(t, func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				clock := newFakeClock()
				s := newTestStore(t, withClock(clock))
				ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
				exp := clock.Now().Add(tt.lifetime)
				k, _, err := s.CreateKey(ctx, ann.ID, KeyInput{Name: "deploy", ExpiresAt: &exp}, Actor{UserID: ann.ID, Label: ann.Email})
				if err != nil {
					t.Fatalf("CreateKey: %v", err)
				}
				start := clock.Now()
				for _, at := range tt.ticks {
					clock.Advance(start.Add(at).Sub(clock.Now()))
					if _, err := s.EnqueueExpiryReminders(ctx); err != nil {
						t.Fatalf("EnqueueExpiryReminders at +%v: %v", at, err)
					}
				}
				if got := reminderLog(readOutbox(t, s, EventKeyExpiring, EventKeyExpired), k.ID); got != tt.want {
					t.Errorf("got reminders %q, want %q", got, tt.want)
				}
			})
		}
	})
}

// hourly lists the hours from from to to.
func hourly(from, to time.Duration) []time.Duration {
	var out []time.Duration
	for at := from; at <= to; at += time.Hour {
		out = append(out, at)
	}
	return out
}

// TestExpiryRemindersOnce follows a month of hourly ticks over a mix of
// keys: only usable, unrolled keys are reminded; each reminder is enqueued
// once even though the job runs twice a tick, the store is reopened in
// the middle ("restart") and two stores run the job at the same time; a
// team key's reminder goes to its members. At the outbox level: ann gets
// exactly one e-mail 7 days before her key expires and one the day before.
func TestExpiryRemindersOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		target := engineOf(t)(t)
		open := func() *Store {
			s, err := Open(ctx, target, Options{Argon2: testArgon2, Now: clock.Now})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		}
		s := open()
		t.Cleanup(func() { s.Close() }) // the store open at the end
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		bob := mustCreateUser(t, s, "bob@example.com", RoleMember)
		carl := mustCreateUser(t, s, "carl@example.com", RoleMember)
		asAnn := Actor{UserID: ann.ID, Label: ann.Email}
		in := func(d time.Duration) *time.Time { x := clock.Now().Add(d); return &x }
		mk := func(owner User, name string, exp *time.Time, team int64) Key {
			k, _, err := s.CreateKey(ctx, owner.ID, KeyInput{Name: name, ExpiresAt: exp, TeamID: team}, Actor{UserID: owner.ID, Label: owner.Email})
			if err != nil {
				t.Fatalf("CreateKey %s: %v", name, err)
			}
			return k
		}
		team, err := s.CreateTeam(ctx, "ops", "", CLIActor())
		if err != nil {
			t.Fatalf("CreateTeam: %v", err)
		}
		if err := s.AddTeamMember(ctx, team.ID, ann.Email, TeamMaintainer, CLIActor()); err != nil {
			t.Fatalf("AddTeamMember: %v", err)
		}
		if err := s.AddTeamMember(ctx, team.ID, carl.Email, TeamMember, CLIActor()); err != nil {
			t.Fatalf("AddTeamMember: %v", err)
		}
		const day = 24 * time.Hour
		month := mk(ann, "month", in(30*day), 0)
		teamKey := mk(ann, "team", in(10*day), team.ID)
		never := mk(ann, "never expires", nil, 0)
		revoked := mk(ann, "revoked", in(10*day), 0)
		if _, err := s.RevokeKey(ctx, AnyOwner(), revoked.ID, "", asAnn); err != nil {
			t.Fatal(err)
		}
		disabled := mk(ann, "disabled", in(10*day), 0)
		if _, err := s.SetKeyDisabled(ctx, AnyOwner(), disabled.ID, true, "", asAnn); err != nil {
			t.Fatal(err)
		}
		bobs := mk(bob, "bob's", in(10*day), 0)
		if err := s.SetUserDisabled(ctx, bob.ID, true, CLIActor()); err != nil {
			t.Fatal(err)
		}
		rolled := mk(ann, "rolled", in(20*day), 0)
		successor, _, _, err := s.RollKey(ctx, ann.ID, rolled.ID, 7*day, asAnn)
		if err != nil {
			t.Fatalf("RollKey: %v", err)
		}

		var all []outboxRow
		for hour := 0; hour <= 31*24; hour++ {
			if hour == 26*24 { // restart
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s = open()
			}
			if hour == 29*24 { // two instances at once
				other := open()
				var wg sync.WaitGroup
				for _, st := range []*Store{s, other} {
					wg.Go(func() {
						if _, err := st.EnqueueExpiryReminders(ctx); err != nil {
							t.Errorf("EnqueueExpiryReminders: %v", err)
						}
					})
				}
				wg.Wait()
				other.Close()
			}
			for range 2 {
				if _, err := s.EnqueueExpiryReminders(ctx); err != nil {
					t.Fatalf("EnqueueExpiryReminders at hour %d: %v", hour, err)
				}
			}
			if _, err := s.FanOut(ctx, FanOutOptions{Email: true}); err != nil {
				t.Fatalf("FanOut: %v", err)
			}
			clock.Advance(time.Hour)
		}
		all = readOutbox(t, s, EventKeyExpiring, EventKeyExpired)
		tests := []struct {
			key  Key
			want string
		}{
			{month, "7d 1d expired(0)"},
			{teamKey, "7d 1d expired(0)"},
			{never, ""},
			{revoked, ""},
			{disabled, ""},
			{bobs, ""},
			{rolled, ""},
			{successor, "7d 1d expired(0)"}, // the same lifetime: 20 days
			{successor, "7d 1d expired(0)"}, // the same lifetime: 20 days
		}
		for _, tt := range tests {
			if got := reminderLog(all, tt.key.ID); got != tt.want {
				t.Errorf("%s: got reminders %q, want %q", tt.key.Name, got, tt.want)
			}
		}
		for _, r := range all {
			key, _ := r.Data["key"].(map[string]any)
			switch r.KeyID {
			case month.ID:
				if r.UserID != ann.ID || key["owner"] != ann.Email || key["owner_type"] != OwnerUser || key["name"] != "month" {
					t.Errorf("month's %s: got user %d, key %v; want ann's", r.Type, r.UserID, key)
				}
				if want := month.ExpiresAt.UTC().Format(time.RFC3339); r.ExpiresAtText != want {
					t.Errorf("month's %s: got expires_at %q, want %q", r.Type, r.ExpiresAtText, want)
				}
			case teamKey.ID:
				if r.TeamID != team.ID || key["owner"] != "team:ops" || key["owner_type"] != OwnerTeam {
					t.Errorf("team key's %s: got team %d, key %v; want team ops", r.Type, r.TeamID, key)
				}
			}
		}
		mails := emailDeliveries(t, s)
		wantMails := map[string]int{
			"ann@example.com key.expiring month":  2,
			"ann@example.com key.expired month":   1,
			"ann@example.com key.expiring team":   2,
			"carl@example.com key.expiring team":  2,
			"ann@example.com key.expired team":    1,
			"carl@example.com key.expired team":   1,
			"ann@example.com key.expiring rolled": 2, // the successor
			"ann@example.com key.expired rolled":  1,
		}
		for k, want := range wantMails {
			if got := mails[k]; got != want {
				t.Errorf("e-mails %q: got %d, want %d", k, got, want)
			}
		}
		for k, got := range mails {
			if _, ok := wantMails[k]; !ok && (contains([]string{EventKeyExpiring, EventKeyExpired}, fieldOf(k, 1))) {
				t.Errorf("unexpected e-mails %q: %d", k, got)
			}
		}
	})
}

// emailDeliveries counts the e-mail deliveries made so far by
// "recipient type keyname".
func emailDeliveries(t *testing.T, s *Store) map[string]int {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), `SELECT d.recipient, e.type, e.payload FROM outbox_deliveries d
		JOIN outbox_events e ON e.id = d.event_id WHERE d.channel = 'email'`)
	if err != nil {
		t.Fatalf("e-mail deliveries: %v", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var rcpt, typ, payload string
		if err := rows.Scan(&rcpt, &typ, &payload); err != nil {
			t.Fatal(err)
		}
		var data struct {
			Key struct {
				Name string `json:"name"`
			} `json:"key"`
		}
		if err := json.Unmarshal([]byte(payload), &data); err != nil {
			t.Fatal(err)
		}
		out[rcpt+" "+typ+" "+data.Key.Name]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// fieldOf returns the i-th space-separated field of s.
func fieldOf(s string, i int) string {
	f := strings.Fields(s)
	if i < len(f) {
		return f[i]
	}
	return ""
}

// TestExpiryRemindersRearm: a key whose expiry moves gets the reminders of
// its new expiry, once each, and none again for the old one.
func TestExpiryRemindersRearm(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		asAnn := Actor{UserID: ann.ID, Label: ann.Email}
		const day = 24 * time.Hour
		exp := clock.Now().Add(30 * day)
		k, _, err := s.CreateKey(ctx, ann.ID, KeyInput{Name: "deploy", ExpiresAt: &exp}, asAnn)
		if err != nil {
			t.Fatal(err)
		}
		run := func() int {
			t.Helper()
			n, err := s.EnqueueExpiryReminders(ctx)
			if err != nil {
				t.Fatalf("EnqueueExpiryReminders: %v", err)
			}
			return n
		}
		clock.Advance(23*day + time.Hour)
		if n := run(); n != 1 {
			t.Fatalf("7 days before: got %d reminders, want 1", n)
		}
		later := clock.Now().Add(20 * day)
		if _, err := s.EditKey(ctx, OwnedBy(ann.ID), k.ID, KeyEdit{SetExpiry: true, ExpiresAt: &later}, asAnn); err != nil {
			t.Fatalf("EditKey: %v", err)
		}
		if n := run(); n != 0 {
			t.Errorf("right after the expiry moved 20 days out: got %d reminders, want 0", n)
		}
		clock.Advance(13 * day)
		if n, m := run(), run(); n != 1 || m != 0 {
			t.Errorf("7 days before the new expiry: got %d then %d reminders, want 1 then 0", n, m)
		}
		got := reminderLog(readOutbox(t, s, EventKeyExpiring, EventKeyExpired), k.ID)
		if got != "7d 7d" {
			t.Errorf("got reminders %q, want %q (one per expiry)", got, "7d 7d")
		}
	})
}
