package db

import (
	"context"
	"errors"
	"testing"
	"time"
)

// addPasskeyRow and addRecoveryRow write factor rows directly: the code
// that registers passkeys and makes recovery codes is not what these tests
// are about.
func addPasskeyRow(t *testing.T, s *Store, userID int64, credID string) {
	t.Helper()
	if _, err := s.w.ExecContext(context.Background(), `INSERT INTO passkeys (user_id, credential_id, name, credential, created_at)
		VALUES (?, ?, ?, ?, ?)`, userID, []byte(credID), "YubiKey", "{}", toMillis(s.Now())); err != nil {
		t.Fatal(err)
	}
}

func addRecoveryRow(t *testing.T, s *Store, userID int64, used bool) {
	t.Helper()
	var usedAt any
	if used {
		usedAt = toMillis(s.Now())
	}
	if _, err := s.w.ExecContext(context.Background(), `INSERT INTO recovery_codes (user_id, code_hash, created_at, used_at)
		VALUES (?, ?, ?, ?)`, userID, "$argon2id$x", toMillis(s.Now()), usedAt); err != nil {
		t.Fatal(err)
	}
}

func TestResetSecondFactors(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		bob := mustCreateUser(t, s, "bob@example.com", RoleMember)
		adminActor := Actor{UserID: admin.ID, Label: admin.Email, IP: "192.0.2.1"}
		for _, u := range []User{ann, bob} {
			setup, err := s.BeginTOTP(ctx, u.ID, "Keyward", u.Email)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.ConfirmTOTP(ctx, u.ID, codeAt(t, setup.Secret, clock.Now()), Actor{UserID: u.ID, Label: u.Email}); err != nil {
				t.Fatal(err)
			}
			addPasskeyRow(t, s, u.ID, "cred-"+u.Email)
			addRecoveryRow(t, s, u.ID, false)
			addRecoveryRow(t, s, u.ID, true)
			if err := s.CreateSession(ctx, &Session{TokenHash: []byte("tok-" + u.Email), UserID: u.ID,
				ExpiresAt: clock.Now().Add(time.Hour), SecondFactor: FactorTOTP}); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.SecondFactorsByUser(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := SecondFactors{TOTP: true, Passkeys: 1, RecoveryLeft: 1}
		if all[ann.ID] != want || all[bob.ID] != want || all[admin.ID] != (SecondFactors{}) {
			t.Fatalf("factors by user: got %+v, want ann and bob %+v, admin none", all, want)
		}
		if _, ok := all[admin.ID]; !ok {
			t.Errorf("factors by user: admin missing, want people without factors listed too")
		}

		if err := s.ResetSecondFactors(ctx, admin.ID, adminActor); !errors.Is(err, ErrConflict) {
			t.Errorf("reset own factors: got %v, want ErrConflict", err)
		}
		if err := s.ResetSecondFactors(ctx, 999999, adminActor); !errors.Is(err, ErrNotFound) {
			t.Errorf("reset unknown user: got %v, want ErrNotFound", err)
		}
		if err := s.ResetSecondFactors(ctx, ann.ID, adminActor); err != nil {
			t.Fatalf("ResetSecondFactors: %v", err)
		}
		if f, err := s.SecondFactors(ctx, ann.ID); err != nil || f != (SecondFactors{}) {
			t.Errorf("ann's factors after reset: got %+v, %v, want none", f, err)
		}
		if f, _ := s.SecondFactors(ctx, bob.ID); f != want {
			t.Errorf("bob's factors after ann's reset: got %+v, want %+v untouched", f, want)
		}
		if ss, _ := s.ListUserSessions(ctx, ann.ID); len(ss) != 0 {
			t.Errorf("ann's sessions after reset: got %d, want 0", len(ss))
		}
		if ss, _ := s.ListUserSessions(ctx, bob.ID); len(ss) != 1 {
			t.Errorf("bob's sessions: got %d, want 1", len(ss))
		}
		if _, err := s.BeginTOTP(ctx, ann.ID, "Keyward", ann.Email); err != nil {
			t.Errorf("new authenticator app after reset: %v", err)
		}

		evs, err := s.ListAudit(ctx, AuditFilter{Action: ActionFactorsReset})
		if err != nil || len(evs) != 1 {
			t.Fatalf("mfa.reset events: got %d, %v, want 1", len(evs), err)
		}
		e := evs[0]
		if e.ActorID != admin.ID || e.TargetID != ann.ID {
			t.Errorf("audit: got actor %d target %d, want %d on %d", e.ActorID, e.TargetID, admin.ID, ann.ID)
		}
		for k, v := range map[string]string{"totp": "1", "passkeys": "1", "recovery_codes": "2", "sessions": "1"} {
			if e.Detail[k] != v {
				t.Errorf("audit detail %s: got %q, want %q", k, e.Detail[k], v)
			}
		}

		// One e-mail, to ann, and nothing to a webhook subscribed to all.
		if _, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://hooks.example.com/in",
			EventTypes: []string{"*"}}, adminActor); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FanOut(ctx, FanOutOptions{Email: true}); err != nil {
			t.Fatal(err)
		}
		ds, err := s.ClaimDeliveries(ctx, "w", 50, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range ds {
			if d.Event.Type == EventFactorsReset {
				got = append(got, d.Channel+":"+d.Recipient)
			}
		}
		if len(got) != 1 || got[0] != ChannelEmail+":ann@example.com" {
			t.Errorf("deliveries of %s: got %v, want one e-mail to ann", EventFactorsReset, got)
		}
	})
}
