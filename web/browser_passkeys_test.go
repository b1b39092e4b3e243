package web

import (
	"context"
	"net/url"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
)

// addVirtualAuthenticator gives the tab a platform authenticator (CTAP2,
// internal, resident keys, user verification that succeeds) through the
// DevTools WebAuthn domain: Chromium then answers passkey prompts itself.
func (tb *tab) addVirtualAuthenticator() webauthn.AuthenticatorID {
	tb.t.Helper()
	if _, err := chromedp.Call(tb.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		tb.t.Fatalf("enable WebAuthn domain: %v", err)
	}
	res, err := chromedp.Call(tb.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		tb.t.Fatalf("add virtual authenticator: %v", err)
	}
	return res.AuthenticatorID
}

// registerPasskeyInBrowser adds a passkey named name on the security page.
func (tb *tab) registerPasskeyInBrowser(name string) {
	tb.t.Helper()
	tb.open("/account/security")
	tb.fill("Name", name)
	tb.navigates("add a passkey", chromedp.Click(button("Add a passkey")))
	tb.waitFor("the new passkey listed", `[...document.querySelectorAll('[data-testid="passkey-name"]')].some(e => e.textContent.trim() === `+jsString(name)+`)`)
}

// TestBrowserPasskeySignInWithoutPassword: in real Chromium, a member adds
// a passkey on the security page, signs out, and signs in with "Sign in
// with a passkey" alone, landing on the keys page.
func TestBrowserPasskeySignInWithoutPassword(t *testing.T) {
	a := newTestApp(t).onLocalhost()
	ann := a.createUser("ann@example.com", db.RoleMember)
	tb := newTab(t, a)
	tb.addVirtualAuthenticator()
	tb.login(ann.Email, testPassword)
	tb.registerPasskeyInBrowser("Work laptop")
	if n := a.auditCount(db.ActionPasskeyAdd); n != 1 {
		t.Errorf("mfa.passkey_add events: got %d, want 1", n)
	}

	tb.navigates("sign out", chromedp.Click(button("Sign out")))
	if p := tb.path(); p != "/login?m=signed_out" {
		t.Fatalf("after sign-out: got %s, want the sign-in page", p)
	}
	tb.navigates("sign in with a passkey", chromedp.Click(button("Sign in with a passkey")))
	tb.waitFor("the keys page", `location.pathname === "/keys"`)
	sessions, err := a.store.ListUserSessions(context.Background(), ann.ID)
	if err != nil || len(sessions) != 1 || sessions[0].AuthMethod != db.AuthPasskey || sessions[0].SecondFactor != db.FactorUserVerified {
		t.Fatalf("sessions: got %+v, %v, want one signed in by passkey, user verified", sessions, err)
	}
	tb.open("/account/security")
	if got := tb.text(testID("passkey-last-used")); got == "Never used" {
		t.Errorf("last used after signing in with it: got %q", got)
	}
}

// TestBrowserPasskeySecondFactor: in real Chromium, a member with a passkey
// signs in with her password and completes the sign-in with the passkey
// on the second-factor page.
func TestBrowserPasskeySecondFactor(t *testing.T) {
	a := newTestApp(t).onLocalhost()
	ann := a.createUser("ann@example.com", db.RoleMember)
	tb := newTab(t, a)
	tb.allowHTTPError(404)
	tb.addVirtualAuthenticator()
	tb.login(ann.Email, testPassword)
	tb.registerPasskeyInBrowser("Phone")
	tb.clearCookies()

	tb.open("/login?next=" + url.QueryEscape("/account"))
	tb.fill("Email", ann.Email)
	tb.fill("Password", testPassword)
	tb.navigates("sign in", chromedp.Click(button("Sign in")))
	if p := tb.path(); p != "/login/2fa?next=%2Faccount" {
		t.Fatalf("after the password: got %s, want the second-factor page", p)
	}
	if n := tb.count(`[data-passkey="2fa"]`); n != 1 {
		t.Fatalf("passkey buttons on the second-factor page: got %d, want 1", n)
	}
	tb.navigates("use the passkey", chromedp.Click(visibleXPath(`//button[@data-passkey="2fa"]`)))
	tb.waitFor("the account page", `location.pathname === "/account"`)
	// The newest session (the first sign-in's remains: its cookie was
	// only dropped).
	sessions, err := a.store.ListUserSessions(context.Background(), ann.ID)
	if err != nil || len(sessions) == 0 || sessions[0].AuthMethod != db.AuthPassword || sessions[0].SecondFactor != db.FactorPasskey {
		t.Fatalf("sessions: got %+v, %v, want the newest signed in by password and passkey", sessions, err)
	}
}

// seedPasskey registers a passkey for email straight in the database, for
// the pages that list one (the tour and the screenshots run on 127.0.0.1,
// where browsers offer no passkeys).
func seedPasskey(t *testing.T, a *testApp, email, name string) {
	t.Helper()
	ctx := context.Background()
	u, err := a.store.GetUserByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.AddPasskey(ctx, u.ID, db.NewPasskey{CredentialID: []byte(email + "/" + name), Name: name, Credential: []byte(`{}`)}, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
}

// unseedPasskeys removes email's passkeys.
func unseedPasskeys(t *testing.T, a *testApp, email string) {
	t.Helper()
	ctx := context.Background()
	u, err := a.store.GetUserByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := a.store.Passkeys(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := a.store.RemovePasskey(ctx, u.ID, k.ID, db.CLIActor()); err != nil {
			t.Fatal(err)
		}
	}
}
