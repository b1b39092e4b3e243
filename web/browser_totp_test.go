package web

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
)

// Browser steps of the authenticator app and the second-factor page, for
// the accessibility tour, the phone layout and the screenshots.

// beginTOTP clicks "Set up authenticator app" on the security page and
// returns the secret it shows.
func (tb *tab) beginTOTP() string {
	tb.t.Helper()
	tb.open("/account/security")
	tb.navigates("set up", chromedp.Click(button("Set up authenticator app")))
	tb.waitVisible(testID("totp-qr"))
	return strings.ReplaceAll(tb.text("#totp-secret"), " ", "")
}

// confirmTOTP enters code as the first code of the app being set up.
func (tb *tab) confirmTOTP(code string) {
	tb.t.Helper()
	tb.fill("Code from the app", code)
	tb.navigates("confirm", chromedp.Click(button("Confirm and turn on")))
}

// passwordOnly signs in with the password of a person with a second
// factor and waits for the second-factor page.
func (tb *tab) passwordOnly(email string) {
	tb.t.Helper()
	tb.clearCookies()
	tb.open("/login")
	tb.fill("Email", email)
	tb.fill("Password", testPassword)
	tb.navigates("sign in", chromedp.Click(button("Sign in")))
	tb.waitVisible(testID("second-factor"))
}

// totpTour is the tour's part for the signed-in person (the tour's
// member): the security page, setting up an app (a wrong first code, then
// the right one with its recovery codes), and signing in again to the
// second-factor page (and a wrong code there). It leaves the tab signed
// out, half-way through a sign-in.
func totpTour(a *testApp, tb *tab, email string) []tourPage {
	var secret string
	return []tourPage{
		{"security", func() { tb.open("/account/security") }},
		{"security authenticator setup", func() { secret = tb.beginTOTP() }},
		{"security wrong first code", func() {
			tb.confirmTOTP(wrongTOTPCode(tb.t, secret, a.clock.Now()))
			tb.waitVisible(`#totp-code[aria-invalid="true"]`)
		}},
		{"security recovery codes", func() {
			tb.confirmTOTP(totpCode(tb.t, secret, a.clock.Now()))
			tb.waitVisible(testID("recovery-code-list"))
		}},
		{"second factor", func() { tb.passwordOnly(email) }},
		{"second factor wrong code", func() {
			tb.allowHTTPError(401)
			tb.fill("Authentication code", wrongTOTPCode(tb.t, secret, a.clock.Now()))
			tb.navigates("verify", chromedp.Click(button("Verify")))
			tb.waitVisible(`#code[aria-invalid="true"]`)
		}},
	}
}

// shootSecurity takes the security page, the authenticator setup, the
// recovery codes shown once and the second-factor page, as a person of
// their own (each viewport sets up an app afresh).
func shootSecurity(t *testing.T, a *testApp, tb *tab, vp viewport, shoot func(viewport, string)) {
	t.Helper()
	email := "sec-" + vp.name + "@acme.dev"
	a.createUser(email, db.RoleMember)
	tb.clearCookies()
	tb.login(email, testPassword)
	tb.open("/account/security")
	shoot(vp, "security")
	secret := tb.beginTOTP()
	shoot(vp, "security-totp-setup")
	tb.allowHTTPError(422)
	tb.confirmTOTP(wrongTOTPCode(t, secret, a.clock.Now()))
	tb.waitVisible(`#totp-code[aria-invalid="true"]`)
	shoot(vp, "security-totp-wrong-code")
	tb.confirmTOTP(totpCode(t, secret, a.clock.Now()))
	tb.waitVisible(testID("recovery-code-list"))
	shoot(vp, "security-recovery-codes")
	tb.passwordOnly(email)
	shoot(vp, "login-2fa")
	tb.allowHTTPError(401)
	tb.click(summary("Use a recovery code"))
	tb.fill("Recovery code", "k7m2q-x9p4d")
	tb.navigates("use recovery code", chromedp.Click(button("Use recovery code")))
	tb.waitVisible(`#recovery_code[aria-invalid="true"]`)
	shoot(vp, "login-2fa-recovery-error")
}
