package db

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestKeyStateTransitions(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		k, _ := env.key(t, env.alice, "svc")
		scope, actor := OwnedBy(env.alice.ID), Actor{UserID: env.alice.ID, Label: env.alice.Email}
		now := env.clock.Now

		steps := []struct {
			name       string
			do         func() (Key, error)
			wantErr    error
			wantStatus KeyStatus
			wantHooks  int // cumulative, after the create
		}{
			{"disable", func() (Key, error) { return env.s.SetKeyDisabled(ctx, scope, k.ID, true, "", actor) }, nil, KeyDisabled, 1},
			{"disable again is a no-op", func() (Key, error) { return env.s.SetKeyDisabled(ctx, scope, k.ID, true, "", actor) }, nil, KeyDisabled, 1},
			{"enable", func() (Key, error) { return env.s.SetKeyDisabled(ctx, scope, k.ID, false, "", actor) }, nil, KeyActive, 2},
			{"enable again is a no-op", func() (Key, error) { return env.s.SetKeyDisabled(ctx, scope, k.ID, false, "", actor) }, nil, KeyActive, 2},
			{"rename", func() (Key, error) { return env.s.UpdateKey(ctx, scope, k.ID, "svc-2", "desc", actor) }, nil, KeyActive, 3},
			{"same name is a no-op", func() (Key, error) { return env.s.UpdateKey(ctx, scope, k.ID, "svc-2", "desc", actor) }, nil, KeyActive, 3},
			{"revoke with too long a reason", func() (Key, error) {
				return env.s.RevokeKey(ctx, scope, k.ID, strings.Repeat("r", 501), actor)
			}, ErrInvalid, KeyActive, 3},
			{"revoke", func() (Key, error) { return env.s.RevokeKey(ctx, scope, k.ID, "leaked in a log", actor) }, nil, KeyRevoked, 4},
			{"revoke again", func() (Key, error) { return env.s.RevokeKey(ctx, scope, k.ID, "", actor) }, ErrConflict, KeyRevoked, 4},
			{"enable revoked", func() (Key, error) { return env.s.SetKeyDisabled(ctx, scope, k.ID, false, "", actor) }, ErrConflict, KeyRevoked, 4},
			{"disable revoked", func() (Key, error) { return env.s.SetKeyDisabled(ctx, scope, k.ID, true, "", actor) }, ErrConflict, KeyRevoked, 4},
			{"rename revoked", func() (Key, error) { return env.s.UpdateKey(ctx, scope, k.ID, "x", "", actor) }, ErrConflict, KeyRevoked, 4},
			{"roll revoked", func() (Key, error) {
				_, _, old, err := env.s.RollKey(ctx, env.alice.ID, k.ID, time.Hour, actor)
				return old, err
			}, ErrConflict, KeyRevoked, 4},
		}
		env.hookCalls = 0
		for _, st := range steps {
			got, err := st.do()
			if st.wantErr != nil {
				if !errors.Is(err, st.wantErr) {
					t.Fatalf("%s: err = %v, want %v", st.name, err, st.wantErr)
				}
			} else if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			} else if s := got.Status(now()); s != st.wantStatus {
				t.Errorf("%s: returned status = %q, want %q", st.name, s, st.wantStatus)
			}
			stored, err := env.s.GetKey(ctx, scope, k.ID)
			if err != nil {
				t.Fatal(err)
			}
			if s := stored.Status(now()); s != st.wantStatus {
				t.Errorf("%s: stored status = %q, want %q", st.name, s, st.wantStatus)
			}
			if env.hookCalls != st.wantHooks {
				t.Errorf("%s: hook calls = %d, want %d", st.name, env.hookCalls, st.wantHooks)
			}
		}
		final, err := env.s.GetKey(ctx, scope, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if final.RevokedBy != env.alice.ID || final.RevokeReason != "leaked in a log" || final.Name != "svc-2" {
			t.Errorf("revoked key = %+v, want revoked by alice, reason kept, name svc-2", final)
		}
		_, err = env.s.UpdateKey(ctx, scope, k.ID, "x", "", actor)
		var e *Error
		if !errors.As(err, &e) || e.Message != "This key is revoked and cannot be changed." {
			t.Errorf("edit revoked: err = %v, want the revoked message", err)
		}

		events, err := env.s.KeyEvents(ctx, scope, k.ID, 50)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range events {
			actions = append(actions, e.Action)
		}
		want := []string{ActionKeyRevoke, ActionKeyUpdate, ActionKeyEnable, ActionKeyDisable, ActionKeyCreate}
		if !reflect.DeepEqual(actions, want) {
			t.Errorf("audit actions = %v, want %v", actions, want)
		}
		if events[0].Detail["reason"] != "leaked in a log" || events[1].Changes["name"] != (Change{Before: "svc", After: "svc-2"}) {
			t.Errorf("audit details = %v / %v, want reason and the name before and after", events[0].Detail, events[1].Changes)
		}
	})
}

func TestRollKey(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		const day = 24 * time.Hour
		tests := []struct {
			name       string
			lifetime   time.Duration // 0: no expiry
			age        time.Duration // how long after creation the roll happens
			grace      time.Duration
			wantOldExp time.Duration // from the roll
			wantNewExp time.Duration // from the roll; 0: none
		}{
			{"no expiry, grace now", 0, day, 0, 0, 0},
			{"no expiry, grace 1h", 0, day, time.Hour, time.Hour, 0},
			{"no expiry, grace 24h", 0, day, day, day, 0},
			{"no expiry, grace 7d", 0, day, 7 * day, 7 * day, 0},
			{"30d lifetime keeps its length", 30 * day, 10 * day, day, day, 30 * day},
			{"expiry sooner than grace is kept", 30 * day, 28 * day, 7 * day, 2 * day, 30 * day},
			{"expired key can be rolled", 30 * day, 31 * day, time.Hour, -day, 30 * day},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				env := newKeyTestEnv(t)
				ctx := context.Background()
				opts := []func(*KeyInput){func(in *KeyInput) { in.Description = "d"; in.Scopes = []string{"a", "b"} }}
				if tt.lifetime > 0 {
					opts = append(opts, expiresIn(env.clock, tt.lifetime))
				}
				old, oldSecret := env.key(t, env.alice, "rolled", opts...)
				env.clock.Advance(tt.age)
				rollAt := env.clock.Now()
				env.hookCalls = 0
				nk, secret, oldAfter, err := env.s.RollKey(ctx, env.alice.ID, old.ID, tt.grace, CLIActor())
				if err != nil {
					t.Fatalf("RollKey: %v", err)
				}
				if err := ParseKey(secret); err != nil || secret == oldSecret {
					t.Errorf("new secret %q: parse %v, want a fresh valid key", secret, err)
				}
				if nk.RolledFrom != old.ID || nk.Name != "rolled" || nk.Description != "d" ||
					!reflect.DeepEqual(nk.Scopes, []string{"a", "b"}) || nk.UserID != env.alice.ID || !nk.CreatedAt.Equal(rollAt) {
					t.Errorf("new key = %+v, want a copy of the old one rolled from %d", nk, old.ID)
				}
				if tt.wantNewExp == 0 && nk.ExpiresAt != nil {
					t.Errorf("new expiry = %v, want none", nk.ExpiresAt)
				}
				if tt.wantNewExp != 0 && (nk.ExpiresAt == nil || !nk.ExpiresAt.Equal(rollAt.Add(tt.wantNewExp))) {
					t.Errorf("new expiry = %v, want %v", nk.ExpiresAt, rollAt.Add(tt.wantNewExp))
				}
				if oldAfter.ExpiresAt == nil || !oldAfter.ExpiresAt.Equal(rollAt.Add(tt.wantOldExp)) {
					t.Errorf("old expiry = %v, want %v", oldAfter.ExpiresAt, rollAt.Add(tt.wantOldExp))
				}
				if env.hookCalls != 1 {
					t.Errorf("hook calls = %d, want 1", env.hookCalls)
				}
				oldEvents, err := env.s.KeyEvents(ctx, AnyOwner(), old.ID, 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(oldEvents) == 0 || oldEvents[0].Action != ActionKeyRoll {
					t.Errorf("old key's latest event = %+v, want key.roll", oldEvents)
				}
				newEvents, err := env.s.KeyEvents(ctx, AnyOwner(), nk.ID, 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(newEvents) != 1 || newEvents[0].Action != ActionKeyCreate || newEvents[0].Detail["rolled_from"] == "" {
					t.Errorf("new key's events = %+v, want one key.create with rolled_from", newEvents)
				}
			})
		}
		t.Run("grace at most a week", func(t *testing.T) {
			env := newKeyTestEnv(t)
			old, _ := env.key(t, env.alice, "x")
			for _, grace := range []time.Duration{-time.Second, MaxRollGrace + time.Second} {
				_, _, _, err := env.s.RollKey(context.Background(), env.alice.ID, old.ID, grace, CLIActor())
				if FieldErrors(err)["grace"] == "" {
					t.Errorf("grace %v: err = %v, want a field error for grace", grace, err)
				}
			}
			// Any span up to the week is taken (the API offers more than
			// the dashboard's four).
			if _, _, _, err := env.s.RollKey(context.Background(), env.alice.ID, old.ID, 2*time.Hour, CLIActor()); err != nil {
				t.Errorf("grace 2h: %v", err)
			}
		})
	})
}

// Deleting a user deletes their keys, including a rolled chain, and usage.
func TestUserDeletionCascadesToKeys(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		old, _ := env.key(t, env.bob, "chain")
		if _, _, _, err := env.s.RollKey(ctx, env.bob.ID, old.ID, time.Hour, CLIActor()); err != nil {
			t.Fatal(err)
		}
		if _, err := env.s.w.Exec(`DELETE FROM users WHERE id = ?`, env.bob.ID); err != nil {
			t.Fatalf("delete user: %v", err)
		}
		if n, err := env.s.CountKeys(ctx, AnyOwner(), KeyFilter{}); err != nil || n != 0 {
			t.Errorf("keys left = %d, %v, want 0", n, err)
		}
	})
}

// TestRollKeyOnce: a key has at most one successor; rolling it again names
// that successor and creates nothing.
func TestRollKeyOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		actor := Actor{UserID: env.alice.ID, Label: env.alice.Email}
		k, _ := env.key(t, env.alice, "rolling")
		first, _, _, err := env.s.RollKey(ctx, env.alice.ID, k.ID, time.Hour, actor)
		if err != nil {
			t.Fatalf("first roll: %v", err)
		}
		_, _, _, err = env.s.RollKey(ctx, env.alice.ID, k.ID, time.Hour, actor)
		ac, ok := errors.AsType[*AlreadyCreatedError](err)
		if !ok || !errors.Is(err, ErrConflict) {
			t.Fatalf("second roll: got %v, want an *AlreadyCreatedError (ErrConflict)", err)
		}
		if ac.KeyID != first.ID || ac.KeyName != "rolling" {
			t.Errorf("second roll names key %d %q, want the successor %d %q", ac.KeyID, ac.KeyName, first.ID, "rolling")
		}
		keys, err := env.s.ListKeys(ctx, OwnedBy(env.alice.ID), KeyFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 {
			t.Errorf("got %d keys, want 2 (the key and one successor)", len(keys))
		}
		// The successor itself can be rolled.
		if _, _, _, err := env.s.RollKey(ctx, env.alice.ID, first.ID, time.Hour, actor); err != nil {
			t.Errorf("rolling the successor: %v", err)
		}
	})
}
