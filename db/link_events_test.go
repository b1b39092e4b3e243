package db

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestLinkEventsSealTheToken follows the token of an invite, a renewed
// invite and a reset link through the outbox: the event is written with
// the link (same transaction), its data says who and what but never the
// token, the private column holds the token only sealed, the e-mail
// delivery opens it for the one recipient, and once delivered the private
// part is gone. Without e-mail it is erased at fan-out.
func TestLinkEventsSealTheToken(t *testing.T) {
	tests := []struct {
		name     string
		typ      string
		mail     bool
		make     func(t *testing.T, env *tokenEnv) linkMade
		wantData func(t *testing.T, data map[string]any, m linkMade)
	}{
		{"invite", EventUserInvited, true, func(t *testing.T, env *tokenEnv) linkMade {
			tok, _, err := env.s.CreateInvite(context.Background(), "new@example.com", RoleMember, env.actor)
			if err != nil {
				t.Fatalf("CreateInvite: %v", err)
			}
			return linkMade{tok, "new@example.com"}
		}, wantInviteData},
		{"renewed invite", EventUserInvited, true, func(t *testing.T, env *tokenEnv) linkMade {
			ctx := context.Background()
			_, inv, err := env.s.CreateInvite(ctx, "new@example.com", RoleMember, env.actor)
			if err != nil {
				t.Fatalf("CreateInvite: %v", err)
			}
			if _, err := env.s.FanOut(ctx, FanOutOptions{}); err != nil { // the first invite's event
				t.Fatalf("FanOut: %v", err)
			}
			tok, _, err := env.s.RenewInvite(ctx, inv.ID, env.actor)
			if err != nil {
				t.Fatalf("RenewInvite: %v", err)
			}
			return linkMade{tok, "new@example.com"}
		}, wantInviteData},
		{"reset link", EventPasswordReset, true, func(t *testing.T, env *tokenEnv) linkMade {
			m := mustCreateUser(t, env.s, "member@example.com", RoleMember)
			tok, _, err := env.s.CreatePasswordReset(context.Background(), m.ID, "", env.actor)
			if err != nil {
				t.Fatalf("CreatePasswordReset: %v", err)
			}
			return linkMade{tok, m.Email}
		}, func(t *testing.T, data map[string]any, m linkMade) {
			user, _ := data["user"].(map[string]any)
			if user["email"] != m.email || user["id"] == nil || data["expires_at"] == nil {
				t.Errorf("data: got %v, want user {id, email %s} and expires_at", data, m.email)
			}
		}},
		{"invite without e-mail", EventUserInvited, false, func(t *testing.T, env *tokenEnv) linkMade {
			tok, _, err := env.s.CreateInvite(context.Background(), "new@example.com", RoleAdmin, env.actor)
			if err != nil {
				t.Fatalf("CreateInvite: %v", err)
			}
			return linkMade{tok, "new@example.com"}
		}, wantInviteData},
	}
	forEachEngine(t, func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				env := newTokenEnv(t)
				m := tt.make(t, env)
				var (
					id              int64
					payload         string
					private         []byte
					typ, recipients string
				)
				err := env.s.r.QueryRowContext(ctx, `SELECT id, type, payload, private FROM outbox_events
					WHERE type = ? ORDER BY id DESC LIMIT 1`, tt.typ).Scan(&id, &typ, &payload, &private)
				if err != nil {
					t.Fatalf("reading the event: %v", err)
				}
				if strings.Contains(payload, m.tok) {
					t.Errorf("payload %s holds the token", payload)
				}
				if len(private) == 0 || bytes.Contains(private, []byte(m.tok)) || bytes.Contains(private, []byte(m.email)) {
					t.Errorf("private column: got %d bytes (plain token or address inside: %v), want them sealed",
						len(private), bytes.Contains(private, []byte(m.tok)))
				}
				ds := fanOutAndClaim(t, env.s, tt.mail)
				for _, d := range ds {
					if d.Event.ID != id {
						continue
					}
					if d.Channel != ChannelEmail {
						t.Errorf("delivery %d: channel %s, want only e-mail", d.ID, d.Channel)
						continue
					}
					recipients += d.Recipient
					if d.Event.Private["token"] != m.tok {
						t.Errorf("e-mail delivery: private token %q, want the link's token", d.Event.Private["token"])
					}
					tt.wantData(t, d.Event.Data, m)
					if err := env.s.CompleteDelivery(ctx, "w", d, AttemptResult{OK: true, StatusCode: 250}); err != nil {
						t.Fatalf("CompleteDelivery: %v", err)
					}
				}
				want := m.email
				if !tt.mail {
					want = ""
				}
				if recipients != want {
					t.Errorf("e-mailed: got %q, want %q", recipients, want)
				}
				private = []byte("unread")
				if err := env.s.r.QueryRowContext(ctx, `SELECT private FROM outbox_events WHERE id = ?`, id).Scan(&private); err != nil {
					t.Fatalf("reading the event again: %v", err)
				}
				if private != nil {
					t.Errorf("private column after delivery: got %d bytes, want NULL", len(private))
				}
			})
		}
	})
}

// linkMade is a link a test made: its token and the address it is for.
type linkMade struct {
	tok, email string
}

func wantInviteData(t *testing.T, data map[string]any, m linkMade) {
	t.Helper()
	inv, _ := data["invite"].(map[string]any)
	if inv["email"] != m.email || inv["id"] == nil || inv["role"] == "" || inv["expires_at"] == nil {
		t.Errorf("data: got %v, want invite {id, email %s, role, expires_at}", data, m.email)
	}
}

// fanOutAndClaim makes the deliveries of every pending event and claims
// the due ones.
func fanOutAndClaim(t *testing.T, s *Store, mail bool) []Delivery {
	t.Helper()
	ctx := context.Background()
	if _, err := s.FanOut(ctx, FanOutOptions{Email: mail}); err != nil {
		t.Fatalf("FanOut: %v", err)
	}
	ds, err := s.ClaimDeliveries(ctx, "w", 100, time.Minute)
	if err != nil {
		t.Fatalf("ClaimDeliveries: %v", err)
	}
	return ds
}
