package db

import (
	"context"
	"strings"
	"testing"
)

// leakFixture is a store with a verifier and one key of ann's.
type leakFixture struct {
	s      *Store
	v      *Verifier
	ann    User
	key    Key
	secret string
}

func newLeakFixture(t *testing.T) leakFixture {
	t.Helper()
	s := newTestStore(t, withClock(newFakeClock()))
	ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
	k, secret, err := s.CreateKey(context.Background(), ann.ID, KeyInput{Name: "deploy"}, CLIActor())
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(s, VerifierOptions{})
	return leakFixture{s: s, v: v, ann: ann, key: k, secret: secret}
}

func (f leakFixture) code(t *testing.T) VerifyCode {
	t.Helper()
	res, err := f.v.Verify(context.Background(), VerifyRequest{Key: f.secret})
	if err != nil {
		t.Fatal(err)
	}
	return res.Code
}

// leakAudits lists the leak_reported events, newest first.
func leakAudits(t *testing.T, s *Store) []AuditEvent {
	t.Helper()
	events, err := s.ListAudit(context.Background(), AuditFilter{Action: ActionKeyLeakReported})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func TestReportLeakRevokesAlertsAndAudits(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		f := newLeakFixture(t)
		if got := f.code(t); got != "" {
			t.Fatalf("before the report: got code %q, want a valid key", got)
		}
		out, err := f.s.ReportLeak(ctx, LeakReport{Key: f.secret, URL: "https://github.com/o/r/blob/x/.env", IP: "203.0.113.9"})
		if err != nil {
			t.Fatal(err)
		}
		if want := (LeakOutcome{Known: true, KeyID: f.key.ID, Action: LeakRevoked}); out != want {
			t.Errorf("outcome: got %+v, want %+v", out, want)
		}
		if got := f.code(t); got != CodeRevoked {
			t.Errorf("verify after the report: got %q, want REVOKED", got)
		}
		k, err := f.s.GetKey(ctx, AnyOwner(), f.key.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(k.RevokeReason, "reported as leaked") || !strings.Contains(k.RevokeReason, "/o/r/blob") {
			t.Errorf("revoke reason: got %q, want it to say reported as leaked and where", k.RevokeReason)
		}
		a, ok, err := openAlert(ctx, f.s.r, RuleLeakReported, f.key.ID)
		if err != nil || !ok {
			t.Fatalf("leak alert: got ok=%v, %v; want an open alert", ok, err)
		}
		if a.Evidence["source"] != LeakSourceReport || a.Evidence["url"] != "https://github.com/o/r/blob/x/.env" {
			t.Errorf("alert evidence: got %v", a.Evidence)
		}
		var opened int
		if err := f.s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox_events WHERE type = ? AND key_id = ?`,
			EventAlertOpened, f.key.ID).Scan(&opened); err != nil {
			t.Fatal(err)
		}
		if opened != 1 {
			t.Errorf("alert.opened events: got %d, want 1", opened)
		}
		events := leakAudits(t, f.s)
		if len(events) != 1 || events[0].TargetID != f.key.ID || events[0].IP != "203.0.113.9" || events[0].Detail["outcome"] != LeakRevoked {
			t.Fatalf("leak audit: got %+v, want one event on key %d from the reporter's address", events, f.key.ID)
		}
		revokes, err := f.s.ListAudit(ctx, AuditFilter{Action: ActionKeyRevoke, TargetID: f.key.ID})
		if err != nil || len(revokes) != 1 {
			t.Errorf("key.revoke audit: got %d events (%v), want 1", len(revokes), err)
		}

		// Reported again: audited, the alert updated, nothing else changes.
		out, err = f.s.ReportLeak(ctx, LeakReport{Key: f.secret, IP: "198.51.100.4"})
		if err != nil {
			t.Fatal(err)
		}
		if out.Action != LeakAlreadyEnded || !out.Known {
			t.Errorf("second report: got %+v, want known and already ended", out)
		}
		a, _, _ = openAlert(ctx, f.s.r, RuleLeakReported, f.key.ID)
		if a.Occurrences != 2 || a.Evidence["reports"] != float64(2) || len(a.Evidence["addresses"].([]any)) != 2 {
			t.Errorf("alert after two reports: got occurrences %d, evidence %v; want 2 reports from 2 addresses", a.Occurrences, a.Evidence)
		}
		if n := len(leakAudits(t, f.s)); n != 2 {
			t.Errorf("leak audits after two reports: got %d, want 2", n)
		}
	})
}

func TestReportLeakUnknownAndMalformed(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		f := newLeakFixture(t)
		unknown, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name, key string
			detail    map[string]string
		}{
			{"unknown well-formed key", unknown, map[string]string{"hint": KeyHint(unknown), "outcome": LeakUnknown}},
			{"malformed key", f.secret[:len(f.secret)-1] + "x", map[string]string{"malformed": "true", "outcome": LeakUnknown}},
			{"not a key at all", "hunter2-password", map[string]string{"malformed": "true", "outcome": LeakUnknown}},
			{"empty", "", map[string]string{"malformed": "true", "outcome": LeakUnknown}},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				out, err := f.s.ReportLeak(ctx, LeakReport{Key: tt.key, IP: "192.0.2.1"})
				if err != nil {
					t.Fatal(err)
				}
				if out != (LeakOutcome{Action: LeakUnknown}) {
					t.Errorf("outcome: got %+v, want unknown", out)
				}
				events := leakAudits(t, f.s)
				if len(events) != i+1 {
					t.Fatalf("leak audits: got %d, want %d", len(events), i+1)
				}
				e := events[0]
				if e.TargetID != 0 || e.TargetType != "" {
					t.Errorf("target: got %s %d, want none", e.TargetType, e.TargetID)
				}
				for k, want := range tt.detail {
					if got := e.Detail[k]; got != want {
						t.Errorf("detail %s: got %q, want %q", k, got, want)
					}
				}
				for k, v := range e.Detail {
					if tt.key != "" && strings.Contains(v, tt.key) {
						t.Errorf("detail %s holds the submitted secret", k)
					}
				}
			})
		}
		if got := f.code(t); got != "" {
			t.Errorf("ann's key after reports of other keys: got %q, want still valid", got)
		}
	})
}

func TestReportLeakDisablesWhenTheRulesSaySo(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		f := newLeakFixture(t)
		r, err := f.s.ActivityRules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r.LeakDisable = true
		if err := f.s.SetActivityRules(ctx, r, SystemActor()); err != nil {
			t.Fatal(err)
		}
		out, err := f.s.ReportLeak(ctx, LeakReport{Key: f.secret, Source: LeakSourceGitHub, FoundIn: "commit"})
		if err != nil {
			t.Fatal(err)
		}
		if out.Action != LeakDisabled {
			t.Errorf("outcome: got %+v, want disabled", out)
		}
		if got := f.code(t); got != CodeDisabled {
			t.Errorf("verify: got %q, want DISABLED (not revoked)", got)
		}
		k, _ := f.s.GetKey(ctx, AnyOwner(), f.key.ID)
		if k.RevokedAt != nil || k.DisabledAt == nil || k.DisabledBy != 0 {
			t.Errorf("key: got revoked=%v disabled=%v by %d; want disabled by nobody, not revoked", k.RevokedAt, k.DisabledAt, k.DisabledBy)
		}
		// The owner cannot lift a disable they did not make.
		if _, err := f.s.SetKeyDisabled(ctx, ManagedBy(f.ann.ID), f.key.ID, false, "", CLIActor()); err == nil {
			t.Error("owner enabling a leak-disabled key: got no error, want a conflict")
		}
	})
}

func TestGitHubScanningKeysParseAndStore(t *testing.T) {
	doc := testGitHubKeysDocument(t)
	bad := []struct{ name, doc, want string }{
		{"not json", "nope", "not JSON"},
		{"no keys", `{"public_keys": []}`, "no keys"},
		{"no identifier", `{"public_keys": [{"key": "x"}]}`, "no key_identifier"},
		{"not pem", `{"public_keys": [{"key_identifier": "a", "key": "x"}]}`, "PEM"},
		{"rsa key", `{"public_keys": [{"key_identifier": "a", "key": ` + jsonString(testRSAPublicPEM(t)) + `}]}`, "P-256"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseGitHubScanningKeys(tt.doc)
			if msg := FieldErrors(err)[SettingGitHubScanningKeys]; !strings.Contains(msg, tt.want) {
				t.Errorf("got %v, want a field error saying %q", err, tt.want)
			}
		})
	}
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		if err := s.SetGitHubScanningKeys(ctx, "nope", SystemActor()); FieldErrors(err) == nil {
			t.Errorf("invalid document: got %v, want a field error", err)
		}
		if err := s.SetGitHubScanningKeys(ctx, doc, SystemActor()); err != nil {
			t.Fatal(err)
		}
		got, keys, err := s.GitHubScanningKeys(ctx)
		if err != nil || got != doc || len(keys) != 1 || keys[0].ID != "test-key-1" || !keys[0].Current {
			t.Fatalf("stored keys: got %d keys %+v, %v", len(keys), keys, err)
		}
		events, err := s.ListAudit(ctx, AuditFilter{Action: ActionSettingChange})
		if err != nil || len(events) != 1 {
			t.Fatalf("audit: got %d events, %v; want 1", len(events), err)
		}
		if d := events[0].Detail; d["old"] != "none" || d["new"] != "test-key-1 (current)" {
			t.Errorf("audit detail: got %v, want identifiers only", d)
		}
	})
}
