package db

import (
	"context"
	"errors"
	"testing"
	"time"
)

// wantConflict checks err is ErrConflict with message msg.
func wantConflict(t *testing.T, err error, msg string) {
	t.Helper()
	var de *Error
	if !errors.Is(err, ErrConflict) || !errors.As(err, &de) || de.Message != msg {
		t.Fatalf("err = %v, want ErrConflict %q", err, msg)
	}
}

func TestListUsers(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		const day = 24 * time.Hour
		carol := ktUser(t, env.s, "carol@example.com")
		env.key(t, env.alice, "working")
		env.key(t, env.alice, "expiring", expiresIn(env.clock, day))
		env.key(t, env.alice, "expired", expiresIn(env.clock, time.Millisecond))
		disabled, _ := env.key(t, env.alice, "disabled")
		revoked, _ := env.key(t, env.alice, "revoked")
		env.key(t, env.bob, "bob's")
		env.clock.Advance(time.Millisecond)
		if _, err := env.s.SetKeyDisabled(ctx, AnyOwner(), disabled.ID, true, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		if _, err := env.s.RevokeKey(ctx, AnyOwner(), revoked.ID, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		if err := env.s.SetUserDisabled(ctx, carol.ID, true, CLIActor()); err != nil {
			t.Fatal(err)
		}

		users, err := env.s.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			email    string
			active   int
			disabled bool
		}{{"alice@example.com", 2, false}, {"bob@example.com", 1, false}, {"carol@example.com", 0, true}}
		if len(users) != len(want) {
			t.Fatalf("got %d users, want %d", len(users), len(want))
		}
		for i, w := range want {
			u := users[i]
			if u.Email != w.email || u.ActiveKeys != w.active || u.Disabled() != w.disabled {
				t.Errorf("row %d: got %s with %d active keys (disabled %v), want %s with %d (disabled %v)",
					i, u.Email, u.ActiveKeys, u.Disabled(), w.email, w.active, w.disabled)
			}
		}
	})
}

// TestListUsersPage walks the user list in pages of two: every user once,
// in email order, each page's key counts as in ListUsers, and a page after
// the last email is empty.
func TestListUsersPage(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		for _, e := range []string{"dave@example.com", "carol@example.com", "erin@example.com"} {
			ktUser(t, env.s, e)
		}
		env.key(t, env.bob, "bob's")
		all, err := env.s.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []UserSummary
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(all) {
				t.Fatalf("still paging after %d pages", pages)
			}
			page, err := env.s.ListUsersPage(ctx, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 2 {
				t.Fatalf("page of %d users, want at most 2", len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].Email
		}
		if len(got) != len(all) {
			t.Fatalf("paged %d users, want %d", len(got), len(all))
		}
		for i := range all {
			if got[i].Email != all[i].Email || got[i].ActiveKeys != all[i].ActiveKeys {
				t.Errorf("row %d: got %s (%d keys), want %s (%d keys)", i, got[i].Email, got[i].ActiveKeys, all[i].Email, all[i].ActiveKeys)
			}
		}
		if page, err := env.s.ListUsersPage(ctx, "zzz@example.com", 2); err != nil || len(page) != 0 {
			t.Errorf("page after the last email: got %d users (%v), want none", len(page), err)
		}
	})
}

func TestSetUserRole(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		member := mustCreateUser(t, s, "member@example.com", RoleMember)
		self := Actor{UserID: admin.ID, Label: admin.Email}
		role := func(id int64) Role {
			t.Helper()
			u, err := s.GetUser(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return u.Role
		}

		wantConflict(t, s.SetUserRole(ctx, admin.ID, RoleMember, self), "You can't demote yourself.")
		wantConflict(t, s.SetUserRole(ctx, admin.ID, RoleMember, CLIActor()), "The last active admin cannot be demoted.")
		if err := s.SetUserRole(ctx, admin.ID, RoleAdmin, self); err != nil {
			t.Errorf("no-op: got %v, want nil", err)
		}
		if err := s.SetUserRole(ctx, member.ID, "owner", self); FieldErrors(err)["role"] == "" {
			t.Errorf("bad role: got %v, want a role field error", err)
		}
		if err := s.SetUserRole(ctx, 9999, RoleAdmin, self); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing user: got %v, want ErrNotFound", err)
		}

		if err := s.SetUserRole(ctx, member.ID, RoleAdmin, self); err != nil {
			t.Fatalf("promote: %v", err)
		}
		if got := role(member.ID); got != RoleAdmin {
			t.Errorf("got role %s after promote, want admin", got)
		}
		e := lastEvent(t, s, ActionUserPromote)
		if e.TargetID != member.ID || e.ActorID != admin.ID || e.Detail["old"] != "member" || e.Detail["new"] != "admin" {
			t.Errorf("got audit %+v, want user.promote of member by admin", e)
		}

		// Two active admins: either may demote the other.
		if err := s.SetUserRole(ctx, admin.ID, RoleMember, Actor{UserID: member.ID, Label: member.Email}); err != nil {
			t.Fatalf("demote one of two admins: %v", err)
		}
		if got := role(admin.ID); got != RoleMember {
			t.Errorf("got role %s after demote, want member", got)
		}
		if e := lastEvent(t, s, ActionUserDemote); e.TargetID != admin.ID || e.ActorID != member.ID {
			t.Errorf("got audit %+v, want user.demote of admin by member", e)
		}

		// A disabled admin does not count as a remaining admin, and can itself
		// be demoted freely.
		third := mustCreateUser(t, s, "third@example.com", RoleAdmin)
		if err := s.SetUserDisabled(ctx, third.ID, true, CLIActor()); err != nil {
			t.Fatal(err)
		}
		wantConflict(t, s.SetUserRole(ctx, member.ID, RoleMember, CLIActor()), "The last active admin cannot be demoted.")
		if err := s.SetUserRole(ctx, third.ID, RoleMember, CLIActor()); err != nil {
			t.Errorf("demote a disabled admin: got %v, want nil", err)
		}
	})
}

func TestSetUserDisabledSelf(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		other := mustCreateUser(t, s, "other@example.com", RoleAdmin)
		self := Actor{UserID: admin.ID, Label: admin.Email}
		wantConflict(t, s.SetUserDisabled(ctx, admin.ID, true, self), "You can't disable your own account.")
		if err := s.SetUserDisabled(ctx, other.ID, true, self); err != nil {
			t.Fatalf("disable the other admin: %v", err)
		}
		wantConflict(t, s.SetUserDisabled(ctx, admin.ID, true, CLIActor()), "The last active admin cannot be disabled.")
	})
}

func TestEndUserSessions(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		member := mustCreateUser(t, s, "member@example.com", RoleMember)
		for i, id := range []int64{member.ID, member.ID, member.ID, admin.ID} {
			sess := Session{TokenHash: []byte{byte(i)}, UserID: id, ExpiresAt: s.Now().Add(time.Hour)}
			if err := s.CreateSession(ctx, &sess); err != nil {
				t.Fatal(err)
			}
		}
		actor := Actor{UserID: admin.ID, Label: admin.Email}
		n, err := s.EndUserSessions(ctx, member.ID, actor)
		if err != nil || n != 3 {
			t.Fatalf("EndUserSessions = %d, %v, want 3, nil", n, err)
		}
		if ss, _ := s.ListUserSessions(ctx, member.ID); len(ss) != 0 {
			t.Errorf("got %d member sessions, want 0", len(ss))
		}
		if ss, _ := s.ListUserSessions(ctx, admin.ID); len(ss) != 1 {
			t.Errorf("got %d admin sessions, want 1 (untouched)", len(ss))
		}
		e := lastEvent(t, s, ActionSessionEnd)
		if e.TargetID != member.ID || e.ActorID != admin.ID || e.Detail["sessions_ended"] != "3" {
			t.Errorf("got audit %+v, want session.end on member ending 3", e)
		}
		if n, err := s.EndUserSessions(ctx, member.ID, actor); err != nil || n != 0 {
			t.Errorf("again: got %d, %v, want 0, nil", n, err)
		}
		if _, err := s.EndUserSessions(ctx, 9999, actor); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing user: got %v, want ErrNotFound", err)
		}
	})
}

// TestSetUserRoleAuditor: the auditor role sits between member and admin.
// Moving up is audited as a promotion, down as a demotion; an admin made
// an auditor leaves the admin role, so the last-active-admin and self
// rules apply to it too.
func TestSetUserRoleAuditor(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		member := mustCreateUser(t, s, "member@example.com", RoleMember)
		self := Actor{UserID: admin.ID, Label: admin.Email}

		wantConflict(t, s.SetUserRole(ctx, admin.ID, RoleAuditor, self), "You can't demote yourself.")
		wantConflict(t, s.SetUserRole(ctx, admin.ID, RoleAuditor, CLIActor()), "The last active admin cannot be demoted.")

		steps := []struct {
			name       string
			user       User
			to         Role
			wantAction string
		}{
			{"member to auditor", member, RoleAuditor, ActionUserPromote},
			{"auditor to admin", member, RoleAdmin, ActionUserPromote},
			{"admin to auditor", member, RoleAuditor, ActionUserDemote},
			{"auditor to member", member, RoleMember, ActionUserDemote},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				before, err := s.GetUser(ctx, st.user.ID)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.SetUserRole(ctx, st.user.ID, st.to, self); err != nil {
					t.Fatalf("SetUserRole: %v", err)
				}
				got, err := s.GetUser(ctx, st.user.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Role != st.to || got.CanReadAdmin() != (st.to != RoleMember) || got.IsAdmin() != (st.to == RoleAdmin) {
					t.Errorf("got role %s (reads admin %v, admin %v), want %s", got.Role, got.CanReadAdmin(), got.IsAdmin(), st.to)
				}
				e := lastEvent(t, s, st.wantAction)
				if e.TargetID != st.user.ID || e.Detail["old"] != string(before.Role) || e.Detail["new"] != string(st.to) {
					t.Errorf("got audit %+v, want %s from %s to %s", e, st.wantAction, before.Role, st.to)
				}
			})
		}

		t.Run("invite and create an auditor", func(t *testing.T) {
			if _, inv, err := s.CreateInvite(ctx, "audit@example.com", RoleAuditor, self); err != nil || inv.Role != RoleAuditor {
				t.Errorf("CreateInvite(auditor) = %+v, %v; want an auditor invite", inv, err)
			}
			if u := mustCreateUser(t, s, "audit2@example.com", RoleAuditor); u.Role != RoleAuditor {
				t.Errorf("CreateUser(auditor) role = %s, want auditor", u.Role)
			}
			if _, _, err := s.CreateInvite(ctx, "x@example.com", "owner", self); FieldErrors(err)["role"] == "" {
				t.Errorf("CreateInvite(owner) err = %v, want a role field error", err)
			}
		})
	})
}
