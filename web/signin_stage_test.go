package web

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward/db"
)

// TestEnrolmentRequiredReachesOnlyEnrolment: with a second factor required
// of everyone, a person without one signs in to the security page and every
// other page leads back there; changes elsewhere are refused.
func TestEnrolmentRequiredReachesOnlyEnrolment(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	a.createUser("ann@example.com", db.RoleMember)
	p := db.DefaultSignInPolicy()
	p.RequireMFA = db.MFAEveryone
	if err := a.store.SetSignInPolicy(ctx, p, db.Actor{UserID: admin.ID, Label: admin.Email}); err != nil {
		t.Fatal(err)
	}
	b := a.browser()
	r := b.post("/login", url.Values{"email": {"ann@example.com"}, "password": {testPassword}})
	if got := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || got != "/account/security" {
		t.Fatalf("sign-in: got %d to %q, want 303 to /account/security", r.StatusCode, got)
	}
	if r := b.get("/account/security"); r.StatusCode != http.StatusOK || r.doc(t).Find(`[data-testid="enrol-required"]`).Length() != 1 {
		t.Fatalf("security page: got %d, want 200 with the enrolment notice", r.StatusCode)
	}
	for _, path := range []string{"/keys", "/keys/new", "/account", "/admin/users", "/alerts", "/teams"} {
		r := b.get(path)
		if got := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || got != "/account/security" {
			t.Errorf("GET %s: got %d to %q, want 303 to /account/security", path, r.StatusCode, got)
		}
	}
	r = b.post("/keys", url.Values{"name": {"sneaky"}})
	if r.StatusCode != http.StatusForbidden {
		t.Errorf("POST /keys: got %d, want 403", r.StatusCode)
	}
	if r := b.post("/logout", nil); r.StatusCode != http.StatusSeeOther {
		t.Errorf("sign out: got %d, want 303", r.StatusCode)
	}
}

// TestPendingSecondFactorReachesNothing: after the password of a person
// with an authenticator app, the session is no sign-in: every page treats
// it as a visitor's, and it lapses after pendingSignInTTL.
func TestPendingSecondFactorReachesNothing(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	ann := a.createUser("ann@example.com", db.RoleMember)
	setup, err := a.store.BeginTOTP(ctx, ann.ID, "Keyward", ann.Email)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCodeCustom(setup.Secret, a.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err := a.store.ConfirmTOTP(ctx, ann.ID, code, db.Actor{UserID: ann.ID, Label: ann.Email}); err != nil {
		t.Fatal(err)
	}
	b := a.browser()
	r := b.post("/login", url.Values{"email": {"ann@example.com"}, "password": {testPassword}, "next": {"/keys/new"}})
	if got, want := r.Header.Get("Location"), "/login/2fa?next=%2Fkeys%2Fnew"; r.StatusCode != http.StatusSeeOther || got != want {
		t.Fatalf("sign-in: got %d to %q, want 303 to %q", r.StatusCode, got, want)
	}
	if b.sessionCookie() == "" {
		t.Fatal("no pending session cookie")
	}
	for _, path := range []string{"/keys", "/account", "/account/security", "/admin/users"} {
		r := b.get(path)
		if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || len(loc) < 6 || loc[:6] != "/login" {
			t.Errorf("GET %s while pending: got %d to %q, want 303 to /login", path, r.StatusCode, loc)
		}
	}
	if r := b.post("/keys", url.Values{"name": {"sneaky"}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("POST /keys while pending: got %d, want 303 to sign-in", r.StatusCode)
	}
	keys, err := a.store.ListKeys(ctx, db.ManagedBy(ann.ID), db.KeyFilter{})
	if err != nil || len(keys) != 0 {
		t.Errorf("keys after pending POST: got %d, %v, want none", len(keys), err)
	}
	a.clock.Advance(5*time.Minute + time.Second)
	sessions, err := a.store.ListUserSessions(ctx, ann.ID)
	if err != nil || len(sessions) != 1 || sessions[0].Stage != db.StageMFA {
		t.Fatalf("sessions: got %+v, %v, want one pending", sessions, err)
	}
	b.get("/keys")
	if sessions, _ := a.store.ListUserSessions(ctx, ann.ID); len(sessions) != 0 {
		t.Errorf("pending session after 5 minutes: got %d rows, want it deleted", len(sessions))
	}
}
