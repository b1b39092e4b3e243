package db

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// TestKeyEventsFromChanges makes each key event by the change that causes
// it and checks the event (type, whom it concerns, payload) and, after a
// fan-out, who is e-mailed.
func TestKeyEventsFromChanges(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		carl := mustCreateUser(t, s, "carl@example.com", RoleMember)
		asAdmin := Actor{UserID: admin.ID, Label: admin.Email}
		asAnn := Actor{UserID: ann.ID, Label: ann.Email}
		team, err := s.CreateTeam(ctx, "ops", "", CLIActor())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddTeamMember(ctx, team.ID, ann.Email, TeamMaintainer, CLIActor()); err != nil {
			t.Fatal(err)
		}
		if err := s.AddTeamMember(ctx, team.ID, carl.Email, TeamMember, CLIActor()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateScope(ctx, ScopeInput{Name: "billing:write", NeedsApproval: true}, asAdmin); err != nil {
			t.Fatalf("CreateScope: %v", err)
		}
		mk := func(name string, in KeyInput) (Key, string) {
			t.Helper()
			in.Name = name
			k, secret, err := s.CreateKey(ctx, ann.ID, in, asAnn)
			if err != nil {
				t.Fatalf("CreateKey %s: %v", name, err)
			}
			return k, secret
		}
		revoked, _ := mk("revoked", KeyInput{})
		bulk1, _ := mk("bulk 1", KeyInput{})
		bulk2, _ := mk("bulk 2", KeyInput{TeamID: team.ID})
		byAdmin, _ := mk("disabled by admin", KeyInput{})
		used, secret := mk("used", KeyInput{})
		asked, _ := mk("asked", KeyInput{TeamID: team.ID, Scopes: []string{"billing:write"}})
		denied, _ := mk("denied", KeyInput{Scopes: []string{"billing:write"}})
		if _, err := s.FanOut(ctx, FanOutOptions{Email: true}); err != nil { // the key.created events
			t.Fatal(err)
		}
		before := len(readOutbox(t, s))

		if _, err := s.RevokeKey(ctx, AnyOwner(), revoked.ID, "left the company", asAdmin); err != nil {
			t.Fatal(err)
		}
		if _, err := s.BulkRevokeKeys(ctx, []int64{bulk1.ID, bulk2.ID}, "audit clean-up", asAdmin); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetKeyDisabled(ctx, AnyOwner(), byAdmin.ID, true, "suspicious", asAdmin); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ApproveKey(ctx, asked.ID, asAdmin); err != nil {
			t.Fatalf("ApproveKey: %v", err)
		}
		if _, err := s.DenyKey(ctx, denied.ID, "not for this service", asAdmin); err != nil {
			t.Fatalf("DenyKey: %v", err)
		}
		v := quietVerifier(s)
		if res, err := v.Verify(ctx, VerifyRequest{Key: secret, IP: "203.0.113.9", UserAgent: "deploy-bot/2"}); err != nil || !res.Valid {
			t.Fatalf("Verify: %+v, %v", res, err)
		}
		flush(t, v)
		clock.Advance(40 * 24 * time.Hour)
		if err := s.SetPolicy(ctx, Policy{StaleAfter: 90 * oneDay, NeverUsedAfter: 30 * oneDay, AutoDisableAfter: 30 * oneDay}, asAdmin); err != nil {
			t.Fatalf("SetPolicy: %v", err)
		}
		if n, err := s.AutoDisableStale(ctx); err != nil || n != 2 { // used and asked: never used, 40 days old
			t.Fatalf("AutoDisableStale: got %d, %v; want 2", n, err)
		}

		events := readOutbox(t, s)[before:]
		type want struct {
			typ, key   string
			user, team int64
			data       map[string]string
		}
		wants := []want{
			{EventKeyRevoked, "revoked", ann.ID, 0, map[string]string{"reason": "left the company", "actor": "admin@example.com"}},
			{EventKeyRevoked, "bulk 1", ann.ID, 0, map[string]string{"reason": "audit clean-up", "bulk": "true"}},
			{EventKeyRevoked, "bulk 2", 0, team.ID, map[string]string{"reason": "audit clean-up", "bulk": "true"}},
			{EventKeyDisabled, "disabled by admin", ann.ID, 0, map[string]string{"reason": "suspicious", "cause": ""}},
			{EventKeyApproved, "asked", ann.ID, team.ID, map[string]string{"scopes": "billing:write"}},
			{EventKeyDenied, "denied", ann.ID, 0, map[string]string{"reason": "not for this service", "outcome": "revoked"}},
			{EventKeyNewAddress, "used", ann.ID, 0, map[string]string{"ip": "203.0.113.9", "user_agent": "deploy-bot/2", "actor": "key #" + itoa(used.ID) + " (used)"}},
			{EventKeyDisabled, "used", ann.ID, 0, map[string]string{"cause": "unused", "actor": "system"}},
			{EventKeyDisabled, "asked", 0, team.ID, map[string]string{"cause": "unused"}},
		}
		if len(events) != len(wants) {
			t.Fatalf("got %d events, want %d: %+v", len(events), len(wants), events)
		}
		for i, w := range wants {
			var ev outboxRow
			for _, e := range events { // auto-disable's order is the database's
				if key, _ := e.Data["key"].(map[string]any); e.Type == w.typ && key["name"] == w.key {
					ev = e
				}
			}
			if ev.Type == "" {
				t.Errorf("want %d: no %s event for %q in %+v", i, w.typ, w.key, events)
				continue
			}
			if ev.UserID != w.user || ev.TeamID != w.team {
				t.Errorf("%s of %q: got user %d, team %d; want user %d, team %d", w.typ, w.key, ev.UserID, ev.TeamID, w.user, w.team)
			}
			for k, v := range w.data {
				got, _ := ev.Data[k].(string)
				if got != v {
					t.Errorf("%s of %q: got %s %q, want %q", w.typ, w.key, k, got, v)
				}
			}
		}

		if _, err := s.FanOut(ctx, FanOutOptions{Email: true}); err != nil {
			t.Fatal(err)
		}
		mails := emailDeliveries(t, s)
		wantMails := map[string]int{
			"ann@example.com key.revoked revoked":            1,
			"ann@example.com key.revoked bulk 1":             1,
			"ann@example.com key.revoked bulk 2":             1,
			"carl@example.com key.revoked bulk 2":            1,
			"ann@example.com key.disabled disabled by admin": 1,
			"ann@example.com key.approved asked":             1, // the requester, not carl
			"ann@example.com key.denied denied":              1,
			"ann@example.com key.new_address used":           1,
			"ann@example.com key.disabled used":              1,
			"ann@example.com key.disabled asked":             1,
			"carl@example.com key.disabled asked":            1,
		}
		for k, got := range mails {
			if got != wantMails[k] {
				t.Errorf("e-mails %q: got %d, want %d", k, got, wantMails[k])
			}
		}
		for k, want := range wantMails {
			if mails[k] != want {
				t.Errorf("e-mails %q: got %d, want %d", k, mails[k], want)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
