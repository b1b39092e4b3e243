package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
)

// TestBrowserSignInStory is issue 19's "done when", in real Chromium: an
// admin requires a second factor for everyone on the settings card; a
// member signing in with her password is held on the security page until
// she enrols a passkey; she signs in with it alone, without a password;
// and ten minutes later rolling a key asks her to confirm it is her
// (with the passkey) before the roll goes through, grace period intact.
func TestBrowserSignInStory(t *testing.T) {
	a := newTestApp(t).onLocalhost()
	ctx := context.Background()
	admin := a.createUser("root@example.com", db.RoleAdmin)
	ann := a.createUser("ann@example.com", db.RoleMember)
	key, oldSecret := seedKey(t, a, ann.ID, "deploy", "read:orders")

	// The admin requires a second factor of everyone.
	tb := newTab(t, a)
	tb.login(admin.Email, testPassword)
	tb.open("/admin/settings#signin")
	tb.click(`document.querySelector('[data-testid="require-mfa-2"]')`)
	tb.navigates("save sign-in rules", chromedp.Click(testID("signin-save")))
	if p, err := a.store.SignInPolicy(ctx); err != nil || p.RequireMFA != db.MFAEveryone {
		t.Fatalf("policy after saving the card: got %+v, %v, want a second factor required of everyone", p, err)
	}
	tb.clearCookies()

	// Ann's password leads to enrolment and nowhere else.
	tb.addVirtualAuthenticator()
	tb.open("/login")
	tb.fill("Email", ann.Email)
	tb.fill("Password", testPassword)
	tb.navigates("sign in", chromedp.Click(button("Sign in")))
	if p := tb.path(); p != "/account/security" {
		t.Fatalf("after the password: got %s, want /account/security", p)
	}
	tb.waitVisible(testID("enrol-required"))
	tb.open("/keys")
	if p := tb.path(); p != "/account/security" {
		t.Fatalf("/keys before enrolling: got %s, want /account/security", p)
	}
	tb.registerPasskeyInBrowser("Work laptop")
	tb.open("/keys")
	if p := tb.path(); p != "/keys" {
		t.Fatalf("/keys after enrolling a passkey: got %s, want /keys", p)
	}

	// Signed out, the passkey alone signs her in.
	tb.navigates("sign out", chromedp.Click(button("Sign out")))
	tb.navigates("sign in with a passkey", chromedp.Click(button("Sign in with a passkey")))
	tb.waitFor("the keys page", `location.pathname === "/keys"`)
	sessions, err := a.store.ListUserSessions(ctx, ann.ID)
	if err != nil || len(sessions) != 1 || sessions[0].AuthMethod != db.AuthPasskey || sessions[0].Stage != db.StageDone {
		t.Fatalf("sessions after the passkey sign-in: got %+v, %v, want one, by passkey, signed in", sessions, err)
	}

	// Ten minutes on, a roll asks for the passkey again, then goes through.
	a.clock.Advance(10*time.Minute + time.Second)
	tb.open(fmt.Sprintf("/keys/%d", key.ID))
	tb.choose("Old key keeps working", "Keep the old key for 24 hours")
	tb.navigates("roll", chromedp.Click(button("Roll key")))
	if p := tb.path(); !strings.HasPrefix(p, "/sudo?return=") {
		t.Fatalf("roll ten minutes after signing in: got %s, want the re-authentication page", p)
	}
	if n := a.countKeys(); n != 1 {
		t.Fatalf("keys before confirming: got %d, want 1 (nothing rolled)", n)
	}
	tb.navigates("confirm with the passkey", chromedp.Click(visibleXPath(`//button[@data-passkey="sudo"]`)))
	if p := tb.path(); !strings.HasPrefix(p, "/sudo/resume?return=") {
		t.Fatalf("after the passkey: got %s, want the resumed form", p)
	}
	tb.navigates("continue", chromedp.Click(button("Continue: Roll key “deploy”")))
	if newSecret := tb.revealedKey(); newSecret == oldSecret {
		t.Fatal("roll: got the old key back, want a new one")
	}
	k, err := a.store.GetKey(ctx, db.AnyOwner(), key.ID)
	if until := a.clock.Now().Add(24 * time.Hour); err != nil || k.ExpiresAt == nil || !k.ExpiresAt.Equal(until) {
		t.Errorf("old key: got expiry %v (%v), want %v (the grace period chosen before re-authenticating)", k.ExpiresAt, err, until)
	}
	if n := a.auditCount(db.ActionReauth); n != 1 {
		t.Errorf("auth.reauth events: got %d, want 1", n)
	}
}
