package db

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// linkPair is an invite and a reset link made by one admin.
type linkPair struct {
	invite, reset string
}

// makeLinks has by create an invite for invited and a reset link for
// target.
func makeLinks(t *testing.T, env *tokenEnv, by Actor, invited string, target User) linkPair {
	t.Helper()
	ctx := context.Background()
	inv, _, err := env.s.CreateInvite(ctx, invited, RoleAdmin, by)
	if err != nil {
		t.Fatal(err)
	}
	reset, _, err := env.s.CreatePasswordReset(ctx, target.ID, "", by)
	if err != nil {
		t.Fatal(err)
	}
	return linkPair{inv, reset}
}

// wantLinksDead fails unless neither link can be looked up or used.
func wantLinksDead(t *testing.T, env *tokenEnv, l linkPair) {
	t.Helper()
	ctx := context.Background()
	_, err := env.s.LookupToken(ctx, TokenInvite, l.invite)
	wantLinkInvalid(t, err)
	_, err = env.s.AcceptInvite(ctx, l.invite, testPassword, "")
	wantLinkInvalid(t, err)
	_, err = env.s.LookupToken(ctx, TokenReset, l.reset)
	wantLinkInvalid(t, err)
	_, err = env.s.ResetPassword(ctx, l.reset, "quartz meadow 19 ferris wheel", "")
	wantLinkInvalid(t, err)
}

// TestLinksDieWithTheirCreatorsAdminRole: invites and reset links made by
// an admin who is then demoted or disabled stop working at once, stay dead
// when the role or the account comes back, and their end is audited in
// the same transaction as the change that caused it.
func TestLinksDieWithTheirCreatorsAdminRole(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		tests := []struct {
			name   string
			change func(env *tokenEnv, creator User) error
			undo   func(env *tokenEnv, creator User) error
			reason string
		}{
			{"demoted", func(env *tokenEnv, u User) error {
				return env.s.SetUserRole(context.Background(), u.ID, RoleMember, env.actor)
			}, func(env *tokenEnv, u User) error {
				return env.s.SetUserRole(context.Background(), u.ID, RoleAdmin, env.actor)
			}, "the admin who made it was made a member"},
			{"disabled", func(env *tokenEnv, u User) error {
				return env.s.SetUserDisabled(context.Background(), u.ID, true, env.actor)
			}, func(env *tokenEnv, u User) error {
				return env.s.SetUserDisabled(context.Background(), u.ID, false, env.actor)
			}, "the admin who made it was disabled"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				env := newTokenEnv(t)
				creator := mustCreateUser(t, env.s, "second@example.com", RoleAdmin)
				member := mustCreateUser(t, env.s, "member@example.com", RoleMember)
				by := Actor{UserID: creator.ID, Label: creator.Email}
				links := makeLinks(t, env, by, "new@example.com", member)
				kept := makeLinks(t, env, env.actor, "kept@example.com", mustCreateUser(t, env.s, "other@example.com", RoleMember))

				if err := tt.change(env, creator); err != nil {
					t.Fatal(err)
				}
				wantLinksDead(t, env, links)
				for _, e := range []AuditEvent{lastEvent(t, env.s, ActionInviteRevoke), lastEvent(t, env.s, ActionResetLinkRevoke)} {
					if e.ActorID != env.admin.ID || e.Detail["reason"] != tt.reason {
						t.Errorf("got audit %+v, want %s by the acting admin with reason %q", e, e.Action, tt.reason)
					}
				}
				if err := tt.undo(env, creator); err != nil {
					t.Fatal(err)
				}
				wantLinksDead(t, env, links)

				// Links made by an admin who keeps the role still work.
				if _, err := env.s.LookupToken(context.Background(), TokenReset, kept.reset); err != nil {
					t.Errorf("another admin's reset link: got %v, want it valid", err)
				}
				if _, err := env.s.LookupToken(context.Background(), TokenInvite, kept.invite); err != nil {
					t.Errorf("another admin's invite: got %v, want it valid", err)
				}
			})
		}
	})
}

// TestLinksCheckTheirCreatorAtUse: a link whose creator is no longer an
// active admin is refused when used, even if nothing voided it (a link
// made before this check existed, or a role changed by hand in the
// database).
func TestLinksCheckTheirCreatorAtUse(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		for _, change := range []string{
			`UPDATE users SET role = 'member' WHERE id = ?`,
			`UPDATE users SET disabled_at = 1 WHERE id = ?`,
			`DELETE FROM users WHERE id = ?`,
		} {
			t.Run(change, func(t *testing.T) {
				env := newTokenEnv(t)
				creator := mustCreateUser(t, env.s, "second@example.com", RoleAdmin)
				member := mustCreateUser(t, env.s, "member@example.com", RoleMember)
				links := makeLinks(t, env, Actor{UserID: creator.ID, Label: creator.Email}, "new@example.com", member)
				if _, err := env.s.w.Exec(change, creator.ID); err != nil {
					t.Fatal(err)
				}
				wantLinksDead(t, env, links)
			})
		}
	})
}

// TestDisablingVoidsResetLinks: a reset link made before its user was
// disabled stays dead after the user is enabled again.
func TestDisablingVoidsResetLinks(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTokenEnv(t)
		ctx := context.Background()
		member := mustCreateUser(t, env.s, "member@example.com", RoleMember)
		tok, _, err := env.s.CreatePasswordReset(ctx, member.ID, "", env.actor)
		if err != nil {
			t.Fatal(err)
		}
		if err := env.s.SetUserDisabled(ctx, member.ID, true, env.actor); err != nil {
			t.Fatal(err)
		}
		e := lastEvent(t, env.s, ActionResetLinkRevoke)
		if e.TargetID != member.ID || e.ActorID != env.admin.ID || e.Detail["reason"] != "the user was disabled" {
			t.Errorf("got audit %+v, want the member's reset link revoked by the admin because the user was disabled", e)
		}
		if err := env.s.SetUserDisabled(ctx, member.ID, false, env.actor); err != nil {
			t.Fatal(err)
		}
		_, err = env.s.LookupToken(ctx, TokenReset, tok)
		wantLinkInvalid(t, err)
		_, err = env.s.ResetPassword(ctx, tok, "quartz meadow 19 ferris wheel", "")
		wantLinkInvalid(t, err)
	})
}

// TestPendingInvites: the list holds exactly the invites whose link works
// now, with who made them; Revoke and New link end the old link and are
// audited; a gone invite is "not found" with a clear message.
func TestPendingInvites(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTokenEnv(t)
		ctx := context.Background()
		second := mustCreateUser(t, env.s, "second@example.com", RoleAdmin)
		bySecond := Actor{UserID: second.ID, Label: second.Email}

		used, _, err := env.s.CreateInvite(ctx, "used@example.com", RoleMember, env.actor)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.s.AcceptInvite(ctx, used, testPassword, ""); err != nil {
			t.Fatal(err)
		}
		if _, _, err := env.s.CreateInvite(ctx, "expired@example.com", RoleMember, env.actor); err != nil {
			t.Fatal(err)
		}
		env.clock.Advance(InviteTTL)
		first, _, err := env.s.CreateInvite(ctx, "ann@example.com", RoleMember, env.actor)
		if err != nil {
			t.Fatal(err)
		}
		env.clock.Advance(time.Minute)
		_, boss, err := env.s.CreateInvite(ctx, "boss@example.com", RoleAdmin, bySecond)
		if err != nil {
			t.Fatal(err)
		}

		got, err := env.s.ListPendingInvites(ctx)
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			email   string
			role    Role
			by      string
			expires time.Time
		}
		var rows []row
		for _, p := range got {
			rows = append(rows, row{p.Email, p.Role, p.CreatedBy, p.ExpiresAt})
		}
		want := []row{
			{"boss@example.com", RoleAdmin, "second@example.com", boss.ExpiresAt},
			{"ann@example.com", RoleMember, "admin@example.com", boss.ExpiresAt.Add(-time.Minute)},
		}
		if !reflect.DeepEqual(rows, want) {
			t.Fatalf("pending invites:\n got %+v\nwant %+v", rows, want)
		}

		t.Run("new link", func(t *testing.T) {
			annID := got[1].ID
			tok, renewed, err := env.s.RenewInvite(ctx, annID, env.actor)
			if err != nil {
				t.Fatal(err)
			}
			_, err = env.s.LookupToken(ctx, TokenInvite, first)
			wantLinkInvalid(t, err)
			if lt, err := env.s.LookupToken(ctx, TokenInvite, tok); err != nil || lt.Email != "ann@example.com" || lt.Role != RoleMember {
				t.Errorf("new link: got %+v, %v, want a member invite for ann@example.com", lt, err)
			}
			if !renewed.ExpiresAt.Equal(env.clock.Now().Add(InviteTTL)) {
				t.Errorf("new link expires %v, want %v", renewed.ExpiresAt, env.clock.Now().Add(InviteTTL))
			}
			e := lastEvent(t, env.s, ActionInviteCreate)
			if e.TargetID != renewed.ID || e.Detail["replaces_invite"] != fmt.Sprint(annID) {
				t.Errorf("got audit %+v, want invite.create of the new link replacing %d", e, annID)
			}
			_, _, err = env.s.RenewInvite(ctx, annID, env.actor)
			wantKind(t, err, ErrNotFound)
		})
		t.Run("revoke", func(t *testing.T) {
			p, err := env.s.RevokeInvite(ctx, got[0].ID, env.actor)
			if err != nil || p.Email != "boss@example.com" {
				t.Fatalf("RevokeInvite = %+v, %v, want boss@example.com's invite", p, err)
			}
			e := lastEvent(t, env.s, ActionInviteRevoke)
			if e.ActorID != env.admin.ID || e.Target != "boss@example.com" || e.Detail["role"] != "admin" {
				t.Errorf("got audit %+v, want invite.revoke of boss@example.com by the admin", e)
			}
			_, err = env.s.RevokeInvite(ctx, got[0].ID, env.actor)
			wantKind(t, err, ErrNotFound)
			list, err := env.s.ListPendingInvites(ctx)
			if err != nil || len(list) != 1 || list[0].Email != "ann@example.com" {
				t.Errorf("pending after the revoke: got %+v, %v, want only ann@example.com", list, err)
			}
		})
		t.Run("not an invite", func(t *testing.T) {
			member := mustCreateUser(t, env.s, "member@example.com", RoleMember)
			_, reset, err := env.s.CreatePasswordReset(ctx, member.ID, "", env.actor)
			if err != nil {
				t.Fatal(err)
			}
			_, err = env.s.RevokeInvite(ctx, reset.ID, env.actor)
			wantKind(t, err, ErrNotFound)
			_, _, err = env.s.RenewInvite(ctx, reset.ID, env.actor)
			wantKind(t, err, ErrNotFound)
		})
		t.Run("the address got an account", func(t *testing.T) {
			list, err := env.s.ListPendingInvites(ctx)
			if err != nil || len(list) != 1 {
				t.Fatalf("pending: %+v, %v", list, err)
			}
			mustCreateUser(t, env.s, "ann@example.com", RoleMember)
			_, _, err = env.s.RenewInvite(ctx, list[0].ID, env.actor)
			wantKind(t, err, ErrConflict)
		})
	})
}
