package db

import (
	"context"
	"strings"
	"testing"
)

// TestEmailRecipients is the table of who is e-mailed about what: each
// event type against a personal key, a team key, the actor, a disabled
// person and a kind turned off.
func TestEmailRecipients(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		admin2 := mustCreateUser(t, s, "admin2@example.com", RoleAdmin)
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		carl := mustCreateUser(t, s, "carl@example.com", RoleMember)
		dora := mustCreateUser(t, s, "dora@example.com", RoleMember) // disabled
		quiet := mustCreateUser(t, s, "quiet@example.com", RoleMember)
		team, err := s.CreateTeam(ctx, "ops", "", CLIActor())
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []User{ann, carl, dora, quiet} {
			if err := s.AddTeamMember(ctx, team.ID, u.Email, TeamMember, CLIActor()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetUserDisabled(ctx, dora.ID, true, CLIActor()); err != nil {
			t.Fatal(err)
		}
		// quiet turned off every kind that can be turned off.
		for _, kind := range NotifyKinds() {
			if _, err := s.w.ExecContext(ctx, `INSERT INTO notification_prefs (user_id, kind, enabled) VALUES (?, ?, 0)`, quiet.ID, kind); err != nil {
				t.Fatal(err)
			}
		}
		unused := map[string]any{"cause": causeUnused}
		tests := []struct {
			name string
			ev   OutboxEvent
			want string // addresses, space-separated, by user id
		}{
			{"revoked by an admin: the owner", OutboxEvent{Type: EventKeyRevoked, ActorID: admin.ID, UserID: ann.ID}, "ann"},
			{"revoked by the owner: nobody", OutboxEvent{Type: EventKeyRevoked, ActorID: ann.ID, UserID: ann.ID}, ""},
			{"revoked from the CLI: the owner", OutboxEvent{Type: EventKeyRevoked, UserID: ann.ID}, "ann"},
			{"revoked, owner disabled: nobody", OutboxEvent{Type: EventKeyRevoked, ActorID: admin.ID, UserID: dora.ID}, ""},
			{"revoked, owner muted everything: still told", OutboxEvent{Type: EventKeyRevoked, ActorID: admin.ID, UserID: quiet.ID}, "quiet"},
			{"team key revoked by a member: the other members", OutboxEvent{Type: EventKeyRevoked, ActorID: ann.ID, TeamID: team.ID}, "carl quiet"},
			{"disabled by an admin: the owner, even muted", OutboxEvent{Type: EventKeyDisabled, ActorID: admin.ID, UserID: quiet.ID}, "quiet"},
			{"disabled from the CLI: a security event", OutboxEvent{Type: EventKeyDisabled, UserID: quiet.ID}, "quiet"},
			{"disabled for being unused: the owner", OutboxEvent{Type: EventKeyDisabled, UserID: ann.ID, Data: unused}, "ann"},
			{"disabled for being unused, muted: nobody", OutboxEvent{Type: EventKeyDisabled, UserID: quiet.ID, Data: unused}, ""},
			{"team key disabled for being unused: members who want it", OutboxEvent{Type: EventKeyDisabled, TeamID: team.ID, Data: unused}, "ann carl"},
			{"expiring: the owner", OutboxEvent{Type: EventKeyExpiring, UserID: ann.ID}, "ann"},
			{"expiring, muted: nobody", OutboxEvent{Type: EventKeyExpiring, UserID: quiet.ID}, ""},
			{"expiring team key: members who want it", OutboxEvent{Type: EventKeyExpiring, TeamID: team.ID}, "ann carl"},
			{"expired: the owner", OutboxEvent{Type: EventKeyExpired, UserID: carl.ID}, "carl"},
			{"new address: the owner", OutboxEvent{Type: EventKeyNewAddress, UserID: ann.ID}, "ann"},
			{"new address, muted: nobody", OutboxEvent{Type: EventKeyNewAddress, UserID: quiet.ID}, ""},
			{"new address of a team key: members", OutboxEvent{Type: EventKeyNewAddress, TeamID: team.ID}, "ann carl"},
			{"approved: the requester", OutboxEvent{Type: EventKeyApproved, ActorID: admin.ID, UserID: carl.ID}, "carl"},
			{"approved on a team key: the requester only", OutboxEvent{Type: EventKeyApproved, ActorID: admin.ID, UserID: carl.ID, TeamID: team.ID}, "carl"},
			{"approved, requester unknown: the team", OutboxEvent{Type: EventKeyApproved, ActorID: admin.ID, TeamID: team.ID}, "ann carl"},
			{"denied, muted: nobody", OutboxEvent{Type: EventKeyDenied, ActorID: admin.ID, UserID: quiet.ID}, ""},
			{"created: no e-mail", OutboxEvent{Type: EventKeyCreated, UserID: ann.ID}, ""},
			{"rolled: no e-mail", OutboxEvent{Type: EventKeyRolled, ActorID: admin.ID, UserID: ann.ID}, ""},
			{"enabled: no e-mail", OutboxEvent{Type: EventKeyEnabled, ActorID: admin.ID, UserID: ann.ID}, ""},
			{"digest: every admin", OutboxEvent{Type: EventDigest}, "admin admin2"},
			{"endpoint disabled: its creator", OutboxEvent{Type: EventEndpointDisabled, UserID: admin2.ID}, "admin2"},
			{"webhook test: no e-mail", OutboxEvent{Type: EventWebhookTest, ActorID: admin.ID}, ""},
			{"alert: the owner, even muted", OutboxEvent{Type: EventAlertOpened, UserID: quiet.ID, Data: alertData(RuleSpike)}, "quiet"},
			{"alert on a team key: its members", OutboxEvent{Type: EventAlertOpened, TeamID: team.ID, Data: alertData(RuleNewNetwork)}, "ann carl quiet"},
			{"dead key: the owner and every admin", OutboxEvent{Type: EventAlertOpened, UserID: carl.ID, Data: alertData(RuleDeadKey)}, "admin admin2 carl"},
			{"leak on a team key: members and admins, each once", OutboxEvent{Type: EventAlertOpened, TeamID: team.ID, Data: alertData(RuleLeakReported)}, "admin admin2 ann carl quiet"},
			{"dead key of a disabled owner: the admins", OutboxEvent{Type: EventAlertOpened, UserID: dora.ID, Data: alertData(RuleDeadKey)}, "admin admin2"},
			{"invite: the address invited", OutboxEvent{Type: EventUserInvited, ActorID: admin.ID, Private: map[string]string{"email": "new@example.com"}}, "new"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tx, err := s.w.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				rs, err := emailRecipients(ctx, tx, tt.ev)
				if err != nil {
					t.Fatalf("emailRecipients: %v", err)
				}
				var got []string
				for _, r := range rs {
					got = append(got, strings.TrimSuffix(r.Address, "@example.com"))
				}
				if g := strings.Join(got, " "); g != tt.want {
					t.Errorf("got %q, want %q", g, tt.want)
				}
			})
		}
	})
}

// alertData is an alert.opened event's data as far as recipients read it.
func alertData(rule string) map[string]any {
	return map[string]any{"alert": map[string]any{"rule": rule}}
}
