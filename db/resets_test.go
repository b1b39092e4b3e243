package db

import (
	"context"
	"testing"
)

// TestResetLinkRules: nobody makes a reset link for themselves; a link for
// another admin needs the acting admin's own password, and a wrong one is
// a field error and an audit event; a member's link needs none, nor does
// the command line.
func TestResetLinkRules(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTokenEnv(t)
		ctx := context.Background()
		other := mustCreateUser(t, env.s, "second@example.com", RoleAdmin)
		member := mustCreateUser(t, env.s, "member@example.com", RoleMember)

		t.Run("yourself", func(t *testing.T) {
			_, _, err := env.s.CreatePasswordReset(ctx, env.admin.ID, testPassword, env.actor)
			wantKind(t, err, ErrConflict)
			if de, ok := err.(*Error); !ok || de.Message != "You can't make a reset link for yourself. Change your password on your account page." {
				t.Errorf("got %v, want the clear refusal", err)
			}
		})
		fieldTests := []struct {
			name, password, want string
			audited              bool
		}{
			{"another admin without your password", "", "Enter your password to make a reset link for another admin.", false},
			{"another admin with a wrong password", "not my password at all", "That is not your password.", true},
			{"a near miss", testPassword + "x", "That is not your password.", true},
		}
		for _, tt := range fieldTests {
			t.Run(tt.name, func(t *testing.T) {
				before := countEvents(t, env.s, ActionResetLinkDenied)
				_, _, err := env.s.CreatePasswordReset(ctx, other.ID, tt.password, env.actor)
				if got := FieldErrors(err)["current_password"]; got != tt.want {
					t.Errorf("current_password error: got %q (err %v), want %q", got, err, tt.want)
				}
				after := countEvents(t, env.s, ActionResetLinkDenied)
				if tt.audited && after != before+1 {
					t.Errorf("reset_link_denied events: got %d, want %d", after, before+1)
				}
				if !tt.audited && after != before {
					t.Errorf("reset_link_denied events: got %d, want %d", after, before)
				}
				if n := countEvents(t, env.s, ActionResetLink); n != 0 {
					t.Errorf("reset links made: got %d, want 0", n)
				}
			})
		}
		e := lastEvent(t, env.s, ActionResetLinkDenied)
		if e.ActorID != env.admin.ID || e.TargetID != other.ID || e.Detail["reason"] != "wrong password" {
			t.Errorf("got audit %+v, want a denial by the admin on the other admin", e)
		}

		t.Run("another admin with your password", func(t *testing.T) {
			if _, _, err := env.s.CreatePasswordReset(ctx, other.ID, testPassword, env.actor); err != nil {
				t.Fatalf("got %v, want a link", err)
			}
			if e := lastEvent(t, env.s, ActionResetLink); e.TargetID != other.ID || e.Detail["password_confirmed"] != "true" {
				t.Errorf("got audit %+v, want the link for the other admin, password confirmed", e)
			}
		})
		t.Run("a member", func(t *testing.T) {
			if _, _, err := env.s.CreatePasswordReset(ctx, member.ID, "", env.actor); err != nil {
				t.Errorf("got %v, want a link", err)
			}
		})
		t.Run("an admin from the command line", func(t *testing.T) {
			if _, _, err := env.s.CreatePasswordReset(ctx, env.admin.ID, "", CLIActor()); err != nil {
				t.Errorf("got %v, want a link", err)
			}
		})
	})
}

// countEvents counts the audit events with action.
func countEvents(t *testing.T, s *Store, action string) int {
	t.Helper()
	events, err := s.ListAudit(context.Background(), AuditFilter{Action: action, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return len(events)
}
