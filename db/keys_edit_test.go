package db

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestEditKeyExpiry holds the expiry rules of an edit: shorter always,
// longer only within the policy's lifetime counted from creation, never
// in the past, "never" only without a cap, no lengthening of a rolled key.
func TestEditKeyExpiry(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		const day = 24 * time.Hour
		at := func(d time.Duration) func(now time.Time) *time.Time {
			return func(now time.Time) *time.Time { t := now.Add(d); return &t }
		}
		never := func(time.Time) *time.Time { return nil }
		tests := []struct {
			name     string
			maxLife  time.Duration                  // policy cap set before the edit (0: none)
			created  func(now time.Time) *time.Time // the key's expiry at creation
			age      time.Duration                  // clock moved after creation
			rolled   bool
			to       func(now time.Time) *time.Time
			wantErr  bool
			wantText string // the field message, when wantErr
		}{
			{name: "shorter", created: at(30 * day), to: at(10 * day)},
			{name: "shorter beyond a cap set later", maxLife: 10 * day, created: at(60 * day), to: at(40 * day)},
			{name: "never to a date", maxLife: 90 * day, created: never, to: at(5 * day)},
			{name: "longer without a cap", created: at(30 * day), to: at(400 * day)},
			{name: "never without a cap", created: at(30 * day), to: never},
			{name: "longer within the cap from creation", maxLife: 90 * day, created: at(30 * day), age: 20 * day, to: at(70 * day)},
			{name: "longer over the cap from creation", maxLife: 90 * day, created: at(30 * day), age: 20 * day, to: at(71 * day),
				wantErr: true, wantText: "Keys may live at most 90 days from their creation: this key can expire no later than 2025-06-12."},
			{name: "never with a cap", maxLife: 90 * day, created: at(30 * day), to: never,
				wantErr: true, wantText: "Keys must expire: they may live at most 90 days. This key can expire no later than 2025-06-12."},
			{name: "in the past", created: at(30 * day), to: at(-time.Minute), wantErr: true, wantText: "Choose an expiry in the future."},
			{name: "now", created: at(30 * day), to: at(0), wantErr: true, wantText: "Choose an expiry in the future."},
			{name: "expired key extended within the cap", maxLife: 90 * day, created: at(10 * day), age: 15 * day, to: at(30 * day)},
			{name: "expired key extended over the cap", maxLife: 30 * day, created: at(10 * day), age: 15 * day, to: at(30 * day),
				wantErr: true, wantText: "Keys may live at most 30 days from their creation: this key can expire no later than 2025-04-13."},
			{name: "rolled key lengthened", created: at(30 * day), rolled: true, to: at(60 * day),
				wantErr: true, wantText: "This key was rolled: its expiry can only be brought forward. Use the key that replaced it."},
			{name: "rolled key shortened", created: at(30 * day), rolled: true, to: at(time.Minute)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				env := newKeyTestEnv(t)
				ctx := context.Background()
				k, _ := env.key(t, env.alice, "svc", func(in *KeyInput) { in.ExpiresAt = tt.created(env.clock.Now()) })
				if tt.rolled {
					if _, _, _, err := env.s.RollKey(ctx, env.alice.ID, k.ID, 7*day, CLIActor()); err != nil {
						t.Fatal(err)
					}
					var err error
					if k, err = env.s.GetKey(ctx, AnyOwner(), k.ID); err != nil {
						t.Fatal(err)
					}
				}
				if tt.maxLife > 0 {
					if err := env.s.SetPolicy(ctx, Policy{MaxKeyLifetime: tt.maxLife, StaleAfter: 90 * day, NeverUsedAfter: 30 * day}, CLIActor()); err != nil {
						t.Fatal(err)
					}
				}
				env.clock.Advance(tt.age)
				to := tt.to(env.clock.Now())
				hooks := env.hookCalls
				got, err := env.s.EditKey(ctx, OwnedBy(env.alice.ID), k.ID, KeyEdit{SetExpiry: true, ExpiresAt: to}, Actor{UserID: env.alice.ID, Label: env.alice.Email})
				stored, gerr := env.s.GetKey(ctx, AnyOwner(), k.ID)
				if gerr != nil {
					t.Fatal(gerr)
				}
				if tt.wantErr {
					if fe := FieldErrors(err); fe["expires_at"] != tt.wantText {
						t.Fatalf("err = %v (fields %v), want expires_at %q", err, fe, tt.wantText)
					}
					if !sameExpiry(stored.ExpiresAt, k.ExpiresAt) || env.hookCalls != hooks {
						t.Errorf("after a refusal: expiry %v, cache drops %d; want %v unchanged and no drop", stored.ExpiresAt, env.hookCalls-hooks, k.ExpiresAt)
					}
					return
				}
				if err != nil {
					t.Fatalf("EditKey: %v", err)
				}
				if !sameExpiry(got.ExpiresAt, to) || !sameExpiry(stored.ExpiresAt, to) {
					t.Errorf("expiry: returned %v, stored %v, want %v", got.ExpiresAt, stored.ExpiresAt, to)
				}
				e := lastEvent(t, env.s, ActionKeyUpdate)
				want := map[string]Change{"expires_at": {Before: expiryText(k.ExpiresAt), After: expiryText(to)}}
				if !reflect.DeepEqual(e.Changes, want) || e.TargetID != k.ID {
					t.Errorf("audit changes = %v on key %d, want %v on %d", e.Changes, e.TargetID, want, k.ID)
				}
			})
		}
	})
}

// TestEditKeyFields: name and description change together in one audited
// event with before and after; an unchanged edit writes nothing; a
// revoked key is refused; another member's key is not found.
func TestEditKeyFields(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		k, _ := env.key(t, env.alice, "svc", func(in *KeyInput) { in.Description = "old words" })
		alice := Actor{UserID: env.alice.ID, Label: env.alice.Email}
		name, desc := "svc-2", "new words"
		if _, err := env.s.EditKey(ctx, OwnedBy(env.alice.ID), k.ID, KeyEdit{Name: &name, Description: &desc}, alice); err != nil {
			t.Fatal(err)
		}
		e := lastEvent(t, env.s, ActionKeyUpdate)
		want := map[string]Change{"name": {Before: "svc", After: "svc-2"}, "description": {Before: "old words", After: "new words"}}
		if !reflect.DeepEqual(e.Changes, want) || e.Actor != env.alice.Email {
			t.Errorf("audit = %+v, want changes %v by alice", e, want)
		}

		t.Run("nothing differs", func(t *testing.T) {
			hooks := env.hookCalls
			if _, err := env.s.EditKey(ctx, OwnedBy(env.alice.ID), k.ID, KeyEdit{Name: &name, SetExpiry: true}, alice); err != nil {
				t.Fatal(err)
			}
			if got := lastEvent(t, env.s, ActionKeyUpdate); got.ID != e.ID || env.hookCalls != hooks {
				t.Errorf("got a new event %d (cache drops %d), want none", got.ID, env.hookCalls-hooks)
			}
		})
		t.Run("another member's key", func(t *testing.T) {
			other := "mine"
			_, err := env.s.EditKey(ctx, OwnedBy(env.bob.ID), k.ID, KeyEdit{Name: &other}, Actor{UserID: env.bob.ID})
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
		})
		t.Run("revoked", func(t *testing.T) {
			if _, err := env.s.RevokeKey(ctx, AnyOwner(), k.ID, "", CLIActor()); err != nil {
				t.Fatal(err)
			}
			later := env.clock.Now().Add(time.Hour)
			_, err := env.s.EditKey(ctx, AnyOwner(), k.ID, KeyEdit{SetExpiry: true, ExpiresAt: &later}, CLIActor())
			wantConflict(t, err, "This key is revoked and cannot be changed.")
		})
	})
}

// TestEditKeyExpiryReachesVerifier: a shortened expiry takes effect on the
// same Verifier at once, with the key in its cache.
func TestEditKeyExpiryReachesVerifier(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env, v := newVerifyEnv(t)
		k, secret := env.key(t, env.alice, "svc")
		wantCode(t, verify(t, v, secret, ""), "")
		soon := env.clock.Now().Add(time.Minute)
		if _, err := env.s.EditKey(context.Background(), OwnedBy(env.alice.ID), k.ID, KeyEdit{SetExpiry: true, ExpiresAt: &soon}, CLIActor()); err != nil {
			t.Fatal(err)
		}
		env.clock.Advance(time.Minute + time.Millisecond)
		wantCode(t, verify(t, v, secret, ""), CodeExpired)
	})
}
