package db

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func keyIDs(keys []Key) []int64 {
	out := []int64{}
	for _, k := range keys {
		out = append(out, k.ID)
	}
	return out
}

func TestBulkRevokeKeys(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		a1, _ := env.key(t, env.alice, "a1")
		a2, _ := env.key(t, env.alice, "a2")
		a3, _ := env.key(t, env.alice, "a3")
		b1, _ := env.key(t, env.bob, "b1")
		gone, _ := env.key(t, env.bob, "already revoked")
		if _, err := env.s.RevokeKey(ctx, AnyOwner(), gone.ID, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		if _, err := env.s.SetKeyDisabled(ctx, AnyOwner(), a3.ID, true, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		env.hookCalls = 0
		env.clock.Advance(time.Minute)
		admin := Actor{UserID: 42, Label: "root@example.com", IP: "192.0.2.5"}

		res, err := env.s.BulkRevokeKeys(ctx, []int64{b1.ID, a1.ID, 9999, b1.ID, gone.ID, a3.ID}, "  leaked in a log  ", admin)
		if err != nil {
			t.Fatalf("BulkRevokeKeys: %v", err)
		}
		if got, want := keyIDs(res.Changed), []int64{b1.ID, a1.ID, a3.ID}; !reflect.DeepEqual(got, want) {
			t.Errorf("got changed %v, want %v", got, want)
		}
		if got, want := keyIDs(res.Skipped), []int64{gone.ID}; !reflect.DeepEqual(got, want) {
			t.Errorf("got skipped %v, want %v", got, want)
		}
		if want := []int64{9999}; !reflect.DeepEqual(res.Missing, want) {
			t.Errorf("got missing %v, want %v", res.Missing, want)
		}
		if env.hookCalls != 1 {
			t.Errorf("got %d hook calls, want 1", env.hookCalls)
		}
		for _, k := range res.Changed {
			if k.RevokedAt == nil || !k.RevokedAt.Equal(env.clock.Now()) || k.RevokedBy != 42 || k.RevokeReason != "leaked in a log" {
				t.Errorf("result key %d: got revoked %v by %d for %q, want now by 42", k.ID, k.RevokedAt, k.RevokedBy, k.RevokeReason)
			}
		}
		for _, tc := range []struct {
			k       Key
			revoked bool
		}{{a1, true}, {a2, false}, {a3, true}, {b1, true}} {
			got, err := env.s.GetKey(ctx, AnyOwner(), tc.k.ID)
			if err != nil {
				t.Fatal(err)
			}
			if (got.RevokedAt != nil) != tc.revoked {
				t.Errorf("key %s revoked = %v, want %v", tc.k.Name, got.RevokedAt != nil, tc.revoked)
			}
			events, err := env.s.ListAudit(ctx, AuditFilter{Action: ActionKeyRevoke, TargetID: tc.k.ID})
			if err != nil {
				t.Fatal(err)
			}
			if !tc.revoked {
				if len(events) != 0 {
					t.Errorf("key %s: got %d revoke events, want 0", tc.k.Name, len(events))
				}
				continue
			}
			if len(events) != 1 {
				t.Fatalf("key %s: got %d revoke events, want 1", tc.k.Name, len(events))
			}
			e := events[0]
			if e.ActorID != 42 || e.IP != "192.0.2.5" || e.Target != tc.k.Name ||
				!reflect.DeepEqual(e.Detail, map[string]string{"reason": "leaked in a log", "bulk": "true"}) {
				t.Errorf("key %s: got event %+v, want a bulk revoke by 42 with the reason", tc.k.Name, e)
			}
		}

		// Nothing left to change: no commit, no cache drop.
		res, err = env.s.BulkRevokeKeys(ctx, []int64{a1.ID}, "again", admin)
		if err != nil || len(res.Changed) != 0 || len(res.Skipped) != 1 {
			t.Errorf("again: got %+v, %v, want a1 skipped", res, err)
		}
		if env.hookCalls != 1 {
			t.Errorf("got %d hook calls after a no-op, want 1", env.hookCalls)
		}
	})
}

func TestBulkDisableKeys(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		on, _ := env.key(t, env.alice, "on")
		off, _ := env.key(t, env.alice, "off")
		dead, _ := env.key(t, env.bob, "dead")
		if _, err := env.s.SetKeyDisabled(ctx, AnyOwner(), off.ID, true, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		if _, err := env.s.RevokeKey(ctx, AnyOwner(), dead.ID, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		res, err := env.s.BulkDisableKeys(ctx, []int64{dead.ID, off.ID, on.ID}, "quarterly review", CLIActor())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := keyIDs(res.Changed), []int64{on.ID}; !reflect.DeepEqual(got, want) {
			t.Errorf("got changed %v, want %v", got, want)
		}
		if got, want := keyIDs(res.Skipped), []int64{dead.ID, off.ID}; !reflect.DeepEqual(got, want) {
			t.Errorf("got skipped %v, want %v", got, want)
		}
		if k, _ := env.s.GetKey(ctx, AnyOwner(), on.ID); k.Status(env.clock.Now()) != KeyDisabled {
			t.Errorf("got status %s, want disabled", k.Status(env.clock.Now()))
		}
		e := lastEvent(t, env.s, ActionKeyDisable)
		if e.TargetID != on.ID || e.Detail["reason"] != "quarterly review" || e.Detail["bulk"] != "true" {
			t.Errorf("got event %+v, want a bulk disable of %d", e, on.ID)
		}
	})
}

func TestBulkRefusals(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		k, _ := env.key(t, env.alice, "k")
		tests := []struct {
			name   string
			ids    []int64
			reason string
			field  string // "" means a plain ErrInvalid
		}{
			{"no reason", []int64{k.ID}, "   ", "reason"},
			{"reason too long", []int64{k.ID}, strings.Repeat("é", MaxRevokeReasonLength+1), "reason"},
			{"no ids", nil, "why", ""},
			{"too many ids", make([]int64, MaxBulkKeys+1), "why", ""},
		}
		for i := range tests[3].ids {
			tests[3].ids[i] = int64(i + 1)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for _, fn := range []func(context.Context, []int64, string, Actor) (BulkResult, error){env.s.BulkRevokeKeys, env.s.BulkDisableKeys} {
					_, err := fn(ctx, tt.ids, tt.reason, CLIActor())
					if !errors.Is(err, ErrInvalid) {
						t.Fatalf("got %v, want ErrInvalid", err)
					}
					if tt.field != "" && FieldErrors(err)[tt.field] == "" {
						t.Errorf("got %v, want a %s field error", err, tt.field)
					}
				}
			})
		}
		if got, _ := env.s.GetKey(ctx, AnyOwner(), k.ID); got.RevokedAt != nil || got.DisabledAt != nil {
			t.Errorf("a refused bulk action changed the key")
		}
		// Exactly MaxRevokeReasonLength runes is fine.
		if _, err := env.s.BulkDisableKeys(ctx, []int64{k.ID}, strings.Repeat("é", MaxRevokeReasonLength), CLIActor()); err != nil {
			t.Errorf("reason of %d runes: got %v, want nil", MaxRevokeReasonLength, err)
		}
	})
}

func TestKeysByIDs(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		// More than one IN (...) chunk, alternating owners.
		ids := seedKeys(t, env.s, []int64{env.alice.ID, env.bob.ID}, 1200, env.clock.Now())
		ask := append([]int64{-1, ids[700], ids[3]}, ids...)
		ask = append(ask, ids[3], 1_000_000)
		keys, missing, err := env.s.KeysByIDs(context.Background(), ask)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]int64{ids[700], ids[3]}, ids[:3]...)
		want = append(want, ids[4:700]...)
		want = append(want, ids[701:]...)
		if got := keyIDs(keys); !reflect.DeepEqual(got, want) {
			t.Errorf("got %d keys (first %v), want %d in the order asked", len(got), got[:min(5, len(got))], len(want))
		}
		if !reflect.DeepEqual(missing, []int64{-1, 1_000_000}) {
			t.Errorf("got missing %v, want [-1 1000000]", missing)
		}
		if keys[0].OwnerEmail != env.alice.Email || keys[1].OwnerEmail != env.bob.Email {
			t.Errorf("got owners %q, %q, want alice's then bob's", keys[0].OwnerEmail, keys[1].OwnerEmail)
		}
	})
}

// seedKeys inserts n keys named "seed N" created at now, owned in turn by
// owners, straight into the table (no audit, no key text): fast enough for
// thousands of keys. It returns their ids in insertion order.
func seedKeys(tb testing.TB, s *Store, owners []int64, n int, now time.Time) []int64 {
	tb.Helper()
	tx, err := s.w.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	stmt, err := tx.Prepare(insertKeySQL)
	if err != nil {
		tb.Fatal(err)
	}
	defer stmt.Close()
	ids := make([]int64, 0, n)
	for i := range n {
		hash := sha256.Sum256(fmt.Appendf(nil, "seed %d %d", now.UnixNano(), i))
		var id int64
		if err := stmt.QueryRowContext(context.Background(), owners[i%len(owners)], fmt.Sprintf("seed %d", i), "", hash[:], "kw_…seed",
			"", toMillis(now), nil, nil, nil, "", "", nil).Scan(&id); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return ids
}
