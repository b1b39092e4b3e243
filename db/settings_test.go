package db

import (
	"context"
	"strings"
	"testing"
)

func TestSettings(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	actor := Actor{UserID: 7, Label: "ops@example.com", IP: "192.0.2.3"}

	if v, ok, err := s.Setting(ctx, "stale_days"); err != nil || ok || v != "" {
		t.Fatalf("unset: got %q, %v, %v, want \"\", false, nil", v, ok, err)
	}
	steps := []struct{ value, wantOld string }{{"90", ""}, {"90", ""}, {"30", "90"}}
	for _, st := range steps {
		if err := s.SetSetting(ctx, "stale_days", st.value, actor); err != nil {
			t.Fatalf("SetSetting(%q): %v", st.value, err)
		}
		if v, ok, err := s.Setting(ctx, "stale_days"); err != nil || !ok || v != st.value {
			t.Errorf("got %q, %v, %v, want %q, true, nil", v, ok, err, st.value)
		}
	}
	events, err := s.ListAudit(ctx, AuditFilter{Action: ActionSettingChange})
	if err != nil {
		t.Fatal(err)
	}
	// Setting the same value twice is not a change.
	if len(events) != 2 {
		t.Fatalf("got %d setting.change events, want 2", len(events))
	}
	for i, want := range []map[string]string{{"old": "90", "new": "30"}, {"old": "", "new": "90"}} {
		e := events[i]
		if e.Target != "stale_days" || e.TargetType != "setting" || e.ActorID != 7 || e.Detail["old"] != want["old"] || e.Detail["new"] != want["new"] {
			t.Errorf("event %d: got %+v, want target stale_days with %v", i, e, want)
		}
	}
}

func TestSecretSettingsAreNotAudited(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	name := SecretSettingPrefix + "session_key"
	for _, v := range []string{"first-secret-value", "second-secret-value"} {
		if err := s.SetSetting(ctx, name, v, SystemActor()); err != nil {
			t.Fatal(err)
		}
	}
	if v, _, _ := s.Setting(ctx, name); v != "second-secret-value" {
		t.Errorf("got %q, want the stored secret", v)
	}
	events, err := s.ListAudit(ctx, AuditFilter{TargetType: "setting"})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("got %d events, want 2", len(events))
	}
	for _, e := range events {
		for k, v := range e.Detail {
			if strings.Contains(v, "secret-value") {
				t.Errorf("got detail %s=%q, want the secret kept out of the audit log", k, v)
			}
		}
	}
}
