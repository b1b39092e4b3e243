package db

import (
	"context"
	"testing"
	"time"
)

const testDay = 24 * time.Hour

// setLastUsed sets key id's last use directly, as a flush would.
func setLastUsed(t *testing.T, s *Store, id int64, at time.Time) {
	t.Helper()
	if _, err := s.w.Exec(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`, toMillis(at), id); err != nil {
		t.Fatal(err)
	}
}

// TestStaleBoundaries pins the stale definitions at their thresholds: a key
// used exactly 90 days ago is not yet stale, one used a millisecond earlier
// is; likewise a never-used key at 30 days. The SQL filter, Key.Stale and
// the overview all agree.
func TestStaleBoundaries(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		tests := []struct {
			name      string
			lastUsed  *time.Duration // ago; nil: never used
			createdAt time.Duration  // ago
			stale     bool
		}{
			{"used exactly 90 days ago", new(90 * testDay), 200 * testDay, false},
			{"used 90 days and 1 ms ago", new(90*testDay + time.Millisecond), 200 * testDay, true},
			{"used yesterday", new(testDay), 200 * testDay, false},
			{"never used, created exactly 30 days ago", nil, 30 * testDay, false},
			{"never used, created 30 days and 1 ms ago", nil, 30*testDay + time.Millisecond, true},
			{"never used, created today", nil, 0, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				env := newKeyTestEnv(t)
				ctx := context.Background()
				k, _ := env.key(t, env.alice, "k")
				env.clock.Advance(tt.createdAt)
				now := env.clock.Now()
				if tt.lastUsed != nil {
					setLastUsed(t, env.s, k.ID, now.Add(-*tt.lastUsed))
				}
				want := 0
				if tt.stale {
					want = 1
				}
				if n, err := env.s.CountKeys(ctx, AnyOwner(), KeyFilter{Stale: true}); err != nil || n != want {
					t.Errorf("CountKeys(stale) = %d, %v, want %d", n, err, want)
				}
				o, err := env.s.Overview(ctx)
				if err != nil || o.StaleKeys != want {
					t.Errorf("Overview.StaleKeys = %d, %v, want %d", o.StaleKeys, err, want)
				}
				got, err := env.s.GetKey(ctx, AnyOwner(), k.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Stale(now, 90*testDay, 30*testDay) != tt.stale {
					t.Errorf("Key.Stale = %v, want %v", !tt.stale, tt.stale)
				}
			})
		}
	})
}

func TestOverview(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		ktUser(t, env.s, "carol@example.com")
		env.key(t, env.alice, "old, never used")
		usedOld, _ := env.key(t, env.alice, "used long ago")
		setLastUsed(t, env.s, usedOld.ID, env.clock.Now())
		env.clock.Advance(100 * testDay)
		now := env.clock.Now()
		env.key(t, env.alice, "new, never used")
		soon, _ := env.key(t, env.bob, "expires in 7 days", expiresIn(env.clock, ExpiringWindow))
		env.key(t, env.bob, "expires in 8 days", expiresIn(env.clock, ExpiringWindow+testDay))
		fresh, _ := env.key(t, env.bob, "fresh")
		revoked, _ := env.key(t, env.bob, "revoked")
		disabled, _ := env.key(t, env.bob, "disabled")
		for _, id := range []int64{soon.ID, fresh.ID} {
			setLastUsed(t, env.s, id, now)
		}
		if _, err := env.s.RevokeKey(ctx, AnyOwner(), revoked.ID, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		if _, err := env.s.SetKeyDisabled(ctx, AnyOwner(), disabled.ID, true, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		// Verifications: 25 hours ago (outside), 23 hours ago and this hour.
		hour := toMillis(now) / msPerHour
		for h, n := range map[int64]int64{hour - 24: 1000, hour - 23: 7, hour: 5} {
			if _, err := env.s.w.Exec(`INSERT INTO usage_hourly (hour, count) VALUES (?, ?)`, h, n); err != nil {
				t.Fatal(err)
			}
		}

		o, err := env.s.Overview(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := Overview{
			Users:            3,
			ActiveKeys:       6, // all but the revoked and the disabled key
			StaleKeys:        2, // "old, never used" and "used long ago"
			NeverUsedKeys:    3, // old and new never used, expires in 15 days
			ExpiringSoon:     1, // 7 days is inside the window (ExpiringWindow), 8 is not
			Verifications24h: 12,
		}
		if o != want {
			t.Errorf("got %+v, want %+v", o, want)
		}
		if n, _ := env.s.CountKeys(ctx, AnyOwner(), KeyFilter{Stale: true}); n != o.StaleKeys {
			t.Errorf("stale card %d disagrees with the stale list %d", o.StaleKeys, n)
		}
		if n, _ := env.s.CountKeys(ctx, AnyOwner(), KeyFilter{Status: KeyActive}); n != o.ActiveKeys {
			t.Errorf("active card %d disagrees with the active list %d", o.ActiveKeys, n)
		}
		if n, _ := env.s.CountKeys(ctx, AnyOwner(), KeyFilter{Status: KeyExpiring}); n != o.ExpiringSoon {
			t.Errorf("expiring card %d disagrees with the expiring list %d", o.ExpiringSoon, n)
		}
		if n, _ := env.s.CountKeys(ctx, AnyOwner(), KeyFilter{Status: KeyActive, NeverUsed: true}); n != o.NeverUsedKeys {
			t.Errorf("never-used card %d disagrees with the active never-used list %d", o.NeverUsedKeys, n)
		}
	})
}

func TestHourlyUsage(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		ctx := context.Background()
		hour := toMillis(clock.Now()) / msPerHour
		for h, n := range map[int64]int64{hour - 30: 99, hour - 23: 4, hour - 1: 2, hour: 3, hour + 1: 50} {
			if _, err := s.w.Exec(`INSERT INTO usage_hourly (hour, count) VALUES (?, ?)`, h, n); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name    string
			hours   int
			wantLen int
			wantSum int64
		}{
			{"default is 24", 0, 24, 9},
			{"two hours", 2, 2, 5},
			{"capped", 10_000, MaxUsageHours, 108},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.HourlyUsage(ctx, tt.hours)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != tt.wantLen {
					t.Fatalf("got %d hours, want %d", len(got), tt.wantLen)
				}
				var sum int64
				for i, hc := range got {
					sum += hc.Count
					if want := fromMillis((hour - int64(len(got)-1-i)) * msPerHour); !hc.Hour.Equal(want) {
						t.Fatalf("entry %d: got hour %v, want %v", i, hc.Hour, want)
					}
				}
				if sum != tt.wantSum {
					t.Errorf("got total %d, want %d", sum, tt.wantSum)
				}
				if last := got[len(got)-1]; last.Count != 3 || last.Hour.After(clock.Now()) {
					t.Errorf("got last entry %+v, want the current hour with 3", last)
				}
			})
		}
	})
}

func TestAutoDisableStale(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		neverOld, _ := env.key(t, env.alice, "never used, old")
		usedAtCutoff, _ := env.key(t, env.alice, "used exactly 30 days ago")
		usedPast, _ := env.key(t, env.alice, "used 30 days and 1 ms ago")
		revoked, _ := env.key(t, env.bob, "revoked")
		expired, _ := env.key(t, env.bob, "expired", expiresIn(env.clock, testDay))
		disabled, _ := env.key(t, env.bob, "disabled")
		env.clock.Advance(60 * testDay)
		now := env.clock.Now()
		neverNew, _ := env.key(t, env.bob, "never used, new")
		setLastUsed(t, env.s, usedAtCutoff.ID, now.Add(-30*testDay))
		setLastUsed(t, env.s, usedPast.ID, now.Add(-30*testDay-time.Millisecond))
		if _, err := env.s.RevokeKey(ctx, AnyOwner(), revoked.ID, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		if _, err := env.s.SetKeyDisabled(ctx, AnyOwner(), disabled.ID, true, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		env.hookCalls = 0

		if n, err := env.s.AutoDisableStale(ctx); err != nil || n != 0 {
			t.Fatalf("policy off: got %d, %v, want 0, nil", n, err)
		}
		p := DefaultPolicy()
		p.AutoDisableAfter = 30 * testDay
		if err := env.s.SetPolicy(ctx, p, CLIActor()); err != nil {
			t.Fatal(err)
		}
		n, err := env.s.AutoDisableStale(ctx)
		if err != nil || n != 2 {
			t.Fatalf("AutoDisableStale = %d, %v, want 2, nil", n, err)
		}
		if env.hookCalls != 1 {
			t.Errorf("got %d hook calls, want 1", env.hookCalls)
		}
		for _, tc := range []struct {
			k    Key
			want KeyStatus
		}{
			{neverOld, KeyDisabled}, {usedPast, KeyDisabled}, {usedAtCutoff, KeyActive},
			{revoked, KeyRevoked}, {expired, KeyExpired}, {neverNew, KeyActive}, {disabled, KeyDisabled},
		} {
			k, err := env.s.GetKey(ctx, AnyOwner(), tc.k.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := k.Status(now); got != tc.want {
				t.Errorf("%s: got %s, want %s", tc.k.Name, got, tc.want)
			}
		}
		events, err := env.s.ListAudit(ctx, AuditFilter{Actor: "SYSTEM", Action: ActionKeyDisable})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 2 {
			t.Fatalf("got %d system disable events, want 2", len(events))
		}
		for _, e := range events {
			if e.ActorID != 0 || e.Detail["reason"] != "unused for 30 days (auto-disable)" ||
				(e.TargetID != neverOld.ID && e.TargetID != usedPast.ID) {
				t.Errorf("got event %+v, want a system disable of an idle key with the reason", e)
			}
		}
		if n, err := env.s.AutoDisableStale(ctx); err != nil || n != 0 || env.hookCalls != 1 {
			t.Errorf("second run: got %d, %v (%d hook calls), want 0, nil (1)", n, err, env.hookCalls)
		}
	})
}

func TestListAuditByActorLabel(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		s := newTestStore(t)
		ctx := context.Background()
		for _, label := range []string{"Ada@Example.com", "bob@example.com", "ada@example.com.evil", "cli"} {
			if err := s.Audit(ctx, AuditEvent{Actor: label, Action: ActionLoginSuccess}); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			actor string
			want  int
		}{{"ada@example.com", 1}, {" ADA@EXAMPLE.COM ", 1}, {"cli", 1}, {"ada", 0}, {"", 4}}
		for _, tt := range tests {
			events, err := s.ListAudit(ctx, AuditFilter{Actor: tt.actor})
			if err != nil || len(events) != tt.want {
				t.Errorf("Actor %q: got %d events, %v, want %d", tt.actor, len(events), err, tt.want)
			}
		}
	})
}

// TestKeyStateAgreement pins, for every state a key can be in, that the
// status filters, the stale filter, the overview and Key.Status/Key.Stale
// say the same thing. Every key is 200 days old and never used, so all but
// the revoked and expired ones are stale: a disabled key (its own flag or
// its owner's) is still a candidate for revocation, a revoked one is done
// and an expired one ends by itself.
func TestKeyStateAgreement(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		tests := []struct {
			name       string
			keyOff     bool // the key itself is disabled
			ownerOff   bool // its owner is disabled
			revoked    bool
			expiresIn  time.Duration // from the listing; 0: never
			wantStatus KeyStatus
			wantStale  bool
		}{
			{"active", false, false, false, 0, KeyActive, true},
			{"expiring", false, false, false, 3 * testDay, KeyExpiring, true},
			{"expired", false, false, false, -testDay, KeyExpired, false},
			{"disabled", true, false, false, 0, KeyDisabled, true},
			{"owner disabled", false, true, false, 0, KeyDisabled, true},
			{"owner disabled, expiring", false, true, false, 3 * testDay, KeyDisabled, true},
			{"owner disabled, expired", false, true, false, -testDay, KeyDisabled, false},
			{"disabled, owner disabled", true, true, false, 0, KeyDisabled, true},
			{"revoked", false, false, true, 0, KeyRevoked, false},
			{"revoked, owner disabled", false, true, true, 0, KeyRevoked, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				env := newKeyTestEnv(t)
				ctx := context.Background()
				var opts []func(*KeyInput)
				if tt.expiresIn != 0 {
					opts = append(opts, expiresIn(env.clock, 200*testDay+tt.expiresIn))
				}
				k, _ := env.key(t, env.alice, "k", opts...)
				if tt.keyOff {
					if _, err := env.s.SetKeyDisabled(ctx, AnyOwner(), k.ID, true, "", CLIActor()); err != nil {
						t.Fatal(err)
					}
				}
				if tt.revoked {
					if _, err := env.s.RevokeKey(ctx, AnyOwner(), k.ID, "", CLIActor()); err != nil {
						t.Fatal(err)
					}
				}
				if tt.ownerOff {
					if err := env.s.SetUserDisabled(ctx, env.alice.ID, true, CLIActor()); err != nil {
						t.Fatal(err)
					}
				}
				env.clock.Advance(200 * testDay)
				now := env.clock.Now()

				got, err := env.s.GetKey(ctx, AnyOwner(), k.ID)
				if err != nil {
					t.Fatal(err)
				}
				if st := got.Status(now); st != tt.wantStatus {
					t.Errorf("Key.Status: got %q, want %q", st, tt.wantStatus)
				}
				if st := got.Stale(now, DefaultStaleDays*testDay, DefaultNeverUsedDays*testDay); st != tt.wantStale {
					t.Errorf("Key.Stale: got %v, want %v", st, tt.wantStale)
				}
				for _, status := range []KeyStatus{KeyActive, KeyExpiring, KeyExpired, KeyDisabled, KeyRevoked} {
					want := 0
					if status == tt.wantStatus || (status == KeyActive && tt.wantStatus == KeyExpiring) {
						want = 1
					}
					if n, err := env.s.CountKeys(ctx, AnyOwner(), KeyFilter{Status: status}); err != nil || n != want {
						t.Errorf("CountKeys(status %s): got %d (%v), want %d", status, n, err, want)
					}
				}
				wantStale := 0
				if tt.wantStale {
					wantStale = 1
				}
				if n, err := env.s.CountKeys(ctx, AnyOwner(), KeyFilter{Stale: true}); err != nil || n != wantStale {
					t.Errorf("CountKeys(stale): got %d (%v), want %d", n, err, wantStale)
				}
				wantNever := 0
				if tt.wantStale && got.LastUsedAt == nil {
					wantNever = 1
				}
				if sc, err := env.s.CountStale(ctx); err != nil || sc != (StaleCounts{Stale: wantStale, NeverUsed: wantNever}) {
					t.Errorf("CountStale: got %+v (%v), want {Stale:%d NeverUsed:%d}", sc, err, wantStale, wantNever)
				}
				wantExpiring := 0
				if tt.wantStatus == KeyExpiring {
					wantExpiring = 1
				}
				if uc, err := env.s.CountUserKeys(ctx, got.UserID); err != nil || uc != (UserKeyCounts{All: 1, Expiring: wantExpiring, Stale: wantStale}) {
					t.Errorf("CountUserKeys: got %+v (%v), want {All:1 Expiring:%d Stale:%d}", uc, err, wantExpiring, wantStale)
				}
				o, err := env.s.Overview(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if o.StaleKeys != wantStale {
					t.Errorf("Overview.StaleKeys: got %d, want %d", o.StaleKeys, wantStale)
				}
				wantActive := 0
				if tt.wantStatus == KeyActive || tt.wantStatus == KeyExpiring {
					wantActive = 1
				}
				if o.ActiveKeys != wantActive {
					t.Errorf("Overview.ActiveKeys: got %d, want %d", o.ActiveKeys, wantActive)
				}
				users, err := env.s.ListUsers(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, u := range users {
					if u.ID == env.alice.ID && u.ActiveKeys != wantActive {
						t.Errorf("ListUsers active keys of the owner: got %d, want %d", u.ActiveKeys, wantActive)
					}
				}
			})
		}
	})
}
