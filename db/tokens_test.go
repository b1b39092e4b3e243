package db

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// tokenEnv is a store on a fake clock with one admin.
type tokenEnv struct {
	s     *Store
	clock *fakeClock
	admin User
	actor Actor
}

func newTokenEnv(t *testing.T) *tokenEnv {
	t.Helper()
	env := &tokenEnv{clock: newFakeClock()}
	env.s = newTestStore(t, withClock(env.clock))
	env.admin = mustCreateUser(t, env.s, "admin@example.com", RoleAdmin)
	env.actor = Actor{UserID: env.admin.ID, Label: env.admin.Email, IP: "192.0.2.1"}
	return env
}

// lastEvent returns the newest audit event with action.
func lastEvent(t *testing.T, s *Store, action string) AuditEvent {
	t.Helper()
	events, err := s.ListAudit(context.Background(), AuditFilter{Action: action, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("got no %s event, want one", action)
	}
	return events[0]
}

// wantLinkInvalid checks err is the generic invalid-link answer.
func wantLinkInvalid(t *testing.T, err error) {
	t.Helper()
	var de *Error
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &de) || !strings.Contains(de.Message, "invalid, has expired or was already used") {
		t.Fatalf("err = %v, want the generic invalid-link ErrNotFound", err)
	}
}

func TestCreateInviteValidation(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTokenEnv(t)
		ctx := context.Background()
		tests := []struct {
			name, email string
			role        Role
			field, msg  string
		}{
			{"empty email", "", RoleMember, "email", "Enter an email address."},
			{"bad email", "not-an-address", RoleMember, "email", "Enter an email address like name@example.com."},
			{"existing user", " ADMIN@example.com ", RoleMember, "email", "A user with this email already exists."},
			{"bad role", "new@example.com", "owner", "role", "Choose a role."},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := env.s.CreateInvite(ctx, tt.email, tt.role, env.actor)
				if got := FieldErrors(err)[tt.field]; got != tt.msg {
					t.Errorf("got %s error %q (err %v), want %q", tt.field, got, err, tt.msg)
				}
			})
		}
	})
}

func TestInviteLifecycle(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTokenEnv(t)
		ctx := context.Background()
		tok, inv, err := env.s.CreateInvite(ctx, " New@Example.com", RoleAdmin, env.actor)
		if err != nil {
			t.Fatalf("CreateInvite: %v", err)
		}
		if len(tok) != 43 || strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Errorf("got token %q, want 43 base64url characters", tok)
		}
		now := env.clock.Now()
		if inv.Kind != TokenInvite || inv.Email != "new@example.com" || inv.Role != RoleAdmin ||
			!inv.CreatedAt.Equal(now) || !inv.ExpiresAt.Equal(now.Add(InviteTTL)) || inv.UsedAt != nil {
			t.Errorf("got invite %+v, want an unused admin invite for new@example.com expiring in 7 days", inv)
		}
		e := lastEvent(t, env.s, ActionInviteCreate)
		if e.ActorID != env.admin.ID || e.Target != "new@example.com" || e.Detail["role"] != "admin" {
			t.Errorf("got audit %+v, want invite.create by the admin for new@example.com", e)
		}
		if strings.Contains(e.Detail["expires_at"]+e.Target, tok) {
			t.Errorf("the audit log holds the token")
		}

		got, err := env.s.LookupToken(ctx, TokenInvite, tok)
		if err != nil || got.ID != inv.ID || got.Email != inv.Email || got.Role != RoleAdmin {
			t.Fatalf("LookupToken = %+v, %v, want the invite", got, err)
		}
		_, err = env.s.LookupToken(ctx, TokenReset, tok)
		wantLinkInvalid(t, err)

		_, err = env.s.AcceptInvite(ctx, tok, "short", "198.51.100.7")
		if FieldErrors(err)["password"] == "" {
			t.Fatalf("weak password: err = %v, want a password field error", err)
		}
		u, err := env.s.AcceptInvite(ctx, tok, testPassword, "198.51.100.7")
		if err != nil {
			t.Fatalf("AcceptInvite: %v", err)
		}
		if u.Email != "new@example.com" || u.Role != RoleAdmin || u.ID == 0 {
			t.Errorf("got user %+v, want an admin new@example.com", u)
		}
		if _, err := env.s.Authenticate(ctx, "new@example.com", testPassword); err != nil {
			t.Errorf("sign-in with the chosen password: %v", err)
		}
		e = lastEvent(t, env.s, ActionInviteAccept)
		if e.ActorID != u.ID || e.Actor != u.Email || e.IP != "198.51.100.7" || e.TargetID != u.ID {
			t.Errorf("got audit %+v, want invite.accept by the new user from 198.51.100.7", e)
		}

		// Single use.
		_, err = env.s.LookupToken(ctx, TokenInvite, tok)
		wantLinkInvalid(t, err)
		_, err = env.s.AcceptInvite(ctx, tok, testPassword+" again", "")
		wantLinkInvalid(t, err)
	})
}

func TestInviteExpiresAfterSevenDays(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		tests := []struct {
			name  string
			after time.Duration
			valid bool
		}{
			{"one ms before", InviteTTL - time.Millisecond, true},
			{"exactly at expiry", InviteTTL, false},
			{"a day later", InviteTTL + 24*time.Hour, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				env := newTokenEnv(t)
				ctx := context.Background()
				tok, _, err := env.s.CreateInvite(ctx, "late@example.com", RoleMember, env.actor)
				if err != nil {
					t.Fatal(err)
				}
				env.clock.Advance(tt.after)
				_, err = env.s.AcceptInvite(ctx, tok, testPassword, "")
				if tt.valid && err != nil {
					t.Errorf("got %v, want the invite accepted", err)
				}
				if !tt.valid {
					wantLinkInvalid(t, err)
				}
			})
		}
	})
}

func TestInviteSupersededAndEmailTaken(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTokenEnv(t)
		ctx := context.Background()
		first, _, err := env.s.CreateInvite(ctx, "twice@example.com", RoleMember, env.actor)
		if err != nil {
			t.Fatal(err)
		}
		second, _, err := env.s.CreateInvite(ctx, "twice@example.com", RoleMember, env.actor)
		if err != nil {
			t.Fatal(err)
		}
		_, err = env.s.LookupToken(ctx, TokenInvite, first)
		wantLinkInvalid(t, err)
		if _, err := env.s.LookupToken(ctx, TokenInvite, second); err != nil {
			t.Errorf("latest invite: got %v, want valid", err)
		}

		// The address got an account some other way meanwhile.
		mustCreateUser(t, env.s, "twice@example.com", RoleMember)
		if _, err := env.s.AcceptInvite(ctx, second, testPassword, ""); !errors.Is(err, ErrConflict) {
			t.Errorf("accept for a taken email: got %v, want ErrConflict", err)
		}
	})
}

func TestAcceptInviteConcurrently(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTokenEnv(t)
		ctx := context.Background()
		tok, _, err := env.s.CreateInvite(ctx, "race@example.com", RoleMember, env.actor)
		if err != nil {
			t.Fatal(err)
		}
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = env.s.AcceptInvite(ctx, tok, testPassword, "") })
		}
		wg.Wait()
		var ok int
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrNotFound):
				t.Errorf("got %v, want nil or the invalid-link error", err)
			}
		}
		if ok != 1 {
			t.Errorf("got %d accepted, want exactly 1", ok)
		}
	})
}

func TestMalformedTokens(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTokenEnv(t)
		for _, tok := range []string{"", "short", strings.Repeat("!", 43), strings.Repeat("A", 44), strings.Repeat("A", 43)} {
			for _, kind := range []string{TokenInvite, TokenReset, "other"} {
				_, err := env.s.LookupToken(context.Background(), kind, tok)
				wantLinkInvalid(t, err)
			}
		}
	})
}

func TestPasswordReset(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTokenEnv(t)
		ctx := context.Background()
		member := mustCreateUser(t, env.s, "member@example.com", RoleMember)
		for i := range 2 {
			sess := Session{TokenHash: []byte{byte(i)}, UserID: member.ID, ExpiresAt: env.clock.Now().Add(time.Hour)}
			if err := env.s.CreateSession(ctx, &sess); err != nil {
				t.Fatal(err)
			}
		}
		tok, rt, err := env.s.CreatePasswordReset(ctx, member.ID, "", env.actor)
		if err != nil {
			t.Fatalf("CreatePasswordReset: %v", err)
		}
		if rt.Kind != TokenReset || rt.UserID != member.ID || rt.Email != member.Email || rt.Role != "" ||
			!rt.ExpiresAt.Equal(env.clock.Now().Add(ResetTTL)) {
			t.Errorf("got reset link %+v, want one for member expiring in an hour", rt)
		}
		if e := lastEvent(t, env.s, ActionResetLink); e.TargetID != member.ID || e.ActorID != env.admin.ID {
			t.Errorf("got audit %+v, want password.reset_link on the member by the admin", e)
		}
		_, err = env.s.ResetPassword(ctx, tok, "member@example.com is me", "")
		if FieldErrors(err)["password"] == "" {
			t.Fatalf("weak password: err = %v, want a password field error", err)
		}
		env.clock.Advance(ResetTTL - time.Millisecond)
		const newPassword = "quartz meadow 19 ferris wheel"
		u, err := env.s.ResetPassword(ctx, tok, newPassword, "203.0.113.9")
		if err != nil {
			t.Fatalf("ResetPassword: %v", err)
		}
		if u.ID != member.ID || !u.PasswordChangedAt.Equal(env.clock.Now()) {
			t.Errorf("got user %+v, want the member with password changed now", u)
		}
		if ss, _ := env.s.ListUserSessions(ctx, member.ID); len(ss) != 0 {
			t.Errorf("got %d sessions after a reset, want 0", len(ss))
		}
		if _, err := env.s.Authenticate(ctx, member.Email, testPassword); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("old password: got %v, want ErrInvalidCredentials", err)
		}
		if _, err := env.s.Authenticate(ctx, member.Email, newPassword); err != nil {
			t.Errorf("new password: got %v, want nil", err)
		}
		e := lastEvent(t, env.s, ActionPasswordReset)
		if e.ActorID != member.ID || e.IP != "203.0.113.9" || e.Detail["sessions_ended"] != "2" {
			t.Errorf("got audit %+v, want password.reset by the member ending 2 sessions", e)
		}
		_, err = env.s.ResetPassword(ctx, tok, newPassword+" two", "")
		wantLinkInvalid(t, err)
	})
}

func TestPasswordResetRefusals(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTokenEnv(t)
		ctx := context.Background()
		member := mustCreateUser(t, env.s, "member@example.com", RoleMember)

		t.Run("expires after an hour", func(t *testing.T) {
			tok, _, err := env.s.CreatePasswordReset(ctx, member.ID, "", env.actor)
			if err != nil {
				t.Fatal(err)
			}
			env.clock.Advance(ResetTTL)
			_, err = env.s.ResetPassword(ctx, tok, "quartz meadow 19 ferris wheel", "")
			wantLinkInvalid(t, err)
		})
		t.Run("a newer link replaces it", func(t *testing.T) {
			first, _, err := env.s.CreatePasswordReset(ctx, member.ID, "", env.actor)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := env.s.CreatePasswordReset(ctx, member.ID, "", env.actor); err != nil {
				t.Fatal(err)
			}
			_, err = env.s.LookupToken(ctx, TokenReset, first)
			wantLinkInvalid(t, err)
		})
		t.Run("disabling the user voids it", func(t *testing.T) {
			tok, _, err := env.s.CreatePasswordReset(ctx, member.ID, "", env.actor)
			if err != nil {
				t.Fatal(err)
			}
			if err := env.s.SetUserDisabled(ctx, member.ID, true, env.actor); err != nil {
				t.Fatal(err)
			}
			_, err = env.s.LookupToken(ctx, TokenReset, tok)
			wantLinkInvalid(t, err)
		})
		t.Run("no link for a disabled user", func(t *testing.T) {
			_, _, err := env.s.CreatePasswordReset(ctx, member.ID, "", env.actor)
			wantKind(t, err, ErrConflict)
		})
		t.Run("no link for a missing user", func(t *testing.T) {
			_, _, err := env.s.CreatePasswordReset(ctx, 9999, "", env.actor)
			wantKind(t, err, ErrNotFound)
		})
	})
}
