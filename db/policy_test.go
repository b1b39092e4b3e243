package db

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func TestPolicyDefaults(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		s := newTestStore(t)
		p, err := s.Policy(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := Policy{StaleAfter: 90 * 24 * time.Hour, NeverUsedAfter: 30 * 24 * time.Hour}
		if p != want || DefaultPolicy() != want {
			t.Errorf("got %+v (DefaultPolicy %+v), want %+v", p, DefaultPolicy(), want)
		}
	})
}

func TestPolicyIgnoresUnusableStoredValues(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		s := newTestStore(t)
		ctx := context.Background()
		for name, v := range map[string]string{
			"max_key_lifetime_days": "forever", "stale_days": "0", "never_used_days": "99999",
			"auto_disable_days": "-1", "session_idle_minutes": "2", "session_absolute_hours": " 12 ",
		} {
			storeSetting(t, s, name, v)
		}
		p, err := s.Policy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := DefaultPolicy()
		want.SessionAbsolute = 12 * time.Hour
		if p != want {
			t.Errorf("got %+v, want defaults with a 12h absolute session limit %+v", p, want)
		}
	})
}

func TestSetPolicyValidation(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		const day = 24 * time.Hour
		valid := Policy{StaleAfter: 90 * day, NeverUsedAfter: 30 * day}
		with := func(fn func(*Policy)) Policy { p := valid; fn(&p); return p }
		tests := []struct {
			name  string
			p     Policy
			field string // "" means valid
		}{
			{"defaults", valid, ""},
			{"everything set", Policy{MaxKeyLifetime: 3650 * day, StaleAfter: day, NeverUsedAfter: 3650 * day,
				AutoDisableAfter: 180 * day, SessionIdle: 5 * time.Minute, SessionAbsolute: 720 * time.Hour}, ""},
			{"lifetime too long", with(func(p *Policy) { p.MaxKeyLifetime = 3651 * day }), "max_key_lifetime_days"},
			{"lifetime not whole days", with(func(p *Policy) { p.MaxKeyLifetime = 36 * time.Hour }), "max_key_lifetime_days"},
			{"lifetime negative", with(func(p *Policy) { p.MaxKeyLifetime = -day }), "max_key_lifetime_days"},
			{"stale zero", with(func(p *Policy) { p.StaleAfter = 0 }), "stale_days"},
			{"stale too long", with(func(p *Policy) { p.StaleAfter = 3651 * day }), "stale_days"},
			{"never used zero", with(func(p *Policy) { p.NeverUsedAfter = 0 }), "never_used_days"},
			{"auto-disable too long", with(func(p *Policy) { p.AutoDisableAfter = 3651 * day }), "auto_disable_days"},
			{"idle too short", with(func(p *Policy) { p.SessionIdle = 4 * time.Minute }), "session_idle_minutes"},
			{"idle too long", with(func(p *Policy) { p.SessionIdle = 1441 * time.Minute }), "session_idle_minutes"},
			{"absolute too long", with(func(p *Policy) { p.SessionAbsolute = 721 * time.Hour }), "session_absolute_hours"},
			{"idle not shorter than absolute", with(func(p *Policy) {
				p.SessionIdle, p.SessionAbsolute = time.Hour, time.Hour
			}), "session_idle_minutes"},
			{"idle with configured absolute", with(func(p *Policy) { p.SessionIdle = 1440 * time.Minute }), ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newTestStore(t)
				err := s.SetPolicy(context.Background(), tt.p, CLIActor())
				fields := FieldErrors(err)
				switch {
				case tt.field == "" && err != nil:
					t.Errorf("got %v, want nil", err)
				case tt.field != "" && (len(fields) != 1 || fields[tt.field] == ""):
					t.Errorf("got %v, want only a %s field error", err, tt.field)
				}
			})
		}
	})
}

func TestSetPolicyWritesAndAuditsChanges(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		s := newTestStore(t)
		ctx := context.Background()
		actor := Actor{UserID: 3, Label: "ops@example.com"}
		p := DefaultPolicy()
		if err := s.SetPolicy(ctx, p, actor); err != nil {
			t.Fatal(err)
		}
		if events, _ := s.ListAudit(ctx, AuditFilter{Action: ActionSettingChange}); len(events) != 0 {
			t.Errorf("got %d events for an unchanged policy, want 0", len(events))
		}
		p.StaleAfter = 60 * 24 * time.Hour
		p.MaxKeyLifetime = 365 * 24 * time.Hour
		p.SessionIdle = 30 * time.Minute
		if err := s.SetPolicy(ctx, p, actor); err != nil {
			t.Fatal(err)
		}
		got, err := s.Policy(ctx)
		if err != nil || got != p {
			t.Errorf("Policy = %+v, %v, want %+v", got, err, p)
		}
		unused, _, err := s.StaleThresholds(ctx)
		if err != nil || unused != p.StaleAfter {
			t.Errorf("StaleThresholds unused = %v, %v, want %v", unused, err, p.StaleAfter)
		}
		if v, _ := storedSetting(t, s, "session_idle_minutes"); v != "30" {
			t.Errorf("stored session_idle_minutes = %q, want 30", v)
		}
		if _, ok := storedSetting(t, s, "never_used_days"); ok {
			t.Errorf("never_used_days was written, want only changed settings written")
		}
		events, err := s.ListAudit(ctx, AuditFilter{Action: ActionSettingChange})
		if err != nil {
			t.Fatal(err)
		}
		got3 := map[string][2]string{}
		for _, e := range events {
			if e.ActorID != 3 || e.Target != e.Detail["setting"] {
				t.Errorf("got event %+v, want actor 3 and target = setting", e)
			}
			got3[e.Detail["setting"]] = [2]string{e.Detail["old"], e.Detail["new"]}
		}
		want := map[string][2]string{
			"stale_days":            {"90", "60"},
			"max_key_lifetime_days": {"0", "365"},
			"session_idle_minutes":  {"0", "30"},
		}
		if !reflect.DeepEqual(got3, want) {
			t.Errorf("got changes %v, want %v", got3, want)
		}
		// Saving the same policy again changes nothing.
		if err := s.SetPolicy(ctx, p, actor); err != nil {
			t.Fatal(err)
		}
		if events, _ := s.ListAudit(ctx, AuditFilter{Action: ActionSettingChange}); len(events) != 3 {
			t.Errorf("got %d events after an unchanged save, want 3", len(events))
		}
	})
}

func TestMaxKeyLifetime(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		const day = 24 * time.Hour
		p := DefaultPolicy()
		p.MaxKeyLifetime = 30 * day
		if err := env.s.SetPolicy(ctx, p, CLIActor()); err != nil {
			t.Fatal(err)
		}
		const msg = "Keys may live at most 30 days."
		tests := []struct {
			name    string
			expires *time.Duration
			ok      bool
		}{
			{"no expiry", nil, false},
			{"exactly the maximum", new(30 * day), true},
			{"one ms past the maximum", new(30*day + time.Millisecond), false},
			{"shorter", new(day), true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				in := KeyInput{Name: tt.name}
				if tt.expires != nil {
					at := env.clock.Now().Add(*tt.expires)
					in.ExpiresAt = &at
				}
				_, _, err := env.s.CreateKey(ctx, env.alice.ID, in, CLIActor())
				if tt.ok && err != nil {
					t.Errorf("got %v, want nil", err)
				}
				if got := FieldErrors(err)["expires_at"]; !tt.ok && got != msg {
					t.Errorf("got expires_at error %q (err %v), want %q", got, err, msg)
				}
			})
		}

		t.Run("roll caps the new key", func(t *testing.T) {
			// Keys made before the cap: one that never expires, one of 90 days.
			if err := env.s.SetPolicy(ctx, DefaultPolicy(), CLIActor()); err != nil {
				t.Fatal(err)
			}
			forever, _ := env.key(t, env.alice, "forever")
			long, _ := env.key(t, env.alice, "long", expiresIn(env.clock, 90*day))
			short, _ := env.key(t, env.alice, "short", expiresIn(env.clock, 10*day))
			if err := env.s.SetPolicy(ctx, p, CLIActor()); err != nil {
				t.Fatal(err)
			}
			env.clock.Advance(day)
			capAt := env.clock.Now().Add(30 * day)
			for _, tc := range []struct {
				k    Key
				want time.Time
			}{{forever, capAt}, {long, capAt}, {short, env.clock.Now().Add(10 * day)}} {
				nk, _, _, err := env.s.RollKey(ctx, tc.k.UserID, tc.k.ID, 0, CLIActor())
				if err != nil {
					t.Fatalf("RollKey(%s): %v", tc.k.Name, err)
				}
				if nk.ExpiresAt == nil || !nk.ExpiresAt.Equal(tc.want) {
					t.Errorf("rolled %s expires %v, want %v", tc.k.Name, nk.ExpiresAt, tc.want)
				}
			}
		})
	})
}
