package db

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

// catalogEnv is a key test environment whose catalog also holds an
// admin-only scope, one needing approval and a retired one; carol is an
// admin.
type catalogEnv struct {
	*keyTestEnv
	carol User
}

func newCatalogEnv(t *testing.T) *catalogEnv {
	t.Helper()
	env := &catalogEnv{keyTestEnv: newKeyTestEnv(t)}
	env.carol = mustCreateUser(t, env.s, "carol@example.com", RoleAdmin)
	ctx := context.Background()
	for _, in := range []ScopeInput{
		{Name: "billing:admin", AdminOnly: true},
		{Name: "billing:write", NeedsApproval: true},
		{Name: "legacy"},
	} {
		if _, err := env.s.CreateScope(ctx, in, CLIActor()); err != nil {
			t.Fatalf("CreateScope(%s): %v", in.Name, err)
		}
	}
	if _, err := env.s.SetScopeRetired(ctx, "legacy", true, CLIActor()); err != nil {
		t.Fatalf("retire legacy: %v", err)
	}
	return env
}

func actorOf(u User) Actor { return Actor{UserID: u.ID, Label: u.Email} }

// keyCount counts every key, to show a refusal wrote nothing.
func keyCount(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.r.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM api_keys`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCheckGrantable(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newCatalogEnv(t)
		ctx := context.Background()
		tests := []struct {
			name    string
			role    Role
			outside bool
			scopes  []string
			wantErr string // the "scopes" message; "" for allowed
		}{
			{"member, member scope", RoleMember, false, []string{"read"}, ""},
			{"member, approval scope", RoleMember, false, []string{"billing:write"}, ""},
			{"member, admin-only scope", RoleMember, false, []string{"read", "billing:admin"}, `"billing:admin" can be granted by admins only.`},
			{"admin, admin-only scope", RoleAdmin, false, []string{"billing:admin"}, ""},
			{"member, retired scope", RoleMember, false, []string{"legacy"}, `"legacy" is retired and can no longer be granted.`},
			{"admin, retired scope", RoleAdmin, false, []string{"legacy"}, `"legacy" is retired and can no longer be granted.`},
			{"member, unknown scope", RoleMember, false, []string{"admin:all"}, `"admin:all" is not in the catalog.`},
			{"admin, unknown scope", RoleAdmin, false, []string{"admin:all"}, `"admin:all" is not in the catalog.`},
			{"member, unknown scope, outside allowed", RoleMember, true, []string{"admin:all"}, ""},
			{"member, admin-only scope, outside allowed", RoleMember, true, []string{"billing:admin"}, `"billing:admin" can be granted by admins only.`},
			{"member, retired scope, outside allowed", RoleMember, true, []string{"legacy"}, `"legacy" is retired and can no longer be granted.`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := env.s.SetScopesOutsideCatalog(ctx, tt.outside, CLIActor()); err != nil {
					t.Fatal(err)
				}
				err := env.s.CheckGrantable(ctx, tt.role, tt.scopes)
				if got := FieldErrors(err)["scopes"]; got != tt.wantErr {
					t.Errorf("got %q (%v), want %q", got, err, tt.wantErr)
				}
			})
		}
	})
}

func TestCreateKeyGrantRules(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newCatalogEnv(t)
		ctx := context.Background()
		v := quietVerifier(env.s)

		t.Run("member refused an admin-only scope, nothing written", func(t *testing.T) {
			before := keyCount(t, env.s)
			_, _, err := env.s.CreateKey(ctx, env.alice.ID, KeyInput{Name: "x", Scopes: []string{"billing:admin"}}, actorOf(env.alice))
			if got := FieldErrors(err)["scopes"]; got == "" {
				t.Fatalf("got %v, want a scopes field error", err)
			}
			if got := keyCount(t, env.s); got != before {
				t.Errorf("got %d keys, want %d", got, before)
			}
		})
		t.Run("the CLI grants an admin-only scope", func(t *testing.T) {
			k, _, err := env.s.CreateKey(ctx, env.alice.ID, KeyInput{Name: "x", Scopes: []string{"billing:admin"}}, CLIActor())
			if err != nil || !reflect.DeepEqual(k.Scopes, []string{"billing:admin"}) {
				t.Fatalf("got %v scopes, err %v, want [billing:admin]", k.Scopes, err)
			}
		})
		t.Run("member's approval scope makes the key wait", func(t *testing.T) {
			k, secret, err := env.s.CreateKey(ctx, env.alice.ID, KeyInput{Name: "w", Scopes: []string{"read", "billing:write"}}, actorOf(env.alice))
			if err != nil {
				t.Fatalf("CreateKey: %v", err)
			}
			if !k.PendingKey || !reflect.DeepEqual(k.Scopes, []string{"read"}) || !reflect.DeepEqual(k.PendingScopes, []string{"billing:write"}) ||
				k.PendingSince == nil || k.PendingBy != env.alice.ID {
				t.Errorf("got %+v, want pending key, scopes [read], pending [billing:write], since and by set", k)
			}
			if got := k.Status(env.clock.Now()); got != KeyPending {
				t.Errorf("got status %q, want pending", got)
			}
			wantCode(t, verify(t, v, secret, "read"), CodePendingApproval)
			wantCode(t, verify(t, v, secret, ""), CodePendingApproval)
			if events, _ := env.s.ListAudit(ctx, AuditFilter{TargetType: "key", TargetID: k.ID, Action: ActionKeyApprovalRequest}); len(events) != 1 {
				t.Errorf("got %d approval_requested events, want 1", len(events))
			}
		})
		t.Run("an admin's grant is the approval", func(t *testing.T) {
			k, secret, err := env.s.CreateKey(ctx, env.carol.ID, KeyInput{Name: "a", Scopes: []string{"billing:write"}}, actorOf(env.carol))
			if err != nil || k.PendingKey || len(k.PendingScopes) != 0 {
				t.Fatalf("got %+v, %v, want a working key", k, err)
			}
			wantCode(t, verify(t, v, secret, "billing:write"), "")
		})
	})
}

func TestApproveAndDeny(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newCatalogEnv(t)
		ctx := context.Background()
		v := quietVerifier(env.s)
		admin := actorOf(env.carol)
		wait := func(name string) (Key, string) {
			k, secret, err := env.s.CreateKey(ctx, env.alice.ID, KeyInput{Name: name, Scopes: []string{"read", "billing:write"}}, actorOf(env.alice))
			if err != nil {
				t.Fatal(err)
			}
			wantCode(t, verify(t, v, secret, "read"), CodePendingApproval) // now cached
			return k, secret
		}

		t.Run("approve", func(t *testing.T) {
			k, secret := wait("approved")
			got, err := env.s.ApproveKey(ctx, k.ID, admin)
			if err != nil {
				t.Fatalf("ApproveKey: %v", err)
			}
			if got.PendingKey || len(got.PendingScopes) != 0 || got.PendingSince != nil || !reflect.DeepEqual(got.Scopes, []string{"read", "billing:write"}) {
				t.Errorf("got %+v, want scopes [read billing:write] and nothing pending", got)
			}
			wantCode(t, verify(t, v, secret, "billing:write"), "")
			if _, err := env.s.ApproveKey(ctx, k.ID, admin); !errors.Is(err, ErrConflict) {
				t.Errorf("second approve: got %v, want ErrConflict", err)
			}
		})
		t.Run("deny a waiting key revokes it", func(t *testing.T) {
			k, secret := wait("denied")
			if _, err := env.s.DenyKey(ctx, k.ID, "", admin); FieldErrors(err)["reason"] == "" {
				t.Fatalf("deny without reason: got %v, want a reason field error", err)
			}
			got, err := env.s.DenyKey(ctx, k.ID, "billing is finance-only", admin)
			if err != nil {
				t.Fatalf("DenyKey: %v", err)
			}
			if got.RevokedAt == nil || got.RevokeReason != "billing is finance-only" || got.PendingKey {
				t.Errorf("got %+v, want revoked with the reason", got)
			}
			wantCode(t, verify(t, v, secret, "read"), CodeRevoked)
		})
		t.Run("deny a scope addition drops it and the key keeps working", func(t *testing.T) {
			k, secret := env.key(t, env.alice, "working", func(in *KeyInput) { in.Scopes = []string{"read"} })
			wantCode(t, verify(t, v, secret, "read"), "")
			k, err := env.s.SetKeyScopes(ctx, OwnedBy(env.alice.ID), k.ID, []string{"read", "billing:write"}, actorOf(env.alice))
			if err != nil || !reflect.DeepEqual(k.PendingScopes, []string{"billing:write"}) || k.PendingKey {
				t.Fatalf("SetKeyScopes: %+v, %v, want billing:write pending on a working key", k, err)
			}
			wantCode(t, verify(t, v, secret, "read"), "")
			wantCode(t, verify(t, v, secret, "billing:write"), CodePendingApproval)
			got, err := env.s.DenyKey(ctx, k.ID, "use billing:read", admin)
			if err != nil || got.RevokedAt != nil || len(got.PendingScopes) != 0 || !reflect.DeepEqual(got.Scopes, []string{"read"}) {
				t.Fatalf("DenyKey: %+v, %v, want a working key with [read]", got, err)
			}
			wantCode(t, verify(t, v, secret, "billing:write"), CodeInsufficientScope)
			d, err := env.s.LastDenial(ctx, OwnedBy(env.alice.ID), k.ID)
			if err != nil || d == nil || d.Reason != "use billing:read" || d.Scopes != "billing:write" {
				t.Errorf("LastDenial: %+v, %v, want the reason and scope", d, err)
			}
		})
		t.Run("requests list and count", func(t *testing.T) {
			k, _ := wait("listed")
			reqs, err := env.s.ListPendingKeys(ctx)
			if err != nil || len(reqs) != 1 || reqs[0].ID != k.ID || reqs[0].RequestedBy != env.alice.Email {
				t.Fatalf("ListPendingKeys: %+v, %v, want only %d by alice", reqs, err, k.ID)
			}
			if n, err := env.s.CountPendingKeys(ctx); err != nil || n != 1 {
				t.Errorf("CountPendingKeys: %d, %v, want 1", n, err)
			}
			keys, err := env.s.ListKeys(ctx, OwnedBy(env.alice.ID), KeyFilter{Status: KeyPending})
			if err != nil || len(keys) != 1 || keys[0].ID != k.ID {
				t.Errorf("ListKeys(pending): %d keys, %v, want only %d", len(keys), err, k.ID)
			}
		})
	})
}

func TestSetKeyScopes(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newCatalogEnv(t)
		ctx := context.Background()
		v := quietVerifier(env.s)
		k, secret, err := env.s.CreateKey(ctx, env.alice.ID, KeyInput{Name: "k", Scopes: []string{"read", "billing:admin"}}, CLIActor())
		if err != nil {
			t.Fatal(err)
		}
		alice := actorOf(env.alice)
		tests := []struct {
			name        string
			scopes      []string
			wantErr     bool
			wantScopes  []string
			wantPending []string
		}{
			{"member adds a member scope", []string{"read", "billing:admin", "admin"}, false, []string{"read", "billing:admin", "admin"}, nil},
			{"keeps an admin-only scope it cannot grant", []string{"read", "billing:admin"}, false, []string{"read", "billing:admin"}, nil},
			{"refused: unknown scope", []string{"read", "nope"}, true, []string{"read", "billing:admin"}, nil},
			{"refused: retired scope", []string{"legacy"}, true, []string{"read", "billing:admin"}, nil},
			{"approval scope waits", []string{"read", "billing:write"}, false, []string{"read"}, []string{"billing:write"}},
			{"withdrawn", []string{"read"}, false, []string{"read"}, nil},
		}
		// The first row's "admin" is member-grantable (testCatalog); the
		// rows run in order on the same key.
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantCode(t, verify(t, v, secret, "read"), "") // cached before the change
				got, err := env.s.SetKeyScopes(ctx, OwnedBy(env.alice.ID), k.ID, tt.scopes, alice)
				if (err != nil) != tt.wantErr {
					t.Fatalf("got err %v, want error %v", err, tt.wantErr)
				}
				if err != nil {
					if FieldErrors(err)["scopes"] == "" {
						t.Errorf("got %v, want a scopes field error", err)
					}
					got, _ = env.s.GetKey(ctx, AnyOwner(), k.ID)
				}
				if !reflect.DeepEqual(got.Scopes, tt.wantScopes) || !reflect.DeepEqual(got.PendingScopes, tt.wantPending) {
					t.Errorf("got scopes %v pending %v, want %v and %v", got.Scopes, got.PendingScopes, tt.wantScopes, tt.wantPending)
				}
				for _, sc := range tt.wantScopes {
					wantCode(t, verify(t, v, secret, sc), "")
				}
				for _, sc := range tt.wantPending {
					wantCode(t, verify(t, v, secret, sc), CodePendingApproval)
				}
			})
		}
		if _, err := env.s.SetKeyScopes(ctx, OwnedBy(env.bob.ID), k.ID, []string{"read"}, actorOf(env.bob)); !errors.Is(err, ErrNotFound) {
			t.Errorf("another member's change: got %v, want ErrNotFound", err)
		}
		events, err := env.s.ListAudit(ctx, AuditFilter{TargetType: "key", TargetID: k.ID, Action: ActionKeyScopes})
		if err != nil || len(events) != 4 {
			t.Fatalf("got %d scope events (%v), want 4", len(events), err)
		}
		if d := events[0].Detail; d["old_pending_scopes"] != "billing:write" || d["pending_scopes"] != "" || d["scopes"] != "read" {
			t.Errorf("newest event detail %v, want before/after of the withdrawal", d)
		}
	})
}

func TestScopeCatalog(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newCatalogEnv(t)
		ctx := context.Background()
		v := quietVerifier(env.s)
		_, secret := env.key(t, env.alice, "reader", func(in *KeyInput) { in.Scopes = []string{"read", "write"} })
		wantCode(t, verify(t, v, secret, "read"), "")

		t.Run("bad and duplicate names", func(t *testing.T) {
			for _, in := range []ScopeInput{{Name: "Read"}, {Name: ""}, {Name: "read"}, {Name: "has space"}} {
				if _, err := env.s.CreateScope(ctx, in, CLIActor()); FieldErrors(err)["name"] == "" {
					t.Errorf("CreateScope(%q): got %v, want a name field error", in.Name, err)
				}
			}
		})
		t.Run("list counts keys", func(t *testing.T) {
			list, err := env.s.ListScopes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			counts := map[string]int{}
			for _, sc := range list {
				counts[sc.Name] = sc.Keys
			}
			if counts["read"] != 1 || counts["write"] != 1 || counts["billing:admin"] != 0 {
				t.Errorf("got counts %v, want read 1, write 1, billing:admin 0", counts)
			}
		})
		t.Run("update", func(t *testing.T) {
			sc, err := env.s.UpdateScope(ctx, ScopeInput{Name: "write", Description: "Change things", AdminOnly: true, NeedsApproval: true}, CLIActor())
			if err != nil || !sc.AdminOnly || !sc.NeedsApproval || sc.Description != "Change things" {
				t.Fatalf("UpdateScope: %+v, %v", sc, err)
			}
			if _, err := env.s.UpdateScope(ctx, ScopeInput{Name: "nope"}, CLIActor()); !errors.Is(err, ErrNotFound) {
				t.Errorf("unknown scope: got %v, want ErrNotFound", err)
			}
		})
		t.Run("rename renames it on keys and drops the cache", func(t *testing.T) {
			if _, err := env.s.RenameScope(ctx, "read", "write", CLIActor()); FieldErrors(err)["new_name"] == "" {
				t.Fatalf("rename onto an existing name: got %v, want a new_name field error", err)
			}
			keys, err := env.s.RenameScope(ctx, "read", "orders:read", CLIActor())
			if err != nil || len(keys) != 1 {
				t.Fatalf("RenameScope: %d keys, %v, want 1", len(keys), err)
			}
			wantCode(t, verify(t, v, secret, "orders:read"), "")
			wantCode(t, verify(t, v, secret, "read"), CodeInsufficientScope)
			if _, err := env.s.GetScope(ctx, "read"); !errors.Is(err, ErrNotFound) {
				t.Errorf("old name: got %v, want ErrNotFound", err)
			}
		})
		t.Run("retire keeps keys, refuses grants, can be undone", func(t *testing.T) {
			keys, err := env.s.SetScopeRetired(ctx, "orders:read", true, CLIActor())
			if err != nil || len(keys) != 1 {
				t.Fatalf("retire: %d keys, %v, want 1", len(keys), err)
			}
			wantCode(t, verify(t, v, secret, "orders:read"), "")
			if _, _, err := env.s.CreateKey(ctx, env.alice.ID, KeyInput{Name: "n", Scopes: []string{"orders:read"}}, actorOf(env.alice)); FieldErrors(err)["scopes"] == "" {
				t.Errorf("grant of a retired scope: got %v, want a scopes field error", err)
			}
			if _, err := env.s.SetScopeRetired(ctx, "orders:read", false, CLIActor()); err != nil {
				t.Fatal(err)
			}
			if _, _, err := env.s.CreateKey(ctx, env.alice.ID, KeyInput{Name: "n", Scopes: []string{"orders:read"}}, actorOf(env.alice)); err != nil {
				t.Errorf("grant after un-retiring: %v", err)
			}
		})
		t.Run("audited", func(t *testing.T) {
			for _, action := range []string{ActionScopeCreate, ActionScopeUpdate, ActionScopeRename, ActionScopeRetire, ActionScopeRestore} {
				if events, err := env.s.ListAudit(ctx, AuditFilter{Action: action}); err != nil || len(events) == 0 {
					t.Errorf("no %s event (%v)", action, err)
				}
			}
		})
		t.Run("outside-catalog setting audited", func(t *testing.T) {
			if err := env.s.SetScopesOutsideCatalog(ctx, true, CLIActor()); err != nil {
				t.Fatal(err)
			}
			on, err := env.s.ScopesOutsideCatalog(ctx)
			events, _ := env.s.ListAudit(ctx, AuditFilter{Action: ActionSettingChange})
			if err != nil || !on || len(events) != 1 || events[0].Detail["setting"] != SettingScopesOutsideCatalog {
				t.Errorf("got on=%v err=%v events %+v, want on and one audited change", on, err, events)
			}
		})
	})
}

func TestRollCarriesPendingScopes(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newCatalogEnv(t)
		ctx := context.Background()
		k, _ := env.key(t, env.alice, "r", func(in *KeyInput) { in.Scopes = []string{"read"} })
		if _, err := env.s.SetKeyScopes(ctx, OwnedBy(env.alice.ID), k.ID, []string{"read", "billing:write"}, actorOf(env.alice)); err != nil {
			t.Fatal(err)
		}
		nk, _, old, err := env.s.RollKey(ctx, env.alice.ID, k.ID, 0, actorOf(env.alice))
		if err != nil {
			t.Fatalf("RollKey: %v", err)
		}
		if !reflect.DeepEqual(nk.PendingScopes, []string{"billing:write"}) || len(old.PendingScopes) != 0 {
			t.Errorf("got new pending %v, old pending %v, want the request moved", nk.PendingScopes, old.PendingScopes)
		}
		w, _, err := env.s.CreateKey(ctx, env.alice.ID, KeyInput{Name: "w", Scopes: []string{"billing:write"}}, actorOf(env.alice))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := env.s.RollKey(ctx, env.alice.ID, w.ID, 0, actorOf(env.alice)); !errors.Is(err, ErrConflict) {
			t.Errorf("roll of a waiting key: got %v, want ErrConflict", err)
		}
	})
}
