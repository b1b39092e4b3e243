package db

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// codeAt is the authenticator app's code for secret at t.
func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTOTPWindowAndReplay(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		a := Actor{UserID: ann.ID, Label: ann.Email}

		if err := s.CheckTOTP(ctx, ann.ID, "123456"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("check without an app: got %v, want ErrNotFound", err)
		}
		setup, err := s.BeginTOTP(ctx, ann.ID, "Keyward", ann.Email)
		if err != nil {
			t.Fatal(err)
		}
		if f, _ := s.SecondFactors(ctx, ann.ID); f.TOTP || f.Any() {
			t.Fatalf("unconfirmed app: got factors %+v, want none", f)
		}
		if err := s.ConfirmTOTP(ctx, ann.ID, "000000x", a); !errors.Is(err, ErrCodeWrong) {
			t.Fatalf("confirm with garbage: got %v, want ErrCodeWrong", err)
		}
		if err := s.ConfirmTOTP(ctx, ann.ID, codeAt(t, setup.Secret, clock.Now()), a); err != nil {
			t.Fatalf("confirm: %v", err)
		}
		if f, _ := s.SecondFactors(ctx, ann.ID); !f.TOTP || !f.Any() {
			t.Fatalf("confirmed app: got factors %+v, want TOTP", f)
		}
		if _, err := s.BeginTOTP(ctx, ann.ID, "Keyward", ann.Email); !errors.Is(err, ErrConflict) {
			t.Fatalf("second setup: got %v, want ErrConflict", err)
		}
		// The confirming code's step is spent.
		if err := s.CheckTOTP(ctx, ann.ID, codeAt(t, setup.Secret, clock.Now())); !errors.Is(err, ErrCodeReused) {
			t.Fatalf("confirming code again: got %v, want ErrCodeReused", err)
		}

		clock.Advance(5 * time.Minute)
		now := clock.Now()
		step := now.Unix() / 30
		at := func(s int64) time.Time { return time.Unix(s*30, 0) }
		cases := []struct {
			name string
			at   time.Time
			want error
		}{
			{"two steps behind", at(step - 2), ErrCodeWrong},
			{"one step behind", at(step - 1), nil},
			{"current step", at(step), nil},
			{"current step again", at(step), ErrCodeReused},
			{"older step after a newer one", at(step - 1), ErrCodeReused},
			{"one step ahead", at(step + 1), nil},
			{"two steps ahead", at(step + 2), ErrCodeWrong},
		}
		for _, tc := range cases {
			err := s.CheckTOTP(ctx, ann.ID, codeAt(t, setup.Secret, tc.at))
			if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
			}
		}
		if err := s.DisableTOTP(ctx, ann.ID, a); err != nil {
			t.Fatal(err)
		}
		if f, _ := s.SecondFactors(ctx, ann.ID); f.TOTP {
			t.Errorf("after removal: got factors %+v, want none", f)
		}
		if err := s.DisableTOTP(ctx, ann.ID, a); !errors.Is(err, ErrNotFound) {
			t.Errorf("remove twice: got %v, want ErrNotFound", err)
		}
	})
}

func TestAuthChallengeOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		tok, err := s.PutAuthChallenge(ctx, ChallengeOIDC, []byte(`{"nonce":"n"}`), 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.TakeAuthChallenge(ctx, ChallengeWebAuthn, tok); !errors.Is(err, ErrNotFound) {
			t.Errorf("other kind: got %v, want ErrNotFound", err)
		}
		got, err := s.TakeAuthChallenge(ctx, ChallengeOIDC, tok)
		if err != nil || string(got) != `{"nonce":"n"}` {
			t.Fatalf("take: got %q, %v", got, err)
		}
		if _, err := s.TakeAuthChallenge(ctx, ChallengeOIDC, tok); !errors.Is(err, ErrNotFound) {
			t.Errorf("take twice: got %v, want ErrNotFound", err)
		}
		old, err := s.PutAuthChallenge(ctx, ChallengeOIDC, []byte("x"), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
		if _, err := s.TakeAuthChallenge(ctx, ChallengeOIDC, old); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired: got %v, want ErrNotFound", err)
		}
	})
}

func TestSessionStagesAndPolicy(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		ann := mustCreateUser(t, s, "ann@example.com", RoleAdmin)
		p, err := s.SignInPolicy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p != DefaultSignInPolicy() || p.MFARequired(ann) || !p.PasswordAllowed(ann) {
			t.Fatalf("fresh policy: got %+v, want the default", p)
		}
		for name, value := range map[string]string{SettingRequireMFA: "1", SettingReauthMinutes: "0", SettingPasswordSignInOff: "1", SettingBreakGlassUser: "99"} {
			if _, err := s.w.ExecContext(ctx, upsertSettingSQL, name, value, int64(0)); err != nil {
				t.Fatal(err)
			}
		}
		p, _ = s.SignInPolicy(ctx)
		if !p.MFARequired(ann) || p.ReauthAfter != 10*time.Minute || p.PasswordAllowed(ann) {
			t.Errorf("stored policy: got %+v, want admins required, 10 min kept (0 is out of range), password off", p)
		}
		bob := mustCreateUser(t, s, "bob@example.com", RoleMember)
		bad := []struct {
			name  string
			p     SignInPolicy
			field string
		}{
			{"unknown requirement", SignInPolicy{RequireMFA: 3, ReauthAfter: time.Minute}, "require_mfa"},
			{"no window", SignInPolicy{ReauthAfter: 0}, "reauth_minutes"},
			{"window too long", SignInPolicy{ReauthAfter: 25 * time.Hour}, "reauth_minutes"},
			{"password off without break-glass", SignInPolicy{ReauthAfter: time.Minute, PasswordSignInOff: true}, "break_glass_user"},
			{"member as break-glass", SignInPolicy{ReauthAfter: time.Minute, PasswordSignInOff: true, BreakGlassUserID: bob.ID}, "break_glass_user"},
		}
		for _, tc := range bad {
			err := s.SetSignInPolicy(ctx, tc.p, CLIActor())
			if fe := FieldErrors(err); fe[tc.field] == "" {
				t.Errorf("%s: got %v, want an error on %s", tc.name, err, tc.field)
			}
		}
		want := SignInPolicy{RequireMFA: MFAEveryone, ReauthAfter: 15 * time.Minute, PasswordSignInOff: true, BreakGlassUserID: ann.ID}
		if err := s.SetSignInPolicy(ctx, want, CLIActor()); err != nil {
			t.Fatal(err)
		}
		if p, _ = s.SignInPolicy(ctx); p != want || !p.PasswordAllowed(ann) || p.PasswordAllowed(bob) || !p.MFARequired(bob) {
			t.Errorf("set policy: got %+v, want %+v", p, want)
		}

		sess := Session{TokenHash: []byte("h1"), UserID: ann.ID, ExpiresAt: clock.Now().Add(time.Hour), Stage: StageMFA}
		if err := s.CreateSession(ctx, &sess); err != nil {
			t.Fatal(err)
		}
		got, err := s.SessionByTokenHash(ctx, []byte("h1"))
		if err != nil {
			t.Fatal(err)
		}
		if got.Stage != StageMFA || got.AuthMethod != AuthPassword || !got.ReauthAt.Equal(got.CreatedAt) {
			t.Errorf("pending session: got stage %q method %q reauth %v, want mfa, password, created_at", got.Stage, got.AuthMethod, got.ReauthAt)
		}
		if u, _ := s.GetUser(ctx, ann.ID); u.LastLoginAt != nil {
			t.Errorf("pending session recorded a sign-in at %v", u.LastLoginAt)
		}
		clock.Advance(3 * time.Minute)
		if err := s.SetSessionReauth(ctx, sess.ID, clock.Now(), FactorTOTP, Actor{UserID: ann.ID, Label: ann.Email}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetSessionStage(ctx, sess.ID, StageDone); err != nil {
			t.Fatal(err)
		}
		got, _ = s.SessionByTokenHash(ctx, []byte("h1"))
		if got.Stage != StageDone || !got.ReauthAt.Equal(clock.Now().Truncate(time.Millisecond)) {
			t.Errorf("after re-auth: got stage %q reauth %v, want done, %v", got.Stage, got.ReauthAt, clock.Now())
		}
		if err := s.SetSessionStage(ctx, sess.ID, "bogus"); err == nil {
			t.Error("unknown stage: got nil, want an error")
		}
	})
}
