package db

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyDisableWhoMayLift: a disable records who and why; its owner
// lifts only a disable they made, anyone with AnyOwner access (an admin,
// the command line) lifts any; enabling clears the record. A disabled key
// is never rolled into an active successor.
func TestKeyDisableWhoMayLift(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		admin := Actor{UserID: 999, Label: "admin@example.com"}
		tests := []struct {
			name       string
			disable    func(env *keyTestEnv, k Key) error
			wantBy     func(env *keyTestEnv) int64
			wantReason string
			ownerLifts bool
			rollMsg    string
		}{
			{"by the owner", func(env *keyTestEnv, k Key) error {
				_, err := env.s.SetKeyDisabled(ctx, OwnedBy(env.alice.ID), k.ID, true, " pausing the job ", Actor{UserID: env.alice.ID})
				return err
			}, func(env *keyTestEnv) int64 { return env.alice.ID }, "pausing the job", true, "Enable it before rolling it."},
			{"by an admin", func(env *keyTestEnv, k Key) error {
				_, err := env.s.SetKeyDisabled(ctx, AnyOwner(), k.ID, true, "suspicious traffic", admin)
				return err
			}, func(*keyTestEnv) int64 { return admin.UserID }, "suspicious traffic", false, "Ask an admin to enable it."},
			{"in bulk", func(env *keyTestEnv, k Key) error {
				_, err := env.s.BulkDisableKeys(ctx, []int64{k.ID}, "quarterly review", admin)
				return err
			}, func(*keyTestEnv) int64 { return admin.UserID }, "quarterly review", false, "Ask an admin to enable it."},
			{"by the policy", func(env *keyTestEnv, k Key) error {
				p, err := env.s.Policy(ctx)
				if err != nil {
					return err
				}
				p.AutoDisableAfter = 30 * testDay
				if err := env.s.SetPolicy(ctx, p, CLIActor()); err != nil {
					return err
				}
				env.clock.Advance(31 * testDay)
				_, err = env.s.AutoDisableStale(ctx)
				return err
			}, func(*keyTestEnv) int64 { return 0 }, "unused for 30 days (auto-disable)", false, "Ask an admin to enable it."},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				env := newKeyTestEnv(t)
				k, _ := env.key(t, env.alice, "svc")
				if err := tt.disable(env, k); err != nil {
					t.Fatal(err)
				}
				got, err := env.s.GetKey(ctx, AnyOwner(), k.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.DisabledAt == nil || got.DisabledBy != tt.wantBy(env) || got.DisabledReason != tt.wantReason {
					t.Errorf("disabled key: got at %v by %d reason %q, want by %d reason %q",
						got.DisabledAt, got.DisabledBy, got.DisabledReason, tt.wantBy(env), tt.wantReason)
				}

				n, _ := env.s.CountKeys(ctx, AnyOwner(), KeyFilter{})
				_, _, _, err = env.s.RollKey(ctx, env.alice.ID, k.ID, 0, Actor{UserID: env.alice.ID})
				wantKind(t, err, ErrConflict)
				if !strings.Contains(err.Error(), tt.rollMsg) {
					t.Errorf("roll refusal: got %q, want it to say %q", err, tt.rollMsg)
				}
				if after, _ := env.s.CountKeys(ctx, AnyOwner(), KeyFilter{}); after != n {
					t.Errorf("keys after the refused roll: got %d, want %d", after, n)
				}

				_, err = env.s.SetKeyDisabled(ctx, OwnedBy(env.alice.ID), k.ID, false, "", Actor{UserID: env.alice.ID})
				if tt.ownerLifts {
					if err != nil {
						t.Fatalf("owner's enable: %v", err)
					}
				} else {
					wantKind(t, err, ErrConflict)
					if _, err := env.s.SetKeyDisabled(ctx, AnyOwner(), k.ID, false, "", admin); err != nil {
						t.Fatalf("admin's enable: %v", err)
					}
				}
				got, err = env.s.GetKey(ctx, AnyOwner(), k.ID)
				if err != nil || got.DisabledAt != nil || got.DisabledBy != 0 || got.DisabledReason != "" {
					t.Errorf("enabled key: got %+v, %v, want no disable recorded", got, err)
				}
			})
		}
		t.Run("reason too long", func(t *testing.T) {
			env := newKeyTestEnv(t)
			k, _ := env.key(t, env.alice, "svc")
			_, err := env.s.SetKeyDisabled(ctx, AnyOwner(), k.ID, true, strings.Repeat("r", MaxRevokeReasonLength+1), admin)
			if FieldErrors(err)["reason"] == "" {
				t.Errorf("got %v, want a reason field error", err)
			}
		})
	})
}

// TestMigrationKeyDisabledBy: keys disabled before the migration get who
// and why from their latest key.disable audit event.
func TestMigrationKeyDisabledBy(t *testing.T) {
	ctx := context.Background()
	var before []string
	for _, n := range migrationNames {
		if strings.HasSuffix(n, "_key_disabled_by.sql") {
			break
		}
		before = append(before, n)
	}
	if len(before) == len(migrationNames) {
		t.Fatal("no *_key_disabled_by.sql migration")
	}
	path := filepath.Join(t.TempDir(), "keyward.db")
	createSchema(t, path, before)
	execSQL(t, path,
		`INSERT INTO users (id, email, password_hash, role, created_at, password_changed_at) VALUES
			(1, 'admin@example.com', 'x', 'admin', 0, 0), (2, 'ann@example.com', 'x', 'member', 0, 0)`,
		`INSERT INTO api_keys (id, user_id, name, key_hash, hint, created_at, disabled_at) VALUES
			(1, 2, 'by admin', x'01', 'kw_…0001', 0, 5000),
			(2, 2, 'by owner', x'02', 'kw_…0002', 0, 5000),
			(3, 2, 'by policy', x'03', 'kw_…0003', 0, 5000),
			(4, 2, 'enabled again', x'04', 'kw_…0004', 0, NULL)`,
		`INSERT INTO audit_events (at, actor_id, actor, action, target_type, target_id, detail) VALUES
			(1000, 2, 'ann@example.com', 'key.disable', 'key', 1, '{}'),
			(1500, 2, 'ann@example.com', 'key.enable', 'key', 1, '{}'),
			(5000, 1, 'admin@example.com', 'key.disable', 'key', 1, '{"reason":"leaked","bulk":"true"}'),
			(5000, 2, 'ann@example.com', 'key.disable', 'key', 2, '{}'),
			(5000, NULL, 'system', 'key.disable', 'key', 3, '{"reason":"unused for 90 days (auto-disable)"}'),
			(5000, 1, 'admin@example.com', 'key.disable', 'key', 4, '{"reason":"old"}')`,
	)
	s, err := Open(ctx, path, Options{Argon2: testArgon2, Migrate: MigrateForward})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	want := map[int64]struct {
		by     int64
		reason string
	}{1: {1, "leaked"}, 2: {2, ""}, 3: {0, "unused for 90 days (auto-disable)"}, 4: {0, ""}}
	for id, w := range want {
		k, err := s.GetKey(ctx, AnyOwner(), id)
		if err != nil {
			t.Fatal(err)
		}
		if k.DisabledBy != w.by || k.DisabledReason != w.reason {
			t.Errorf("key %q: got by %d reason %q, want by %d reason %q", k.Name, k.DisabledBy, k.DisabledReason, w.by, w.reason)
		}
	}
}
