package db

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestListKeysFilters(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		const day = 24 * time.Hour
		// Created 100 days ago.
		never, _ := env.key(t, env.alice, "never used")
		usedLongAgo, _ := env.key(t, env.alice, "used long ago")
		expired, _ := env.key(t, env.alice, "expired", expiresIn(env.clock, 50*day))
		env.clock.Advance(5 * day)
		if _, err := env.s.w.Exec(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`, toMillis(env.clock.Now()), usedLongAgo.ID); err != nil {
			t.Fatal(err)
		}
		env.clock.Advance(95 * day)
		// Created now.
		fresh, _ := env.key(t, env.alice, "fresh 100%_done")
		expiring, _ := env.key(t, env.alice, "expiring", expiresIn(env.clock, 3*day))
		disabled, _ := env.key(t, env.alice, "disabled")
		revoked, _ := env.key(t, env.alice, "revoked")
		if _, err := env.s.SetKeyDisabled(ctx, AnyOwner(), disabled.ID, true, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		if _, err := env.s.RevokeKey(ctx, AnyOwner(), revoked.ID, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		if _, err := env.s.w.Exec(`UPDATE api_keys SET last_used_at = ? WHERE id IN (?, ?)`, toMillis(env.clock.Now()), fresh.ID, expiring.ID); err != nil {
			t.Fatal(err)
		}
		bobs, _ := env.key(t, env.bob, "bob's")

		ids := func(keys ...Key) []int64 {
			out := []int64{}
			for _, k := range keys {
				out = append(out, k.ID)
			}
			return out
		}
		tests := []struct {
			name string
			f    KeyFilter
			want []int64
		}{
			{"all", KeyFilter{}, ids(revoked, disabled, expiring, fresh, expired, usedLongAgo, never)},
			{"active includes expiring", KeyFilter{Status: KeyActive}, ids(expiring, fresh, usedLongAgo, never)},
			{"expiring", KeyFilter{Status: KeyExpiring}, ids(expiring)},
			{"expired", KeyFilter{Status: KeyExpired}, ids(expired)},
			{"disabled", KeyFilter{Status: KeyDisabled}, ids(disabled)},
			{"revoked", KeyFilter{Status: KeyRevoked}, ids(revoked)},
			{"stale", KeyFilter{Stale: true}, ids(usedLongAgo, never)},
			{"never used", KeyFilter{NeverUsed: true}, ids(revoked, disabled, expired, never)},
			{"expiring within 2 days", KeyFilter{ExpiringWithin: 2 * day}, ids()},
			{"expiring within 4 days", KeyFilter{ExpiringWithin: 4 * day}, ids(expiring)},
			{"search is literal", KeyFilter{Search: "100%_"}, ids(fresh)},
			{"search ignores case", KeyFilter{Search: "USED"}, ids(usedLongAgo, never)},
			{"search wildcard is literal", KeyFilter{Search: "%"}, ids(fresh)},
			{"limit", KeyFilter{Limit: 2}, ids(revoked, disabled)},
			{"offset", KeyFilter{Limit: 2, Offset: 5}, ids(usedLongAgo, never)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				keys, err := env.s.ListKeys(ctx, OwnedBy(env.alice.ID), tt.f)
				if err != nil {
					t.Fatal(err)
				}
				if got := ids(keys...); !reflect.DeepEqual(got, tt.want) {
					t.Errorf("ListKeys = %v, want %v", got, tt.want)
				}
				if tt.f.Limit == 0 {
					n, err := env.s.CountKeys(ctx, OwnedBy(env.alice.ID), tt.f)
					if err != nil || n != len(tt.want) {
						t.Errorf("CountKeys = %d, %v, want %d", n, err, len(tt.want))
					}
				}
				if tt.f.Stale {
					unused, neverUsed, _ := env.s.StaleThresholds(ctx)
					for _, k := range keys {
						if !k.Stale(env.clock.Now(), unused, neverUsed) {
							t.Errorf("key %q listed as stale but Key.Stale = false", k.Name)
						}
					}
				}
			})
		}
		if n, err := env.s.CountKeys(ctx, AnyOwner(), KeyFilter{NeverUsed: true}); err != nil || n != 5 {
			t.Errorf("CountKeys(any, never used) = %d, %v, want 5 (with %d)", n, err, bobs.ID)
		}
		if _, err := env.s.ListKeys(ctx, AnyOwner(), KeyFilter{Status: "bogus"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("unknown status: err = %v, want ErrInvalid", err)
		}

		// A longer stale threshold makes the key used 95 days ago fresh again.
		storeSetting(t, env.s, "stale_days", "120")
		keys, err := env.s.ListKeys(ctx, OwnedBy(env.alice.ID), KeyFilter{Stale: true})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids(keys...), ids(never); !reflect.DeepEqual(got, want) {
			t.Errorf("stale with stale_days=120 = %v, want %v", got, want)
		}
	})
}

func TestStaleThresholds(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		const day = 24 * time.Hour
		tests := []struct {
			name                string
			settings            map[string]string
			wantUnused, wantNew time.Duration
		}{
			{"defaults", nil, 90 * day, 30 * day},
			{"set", map[string]string{"stale_days": "60", "never_used_days": "7"}, 60 * day, 7 * day},
			{"unusable values fall back", map[string]string{"stale_days": "soon", "never_used_days": "-3"}, 90 * day, 30 * day},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newTestStore(t)
				ctx := context.Background()
				for k, v := range tt.settings {
					storeSetting(t, s, k, v)
				}
				unused, neverUsed, err := s.StaleThresholds(ctx)
				if err != nil || unused != tt.wantUnused || neverUsed != tt.wantNew {
					t.Errorf("StaleThresholds = %v, %v, %v, want %v, %v", unused, neverUsed, err, tt.wantUnused, tt.wantNew)
				}
			})
		}
	})
}

func TestKeyUsageZeroFilled(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		k, _ := env.key(t, env.alice, "k")
		today := dayNumber(env.clock.Now())
		for day, n := range map[int64]int64{today: 7, today - 1: 3, today - 29: 5, today - 30: 100, today + 1: 100} {
			if _, err := env.s.w.Exec(`INSERT INTO key_usage_daily (key_id, day, count) VALUES (?, ?, ?)`, k.ID, day, n); err != nil {
				t.Fatal(err)
			}
		}
		got, err := env.s.KeyUsage(ctx, OwnedBy(env.alice.ID), k.ID, 30)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 30 {
			t.Fatalf("len = %d, want 30", len(got))
		}
		midnight := env.clock.Now().Truncate(24 * time.Hour)
		for i, d := range got {
			if want := midnight.AddDate(0, 0, i-29); !d.Day.Equal(want) {
				t.Errorf("day %d = %v, want %v", i, d.Day, want)
			}
			var want int64
			switch i {
			case 29:
				want = 7
			case 28:
				want = 3
			case 0:
				want = 5
			}
			if d.Count != want {
				t.Errorf("count on day %d = %d, want %d", i, d.Count, want)
			}
		}
		if got, err := env.s.KeyUsage(ctx, AnyOwner(), k.ID, 0); err != nil || len(got) != 30 {
			t.Errorf("KeyUsage(days=0) = %d days, %v, want 30", len(got), err)
		}
	})
}
