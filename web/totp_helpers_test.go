package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward/db"
)

// totpCode is the authenticator app's code for secret at at.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongTOTPCode is a code that is right in none of the three steps around
// at.
func wrongTOTPCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	valid := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		valid[totpCode(t, secret, at.Add(d))] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !valid[c] {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}

// enrolTOTP sets up and confirms an authenticator app for u through the
// store, and moves the clock on past the confirming code's steps. It
// returns the secret.
func (a *testApp) enrolTOTP(u db.User) string {
	a.t.Helper()
	ctx := context.Background()
	setup, err := a.store.BeginTOTP(ctx, u.ID, "Keyward", u.Email)
	if err != nil {
		a.t.Fatal(err)
	}
	if err := a.store.ConfirmTOTP(ctx, u.ID, totpCode(a.t, setup.Secret, a.clock.Now()), db.Actor{UserID: u.ID, Label: u.Email}); err != nil {
		a.t.Fatal(err)
	}
	a.clock.Advance(2 * time.Minute)
	return setup.Secret
}

// passwordStep signs in with the password of a person with a second
// factor and checks it led to the second-factor page.
func (b *browser) passwordStep(email, next string) {
	b.t.Helper()
	form := url.Values{"email": {email}, "password": {testPassword}}
	if next != "" {
		form.Set("next", next)
	}
	r := b.post("/login", form)
	if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login/2fa?") {
		b.t.Fatalf("password step: got %d to %q, want 303 to /login/2fa", r.StatusCode, loc)
	}
}

// signedIn reports whether the browser's session reaches /keys.
func (b *browser) signedIn() bool {
	b.t.Helper()
	return b.get("/keys").StatusCode == http.StatusOK
}

// auditCountFor counts the audit events of action about user id.
func (a *testApp) auditCountFor(action string, userID int64) int {
	a.t.Helper()
	evs, err := a.store.ListAudit(context.Background(), db.AuditFilter{Action: action, TargetID: userID, TargetType: "user"})
	if err != nil {
		a.t.Fatal(err)
	}
	return len(evs)
}
