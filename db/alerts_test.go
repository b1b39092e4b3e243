package db

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRaiseAlertDeduplicatesWhileOpen(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		k, _, err := s.CreateKey(ctx, ann.ID, KeyInput{Name: "deploy"}, CLIActor())
		if err != nil {
			t.Fatal(err)
		}
		raise := func(summary string) (int64, bool) {
			t.Helper()
			id, opened, err := s.RaiseAlert(ctx, AlertFinding{Rule: RuleSpike, KeyID: k.ID, Summary: summary,
				Evidence: map[string]any{"uses": summary}})
			if err != nil {
				t.Fatal(err)
			}
			return id, opened
		}
		first, opened := raise("one")
		if !opened {
			t.Fatal("first finding: got not opened, want a new alert")
		}
		clock.Advance(time.Hour)
		again, opened := raise("two")
		if opened || again != first {
			t.Errorf("second finding while open: got id %d opened=%v, want id %d updated", again, opened, first)
		}
		a, ok, err := openAlert(ctx, s.r, RuleSpike, k.ID)
		if err != nil || !ok {
			t.Fatalf("open alert: got ok=%v, %v", ok, err)
		}
		if a.Occurrences != 2 || a.Summary != "two" || a.Evidence["uses"] != "two" || !a.LastSeen.Equal(clock.Now()) || !a.FirstSeen.Equal(clock.Now().Add(-time.Hour)) {
			t.Errorf("open alert after two findings: got %+v", a)
		}
		// Another rule on the same key is another alert.
		if _, opened, err := s.RaiseAlert(ctx, AlertFinding{Rule: RuleDormantUse, KeyID: k.ID, Summary: "x"}); err != nil || !opened {
			t.Errorf("other rule: got opened=%v, %v; want a new alert", opened, err)
		}
		// Resolved, the next finding opens a new one.
		if _, err := s.w.ExecContext(ctx, `UPDATE alerts SET status = 'resolved', resolved_at = ? WHERE id = ?`, toMillis(clock.Now()), first); err != nil {
			t.Fatal(err)
		}
		if id, opened := raise("three"); !opened || id == first {
			t.Errorf("after resolving: got id %d opened=%v, want a new alert", id, opened)
		}
		var events int
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox_events WHERE type = ? AND key_id = ? AND user_id = ?`,
			EventAlertOpened, k.ID, ann.ID).Scan(&events); err != nil {
			t.Fatal(err)
		}
		if events != 3 {
			t.Errorf("alert.opened events: got %d, want 3 (one per opened alert, none per update)", events)
		}
		if _, _, err := s.RaiseAlert(ctx, AlertFinding{Rule: "nonsense", KeyID: k.ID}); !errors.Is(err, ErrUnknownRule) {
			t.Errorf("unknown rule: got %v, want ErrUnknownRule", err)
		}
	})
}

func TestActivityRulesRoundTrip(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		got, err := s.ActivityRules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := DefaultActivityRules(); got != want {
			t.Errorf("fresh rules: got %+v, want the defaults %+v", got, want)
		}
		r := got
		r.SpikeFactor, r.DormantOn, r.LeakDisable = 8, false, true
		if err := s.SetActivityRules(ctx, r, SystemActor()); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.ActivityRules(ctx); got != r {
			t.Errorf("after setting: got %+v, want %+v", got, r)
		}
		events, err := s.ListAudit(ctx, AuditFilter{Action: ActionSettingChange})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 3 {
			t.Errorf("audit events: got %d, want 3 (one per changed setting)", len(events))
		}
		bad := r
		bad.SpikeFactor, bad.ManyAddresses = 1, 0
		var ve *ValidationError
		if err := s.SetActivityRules(ctx, bad, SystemActor()); !errors.As(err, &ve) || ve.Fields["alert_spike_factor"] == "" || ve.Fields["alert_many_addresses_count"] == "" {
			t.Errorf("out of range: got %v, want field errors for both settings", err)
		}
	})
}
